-- Add reported frauds to their merchants' fraud sets, for transactions the store
-- recorded (a report for an unknown or removed transaction is ignored).
-- KEYS, 3 per report: merchant sorted set, merchant hash, merchant fraud sorted set.
-- ARGV: 1 merchant horizon, 2 key ttl (ms); then 2 per report: event time (ms), id.
local horizon = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local added = 0
for i = 0, #KEYS / 3 - 1 do
  local tkey, hkey, fkey = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  local t, id = tonumber(ARGV[3 + i * 2]), ARGV[4 + i * 2]
  if redis.call('ZSCORE', tkey, id) then
    added = added + redis.call('ZADD', fkey, t, id)
    local top = redis.call('ZREVRANGE', tkey, 0, 0, 'WITHSCORES')
    redis.call('ZREMRANGEBYSCORE', fkey, '-inf', '(' .. (tonumber(top[2]) - horizon))
    redis.call('PEXPIRE', fkey, ttl)
    redis.call('HSET', hkey, '_f', 1)
  end
end
return added
