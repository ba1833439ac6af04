-- wrk script for the visit-counter benchmark (one wrk process per replica).
--
-- Arguments (after `--`): LOAD_SECONDS OUT_PATH
--   LOAD_SECONDS  after this many seconds every connection stops sending
--                 visits and idles, so that when wrk's --duration ends no visit
--                 is in flight: each one sent has been answered (or counted as
--                 unanswered). Only then can stored counts be compared with
--                 the number of 200 answers.
--   OUT_PATH      where done() writes its tallies, one "key value" per line.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Per-thread tallies are globals: done() reads them with thread:get().
load_seconds, out_path, started, stop_at = nil, nil, nil, nil
sent, answered, last_answer = 0, 0, 0
statuses = {}
local request_text

function init(args)
  load_seconds = tonumber(args[1])
  out_path = args[2]
  -- The path is the URL's: "/" (a visit) or "/healthz" (the HTTP ceiling).
  request_text = wrk.format("GET")
end

-- wrk calls request() once before the run, to check what it returns; that
-- call sends nothing, so it neither counts nor starts the clock.
local checked = false

function request()
  if not checked then
    checked = true
    return request_text
  end
  if started == nil then
    started = now()
    stop_at = started + load_seconds
  end
  sent = sent + 1
  return request_text
end

function response(status, headers, body)
  answered = answered + 1
  last_answer = now()
  statuses[status] = (statuses[status] or 0) + 1
end

-- Called after each answer, before the connection's next request.
function delay()
  if stop_at ~= nil and now() >= stop_at then
    return 3600 * 1000 -- idle past the end of the run: send nothing more
  end
  return 0
end

-- Runs in wrk's main Lua state once the run is over: it collects each
-- thread's tallies and writes them with the full latency histogram (exact to
-- the microsecond), so the runner can merge several wrk processes exactly.
function done(summary, latency, requests)
  local out = assert(io.open(threads[1]:get("out_path"), "w"))
  local totals = {sent = 0, answered = 0, started = nil, last_answer = 0}
  local status_totals = {}
  for _, thread in ipairs(threads) do
    totals.sent = totals.sent + thread:get("sent")
    totals.answered = totals.answered + thread:get("answered")
    local thread_started = thread:get("started")
    if thread_started ~= nil and (totals.started == nil or thread_started < totals.started) then
      totals.started = thread_started
    end
    totals.last_answer = math.max(totals.last_answer, thread:get("last_answer"))
    for status, count in pairs(thread:get("statuses")) do
      status_totals[status] = (status_totals[status] or 0) + count
    end
  end
  out:write(string.format("sent %d\n", totals.sent))
  out:write(string.format("answered %d\n", totals.answered))
  out:write(string.format("started %.6f\n", totals.started or 0))
  out:write(string.format("last_answer %.6f\n", totals.last_answer))
  out:write(string.format("stop_seconds %.6f\n", threads[1]:get("load_seconds")))
  for _, kind in ipairs({"connect", "read", "write", "status", "timeout"}) do
    out:write(string.format("error_%s %d\n", kind, summary.errors[kind]))
  end
  for status, count in pairs(status_totals) do
    out:write(string.format("status %d %d\n", status, count))
  end
  -- #latency is the number of distinct values; latency(i) is the i-th
  -- (value in microseconds, how many requests took it).
  for i = 1, #latency do
    local value, count = latency(i)
    out:write(string.format("latency_us %d %d\n", value, count))
  end
  out:close()
end
