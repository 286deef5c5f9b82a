/**
 * Dedupe + version gate + store for a slice of one partition's batch, in order, atomically.
 * One call for many events because Redis spends more on entering a script than on the commands of
 * one event's apply (EVALSHA 25 us per event, its commands 9 us, on the state-sync-memory bench).
 * KEYS[1]: the partition's changelog checkpoint; then per event i: its state hash KEYS[2i] and its
 * unpublished zset KEYS[2i+1] (ids of applied events the changelog may not hold yet, scored by
 * version; publishing removes them, so it is empty while the entity is at rest).
 * ARGV[1]: keepMs; then 7 per event i from ARGV[7i-5]: eventId, version, eventType, entityType,
 * agentId, payload, timestamp.
 * Returns {checkpointExists, then per event: outcome, storedVersion, publishedVersion}; outcome is
 * applied | duplicate | stale. `duplicate` means "this exact event was applied before and is the
 * entity's current one, or is not in the changelog yet": the one case where a redelivery must be
 * published, not dropped. Any older event, redelivered or reordered, is `stale`: the version gate
 * refuses it, so no id needs remembering once the changelog holds its version (keepMs only bounds
 * ids a failed publish left).
 * The keys of a slice span hash slots: legal on one Redis; a Redis Cluster would need one call per slot.
 */
export const APPLY_BATCH_LUA = `
local keepMs = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = { redis.call('EXISTS', KEYS[1]) }
local expiring = {}
for i = 1, (#KEYS - 1) / 2 do
  local state, unpublished = KEYS[2 * i], KEYS[2 * i + 1]
  local a = 7 * i - 5
  local eventId, versionArg = ARGV[a], ARGV[a + 1]
  local version = tonumber(versionArg)
  local cur = redis.call('HMGET', state, 'version', 'published', 'eventId')
  local stored = cur[1] or '-1'
  local published = cur[2] or '-1'
  local outcome = 'applied'
  -- An entity whose stored version is published has no unpublished ids: publishing removed them.
  if cur[3] == eventId or (stored ~= published and redis.call('ZSCORE', unpublished, eventId)) then
    outcome = 'duplicate'
  elseif version <= tonumber(stored) then
    outcome = 'stale'
  else
    redis.call('HSET', state, 'version', versionArg, 'eventId', eventId, 'eventType', ARGV[a + 2],
      'entityType', ARGV[a + 3], 'agentId', ARGV[a + 4], 'payload', ARGV[a + 5], 'timestamp', ARGV[a + 6],
      'appliedAt', now, 'published', published)
    redis.call('ZADD', unpublished, version, eventId)
    if not expiring[unpublished] then
      redis.call('PEXPIRE', unpublished, keepMs)
      expiring[unpublished] = true
    end
    stored = versionArg
  end
  out[#out + 1] = outcome
  out[#out + 1] = stored
  out[#out + 1] = published
end
return out
`;

/**
 * After the changelog acked a batch: per entity, records that the changelog holds its version (never
 * moves backwards), forgets the ids of the events up to it and keeps the agent's index of entities in
 * step (a deleted entity leaves it); then moves the partition's checkpoint, all atomically. A missing
 * entity is left alone: a marker without state would pass the version gate for anything.
 * KEYS: per entity i: state hash KEYS[3i-2], unpublished zset KEYS[3i-1], the agent's entity set
 * KEYS[3i]; then, when ARGV has one value more than two per entity, the checkpoint key last.
 * ARGV: per entity i from ARGV[3i-2]: version, entityId, deleted ('1' or '0'); then the checkpoint's value.
 */
export const MARK_PUBLISHED_BATCH_LUA = `
local entities = math.floor(#KEYS / 3)
for i = 1, entities do
  local state, unpublished, index = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local version, entity, deleted = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  local p = redis.call('HGET', state, 'published')
  if p then
    redis.call('ZREMRANGEBYSCORE', unpublished, '-inf', version)
    if tonumber(version) > tonumber(p) then redis.call('HSET', state, 'published', version) end
  end
  if deleted == '1' then redis.call('SREM', index, entity) else redis.call('SADD', index, entity) end
end
if #KEYS > 3 * entities then redis.call('SET', KEYS[#KEYS], ARGV[#ARGV]) end
return entities
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
