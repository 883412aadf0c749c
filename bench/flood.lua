-- wrk script for bench/flood: POST one MCP tools/call (JSON-RPC) per request.
-- Environment:
--   BENCH_KEY       the mcpgate agent key, sent as a Bearer token (nginx and
--                   the upstream ignore it)
--   BENCH_TOOL      the tool called: echo (default) or big
--   BENCH_DELAY_MS  when set and > 0: each connection waits a random
--                   0.5x-1.5x this many milliseconds before each request (a
--                   paced, well-behaved client); unset: as fast as answers come
-- At the end it prints one line that bench/flood parses:
--   BENCH requests=N duration_us=N p50_us=N p99_us=N max_us=N connect_err=N
--         read_err=N write_err=N timeout_err=N status_err=N
-- (status_err: answers with a status >= 400)
local tool = os.getenv("BENCH_TOOL")
if tool == nil or tool == "" then tool = "echo" end
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":42,"method":"tools/call",'
  .. '"params":{"name":"' .. tool .. '","arguments":{"text":"bench"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
local key = os.getenv("BENCH_KEY")
if key ~= nil and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

local mean = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0
if mean > 0 then
  local low = math.max(1, math.floor(mean / 2))
  local high = math.max(low, math.floor(mean * 3 / 2))
  function init(args)
    math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  end
  function delay()
    return math.random(low, high)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d connect_err=%d read_err=%d write_err=%d timeout_err=%d status_err=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
