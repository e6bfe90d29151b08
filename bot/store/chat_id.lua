-- A chat's id: random, stable while anything is kept about the sender, so console addresses and logs never carry
-- the number. Gets the sender's id, or makes `id` theirs, and keeps it for the retention time. `way_back` is the key
-- from `id` back to the number, kept here when the sender's id is `id`; another id's way back is the caller's to keep.
local function chat_id(ref, way_back, sender, id, retention)
  local found = redis.call('GET', ref)
  if not found or found == id then
    redis.call('SET', ref, id, 'EX', retention)
    redis.call('SET', way_back, sender, 'EX', retention)
    return id
  end
  redis.call('EXPIRE', ref, retention)
  return found
end
