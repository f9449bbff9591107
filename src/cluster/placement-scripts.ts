/**
 * The Lua scripts of room placement (docs/scaling.md, "Placement"). Each runs atomically in Redis,
 * so what one reads cannot change before it writes: two nodes placing, renewing or taking over the
 * same room are ordered by Redis, and exactly one of them writes the holder first.
 *
 * Keys: `<prefix>room:<room id>` holds the id of the node hosting the room (with a lease, PX);
 * `<prefix>room-by:<room id>` the id of the PLACE call that wrote it (same lease); `<prefix>node:<node
 * id>` is a node's presence record (expires unless renewed).
 *
 * Why the call id: a PLACE call that timed out on the node (Redis hung) still runs when Redis
 * resumes, and may record the candidate it was given, another node, for a room the placing node
 * meanwhile kept and opened here. The next renewal of that room carries the call's id and takes
 * back exactly what that late call wrote (and nothing another node placed).
 */

/**
 * PLACE. KEYS[1] the room key, KEYS[2] its room-by key. ARGV: [1] this node, [2] the candidate
 * chosen by load, [3] lease ms, [4] the node-key prefix, [5] this call's id. Returns {kind, holder, holder's presence or nil}:
 * - `held`: the room is held by this node (its lease extended) or by a live node (its presence returned);
 * - `takeover`: the holder's presence had expired: the room now belongs to the candidate;
 * - `new`: nobody held it: SET NX recorded the candidate.
 * A candidate whose presence is gone is replaced by this node.
 */
export const PLACE_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'held', holder, false}
end
if holder then
  local presence = redis.call('GET', ARGV[4] .. holder)
  if presence then return {'held', holder, presence} end
end
local target = ARGV[2]
local presence = redis.call('GET', ARGV[4] .. target)
if not presence then
  target = ARGV[1]
  presence = false
end
redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[3])
if holder then
  redis.call('SET', KEYS[1], target, 'PX', ARGV[3])
  return {'takeover', target, presence}
end
redis.call('SET', KEYS[1], target, 'NX', 'PX', ARGV[3])
return {'new', target, presence}
`;

/**
 * RENEW (every presence interval, for the rooms this node hosts, many per call). KEYS: for each
 * room, its room key then its room-by key (KEYS[2i-1], KEYS[2i]). ARGV: [1] this node, [2] lease
 * ms, [3] the node-key prefix, [3+i] the id of this node's PLACE call for room i that failed (timed
 * out), or ''. Returns one outcome per room, in order: `ok` (renewed; or recorded when nobody held
 * it, e.g. after a Redis outage, or when the holder was written by this node's own failed call),
 * `takeover` (the holder's presence had expired) or `conflict` (another live node holds it: nothing
 * is written).
 */
export const RENEW_SCRIPT = `
local out = {}
for i = 1, #KEYS / 2 do
  local room, by, failed = KEYS[2 * i - 1], KEYS[2 * i], ARGV[3 + i]
  local holder = redis.call('GET', room)
  if holder == ARGV[1] then
    redis.call('PEXPIRE', room, ARGV[2])
    out[i] = 'ok'
  elseif not holder or (failed ~= '' and redis.call('GET', by) == failed) then
    redis.call('SET', room, ARGV[1], 'PX', ARGV[2])
    out[i] = 'ok'
  elseif redis.call('EXISTS', ARGV[3] .. holder) == 0 then
    redis.call('SET', room, ARGV[1], 'PX', ARGV[2])
    out[i] = 'takeover'
  else
    out[i] = 'conflict'
  end
end
return out
`;

/** RELEASE (the room closed here). KEYS[1] the room key; ARGV[1] this node. Deletes it only while this node holds it. */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;
