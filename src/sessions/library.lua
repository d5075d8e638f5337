#!lua name=maskbridge
-- Contract v2: the session and pool operations, as one Redis Functions library (Redis 7+).
-- docs/redis-contract.md is the reference; src/sessions/library.ts loads this file.
-- Every function takes the session (or pool, or participant) key it works on as KEYS[1] and
-- finds the key prefix in it; the keys it reaches from there (routes, the session a route points
-- to, pool sets) are standalone-Redis only: Redis Cluster is out of scope.
-- The version maskbridge compares to decide whether to load: 2.0.0 plus a digest of this file,
-- so any change to it is loaded by the next start.
local VERSION = '2.0.0+--[[DIGEST]]'
-- E.164 country calling codes (filled in by src/sessions/library.ts).
local CC = { --[[CC]] }

local ID_MAX, POOL_MAX = 128, 64
local STATES = { active = true, reserved = true, draining = true, quarantined = true }
local DEFAULT_RETAIN_MS = 86400000

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function is_e164(n)
  return type(n) == 'string' and #n >= 8 and #n <= 16 and string.match(n, '^%+[1-9]%d+$') ~= nil
end

local function is_id(s, max)
  return type(s) == 'string' and #s >= 1 and #s <= max and string.match(s, '^[%w%._:%-]+$') ~= nil
end

local function is_ms(s)
  return type(s) == 'string' and string.match(s, '^%d+$') ~= nil and #s <= 16
end

local function country_code(n)
  for len = 1, 3 do
    local c = string.sub(n, 2, 1 + len)
    if CC[c] then return c end
  end
  return nil
end

-- '{prefix}session:{id}' -> prefix, id
local function session_key(k)
  local p, id = string.match(k or '', '^(.-)session:(.+)$')
  if not p or not is_id(id, ID_MAX) then return nil end
  return p, id
end

local function pool_key(k)
  local p, name = string.match(k or '', '^(.-)pool:([%w%._%-]+)$')
  if not p or #name > POOL_MAX then return nil end
  return p, name
end

local function pairs_of(args, from)
  local t = {}
  for i = from, #args - 1, 2 do t[args[i]] = args[i + 1] end
  return t
end

local function pool_settings(p, name)
  if not name or name == '' then return nil end
  local h = redis.call('HMGET', p .. 'pool:' .. name, 'select', 'cool_off_sec', 'geo', 'geo_fallback')
  if not h[1] then return nil end
  return { select = h[1], cool_ms = (tonumber(h[2]) or 0) * 1000, geo = h[3] or 'none', fallback = h[4] or 'any' }
end

-- The session a route points to, as far as conflicts need it; nil when the route is absent.
local function holder(p, route)
  local ok, id = pcall(redis.call, 'GET', route)
  if not ok then return { malformed = true } end
  if not id then return nil end
  local h = redis.call('HMGET', p .. 'session:' .. id, 'status', 'expires_at', 'v', 'a', 'b', 'closed_at', 'pool')
  return { id = id, status = h[1], exp = tonumber(h[2]), v = h[3], a = h[4], b = h[5], closed = tonumber(h[6]), pool = h[7] }
end

-- Open, unexpired and on V: a route held by anything else is stale, and may be taken over.
local function live(s, v, now)
  return s ~= nil and (s.malformed or (s.status == 'open' and s.exp ~= nil and s.exp > now and s.v == v))
end

-- Unknown-caller slots, {prefix}unknown:{V} -> session id (docs/redis-contract.md): a session whose
-- unknown_caller is anything but 'reject' dedicates V to itself for callers with no session on V.
-- Undeclared keys, like allocation's (standalone Redis only).
local function claims_unknown(value)
  return type(value) == 'string' and value ~= '' and value ~= 'reject'
end

-- The open, unexpired session on V that set unknown_caller and holds V's slot, if it is not `id`;
-- nil when the slot is free or stale (a stale slot is never a conflict).
local function unknown_holder(p, v, id, now)
  local ok, held = pcall(redis.call, 'GET', p .. 'unknown:' .. v)
  if not ok then return p .. 'unknown:' .. v end
  if not held or held == id then return nil end
  local h = redis.call('HMGET', p .. 'session:' .. held, 'status', 'expires_at', 'v', 'unknown_caller')
  if h[1] == 'open' and (tonumber(h[2]) or 0) > now and h[3] == v and claims_unknown(h[4]) then return held end
  return nil
end

-- Lets V's slot go, if `id` holds it (close, erase, an update to 'reject').
local function release_unknown(p, id, v)
  if not v then return end
  local key = p .. 'unknown:' .. v
  if redis.call('GET', key) == id then redis.call('DEL', key) end
