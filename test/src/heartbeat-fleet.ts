// What the heartbeat tests that kill agents start from: one heartbeat instance owning every
// partition, a watch on the liveness events of the run's agents, and the fleet, every agent healthy.
import type { SchemaCodec } from '@vigil/events';
import type { KafkaClient } from '@vigil/kafka';
import {
  startFleet,
  startHeartbeat,
  waitUntil,
  watchLiveness,
  type LivenessWatch,
  type RunningFleet,
  type RunningHeartbeat,
} from '@vigil/test-kit';

export interface HealthyFleet {
  hb: RunningHeartbeat;
  watch: LivenessWatch;
  fleet: RunningFleet;
}

/** Starts them; each is stopped by what it pushes onto `stops` (the caller runs them in reverse). */
export async function startHealthyFleet(o: {
  kafka: KafkaClient;
  codec: SchemaCodec;
  group: string;
  prefix: string;
  agents: number;
  intervalMs: number;
  stops: Array<() => Promise<unknown>>;
}): Promise<HealthyFleet> {
  const hb = await startHeartbeat(o.group, {}, { ownAllPartitions: true });
  o.stops.push(() => hb.stop());
  const watch = await watchLiveness(o.kafka, o.codec, o.prefix);
  o.stops.push(() => watch.stop());
  const fleet = startFleet({ agents: o.agents, prefix: o.prefix, intervalMs: o.intervalMs });
  o.stops.push(() => fleet.kill());
  await fleet.waitFor('started');
  await waitUntil(
    () => new Set(watch.to('healthy').map((x) => x.agentId)).size >= o.agents,
    120_000,
    `${o.agents} agents healthy`,
  );
  return { hb, watch, fleet };
}
