import { SchemaCodec, Topics, type DeadLetter, type TopicDef } from '@vigil/events';
import {
  createKafkaClient,
  highWatermarks,
  kafkaSecurityFromEnv,
  parseBrokers,
  readPartitionRanges,
  registryAuthFromEnv,
  type EventsLogger,
  type KafkaClient,
} from '@vigil/kafka';
import type { Context, Output } from '../output';
import { ago, table } from '../render';

/** A header on each replayed record, naming the dead letter it came from (`<dlq>/<offset>`). */
export const REPLAYED_FROM = 'vigil-replayed-from';

/** The consumer group whose committed offset on a DLQ marks what `--replay` has republished. */
export const replayGroup = (dlq: string) => `vigil-cli-replay.${dlq}`;

export class DlqRefused extends Error {}

/** A catalogue topic by its name, its DLQ's name, its catalogue key or its name's last part (state-changes). */
export function sourceTopic(arg: string): TopicDef<unknown> {
  const all = Object.entries(Topics) as Array<[string, TopicDef<unknown>]>;
  const found = all.find(
    ([key, def]) => key === arg || def.name === arg || def.dlq?.name === arg || def.name.endsWith(`.${arg}`),
  )?.[1];
  if (!found) throw new DlqRefused(`no topic "${arg}"; one of: ${all.map(([, d]) => d.name).join(', ')}`);
  return found;
}

/** Refuses a replay unless the topic's catalogue entry says a replay is harmless, with its reason. */
export function replayAllowed(def: TopicDef<unknown>): void {
  if (def.replay?.safe) return;
  throw new DlqRefused(
    `replaying ${def.name}'s dead letters is refused: ${def.replay?.why ?? 'nobody has shown a replay of it to be harmless'}` +
      ` (replayable: ${Object.values(Topics)
        .filter((d) => d.replay?.safe)
        .map((d) => d.name)
        .join(', ')})`,
  );
}

interface Letter {
  offset: bigint;
  letter: DeadLetter | null;
  /** Why the dead letter itself could not be read. */
  unreadable?: string;
}

const quiet: EventsLogger = {
  debug() {},
  info() {},
  warn() {},
  error: (o, m) => process.stderr.write(`${m} ${JSON.stringify(o)}\n`),
};

function connect(ctx: Context): { kafka: KafkaClient; codec: SchemaCodec } {
  const kafka = createKafkaClient({
    clientId: 'vigil-cli',
    brokers: parseBrokers(ctx.endpoints.kafkaBrokers),
    security: kafkaSecurityFromEnv(),
    logger: quiet,
  });
  return { kafka, codec: new SchemaCodec({ registryUrl: ctx.endpoints.registryUrl, auth: registryAuthFromEnv() }) };
}

async function readLetters(
  kafka: KafkaClient,
  codec: SchemaCodec,
  dlq: TopicDef<DeadLetter>,
  from: bigint,
  to: bigint,
) {
  const letters: Letter[] = [];
  await readPartitionRanges(kafka, dlq.name, [{ partition: 0, from, to }], async (_p, m) => {
    const decoded = await codec.decode(dlq, m.value);
    letters.push(
      decoded.ok
        ? { offset: BigInt(m.offset), letter: decoded.value }
        : { offset: BigInt(m.offset), letter: null, unreadable: `${decoded.reason}: ${decoded.error}` },
    );
  });
  return letters;
}