end

-- The slot lives as long as the session key (extend, touch).
local function extend_unknown(p, id, v, pxat)
  local key = p .. 'unknown:' .. v
  if redis.call('GET', key) == id then redis.call('PEXPIREAT', key, pxat) end
end

local function extend_to(key, at)
  local t = redis.call('PEXPIRETIME', key)
  if t >= 0 and t < at then redis.call('PEXPIREAT', key, at) end
end

-- Events for maskbridge's webhooks (docs/webhooks.md) go to the stream {prefix}events, only
-- while maskbridge has webhooks on ({prefix}events:on exists). Uncapped: delivered entries are
-- deleted, so the stream is the undelivered backlog, and a cap would drop undelivered events.
-- Undeclared keys, like allocation's (standalone Redis only).
local function events_on(p)
  return redis.call('GET', p .. 'events:on')
end

local function emit(p, kind, event_id, sid, url, data, parties)
  if not events_on(p) then return end
  redis.call('XADD', p .. 'events', '*', 'id', event_id, 'type', kind, 'at', tostring(now_ms()),
    'session', sid, 'url', url or '', 'data', cjson.encode(data), 'parties', parties and cjson.encode(parties) or '')
end

-- The expiry index {prefix}expiries (score: expires_at) that mb_expire_due reads; kept while
-- events are on, and for every session already in it.
local function index_expiry(p, id, at)
  local idx = p .. 'expiries'
  if events_on(p) or redis.call('ZSCORE', idx, id) then redis.call('ZADD', idx, at, id) end
end

-- Fields a backend may set, with their checks (a and b are checked by the callers).
local OPTIONAL = {
  record = function(v) return v == '0' or v == '1' end,
  label = function(v) return #v <= 200 and not string.match(v, '%d%d%d%d%d%d') end,
  whisper_a = function(v) return #v <= 200 and string.match(v, '^[%w_%./:%-]+$') ~= nil and not string.find(v, '..', 1, true) end,
  whisper_b = function(v) return #v <= 200 and string.match(v, '^[%w_%./:%-]+$') ~= nil and not string.find(v, '..', 1, true) end,
  consent = function(v) return #v <= 200 and string.match(v, '^[%w_%./:%-]+$') ~= nil and not string.find(v, '..', 1, true) end,
  direction = function(v) return v == 'both' or v == 'a-to-b' end,
  ttl_sec = function(v) return is_ms(v) and tonumber(v) >= 1 end,
  max_expires_at = is_ms,
  meta = function(v) return #v <= 4096 and pcall(cjson.decode, v) end,
  -- Windows and time zone are parsed fully by maskbridge (src/sessions/windows.ts); a record it
  -- cannot read never connects.
  windows = function(v) return #v <= 200 and string.match(v, '^[%w%s,:;%-]+$') ~= nil end,
  tz = function(v) return #v <= 64 and string.match(v, '^[%w_/%+%-]+$') ~= nil end,
  max_duration_sec = function(v) return is_ms(v) and tonumber(v) >= 1 and tonumber(v) <= 86400 end,
  ring_timeout_sec = function(v) return is_ms(v) and tonumber(v) >= 1 and tonumber(v) <= 600 end,
  -- Where this session's events go (maskbridge's webhooks), instead of webhooks.defaultUrl.
  webhook_url = function(v) return #v <= 2048 and string.match(v, '^https?://[^%s/?#]+[^%s]*$') ~= nil end,
  -- What unknown callers on V (and B on a one-way session) get: reject, connect-a, connect-b, announce:{file}.
  unknown_caller = function(v)
    if v == 'reject' or v == 'connect-a' or v == 'connect-b' then return true end
    local file = string.match(v, '^announce:(.+)$')
    return file ~= nil and #file <= 200 and string.match(file, '^[%w_%./:%-]+$') ~= nil and not string.find(file, '..', 1, true)
  end,
}

