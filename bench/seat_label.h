/* seat_label.h - seat labels of the bench clients (sse_fanout.c,
 * onsale.c): seat i of a show of per_row seats a row, rows A..Z, AA..ZZ
 * (API.md), numbered from 1. Header only: each client is one file. */
#ifndef BOXOFFICE_BENCH_SEAT_LABEL_H
#define BOXOFFICE_BENCH_SEAT_LABEL_H

#include <stdio.h>

enum { SEAT_LABEL_MAX = 16 };

/* The label of seat idx. */
static inline void seat_label_of(int idx, int per_row, char out[SEAT_LABEL_MAX])
{
	int r = idx / per_row, n = idx % per_row + 1;
	if (r < 26)
		snprintf(out, SEAT_LABEL_MAX, "%c%d", 'A' + r, n);
	else
		snprintf(out, SEAT_LABEL_MAX, "%c%c%d", 'A' + (r - 26) / 26, 'A' + (r - 26) % 26, n);
}

/* The index of the label p[0..len), or -1 outside rows x per_row. */
static inline int seat_index_of(const char *p, size_t len, int rows, int per_row)
{
	size_t i = 0;
	int r, n = 0;

	while (i < len && p[i] >= 'A' && p[i] <= 'Z')
		i++;
	if (i == 1)
		r = p[0] - 'A';
	else if (i == 2)
		r = 26 + (p[0] - 'A') * 26 + (p[1] - 'A');
	else
		return -1;
	for (; i < len; i++)
		n = n * 10 + (p[i] - '0');
	return r < rows && n >= 1 && n <= per_row ? r * per_row + n - 1 : -1;
}

#endif
