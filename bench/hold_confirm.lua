-- wrk script: durable holds, each followed by its confirm, all on distinct
-- seats and distinct users. A hold's answer queues its confirm, so every
-- confirm follows a hold that has committed. Seat space: `nshows` shows
-- from `first_show`, 100 rows x 999 seats each; wrk threads and nodes
-- (one wrk per node) interleave.
-- args: first_show nshows [node nodes]
local threads = {}

function setup(thread)
	thread:set("tid", #threads)
	table.insert(threads, thread)
end

local function row_letters(r)
	if r < 26 then
		return string.char(65 + r)
	end
	r = r - 26
	return string.char(65 + math.floor(r / 26)) .. string.char(65 + r % 26)
end

function init(args)
	first_show = tonumber(args[1])
	nshows = tonumber(args[2])
	node = tonumber(args[3] or "0")
	nodes = tonumber(args[4] or "1")
	nthreads = 2
	n = 0
	holds, confirms, errors, exhausted = 0, 0, 0, 0
	pending = {}
	headers = { ["Content-Type"] = "application/json" }
end

function request()
	local p = table.remove(pending)
	if p then
		return wrk.format("POST", "/api/bookings/confirm", headers, p)
	end
	local i = (n * nthreads + tid) * nodes + node
	n = n + 1
	local per_show = 100 * 999
	local show = first_show + math.floor(i / per_show)
	if show >= first_show + nshows then
		exhausted = exhausted + 1
		show = first_show + nshows - 1
	end
	local k = i % per_show
	local seat = row_letters(math.floor(k / 999)) .. tostring(k % 999 + 1)
	local body = string.format('{"username":"b%d_%d_%d","showId":%d,"seats":["%s"]}', node, tid, n, show, seat)
	return wrk.format("POST", "/api/bookings/hold", headers, body)
end

function response(status, hdrs, body)
	if status ~= 200 then
		errors = errors + 1
		return
	end
	if string.find(body, '"status":"STAGED"', 1, true) then
		holds = holds + 1
		local user = string.match(body, '"username":"([^"]+)"')
		local show = string.match(body, '"showId":(%d+)')
		local seat = string.match(body, '"seats":%["([^"]+)"%]')
		table.insert(pending, string.format('{"username":"%s","showId":%s,"seats":["%s"]}', user, show, seat))
	else
		confirms = confirms + 1
	end
end

function done(summary, latency, requests)
	local h, c, e, x = 0, 0, 0, 0
	for _, t in ipairs(threads) do
		h = h + t:get("holds")
		c = c + t:get("confirms")
		e = e + t:get("errors")
		x = x + t:get("exhausted")
	end
	local secs = summary.duration / 1e6
	io.write(string.format("RESULT holds=%d confirms=%d errors=%d exhausted=%d holds_per_s=%.0f ops_per_s=%.0f p99_ms=%.2f\n",
		h, c, e, x, h / secs, (h + c) / secs, latency:percentile(99) / 1000))
end
