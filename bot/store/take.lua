-- Taking a sender's turn (turn.py). The line is a sorted set of waiting tokens scored by arrival (Redis's clock,
-- in microseconds), so messages are handled in the order they reached Redis, whichever worker holds them.
-- Beside it, each waiter's last poll: a waiter silent for A.silence_s has gone (its worker died) and is skipped.
-- A request carries the moment, on Redis's clock, after which its worker has stopped waiting for the answer
-- (A.deadline_us, "0" for none): a frozen Redis runs the requests it holds when it thaws, and a turn taken then
-- would be held by no one until LOCK_TIMEOUT. Such a late request changes nothing.
-- K: turn, line, beat, seen. A: token, lock_ms, has_sid ('1' or ''), deadline_us, silence_s.
local clock = redis.call('TIME')
-- Microseconds as a string of digits: a Lua number would be printed with 14 digits only.
local now_us = clock[1] .. string.sub('00000' .. clock[2], -6)
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000

local function late()
  return A.deadline_us ~= '0' and tonumber(now_us) > tonumber(A.deadline_us)
end

-- 1 taken, 0 wait, -1 seen before.
local function take()
  -- The usual case, nobody holding the turn or waiting for it, takes it without joining the line.
  if redis.call('EXISTS', K.turn) == 1 or redis.call('EXISTS', K.line) == 1 then
    local gone = redis.call('ZRANGEBYSCORE', K.beat, '-inf', now - tonumber(A.silence_s))
    for _, waiter in ipairs(gone) do
      redis.call('ZREM', K.line, waiter)
      redis.call('ZREM', K.beat, waiter)
    end
    redis.call('ZADD', K.line, 'NX', now_us, A.token)
    redis.call('ZADD', K.beat, now, A.token)
    redis.call('PEXPIRE', K.line, 60000)
    redis.call('PEXPIRE', K.beat, 60000)
    if redis.call('EXISTS', K.turn) == 1 or redis.call('ZRANGE', K.line, 0, 0)[1] ~= A.token then
      return 0
    end
    redis.call('ZREM', K.line, A.token)
    redis.call('ZREM', K.beat, A.token)
  end
  if A.has_sid == '1' and redis.call('EXISTS', K.seen) == 1 then
    return -1
  end
  redis.call('SET', K.turn, A.token, 'PX', A.lock_ms)
  return 1
end
