/* seat.h - seat labels ("A1", "AA7"), their natural order, and the three
 * states a seat can be in.
 *
 * A seat is a (row, number) pair. Rows are 0-based indexes that print as
 * A..Z, then AA..ZZ (702 rows in all); numbers are 1-based. Parsing is
 * case-insensitive, formatting is upper case, and ordering is row first,
 * then number, so A2 sorts before A10 and Z9 before AA1. */
#ifndef BOXOFFICE_CORE_SEAT_H
#define BOXOFFICE_CORE_SEAT_H

#include <stddef.h>
#include <stdint.h>

enum {
	SEAT_ROWS_MAX = 702,   /* A..Z then AA..ZZ */
	SEAT_NUMBER_MAX = 999, /* seats per row */
	SEAT_LABEL_SIZE = 8,   /* "ZZ999" plus NUL, rounded up */
};

struct seat {
	int row;    /* 0..SEAT_ROWS_MAX-1 */
	int number; /* 1..SEAT_NUMBER_MAX */
};

/* A seat's state as stored. A HELD seat whose hold has expired counts as
 * AVAILABLE (core/holdrule.h). Adding a state: here, seat_status_names in
 * seat.c, the CHECK of seats.status in both schemas (sql/), and the rules
 * that move seats into and out of it. */
enum seat_status { SEAT_AVAILABLE, SEAT_HELD, SEAT_BOOKED, SEAT_STATUS_COUNT };

/* The upper-case name as stored and sent ("AVAILABLE", "HELD", "BOOKED"). */
const char *seat_status_name(enum seat_status s);
/* Returns 0 and the state for its upper-case name, else -1. */
int seat_status_parse(const char *name, enum seat_status *out);

/* Parses a label of exactly len bytes. Returns 0, or -1 when it is not a
 * well-formed label (no leading zeros, no spaces, no signs). */
int seat_parse(const char *s, size_t len, struct seat *out);

/* Writes the upper-case label and its NUL; returns its length. */
int seat_format(struct seat s, char buf[SEAT_LABEL_SIZE]);

/* Row letters of a 0-based row index; returns the length written. */
int seat_row_format(int row, char buf[4]);

int seat_compare(const struct seat *a, const struct seat *b);
void seat_sort(struct seat *seats, size_t n);

/* Returns 1 when the sorted array holds a seat twice. */
int seat_has_duplicates(const struct seat *sorted, size_t n);

#endif
