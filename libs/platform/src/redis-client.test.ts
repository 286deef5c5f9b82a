import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { createRedisClient, execByHashTag, parseRedisTarget } from './redis-client';

describe('REDIS_URL', () => {
  it('names one server, with TLS when the scheme is rediss', () => {
    assert.deepEqual(parseRedisTarget('redis://127.0.0.1:6379'), {
      cluster: false,
      tls: false,
      nodes: [{ host: '127.0.0.1', port: 6379 }],
    });
    assert.deepEqual(parseRedisTarget('rediss://user:pw@cache.internal:6380/2'), {
      cluster: false,
      tls: true,
      nodes: [{ host: 'cache.internal', port: 6380 }],
    });
    assert.equal(parseRedisTarget('redis://cache').nodes[0]!.port, 6379);
  });

  it('names a Redis Cluster by several of its nodes', () => {
    const t = parseRedisTarget('redis://127.0.0.1:7100,127.0.0.1:7101,[::1]:7102');
    assert.equal(t.cluster, true);
    assert.deepEqual(t.nodes, [
      { host: '127.0.0.1', port: 7100 },
      { host: '127.0.0.1', port: 7101 },
      { host: '::1', port: 7102 },
    ]);
  });

  it('is refused with the reason when it names no usable node', () => {
    assert.throws(() => parseRedisTarget('not a url'), /is not redis:\/\/host:port/);
    assert.throws(() => parseRedisTarget('http://127.0.0.1:6379'), /is not redis:\/\/host:port/);
    assert.throws(() => parseRedisTarget('redis://127.0.0.1:99999'), /"127.0.0.1:99999" in REDIS_URL is not host:port/);
    assert.throws(() => parseRedisTarget('redis://a:1,b:2/3'), /only database 0/);
  });
});

describe('createRedisClient on the Redis of this run (REDIS_URL)', () => {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redis = createRedisClient(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  after(() => redis.disconnect());

  it('is a cluster client exactly when the URL lists several nodes, and answers', async () => {
    assert.equal(redis instanceof Cluster, parseRedisTarget(url).cluster);
    assert.equal(await redis.ping(), 'PONG');
  });

  it("runs a script whose keys share one hash slot, as every Vigil script's do", async () => {
    const tag = `{redis-client-test:${process.pid}}`;
    const reply = await redis.eval(
      "redis.call('SET', KEYS[1], ARGV[1], 'PX', 10000); redis.call('SET', KEYS[2], ARGV[1], 'PX', 10000); return redis.call('GET', KEYS[1])",
      2,
      `vigil:${tag}:a`,
      `vigil:${tag}:b`,
      'v',
    );
    assert.equal(reply, 'v');
  });

  it('runs commands of many hash tags as a pipeline per tag, replies in the order asked', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `vigil:{redis-client-test:${process.pid}:${i % 4}}:k${i}`);
    await execByHashTag(
      redis,
      keys.map((key, i) => ({ key, add: (p) => p.set(key, `v${i}`, 'PX', 10000) })),
    );
    const replies = await execByHashTag(
      redis,
      keys.map((key) => ({ key, add: (p) => p.get(key) })),
    );
    assert.deepEqual(
      replies,
      keys.map((_, i) => `v${i}`),
    );
    await assert.rejects(
      execByHashTag(redis, [{ key: keys[0]!, add: (p) => p.hget(keys[0]!, 'f') }]),
      /WRONGTYPE/,
      'a failed command fails the call',
    );
  });
});
