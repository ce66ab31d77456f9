-- Durable writes, one distinct user per cart, distinct seats. Modes:
--   hold  every request holds one fresh seat (the cart stays held);
--   pair  hold one seat, then confirm it once the hold's answer came back;
--   book  carts of 1-4 seats held then confirmed until this thread's share
--         of the seats is sold; then the thread stops (time to sell out is
--         the last confirm's answer minus the first request).
-- Seat space: shows first..first+nshows-1, rows x per_row seats each,
-- numbered 0..total-1 and cut into one contiguous slice per (node, wrk
-- thread), so no two requests of the run ask for the same seat.
-- args: mode first nshows rows per_row node nodes nthreads
-- BENCH_PACE_MS paces each connection (common.lua).
counters = { "holds", "confirms", "refused", "carts", "seats_sold", "filler" }
holds, confirms, refused, carts, seats_sold, filler = 0, 0, 0, 0, 0, 0
local pending, headers = {}, { ["Content-Type"] = "application/json" }
local mode, first, nshows, rows, per_row, node, nodes, nthreads
local next_seat, slice_end, user_n, finished = 0, 0, 0, false
local in_flight = 0 -- holds and confirms sent, not yet answered

local function row_letters(r)
	if r < 26 then
		return string.char(65 + r)
	end
	r = r - 26
	return string.char(65 + math.floor(r / 26)) .. string.char(65 + r % 26)
end

function init(args)
	mode = args[1]
	first, nshows = tonumber(args[2]), tonumber(args[3])
	rows, per_row = tonumber(args[4]), tonumber(args[5])
	node, nodes, nthreads = tonumber(args[6]), tonumber(args[7]), tonumber(args[8])
	local per_show = rows * per_row
	local total = per_show * nshows
	local slices = nodes * nthreads
	local me = node * nthreads + tid
	next_seat = math.floor(total * me / slices)
	slice_end = math.floor(total * (me + 1) / slices)
	math.randomseed(1000 + me)
	t_first = now_s()
end

local function seat_label(k)
	local per_show = rows * per_row
	local in_show = k % per_show
	return first + math.floor(k / per_show),
		row_letters(math.floor(in_show / per_row)) .. tostring(in_show % per_row + 1)
end

local called = false

function request()
	if not called then
		-- wrk calls request() once on the first thread's state to check it
		-- and drops that request: make it one that is not part of the run.
		called = true
		return wrk.format("GET", "/healthz")
	end
	local p = table.remove(pending)
	if p then
		in_flight = in_flight + 1
		return wrk.format("POST", "/api/bookings/confirm", headers, p)
	end
	if next_seat >= slice_end then
		-- Sold out (book) or seat space used up: a cheap read keeps the
		-- connection busy until the last confirm is back; counted apart.
		filler = filler + 1
		return wrk.format("GET", "/healthz")
	end
	local want = 1
	if mode == "book" then
		want = math.random(1, 4)
	end
	local per_show = rows * per_row
	local show, label = seat_label(next_seat)
	local seats = { '"' .. label .. '"' }
	next_seat = next_seat + 1
	-- a cart never spans two shows
	while #seats < want and next_seat < slice_end and next_seat % per_show ~= 0 do
		local _, l = seat_label(next_seat)
		table.insert(seats, '"' .. l .. '"')
		next_seat = next_seat + 1
	end
	user_n = user_n + 1
	in_flight = in_flight + 1
	local body = string.format('{"username":"w%d_%d_%d","showId":%d,"seats":[%s]}',
		node, tid, user_n, show, table.concat(seats, ","))
	return wrk.format("POST", "/api/bookings/hold", headers, body)
end

function response(status, hdrs, body)
	count_status(status)
	local filler_answer = string.find(body, '"status":"ok"', 1, true) ~= nil
	if not filler_answer then
		in_flight = in_flight - 1
	end
	if status ~= 200 then
		if status == 409 then
			refused = refused + 1
		end
		return
	end
	if string.find(body, '"status":"STAGED"', 1, true) then
		holds = holds + 1
		if mode == "hold" then
			mark_last()
		end
		if mode ~= "hold" then
			local user = string.match(body, '"username":"([^"]+)"')
			local show = string.match(body, '"showId":(%d+)')
			local seats = string.match(body, '"seats":(%[[^%]]*%])')
			table.insert(pending, string.format('{"username":"%s","showId":%s,"seats":%s}', user, show, seats))
		end
	elseif string.find(body, '"status":"CONFIRMED"', 1, true) then
		confirms = confirms + 1
		mark_last()
		carts = carts + 1
		local seats = string.match(body, '"totalSeats":(%d+)')
		seats_sold = seats_sold + (tonumber(seats) or 0)
	end
	if mode == "book" and next_seat >= slice_end and #pending == 0 and in_flight == 0 and not finished then
		finished = true
		wrk.thread:stop()
	end
end
