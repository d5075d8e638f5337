-- Part three of the maskbridge library (src/sessions/library.ts appends it to library.lua, whose
-- helpers it uses): the live side of calls and sessions that maskbridge itself calls.

-- Concurrent calls, fleet-wide (maskbridge's defences.maxCallsPer*): a ZSET per session and per
-- virtual number of the calls in progress, scored by when their lease ends (a call of an instance
-- that died stops counting then).
-- FCALL mb_call_admit 2 {prefix}calls:session:{id} {prefix}calls:number:{V} call_id lease_ms max_session max_number
-- -> { 'ok' } | { 'over', 'session' | 'number' }; a max of 0 is no limit.
local function mb_call_admit(keys, args)
  local lease, max_s, max_n = tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  if not is_id(args[1], ID_MAX) or not lease or lease < 1 or not max_s or not max_n then
    return { 'invalid', 'args', 'call_id lease_ms max_session max_number' }
  end
  if not string.match(keys[1] or '', 'calls:session:') or not string.match(keys[2] or '', 'calls:number:') then
    return { 'invalid', 'keys', 'calls:session:{id} calls:number:{V}' }
  end
  local now = now_ms()
  local limits = { max_s, max_n }
  local scopes = { 'session', 'number' }
  for i = 1, 2 do
    redis.call('ZREMRANGEBYSCORE', keys[i], '-inf', now)
    if limits[i] > 0 and not redis.call('ZSCORE', keys[i], args[1]) and redis.call('ZCARD', keys[i]) >= limits[i] then
      return { 'over', scopes[i] }
    end
  end
  for i = 1, 2 do
    redis.call('ZADD', keys[i], now + lease, args[1])
    if redis.call('PTTL', keys[i]) < lease then redis.call('PEXPIRE', keys[i], lease) end
  end
  return { 'ok' }
end

-- FCALL mb_call_release 2 {prefix}calls:session:{id} {prefix}calls:number:{V} call_id
local function mb_call_release(keys, args)
  for i = 1, #keys do redis.call('ZREM', keys[i], args[1]) end
  return { 'ok' }
end

-- Sessions whose expiry has passed: each is taken off the expiry index and announced
-- (session.expired) exactly once, whichever instance asks. maskbridge calls it every
-- webhooks.expirySweepSec; a session extended meanwhile is re-scored, a closed one dropped.
-- FCALL mb_expire_due 1 {prefix}expiries limit -> { 'ok', expired, seen }
local function mb_expire_due(keys, args)
  local p = string.match(keys[1] or '', '^(.-)expiries$')
  local limit = tonumber(args[1])
  if not p or not limit or limit < 1 then return { 'invalid', 'args', 'KEYS[1] {prefix}expiries, limit >= 1' } end
  local now = now_ms()
  local due = redis.call('ZRANGE', keys[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
  local expired = 0
  for _, id in ipairs(due) do
    local h = redis.call('HMGET', p .. 'session:' .. id, 'status', 'expires_at', 'v', 'a', 'b', 'webhook_url')
    local at = tonumber(h[2])
    if h[1] == 'open' and at and at > now then
      redis.call('ZADD', keys[1], at, id)
    else
      redis.call('ZREM', keys[1], id)
      if h[1] == 'open' and at then
        emit(p, 'session.expired', 'session.expired:' .. id .. ':' .. h[2], id, h[6], { virtual_number = h[3], expires_at = at }, { a = h[4], b = h[5] })
        expired = expired + 1
      end
    end
  end
  return { 'ok', tostring(expired), tostring(#due) }
end

redis.register_function('mb_call_admit', mb_call_admit)
redis.register_function('mb_call_release', mb_call_release)
redis.register_function('mb_expire_due', mb_expire_due)
