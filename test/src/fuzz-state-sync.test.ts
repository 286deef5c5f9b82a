// The fuzzer against state-sync as it runs: hostile and broken state changes among valid ones on the
// real topic. The process is never restarted, every valid change is applied, every malformed one is
// dead-lettered with its reason, and its memory stays bounded.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sampleHeartbeat, Topics, type DeadLetter, type TopicDef } from '@vigil/events';
import { highWatermarks, readPartitionRanges } from '@vigil/kafka';
import { RecordFuzzer, stopProcess, type FuzzRecord } from '@vigil/test-kit';
import {
  connect,
  entityStateKey,
  event,
  startStateSync,
  waitCaughtUp,
  type RunningStateSync,
} from './state-sync-harness';

const MALFORMED = Number(process.env.FUZZ_RECORDS ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
/** A bound far above state-sync's RSS under any backlog (235-245 MiB in the benches), far below a leak's. */
const RSS_BOUND_MIB = 450;

describe(`state-sync under the fuzzer: ${MALFORMED} malformed state changes among valid ones (seed ${SEED})`, () => {
  const { kafka, codec, producer, redis, close } = connect();
  let service: RunningStateSync;

  before(async () => {
    console.log(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} reruns these records)`);
    service = await startStateSync();
  });
  after(async () => {
    await stopProcess(service.child, 30_000);
    await close();
    redis.disconnect();
  });

  it('applies every valid change, dead-letters the rest with their reasons, never restarts, memory bounded', async () => {
    const run = randomUUID().slice(0, 8);
    const fuzzer = new RecordFuzzer({
      codec,
      def: Topics.stateChanges as TopicDef<unknown>,
      sample: (i) => event(`fz-${run}-e${i}`, 1),
      foreign: { def: Topics.heartbeats as TopicDef<unknown>, sample: () => sampleHeartbeat() },
      maxValueBytes: 512 * 1024,
      seed: SEED,
    });
    const sent: FuzzRecord[] = [];
    for (let i = 0; sent.length < MALFORMED * 1.25; i++)
      sent.push(i % 5 === 4 ? await fuzzer.valid(i) : await fuzzer.malformed(i));

    const dlqFrom = (await highWatermarks(kafka, Topics.stateChanges.dlq!.name)).get(0) ?? 0n;
    const pid = service.child.pid;
    let peakRss = 0;
    const sampler = setInterval(() => {
      service
        .metric('process_resident_memory_bytes')
        .then((b) => (peakRss = Math.max(peakRss, b)))
        .catch(() => undefined);
    }, 250);
    try {
      for (let i = 0; i < sent.length; i += 1000) {
        await producer.sendRaw(
          Topics.stateChanges.name,
          sent.slice(i, i + 1000).map(({ key, value, headers }) => ({ key, value, headers })),
        );
      }
      await waitCaughtUp(kafka, 300_000, service);
    } finally {
      clearInterval(sampler);
    }

    // Every valid change is in Redis.
    const valid = sent.filter((r) => r.kind === 'valid').map((r) => String(r.key));
    const versions = await Promise.all(valid.map((k) => redis.hget(entityStateKey(k), 'version')));
    const missing = valid.filter((_, i) => versions[i] !== '1');
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${valid.length} valid changes not applied`);

    // Every malformed one is a dead letter with its reason; a bit flip may leave a readable record.
    const dlqTo = (await highWatermarks(kafka, Topics.stateChanges.dlq!.name)).get(0) ?? 0n;
    const actual: Record<string, number> = {};
    await readPartitionRanges(
      kafka,
      Topics.stateChanges.dlq!.name,
      [{ partition: 0, from: dlqFrom, to: dlqTo }],
      async (_p, m) => {
        const letter = await codec.decode(Topics.stateChanges.dlq! as TopicDef<DeadLetter>, m.value);
        assert.ok(letter.ok, 'a readable dead letter');
        actual[letter.value.reason] = (actual[letter.value.reason] ?? 0) + 1;
      },
    );
    const promised: Record<string, number> = {};
    let either = 0;
    for (const r of sent) {
      if (r.expect === 'either') either++;
      else if (r.expect !== 'valid') promised[r.expect] = (promised[r.expect] ?? 0) + 1;
    }
    console.log(
      `dead letters by reason: ${JSON.stringify(actual)}; promised ${JSON.stringify(promised)} + up to ${either} bit flips; peak RSS ${Math.round(peakRss / 2 ** 20)} MiB`,
    );
    const reasons = new Set([...Object.keys(actual), ...Object.keys(promised)]);
    for (const reason of reasons) {
      const got = actual[reason] ?? 0;
      const want = promised[reason] ?? 0;
      assert.ok(
        got >= want && got <= want + either,
        `${reason}: ${got} dead letters for ${want} promised (+${either} bit flips)`,
      );
    }

    // One process all along, ready, and its memory bounded.
    assert.equal(service.child.exitCode, null, 'state-sync is still running');
    assert.equal(service.child.pid, pid);
    assert.equal((await fetch(`http://127.0.0.1:${service.port}/health/ready`)).status, 200);
    assert.ok(peakRss > 0 && peakRss < RSS_BOUND_MIB * 2 ** 20, `peak RSS ${Math.round(peakRss / 2 ** 20)} MiB`);
  });
});
