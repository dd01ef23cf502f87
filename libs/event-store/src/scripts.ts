// Lua scripts run by Redis: the append (seq + log + projections in one atomic call) and the tick.
// The fold here must match libs/contracts/src/fold.ts; event-store.spec.ts proves they agree at every seq.

const COMMON = `
local log, meta, idem, idemx, avail, changed = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[11], KEYS[18]
-- Projections: stats, instances, status, rules, alerts.
local LIVE = { KEYS[5], KEYS[6], KEYS[7], KEYS[12], KEYS[13] }
local BASE = { KEYS[8], KEYS[9], KEYS[10], KEYS[14], KEYS[15] }
local epoch_candidate, now, retention, idem_window, bell = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
-- The history key prefix; '' keeps no history (the bench's baseline).
local HP = ARGV[6]
local HISTORY = HP ~= ''
local STEP = { ['1m'] = 60000, ['1h'] = 3600000, ['1d'] = 86400000 }
local KEEP = { ['1m'] = tonumber(ARGV[7]), ['1h'] = tonumber(ARGV[8]), ['1d'] = tonumber(ARGV[9]) }
-- One read of the log's meta for the epoch and the history's minute (see history_begin).
local meta_fields = redis.call('HMGET', meta, 'epoch', 'hm', 'hdm')

-- DEFER (the append sets it): instance entries, statistics counters and the changed set are kept
-- here and written once per call by flush(), whatever number of events touched them; without it
-- (the tick, which reads the hashes between its appends) every change is written at once.
local DEFER = false
-- Per projection: instances by id (a table, or false once removed), the ids to write in the order
-- first touched, counter increments, and (live only) the ids to mark changed.
local cached, dirty, dirty_order, counts, marked, marked_order = {}, {}, {}, {}, {}, {}
for _, p in ipairs({ LIVE, BASE }) do
  cached[p], dirty[p], dirty_order[p], counts[p] = {}, {}, {}, {}
end

-- The instance's entry decoded, or nil.
local function read_instance(p, id)
  if DEFER then
    local inst = cached[p][id]
    if inst ~= nil then return inst or nil end
  end
  local raw = redis.call('HGET', p[2], id)
  local inst = raw and cjson.decode(raw) or nil
  if DEFER then cached[p][id] = inst or false end
  return inst
end

-- Writes the instance's entry (false: removes it) and, for live instances that are not removed, marks it changed.
local function write_instance(p, id, inst, mark)
  if DEFER then
    cached[p][id] = inst
    if not dirty[p][id] then
      dirty[p][id] = true
      dirty_order[p][#dirty_order[p] + 1] = id
    end
    if mark and p == LIVE and not marked[id] then
      marked[id] = true
      marked_order[#marked_order + 1] = id
    end
    return
  end
  if inst then redis.call('HSET', p[2], id, cjson.encode(inst)) else redis.call('HDEL', p[2], id) end
  if mark and p == LIVE then redis.call('SADD', changed, id) end
end

local function count(p, field)
  if DEFER then counts[p][field] = (counts[p][field] or 0) + 1 else redis.call('HINCRBY', p[1], field, 1) end
end

-- Writes what DEFER kept: each instance once, each counter once, the changed marks in one SADD.
local function flush()
  for _, p in ipairs({ LIVE, BASE }) do
    local set, gone = {}, {}
    for _, id in ipairs(dirty_order[p]) do
      local inst = cached[p][id]
      if inst then
        set[#set + 1] = id
        set[#set + 1] = cjson.encode(inst)
      else
        gone[#gone + 1] = id
      end
    end
    if #set > 0 then redis.call('HSET', p[2], unpack(set)) end
    if #gone > 0 then redis.call('HDEL', p[2], unpack(gone)) end
    for _, field in ipairs({ 'total_attempts', 'successful', 'failed' }) do
      if counts[p][field] then redis.call('HINCRBY', p[1], field, counts[p][field]) end
    end
    cached[p], dirty[p], dirty_order[p], counts[p] = {}, {}, {}, {}
  end
  if #marked_order > 0 then redis.call('SADD', changed, unpack(marked_order)) end
  marked, marked_order = {}, {}
end

-- Returns the instance and whether it is new (no entry yet).
local function get_instance(p, id)
  local inst = read_instance(p, id)
  if inst then return inst, false end
  return { id = id, status = 'online', last_seen = 0, next_action_at = cjson.null, attempts = 0, successes = 0, failures = 0 }, true
end

-- Folds one event into projection p = { stats, instances, status, rules, alerts }; raw is d as JSON text.
-- For instance events it returns the instance's status before and after (nil: no entry) and whether the
-- event created it.
local function fold(p, etype, d, ts, raw)
  if etype == 'instance.heartbeat' then
    local inst, created = get_instance(p, d.instanceId)
    local before = (not created) and inst.status or nil
    inst.status = d.status or 'online'
    inst.last_seen = ts
    inst.next_action_at = d.nextActionAt or cjson.null
    if d.meta ~= nil then inst.meta = d.meta end
    write_instance(p, d.instanceId, inst, true)
    return before, inst.status, created
  elseif etype == 'attempt.recorded' then
    local inst, created = get_instance(p, d.instanceId)
    local before = (not created) and inst.status or nil
    inst.attempts = inst.attempts + 1
    count(p, 'total_attempts')
    if d.outcome == 'success' then
      inst.successes = inst.successes + 1
      count(p, 'successful')
    else
      inst.failures = inst.failures + 1
      count(p, 'failed')
    end
    inst.last_seen = ts
    if inst.status == 'offline' then inst.status = 'online' end
    write_instance(p, d.instanceId, inst, true)
    return before, inst.status, created
  elseif etype == 'instance.offline' then
    local inst = read_instance(p, d.instanceId)
    if inst then
      local before = inst.status
      inst.status = 'offline'
      write_instance(p, d.instanceId, inst, true)
      return before, 'offline', false
    end
  elseif etype == 'instance.removed' then
    local inst = read_instance(p, d.instanceId)
    if inst then
      write_instance(p, d.instanceId, false, false)
      return inst.status, nil, false
    end
  elseif etype == 'status_update' then
    redis.call('HSET', p[3], 'loop_count', d.loop_count, 'tick_at', d.tick_at, 'next_tick_at', d.next_tick_at)
  elseif etype == 'rule.set' then
    -- The rule as it was sent, not encoded again: cjson writes numbers with 14 digits, and a
    -- thresholdPct of more would differ from the log's (a rebuild would report drift every time).
    redis.call('HSET', p[4], d.ruleId, string.sub(raw, 1, -2) .. ',"setAt":' .. string.format('%d', ts) .. '}')
  elseif etype == 'rule.removed' then
    redis.call('HDEL', p[4], d.ruleId)
  elseif etype == 'alert.firing' then
    d.firedAt = ts
    redis.call('HSET', p[5], d.alertId, cjson.encode(d))
  elseif etype == 'alert.resolved' then
    redis.call('HDEL', p[5], d.alertId)
  end
  -- statistics_update and instances_update restate (part of) the projection: nothing to fold.
end

-- ---- history: series buckets and instance hours (libs/contracts/src/series.ts folds the same) ----

local function ms(t) return string.format('%.0f', t) end
local function bucket_key(step, t) return HP .. step .. ':' .. ms(t) end
-- Every history key expires when its span ends plus its retention: old history leaves without a
-- scan. The TTL is counted from now (the events' clock), not set on Redis's clock.
local function expire_in(key, at) redis.call('PEXPIRE', key, math.max(1, at - now)) end
local function expire_bucket(step, t) expire_in(bucket_key(step, t), t + STEP[step] + KEEP[step]) end

-- Adds counters acc = { a, f, ds, dn, dm } into the bucket of \`step\` that starts at t. dn counts
-- the attempts without a duration (rare), so that an attempt with one costs no extra count.
local function add_counters(step, t, acc)
  local key = bucket_key(step, t)
  if redis.call('HINCRBY', key, 'a', acc.a) == acc.a then expire_bucket(step, t) end
  if acc.f > 0 then redis.call('HINCRBY', key, 'f', acc.f) end
  if acc.ds > 0 then redis.call('HINCRBY', key, 'ds', acc.ds) end
  if acc.dn > 0 then redis.call('HINCRBY', key, 'dn', acc.dn) end
  if acc.dm > 0 and acc.dm > tonumber(redis.call('HGET', key, 'dm') or '0') then redis.call('HSET', key, 'dm', acc.dm) end
end

-- The append folds attempts into the minute being written (meta field hm); when a call comes in a
-- later minute, that minute is rolled up into its hour and day once. A minute behind hm (another
-- process's clock is behind) goes into all three steps at once. Reads add minute hm to its hour and day.
-- meta hdm is the largest duration written into minute hm, so that most appends need not read it.
local minute = now - now % 60000
local acc = { a = 0, f = 0, ds = 0, dn = 0, dm = 0 }
local late = false
local hdm = tonumber(meta_fields[3] or '0')
local function history_begin()
  if not HISTORY then return end
  local hm = tonumber(meta_fields[2] or '')
  if hm == nil or minute > hm then
    if hm ~= nil then
      local raw = redis.call('HGETALL', bucket_key('1m', hm))
      local h = {}
      for i = 1, #raw, 2 do h[raw[i]] = tonumber(raw[i + 1]) end
      if (h.a or 0) > 0 then
        local rolled = { a = h.a, f = h.f or 0, ds = h.ds or 0, dn = h.dn or 0, dm = h.dm or 0 }
        add_counters('1h', hm - hm % 3600000, rolled)
        add_counters('1d', hm - hm % 86400000, rolled)
      end
    end
    redis.call('HSET', meta, 'hm', minute, 'hdm', 0)
    hdm = 0
  elseif minute < hm then
    late = true
  end
end

local function history_end()
  if acc.a == 0 or not HISTORY then return end
  if late then
    add_counters('1m', minute, acc)
    add_counters('1h', now - now % 3600000, acc)
    add_counters('1d', now - now % 86400000, acc)
    return
  end
  local key = bucket_key('1m', minute)
  if redis.call('HINCRBY', key, 'a', acc.a) == acc.a then expire_bucket('1m', minute) end
  if acc.f > 0 then redis.call('HINCRBY', key, 'f', acc.f) end
  if acc.ds > 0 then redis.call('HINCRBY', key, 'ds', acc.ds) end
  if acc.dn > 0 then redis.call('HINCRBY', key, 'dn', acc.dn) end
  if acc.dm > hdm then
    redis.call('HSET', key, 'dm', acc.dm)
    redis.call('HSET', meta, 'hdm', acc.dm)
  end
end

local day = now - now % 86400000
local hour_field = tostring(math.floor((now - day) / 3600000))
local function instance_day_key(id, day_start) return HP .. 'i:' .. id .. ':' .. ms(day_start) end
-- Adds n to field (a, f or o) of the instance's hour that starts at hour_start.
local function add_hour(id, hour_start, field, n)
  local day_start = hour_start - hour_start % 86400000
  local key = instance_day_key(id, day_start)
  if redis.call('HINCRBY', key, math.floor((hour_start - day_start) / 3600000) .. field, n) == n then
    expire_in(key, day_start + 86400000 + KEEP['1h'])
  end
end

-- Ends the instance's offline period at ts: its ms go into the hours it spans (those still kept),
-- and into the topic's offline days (HP off:<day>, field <hour of the day>:<id>), from which the
-- fleet's uptime list reads a day in one call. Meta's ho says since when every closed period went
-- there too (0 for a topic this build created): days that start before it may lack what an
-- earlier build closed.
local function close_offline(id, ts)
  local since = tonumber(redis.call('HGET', avail, id .. ':o') or '')
  if since == nil then return end
  redis.call('HSETNX', meta, 'ho', ms(now))
  -- Hours before this lie in days whose retention has run out: skip them, however long the period.
  local oldest = now - KEEP['1h'] - 86400000
  local hour = math.max(since - since % 3600000, oldest - oldest % 3600000)
  while hour < ts do
    local n = math.min(ts, hour + 3600000) - math.max(since, hour)
    add_hour(id, hour, 'o', n)
    local day_start = hour - hour % 86400000
    local key = HP .. 'off:' .. ms(day_start)
    if redis.call('HINCRBY', key, math.floor((hour - day_start) / 3600000) .. ':' .. id, n) == n then
      expire_in(key, day_start + 86400000 + KEEP['1h'])
    end
    hour = hour + 3600000
  end
  redis.call('HDEL', avail, id .. ':o')
end

-- Attempts and failures per instance-day key of this call under DEFER, in the order first seen.
local day_adds, day_order = {}, {}

-- Writes the instance hours DEFER kept, one HINCRBY per key and field.
local function flush_days()
  for _, key in ipairs(day_order) do
    local n = day_adds[key]
    -- The hour's first attempts create its field: the key's expiry is set then, as for a single attempt.
    if redis.call('HINCRBY', key, hour_field .. 'a', n.a) == n.a then expire_in(key, day + 86400000 + KEEP['1h']) end
    if n.f > 0 then redis.call('HINCRBY', key, hour_field .. 'f', n.f) end
  end
  day_adds, day_order = {}, {}
end

-- Folds one appended event into the history; before/after/created come from fold().
local function history(etype, d, before, after, created)
  if not HISTORY then return end
  if etype == 'attempt.recorded' then
    local failed = d.outcome == 'success' and 0 or 1
    acc.a = acc.a + 1
    acc.f = acc.f + failed
    if type(d.durationMs) == 'number' then
      local us = math.floor(d.durationMs * 1000 + 0.5)
      acc.ds = acc.ds + us
      if us > acc.dm then acc.dm = us end
    else
      acc.dn = acc.dn + 1
    end
    local key = instance_day_key(d.instanceId, day)
    if DEFER then
      local n = day_adds[key]
      if not n then
        n = { a = 0, f = 0 }
        day_adds[key] = n
        day_order[#day_order + 1] = key
      end
      n.a = n.a + 1
      n.f = n.f + failed
    else
      if redis.call('HINCRBY', key, hour_field .. 'a', 1) == 1 then expire_in(key, day + 86400000 + KEEP['1h']) end
      if failed == 1 then redis.call('HINCRBY', key, hour_field .. 'f', 1) end
    end
  end
  if before == nil and after == nil then return end
  local id = d.instanceId
  if created then redis.call('HSET', avail, id .. ':f', now) end
  if after == 'offline' and before ~= 'offline' then
    redis.call('HSET', avail, id .. ':o', now)
  elseif before == 'offline' and after ~= 'offline' then
    close_offline(id, now)
  end
  if after == nil then redis.call('HDEL', avail, id .. ':f', id .. ':o') end
end

-- The tick's gauges, into the minute, hour and day of now.
local function gauges(active, known)
  if not HISTORY then return end
  for step, size in pairs(STEP) do
    local t = now - now % size
    redis.call('HSET', bucket_key(step, t), 'ai', active, 'ki', known)
    expire_bucket(step, t)
  end
end

local epoch = meta_fields[1]
local function ensure_epoch()
  if not epoch then
    epoch = epoch_candidate
    -- ho 0: every offline period of a topic new to this build is in its offline days (close_offline).
    redis.call('HSET', meta, 'epoch', epoch, 'head', 0, 'base', 0, 'ho', 0)
  end
end

local appended, last_seq = 0, 0
-- What this call appended, for its bell (see ring): one JSON array per entry, and their length.
local rung, rung_bytes = {}, 0
-- Entries past this many bytes in one call are not rung (the bell then says only "read the log").
local RING_MAX_BYTES = 262144
-- The log's head, read once per call: within the call only append() moves it.
local head = nil
-- Appends one event at the next seq and folds it into the live projections. data is JSON text.
-- The entry is written before the head moves: a failing XADD leaves nothing half done.
local function append(etype, data, decoded, source)
  head = head or tonumber(redis.call('HGET', meta, 'head') or '0')
  local seq = head + 1
  if source and source ~= '' then
    redis.call('XADD', log, seq .. '-0', 't', etype, 'ts', now, 'd', data, 'e', epoch, 's', source)
  else
    redis.call('XADD', log, seq .. '-0', 't', etype, 'ts', now, 'd', data, 'e', epoch)
  end
  redis.call('HSET', meta, 'head', seq)
  head = seq
  if bell ~= '' and rung_bytes <= RING_MAX_BYTES then
    -- data is JSON text (decoded below, so valid): it goes into the bell as it is, not encoded again.
    local entry = '[' .. seq .. ',' .. cjson.encode(etype) .. ',' .. data
    if source and source ~= '' then entry = entry .. ',' .. cjson.encode(source) end
    rung[#rung + 1] = entry .. ']'
    rung_bytes = rung_bytes + #entry + 2
  end
  local d = decoded or cjson.decode(data)
  history(etype, d, fold(LIVE, etype, d, now, data))
  appended = appended + 1
  last_seq = seq
  return seq
end

-- Keeps \`retention\` events once the log passes it by a slack, folding what leaves into BASE.
-- At most 1000 leave per call, so that lowering the retention never blocks Redis for long.
local function trim()
  if appended == 0 then return end
  local len = redis.call('XLEN', log)
  local slack = math.min(1000, math.max(1, math.floor(retention / 100)))
  if len <= retention + slack then return end
  local gone = redis.call('XRANGE', log, '-', '+', 'COUNT', math.min(len - retention, 1000))
  local last = 0
  for _, entry in ipairs(gone) do
    local f = {}
    for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
    fold(BASE, f.t, cjson.decode(f.d), tonumber(f.ts), f.d)
    last = tonumber(string.match(entry[1], '^(%d+)'))
  end
  redis.call('XTRIM', log, 'MINID', (last + 1) .. '-0')
  redis.call('HSET', meta, 'base', last)
end

-- Rings the topic's bell with what this call appended, for the log tails of the gateways that
-- follow the topic: { e: epoch, ts, v: [[seq, type, data, source?], ...] } (see decodeBell), or,
-- past RING_MAX_BYTES, only the new head ("read the log"). bell is '' for none, else 'P' (PUBLISH)
-- or 'S' (SPUBLISH, in the topic's slot on a Redis Cluster) and the channel. pcall: a bell lost is
-- a delay, never a loss (the tails read the log when seqs do not follow on, and when idle).
local function ring()
  if appended == 0 or bell == '' then return end
  local message = last_seq
  if rung_bytes <= RING_MAX_BYTES then
    -- ts as the caller sent it (as XADD stores it), not as Lua would print the number.
    message = '{"e":' .. cjson.encode(epoch) .. ',"ts":' .. ARGV[2] .. ',"v":[' .. table.concat(rung, ',') .. ']}'
  end
  redis.pcall(bell:sub(1, 1) == 'S' and 'SPUBLISH' or 'PUBLISH', bell:sub(2), message)
end
`;

