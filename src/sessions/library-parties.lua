-- Part four of the maskbridge library (src/sessions/library.ts appends it to library.lua, whose
-- helpers it uses): the participant functions, which start from a participant's index
-- {prefix}party:{number} (V -> the id of their latest session on V).

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
-- open or not, with any routes naming it and the other participant's index entry; their index. Live calls
-- of those sessions are hung up (published as closed). Replies 'ok', then the session ids.
local function mb_erase(keys, args)
  local p, who = string.match(keys[1] or '', '^(.-)party:(.+)$')
  if not p or not is_e164(who) then return { 'invalid', 'number', 'KEYS[1] is not {prefix}party:{E.164 number}' } end
  local out = { 'ok' }
  local all = redis.call('HGETALL', keys[1])
  local seen = {}
  for i = 1, #all - 1, 2 do
    -- The session the index names on V, then those it replaced there (prev_a / prev_b).
    local id, hops = all[i + 1], 0
    while id and not seen[id] and hops < 10000 do
      seen[id], hops = true, hops + 1
      local key = p .. 'session:' .. id
      local h = redis.call('HMGET', key, 'v', 'a', 'b', 'prev_a', 'prev_b')
      if not (h[1] and (h[2] == who or h[3] == who)) then break end
      for _, party in ipairs({ h[2], h[3] }) do
        local route = route_of(p, h[1], party, id)
        if route then redis.call('DEL', route) end
        if party ~= who and redis.call('HGET', p .. 'party:' .. party, h[1]) == id then redis.call('HDEL', p .. 'party:' .. party, h[1]) end
      end
      local url = redis.call('HGET', key, 'webhook_url')
      release_unknown(p, id, h[1])
      redis.call('DEL', key)
      redis.call('ZREM', p .. 'expiries', id)
      redis.call('PUBLISH', p .. 'session-closed', id)
      emit(p, 'session.closed', 'session.closed:' .. id .. ':erased', id, url, { virtual_number = h[1], reason = 'erased' }, nil)
      table.insert(out, id)
      if h[2] == who then id = h[4] else id = h[5] end
    end
  end
  redis.call('DEL', keys[1])
  return out
end

redis.register_function{ function_name = 'mb_sessions', callback = mb_sessions, flags = { 'no-writes' } }
redis.register_function('mb_erase', mb_erase)
