-- A chat given to a named colleague (queue.py, Queue.assign): a waiting one by any coordinator, or a claimed one by
-- the coordinator who holds it (a transfer). An assignment takes the chat from the queue like a claim (claim.lua):
-- of any number of simultaneous claims and assignments, only the one whose ZREM removed it wins. The colleague must
-- have a console account, and finds the notice on their queue page until they open the chat.
-- KEYS: waiting, chat, claimed, coordinators, the colleague's notices. ARGV: sender, by, colleague (the account's
-- login name, lower case), now, mode ('assign' or 'transfer'), chat id, notice (JSON), retention_s.
-- Returns {'assigned' or 'transferred', or why not: 'no_account', 'same', 'not_waiting', 'not_yours'; the colleague's
-- name as their account spells it, or the chat's holder}.
local account = redis.call('HGET', KEYS[4], ARGV[3])
if not account then
  return {'no_account', ''}
end
local name = cjson.decode(account)['name']
local holder = redis.call('HGET', KEYS[2], 'coordinator') or ''
if ARGV[5] == 'transfer' and (redis.call('HGET', KEYS[2], 'status') ~= 'claimed' or holder ~= ARGV[2]) then
  return {'not_yours', holder}
end
if name == ARGV[2] then
  return {'same', name}
end
if ARGV[5] == 'assign' then
  if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
    return {'not_waiting', holder}
  end
  redis.call('HSET', KEYS[2], 'status', 'claimed', 'coordinator', name, 'claimed_at', ARGV[4], 'active_at', ARGV[4])
else
  redis.call('HSET', KEYS[2], 'coordinator', name, 'active_at', ARGV[4])
end
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[6], ARGV[7])
redis.call('EXPIRE', KEYS[5], ARGV[8])
return {ARGV[5] == 'assign' and 'assigned' or 'transferred', name}
