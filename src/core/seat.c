/* seat.c - seat label parsing, formatting and ordering; seat state names. */
#include "core/seat.h"

#include <stdlib.h>
#include <string.h>

static const char *const seat_status_names[SEAT_STATUS_COUNT] = {
    [SEAT_AVAILABLE] = "AVAILABLE",
    [SEAT_HELD] = "HELD",
    [SEAT_BOOKED] = "BOOKED",
};

const char *seat_status_name(enum seat_status s)
{
	if ((unsigned)s >= SEAT_STATUS_COUNT)
		return "UNKNOWN";
	return seat_status_names[s];
}

int seat_status_parse(const char *name, enum seat_status *out)
{
	for (int i = 0; i < SEAT_STATUS_COUNT; i++) {
		if (strcmp(name, seat_status_names[i]) == 0) {
			*out = (enum seat_status)i;
			return 0;
		}
	}
	return -1;
}

static int seat_letter(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	return -1;
}

int seat_parse(const char *s, size_t len, struct seat *out)
{
	size_t i = 0;
	int row = -1, number = 0;

	if (len < 2)
		return -1;
	/* One or two row letters. */
	int l0 = seat_letter(s[0]);
	if (l0 < 0)
		return -1;
	i = 1;
	int l1 = seat_letter(s[1]);
	if (l1 >= 0) {
		row = 26 + l0 * 26 + l1;
		i = 2;
	} else {
		row = l0;
	}
	if (i >= len || s[i] < '1' || s[i] > '9')
		return -1; /* a number must follow, without leading zero */
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		number = number * 10 + (s[i] - '0');
		if (number > SEAT_NUMBER_MAX)
			return -1;
	}
	out->row = row;
	out->number = number;
	return 0;
}

int seat_row_format(int row, char buf[4])
{
	if (row < 26) {
		buf[0] = (char)('A' + row);
		buf[1] = '\0';
		return 1;
	}
	row -= 26;
	buf[0] = (char)('A' + row / 26);
	buf[1] = (char)('A' + row % 26);
	buf[2] = '\0';
	return 2;
}

int seat_format(struct seat s, char buf[SEAT_LABEL_SIZE])
{
	int n = seat_row_format(s.row, buf);
	char digits[4];
	int d = 0, v = s.number;

	do {
		digits[d++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0 && d < 3);
	while (d > 0)
		buf[n++] = digits[--d];
	buf[n] = '\0';
	return n;
}

int seat_compare(const struct seat *a, const struct seat *b)
{
	if (a->row != b->row)
		return a->row < b->row ? -1 : 1;
	if (a->number != b->number)
		return a->number < b->number ? -1 : 1;
	return 0;
}

static int seat_qsort_cmp(const void *a, const void *b)
{
	return seat_compare(a, b);
}

void seat_sort(struct seat *seats, size_t n)
{
	if (n > 1)
		qsort(seats, n, sizeof(*seats), seat_qsort_cmp);
}

int seat_has_duplicates(const struct seat *sorted, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (seat_compare(&sorted[i - 1], &sorted[i]) == 0)
			return 1;
	return 0;
}