/**
 * APPEND: KEYS = topicKeys(topic); ARGV = epoch candidate, now, retention, idempotency window ms,
 * bell ('' for none, else 'P' or 'S' and the channel, see ring), history key prefix, retention ms of 1m, 1h and 1d buckets (ARGV 1-9,
 * shared with TICK), deadline (ms since 1970, 0 for none), most instances the topic may hold (0:
 * no limit), most rules it may hold (0: no limit), then per event: type, data JSON, idempotency key
 * ('' for none), source ('' for none).
 * Returns { epoch, seq per event } (a duplicate answers the seq it got the first time), or, having
 * appended nothing, the error LATE when Redis runs it after the deadline (its caller has timed out
 * and answered "not appended" by then: Redis was stalled with the call in its buffer), or
 * INSTANCE_LIMIT <held> <index> <instance id> when event <index> (from 0) would create an instance
 * past the limit: the topic holds <held> and the batch's earlier events take the rest; or
 * RULE_LIMIT <held> <index> <rule id>, the same for a rule.set of a new rule id.
 */
export const APPEND_LUA = `${COMMON}
local deadline = tonumber(ARGV[10])
if deadline > 0 then
  local time = redis.call('TIME')
  local ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  if ms > deadline then return redis.error_reply('LATE the append reached Redis ' .. (ms - deadline) .. ' ms after its deadline; nothing appended') end
end
local FIRST = 13
-- Data decoded here, by ARGV index, so that append() need not decode it again.
local decoded = {}
-- Before anything is written: a batch whose events of these types would add members past max
-- (0: no limit) to the hash, new ids counted once, appends nothing.
local function refuse_past(max, hash, reason, types, field)
  if max <= 0 then return nil end
  local held, fresh, adding = nil, {}, 0
  for i = FIRST, #ARGV, 4 do
    if types[ARGV[i]] then
      local d = decoded[i] or cjson.decode(ARGV[i + 1])
      decoded[i] = d
      local id = d[field]
      if not fresh[id] and redis.call('HEXISTS', hash, id) == 0 then
        held = held or redis.call('HLEN', hash)
        fresh[id] = true
        adding = adding + 1
        if held + adding > max then return redis.error_reply(reason .. ' ' .. held .. ' ' .. (i - FIRST) / 4 .. ' ' .. id) end
      end
    end
  end
end
local refused = refuse_past(tonumber(ARGV[11]), LIVE[2], 'INSTANCE_LIMIT', { ['instance.heartbeat'] = true, ['attempt.recorded'] = true }, 'instanceId')
  or refuse_past(tonumber(ARGV[12]), LIVE[4], 'RULE_LIMIT', { ['rule.set'] = true }, 'ruleId')
if refused then return refused end
DEFER = true
ensure_epoch()
history_begin()
-- Forget expired keys: at least as many as this call can add, so the index cannot outgrow its window.
local expired = redis.call('ZRANGEBYSCORE', idemx, '-inf', now, 'LIMIT', 0, 100 + (#ARGV - FIRST + 1) / 4)
if #expired > 0 then
  redis.call('HDEL', idem, unpack(expired))
  redis.call('ZREM', idemx, unpack(expired))
end
local result = { epoch }
-- Keys this call appended (seq by key), written into the index in one HSET and one ZADD at the end.
local taken, seen_pairs, expiry_pairs = {}, {}, {}
for i = FIRST, #ARGV, 4 do
  local key = ARGV[i + 2]
  local prior = false
  if key ~= '' then
    if taken[key] then
      if idem_window > 0 then prior = taken[key] end
    else
      local expiry = redis.call('ZSCORE', idemx, key)
      if expiry and tonumber(expiry) > now then prior = redis.call('HGET', idem, key) end
    end
  end
  if prior then
    result[#result + 1] = tonumber(prior)
  else
    local seq = append(ARGV[i], ARGV[i + 1], decoded[i], ARGV[i + 3])
    if key ~= '' then
      taken[key] = seq
      seen_pairs[#seen_pairs + 1] = key
      seen_pairs[#seen_pairs + 1] = seq
      expiry_pairs[#expiry_pairs + 1] = now + idem_window
      expiry_pairs[#expiry_pairs + 1] = key
    end
    result[#result + 1] = seq
  end
end
if #seen_pairs > 0 then
  redis.call('HSET', idem, unpack(seen_pairs))
  redis.call('ZADD', idemx, unpack(expiry_pairs))
end
history_end()
flush_days()
trim()
flush()
ring()
return result
`;

