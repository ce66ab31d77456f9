-- GET scenarios: /healthz, one seat map, nginx's static copy (one path),
-- or `browse`, seat maps across many shows (paths given as arguments,
-- taken in turn). args: path...
-- BENCH_PACE_MS paces each connection (common.lua).
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
