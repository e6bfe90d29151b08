-- Asking again for the sender's turn while waiting in line (take.lua, read.lua).
-- K: turn, line, beat, seen and the conversation's. A: token, lock_ms, has_sid, deadline_us, silence_s.
-- Returns {now_us, status, conversation once taken}, as begin.lua.
if late() then
  return {now_us, -2}
end
local status = take()
if status == 1 then
  return {now_us, status, conversation()}
end
return {now_us, status}