// The alert evaluation of the tick (inside TICK_LUA, after offline marking): per rule, the
// condition now; inactive -> pending (alertx a:<id>:p) -> firing (alert.firing) -> resolved
// (alert.resolved). A transition with channels joins its rule's open notification group
// (alertx g:<rule>:<kind>:<channels>, kept until the group ends) or opens one: an outbox entry the
// worker turns into notify jobs.
// Uses: insts (decoded, by id), json_of (the instances still there, by id), active, now, HP, append(). libs/contracts/src/alerts.ts documents the kinds.
const EVALUATE_ALERTS = `
local ALERTX, OUTBOX = KEYS[16], KEYS[17]
-- ALERTX's fields, each kind in a space of its own (ids may be g or n; an instance id may hold ':'):
-- a:<alert id>:p|r|c (pending since, last notified, channels its firing went to), g:<rule>:<kind>:<channels>
-- (an open group), n:<channel>:<alert id>:<since> (a firing's mark on a channel, AlertStore's).
local function alert_field(alert_id, what) return 'a:' .. alert_id .. ':' .. what end
local function num(x)
  local s = string.format('%.2f', x)
  s = string.gsub(s, '0+$', '')
  s = string.gsub(s, '%.$', '')
  return s
end
local function span(ms)
  if ms % 3600000 == 0 then return num(ms / 3600000) .. ' h' end
  if ms % 60000 == 0 then return num(ms / 60000) .. ' min' end
  return num(ms / 1000) .. ' s'
end
-- Attempts and failures of the window: the current minute and the whole minutes before it.
-- Attempts and failures of the minute buckets that overlap the last ms: the window reaches back
-- between ms and ms + 1 min. (The buckets starting within the last ms alone would leave a 1 min
-- window with the current minute only: empty at each minute's start, resolving a firing alert.)
-- Each bucket is read and added once per tick however many rules' windows cover it: sums_a[k + 1]
-- and sums_f[k + 1] hold the current minute and the k before it. (A day's window is 1,441
-- buckets; read per rule, 500 such rules held Redis for a second each tick.)
local sums_a, sums_f = {}, {}
local function window(ms)
  if not HISTORY then return 0, 0 end
  local from = now - ms
  from = from - from % 60000
  local k = (minute - from) / 60000
  if k < 0 then return 0, 0 end
  for i = #sums_a, k do
    local v = redis.call('HMGET', bucket_key('1m', minute - i * 60000), 'a', 'f')
    sums_a[i + 1] = (sums_a[i] or 0) + tonumber(v[1] or '0')
    sums_f[i + 1] = (sums_f[i] or 0) + tonumber(v[2] or '0')
  end
  return sums_a[k + 1], sums_f[k + 1]
end

local function hash(key)
  local raw, out = redis.call('HGETALL', key), {}
  for i = 1, #raw, 2 do out[raw[i]] = raw[i + 1] end
  return out
end
local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end
local function list(t)
  if type(t) ~= 'table' then return {} end
  return t
end

local rules = {}
for id, json in pairs(hash(LIVE[4])) do rules[id] = cjson.decode(json) end
local firing = {}
for id, json in pairs(hash(LIVE[5])) do firing[id] = cjson.decode(json) end
local x = hash(ALERTX)
-- An earlier build kept an alert's fields as <alert id>:p|r|c: they move to a:<alert id>:p|r|c before
-- anything reads them (once; a group's field may end in :p too, but its value is JSON, a '{').
local legacy = {}
for name, value in pairs(x) do
  local space = string.sub(name, 1, 2)
  if space ~= 'a:' and string.match(name, ':[prc]$') and not (space == 'g:' and string.sub(value, 1, 1) == '{') then
    legacy[#legacy + 1] = name
  end
end
for _, name in ipairs(legacy) do
  if x['a:' .. name] == nil then
    x['a:' .. name] = x[name]
    redis.call('HSET', ALERTX, 'a:' .. name, x[name])
  end
  x[name] = nil
  redis.call('HDEL', ALERTX, name)
end
local seen = {}
-- Topic-level values as they are now, for the resolved of a topic alert.
local current = {}

local joining, joining_order = {}, {}
-- Adds the transition appended at seq (its data as JSON) to the open group of its rule, kind and
-- channels, or opens one. The group's hash keeps each member's data (field e:<seq>): the log may
-- be trimmed past it before the group's notification is built.
local function transition(kind, channels, wait, rule_id, seq, json)
  channels = list(channels)
  if #channels == 0 then return end
  -- One group per rule, kind and channel list: a transition sent to other channels opens its own.
  local gfield = 'g:' .. rule_id .. ':' .. kind .. ':' .. table.concat(channels, ',')
  local g = x[gfield] and cjson.decode(x[gfield])
  if g and now < g.ends then
    -- Members join in a table, written once per group at the end of the tick: 10,000 instances
    -- down at once would otherwise copy the growing member list 10,000 times.
    local gkey = ALERTX .. ':' .. g.seq
    local open = joining[gkey]
    if not open and redis.call('HEXISTS', gkey, 'c') == 0 then
      -- A group whose hash is gone (evicted, deleted) cannot be joined: this transition opens its own.
      local members = redis.call('HGET', gkey, 'm')
      if members then
        open = { members }
        joining[gkey] = open
        joining_order[#joining_order + 1] = gkey
      end
    end
    if open then
      table.insert(open, tostring(seq))
      redis.call('HSET', gkey, 'e:' .. seq, json)
      return
    end
  end
  g = { seq = seq, ends = now + wait }
  x[gfield] = cjson.encode(g)
  redis.call('HSET', ALERTX, gfield, x[gfield])
  local gkey = ALERTX .. ':' .. seq
  redis.call('HSET', gkey, 'm', tostring(seq), 'e:' .. seq, json)
  redis.call('PEXPIRE', gkey, 7 * 86400000)
  redis.call('XADD', OUTBOX, '*', 'kind', kind, 'seq', seq, 'epoch', epoch, 'rule', rule_id, 'channels', table.concat(channels, ','), 'due', g.ends)
end

local function fire(rule, c)
  seen[c.alertId] = true
  local alert = firing[c.alertId]
  if alert then
    local repeat_ms = tonumber(rule.repeatIntervalMs) or 0
    local last = tonumber(x[alert_field(c.alertId, 'r')] or alert.firedAt)
    if repeat_ms > 0 and now - last >= repeat_ms and #list(rule.channels) > 0 then
      redis.call('HSET', ALERTX, alert_field(c.alertId, 'r'), now)
      -- Its seq is the head when due (last_seq is 0 while this tick has appended nothing).
      local at = head or tonumber(redis.call('HGET', meta, 'head') or '0')
      redis.call('XADD', OUTBOX, '*', 'kind', 'reminder', 'seq', at, 'epoch', epoch, 'rule', rule.ruleId, 'channels', table.concat(list(rule.channels), ','), 'due', now, 'alert', c.alertId, 'tick', tick_at)
    end
    return
  end
  local since = tonumber(x[alert_field(c.alertId, 'p')] or '')
  if since == nil then
    since = now
    redis.call('HSET', ALERTX, alert_field(c.alertId, 'p'), now)
  end
  if now - since < rule.forMs then return end
  local d = { alertId = c.alertId, ruleId = rule.ruleId, severity = rule.severity, value = c.value, activeSince = since, summary = c.summary }
  if c.instanceId then d.instanceId = c.instanceId end
  if c.threshold then d.threshold = c.threshold end
  local json = cjson.encode(d)
  local seq = append('alert.firing', json, d, 'monitor-tick')
  result[#result + 1] = seq
  redis.call('HDEL', ALERTX, alert_field(c.alertId, 'p'))
  redis.call('HSET', ALERTX, alert_field(c.alertId, 'r'), now, alert_field(c.alertId, 'c'), table.concat(list(rule.channels), ','))
  -- The episode's mark on each channel, pending until its firing notification is built (sent, or
  -- dropped if silenced): a resolved built before that waits for it instead of going unsent.
  for _, ch in ipairs(list(rule.channels)) do
    redis.call('HSET', ALERTX, 'n:' .. ch .. ':' .. c.alertId .. ':' .. since, 'p')
  end
  transition('firing', rule.channels, rule.groupWaitMs, rule.ruleId, seq, json)
end

for _, rule_id in ipairs(sorted_keys(rules)) do
  local rule = rules[rule_id]
  local kind, p = rule.kind, rule.params
  if kind == 'instance_offline' or kind == 'instance_status' then
    for _, inst in ipairs(insts) do
      if (kind == 'instance_offline' and inst.status == 'offline') or (kind == 'instance_status' and inst.status == p.status) then
        local ago = now - inst.last_seen
        local summary = 'instance ' .. inst.id .. ' offline, last seen ' .. span(ago - ago % 1000) .. ' ago'
        if kind == 'instance_status' then summary = 'instance ' .. inst.id .. ' is ' .. inst.status end
        fire(rule, { alertId = rule_id .. ':' .. inst.id, instanceId = inst.id, value = ago, summary = summary })
      end
    end
  elseif kind == 'failure_rate' then
    local a, f = window(p.windowMs)
    local rate = 0
    if a > 0 then rate = math.floor(f * 10000 / a + 0.5) / 100 end
    local summary = 'failure rate ' .. num(rate) .. ' % over ' .. span(p.windowMs) .. ' (threshold ' .. num(p.thresholdPct) .. ' %), ' .. a .. ' attempts'
    current[rule_id] = { value = rate, summary = summary }
    if a >= (p.minAttempts or 1) and rate >= p.thresholdPct then fire(rule, { alertId = rule_id, value = rate, threshold = p.thresholdPct, summary = summary }) end
  elseif kind == 'no_attempts' then
    local a = window(p.windowMs)
    current[rule_id] = { value = a, summary = a .. ' attempts over ' .. span(p.windowMs) }
    if a == 0 and now - rule.setAt >= p.windowMs then fire(rule, { alertId = rule_id, value = 0, threshold = 0, summary = 'no attempts over ' .. span(p.windowMs) }) end
  elseif kind == 'instances_below' then
    local summary = active .. ' instances active (minimum ' .. p.min .. ')'
    current[rule_id] = { value = active, summary = summary }
    if active < p.min then fire(rule, { alertId = rule_id, value = active, threshold = p.min, summary = summary }) end
  end
end

-- Firing alerts whose condition no longer holds (or whose rule or instance is gone) resolve.
for _, alert_id in ipairs(sorted_keys(firing)) do
  if not seen[alert_id] then
    local alert = firing[alert_id]
    local d = { alertId = alert_id, ruleId = alert.ruleId, severity = alert.severity, activeSince = alert.activeSince, resolvedAt = now }
    if alert.instanceId then d.instanceId = alert.instanceId end
    local cur = current[alert.ruleId]
    local rule = rules[alert.ruleId]
    if rule == nil then
      d.value, d.summary = alert.value, 'rule ' .. alert.ruleId .. ' removed'
    elseif (alert.instanceId ~= nil) ~= (rule.kind == 'instance_offline' or rule.kind == 'instance_status') then
      -- The rule was set again with a kind of the other sort (per instance / per topic): its old alerts end.
      d.value, d.summary = alert.value, 'rule ' .. alert.ruleId .. ' changed to ' .. rule.kind
    elseif cur then
      d.value, d.summary = cur.value, cur.summary
    else
      d.value = now - alert.activeSince
      local lasted = span(d.value - d.value % 1000)
      if json_of[alert.instanceId] == nil then
        -- Forgotten (instance.removed) while it alerted: it went away, it did not come back.
        d.summary = 'instance ' .. alert.instanceId .. ' removed, not recovered (alerting for ' .. lasted .. ')'
      else
        d.summary = 'instance ' .. alert.instanceId .. ' recovered after ' .. lasted
      end
    end
    local json = cjson.encode(d)
    local seq = append('alert.resolved', json, d, 'monitor-tick')
    result[#result + 1] = seq
    local channels = {}
    for c in string.gmatch(x[alert_field(alert_id, 'c')] or '', '[^,]+') do channels[#channels + 1] = c end
    redis.call('HDEL', ALERTX, alert_field(alert_id, 'r'), alert_field(alert_id, 'c'))
    local wait = 0
    if rules[alert.ruleId] then wait = rules[alert.ruleId].groupWaitMs end
    transition('resolved', channels, wait, alert.ruleId, seq, json)
  end
end
for _, gkey in ipairs(joining_order) do redis.call('HSET', gkey, 'm', table.concat(joining[gkey], ',')) end
for name, value in pairs(x) do
  local space = string.sub(name, 1, 2)
  if space == 'g:' then
    -- A group past its end is never joined again (the next transition opens its own): its field goes,
    -- so the hash holds the open groups, not one field for every rule, kind and channel list ever used.
    if now >= cjson.decode(value).ends then redis.call('HDEL', ALERTX, name) end
  elseif space == 'a:' and string.sub(name, -2) == ':p' then
    -- Pending alerts whose condition stopped before forMs go back to inactive.
    if not seen[string.sub(name, 3, -3)] then redis.call('HDEL', ALERTX, name) end
  end
end
`;

