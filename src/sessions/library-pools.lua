-- Part two of the maskbridge library (src/sessions/library.ts appends it to library.lua, whose
-- helpers it uses): allocation from pools, and pool management.

-- Can V go to this pair? Returns ok, sticky (V last joined exactly this pair).
local function usable(p, v, f, cool_ms, now)
  -- Asking for an unknown-caller treatment: not a number another open session is dedicated to.
  if claims_unknown(f.unknown_caller) and unknown_holder(p, v, nil, now) then return false end
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

redis.register_function('mb_allocate', mb_allocate)
redis.register_function('mb_pool_set', mb_pool_set)
redis.register_function('mb_pool_add', mb_pool_add)
redis.register_function('mb_pool_state', mb_pool_state)
redis.register_function('mb_pool_remove', mb_pool_remove)
