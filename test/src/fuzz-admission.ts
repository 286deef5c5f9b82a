// The fuzzer against the consumer runner every service reads with: for each topic a Vigil service
// reads, 10,000 hostile and broken records built from its schema, interleaved with valid ones, on the
// real broker and registry. Every record ends exactly once: in the handler, or in the topic's DLQ with
// the reason the contract promises for it. Run by two test files (topics agents write, topics
// services write), each under its own time limit.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  sampleAlert,
  sampleBackupRequest,
  sampleBackupResult,
  sampleBackupVerified,
  sampleHealResult,
  sampleHeartbeat,
  sampleLiveness,
  sampleRegistration,
  sampleRestoreResult,
  sampleStateChange,
  Topics,
  type DeadLetter,
  type Party,
  type TopicDef,
} from '@vigil/events';
import { ConsumerRunner, ensureTopics, highWatermarks, type ConsumedRecord } from '@vigil/kafka';
import {
  committedOffsets,
  connectToInfra,
  isolatedTopic,
  readRecords,
  RecordFuzzer,
  recordingMetrics,
  silentLogger,
  errorsToStderr,
  waitUntil,
  type FuzzRecord,
} from '@vigil/test-kit';

const MALFORMED_PER_TOPIC = Number(process.env.FUZZ_RECORDS ?? 10_000);
/** One valid record after every VALID_EVERY malformed ones. */
const VALID_EVERY = 4;
const MAX_VALUE_BYTES = 512 * 1024;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const SERVICES: ReadonlySet<Party> = new Set(['heartbeat', 'state-sync', 'notifier', 'backup-orchestrator']);

const samples: Record<string, (i: number) => unknown> = {
  [Topics.heartbeats.name]: (i) => sampleHeartbeat(`fuzz-agent-${i}`),
  [Topics.stateChanges.name]: (i) => sampleStateChange(`fuzz-entity-${i}`, 1 + i),
  [Topics.stateChangelog.name]: (i) => sampleStateChange(`fuzz-entity-${i}`, 1 + i),
  [Topics.liveness.name]: () => sampleLiveness(),
  [Topics.agentRegistry.name]: () => sampleRegistration(),
  [Topics.healResults.name]: () => sampleHealResult(),
  [Topics.alerts.name]: () => sampleAlert(),
  [Topics.backupResults.name]: () => sampleBackupResult(),
  [Topics.backupRequests.name]: () => sampleBackupRequest(),
  [Topics.backupVerified.name]: () => sampleBackupVerified(),
  [Topics.restoreResults.name]: () => sampleRestoreResult(),
};

/** Every topic one of the four services reads. */
export const inputTopics = Object.values(Topics).filter(
  (d) => d.dlq && d.consumers.some((c) => SERVICES.has(c)),
) as Array<TopicDef<unknown>>;

/** Whether agents (or their supervisors) write the topic: the writers Vigil trusts least. */
export const agentWritten = (d: TopicDef<unknown>) =>
  d.producers.some((p) => p === 'agent' || p === 'agent supervisor');