/**
 * TICK: KEYS = topicKeys(topic); ARGV = the nine of APPEND, tick_at (the scheduled time),
 * next_tick_at, instance TTL ms, instance forget ms (0: never), full-table period N (every Nth
 * loop's instances_update is whole; 1: all are), '1' to make this one whole.
 * Appends instance.offline for each instance whose last heartbeat is older than the TTL,
 * instance.removed for each offline one last seen longer than the forget time ago, writes the
 * gauges into the history, then appends status_update, statistics_update and instances_update, all computed from the projection here,
 * so they equal the fold at their seq. instances_update is { instances, full: true } (the whole
 * table), or { instances, full: false, removed? }: the instances changed since the previous
 * instances_update (the live fold marks them in KEYS[18]) and the ids this tick removed. It is
 * whole when no previous one is known to this projection (first tick; a rebuild's REPLACE
 * deletes the status hash and with it the marker 'iu'). A tick at or before the last appended tick_at is skipped:
 * a retried, stalled or duplicated tick appends nothing, and loop_count stays contiguous.
 * Then evaluates the alert rules (EVALUATE_ALERTS).
 * Returns { epoch, outbox length, firing critical, warning, info, seqs... }; { '', 0 } for a topic
 * with no log, { epoch, outbox length } when skipped.
 */
