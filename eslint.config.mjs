import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.vigil/**', '.nx/**', 'infra/kafka/target/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      // Dependencies go one way, by scope: the contract depends on nothing of ours; the Kafka runtime on
      // the contract; the SDK and the service platform on both; services, tools and tests on libs only,
      // never on each other; the test kit only under test/ and bench/.
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          depConstraints: [
            { sourceTag: 'scope:contract', onlyDependOnLibsWithTags: ['scope:contract'] },
            { sourceTag: 'scope:runtime', onlyDependOnLibsWithTags: ['scope:contract', 'scope:runtime'] },
            { sourceTag: 'scope:sdk', onlyDependOnLibsWithTags: ['scope:contract', 'scope:runtime'] },
            { sourceTag: 'scope:platform', onlyDependOnLibsWithTags: ['scope:contract', 'scope:runtime'] },
            {
              sourceTag: 'scope:service',
              onlyDependOnLibsWithTags: ['scope:contract', 'scope:runtime', 'scope:platform'],
            },
            { sourceTag: 'scope:tool', onlyDependOnLibsWithTags: ['scope:contract', 'scope:runtime', 'scope:sdk'] },
            { sourceTag: 'scope:test-kit', onlyDependOnLibsWithTags: ['scope:contract', 'scope:runtime'] },
            {
              sourceTag: 'scope:test',
              onlyDependOnLibsWithTags: [
                'scope:contract',
                'scope:runtime',
                'scope:sdk',
                'scope:platform',
                'scope:test-kit',
              ],
            },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The Kafka client is an implementation detail of libs/kafka (DESIGN.md: one client seam).
    files: [
      'services/**/*.ts',
      'test/**/*.ts',
      'bench/**/*.ts',
      'tools/**/*.ts',
      'libs/platform/**/*.ts',
      'libs/test-kit/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'kafkajs',
              message: 'Use @vigil/kafka (producer, consumer runner, KafkaAdminFacade) instead.',
            },
          ],
        },
      ],
    },
  },
  {
    // What an agent loads: the contract, the Kafka runtime and the SDK are guests in someone else's
    // process, so no service framework and no metrics library (DESIGN.md: the SDK is a guest).
    files: ['libs/events/**/*.ts', 'libs/kafka/**/*.ts', 'libs/agent-sdk/**/*.ts', 'libs/redis-keys/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@nestjs/*', 'rxjs', 'rxjs/*', 'prom-client', 'pino', 'ioredis', '@opentelemetry/sdk-*'],
              message: 'Agents load this lib: keep it to the contract, kafkajs and @opentelemetry/api.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts'],
    rules: { '@typescript-eslint/no-empty-function': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
