-- wrk script: keep-alive PUTs of ~200-byte JSON values to distinct keys, so
-- the number of rows in the durable store after a flush must equal the
-- number of 2xx responses.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- An optional argument prefixes every key, so several wrk processes (one
-- per server sharing a database) never write the same key.
local key_prefix = ""

function init(args)
  thread_id = id
  key_prefix = args[1] or ""
end

local pad = string.rep("x", 150)

function request()
  counter = counter + 1
  local key = key_prefix .. "bench-" .. thread_id .. "-" .. counter
  local body = '{"n":' .. counter .. ',"thread":' .. thread_id .. ',"pad":"' .. pad .. '"}'
  return wrk.format("PUT", "/v1/records/" .. key, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("RESULT requests=%d non2xx=%d rps=%.0f p50_ms=%.3f p99_ms=%.3f\n",
    summary.requests, non2xx, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
