/* bestseat.c - choosing the best free seats for "hold-best".
 *
 * Distances are kept doubled so that every centre (a middle row between
 * two rows, a block centre between two seats) is an integer, and the score
 * of a block is the squared distance of its centre from the centre of the
 * screen: one row back counts as much as one seat sideways. */
#include "core/bestseat.h"

#include <stddef.h>
#include <stdint.h>

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
	/* Rows and seats are scanned front to back, left to right, so keeping
	 * the earlier block on a tie picks the front row, then the left. */
	return cand->score < best->score;
}

/* Offers every block of len adjacent free seats in one row to best. */
static void bestseat_scan_row(const unsigned char *row_free, int row, int rows, int seats_per_row,
                              int len, struct bestseat_block *best)
{
	int64_t dr = bestseat_row_distance(row, rows);
	int run = 0;

	for (int i = 0; i < seats_per_row; i++) {
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
	for (int r = 0; r < rows; r++)
		bestseat_scan_row(bestseat_row(free_grid, r, seats_per_row), r, rows, seats_per_row,
		                  count, &best);
	if (best.found) {
		bestseat_write_block(&best, count, out);
		return 0;
	}
	if (!allow_split)
		return -1;
	return bestseat_split(free_grid, rows, seats_per_row, count, out);
}
