-- Record a batch of transactions and return their window aggregates, as of each
-- transaction's event time. One call per batch: the feature store's one round trip.
-- The semantics are specified in docs/features.md; fraudstream/features/store.py
-- names the returned columns (RAW_COLUMNS).
--
-- KEYS: none needed; key names are built here from the prefix and entity ids. On one
--   Redis a call takes any entities. On a Redis Cluster the caller sends only entities
--   whose keys share one slot (hash-tagged ids), lists those keys as KEYS so the call
--   is routed to their node, and turns the marker touch off (see docs/features.md).
-- ARGV: 16 settings, then the batch as one MessagePack array holding, per transaction,
--   the array [id, event time (ms), amount (cents), card id, merchant id] (ids nil
--   when there is none): one argument instead of five per transaction.
--   1 card horizon  2 merchant horizon  3 lateness  4 cap  5 key ttl  6 label delay
--   7-10 card windows  11-13 merchant windows  14 recent-fraud window (all in ms)
--   15 key prefix  16 mode: '1' records the batch; '0' is read-only: each transaction gets the
--   features recording it alone would give it now, and nothing is written.
--   17 the batch; 18 (optional) '0' leaves the backfill marker alone: on a cluster it
--   lives in another slot, and the caller notes the live write there itself.
-- Returns one string: every value as a little-endian 64-bit float (all are whole
--   numbers below 2^53, so exact), RAW_COLUMNS per transaction, then the count of
--   transactions the cap dropped. The caller reads it as an array without parsing.
-- Card hash fields: c:<id> / s:<id> running count / cents up to and including <id>
--   in event-time order; _c / _s the same at the latest one; _bc / _bs at the last
--   removed one; _max / _min the latest and oldest kept event time; _n how many are kept.
-- Merchant hash fields: _max / _min / _n as for cards; _f set once a fraud is reported
--   (a merchant without one returns 0 delayed counts: its shares are 0 anyway).
-- Both hashes hold _exp, the wall-clock ms of the last TTL refresh.

local card_horizon = tonumber(ARGV[1])
local merchant_horizon = tonumber(ARGV[2])
local lateness = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local delay = tonumber(ARGV[6])
local card_windows = {tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])}
local merchant_windows = {tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])}
local recent_window = tonumber(ARGV[14])
local prefix = ARGV[15]
local recording = ARGV[16] == '1'
local batch = cmsgpack.unpack(ARGV[17])
local touch_marker = ARGV[18] ~= '0'

local DUPLICATE, LATE = 1, 2

-- Keys get their TTL refreshed at most every eighth of it: an entity's keys expire
-- between 7/8 of the TTL and the TTL after its last write, for one call in many.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local refresh_every = math.floor(ttl / 8)

local function refresh_ttl(hkey, expired_at, ...)
  if expired_at and now - expired_at < refresh_every then return end
  redis.call('HSET', hkey, '_exp', now)
  redis.call('PEXPIRE', hkey, ttl)
  for _, key in ipairs({...}) do redis.call('PEXPIRE', key, ttl) end
end

-- running totals (count, cents) of the last kept transaction with time <= x
-- ('(x' for time < x), or those of the last removed one when none is kept
local function totals_at(zkey, hkey, x)
  local last = redis.call('ZREVRANGEBYSCORE', zkey, x, '-inf', 'LIMIT', 0, 1)
  local fields
  if #last == 0 then
    fields = redis.call('HMGET', hkey, '_bc', '_bs')
  else
    fields = redis.call('HMGET', hkey, 'c:' .. last[1], 's:' .. last[1])
  end
  return tonumber(fields[1]) or 0, tonumber(fields[2]) or 0
end

