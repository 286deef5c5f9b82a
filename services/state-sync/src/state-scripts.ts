/**
 * Dedupe + version gate + store, atomically for one event.
 * KEYS: state hash, seen zset (recent applied event ids scored by apply time).
 * ARGV: eventId, version, eventType, entityType, agentId, payload, timestamp, windowMs, maxIds.
 * Returns {outcome, storedVersion, publishedVersion}; outcome is applied | duplicate | stale.
 * Only applied ids enter `seen`, so `duplicate` means "this exact event was applied before".
 */
export const APPLY_LUA = `
local state, seen = KEYS[1], KEYS[2]
local eventId, version = ARGV[1], tonumber(ARGV[2])
local cur = redis.call('HMGET', state, 'version', 'published')
local stored = cur[1] or '-1'
local published = cur[2] or '-1'
if redis.call('ZSCORE', seen, eventId) then
  return {'duplicate', stored, published}
end
if version <= tonumber(stored) then
  return {'stale', stored, published}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', state, 'version', ARGV[2], 'eventId', eventId, 'eventType', ARGV[3], 'entityType', ARGV[4],
  'agentId', ARGV[5], 'payload', ARGV[6], 'timestamp', ARGV[7], 'appliedAt', now, 'published', published)
redis.call('ZADD', seen, now, eventId)
redis.call('ZREMRANGEBYSCORE', seen, '-inf', now - tonumber(ARGV[8]))
redis.call('ZREMRANGEBYRANK', seen, 0, -(tonumber(ARGV[9]) + 1))
redis.call('PEXPIRE', seen, ARGV[8])
return {'applied', ARGV[2], published}
`;

/**
 * Records that the changelog holds this entity's version (never moves backwards).
 * KEYS: state hash. ARGV: version. A missing entity is left alone: a marker without state would
 * pass the version gate for anything.
 */
export const MARK_PUBLISHED_LUA = `
local p = redis.call('HGET', KEYS[1], 'published')
if not p then return 0 end
if tonumber(ARGV[1]) > tonumber(p) then
  redis.call('HSET', KEYS[1], 'published', ARGV[1])
  return 1
end
return 0
`;

/**
 * Restores an entity from a changelog record (Redis lost it, or never saw the record's marker).
 * KEYS: state hash. ARGV: version, eventId, eventType, entityType, agentId, payload, timestamp.
 * A newer stored version wins; an equal or older one only moves the marker. Returns 1 when the
 * state itself was restored.
 */
export const RESTORE_LUA = `
local cur = redis.call('HMGET', KEYS[1], 'version', 'published')
local version = tonumber(ARGV[1])
if (not cur[1]) or tonumber(cur[1]) < version then
  redis.call('HSET', KEYS[1], 'version', ARGV[1], 'eventId', ARGV[2], 'eventType', ARGV[3], 'entityType', ARGV[4],
    'agentId', ARGV[5], 'payload', ARGV[6], 'timestamp', ARGV[7], 'appliedAt', ARGV[7], 'published', ARGV[1])
  return 1
end
if tonumber(cur[2] or '-1') < version then redis.call('HSET', KEYS[1], 'published', ARGV[1]) end
return 0
`;
