-- wrk script for the token-endpoint figure: POSTs one authorization_code exchange per request,
-- each with its own pre-created code.
--
-- Environment: CODES_FILE (one code per line), BODY_PREFIX (the form without the code, ending
-- in "code="), AUTHORIZATION (the Authorization header value, may be empty), WRK_THREADS (the
-- -t given to wrk). Thread k of n takes lines k, k+n, k+2n, ... so that no code is sent twice.
-- Once a thread has used all its codes it sends the code "exhausted" (answered 400, counted as
-- a non-2xx response), so the figure counts 2xx answers only.

local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  local threads = tonumber(os.getenv("WRK_THREADS") or "1")
  codes = {}
  local i = 0
  for line in io.lines(os.getenv("CODES_FILE")) do
    if i % threads == tid and #line > 0 then
      codes[#codes + 1] = line
    end
    i = i + 1
  end
  next_code = 0
  prefix = os.getenv("BODY_PREFIX")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  local authorization = os.getenv("AUTHORIZATION") or ""
  if #authorization > 0 then
    wrk.headers["Authorization"] = authorization
  end
end

function request()
  next_code = next_code + 1
  local code = codes[next_code] or "exhausted"
  return wrk.format(nil, nil, nil, prefix .. code)
end

function done(summary, latency, requests)
  io.write(string.format(
    "WRK_JSON {\"requests\":%d,\"non2xx\":%d,\"socket_errors\":%d,\"duration_us\":%d," ..
    "\"p50_us\":%d,\"p99_us\":%d}\n",
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99)))
end
