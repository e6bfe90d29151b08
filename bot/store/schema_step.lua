-- A step of the schema's migration (schema.py), taken only while the migration's lock (KEYS[1]) is still the
-- caller's (ARGV[1]): the data's version (KEYS[2]) set to ARGV[2], or, when ARGV[2] is '', the lock given back.
-- Returns 1 when the lock was the caller's.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[2], ARGV[2])
end
return 1