export const TICK_LUA = `${COMMON}
if not epoch then return { '', 0 } end
local tick_at, next_tick_at, ttl, forget = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local last_tick = tonumber(redis.call('HGET', LIVE[3], 'tick_at') or '-1')
-- The outbox length comes back even from a skipped tick: what a crashed run left is drained by its retry.
if tick_at <= last_tick then return { epoch, redis.call('XLEN', KEYS[17]) } end
history_begin()

local result = { epoch, 0, 0, 0, 0 }
local raw = redis.call('HGETALL', LIVE[2])
-- Each instance's JSON as read here, and decoded once: only those this tick appends an event
-- for (offline, removed) are read again, as the fold rewrote them.
local ids, json_of, decoded, rewritten = {}, {}, {}, {}
for i = 1, #raw, 2 do
  ids[#ids + 1] = raw[i]
  json_of[raw[i]] = raw[i + 1]
end
raw = nil
-- Byte order, as JavaScript sorts ASCII ids. Lua's < follows the server's locale (strcoll), which
-- in the C locale, and for most ids in others, is byte order too: sorted with it (in C), the ids
-- are checked pair by pair, and sorted byte by byte in Lua (ten times slower) only where it was not.
local function byte_order(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function sort_bytewise(list)
  table.sort(list)
  for i = 2, #list do
    if not byte_order(list[i - 1], list[i]) then
      table.sort(list, byte_order)
      return
    end
  end
end
sort_bytewise(ids)
local removed, kept, active = {}, {}, 0
for _, id in ipairs(ids) do
  local inst = cjson.decode(json_of[id])
  decoded[id] = inst
  if inst.status ~= 'offline' and now - inst.last_seen > ttl then
    local d = { instanceId = id, last_seen = inst.last_seen, ttl_ms = ttl }
    result[#result + 1] = append('instance.offline', cjson.encode(d), d, '')
    inst.status = 'offline'
    rewritten[id] = true
  end
  if forget > 0 and inst.status == 'offline' and now - inst.last_seen > forget then
    local d = { instanceId = id, last_seen = inst.last_seen }
    result[#result + 1] = append('instance.removed', cjson.encode(d), d, '')
    removed[#removed + 1] = id
    json_of[id] = nil
  else
    kept[#kept + 1] = id
    if inst.status ~= 'offline' then active = active + 1 end
  end
end
ids = kept

-- Every instance as the fold wrote it, for the alert rules.
local insts = {}
for i, id in ipairs(ids) do
  if rewritten[id] then
    json_of[id] = redis.call('HGET', LIVE[2], id)
    decoded[id] = cjson.decode(json_of[id])
  end
  insts[i] = decoded[id]
end
local loops = tonumber(redis.call('HGET', LIVE[3], 'loop_count') or '0') + 1
local full_every = tonumber(ARGV[14])
local full = ARGV[15] == '1' or loops % full_every == 0 or not redis.call('HGET', LIVE[3], 'iu')
-- The instances' JSON as the fold wrote it: all of them, or those changed (and still there).
local parts = {}
local listed = ids
if not full then
  listed = redis.call('SMEMBERS', changed)
  sort_bytewise(listed)
end
for _, id in ipairs(listed) do parts[#parts + 1] = json_of[id] or redis.call('HGET', LIVE[2], id) or nil end
local total = tonumber(redis.call('HGET', LIVE[1], 'total_attempts') or '0')
local ok = tonumber(redis.call('HGET', LIVE[1], 'successful') or '0')
local failed = tonumber(redis.call('HGET', LIVE[1], 'failed') or '0')
local rate = 0
if total > 0 then rate = math.floor(ok * 10000 / total + 0.5) / 100 end
gauges(active, #ids)
${EVALUATE_ALERTS}

local status = { monitoring_active = true, loop_count = loops, active_instances = active, tick_at = tick_at, next_tick_at = next_tick_at }
result[#result + 1] = append('status_update', cjson.encode(status), status, 'monitor-tick')
local stats = { total_attempts = total, successful = ok, failed = failed, success_rate = rate, active_instances = active }
result[#result + 1] = append('statistics_update', cjson.encode(stats), stats, 'monitor-tick')
local update = '{"instances":[' .. table.concat(parts, ',') .. '],"full":' .. tostring(full)
if not full and #removed > 0 then update = update .. ',"removed":' .. cjson.encode(removed) end
result[#result + 1] = append('instances_update', update .. '}', {}, 'monitor-tick')
redis.call('DEL', changed)
redis.call('HSET', LIVE[3], 'iu', 1)
trim()
ring()
result[2] = redis.call('XLEN', KEYS[17])
-- Firing alerts by severity after this tick, for the metrics.
local SEVERITY_SLOT = { critical = 3, warning = 4, info = 5 }
for _, json in ipairs(redis.call('HVALS', LIVE[5])) do
  local slot = SEVERITY_SLOT[cjson.decode(json).severity]
  if slot then result[slot] = result[slot] + 1 end
end
return result
`;

