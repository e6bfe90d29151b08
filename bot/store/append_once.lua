-- A patient's message recorded once, however often it is appended (Twilio's retries, a replay after an outage).
-- KEYS: transcript, seen. ARGV: entry, retention_s, seen_s. Returns 0 when the message was recorded before.
-- The sid is marked seen last: a script that fails halfway keeps what it wrote, and a message marked seen but
-- never pushed would be lost for good.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
return 1