-- Checks the request's fields; returns the list to HSET, or an 'invalid' reply.
local function session_fields(f, now)
  if not is_e164(f.a) then return nil, { 'invalid', 'a', 'is not an E.164 number' } end
  if not is_e164(f.b) then return nil, { 'invalid', 'b', 'is not an E.164 number' } end
  if f.a == f.b then return nil, { 'invalid', 'b', 'must differ from a' } end
  if not is_ms(f.expires_at) or tonumber(f.expires_at) <= now then
    return nil, { 'invalid', 'expires_at', 'must be a future epoch-millisecond time' }
  end
  local out = { 'a', f.a, 'b', f.b, 'expires_at', f.expires_at, 'status', 'open', 'created_at', tostring(now) }
  for k, v in pairs(f) do
    if k ~= 'a' and k ~= 'b' and k ~= 'v' and k ~= 'expires_at' then
      local check = OPTIONAL[k]
      if not check then return nil, { 'invalid', k, 'is not a session field' } end
      if not check(v) then return nil, { 'invalid', k, 'has an invalid value' } end
      table.insert(out, k); table.insert(out, v)
    end
  end
  if f.max_expires_at and tonumber(f.expires_at) > tonumber(f.max_expires_at) then
    return nil, { 'invalid', 'expires_at', 'is later than max_expires_at' }
  end
  return out
end

local function existing(key, idem, v)
  if redis.call('EXISTS', key) == 0 then return nil end
  if idem ~= '' and redis.call('HGET', key, 'idem') == idem then return { 'replayed', redis.call('HGET', key, 'v') } end
  return { 'exists' }
end

local function write_session(p, id, v, f, fields, retain, idem, pool)
  local pxat = tonumber(f.expires_at) + retain
  local key = p .. 'session:' .. id
  table.insert(fields, 'v'); table.insert(fields, v)
  if idem ~= '' then table.insert(fields, 'idem'); table.insert(fields, idem) end
  if pool then table.insert(fields, 'pool'); table.insert(fields, pool) end
  redis.call('HSET', key, unpack(fields))
  redis.call('PEXPIREAT', key, pxat)
  for _, who in ipairs({ f.a, f.b }) do
    redis.call('SET', p .. 'route:' .. v .. ':' .. who, id, 'PXAT', pxat)
    local party = p .. 'party:' .. who
    redis.call('HSET', party, v, id)
    local t = redis.call('PEXPIRETIME', party)
    if t ~= -1 and t < pxat then redis.call('PEXPIREAT', party, pxat) end
  end
  if claims_unknown(f.unknown_caller) then redis.call('SET', p .. 'unknown:' .. v, id, 'PXAT', pxat) end
  redis.call('SET', p .. 'schema', '1', 'NX')
  index_expiry(p, id, f.expires_at)
  return { 'ok', v }
end

local function retain_of(s)
  if s == nil or s == '' then return DEFAULT_RETAIN_MS end
  if not is_ms(s) then return nil end
  return tonumber(s)
end

-- FCALL mb_create 5 session route(V,a) route(V,b) party(a) party(b) retain_ms idem field value ...
local function mb_create(keys, args)
  local p, id = session_key(keys[1])
  if not p then return { 'invalid', 'id', 'KEYS[1] is not {prefix}session:{id}' } end
  local retain = retain_of(args[1])
  if not retain then return { 'invalid', 'retain_ms', 'is not a whole number of milliseconds' } end
  local idem, f, now = args[2] or '', pairs_of(args, 3), now_ms()
  if not is_e164(f.v) then return { 'invalid', 'v', 'is not an E.164 number' } end
  local fields, bad = session_fields(f, now)
  if not fields then return bad end
  if f.v == f.a or f.v == f.b then return { 'invalid', 'v', 'must differ from both participants' } end
  local want = { p .. 'route:' .. f.v .. ':' .. f.a, p .. 'route:' .. f.v .. ':' .. f.b, p .. 'party:' .. f.a, p .. 'party:' .. f.b }
  for i = 1, 4 do
    if keys[i + 1] ~= want[i] then return { 'invalid', 'KEYS[' .. (i + 1) .. ']', 'must be ' .. want[i] } end
  end
  local seen = existing(keys[1], idem)
  if seen then return seen end
  local pool = redis.call('HGET', p .. 'numbers', f.v)
  if pool then
    local state = redis.call('HGET', p .. 'pool:' .. pool .. ':numbers', f.v)
    if state == 'draining' or state == 'quarantined' then return { 'unavailable', f.v, state } end
  end
  for i = 2, 3 do
    local h = holder(p, keys[i])
    if live(h, f.v, now) and h.id ~= id then return { 'conflict', h.id or keys[i] } end
  end
  if claims_unknown(f.unknown_caller) then
    local other = unknown_holder(p, f.v, id, now)
    if other then return { 'unknown-taken', other, f.v } end
  end
  return write_session(p, id, f.v, f, fields, retain, idem, pool)
end