/**
 * REPLACE: KEYS = topicKeys(topic); ARGV = expected head, stats (3 numbers), status (3 numbers or
 * '' for none), rule count r, alert count a, then id, JSON per rule, per alert and per instance.
 * Rewrites the live projection only if the head is still the expected one (no append in between);
 * returns 1 if written, 0 if the log moved on.
 */
export const REPLACE_LUA = `
local meta = KEYS[2]
if tonumber(redis.call('HGET', meta, 'head') or '-1') ~= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[5], KEYS[6], KEYS[7], KEYS[12], KEYS[13])
redis.call('HSET', KEYS[5], 'total_attempts', ARGV[2], 'successful', ARGV[3], 'failed', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[7], 'loop_count', ARGV[5], 'tick_at', ARGV[6], 'next_tick_at', ARGV[7]) end
local rules, alerts = tonumber(ARGV[8]), tonumber(ARGV[9])
local i = 10
for _ = 1, rules do redis.call('HSET', KEYS[12], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, alerts do redis.call('HSET', KEYS[13], ARGV[i], ARGV[i + 1]); i = i + 2 end
while i <= #ARGV do redis.call('HSET', KEYS[6], ARGV[i], ARGV[i + 1]); i = i + 2 end
return 1
`;

/**
 * ROTATE: KEYS = topicKeys(topic); ARGV = new epoch, seq, the epoch the seq was seen in. If the
 * log still has that epoch and its head is below `seq` (a gateway saw the log further than it is
 * now: Redis lost appends but kept the epoch), the log starts a new life: a new epoch, so that no
 * client takes the seqs that will be reused as continuous. Once one gateway rotated, the others
 * find another epoch and leave it: one rotation per loss, not one per gateway.
 * Returns the epoch now in force ('' for a topic with no log).
 */
