-- A transcript keeps every entry younger than the retention time; older ones go, oldest first (a few at a time,
-- so no write waits for a long trim). A message over the rate limit, once the transcript holds `limit` entries,
-- is not kept: the note that ends the transcript counts it ({event: refused, count, last}).
local function trim_old(transcript, now, retention)
  for _ = 1, 100 do
    local first = redis.call('LINDEX', transcript, 0)
    if not first or tonumber(cjson.decode(first)['at']) >= now - tonumber(retention) then return end
    redis.call('LPOP', transcript)
  end
end

local function push_over_limit(transcript, entry, limit, now)
  if redis.call('LLEN', transcript) < tonumber(limit) then
    redis.call('RPUSH', transcript, entry)
    return
  end
  local last = redis.call('LINDEX', transcript, -1)
  local note = last and cjson.decode(last)
  if note and note['event'] == 'refused' then
    note['count'] = note['count'] + 1
    note['last'] = now
    redis.call('LSET', transcript, -1, cjson.encode(note))
  else
    local first = {at = now, role = 'event', text = '', event = 'refused', count = 1, last = now}
    redis.call('RPUSH', transcript, cjson.encode(first))
  end
end
