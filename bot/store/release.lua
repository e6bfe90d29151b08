-- The end of a handoff: the assistant answers again. Hand-back, close, cancel and the inactivity sweep may race;
-- only the first one ends the chat. Returns the chat's hash, empty when it had already ended.
local function release(chat, waiting, claimed, held, sender)
  local fields = redis.call('HGETALL', chat)
  if #fields == 0 then
    return fields
  end
  redis.call('DEL', chat, held)
  redis.call('ZREM', waiting, sender)
  redis.call('ZREM', claimed, sender)
  return fields
end
