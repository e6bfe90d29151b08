-- What a message needs of its conversation, read as its turn is taken (turn.py, Turns._conversation):
-- {state, opted out (1 or 0), chat's hash, notice, chat's id, messages held for the patient}.
-- K: state, optout, chat, notice, chatref, held.
local function conversation()
  local chat = redis.call('HGETALL', K.chat)
  -- What a coordinator wrote while WhatsApp's window was closed goes out with the patient's next message.
  local held = {}
  if #chat > 0 then
    held = redis.call('LRANGE', K.held, 0, -1)
  end
  return {redis.call('GET', K.state), redis.call('EXISTS', K.optout), chat, redis.call('GET', K.notice),
          redis.call('GET', K.chatref), held}
end
