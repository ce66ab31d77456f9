/* bestseat.c - choosing the best free seats for "hold-best".
 *
 * Distances are kept doubled so that every centre (a middle row between
 * two rows, a block centre between two seats) is an integer, and the score
 * of a block is the squared distance of its centre from the centre of the
 * screen: one row back counts as much as one seat sideways. */
#include "core/bestseat.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum {
	BESTSEAT_ROW_WEIGHT = 1,  /* weight of the squared row distance */
	BESTSEAT_SEAT_WEIGHT = 1, /* weight of the squared seat distance */
};

struct bestseat_block {
	bool found;
	bool gap;      /* strands a single free seat next to the block */
	int64_t score; /* lower is better */
	int row;
	int start; /* 0-based index of the block's first seat */
};

static const unsigned char *bestseat_row(const unsigned char *free_grid, int row, int seats_per_row)
{
	return free_grid + (size_t)row * (size_t)seats_per_row;
}

static bool bestseat_is_free(const unsigned char *row_free, int seats_per_row, int i)
{
	return i >= 0 && i < seats_per_row && row_free[i] != 0;
}

/* True when seat i, just outside a block, is free while the seat beyond it
 * (one more step in direction dir) is taken or the wall. */
static bool bestseat_strands(const unsigned char *row_free, int seats_per_row, int i, int dir)
{
	return bestseat_is_free(row_free, seats_per_row, i) &&
	       !bestseat_is_free(row_free, seats_per_row, i + dir);
}

/* Twice the distance of a row from the middle row. */
static int64_t bestseat_row_distance(int row, int rows)
{
	int64_t d = 2 * (int64_t)row - (rows - 1);

	return d < 0 ? -d : d;
}

/* Twice the distance of a block's centre from the centre of its row. */
static int64_t bestseat_seat_distance(int start, int len, int seats_per_row)
{
	int64_t d = 2 * (int64_t)start + len - seats_per_row;

	return d < 0 ? -d : d;
}

static bool bestseat_better(const struct bestseat_block *cand, const struct bestseat_block *best)
{
	if (!best->found)
		return true;
	if (cand->gap != best->gap)
		return !cand->gap;
	if (cand->score != best->score)
		return cand->score < best->score;
	/* A tie goes to the front row, then the left: rows are not scanned in
	 * that order (bestseat_pick), seats within a row are. */
	return cand->row < best->row;
}

/* Whether no block of row can beat best: every block of it scores at
 * least the row's own distance squared, so once best strands nothing
 * and scores less (or as much, from a row further front), the rest of
 * the rows, scanned by distance from the middle, cannot win either. */
static bool bestseat_row_hopeless(int row, int rows, const struct bestseat_block *best)
{
	int64_t dr = bestseat_row_distance(row, rows);
	int64_t floor = BESTSEAT_ROW_WEIGHT * dr * dr;

	if (!best->found || best->gap)
		return false;
	return floor > best->score || (floor == best->score && row > best->row);
}

/* The first index from i on (below end) whose seat is free, or end: taken
 * stretches (the sold middle of a big show) are skipped 8 seats a time. */
static int bestseat_skip_taken(const unsigned char *row_free, int i, int end)
{
	uint64_t word;

	while (i + 8 <= end) {
		memcpy(&word, row_free + i, sizeof(word));
		if (word != 0)
			break;
		i += 8;
	}
	while (i < end && row_free[i] == 0)
		i++;
	return i;
}

/* The largest m with m * m <= v (v >= 0, small: distances are doubled
 * seat counts). */
