-- wrk script for bench/run: POST one MCP tools/call (JSON-RPC) per request.
-- BENCH_KEY (environment): the mcpgate agent key, sent as a Bearer token
-- (the upstream and nginx ignore it). At the end it prints one line that
-- bench/run parses:
--   BENCH requests=N duration_us=N p50_us=N p99_us=N connect_err=N read_err=N
--         write_err=N timeout_err=N status_err=N
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":42,"method":"tools/call",'
  .. '"params":{"name":"echo","arguments":{"text":"bench"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
local key = os.getenv("BENCH_KEY")
if key ~= nil and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d connect_err=%d read_err=%d write_err=%d timeout_err=%d status_err=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
