/**
 * The fence of a heartbeat partition's keys: each owner claims the partition with an epoch one
 * higher than the last (HINCRBY on the meta hash, before it loads anything), and every write of
 * an owner carries its epoch. A write with an epoch below the stored one comes from an owner the
 * partition has moved away from (paused past its session, say, and resumed mid-batch): it is
 * refused whole, so it neither rolls leases or the clock back nor trims the new owner's outbox.
 * A higher epoch is taken as the stored one: Redis lost the claim (an asynchronous replica
 * promoted) and the writer is the newest owner that could have claimed.
 */
const FENCE = `
local epoch = tonumber(ARGV[1])
local stored = tonumber(redis.call('HGET', KEYS[2], 'epoch') or '0')
if epoch < stored then return {0, stored} end
if epoch > stored then redis.call('HSET', KEYS[2], 'epoch', ARGV[1]) end
`;

/**
 * A partition's changes, fenced, in one step.
 * KEYS: leases hash, meta hash, outbox list, registry outbox list (one hash slot: see leaseKeys).
 * ARGV[1]: the writer's epoch; ARGV[2]: the clock (ms, '0' for none); ARGV[3..6]: how many lease
 * field/value arguments, removed agent ids, transitions and registry entries follow, in that order
 * from ARGV[7].
 * Returns {1, clockCreated} (1 when the clock field had to be created), or {0, storedEpoch} when fenced.
 * Long argument runs go in slices: Lua's unpack is bounded by its stack (8000 values).
 */
export const SAVE_LEASES_LUA = `${FENCE}
local at = 7
local function each(cmd, key, n)
  local done = 0
  while done < n do
    local m = math.min(1000, n - done)
    redis.call(cmd, key, unpack(ARGV, at + done, at + done + m - 1))
    done = done + m
  end
  at = at + n
end
each('HSET', KEYS[1], tonumber(ARGV[3]))
each('HDEL', KEYS[1], tonumber(ARGV[4]))
local created = 0
if ARGV[2] ~= '0' then created = redis.call('HSET', KEYS[2], 'clock', ARGV[2]) end
each('RPUSH', KEYS[3], tonumber(ARGV[5]))
each('RPUSH', KEYS[4], tonumber(ARGV[6]))
return {1, created}
`;

/**
 * The first n entries of an outbox were published: drops them, fenced.
 * KEYS: the outbox list, the meta hash. ARGV[1]: the writer's epoch; ARGV[2]: n.
 * Returns {1, 0}, or {0, storedEpoch} when fenced.
 */
export const TRIM_OUTBOX_LUA = `${FENCE}
redis.call('LTRIM', KEYS[1], ARGV[2], -1)
return {1, 0}
`;
