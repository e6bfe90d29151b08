-- One entry added to a transcript outside the sender's turn (transcripts.py, Transcripts.append), its conversation
-- moved to the top of the history with it (history.lua). K: transcript, seen, contact, history. A: entry, retention,
-- sender, has_sid. With a sid the message is recorded once, however often it is appended (Twilio's retries, a replay
-- after an outage): returns 0 when it was there. The sid is marked seen last: a script that fails halfway keeps what
-- it wrote, and a message marked seen but never pushed would be lost for good.
if A.has_sid == '1' and redis.call('EXISTS', K.seen) == 1 then
  return 0
end
local clock = redis.call('TIME')
redis.call('RPUSH', K.transcript, A.entry)
redis.call('EXPIRE', K.transcript, A.retention)
-- What the history keeps of the patient lives as long as their transcript.
redis.call('EXPIRE', K.contact, A.retention)
remember(K.history, A.sender, tonumber(clock[1]) + tonumber(clock[2]) / 1000000, A.retention)
if A.has_sid == '1' then
  redis.call('SET', K.seen, '1', 'EX', A.retention)
end
return 1
