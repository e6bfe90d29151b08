-- A question the assistant could not answer, kept for operations: its entry, the index of every kept question by
-- time (those older than the retention time dropped), the sender's own list (so that erasure finds them) and the
-- day's count. Returns how many questions the index holds.
local function keep_question(question, index, own, activity, entry, id, now, retention, activity_s)
  redis.call('SET', question, entry, 'EX', retention)
  redis.call('ZADD', index, now, id)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', tonumber(now) - tonumber(retention))
  redis.call('EXPIRE', index, retention)
  redis.call('SADD', own, id)
  redis.call('EXPIRE', own, retention)
  redis.call('HINCRBY', activity, 'unanswered', 1)
  redis.call('EXPIRE', activity, activity_s)
  return redis.call('ZCARD', index)
end