-- remove a card's oldest kept transactions: older than the horizon, and past the cap;
-- return how many the cap removed and the new oldest time
local function trim_card(zkey, hkey, latest, kept_count)
  local expired = redis.call('ZCOUNT', zkey, '-inf', '(' .. (latest - card_horizon))
  local n = math.max(expired, kept_count - cap)
  if n > 0 then
    local gone = redis.call('ZRANGE', zkey, 0, n - 1)
    local last = gone[#gone]
    local base = redis.call('HMGET', hkey, 'c:' .. last, 's:' .. last)
    local fields = {}
    for _, id in ipairs(gone) do
      fields[#fields + 1] = 'c:' .. id
      fields[#fields + 1] = 's:' .. id
    end
    redis.call('HDEL', hkey, unpack(fields))
    redis.call('ZREMRANGEBYRANK', zkey, 0, n - 1)
    redis.call('HSET', hkey, '_bc', base[1], '_bs', base[2])
  end
  local oldest = redis.call('ZRANGE', zkey, 0, 0, 'WITHSCORES')
  redis.call('HSET', hkey, '_n', kept_count - n, '_min', oldest[2] or latest)
  return n - expired
end

-- record (t, id, cents) before or among transactions already recorded: rewrite the
-- running totals of every transaction at or after t, in sorted-set order
local function record_card_out_of_order(zkey, hkey, t, id, cents)
  local c, s = totals_at(zkey, hkey, '(' .. t)
  redis.call('ZADD', zkey, t, id)
  local prev_s = s
  for _, other in ipairs(redis.call('ZRANGEBYSCORE', zkey, t, '+inf')) do
    local amount = cents
    if other ~= id then
      local old_s = tonumber(redis.call('HGET', hkey, 's:' .. other))
      amount = old_s - prev_s
      prev_s = old_s
    end
    c = c + 1
    s = s + amount
    redis.call('HSET', hkey, 'c:' .. other, c, 's:' .. other, s)
  end
end

-- the card's window aggregates of a transaction at t whose own running totals are
-- (now_c, now_s); extra_c / extra_s: itself, when it is not kept. `known` holds
-- boundaries answered without a look-up: (time, count, cents) of a transaction whose
-- totals are known, so any window starting at or after it needs no call.
local function card_windows_out(zkey, hkey, t, now_c, now_s, extra_c, extra_s, oldest, known, out)
  local members = {}
  local fields = {'_bc', '_bs'}
  local at = {}
  for w = 1, #card_windows do
    local x = t - card_windows[w]
    if known and known[1] <= x then
      at[w] = {known[2], known[3]}
    elseif oldest and x >= oldest then
      local last = redis.call('ZREVRANGEBYSCORE', zkey, x, '-inf', 'LIMIT', 0, 1)
      if last[1] then
        members[w] = #fields + 1
        fields[#fields + 1] = 'c:' .. last[1]
        fields[#fields + 1] = 's:' .. last[1]
      end
    end
  end
  local values = {}
  local need_base = false
  for w = 1, #card_windows do
    if not at[w] and not members[w] then need_base = true end
  end
  if #fields > 2 or need_base then values = redis.call('HMGET', hkey, unpack(fields)) end
  local base_c, base_s = tonumber(values[1]) or 0, tonumber(values[2]) or 0
  local counts, sums = {}, {}
  for w = 1, #card_windows do
    local c, s = base_c, base_s
    if at[w] then
      c, s = at[w][1], at[w][2]
    elseif members[w] then
      c, s = tonumber(values[members[w]]), tonumber(values[members[w] + 1])
    end
    counts[w] = now_c - c + extra_c
    sums[w] = now_s - s + extra_s
  end
  for w = 1, #card_windows do out[#out + 1] = counts[w] end
  for w = 1, #card_windows do out[#out + 1] = sums[w] end
end

-- the general read, as of t, for duplicates, late and out-of-order transactions
local function card_read(zkey, hkey, t, id, cents, oldest, out)
  local extra_c, extra_s = 0, 0
  if not redis.call('ZSCORE', zkey, id) then extra_c, extra_s = 1, cents end
  local prev = redis.call('ZREVRANGEBYSCORE', zkey, t, '-inf', 'WITHSCORES', 'LIMIT', 0, 2)
  local gap = -1
  for j = 1, #prev, 2 do
    if prev[j] ~= id then
      gap = t - tonumber(prev[j + 1])
      break
    end
  end
  out[#out + 1] = gap
  local now_c, now_s = totals_at(zkey, hkey, t)
  card_windows_out(zkey, hkey, t, now_c, now_s, extra_c, extra_s, oldest, nil, out)
end

local function card_aggregates(zkey, hkey, t, id, cents, out)
  local state = redis.call('HMGET', hkey, '_max', '_c', '_s', '_n', '_min', '_exp')
  local latest = tonumber(state[1])
  local total_c, total_s = tonumber(state[2]) or 0, tonumber(state[3]) or 0
  local kept_count, oldest = tonumber(state[4]) or 0, tonumber(state[5])
  local expired_at = tonumber(state[6])
  local flags, capped = 0, 0

  if not latest or t > latest then
    -- the common case: the newest transaction of the card
    if redis.call('ZADD', zkey, 'NX', t, id) == 0 then
      flags = DUPLICATE  -- recorded before, at another time: read as of t
    else
      -- the previous newest transaction's totals are known: windows starting at or
      -- after it need no look-up
      local known = latest and {latest, total_c, total_s} or nil
      total_c, total_s, kept_count = total_c + 1, total_s + cents, kept_count + 1
      if not oldest then
        oldest = t
        redis.call('HSET', hkey, '_min', t)
      end
      redis.call('HSET', hkey, 'c:' .. id, total_c, 's:' .. id, total_s,
        '_c', total_c, '_s', total_s, '_max', t, '_n', kept_count)
      if oldest < t - card_horizon or kept_count > cap then
        capped = trim_card(zkey, hkey, t, kept_count)
        oldest = tonumber(redis.call('HGET', hkey, '_min'))
        known = nil
      end
      refresh_ttl(hkey, expired_at, zkey)
      out[#out + 1] = latest and (t - latest) or -1
      card_windows_out(zkey, hkey, t, total_c, total_s, 0, 0, oldest, known, out)
      return flags, capped
    end
  elseif redis.call('ZSCORE', zkey, id) then
    flags = DUPLICATE
  elseif t < latest - lateness then
    flags = LATE
  else
    record_card_out_of_order(zkey, hkey, t, id, cents)
    kept_count = kept_count + 1
    if not oldest or t < oldest then oldest = t end
    redis.call('HSET', hkey, '_c', total_c + 1, '_s', total_s + cents,
      '_n', kept_count, '_min', oldest)
    if oldest < latest - card_horizon or kept_count > cap then
      capped = trim_card(zkey, hkey, latest, kept_count)
      oldest = tonumber(redis.call('HGET', hkey, '_min'))
    end
    refresh_ttl(hkey, expired_at, zkey)
  end

  card_read(zkey, hkey, t, id, cents, oldest, out)
  return flags, capped
end

-- remove a merchant's oldest kept transactions: older than the horizon, past the cap
local function trim_merchant(tkey, hkey, latest)
  redis.call('ZREMRANGEBYSCORE', tkey, '-inf', '(' .. (latest - merchant_horizon))
  local capped = redis.call('ZREMRANGEBYRANK', tkey, 0, -(cap + 1))
  local oldest = redis.call('ZRANGE', tkey, 0, 0, 'WITHSCORES')
  redis.call('HSET', hkey, '_n', redis.call('ZCARD', tkey), '_min', oldest[2] or latest)
  return capped
end

-- a merchant's members from rank m on, after `before` and up to hi (ZCOUNT bounds):
-- `before` ends what comes before the range (x: time <= x; '(x': time < x)
local function count_from(tkey, m, before, hi)
  if m == 0 then
    local lo = string.sub(before, 1, 1) == '(' and string.sub(before, 2) or '(' .. before
    return redis.call('ZCOUNT', tkey, lo, hi)
  end
  local upto_hi = redis.call('ZCOUNT', tkey, '-inf', hi)
  local upto_lo = redis.call('ZCOUNT', tkey, '-inf', before)
  return math.max(0, upto_hi - math.max(m, upto_lo))
end

-- a merchant's windows as of t, counting its members from rank m on (those recording
-- would keep), plus `extra` (x itself, when not kept); then the fraud-share counts and
-- the frauds already reported in (t - recent_window, t], undelayed
local function merchant_windows_out(tkey, fkey, t, has_fraud, m, extra, out)
  for w = 1, #merchant_windows do
    out[#out + 1] = count_from(tkey, m, tostring(t - merchant_windows[w]), t) + extra
  end
  -- fraud shares: only merchants with a reported fraud need the delayed counts
  local frauds, counts, recent = {0, 0, 0}, {0, 0, 0}, 0
  if has_fraud then
    recent = redis.call('ZCOUNT', fkey, '(' .. (t - recent_window), t)
    local hi = '(' .. (t - delay)
    for w = 1, #merchant_windows do
      local lo = t - delay - merchant_windows[w]
      frauds[w] = redis.call('ZCOUNT', fkey, lo, hi)
      counts[w] = count_from(tkey, m, '(' .. lo, hi)
    end
  end
  for w = 1, #merchant_windows do out[#out + 1] = frauds[w] end
  for w = 1, #merchant_windows do out[#out + 1] = counts[w] end
  out[#out + 1] = recent
end

local function merchant_aggregates(tkey, hkey, fkey, t, id, out)
  local state = redis.call('HMGET', hkey, '_max', '_n', '_min', '_exp', '_f')
  local latest, kept_count = tonumber(state[1]), tonumber(state[2]) or 0
  local oldest, expired_at, has_fraud = tonumber(state[3]), tonumber(state[4]), state[5]
  local flags, capped = 0, 0
  local record = false
  if not latest or t > latest then
    record = redis.call('ZADD', tkey, 'NX', t, id) == 1
    if not record then flags = DUPLICATE end
  elseif redis.call('ZSCORE', tkey, id) then
    flags = DUPLICATE
  elseif t < latest - lateness then
    flags = LATE
  else
    redis.call('ZADD', tkey, t, id)
    record = true
  end
  local extra = 0
  if record then
    if not latest or t > latest then latest = t end
    if not oldest or t < oldest then oldest = t end
    kept_count = kept_count + 1
    redis.call('HSET', hkey, '_max', latest, '_n', kept_count, '_min', oldest)
    if oldest < latest - merchant_horizon or kept_count > cap then
      capped = trim_merchant(tkey, hkey, latest)
      if capped > 0 and not redis.call('ZSCORE', tkey, id) then extra = 1 end
    end
    refresh_ttl(hkey, expired_at, tkey, fkey)
  elseif flags == LATE then
    extra = 1
  end
  merchant_windows_out(tkey, fkey, t, has_fraud, 0, extra, out)
  return flags, capped
end

-- Read-only mode. Recording x = (t, id) into an entity's kept set K keeps
-- K + x, then drops its n oldest (older than the horizon, then past the cap), in
-- sorted-set order: by time, then by id byte by byte. x's features count the kept
-- events of K in its windows, plus x itself (kept or not). So the read needs m, how
-- many of K's members the drop would take; the kept ones are K's members from rank m.

-- a < b, byte by byte (how Redis orders the members of equal score)
local function bytes_before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local function dropped_members(zkey, t, id, cutoff, kept_count)
  local expired = redis.call('ZCOUNT', zkey, '-inf', '(' .. cutoff)
  local n = math.max(expired, kept_count + 1 - cap)
  if n <= 0 then return 0 end
  -- x is among the n oldest when K's n-th oldest comes after it
  local nth = redis.call('ZRANGE', zkey, n - 1, n - 1, 'WITHSCORES')
  local s = tonumber(nth[2])
  if s > t or (s == t and bytes_before(id, nth[1])) then return n - 1 end
  return n
end

-- a card's totals at the last member with time <= x, never below rank m
local function totals_from(zkey, hkey, x, floor_c, floor_s)
  local c, s = totals_at(zkey, hkey, x)
  if floor_c and floor_c > c then return floor_c, floor_s end
  return c, s
end

local function card_read_only(zkey, hkey, t, id, cents, out)
  local state = redis.call('HMGET', hkey, '_max', '_n', '_min')
  local latest, kept_count = tonumber(state[1]), tonumber(state[2]) or 0
  if redis.call('ZSCORE', zkey, id) then
    card_read(zkey, hkey, t, id, cents, tonumber(state[3]), out)
    return DUPLICATE
  end
  if latest and t < latest - lateness then
    card_read(zkey, hkey, t, id, cents, tonumber(state[3]), out)
    return LATE
  end
  local newest = not latest or t > latest
  local m = dropped_members(zkey, t, id, (newest and t or latest) - card_horizon, kept_count)
  local floor_c, floor_s
  if m > 0 then
    local last = redis.call('ZRANGE', zkey, m - 1, m - 1)
    local fields = redis.call('HMGET', hkey, 'c:' .. last[1], 's:' .. last[1])
    floor_c, floor_s = tonumber(fields[1]), tonumber(fields[2])
  end
  local gap = -1
  if newest then
    if latest then gap = t - latest end  -- as recording answers it
  else
    local prev = redis.call('ZREVRANGEBYSCORE', zkey, t, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if prev[1] and redis.call('ZCOUNT', zkey, '-inf', t) > m then
      gap = t - tonumber(prev[2])
    end
  end
  out[#out + 1] = gap
  local now_c, now_s = totals_from(zkey, hkey, t, floor_c, floor_s)
  local counts, sums = {}, {}
  for w = 1, #card_windows do
    local c, s = totals_from(zkey, hkey, t - card_windows[w], floor_c, floor_s)
    counts[w] = now_c - c + 1
    sums[w] = now_s - s + cents
  end
  for w = 1, #card_windows do out[#out + 1] = counts[w] end
  for w = 1, #card_windows do out[#out + 1] = sums[w] end
  return 0
end

local function merchant_read_only(tkey, hkey, fkey, t, id, out)
  local state = redis.call('HMGET', hkey, '_max', '_n', '_f')
  local latest, kept_count, has_fraud = tonumber(state[1]), tonumber(state[2]) or 0, state[3]
  local flags, m, extra = 0, 0, 0
  if redis.call('ZSCORE', tkey, id) then
    flags = DUPLICATE
  elseif latest and t < latest - lateness then
    flags, extra = LATE, 1
  else
    local newest = not latest or t > latest
    m = dropped_members(tkey, t, id, (newest and t or latest) - merchant_horizon, kept_count)
    extra = 1
  end
  merchant_windows_out(tkey, fkey, t, has_fraud, m, extra, out)
  return flags
end

-- whole numbers as little-endian doubles, packed a thousand at a time (Lua's stack
-- bounds how many values one call can take)
local function packed(values)
  local chunks = {}
  for first = 1, #values, 1000 do
    local last = math.min(#values, first + 999)
    chunks[#chunks + 1] = struct.pack('<' .. string.rep('d', last - first + 1),
      unpack(values, first, last))
  end
  return table.concat(chunks)
end

local out = {}
local capped_total = 0
for i = 1, #batch do
  local tx = batch[i]
  local id, t, cents = tx[1], tx[2], tx[3]
  local card, merchant = tx[4] or '', tx[5] or ''
  local flags_at = #out + 1
  out[flags_at] = 0
  local flags, capped = 0, 0
  if card ~= '' then
    local base = prefix .. ':c:' .. card
    if recording then
      flags, capped = card_aggregates(base .. ':t', base .. ':h', t, id, cents, out)
      capped_total = capped_total + capped
    else
      flags = card_read_only(base .. ':t', base .. ':h', t, id, cents, out)
    end
  else
    for _ = 1, 1 + 2 * #card_windows do out[#out + 1] = 0 end
  end
  if merchant ~= '' then
    local base = prefix .. ':m:' .. merchant
    local mflags
    if recording then
      mflags, capped = merchant_aggregates(base .. ':t', base .. ':h', base .. ':f', t, id, out)
      capped_total = capped_total + capped
    else
      mflags = merchant_read_only(base .. ':t', base .. ':h', base .. ':f', t, id, out)
    end
    flags = bit.bor(flags, mflags)
  else
    for _ = 1, 3 * #merchant_windows + 1 do out[#out + 1] = 0 end
  end
  out[flags_at] = flags
end
-- A backfilled store keeps the backfill's marker hash (features/backfill_marker.py):
-- live writes note themselves there, so no later backfill writes over them unforced.
if recording and touch_marker and #batch > 0 then
  local marker = prefix .. ':features:backfill'
  if redis.call('EXISTS', marker) == 1 then redis.call('HSET', marker, 'live_ms', now) end
end
out[#out + 1] = capped_total
return packed(out)