-- FCALL mb_close 1 session
local function mb_close(keys, args)
  local p, id = session_key(keys[1])
  if not p then return { 'invalid', 'id', 'KEYS[1] is not {prefix}session:{id}' } end
  local h = redis.call('HMGET', keys[1], 'v', 'a', 'b', 'status', 'pool', 'webhook_url')
  if not h[1] then return { 'missing' } end
  local now = now_ms()
  if h[4] ~= 'closed' then
    redis.call('HSET', keys[1], 'status', 'closed', 'closed_at', tostring(now))
    redis.call('ZREM', p .. 'expiries', id)
    emit(p, 'session.closed', 'session.closed:' .. id .. ':' .. now, id, h[6], { virtual_number = h[1], closed_at = now, reason = 'closed' }, { a = h[2], b = h[3] })
  end
  release_unknown(p, id, h[1])
  -- Routes live at least through the pool's cool-off, which reads them.
  local cfg = pool_settings(p, h[5])
  if cfg and cfg.cool_ms > 0 and h[2] and h[3] then
    extend_to(keys[1], now + cfg.cool_ms)
    extend_to(p .. 'route:' .. h[1] .. ':' .. h[2], now + cfg.cool_ms)
    extend_to(p .. 'route:' .. h[1] .. ':' .. h[3], now + cfg.cool_ms)
  end
  redis.call('PUBLISH', p .. 'session-closed', id)
  return { 'closed', id }
end

local function extend_keys(p, key, h, pxat)
  redis.call('PEXPIREAT', key, pxat)
  extend_unknown(p, string.match(key, 'session:(.+)$'), h[1], pxat)
  for _, who in ipairs({ h[2], h[3] }) do
    local route = p .. 'route:' .. h[1] .. ':' .. who
    if redis.call('GET', route) == string.match(key, 'session:(.+)$') then redis.call('PEXPIREAT', route, pxat) end
    extend_to(p .. 'party:' .. who, pxat)
  end
end

-- FCALL mb_extend 1 session expires_at [retain_ms]
local function mb_extend(keys, args)
  local p = session_key(keys[1])
  if not p then return { 'invalid', 'id', 'KEYS[1] is not {prefix}session:{id}' } end
  local h = redis.call('HMGET', keys[1], 'v', 'a', 'b', 'status', 'max_expires_at')
  if not h[1] then return { 'missing' } end
  if h[4] ~= 'open' then return { 'closed' } end
  local retain = retain_of(args[2])
  if not is_ms(args[1]) or tonumber(args[1]) <= now_ms() then return { 'invalid', 'expires_at', 'must be a future epoch-millisecond time' } end
  if not retain then return { 'invalid', 'retain_ms', 'is not a whole number of milliseconds' } end
  if h[5] and tonumber(args[1]) > tonumber(h[5]) then return { 'invalid', 'expires_at', 'is later than max_expires_at' } end
  redis.call('HSET', keys[1], 'expires_at', args[1])
  index_expiry(p, string.match(keys[1], 'session:(.+)$'), args[1])
  extend_keys(p, keys[1], h, tonumber(args[1]) + retain)
  return { 'ok', args[1] }
end

-- An update of unknown_caller: a value other than 'reject' takes V's slot (refused while another
-- open session holds it), 'reject' or '' lets it go. Nil, or the refusal; writes only the slot.
local function update_unknown(p, key, value)
  local id = string.match(key, 'session:(.+)$')
  local h = redis.call('HMGET', key, 'v', 'status')
  if not claims_unknown(value) then release_unknown(p, id, h[1]); return nil end
  if h[2] ~= 'open' or not h[1] then return nil end
  local other = unknown_holder(p, h[1], id, now_ms())
  if other then return { 'unknown-taken', other, h[1] } end
  local t = redis.call('PEXPIRETIME', key)
  if t > 0 then redis.call('SET', p .. 'unknown:' .. h[1], id, 'PXAT', t) else redis.call('SET', p .. 'unknown:' .. h[1], id) end
  return nil
end

-- FCALL mb_update 1 session field value ... ('' removes an optional field)
local function mb_update(keys, args)
  local p = session_key(keys[1])
  if not p then return { 'invalid', 'id', 'KEYS[1] is not {prefix}session:{id}' } end
  if redis.call('EXISTS', keys[1]) == 0 then return { 'missing' } end
  local set, del = {}, {}
  local asked = pairs_of(args, 1)
  for k, v in pairs(asked) do
    local check = OPTIONAL[k]
    if not check or k == 'ttl_sec' or k == 'max_expires_at' then return { 'invalid', k, 'cannot be updated' } end
    if v == '' then table.insert(del, k)
    elseif check(v) then table.insert(set, k); table.insert(set, v)
    else return { 'invalid', k, 'has an invalid value' } end
  end
  if asked.unknown_caller then
    local refused = update_unknown(p, keys[1], asked.unknown_caller)
    if refused then return refused end
  end
  if #set > 0 then redis.call('HSET', keys[1], unpack(set)) end
  if #del > 0 then redis.call('HDEL', keys[1], unpack(del)) end
  return { 'ok' }
