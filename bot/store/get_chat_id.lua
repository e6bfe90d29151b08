-- The sender's chat id (chat_id.lua). KEYS: chatref, the way back of ARGV's id. ARGV: sender, a new id, retention_s.
return chat_id(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
