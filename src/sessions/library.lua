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

local function extend_to(key, at)
  local t = redis.call('PEXPIRETIME', key)
  if t >= 0 and t < at then redis.call('PEXPIREAT', key, at) end
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
  redis.call('SET', p .. 'schema', '1', 'NX')
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
  return write_session(p, id, f.v, f, fields, retain, idem, pool)
end

-- Can V go to this pair? Returns ok, sticky (V last joined exactly this pair).
local function usable(p, v, f, cool_ms, now)
  local sticky = false
  for _, side in ipairs({ { f.a, f.b }, { f.b, f.a } }) do
    local h = holder(p, p .. 'route:' .. v .. ':' .. side[1])
    if live(h, v, now) then return false end
    if h and h.v == v then
      local other = (h.a == side[1]) and h.b or h.a
      if other == side[2] then
        sticky = true
      elseif cool_ms > 0 and ((h.status == 'closed' and h.closed) or h.exp or 0) + cool_ms > now then
        return false
      end
    end
  end
  return true, sticky
end

local function pick(p, set, pool, f, cfg, now, skip)
  local avoid = cfg.select == 'avoid-sticky'
  local fallback = nil
  local function try(v)
    if skip[v] then return nil end
    skip[v] = true
    local ok, sticky = usable(p, v, f, cfg.cool_ms, now)
    if not ok then return nil end
    if avoid and sticky then fallback = fallback or v; return nil end
    return v
  end
  for _, v in ipairs(redis.call('SRANDMEMBER', set, 16)) do
    local got = try(v)
    if got then return got end
  end
  -- The sample was all taken: look at every number once (only near exhaustion).
  for _, v in ipairs(redis.call('SMEMBERS', set)) do
    local got = try(v)
    if got then return got end
  end
  return fallback
end

-- FCALL mb_allocate 3 session party(a) party(b) pool retain_ms idem geo field value ...
-- (picks V inside: the route and pool keys it reads are not declared)
local function mb_allocate(keys, args)
  local p, id = session_key(keys[1])
  if not p then return { 'invalid', 'id', 'KEYS[1] is not {prefix}session:{id}' } end
  local name = args[1]
  local retain = retain_of(args[2])
  if not retain then return { 'invalid', 'retain_ms', 'is not a whole number of milliseconds' } end
  local idem, geo, f, now = args[3] or '', args[4] or '', pairs_of(args, 5), now_ms()
  if f.v then return { 'invalid', 'v', 'is chosen by allocation' } end
  local fields, bad = session_fields(f, now)
  if not fields then return bad end
  if keys[2] ~= p .. 'party:' .. f.a then return { 'invalid', 'KEYS[2]', 'must be ' .. p .. 'party:' .. f.a } end
  if keys[3] ~= p .. 'party:' .. f.b then return { 'invalid', 'KEYS[3]', 'must be ' .. p .. 'party:' .. f.b } end
  local seen = existing(keys[1], idem)
  if seen then return seen end
  local cfg = pool_settings(p, name)
  if not cfg then return { 'no-pool', tostring(name) } end
  local states = p .. 'pool:' .. name .. ':numbers'
  local skip, v = {}, nil
  if cfg.select ~= 'avoid-sticky' then
    -- Sticky first: a number this pair shared before, if it is still free for both.
    local mine = redis.call('HGETALL', keys[2])
    for i = 1, #mine - 1, 2 do
      local cand = mine[i]
      if not v and not skip[cand] and redis.call('HGET', states, cand) == 'active' then
        local ok, sticky = usable(p, cand, f, cfg.cool_ms, now)
        if ok and sticky then v = cand elseif not ok then skip[cand] = true end
      end
    end
  end
  if not v then
    if geo == '' then geo = cfg.geo end
    local cc = nil
    if geo == 'country' then cc = country_code(f.a) elseif string.match(geo, '^%+%d+$') then cc = string.sub(geo, 2) end
    if cc then v = pick(p, p .. 'pool:' .. name .. ':active:' .. cc, name, f, cfg, now, skip) end
    if not v and (not cc or cfg.fallback == 'any') then v = pick(p, p .. 'pool:' .. name .. ':active', name, f, cfg, now, skip) end
  end
  if not v then return { 'exhausted', name } end
  return write_session(p, id, v, f, fields, retain, idem, name)
end

-- FCALL mb_close 1 session
local function mb_close(keys, args)
  local p, id = session_key(keys[1])
  if not p then return { 'invalid', 'id', 'KEYS[1] is not {prefix}session:{id}' } end
  local h = redis.call('HMGET', keys[1], 'v', 'a', 'b', 'status', 'pool')
  if not h[1] then return { 'missing' } end
  local now = now_ms()
  if h[4] ~= 'closed' then redis.call('HSET', keys[1], 'status', 'closed', 'closed_at', tostring(now)) end
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
  extend_keys(p, keys[1], h, tonumber(args[1]) + retain)
  return { 'ok', args[1] }
end

-- FCALL mb_update 1 session field value ... ('' removes an optional field)
local function mb_update(keys, args)
  local p = session_key(keys[1])
  if not p then return { 'invalid', 'id', 'KEYS[1] is not {prefix}session:{id}' } end
  if redis.call('EXISTS', keys[1]) == 0 then return { 'missing' } end
  local set, del = {}, {}
  for k, v in pairs(pairs_of(args, 1)) do
    local check = OPTIONAL[k]
    if not check or k == 'ttl_sec' or k == 'max_expires_at' then return { 'invalid', k, 'cannot be updated' } end
    if v == '' then table.insert(del, k)
    elseif check(v) then table.insert(set, k); table.insert(set, v)
    else return { 'invalid', k, 'has an invalid value' } end
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
      redis.call('DEL', key)
      redis.call('PUBLISH', p .. 'session-closed', id)
      table.insert(out, id)
    end
  end
  redis.call('DEL', keys[1])
  return out
