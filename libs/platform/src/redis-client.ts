import { groupBy } from '@vigil/kafka';
import Redis, { Cluster, type ChainableCommander, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * Where REDIS_URL points: one server (`redis://host:port[/db]`, `rediss://` for TLS), or a Redis
 * Cluster named by some of its nodes (`redis://host1:port1,host2:port2,...`; the client learns
 * the rest from them). A list of nodes is what puts the client in cluster mode.
 */
export interface RedisTarget {
  cluster: boolean;
  tls: boolean;
  nodes: Array<{ host: string; port: number }>;
}

/** Parses REDIS_URL; throws with the reason when it names no usable node. */
export function parseRedisTarget(url: string): RedisTarget {
  const m = /^(rediss?):\/\/(?:[^@/]*@)?([^/?#]+)(\/\d*)?$/.exec(url.trim());
  if (!m)
    throw new Error(
      `"${url}" is not redis://host:port[/db], rediss://..., or redis://host:port,host:port,... for a cluster`,
    );
  const nodes = m[2]!.split(',').map((hostPort) => {
    const at = hostPort.lastIndexOf(':');
    const host = at > 0 ? hostPort.slice(0, at) : hostPort;
    const port = at > 0 ? Number(hostPort.slice(at + 1)) : 6379;
    if (!host || !Number.isInteger(port) || port < 1 || port > 65535)
      throw new Error(`"${hostPort}" in REDIS_URL is not host:port`);
    return { host: host.replace(/^\[(.*)\]$/, '$1'), port };
  });
  const cluster = nodes.length > 1;
  if (cluster && m[3] && m[3] !== '/0')
    throw new Error('a Redis Cluster has only database 0: drop the /db from REDIS_URL');
  return { cluster, tls: m[1] === 'rediss', nodes };
}

/**
 * One ioredis client for REDIS_URL: a `Redis`, or a `Cluster` when the URL lists several nodes.
 * Typed as Redis either way: the services use only commands, scripts and pipelines, which the
 * Cluster client offers with the same signatures, and every script and pipeline of theirs keeps its
 * keys in one hash slot (the key modules say how), as Redis Cluster requires.
 */
export function createRedisClient(url: string, options: RedisOptions = {}): Redis {
  const target = parseRedisTarget(url);
  if (!target.cluster) return new Redis(url, options);
  const { lazyConnect, ...nodeOptions } = options;
  const clusterOptions: ClusterOptions = {
    lazyConnect,
    redisOptions: nodeOptions,
    // While a replica takes over a failed master (cluster-node-timeout and an election, a few
    // seconds), commands wait and are retried rather than fail at once.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    maxRedirections: 64,
    // Writes and reads go to masters: a replica may be behind, and state-sync reads its own writes.
    scaleReads: 'master',
  };
  return new Cluster(target.nodes, clusterOptions) as unknown as Redis;
}

/** One command for execByHashTag: its key (whose hash tag places it) and how to add it to a pipeline. */
export interface SlottedCommand {
  key: string;
  add: (pipeline: ChainableCommander) => unknown;
}

/**
 * Runs commands as one pipeline per hash tag, all sent at once, and answers the replies in the
 * order of `commands`; the first failed command's error is thrown. A Redis Cluster refuses a
 * pipeline whose keys span slots, and keys of one tag share a slot; on one Redis it costs what a
 * single pipeline does. Each `add` adds exactly one command. Not atomic, as no pipeline is.
 */
export async function execByHashTag(redis: Redis, commands: SlottedCommand[]): Promise<unknown[]> {
  const byTag = groupBy(commands.keys(), (i) => hashTagOf(commands[i]!.key));
  const replies = new Array<unknown>(commands.length);
  await Promise.all(
    [...byTag.values()].map(async (indices) => {
      const pipeline = redis.pipeline();
      for (const i of indices) commands[i]!.add(pipeline);
      ((await pipeline.exec()) ?? []).forEach(([err, value], j) => {
        if (err) throw err;
        replies[indices[j]!] = value;
      });
    }),
  );
  return replies;
}

/** What Redis Cluster hashes for a key: the part inside its first non-empty {...}, else the whole key. */
function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}
