/* fuzz_seat.c - seat labels (core/seat.c): any bytes either fail to parse
 * or parse to a seat in range whose label, formatted back, is the input
 * upper-cased and parses to the same seat. */
#include <ctype.h>
#include <string.h>

#include "core/seat.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seat s, again;
	char label[SEAT_LABEL_SIZE];

	if (seat_parse((const char *)data, size, &s) != 0)
		return 0;
	FUZZ_CHECK(s.row >= 0 && s.row < SEAT_ROWS_MAX);
	FUZZ_CHECK(s.number >= 1 && s.number <= SEAT_NUMBER_MAX);
	int n = seat_format(s, label);
	FUZZ_CHECK(n > 0 && (size_t)n == size && label[n] == '\0');
	for (size_t i = 0; i < size; i++)
		FUZZ_CHECK(label[i] == toupper(data[i]));
	FUZZ_CHECK(seat_parse(label, (size_t)n, &again) == 0);
	FUZZ_CHECK(seat_compare(&s, &again) == 0);
	return 0;
}
