-- Takes back the failure login_try.lua counted. KEYS: as login_try.lua's.
-- A count whose window has ended meanwhile stays gone (DECR would make one without expiry).
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
