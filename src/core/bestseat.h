/* bestseat.h - choosing the best free seats for "hold-best".
 *
 * Pure function over a grid of free/taken flags. The best block is `count`
 * seats side by side in one row, closest to the centre of the screen
 * (middle rows, middle seats), and never leaves a single empty seat
 * stranded between taken seats (or a wall) when another choice exists.
 * With allow_split and no row holding `count` adjacent free seats at all,
 * scattered seats are taken instead: in as few rows as possible, nearest
 * the centre, still preferring seats next to each other. */
#ifndef BOXOFFICE_CORE_BESTSEAT_H
#define BOXOFFICE_CORE_BESTSEAT_H

#include <stdbool.h>

#include "core/seat.h"

/* free_grid[r * seats_per_row + (n - 1)] is nonzero when seat (r, n) is
 * free; row 0 (A) is the front row. On success writes count seats to out
 * (room for count) in natural order and returns 0. Returns -1, with out
 * unspecified, when no acceptable choice exists, when count is not in
 * 1..rows*seats_per_row, or when rows/seats_per_row are outside
 * 1..SEAT_ROWS_MAX / 1..SEAT_NUMBER_MAX. A block scores by the squared
 * distance of its centre from the screen's centre (a row counts as much
 * as a seat); a block stranding a single free seat loses to any block
 * that does not; remaining ties go to the front row, then the left.
 * Cost O(rows * seats_per_row), times the rows used in split mode. */
int bestseat_pick(const unsigned char *free_grid, int rows, int seats_per_row, int count,
                  bool allow_split, struct seat *out);

#endif