export const ROTATE_LUA = `
local meta = KEYS[2]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then return '' end
if epoch == ARGV[3] and tonumber(redis.call('HGET', meta, 'head') or '0') < tonumber(ARGV[2]) then
  redis.call('HSET', meta, 'epoch', ARGV[1])
  return ARGV[1]
end
return epoch
`;

/**
 * HISTORY: KEYS = topicKeys(topic); ARGV = history key prefix, then bucket keys. Returns, read at
 * one point of the log: its head (the last seq the buckets include, '' for none), the minute the
 * append is writing (hm, '' for none), that minute's fields, then the fields of each bucket asked
 * for (flat HGETALL arrays).
 */
export const HISTORY_LUA = `
local meta = redis.call('HMGET', KEYS[2], 'head', 'hm')
local hm = meta[2]
local out = { meta[1] or '', hm or '', {} }
if hm then out[3] = redis.call('HGETALL', ARGV[1] .. '1m:' .. hm) end
for i = 2, #ARGV do out[#out + 1] = redis.call('HGETALL', ARGV[i]) end
return out
`;

/**
 * HISTORY_REPLACE: KEYS = topicKeys(topic); ARGV = expected head, expected hm ('' for none), history
 * key prefix, then per bucket: key, TTL ms, field count n, n field/value pairs. Rewrites each
 * bucket whole (no fields: deleted) if nothing was appended since the rebuild read it; returns 1,
 * or 0 if the log moved on.
 */
