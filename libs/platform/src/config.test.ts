import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { baseConfigSchema, ConfigError, loadConfig } from './config';

const dir = mkdtempSync(path.join(tmpdir(), 'vigil-config-'));
const secretFile = path.join(dir, 'redis-password');
writeFileSync(secretFile, 's3cret-from-a-file\n');
const load = (env: NodeJS.ProcessEnv) => loadConfig(baseConfigSchema, { SERVICE_NAME: 'svc', HTTP_PORT: 3000 }, env);
const issuesOf = (env: NodeJS.ProcessEnv): string[] => {
  try {
    load(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  return [];
};

describe('service config: secrets and security settings', () => {
  it('reads a secret from the file its _FILE variable names, without the trailing newline', () => {
    assert.equal(load({ REDIS_PASSWORD_FILE: secretFile }).REDIS_PASSWORD, 's3cret-from-a-file');
    assert.equal(load({ REDIS_PASSWORD: 'direct' }).REDIS_PASSWORD, 'direct');
  });

  it('refuses a secret set both ways, or a file it cannot read, naming the variable and not the secret', () => {
    const both = issuesOf({ SCHEMA_REGISTRY_PASSWORD: 'x', SCHEMA_REGISTRY_PASSWORD_FILE: secretFile });
    assert.deepEqual(both, ['SCHEMA_REGISTRY_PASSWORD and SCHEMA_REGISTRY_PASSWORD_FILE are both set: set one']);
    const missing = issuesOf({ KAFKA_SASL_PASSWORD_FILE: path.join(dir, 'nope') });
    assert.equal(missing.length, 1);
    assert.match(missing[0]!, /^KAFKA_SASL_PASSWORD_FILE=.*nope cannot be read: ENOENT$/);
  });

  it('needs a username and a password with a SASL mechanism, and knows only the mechanisms KafkaJS has', () => {
    assert.deepEqual(issuesOf({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'heartbeat' }), [
      'KAFKA_SASL_MECHANISM is set: KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or _FILE) are needed',
    ]);
    assert.match(issuesOf({ KAFKA_SASL_MECHANISM: 'gssapi' })[0]!, /^KAFKA_SASL_MECHANISM: Invalid enum value/);
    const ok = load({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD_FILE: secretFile });
    assert.equal(ok.KAFKA_SASL_PASSWORD, 's3cret-from-a-file');
  });

  it('says everything wrong at once', () => {
    const issues = issuesOf({ REDIS_URL: 'not a url', KAFKA_TLS: 'yes', REDIS_PASSWORD_FILE: path.join(dir, 'nope') });
    assert.equal(issues.length, 3, issues.join('\n'));
  });
});

describe('service config: how much a consumer holds', () => {
  it('leaves the whole-fetch bound unset by default and refuses one below 16 KiB, naming the variable', () => {
    assert.equal(load({}).CONSUMER_MAX_BYTES, undefined);
    assert.equal(load({ CONSUMER_MAX_BYTES: '2097152' }).CONSUMER_MAX_BYTES, 2097152);
    const issues = issuesOf({ CONSUMER_MAX_BYTES: '1000' });
    assert.equal(issues.length, 1);
    assert.match(issues[0]!, /^CONSUMER_MAX_BYTES: /);
  });
});
