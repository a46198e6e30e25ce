-- wrk script for waiting-room joins: every request is one buyer's first join
-- (POST /events/{id}/queue) as long as the token file lasts, then it wraps
-- around (a rejoin: same path, answers the standing already held).
-- Tokens: the file `boxoffice-load queue-join --out FILE` writes (its first
-- line, the event id, is skipped); the event: any queue-enabled event.
--
--   wrk -t1 -c256 -d10s -s load/wrk/join.lua http://127.0.0.1:18181 -- TOKENS_FILE EVENT_ID

local tokens = {}
local next_token = 1
local path
-- Global (not local): done() reads it from each thread with thread:get.
counts = { joined = 0, other = 0 }
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 and not line:match("^%d+$") then tokens[#tokens + 1] = line end
  end
  path = "/events/" .. args[2] .. "/queue"
end

function request()
  local token = tokens[next_token]
  next_token = next_token % #tokens + 1
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, "{}")
end

function response(status, headers, body)
  if status == 201 then counts.joined = counts.joined + 1
  else counts.other = counts.other + 1 end
end

function done(summary, latency, requests)
  local joined, other = 0, 0
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    joined, other = joined + c.joined, other + c.other
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "wrk: %.0f joins/s | %d requests, %d answered 201, %d other, %d socket errors | p50 %.2f ms | p99 %.2f ms | max %.2f ms\n",
    summary.requests / seconds, summary.requests, joined, other,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
