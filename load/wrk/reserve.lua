-- wrk script for the hot-event scenario: reservations of 1-4 adjacent seats,
-- most of them (hot_share) in the best section (the first tenth of the seats),
-- from many buyers. Prepared by `boxoffice-load hot-event`.
--
--   wrk -t2 -c256 -d10s -s load/wrk/reserve.lua http://127.0.0.1:18081 \
--       -- TOKENS_FILE EVENT_ID FIRST_SEAT SEAT_COUNT [HOT_SHARE]
--   wrk ... -- TOKENS_FILE EVENTS_FILE [HOT_SHARE]
--
-- EVENTS_FILE holds one `EVENT_ID FIRST_SEAT SEAT_COUNT` line per hot event
-- (what `hot-event` prints); each attempt picks one of them at random.

local tokens = {}
local events = {}
local hot_share
-- Global (not local): done() reads it from each thread with thread:get.
counts = { held = 0, conflict = 0, other = 0 }
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  if tonumber(args[2]) then
    events[1] = { tonumber(args[2]), tonumber(args[3]), tonumber(args[4]) }
    hot_share = tonumber(args[5] or "0.8")
  else
    for line in io.lines(args[2]) do
      local e, f, c = line:match("^(%d+) (%d+) (%d+)")
      if e then events[#events + 1] = { tonumber(e), tonumber(f), tonumber(c) } end
    end
    hot_share = tonumber(args[3] or "0.8")
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  local event = events[math.random(1, #events)]
  local event_id, first_seat, seat_count = event[1], event[2], event[3]
  local n = math.random(1, 4)
  local range = seat_count
  if math.random() < hot_share then range = math.floor(seat_count / 10) end
  local start = first_seat + math.random(0, range - n)
  local seats = {}
  for i = 0, n - 1 do seats[#seats + 1] = tostring(start + i) end
  local body = '{"event_id":' .. event_id .. ',"seat_ids":[' .. table.concat(seats, ",") .. ']}'
  return wrk.format("POST", "/bookings", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[math.random(1, #tokens)],
  }, body)
end

function response(status, headers, body)
  if status == 201 then counts.held = counts.held + 1
  elseif status == 409 then counts.conflict = counts.conflict + 1
  else counts.other = counts.other + 1 end
end

function done(summary, latency, requests)
  local held, conflict, other = 0, 0, 0
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    held, conflict, other = held + c.held, conflict + c.conflict, other + c.other
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "wrk: %.0f attempts/s | %.0f holds/s | %d attempts, %d held, %d conflicts, %d other, %d socket errors | p50 %.2f ms | p99 %.2f ms | p999 %.2f ms | max %.2f ms\n",
    summary.requests / seconds, held / seconds, summary.requests, held, conflict, other,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
end