end

-- FCALL mb_touch 1 session ended_at_ms: a sliding session (ttl_sec) lives ttl_sec past the end
-- of its last answered call, never past max_expires_at. maskbridge calls it when a call ends.
local function mb_touch(keys, args)
  local p = session_key(keys[1])
  if not p or not is_ms(args[1]) then return { 'invalid', 'ended_at', 'is not epoch milliseconds' } end
  local h = redis.call('HMGET', keys[1], 'v', 'a', 'b', 'status', 'max_expires_at', 'ttl_sec', 'expires_at')
  if not h[1] or h[4] ~= 'open' or not h[6] then return { 'unchanged' } end
  local want = tonumber(args[1]) + tonumber(h[6]) * 1000
  if h[5] and want > tonumber(h[5]) then want = tonumber(h[5]) end
  if want <= (tonumber(h[7]) or 0) then return { 'unchanged' } end
  redis.call('HSET', keys[1], 'expires_at', tostring(want))
  index_expiry(p, string.match(keys[1], 'session:(.+)$'), want)
  extend_keys(p, keys[1], h, want + DEFAULT_RETAIN_MS)
  return { 'ok', tostring(want) }
end

-- FCALL_RO mb_sessions 1 party(P): the participant's open sessions, as id, V pairs.
local function mb_sessions(keys, args)
  local p, who = string.match(keys[1] or '', '^(.-)party:(.+)$')
  if not p then return redis.error_reply('KEYS[1] is not {prefix}party:{number}') end
  local now, out = now_ms(), {}
  local all = redis.call('HGETALL', keys[1])
  for i = 1, #all - 1, 2 do
    local v, id = all[i], all[i + 1]
    local h = redis.call('HMGET', p .. 'session:' .. id, 'status', 'expires_at', 'v', 'a', 'b')
    if h[1] == 'open' and (tonumber(h[2]) or 0) > now and h[3] == v and (h[4] == who or h[5] == who) then
      table.insert(out, id); table.insert(out, v)
    end
  end
  return out
end

-- FCALL mb_erase 1 party(P): erases a participant (privacy laws): every session in their index,
-- open or not, with its routes and the other participant's index entry; their index. Live calls
-- of those sessions are hung up (published as closed). Replies 'ok', then the session ids.
local function mb_erase(keys, args)
  local p, who = string.match(keys[1] or '', '^(.-)party:(.+)$')
  if not p or not is_e164(who) then return { 'invalid', 'number', 'KEYS[1] is not {prefix}party:{E.164 number}' } end
  local out = { 'ok' }
  local all = redis.call('HGETALL', keys[1])
  for i = 1, #all - 1, 2 do
    local id = all[i + 1]
    local key = p .. 'session:' .. id
    local h = redis.call('HMGET', key, 'v', 'a', 'b')
    if h[1] and (h[2] == who or h[3] == who) then
      for _, party in ipairs({ h[2], h[3] }) do
        local route = p .. 'route:' .. h[1] .. ':' .. party
        if redis.call('GET', route) == id then redis.call('DEL', route) end
        if party ~= who and redis.call('HGET', p .. 'party:' .. party, h[1]) == id then redis.call('HDEL', p .. 'party:' .. party, h[1]) end
      end
      local url = redis.call('HGET', key, 'webhook_url')
      release_unknown(p, id, h[1])
      redis.call('DEL', key)
      redis.call('ZREM', p .. 'expiries', id)
      redis.call('PUBLISH', p .. 'session-closed', id)
      emit(p, 'session.closed', 'session.closed:' .. id .. ':erased', id, url, { virtual_number = h[1], reason = 'erased' }, nil)
      table.insert(out, id)
    end
  end
  redis.call('DEL', keys[1])
  return out
end

local function mb_version() return VERSION end

redis.register_function{ function_name = 'mb_version', callback = mb_version, flags = { 'no-writes' } }
redis.register_function('mb_create', mb_create)
redis.register_function('mb_close', mb_close)
redis.register_function('mb_extend', mb_extend)
redis.register_function('mb_update', mb_update)
redis.register_function('mb_touch', mb_touch)
redis.register_function{ function_name = 'mb_sessions', callback = mb_sessions, flags = { 'no-writes' } }
redis.register_function('mb_erase', mb_erase)
