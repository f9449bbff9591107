/**
 * The Lua scripts of the session roster (docs/scaling.md, "Node loss"). Key `<prefix>roster:<room>:<node>`
 * is a hash: session id -> `<seen ms>|<role>|<identity>`, where `seen` is Redis's clock (TIME) when
 * the hosting node last wrote the session attached (a node refreshes it every quarter of the resume
 * window, so it lags by at most that plus a tick: redis-roster.ts, refreshAfterMs). The key expires
 * `ttl` ms after its node last wrote it, so a dead node's roster is gone once no session could be
 * restored from it.
 */

/**
 * SYNC. KEYS: roster keys. ARGV[1]: ttl ms; then for each key, in order: `n`, n pairs (session id,
 * `<role>|<identity>`) written with seen = now, then `m` and m session ids removed. Every key
 * written is given the ttl. Returns Redis's clock (ms).
 */
export const SYNC_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local a = 2
for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n do
    redis.call('HSET', key, ARGV[a], now .. '|' .. ARGV[a + 1])
    a = a + 2
  end
  local m = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, m do
    redis.call('HDEL', key, ARGV[a])
    a = a + 1
  end
  if n > 0 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return now
`;

/**
 * CLAIM. KEYS[1]: the roster of the node that last hosted the session; KEYS[2]: this node's roster;
 * KEYS[3]: the room's placement key. ARGV: [1] session id, [2] this node's id, [3] the claim
 * window ms (how old a stored `seen` may be for the session to be restored: the resume window plus
 * the refresh age, redis-roster.ts claimWindowMs), [4] ttl ms. Returns {kind, entry}:
 * - `claimed` + entry: already in this node's roster (a retry) or moved here, and seen within the window;
 * - `elsewhere`: the room is placed on another node (its host is alive: the session is its);
 * - `none`: no entry, or one seen too long ago (then dropped).
 * Atomic: of several nodes claiming one session, exactly one moves it.
 */
export const CLAIM_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function fresh(v)
  local seen = tonumber(string.match(v, '^(%d+)|'))
  return seen ~= nil and now - seen <= tonumber(ARGV[3])
end
local mine = redis.call('HGET', KEYS[2], ARGV[1])
if mine then
  if fresh(mine) then return {'claimed', mine} end
  redis.call('HDEL', KEYS[2], ARGV[1])
  return {'none', false}
end
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[2] then return {'elsewhere', false} end
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return {'none', false} end
redis.call('HDEL', KEYS[1], ARGV[1])
if not fresh(v) then return {'none', false} end
redis.call('HSET', KEYS[2], ARGV[1], v)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {'claimed', v}
`;
