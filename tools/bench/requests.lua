-- wrk script: replay requests from the file in $BENCH_REQUESTS, round-robin, one per line:
--   METHOD<TAB>PATH<TAB>TOKEN (or -)<TAB>BODY (or -)
-- and print a JSON summary at the end (wrk's own text report is not machine-readable).
local lines = {}
local index = 0

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
  return fields
end

function init(args)
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    local f = split(line)
    local headers = { ["Content-Type"] = "application/json" }
    if f[3] ~= "-" then headers["Authorization"] = "Bearer " .. f[3] end
    local body = nil
    if f[4] ~= "-" then body = f[4] end
    lines[#lines + 1] = wrk.format(f[1], f[2], headers, body)
  end
  -- each thread starts at its own offset so threads do not replay the same sequence
  index = math.random(#lines) - 1
end

function request()
  index = index % #lines + 1
  return lines[index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"bad_status":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%f}\n',
    summary.duration, summary.requests, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