export function fuzzTopics(label: string, inputs: Array<TopicDef<unknown>>): void {
  describe(`the fuzzer on ${label}: ${MALFORMED_PER_TOPIC} malformed records per topic, each refused with its reason, every valid one read (seed ${SEED})`, () => {
    const infra = connectToInfra('fuzz-admission');
    const report: Record<string, Record<string, number>> = {};

    before(() => console.log(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} reruns these records)`));
    after(async () => {
      console.log(`dead letters by reason per topic: ${JSON.stringify(report)}`);
      await infra.close();
    });

    it('has a sample for each of its topics', () => {
      assert.ok(inputs.length >= 5, inputs.map((d) => d.name).join(', '));
      for (const def of inputs) assert.ok(samples[def.name], `a sample for ${def.name}`);
    });

    for (const [n, source] of inputs.entries()) {
      it(`${source.name}: each record handled or dead-lettered once, as the contract says`, async () => {
        const def = isolatedTopic(source, { partitions: 1 });
        await ensureTopics(infra.kafka, [def, def.dlq!] as Array<TopicDef<unknown>>, silentLogger);
        const foreign = source.schema === Topics.heartbeats.schema ? Topics.stateChanges : Topics.heartbeats;
        const foreignSample = foreign === Topics.heartbeats ? () => sampleHeartbeat() : () => sampleStateChange();
        const fuzzer = new RecordFuzzer({
          codec: infra.codec,
          def,
          sample: samples[source.name]!,
          foreign: { def: foreign as TopicDef<unknown>, sample: foreignSample },
          maxValueBytes: MAX_VALUE_BYTES,
          seed: SEED + n,
        });

        const t0 = Date.now();
        const phase = (what: string) => console.log(`${source.name}: ${what} after ${Date.now() - t0} ms`);
        // One partition, sent in order: a record's offset is its index here.
        const sent: FuzzRecord[] = [];
        for (let i = 0; sent.length < MALFORMED_PER_TOPIC + MALFORMED_PER_TOPIC / VALID_EVERY; i++) {
          sent.push(i % (VALID_EVERY + 1) === VALID_EVERY ? await fuzzer.valid(i) : await fuzzer.malformed(i));
        }
        phase(
          `${sent.length} records made, ${sent.reduce((n, r) => n + (r.value?.length ?? 0) + (r.key?.length ?? 0), 0)} bytes`,
        );
        for (let i = 0; i < sent.length; i += 1000) {
          await infra.producer.sendRaw(
            def.name,
            sent.slice(i, i + 1000).map(({ key, value, headers }) => ({ key, value, headers })),
          );
        }

        phase(`${sent.length} records sent`);
        const handled = new Map<number, number>();
        const groupId = `fuzz-${randomUUID()}`;
        const runner = new ConsumerRunner({
          kafka: infra.kafka,
          codec: infra.codec,
          producer: infra.producer,
          groupId,
          logger: errorsToStderr,
          maxValueBytes: MAX_VALUE_BYTES,
          metrics: recordingMetrics(),
          subscriptions: [
            {
              topic: def,
              handler: async (records: Array<ConsumedRecord<unknown>>) => {
                for (const r of records) handled.set(Number(r.offset), (handled.get(Number(r.offset)) ?? 0) + 1);
              },
            },
          ] as never,
        });
        await runner.start();
        try {
          await waitUntil(
            async () => (await committedOffsets(infra.kafka, groupId, def.name)).get(0) === BigInt(sent.length),
            180_000,
            `${def.name} read to its end`,
          );
        } finally {
          await runner.stop();
        }

        phase('read to the end');
        const letterCount = Number((await highWatermarks(infra.kafka, def.dlq!.name)).get(0) ?? 0n);
        const letters = new Map<number, DeadLetter[]>();
        for (const m of await readRecords(infra.kafka, def.dlq!.name, letterCount, 120_000)) {
          const decoded = await infra.codec.decode(def.dlq!, m.value);
          assert.ok(decoded.ok, 'every dead letter is readable');
          letters.set(decoded.value.offset, [...(letters.get(decoded.value.offset) ?? []), decoded.value]);
        }

        phase(`${letterCount} dead letters read`);
        const wrong: string[] = [];
        const byReason: Record<string, number> = {};
        sent.forEach((record, offset) => {
          const times = handled.get(offset) ?? 0;
          const refused = letters.get(offset) ?? [];
          const outcome =
            times === 1 && refused.length === 0
              ? 'valid'
              : times === 0 && refused.length === 1
                ? refused[0]!.reason
                : null;
          if (outcome === null)
            wrong.push(`offset ${offset} (${record.kind}): handled ${times}x, dead-lettered ${refused.length}x`);
          else if (record.expect !== 'either' && outcome !== record.expect)
            wrong.push(
              `offset ${offset} (${record.kind}): expected ${record.expect}, got ${outcome} ${refused[0]?.error ?? ''}`,
            );
          if (outcome && outcome !== 'valid') byReason[outcome] = (byReason[outcome] ?? 0) + 1;
        });
        report[source.name] = byReason;
        assert.deepEqual(wrong.slice(0, 20), [], `${wrong.length} records without their promised outcome`);
        const valid = sent.filter((r) => r.kind === 'valid').length;
        assert.ok([...handled.values()].length >= valid, 'every valid record reached the handler');
        assert.equal(
          letterCount,
          [...letters.values()].reduce((a, l) => a + l.length, 0),
        );
      });
    }
  });
}
