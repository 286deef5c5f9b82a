// Writes libs/events/asyncapi.yaml from the catalogue: `npm run -s asyncapi` after changing a topic
// or a schema (asyncapi.test.ts fails until the two agree).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { asyncApiDocument } from './asyncapi';

export const ASYNCAPI_FILE = path.resolve(__dirname, '../asyncapi.yaml');

/** The contract's version: its package's. */
export function contractVersion(): string {
  return (JSON.parse(readFileSync(path.resolve(__dirname, '../package.json'), 'utf8')) as { version: string }).version;
}

export function asyncApiYaml(): string {
  return `# Generated from libs/events/src/topics.ts by \`npm run -s asyncapi\`; do not edit.\n${stringify(asyncApiDocument(contractVersion()), { lineWidth: 0 })}`;
}

if (require.main === module) {
  writeFileSync(ASYNCAPI_FILE, asyncApiYaml());
  process.stdout.write(`wrote ${ASYNCAPI_FILE}\n`);
}
