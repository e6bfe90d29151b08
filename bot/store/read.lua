-- What a message needs of its conversation, read as its turn is taken (turn.py, Turns._conversation):
-- {state, opted out (1 or 0), chat's hash, notice, chat's id, messages held for the patient}.
-- K: state, optout, chat, notice, chatref, held.
local function conversation()
  -- What a coordinator wrote while WhatsApp's window was closed goes out with the patient's next message (so does
  -- a consultation's reminder held after its chat ended).
  return {redis.call('GET', K.state), redis.call('EXISTS', K.optout), redis.call('HGETALL', K.chat),
          redis.call('GET', K.notice), redis.call('GET', K.chatref), redis.call('LRANGE', K.held, 0, -1)}
end
