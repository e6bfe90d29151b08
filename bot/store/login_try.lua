-- A login counts as failed before its password is checked, in the same step as the check of the limit, so
-- simultaneous guesses cannot all slip under it; a login that succeeds gives its count back (login_give_back.lua).
-- KEYS: the failed logins of the account and of the address. ARGV: limit, window_s. Returns 0 when refused.
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[1]) then return 0 end
end
for _, key in ipairs(KEYS) do
  -- The window starts at the first failure and is not extended by later ones.
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[2]) end
end
return 1
