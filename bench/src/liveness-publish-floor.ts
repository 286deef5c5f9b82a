#!/usr/bin/env node
// The floor under heartbeat's detection bound in a correlated outage: how long publishing a burst of
// N AgentLivenessChanged events takes on this machine with nothing else running (registry encoding,
// idempotent acks=all produce, then a consumer reading them), the way heartbeat publishes them (one
// send per owned partition, on one shared producer) and as one coalesced send.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Topics, type AgentLivenessChanged } from '@vigil/events';
import { ensureTopics } from '@vigil/kafka';
import { errorsToStderr, summarize, waitUntil, watchLiveness } from '@vigil/test-kit';
import { benchClients } from './bench-clients';
import { writeReport } from './report';

const HELP = `liveness-publish-floor: time to publish a burst of liveness transitions, nothing else running.

Usage: node bench/dist/liveness-publish-floor.js [--burst N] [--senders S] [--repeats R]
  --burst N     transitions per burst (default 3000: 30% of 10,000 agents)
  --senders S   concurrent sends sharing the burst, as heartbeat's owned partitions do (default 12)
  --repeats R   bursts per mode (default 10)
Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL. Writes bench/results/liveness-publish-floor.json.
Per burst: ms until every send is acknowledged, and ms until a consumer (fetch wait 50 ms, as the
detection bench's reader) has read the last record.`;

async function main() {
  const { values } = parseArgs({
    options: {
      burst: { type: 'string', default: '3000' },
      senders: { type: 'string', default: '12' },
      repeats: { type: 'string', default: '10' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const burst = Number(values.burst);
  const senders = Number(values.senders);
  const repeats = Number(values.repeats);
  const { kafka, codec, producer } = benchClients('bench-publish-floor');
  await ensureTopics(kafka, undefined, errorsToStderr);
  await producer.connect();
  const run = randomUUID().slice(0, 6);

  const transitions = (prefix: string): AgentLivenessChanged[] =>
    Array.from({ length: burst }, (_, i) => {
      const since = Date.now();
      return {
        agentId: `${prefix}-${i}`,
        from: 'healthy',
        to: 'unreachable',
        since,
        lastHeartbeatAt: since - 3000,
        reason: 'no heartbeat for 3000 ms',
        host: `host-${i % 100}`,
        eventId: `${prefix}-${i}/healthy>unreachable@${since}`,
      };
    });
  // Warm the registry cache and the connections: the service has both long before an outage.
  await producer.send(
    Topics.liveness,
    transitions(`pf${run}w`)
      .slice(0, 10)
      .map((value) => ({ value })),
  );

  const modes = {
    /** One send per owned partition, concurrently, on the one producer: what heartbeat does today. */
    perPartition: async (batch: AgentLivenessChanged[]) => {
      const slices = Array.from({ length: senders }, (_, s) => batch.filter((_, i) => i % senders === s));
      await Promise.all(
        slices.map((slice) =>
          producer.send(
            Topics.liveness,
            slice.map((value) => ({ value })),
          ),
        ),
      );
    },
    /** The whole burst as one send. */
    coalesced: async (batch: AgentLivenessChanged[]) => {
      await producer.send(
        Topics.liveness,
        batch.map((value) => ({ value })),
      );
    },
  };
  const figures: Record<string, unknown> = {};
  for (const [mode, publish] of Object.entries(modes)) {
    const acked: number[] = [];
    const read: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const prefix = `pf${run}${mode}${r}`;
      const watch = await watchLiveness(kafka, codec, prefix);
      // The watcher joins its group before the burst, as the detection bench's does.
      await new Promise((res) => setTimeout(res, 3000));
      const batch = transitions(prefix);
      const t0 = Date.now();
      await publish(batch);
      acked.push(Date.now() - t0);
      await waitUntil(() => watch.seen.length >= burst, 30000, `the ${mode} burst read`);
      read.push(Math.max(...watch.seen.map((s) => s.receivedAt)) - t0);
      await watch.stop();
      console.error(`  ${mode} ${r + 1}/${repeats}: acked ${acked.at(-1)} ms, read ${read.at(-1)} ms`);
    }
    figures[mode] = { untilAckedMs: summarize(acked), untilReadMs: summarize(read) };
  }
  await producer.disconnect();
  writeReport('liveness-publish-floor', { burst, senders, repeats, ...figures });
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`liveness-publish-floor failed: ${e.message}`);
    process.exit(1);
  },
);
