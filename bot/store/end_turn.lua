-- The end of a turn: what the message changed, then the turn given back, in one script (turn.py, Turns._end_turn).
-- K and A by name (scripts.py): the keys of the turn, the day's counts, the queues, the questions' index, the
-- question kept (with A.question), the way back of the chat's id (with A.escalate), the history of conversations
-- (history.lua), and every key kept about the sender (SENDER_KEYS); after them, the keys an erasure deletes. A: the turn (token, mark_seen, seen_s), the limits
-- (retention, limit, activity_s), the sender, and what the message changed, '' where nothing (Conversation.changes);
-- after them, the transcript's entries as pairs (kind, entry).
-- Whenever something about the sender is written, every key kept about them lives for the retention time again.
-- The sid is marked seen after the entries: a script that fails halfway keeps what it wrote, and a message marked
-- seen but never pushed would be lost for good.
-- Returns {1 when the turn was still ours, the questions the index holds, the escalation's change, the chat's hash}.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local kept, change, chat = 0, '', {}

-- Entries of the transcript: 'message' is the patient's message itself, pushed only while its sid is unrecorded;
-- 'over_limit' likewise, and within the transcript's limit (transcript.lua); 'new_chat' only when the escalation
-- made a new chat; 'released' only when the release ended the chat; 'always' any other entry.
local function push(released)
  local pushed = false
  for i = NAMED_ARGS + 1, #ARGV, 2 do
    local kind, entry = ARGV[i], ARGV[i + 1]
    local fresh = (kind == 'message' or kind == 'over_limit') and redis.call('EXISTS', K.seen) == 0
    if fresh and kind == 'over_limit' then
      push_over_limit(K.transcript, entry, A.limit, now)
      pushed = true
    elseif fresh or kind == 'always' or (kind == 'new_chat' and change == 'new') or (kind == 'released' and released) then
      redis.call('RPUSH', K.transcript, entry)
      pushed = true
    end
  end
  if pushed then
    trim_old(K.transcript, now, A.retention)
    remember(K.history, A.sender, now, A.retention)
  end
  return pushed
end

local function write()
  local wrote, released = false, false
  if A.release == '1' then
    released = #release(K.chat, K.waiting, K.claimed, K.held, A.sender) > 0
  end
  if A.escalate == '1' then
    change, chat = escalate()
    wrote = true
  end
  -- The patient writing to a coordinator postpones the chat's return to the assistant.
  if A.touch ~= '' and redis.call('EXISTS', K.chat) == 1 then
    redis.call('HSET', K.chat, 'active_at', A.touch)
    redis.call('ZADD', K.claimed, 'XX', A.touch, A.sender)
  end
  -- The held messages the turn read go out now; any held since then wait for the next message.
  if tonumber(A.taken) > 0 then
    redis.call('LTRIM', K.held, A.taken, -1)
  end
  if A.consent == 'out' then
    redis.call('SET', K.optout, A.opted_at)
    wrote = true
  elseif A.consent == 'in' then
    redis.call('DEL', K.optout)
  end
  wrote = push(released) or wrote
  -- The name the patient goes by on WhatsApp, for the history's search: kept with what they wrote.
  if A.contact_name ~= '' and wrote then
    redis.call('HSET', K.contact, 'profile', A.contact_name)
  end
  if A.state ~= '' then
    redis.call('SET', K.state, A.state)
    wrote = true
  end
  if A.notice ~= '' then
    redis.call('SET', K.notice, A.notice)
    wrote = true
  end
  if A.question ~= '' then
    kept = keep_question(K.question, K.questions, K.unanswered, K.activity, A.question, A.question_id, A.asked_at,
                         A.retention, A.activity_s)
    wrote = true
  end
  if wrote then
    for _, key in ipairs(SENDER_KEYS) do
      redis.call('EXPIRE', key, A.retention)
    end
  end
end

-- "Delete my data": everything kept about the sender goes, this exchange included, and any handoff ends.
local function erase()
  redis.call('DEL', unpack(SENDER_KEYS))
  for i = NAMED_KEYS + 1, #KEYS do
    redis.call('DEL', KEYS[i])
  end
  redis.call('ZREM', K.waiting, A.sender)
  redis.call('ZREM', K.claimed, A.sender)
  redis.call('ZREM', K.history, A.sender)
  -- One at a time: a sender may have more questions kept than Lua can unpack at once.
  for _, id in ipairs(cjson.decode(A.erased_questions)) do
    redis.call('ZREM', K.questions, id)
  end
end

if A.erase == '1' then
  erase()
else
  write()
end
if A.counted == '1' then
  count_message(K.activity, K.patients, A.intent, A.sender, A.activity_s)
end
if A.mark_seen == '1' then
  redis.call('SET', K.seen, '1', 'EX', A.seen_s)
end
local ours = 0
if redis.call('GET', K.turn) == A.token then
  redis.call('DEL', K.turn)
  ours = 1
end
return {ours, kept, change, chat}
