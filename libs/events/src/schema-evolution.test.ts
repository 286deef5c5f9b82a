// The backup contract grew (BackupCommand.kind/base, BackupResult's kind, base, manifest, counts):
// records written before and after must stay readable both ways, as FULL_TRANSITIVE promises.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Type, type Schema } from 'avsc';
import { sampleBackupCommand, sampleBackupResult } from './samples';
import { Topics } from './topics';

/** The schemas as they were before the backup issue (2026-11-25), copied here on purpose. */
const V1 = {
  BackupCommand: {
    type: 'record',
    name: 'BackupCommand',
    namespace: 'dev.vigil.events',
    fields: [
      { name: 'jobId', type: 'string' },
      { name: 'agentId', type: 'string' },
      { name: 'policyId', type: 'string' },
      {
        name: 'trigger',
        type: { type: 'enum', name: 'BackupTrigger', symbols: ['scheduled', 'state_change', 'pre_heal', 'manual'] },
      },
      { name: 'paths', type: { type: 'array', items: 'string' } },
      { name: 'attempt', type: 'int' },
      { name: 'requestedAt', type: 'long' },
      { name: 'timeoutMs', type: 'int' },
    ],
  },
  BackupResult: {
    type: 'record',
    name: 'BackupResult',
    namespace: 'dev.vigil.events',
    fields: [
      { name: 'jobId', type: 'string' },
      { name: 'agentId', type: 'string' },
      {
        name: 'status',
        type: { type: 'enum', name: 'BackupStatus', symbols: ['running', 'succeeded', 'failed', 'timed_out'] },
      },
      { name: 'location', type: ['null', 'string'], default: null },
      { name: 'sizeBytes', type: ['null', 'long'], default: null },
      { name: 'sha256', type: ['null', 'string'], default: null },
      { name: 'error', type: ['null', 'string'], default: null },
      { name: 'reportedAt', type: 'long' },
    ],
  },
} as const;

const cases = [
  { name: 'BackupCommand', v1: V1.BackupCommand, now: Topics.backupCommands.schema, sample: sampleBackupCommand() },
  { name: 'BackupResult', v1: V1.BackupResult, now: Topics.backupResults.schema, sample: sampleBackupResult() },
] as const;

describe('the backup contract evolves compatibly', () => {
  for (const c of cases) {
    const oldType = Type.forSchema(c.v1 as unknown as Schema);
    const newType = Type.forSchema(c.now);

    it(`${c.name}: a reader on the new schema reads a record written with the old one (new fields take their defaults)`, () => {
      const oldRecord = Object.fromEntries(
        c.v1.fields.map((f) => [f.name, (c.sample as unknown as Record<string, unknown>)[f.name]]),
      );
      const read = newType.fromBuffer(oldType.toBuffer(oldRecord), newType.createResolver(oldType)) as Record<
        string,
        unknown
      >;
      for (const [k, v] of Object.entries(oldRecord)) assert.deepEqual(read[k], v, k);
      assert.equal(read.kind, 'full', 'an old command or result is a full backup');
      if (c.name === 'BackupCommand') assert.equal(read.base, null);
      else
        assert.deepEqual(
          [read.baseJobId, read.manifestLocation, read.fileCount, read.durationMs],
          [null, null, null, null],
        );
    });

    it(`${c.name}: a reader on the old schema reads a record written with the new one (it skips what it does not know)`, () => {
      const read = oldType.fromBuffer(newType.toBuffer(c.sample), oldType.createResolver(newType)) as Record<
        string,
        unknown
      >;
      for (const f of c.v1.fields)
        assert.deepEqual(read[f.name], (c.sample as unknown as Record<string, unknown>)[f.name], f.name);
      assert.equal('kind' in read, false);
    });
  }
});
