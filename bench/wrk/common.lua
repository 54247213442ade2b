-- Shared helpers for the Tocsin ingest benchmark wrk scripts.
-- Loaded with dofile() from pd.lua and alerts.lua; not a wrk script itself.

local M = {}

-- Give every wrk thread a distinct id so generated keys/labels never collide
-- across threads (each thread has its own Lua state and counters).
local next_thread_id = 0
function M.setup(thread)
   thread:set("thread_id", next_thread_id)
   next_thread_id = next_thread_id + 1
end

-- One machine-readable line for bench/run.sh. Latency values are in
-- microseconds, duration too. "status" counts HTTP responses >= 400;
-- connect/read/write/timeout are socket-level errors.
function M.done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRKRESULT requests=%d duration_us=%d bytes=%d status_errors=%d " ..
      "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d " ..
      "p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f\n",
      summary.requests, summary.duration, summary.bytes, e.status,
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end

return M
