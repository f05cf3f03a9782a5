-- wrk script for bench/run.py. Each request carries `Cookie: session=<token>`, a token
-- drawn at random from the file BENCH_TOKENS (one a line); BENCH_METHOD and BENCH_BODY
-- (sent as JSON when not empty) set the request. done() prints one line,
-- BENCH_RESULT {json}, after wrk's own report.
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
wrk.method = os.getenv("BENCH_METHOD")
local body = os.getenv("BENCH_BODY")
if body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local headers = { Cookie = "session=" .. tokens[math.random(#tokens)] }
  for name, value in pairs(wrk.headers) do headers[name] = value end
  return wrk.format(nil, nil, headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, '
      .. '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
