-- Fields of a chat that may have ended a moment ago are set only while it exists, never recreating half a chat.
-- KEYS: chat. ARGV: field, value, ... Returns 0 when the chat has ended.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
