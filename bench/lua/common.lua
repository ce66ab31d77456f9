-- Shared part of every wrk script of bench/bench.py (prepended to the
-- scenario's own script): a monotonic clock through LuaJIT's ffi, answers
-- counted by status in every thread, and done() printing one
-- "BENCHJSON {...}" line that bench.py parses: requests, duration, the
-- latency percentiles wrk's own --latency does not print (p99.9), the
-- statuses, and the counters the scenario lists in `counters`.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *ts);
]]
local bench_ts = ffi.new("bench_timespec")
function now_s()
	ffi.C.clock_gettime(1, bench_ts) -- CLOCK_MONOTONIC
	return tonumber(bench_ts.tv_sec) + tonumber(bench_ts.tv_nsec) * 1e-9
end

local threads = {}
function setup(thread)
	thread:set("tid", #threads)
	table.insert(threads, thread)
end

statuses = {}
t_first, t_last = 0, 0
counters = counters or {}
function count_status(s)
	local k = tostring(s)
	statuses[k] = (statuses[k] or 0) + 1
end

function mark_last()
	t_last = now_s()
end

local function pct(latency, p)
	return latency:percentile(p) / 1000.0
end

function done(summary, latency, requests)
	local st, ctr = {}, {}
	local first, last = nil, 0
	for _, t in ipairs(threads) do
		for k, v in pairs(t:get("statuses") or {}) do
			st[k] = (st[k] or 0) + v
		end
		for _, name in ipairs(t:get("counters") or {}) do
			ctr[name] = (ctr[name] or 0) + (t:get(name) or 0)
		end
		local f, l = t:get("t_first") or 0, t:get("t_last") or 0
		if f > 0 and (first == nil or f < first) then
			first = f
		end
		if l > last then
			last = l
		end
	end
	local parts = {}
	for k, v in pairs(st) do
		table.insert(parts, string.format('"%s":%d', k, v))
	end
	local cparts = {}
	for k, v in pairs(ctr) do
		table.insert(cparts, string.format('"%s":%d', k, v))
	end
	local e = summary.errors
	io.write(string.format(
		'BENCHJSON {"requests":%d,"duration_s":%.6f,"bytes":%d,' ..
		'"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,' ..
		'"socket_errors":%d,"statuses":{%s},"counters":{%s},"active_s":%.6f}\n',
		summary.requests, summary.duration / 1e6, summary.bytes,
		pct(latency, 50), pct(latency, 90), pct(latency, 99), pct(latency, 99.9),
		latency.max / 1000.0, latency.mean / 1000.0,
		e.connect + e.read + e.write + e.timeout,
		table.concat(parts, ","), table.concat(cparts, ","),
		(first and last > first) and (last - first) or 0))
end

-- BENCH_PACE_MS in the environment paces each connection (one request
-- per that many ms at most): delay() exists only then, since wrk asks for
-- it per request once it is defined.
local pace_ms = tonumber(os.getenv("BENCH_PACE_MS") or "")
if pace_ms then
	function delay()
		return pace_ms
	end
end