export const HISTORY_REPLACE_LUA = `
local meta = KEYS[2]
if tonumber(redis.call('HGET', meta, 'head') or '-1') ~= tonumber(ARGV[1]) then return 0 end
local hm = redis.call('HGET', meta, 'hm') or ''
if hm ~= ARGV[2] then return 0 end
local i = 4
while i <= #ARGV do
  local key, ttl, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  redis.call('DEL', key)
  if n > 0 then
    local args = {}
    for j = 1, 2 * n do args[j] = ARGV[i + 2 + j] end
    redis.call('HSET', key, unpack(args))
    redis.call('PEXPIRE', key, ttl)
  end
  i = i + 3 + 2 * n
end
-- The largest duration of the minute being written, as the append keeps it (meta hdm).
if hm ~= '' then redis.call('HSET', meta, 'hdm', redis.call('HGET', ARGV[3] .. '1m:' .. hm, 'dm') or 0) end
return 1
`;

/**
 * ADMIT_TOPIC: KEYS = TOPICS_KEY; ARGV = topic, now, most topics. Registers a topic that is not
 * registered yet unless the registry already holds the most topics. Returns 1 when the topic is
 * registered (already or now), 0 when it is refused.
 */
export const ADMIT_TOPIC_LUA = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
`;

/**
 * TAKE_QUOTA: KEYS = a token's quota counter; ARGV = most per window, window ms, '1' to take one
 * or '-1' to give one back. Returns 0 when taken (or given back), else the ms until the window
 * ends (the counter is left as it was).
 */
export const TAKE_QUOTA_LUA = `
if ARGV[3] == '-1' then
  if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
  return 0
end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return math.max(1, redis.call('PTTL', KEYS[1])) end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;