static int64_t bestseat_isqrt(int64_t v)
{
	int64_t lo = 0, hi = 2 * (int64_t)(SEAT_ROWS_MAX + SEAT_NUMBER_MAX);

	while (lo < hi) {
		int64_t mid = (lo + hi + 1) / 2;
		if (mid * mid <= v)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Offers every block of len adjacent free seats in one row to best: only
 * those that could still beat it, when best strands nothing (a block's
 * centre must lie within the distance best's score leaves). */
static void bestseat_scan_row(const unsigned char *row_free, int row, int rows, int seats_per_row,
                              int len, struct bestseat_block *best)
{
	int64_t dr = bestseat_row_distance(row, rows);
	int run = 0, first = 0, last = seats_per_row - len; /* block starts to try */

	if (best->found && !best->gap) {
		int64_t room = best->score - BESTSEAT_ROW_WEIGHT * dr * dr;
		if (room < 0)
			return;
		/* |2 start + len - seats_per_row| <= m */
		int64_t m = bestseat_isqrt(room / BESTSEAT_SEAT_WEIGHT);
		int64_t lo = (int64_t)seats_per_row - len - m,
		        hi = (int64_t)seats_per_row - len + m;
		if (lo > 0)
			first = (int)((lo + 1) / 2);
		if (hi / 2 < last)
			last = (int)(hi / 2);
	}
	for (int i = first; i < last + len; i++) {
		if (run == 0)
			i = bestseat_skip_taken(row_free, i, last + len);
		if (i >= last + len)
			break;
		run = row_free[i] ? run + 1 : 0;
		if (run < len)
			continue;
		int start = i - len + 1;
		int64_t dc = bestseat_seat_distance(start, len, seats_per_row);
		struct bestseat_block cand = {
		    .found = true,
		    .gap = bestseat_strands(row_free, seats_per_row, start - 1, -1) ||
		           bestseat_strands(row_free, seats_per_row, i + 1, 1),
		    .score = BESTSEAT_ROW_WEIGHT * dr * dr + BESTSEAT_SEAT_WEIGHT * dc * dc,
		    .row = row,
		    .start = start,
		};
		if (bestseat_better(&cand, best))
			*best = cand;
	}
}

static void bestseat_write_block(const struct bestseat_block *b, int len, struct seat *out)
{
	for (int i = 0; i < len; i++) {
		out[i].row = b->row;
		out[i].number = b->start + i + 1;
	}
}

static int bestseat_count_free(const unsigned char *row_free, int seats_per_row)
{
	int n = 0;

	for (int i = 0; i < seats_per_row; i++)
		n += row_free[i] != 0;
	return n;
}

/* Writes the n free seats of one row nearest its centre, walking outwards
 * from the middle and taking the left seat of an equidistant pair first.
 * The row must hold at least n free seats. */
static void bestseat_take_central(const unsigned char *row_free, int row, int seats_per_row, int n,
                                  struct seat *out)
{
	int left = (seats_per_row - 1) / 2, right = left + 1, got = 0;

	while (got < n && (left >= 0 || right < seats_per_row)) {
		int i;

		if (left < 0)
			i = right++;
		else if (right >= seats_per_row)
			i = left--;
		else if ((seats_per_row - 1) - 2 * left <= 2 * right - (seats_per_row - 1))
			i = left--;
		else
			i = right++;
		if (row_free[i]) {
			out[got].row = row;
			out[got].number = i + 1;
			got++;
		}
	}
}

/* The order in which split mode uses up whole rows: most free seats
 * first, then nearest the middle row, then the front row. */
static bool bestseat_row_before(int free_a, int row_a, int free_b, int row_b, int rows)
{
	if (free_a != free_b)
		return free_a > free_b;
	int64_t da = bestseat_row_distance(row_a, rows), db = bestseat_row_distance(row_b, rows);
	if (da != db)
		return da < db;
	return row_a < row_b;
}

/* Scattered seats, in as few rows as possible: while no single unused row
 * can supply the seats still needed, take every free seat of the row with
 * the most; then finish in the unused row nearest the middle that can,
 * with a block when it has one, else with its seats nearest the centre.
 * This always reaches the fewest rows, but not always the most central
 * set of that many rows. Rows are used up in bestseat_row_before order,
 * so "used" is "ordered before the last row used" and needs no memory. */
static int bestseat_split(const unsigned char *free_grid, int rows, int seats_per_row, int count,
                          struct seat *out)
{
	int got = 0, last_row = -1, last_free = 0;

	while (got < count) {
		int need = count - got;
		int finish = -1, whole = -1, whole_free = 0;

		for (int r = 0; r < rows; r++) {
			int f = bestseat_count_free(bestseat_row(free_grid, r, seats_per_row),
			                            seats_per_row);

			if (f == 0)
				continue;
			if (last_row >= 0 && !bestseat_row_before(last_free, last_row, f, r, rows))
				continue;
			if (f >= need) {
				if (finish < 0 || bestseat_row_distance(r, rows) <
				                      bestseat_row_distance(finish, rows))
					finish = r;
			} else if (whole < 0 ||
			           bestseat_row_before(f, r, whole_free, whole, rows)) {
				whole = r;
				whole_free = f;
			}
		}
		if (finish >= 0) {
			const unsigned char *row_free =
			    bestseat_row(free_grid, finish, seats_per_row);
			struct bestseat_block best = {0};

			bestseat_scan_row(row_free, finish, rows, seats_per_row, need, &best);
			if (best.found)
				bestseat_write_block(&best, need, out + got);
			else
				bestseat_take_central(row_free, finish, seats_per_row, need,
				                      out + got);
			got = count;
		} else if (whole >= 0) {
			bestseat_take_central(bestseat_row(free_grid, whole, seats_per_row), whole,
			                      seats_per_row, whole_free, out + got);
			got += whole_free;
			last_row = whole;
			last_free = whole_free;
		} else {
			return -1; /* fewer than count free seats in the whole grid */
		}
	}
	seat_sort(out, (size_t)count);
	return 0;
}

int bestseat_pick(const unsigned char *free_grid, int rows, int seats_per_row, int count,
                  bool allow_split, struct seat *out)
{
	struct bestseat_block best = {0};

	if (free_grid == NULL || out == NULL || rows < 1 || rows > SEAT_ROWS_MAX ||
	    seats_per_row < 1 || seats_per_row > SEAT_NUMBER_MAX || count < 1 ||
	    count > rows * seats_per_row)
		return -1;
	/* Rows by distance from the middle (twice it is d, of the parity of
	 * rows - 1), the front one of an equidistant pair first: on a show
	 * with room the best block is found in the first rows and the rest
	 * are skipped (a 100,000-seat show scans a few rows, not all). */
	for (int d = (rows - 1) % 2; d <= rows - 1; d += 2) {
		int front = (rows - 1 - d) / 2, back = (rows - 1 + d) / 2;
		if (bestseat_row_hopeless(front, rows, &best) &&
		    bestseat_row_hopeless(back, rows, &best))
			break;
		bestseat_scan_row(bestseat_row(free_grid, front, seats_per_row), front, rows,
		                  seats_per_row, count, &best);
		if (back != front)
			bestseat_scan_row(bestseat_row(free_grid, back, seats_per_row), back, rows,
			                  seats_per_row, count, &best);
	}
	if (best.found) {
		bestseat_write_block(&best, count, out);
		return 0;
	}
	if (!allow_split)
		return -1;
	return bestseat_split(free_grid, rows, seats_per_row, count, out);
}
