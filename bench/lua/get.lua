-- GET scenarios: /healthz, one seat map, nginx's static copy (one path),
-- or `browse`, seat maps across many shows (paths given as arguments,
-- taken in turn). args: path...
-- BENCH_PACE_MS in the environment paces each connection (one request
-- per that many ms at most): delay() exists only then, since wrk asks for
-- it per request once it is defined.
local paths, n = {}, 0

function init(args)
	for _, a in ipairs(args) do
		table.insert(paths, a)
	end
	t_first = now_s()
end

function request()
	n = n + 1
	return wrk.format("GET", paths[(n % #paths) + 1])
end

function response(status, hdrs, body)
	count_status(status)
	mark_last()
end

local pace_ms = tonumber(os.getenv("BENCH_PACE_MS") or "")
if pace_ms then
	function delay()
		return pace_ms
	end
end
