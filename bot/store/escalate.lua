-- A chat joins the queue once, and an urgent message raises a waiting one to the top: its place is its time of
-- arrival, less A.ahead when urgent (queue.py). The record, the queue, the chat's id, the day's count and the time
-- of the alert are written together; so is the patient's contact (their profile name and how many chats they have
-- had with coordinators: what the console's history keeps once the chat has ended). A: sender, urgent, reason, chat_id
-- (the id whose way back is K.chatid), since, profile, ahead, alerting (the change is alerted now), form (what the
-- patient filled in, JSON, or ''), retention, activity_s. K: chat, chatref, chatid, waiting, activity, contact.
-- Returns the change ('new', 'urgent' or '') and the chat's hash.
local function escalate()
  local urgent, alerting = A.urgent == '1', A.alerting == '1'
  local chat = redis.call('HGETALL', K.chat)
  -- A form filled in while the chat waits (a consultation request) joins the chat that is there.
  if #chat > 0 and A.form ~= '' then
    redis.call('HSET', K.chat, 'form', A.form)
    chat = redis.call('HGETALL', K.chat)
  end
  if #chat > 0 then
    local fields = {}
    for i = 1, #chat, 2 do
      fields[chat[i]] = chat[i + 1]
    end
    if not urgent or fields['urgent'] == '1' then
      return '', chat
    end
    redis.call('HSET', K.chat, 'urgent', '1', 'reason', A.reason)
    if alerting then
      redis.call('HSET', K.chat, 'alerted_at', A.since)
    end
    -- XX: a chat claimed a moment ago stays out of the queue.
    redis.call('ZADD', K.waiting, 'XX', tonumber(fields['since']) - tonumber(A.ahead), A.sender)
    return 'urgent', redis.call('HGETALL', K.chat)
  end
  local id = chat_id(K.chatref, K.chatid, A.sender, A.chat_id, A.retention)
  redis.call('HSET', K.chat, 'id', id, 'status', 'waiting', 'reason', A.reason, 'urgent', urgent and '1' or '0',
             'since', A.since, 'profile', A.profile, 'alerted_at', alerting and A.since or '0')
  if A.form ~= '' then
    redis.call('HSET', K.chat, 'form', A.form)
  end
  redis.call('EXPIRE', K.chat, A.retention)
  if A.profile ~= '' then
    redis.call('HSET', K.contact, 'profile', A.profile)
  end
  redis.call('HINCRBY', K.contact, 'handoffs', 1)
  redis.call('EXPIRE', K.contact, A.retention)
  redis.call('ZADD', K.waiting, tonumber(A.since) - (urgent and tonumber(A.ahead) or 0), A.sender)
  redis.call('HINCRBY', K.activity, 'handoffs', 1)
  redis.call('EXPIRE', K.activity, A.activity_s)
  return 'new', redis.call('HGETALL', K.chat)
end
