/* seat_text.h - seat lists as text for the C test suites' messages. */
#ifndef BOXOFFICE_TESTS_SEAT_TEXT_H
#define BOXOFFICE_TESTS_SEAT_TEXT_H

#include <stdio.h>

#include "core/seat.h"

/* Writes "A1 B2 ..." (a "?" for a seat out of range) into buf. */
static inline void test_seats_text(const struct seat *s, int n, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		char label[SEAT_LABEL_SIZE];
		if (s[i].row < 0 || s[i].row >= SEAT_ROWS_MAX || s[i].number < 1 ||
		    s[i].number > SEAT_NUMBER_MAX)
			snprintf(label, sizeof(label), "?");
		else
			seat_format(s[i], label);
		int k = snprintf(buf + used, size - used, "%s%s", i ? " " : "", label);
		if (k < 0 || (size_t)k >= size - used)
			return;
		used += (size_t)k;
	}
}

#endif