const oneLine = (s: string, max = 100) => {
  const flat = s.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

/** The newest dead letters of a topic: why each was refused and where it came from. Commits nothing. */
export async function dlqPeek(ctx: Context, topic: string, options: { limit?: string }): Promise<Output> {
  const def = sourceTopic(topic);
  const dlq = def.dlq!;
  const limit = BigInt(Number(options.limit ?? 20) || 20);
  const { kafka, codec } = connect(ctx);
  const high = (await highWatermarks(kafka, dlq.name)).get(0) ?? 0n;
  const from = high > limit ? high - limit : 0n;
  const letters = await readLetters(kafka, codec, dlq, from, high);
  const now = ctx.now();
  const rows = letters.map(({ offset, letter, unreadable }) => ({
    offset: Number(offset),
    source: letter ? `${letter.topic}/${letter.partition}/${letter.offset}` : null,
    reason: letter?.reason ?? 'unreadable',
    error: letter?.error ?? unreadable ?? '',
    key: letter?.key ? letter.key.toString('utf8') : null,
    consumerGroup: letter?.consumerGroup ?? null,
    failedAt: letter?.failedAt ?? null,
    valueBytes: letter?.valueBytes ?? letter?.value?.length ?? 0,
    truncated: letter?.truncated ?? false,
  }));
  const replay = def.replay?.safe
    ? `vigil dlq ${def.name} --replay republishes them`
    : `replay refused: ${def.replay?.why ?? 'not declared harmless'}`;
  const text = [
    rows.length
      ? table(rows, [
          ['OFFSET', (r) => String(r.offset)],
          ['FAILED', (r) => ago(r.failedAt, now)],
          ['REASON', (r) => r.reason],
          ['SOURCE', (r) => r.source ?? '-'],
          ['KEY', (r) => r.key ?? '-'],
          ['ERROR', (r) => oneLine(r.error)],
        ])
      : `${dlq.name} is empty`,
    '',
    `${rows.length} of ${high} dead letter(s) in ${dlq.name}; ${replay}`,
  ].join('\n');
  return { data: { topic: def.name, dlq: dlq.name, total: Number(high), letters: rows }, text };
}

/**
 * Republishes a topic's dead letters to it, byte for byte with their headers (plus where each came
 * from), after the cause is fixed: a registry back, a reader fixed. Only for topics whose reader
 * makes a replay harmless. What it has replayed is committed as the offset of a group of its own,
 * so a second run republishes only letters that arrived since.
 */
export async function dlqReplay(ctx: Context, topic: string, progress: (line: string) => void): Promise<Output> {
  const def = sourceTopic(topic);
  replayAllowed(def);
  const dlq = def.dlq!;
  const { kafka, codec } = connect(ctx);
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const high = (await highWatermarks(kafka, dlq.name)).get(0) ?? 0n;
    const group = replayGroup(dlq.name);
    const committed = (await admin.fetchOffsets({ groupId: group, topics: [dlq.name] }))[0]?.partitions[0]?.offset;
    const from = committed && Number(committed) >= 0 ? BigInt(committed) : 0n;
    progress(`replaying ${dlq.name} offsets ${from}..${high - 1n} to ${def.name}`);
    const letters = await readLetters(kafka, codec, dlq, from, high);
    const skipped: Array<{ offset: number; why: string }> = [];
    const replayed: Array<{ offset: number; source: string; reason: string }> = [];
    for (const { offset, letter, unreadable } of letters) {
      // A record refused again after a replay comes back with the header the replay set: replaying
      // it again would only bounce it between the topic and its DLQ until its cause is fixed.
      const bounced = letter?.headers[REPLAYED_FROM]?.toString();
      if (letter && bounced) {
        skipped.push({
          offset: Number(offset),
          why: `refused again after its replay from ${bounced}: ${letter.reason}`,
        });
        continue;
      }
      if (letter?.truncated) {
        skipped.push({
          offset: Number(offset),
          why: `cut to fit ${dlq.name}: it holds ${letter.value?.length ?? 0} of the value's ${letter.valueBytes} bytes (sha256 ${letter.valueSha256})`,
        });
        continue;
      }
      if (!letter || letter.topic !== def.name || letter.value === null) {
        const why =
          unreadable ?? (letter?.value === null ? 'no value to replay' : `from ${letter?.topic}, not ${def.name}`);
        skipped.push({ offset: Number(offset), why });
        continue;
      }
      await producer.send({
        topic: def.name,
        messages: [
          {
            key: letter.key,
            value: letter.value,
            headers: { ...letter.headers, [REPLAYED_FROM]: `${dlq.name}/${offset}` },
          },
        ],
      });
      replayed.push({
        offset: Number(offset),
        source: `${letter.topic}/${letter.partition}/${letter.offset}`,
        reason: letter.reason,
      });
    }
    if (high > from)
      await admin.setOffsets({
        groupId: group,
        topic: dlq.name,
        partitions: [{ partition: 0, offset: high.toString() }],
      });
    const text = [
      `${replayed.length} dead letter(s) republished to ${def.name}; ${skipped.length} skipped`,
      ...skipped.map((s) => `  skipped offset ${s.offset}: ${s.why}`),
      `records refused again land in ${dlq.name} with their new reason (vigil dlq ${def.name})`,
    ].join('\n');
    return { data: { topic: def.name, dlq: dlq.name, from: Number(from), to: Number(high), replayed, skipped }, text };
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}
