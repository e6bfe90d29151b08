-- Taking the sender's turn and reading their conversation, in one round trip (take.lua, read.lua).
-- K: turn, line, beat, seen, rate and the conversation's. A: token, lock_ms, has_sid, deadline_us, silence_s, window_s.
-- Returns {now_us, status, count, conversation once taken}: status 1 taken, 0 wait, -1 seen before,
-- -2 too late (nothing done); count of messages in the rate window.
if late() then
  return {now_us, -2, 0}
end
if A.has_sid == '1' and redis.call('EXISTS', K.seen) == 1 then
  return {now_us, -1, 0}
end
local count = redis.call('INCR', K.rate)
if count == 1 then
  redis.call('EXPIRE', K.rate, A.window_s)
end
local status = take()
if status == 1 then
  return {now_us, status, count, conversation()}
end
return {now_us, status, count}
