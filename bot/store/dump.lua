-- One batch of a backup (backup.py), read in one script so that it is one instant: the server's time, then for
-- each key its remaining milliseconds (-1: no expiry, -2: gone since it was listed) and its DUMP payload.
local out = {redis.call('TIME')}
for _, key in ipairs(KEYS) do
  out[#out + 1] = redis.call('PTTL', key)
  out[#out + 1] = redis.call('DUMP', key) or ''
end
return out
