-- The day's counts of one patient message: the message (and the intent it got, when one), and the patient among
-- the day's distinct ones.
local function count_message(activity, patients, intent, sender, activity_s)
  redis.call('HINCRBY', activity, 'messages', 1)
  if intent ~= '' then
    redis.call('HINCRBY', activity, 'intent:' .. intent, 1)
  end
  redis.call('EXPIRE', activity, activity_s)
  -- A HyperLogLog counts distinct patients without keeping their numbers.
  redis.call('PFADD', patients, sender)
  redis.call('EXPIRE', patients, activity_s)
end
