-- A chat queued outside the patient's turn: a message that could not be answered describes an emergency
-- (queue.py, Queue.escalate). Returns the change and the chat's hash, as escalate() does.
local change, chat = escalate()
return {change, chat}