end

local POOL_FIELDS = {
  select = function(v) return v == 'prefer-sticky' or v == 'avoid-sticky' end,
  cool_off_sec = function(v) return is_ms(v) and tonumber(v) <= 90 * 86400 end,
  geo = function(v) return v == 'none' or v == 'country' end,
  geo_fallback = function(v) return v == 'any' or v == 'none' end,
}

-- FCALL mb_pool_set 1 pool field value ...: creates the pool, or changes its settings.
local function mb_pool_set(keys, args)
  local p, name = pool_key(keys[1])
  if not p then return { 'invalid', 'pool', 'KEYS[1] is not {prefix}pool:{name} (letters, digits, ._-)' } end
  local out = {}
  for k, v in pairs(pairs_of(args, 1)) do
    if not POOL_FIELDS[k] then return { 'invalid', k, 'is not a pool setting' } end
    if not POOL_FIELDS[k](v) then return { 'invalid', k, 'has an invalid value' } end
    table.insert(out, k); table.insert(out, v)
  end
  if redis.call('EXISTS', keys[1]) == 0 then
    redis.call('HSET', keys[1], 'select', 'prefer-sticky', 'cool_off_sec', '0', 'geo', 'none', 'geo_fallback', 'any')
  end
  if #out > 0 then redis.call('HSET', keys[1], unpack(out)) end
  redis.call('SADD', p .. 'pools', name)
  return { 'ok', name }
end

local function set_state(p, name, v, old, new)
  local active = p .. 'pool:' .. name .. ':active'
  local by_cc = active .. ':' .. (country_code(v) or 'none')
  if old == 'active' and new ~= 'active' then redis.call('SREM', active, v); redis.call('SREM', by_cc, v) end
  if new == 'active' and old ~= 'active' then redis.call('SADD', active, v); redis.call('SADD', by_cc, v) end
  if new then redis.call('HSET', p .. 'pool:' .. name .. ':numbers', v, new)
  else redis.call('HDEL', p .. 'pool:' .. name .. ':numbers', v); redis.call('HDEL', p .. 'numbers', v) end
end

-- FCALL mb_pool_add 1 pool state number ...: state is active or reserved. All or nothing.
local function mb_pool_add(keys, args)
  local p, name = pool_key(keys[1])
  if not p then return { 'invalid', 'pool', 'KEYS[1] is not {prefix}pool:{name}' } end
  if redis.call('EXISTS', keys[1]) == 0 then return { 'no-pool', name } end
  local state = args[1]
  if state ~= 'active' and state ~= 'reserved' then return { 'invalid', 'state', 'must be active or reserved' } end
  for i = 2, #args do
    local v = args[i]
    if not is_e164(v) or not country_code(v) then return { 'invalid', v, 'is not an E.164 number' } end
    local other = redis.call('HGET', p .. 'numbers', v)
    if other and other ~= name then return { 'in-other-pool', v, other } end
  end
  local added = 0
  for i = 2, #args do
    local v = args[i]
    local old = redis.call('HGET', p .. 'pool:' .. name .. ':numbers', v)
    if not old then added = added + 1 end
    redis.call('HSET', p .. 'numbers', v, name)
    set_state(p, name, v, old, state)
  end
  return { 'ok', added }
end

-- FCALL mb_pool_state 1 pool state number ...: active, reserved, draining or quarantined.
local function mb_pool_state(keys, args)
  local p, name = pool_key(keys[1])
  if not p then return { 'invalid', 'pool', 'KEYS[1] is not {prefix}pool:{name}' } end
  local state = args[1]
  if not STATES[state] then return { 'invalid', 'state', 'must be active, reserved, draining or quarantined' } end
  local numbers = p .. 'pool:' .. name .. ':numbers'
  for i = 2, #args do
    if not redis.call('HGET', numbers, args[i]) then return { 'not-in-pool', args[i], name } end
  end
  for i = 2, #args do set_state(p, name, args[i], redis.call('HGET', numbers, args[i]), state) end
  return { 'ok', #args - 1 }
end

-- FCALL mb_pool_remove 1 pool number ...: open sessions on a removed number run to their end.
local function mb_pool_remove(keys, args)
  local p, name = pool_key(keys[1])
  if not p then return { 'invalid', 'pool', 'KEYS[1] is not {prefix}pool:{name}' } end
  local numbers = p .. 'pool:' .. name .. ':numbers'
  for i = 1, #args do
    if not redis.call('HGET', numbers, args[i]) then return { 'not-in-pool', args[i], name } end
  end
  for i = 1, #args do set_state(p, name, args[i], redis.call('HGET', numbers, args[i]), nil) end
  return { 'ok', #args }
end

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

local function mb_version() return VERSION end

redis.register_function{ function_name = 'mb_version', callback = mb_version, flags = { 'no-writes' } }
redis.register_function('mb_create', mb_create)
redis.register_function('mb_allocate', mb_allocate)
redis.register_function('mb_close', mb_close)
redis.register_function('mb_extend', mb_extend)
redis.register_function('mb_update', mb_update)
redis.register_function('mb_touch', mb_touch)
redis.register_function{ function_name = 'mb_sessions', callback = mb_sessions, flags = { 'no-writes' } }
redis.register_function('mb_erase', mb_erase)
redis.register_function('mb_pool_set', mb_pool_set)
redis.register_function('mb_pool_add', mb_pool_add)
redis.register_function('mb_pool_state', mb_pool_state)
redis.register_function('mb_pool_remove', mb_pool_remove)
redis.register_function('mb_call_admit', mb_call_admit)
redis.register_function('mb_call_release', mb_call_release)
