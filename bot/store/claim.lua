-- Exactly one coordinator gets a waiting chat: only the one whose ZREM removed it from the queue.
-- KEYS: waiting, chat, claimed. ARGV: sender, coordinator, now.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[2], 'status', 'claimed', 'coordinator', ARGV[2], 'claimed_at', ARGV[3], 'active_at', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
