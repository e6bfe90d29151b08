-- The history of conversations (history.py): every sender in one sorted set, scored by when their transcript was last
-- written. A transcript expires the retention time after its last write, so a sender scored before that has no
-- transcript left and leaves the history (erasure removes its sender at once).
local function remember(history, sender, now, retention)
  redis.call('ZADD', history, now, sender)
  redis.call('ZREMRANGEBYSCORE', history, '-inf', now - tonumber(retention))
  redis.call('EXPIRE', history, retention)
end
