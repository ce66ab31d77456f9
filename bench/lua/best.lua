-- Hold-best on one big show: every request is a fresh user asking for
-- `count` seats, so no cart reaches the per-user limit and every answer
-- is a new pick. args: show count
counters = { "holds", "refused" }
holds, refused = 0, 0
local headers = { ["Content-Type"] = "application/json" }
local show, count, n = 0, 2, 0
local called = false

function init(args)
	show, count = tonumber(args[1]), tonumber(args[2])
	t_first = now_s()
end

function request()
	if not called then
		-- wrk's check request (see writes.lua): not part of the run
		called = true
		return wrk.format("GET", "/healthz")
	end
	n = n + 1
	return wrk.format("POST", "/api/bookings/hold-best", headers,
		string.format('{"username":"best%d_%d","showId":%d,"count":%d}', tid, n, show, count))
end

function response(status, hdrs, body)
	count_status(status)
	if status == 200 then
		holds = holds + 1
		mark_last()
	elseif status == 409 then
		refused = refused + 1
	end
end
