-- Shared by every scenario: prints wrk's figures as one JSON line for bench.py.
-- Unexpected statuses count as errors: `status_errors` is wrk's count of non-2xx answers
-- unless the scenario expects another status.

local function report(summary, latency, status_errors)
  local errors = summary.errors
  local failed = errors.connect + errors.read + errors.write + errors.timeout + status_errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"errors":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    failed, status_errors))
end

return report
