import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';

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
