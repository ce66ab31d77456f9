/* timefmt.h - times as int64 milliseconds since the epoch, UTC.
 *
 * The wire format is RFC 3339 with milliseconds and a Z:
 * "2026-11-25T19:30:00.000Z". Parsing also accepts a numeric offset
 * ("+01:00") and missing fractional seconds. */
#ifndef BOXOFFICE_CORE_TIMEFMT_H
#define BOXOFFICE_CORE_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

enum { TIMEFMT_SIZE = 32 };

/* The real clock, in ms since the epoch. */
int64_t timefmt_now_ms(void);

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ"; returns its length. */
int timefmt_format(int64_t ms, char buf[TIMEFMT_SIZE]);

/* Returns 0 and the instant, or -1 when s is not an RFC 3339 date-time. */
int timefmt_parse(const char *s, int64_t *ms_out);

/* Parses "YYYY-MM-DD" (a real calendar date); returns 0 or -1. */
int timefmt_parse_date(const char *s, int *y, int *m, int *d);

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
int64_t timefmt_days_from_civil(int y, int m, int d);

#endif
