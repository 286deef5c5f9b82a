/**
 * Dedupe + version gate + store, atomically for one event.
 * KEYS: state hash, unpublished zset (ids of applied events the changelog may not hold yet, scored
 * by version; publishing removes them, so it is empty while the entity is at rest).
 * ARGV: eventId, version, eventType, entityType, agentId, payload, timestamp, keepMs.
 * Returns {outcome, storedVersion, publishedVersion}; outcome is applied | duplicate | stale.
 * `duplicate` means "this exact event was applied before and is the entity's current one, or is
 * not in the changelog yet": the one case where a redelivery must be published, not dropped. Any
 * older event, redelivered or reordered, is `stale`: the version gate refuses it, so no id needs
 * remembering once the changelog holds its version (keepMs only bounds ids a failed publish left).
 */
export const APPLY_LUA = `
local state, unpublished = KEYS[1], KEYS[2]
local eventId, version = ARGV[1], tonumber(ARGV[2])
local cur = redis.call('HMGET', state, 'version', 'published', 'eventId')
local stored = cur[1] or '-1'
local published = cur[2] or '-1'
if cur[3] == eventId or redis.call('ZSCORE', unpublished, eventId) then
  return {'duplicate', stored, published}
end
if version <= tonumber(stored) then
  return {'stale', stored, published}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', state, 'version', ARGV[2], 'eventId', eventId, 'eventType', ARGV[3], 'entityType', ARGV[4],
  'agentId', ARGV[5], 'payload', ARGV[6], 'timestamp', ARGV[7], 'appliedAt', now, 'published', published)
redis.call('ZADD', unpublished, version, eventId)
redis.call('PEXPIRE', unpublished, ARGV[8])
return {'applied', ARGV[2], published}
`;

/**
 * Records that the changelog holds this entity's version (never moves backwards) and forgets the
 * ids of the events up to it. KEYS: state hash, unpublished zset. ARGV: version. A missing entity
 * is left alone: a marker without state would pass the version gate for anything.
 */
export const MARK_PUBLISHED_LUA = `
local p = redis.call('HGET', KEYS[1], 'published')
if not p then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if tonumber(ARGV[1]) > tonumber(p) then
  redis.call('HSET', KEYS[1], 'published', ARGV[1])
  return 1
end
return 0
`;

/**
 * Restores an entity from a changelog record (Redis lost it, or never saw the record's marker).
 * KEYS: state hash, unpublished zset. ARGV: version, eventId, eventType, entityType, agentId,
 * payload, timestamp. A newer stored version wins; an equal or older one only moves the marker.
 * Returns 1 when the state itself was restored.
 */
export const RESTORE_LUA = `
local cur = redis.call('HMGET', KEYS[1], 'version', 'published')
local version = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if (not cur[1]) or tonumber(cur[1]) < version then
  redis.call('HSET', KEYS[1], 'version', ARGV[1], 'eventId', ARGV[2], 'eventType', ARGV[3], 'entityType', ARGV[4],
    'agentId', ARGV[5], 'payload', ARGV[6], 'timestamp', ARGV[7], 'appliedAt', ARGV[7], 'published', ARGV[1])
  return 1
end
if tonumber(cur[2] or '-1') < version then redis.call('HSET', KEYS[1], 'published', ARGV[1]) end
return 0
`;
