/* test_core.c - unit tests for everything in src/core.
 *
 * Pure functions only: seat labels, bookings and references, times,
 * number parsing, outcome names and the hold-best seat picker. Expected
 * values are worked out by hand or by an independent brute force in the
 * test, never copied from the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>

#include "core/bestseat.h"
#include "core/booking.h"
#include "core/holdrule.h"
#include "core/num.h"
#include "core/outcome.h"
#include "core/seat.h"
#include "core/timefmt.h"

enum {
	TEST_REFS = 10000,
	TEST_GRID_MAX = 64 * 64,
	TEST_OUT_MAX = 128,
	TEST_LIST_SIZE = 1024,
};

static const char test_ref_alphabet[] = "23456789ABCDEFGHJKMNPQRSTVWXYZ";

/* 2026-11-25T19:30:00.000Z, from Python's calendar.timegm. */
static const int64_t test_show_ms = INT64_C(1795635000000);

/* A small deterministic generator, so every run sees the same cases. */
static uint32_t test_rand(uint64_t *state)
{
	*state = *state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	return (uint32_t)(*state >> 33);
}

/* ---- seat.c ---- */

static struct seat test_seat(const char *label)
{
	struct seat s = {-1, -1};

	assert_int_equal(seat_parse(label, strlen(label), &s), 0);
	return s;
}

static void test_assert_parses(const char *label, int row, int number)
{
	struct seat s = {-1, -1};

	if (seat_parse(label, strlen(label), &s) != 0)
		fail_msg("\"%s\" did not parse", label);
	if (s.row != row || s.number != number)
		fail_msg("\"%s\" parsed as (%d,%d), want (%d,%d)", label, s.row, s.number, row,
		         number);
}

static void test_seat_parse_valid(void **state)
{
	(void)state;
	test_assert_parses("A1", 0, 1);
	test_assert_parses("a1", 0, 1);
	test_assert_parses("B12", 1, 12);
	test_assert_parses("A10", 0, 10);
	test_assert_parses("Z26", 25, 26);
	test_assert_parses("AA7", 26, 7);
	test_assert_parses("aa7", 26, 7);
	test_assert_parses("aB7", 27, 7);
	test_assert_parses("AZ1", 51, 1);
	test_assert_parses("BA1", 52, 1);
	test_assert_parses("ZZ999", 701, 999);
	test_assert_parses("zz999", 701, 999);
}

static void test_seat_parse_invalid(void **state)
{
	static const char *const bad[] = {
	    "",    "A",   "1A", "A0", "A01",  "A1000", "AAA1", "A-1", "A 1", "A1x", " A1",  "A1 ",
	    "+A1", "A+1", "1",  "AA", "A1.5", "A1A",   "@1",   "[1",  "`1",  "{1",  "A\t1", "A9999",
	};
	struct seat s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (seat_parse(bad[i], strlen(bad[i]), &s) == 0)
			fail_msg("\"%s\" parsed as (%d,%d) but is not a seat label", bad[i], s.row,
			         s.number);
}

static void test_seat_parse_uses_only_len_bytes(void **state)
{
	const char unterminated[2] = {'B', '7'};
	struct seat s = {-1, -1};

	(void)state;
	assert_int_equal(seat_parse(unterminated, sizeof(unterminated), &s), 0);
	assert_int_equal(s.row, 1);
	assert_int_equal(s.number, 7);
	assert_int_equal(seat_parse("A12", 2, &s), 0);
	assert_int_equal(s.row, 0);
	assert_int_equal(s.number, 1);
	assert_int_equal(seat_parse("A1x", 3, &s), -1);
	assert_int_equal(seat_parse("A1", 0, &s), -1);
}

static void test_seat_format_known(void **state)
{
	char buf[SEAT_LABEL_SIZE];
	char row[4];

	(void)state;
	assert_int_equal(seat_format((struct seat){0, 1}, buf), 2);
	assert_string_equal(buf, "A1");
	assert_int_equal(seat_format((struct seat){1, 10}, buf), 3);
	assert_string_equal(buf, "B10");
	assert_int_equal(seat_format((struct seat){26, 7}, buf), 3);
	assert_string_equal(buf, "AA7");
	assert_int_equal(seat_format((struct seat){701, 999}, buf), 5);
	assert_string_equal(buf, "ZZ999");
	assert_int_equal(seat_row_format(25, row), 1);
	assert_string_equal(row, "Z");
	assert_int_equal(seat_row_format(51, row), 2);
	assert_string_equal(row, "AZ");
	assert_int_equal(seat_row_format(52, row), 2);
	assert_string_equal(row, "BA");
}

/* Rows enumerated independently: A..Z, then AA..AZ, BA..ZZ. */
static void test_seat_round_trip_every_row(void **state)
{
	static const int numbers[] = {1, 2, 9, 10, 11, 99, 100, 101, 999};
	char names[SEAT_ROWS_MAX][3];
	int n = 0;

	(void)state;
	for (char a = 'A'; a <= 'Z'; a++, n++) {
		names[n][0] = a;
		names[n][1] = '\0';
	}
	for (char a = 'A'; a <= 'Z'; a++)
		for (char b = 'A'; b <= 'Z'; b++, n++) {
			names[n][0] = a;
			names[n][1] = b;
			names[n][2] = '\0';
		}
	assert_int_equal(n, SEAT_ROWS_MAX);

	for (int row = 0; row < SEAT_ROWS_MAX; row++) {
		char rowbuf[4];

		assert_int_equal(seat_row_format(row, rowbuf), (int)strlen(names[row]));
		assert_string_equal(rowbuf, names[row]);
		for (size_t k = 0; k < sizeof(numbers) / sizeof(numbers[0]); k++) {
			struct seat in = {row, numbers[k]}, out = {-1, -1};
			char buf[SEAT_LABEL_SIZE], want[16], lower[16];
			int len = seat_format(in, buf);

			snprintf(want, sizeof(want), "%s%d", names[row], numbers[k]);
			assert_string_equal(buf, want);
			assert_int_equal(len, (int)strlen(want));
			assert_int_equal(seat_parse(buf, (size_t)len, &out), 0);
			assert_int_equal(out.row, row);
			assert_int_equal(out.number, numbers[k]);
			for (int i = 0; i <= len; i++)
				lower[i] = (char)tolower((unsigned char)buf[i]);
			out = (struct seat){-1, -1};
			assert_int_equal(seat_parse(lower, (size_t)len, &out), 0);
			assert_int_equal(out.row, row);
			assert_int_equal(out.number, numbers[k]);
		}
	}
}

static void test_seat_compare_natural(void **state)
{
	static const char *const ascending[] = {"A1", "A2",  "A10",   "A99", "A100", "B1",
	                                        "Z9", "AA1", "AZ999", "BA1", "ZZ999"};
	const size_t n = sizeof(ascending) / sizeof(ascending[0]);

	(void)state;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			struct seat a = test_seat(ascending[i]), b = test_seat(ascending[j]);
			int want = i < j ? -1 : i > j ? 1 : 0;
			int got = seat_compare(&a, &b);

			if ((got > 0) - (got < 0) != want)
				fail_msg("compare(%s,%s) = %d, want sign %d", ascending[i],
				         ascending[j], got, want);
		}
}

static void test_seat_sort_natural(void **state)
{
	static const char *const input[] = {"B1", "A10", "aa1", "A2",  "Z9",
	                                    "a1", "AB3", "z10", "A100"};
	static const char *const sorted[] = {"A1", "A2",  "A10", "A100", "B1",
	                                     "Z9", "Z10", "AA1", "AB3"};
	const size_t n = sizeof(input) / sizeof(input[0]);
	struct seat seats[sizeof(input) / sizeof(input[0])];

	(void)state;
	for (size_t i = 0; i < n; i++)
		seats[i] = test_seat(input[i]);
	seat_sort(seats, n);
	for (size_t i = 0; i < n; i++) {
		char buf[SEAT_LABEL_SIZE];

		seat_format(seats[i], buf);
		assert_string_equal(buf, sorted[i]);
	}
	seat_sort(seats, 0);
	seat_sort(seats, 1);
	assert_int_equal(seats[0].row, 0);
	assert_int_equal(seats[0].number, 1);
}

static void test_seat_duplicates(void **state)
{
	struct seat seats[4] = {{0, 0}};

	(void)state;
	assert_int_equal(seat_has_duplicates(seats, 0), 0);
	seats[0] = test_seat("A1");
	assert_int_equal(seat_has_duplicates(seats, 1), 0);
	seats[1] = test_seat("A10");
	seats[2] = test_seat("a1");
	seats[3] = test_seat("B1");
	seat_sort(seats, 4);
	assert_int_equal(seat_has_duplicates(seats, 4), 1);
	seats[0] = test_seat("A1");
	seats[1] = test_seat("A2");
	seats[2] = test_seat("A10");
	seats[3] = test_seat("AA1");
	assert_int_equal(seat_has_duplicates(seats, 4), 0);
	seats[3] = test_seat("a10");
	assert_int_equal(seat_has_duplicates(seats, 4), 1);
}

/* ---- booking.c ---- */

static void test_booking_status_names(void **state)
{
	static const struct {
		enum booking_status status;
		const char *name;
	} cases[] = {
	    {BOOKING_STAGED, "STAGED"},
	    {BOOKING_CONFIRMED, "CONFIRMED"},
	    {BOOKING_CANCELLED, "CANCELLED"},
	    {BOOKING_EXPIRED, "EXPIRED"},
	};
	static const char *const bad[] = {"",        "staged",   "Staged", "STAGED ",
	                                  "PENDING", "CANCELED", "EXPIRE"};
	enum booking_status s;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(booking_status_name(cases[i].status), cases[i].name);
		s = (enum booking_status) - 1;
		assert_int_equal(booking_status_parse(cases[i].name, &s), 0);
		assert_int_equal(s, cases[i].status);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (booking_status_parse(bad[i], &s) == 0)
			fail_msg("status \"%s\" should not parse", bad[i]);
}

/* A fake random source: a script of bytes, then pad, failing from a
 * given call on (0: never). */
struct test_rng {
	const unsigned char *script;
	size_t script_len;
	size_t pos;
	unsigned char pad;
	int calls;
	int fail_from_call;
};

static int test_rng_fill(void *arg, void *buf, size_t len)
{
	struct test_rng *r = arg;
	unsigned char *out = buf;

	r->calls++;
	if (r->fail_from_call > 0 && r->calls >= r->fail_from_call)
		return -1;
	for (size_t i = 0; i < len; i++)
		out[i] = r->pos < r->script_len ? r->script[r->pos++] : r->pad;
	return 0;
}

static int test_getrandom(void *arg, void *buf, size_t len)
{
	unsigned char *p = buf;

	(void)arg;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void test_booking_ref_fixed_source(void **state)
{
	/* 255 and 240 fall in the rejected tail (30 * 8 = 240); the rest map
	 * to the alphabet by value mod 30: 0->2 29->Z 30->2 239->Z 100->C. */
	static const unsigned char script[] = {255, 240, 0, 29, 30, 239, 100, 1, 2, 3};
	struct test_rng rng = {script, sizeof(script), 0, 0, 0, 0};
	char ref[BOOKING_REF_SIZE];

	(void)state;
	memset(ref, '#', sizeof(ref));
	assert_int_equal(booking_ref_new(test_rng_fill, &rng, ref), 0);
	assert_string_equal(ref, "BX-2Z2ZC345");
	assert_int_equal(booking_ref_valid(ref), 1);
}

static void test_booking_ref_refills_after_rejections(void **state)
{
	unsigned char script[40];
	char ref[BOOKING_REF_SIZE];

	(void)state;
	/* The first 32 bytes are all rejected; whatever the chunk size, the
	 * symbols must come from the later bytes 0..7. */
	memset(script, 250, 32);
	for (int i = 0; i < 8; i++)
		script[32 + i] = (unsigned char)i;
	struct test_rng rng = {script, sizeof(script), 0, 0, 0, 0};
	assert_int_equal(booking_ref_new(test_rng_fill, &rng, ref), 0);
	assert_string_equal(ref, "BX-23456789");
	assert_true(rng.calls >= 2);
}

static void test_booking_ref_source_failure(void **state)
{
	unsigned char script[32];
	struct test_rng first = {NULL, 0, 0, 0, 0, 1};
	struct test_rng later = {script, sizeof(script), 0, 250, 0, 2};
	char ref[BOOKING_REF_SIZE];

	(void)state;
	assert_int_equal(booking_ref_new(test_rng_fill, &first, ref), -1);
	memset(script, 250, sizeof(script)); /* all rejected: must ask again */
	assert_int_equal(booking_ref_new(test_rng_fill, &later, ref), -1);
	assert_int_equal(later.calls, 2);
}

static int test_ref_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_booking_ref_getrandom_unique(void **state)
{
	char(*refs)[BOOKING_REF_SIZE] = calloc(TEST_REFS, sizeof(*refs));
	long hits[sizeof(test_ref_alphabet) - 1] = {0};
	const long symbols = (long)TEST_REFS * BOOKING_REF_SYMBOLS;
	const long expected = symbols / (long)(sizeof(test_ref_alphabet) - 1);

	(void)state;
	assert_non_null(refs);
	for (int i = 0; i < TEST_REFS; i++) {
		assert_int_equal(booking_ref_new(test_getrandom, NULL, refs[i]), 0);
		assert_int_equal(strlen(refs[i]), 3 + BOOKING_REF_SYMBOLS);
		assert_memory_equal(refs[i], "BX-", 3);
		for (int k = 3; k < 3 + BOOKING_REF_SYMBOLS; k++) {
			const char *p = strchr(test_ref_alphabet, refs[i][k]);

			if (refs[i][k] == '\0' || p == NULL)
				fail_msg("reference %s holds symbol '%c'", refs[i], refs[i][k]);
			else
				hits[p - test_ref_alphabet]++;
		}
		assert_int_equal(booking_ref_valid(refs[i]), 1);
	}
	qsort(refs, TEST_REFS, sizeof(*refs), test_ref_cmp);
	for (int i = 1; i < TEST_REFS; i++)
		if (strcmp(refs[i - 1], refs[i]) == 0)
			fail_msg("reference %s drawn twice", refs[i]);
	/* Each symbol is expected ~2667 times (sd ~51); a bias toward some
	 * symbols, or a missing one, lands far outside +-600. */
	for (size_t k = 0; k < sizeof(hits) / sizeof(hits[0]); k++)
		if (hits[k] < expected - 600 || hits[k] > expected + 600)
			fail_msg("symbol '%c' drawn %ld times, expected about %ld",
			         test_ref_alphabet[k], hits[k], expected);
	free(refs);
}

static void test_booking_ref_valid(void **state)
{
	static const char *const good[] = {"BX-7K3Q9X2A", "bx-7k3q9x2a", "Bx-22222222",
	                                   "BX-ZZZZZZZZ", "BX-23456789"};
	static const char *const bad[] = {
	    "",
	    "BX-",
	    "BX-7K3Q9X2",
	    "BX-7K3Q9X2AB",
	    "BX_7K3Q9X2A",
	    "XB-7K3Q9X2A",
	    "BY-7K3Q9X2A",
	    "BX-0K3Q9X2A",
	    "BX-OK3Q9X2A",
	    "BX-1K3Q9X2A",
	    "BX-IK3Q9X2A",
	    "BX-LK3Q9X2A",
	    "BX-UK3Q9X2A",
	    "BX-uk3q9x2a",
	    "BX-7K3Q9X2 ",
	    " BX-7K3Q9X2",
	    "BX-7K3Q-X2A",
	    "BX 7K3Q9X2A",
	    "BX-7K3Q9X2A\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (booking_ref_valid(good[i]) != 1)
			fail_msg("\"%s\" should be a valid reference", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (booking_ref_valid(bad[i]) != 0)
			fail_msg("\"%s\" should not be a valid reference", bad[i]);
}

static void test_booking_username(void **state)
{
	static const char *const good[] = {"a",
	                                   "Z",
	                                   "0",
	                                   ".",
	                                   "_",
	                                   "@",
	                                   "-",
	                                   "alice",
	                                   "Bob.Smith",
	                                   "first_last",
	                                   "me@example.com",
	                                   "x-y",
	                                   "a.b_c@d-e",
	                                   "..__@@--"};
	static const char *const bad[] = {"",    " ",  "a b",   "a\tb", "a+b",         "a/b",
	                                  "a:b", "a!", "\"a\"", "a,b",  "caf\xc3\xa9", "a\nb",
	                                  "#x",  "a~", "(a)",   "a=b",  "a%20"};
	char name[USERNAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (booking_username_valid(good[i]) != 1)
			fail_msg("\"%s\" should be a valid username", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (booking_username_valid(bad[i]) != 0)
			fail_msg("\"%s\" should not be a valid username", bad[i]);

	memset(name, 'u', USERNAME_MAX);
	name[USERNAME_MAX] = '\0';
	assert_int_equal(strlen(name), 64);
	assert_int_equal(booking_username_valid(name), 1);
	name[USERNAME_MAX - 1] = '@';
	assert_int_equal(booking_username_valid(name), 1);
	name[USERNAME_MAX] = 'u';
	name[USERNAME_MAX + 1] = '\0';
	assert_int_equal(strlen(name), 65);
	assert_int_equal(booking_username_valid(name), 0);
}

/* ---- timefmt.c ---- */

static void test_assert_formats(int64_t ms, const char *want)
{
	char buf[TIMEFMT_SIZE];
	int len = timefmt_format(ms, buf);

	assert_string_equal(buf, want);
	assert_int_equal(len, (int)strlen(want));
}

static void test_timefmt_format_known(void **state)
{
	(void)state;
	test_assert_formats(0, "1970-01-01T00:00:00.000Z");
	test_assert_formats(1, "1970-01-01T00:00:00.001Z");
	test_assert_formats(86399999, "1970-01-01T23:59:59.999Z");
	test_assert_formats(86400000, "1970-01-02T00:00:00.000Z");
	test_assert_formats(test_show_ms, "2026-11-25T19:30:00.000Z");
	test_assert_formats(test_show_ms + 7, "2026-11-25T19:30:00.007Z");
	test_assert_formats(INT64_C(1709208000000), "2024-02-29T12:00:00.000Z");
	test_assert_formats(INT64_C(253402300799999), "9999-12-31T23:59:59.999Z");
	test_assert_formats(-1, "1969-12-31T23:59:59.999Z");
}

static void test_assert_time(const char *s, int64_t want)
{
	int64_t got = -12345;

	if (timefmt_parse(s, &got) != 0)
		fail_msg("\"%s\" did not parse", s);
	if (got != want)
		fail_msg("\"%s\" parsed as %lld, want %lld", s, (long long)got, (long long)want);
}

static void test_timefmt_parse_valid(void **state)
{
	(void)state;
	test_assert_time("1970-01-01T00:00:00.000Z", 0);
	test_assert_time("1970-01-01T00:00:00Z", 0);
	test_assert_time("2026-11-25T19:30:00.000Z", test_show_ms);
	test_assert_time("2026-11-25T19:30:00Z", test_show_ms);
	test_assert_time("2026-11-25t19:30:00z", test_show_ms);
	test_assert_time("2026-11-25T19:30:00.5Z", test_show_ms + 500);
	test_assert_time("2026-11-25T19:30:00.05Z", test_show_ms + 50);
	test_assert_time("2026-11-25T19:30:00.123Z", test_show_ms + 123);
	test_assert_time("2026-11-25T19:30:00.123999999Z", test_show_ms + 123);
	test_assert_time("2024-02-29T12:00:00.000Z", INT64_C(1709208000000));
	test_assert_time("9999-12-31T23:59:59.999Z", INT64_C(253402300799999));
}

static void test_timefmt_parse_offsets(void **state)
{
	(void)state;
	test_assert_time("2026-11-25T19:30:00+00:00", test_show_ms);
	test_assert_time("2026-11-25T19:30:00-00:00", test_show_ms);
	test_assert_time("2026-11-25T20:30:00.000+01:00", test_show_ms);
	test_assert_time("2026-11-25T14:30:00.000-05:00", test_show_ms);
	test_assert_time("2026-11-26T01:00:00+05:30", test_show_ms);
	test_assert_time("2026-11-25T09:15:00.250-10:15", test_show_ms + 250);
	test_assert_time("1970-01-01T01:00:00+01:00", 0);
}

static void test_timefmt_parse_invalid(void **state)
{
	static const char *const bad[] = {
	    "",
	    "2026-11-25",
	    "2026-11-25T19:30:00",
	    "2026-11-25T19:30:00.000",
	    "2026-11-25T19:30Z",
	    "2026-11-25T19:30:00.Z",
	    "2026-11-25T19:30:00,000Z",
	    "2026-11-25T19:30:00+0100",
	    "2026-11-25T19:30:00+01",
	    "2026-11-25T19:30:00+01:00x",
	    "2026-11-25T19:30:00+24:00",
	    "2026-11-25T19:30:00+01:60",
	    "2026-11-25T19:30:00Zjunk",
	    "2026-11-25T19:30:00.000ZZ",
	    "2026-11-25X19:30:00Z",
	    "2026/11/25T19:30:00Z",
	    " 2026-11-25T19:30:00Z",
	    "2026-11-25T24:00:00Z",
	    "2026-11-25T19:60:00Z",
	    "2026-11-25T19:30:60Z",
	    "2026-11-25T1a:30:00Z",
	    "2026-11-25T19-30-00Z",
	    "2026-02-30T00:00:00Z",
	    "2026-04-31T00:00:00Z",
	    "2026-13-01T00:00:00Z",
	    "2026-00-10T00:00:00Z",
	    "2026-11-00T00:00:00Z",
	    "2023-02-29T00:00:00Z",
	    "2100-02-29T00:00:00Z",
	    "26-11-25T19:30:00.000Z",
	    "2026-11-25T19:30:00.000 Z",
	    "nonsense that is long enough",
	};
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (timefmt_parse(bad[i], &ms) == 0)
			fail_msg("\"%s\" parsed as %lld but is not RFC 3339", bad[i],
			         (long long)ms);
}

static void test_timefmt_parse_date(void **state)
{
	static const struct {
		const char *s;
		int ok, y, m, d;
	} cases[] = {
	    {"2026-11-25", 1, 2026, 11, 25}, {"2024-02-29", 1, 2024, 2, 29},
	    {"2000-02-29", 1, 2000, 2, 29},  {"2400-02-29", 1, 2400, 2, 29},
	    {"2026-12-31", 1, 2026, 12, 31}, {"2026-01-01", 1, 2026, 1, 1},
	    {"2026-02-28", 1, 2026, 2, 28},  {"2023-02-29", 0, 0, 0, 0},
	    {"2100-02-29", 0, 0, 0, 0},      {"2026-02-30", 0, 0, 0, 0},
	    {"2026-04-31", 0, 0, 0, 0},      {"2026-06-31", 0, 0, 0, 0},
	    {"2026-13-01", 0, 0, 0, 0},      {"2026-00-01", 0, 0, 0, 0},
	    {"2026-01-00", 0, 0, 0, 0},      {"2026-01-32", 0, 0, 0, 0},
	    {"2026-1-01", 0, 0, 0, 0},       {"26-01-01", 0, 0, 0, 0},
	    {"2026/01/01", 0, 0, 0, 0},      {"", 0, 0, 0, 0},
	    {"2026-0a-01", 0, 0, 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int y = -1, m = -1, d = -1;
		int rc = timefmt_parse_date(cases[i].s, &y, &m, &d);

		if (cases[i].ok) {
			if (rc != 0 || y != cases[i].y || m != cases[i].m || d != cases[i].d)
				fail_msg("\"%s\": rc %d, %d-%d-%d", cases[i].s, rc, y, m, d);
		} else if (rc == 0) {
			fail_msg("\"%s\" should not be a date", cases[i].s);
		}
	}
}

/* The header promises "YYYY-MM-DD"; lastShowDate is validated with it. */
static void test_timefmt_parse_date_rejects_trailing_text(void **state)
{
	static const char *const bad[] = {"2026-11-25T00:00:00Z", "2026-11-25x", "2026-11-25 ",
	                                  "2026-11-250"};
	int y, m, d;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (timefmt_parse_date(bad[i], &y, &m, &d) == 0)
			fail_msg("\"%s\" accepted as a YYYY-MM-DD date", bad[i]);
}

static void test_timefmt_days_from_civil(void **state)
{
	(void)state;
	assert_int_equal(timefmt_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(timefmt_days_from_civil(1970, 1, 2), 1);
	assert_int_equal(timefmt_days_from_civil(1969, 12, 31), -1);
	assert_int_equal(timefmt_days_from_civil(2000, 1, 1), 10957);
	assert_int_equal(timefmt_days_from_civil(2024, 2, 29), 19782);
	assert_int_equal(timefmt_days_from_civil(2024, 3, 1), 19783);
	assert_int_equal(timefmt_days_from_civil(2026, 11, 25), 20782);
}

static void test_timefmt_round_trip(void **state)
{
	static const int64_t fixed[] = {0,
	                                1,
	                                999,
	                                1000,
	                                86399999,
	                                86400000,
	                                INT64_C(951782400000),
	                                INT64_C(1709164800000),
	                                INT64_C(1735689599999),
	                                INT64_C(253402300799999)};
	const int64_t max = INT64_C(253402300799999); /* 9999-12-31T23:59:59.999Z */
	uint64_t seed = 42;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		int64_t ms, back = -1;
		char buf[TIMEFMT_SIZE];

		if (i < (int)(sizeof(fixed) / sizeof(fixed[0])))
			ms = fixed[i];
		else
			ms = (int64_t)((((uint64_t)test_rand(&seed) << 32) | test_rand(&seed)) %
			               (uint64_t)(max + 1));
		assert_int_equal(timefmt_format(ms, buf), 24);
		if (timefmt_parse(buf, &back) != 0 || back != ms)
			fail_msg("%lld -> \"%s\" -> %lld", (long long)ms, buf, (long long)back);
	}
}

static void test_timefmt_now(void **state)
{
	int64_t before = (int64_t)time(NULL) * 1000;
	int64_t now = timefmt_now_ms();
	int64_t after = (int64_t)time(NULL) * 1000 + 1000;

	(void)state;
	assert_true(now >= before);
	assert_true(now <= after);
}

/* ---- num.c ---- */

static void test_num_parse_id(void **state)
{
	static const struct {
		const char *s;
		int64_t v;
	} good[] = {
	    {"1", 1},
	    {"7", 7},
	    {"10", 10},
	    {"123456789", 123456789},
	    {"9223372036854775806", INT64_MAX - 1},
	    {"9223372036854775807", INT64_MAX},
	};
	static const char *const bad[] = {
	    "0",
	    "00",
	    "01",
	    "-1",
	    "+1",
	    "9223372036854775808",
	    "9999999999999999999",
	    "10000000000000000000",
	    "",
	    "1a",
	    "a1",
	    " 1",
	    "1 ",
	    "1.0",
	    "1e3",
	    "0x10",
	    "18446744073709551617",
	};
	int64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		if (num_parse_id(good[i].s, strlen(good[i].s), &v) != 0 || v != good[i].v)
			fail_msg("\"%s\" -> %lld", good[i].s, (long long)v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (num_parse_id(bad[i], strlen(bad[i]), &v) == 0)
			fail_msg("\"%s\" accepted as id %lld", bad[i], (long long)v);
	/* Only len bytes count. */
	assert_int_equal(num_parse_id("12x", 2, &v), 0);
	assert_int_equal(v, 12);
	assert_int_equal(num_parse_id("12", 0, &v), -1);
}

static void test_num_parse_int(void **state)
{
	long v = -1;

	(void)state;
	assert_int_equal(num_parse_int("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(num_parse_int("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(num_parse_int("1", 1, 1, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(num_parse_int("101", 0, 100, &v), -1);
	assert_int_equal(num_parse_int("0", 1, 100, &v), -1);
	assert_int_equal(num_parse_int("", 0, 100, &v), -1);
	assert_int_equal(num_parse_int(NULL, 0, 100, &v), -1);
	assert_int_equal(num_parse_int("12x", 0, 100, &v), -1);
	assert_int_equal(num_parse_int("1.5", 0, 100, &v), -1);
	assert_int_equal(num_parse_int("99999999999999999999999", 0, 100, &v), -1);
	assert_int_equal(v, 1);
}

/* ---- outcome.c ---- */

static bool test_upper_snake(const char *s)
{
	if (s == NULL || *s < 'A' || *s > 'Z')
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '_') {
			if (p[1] < 'A' || p[1] > 'Z')
				return false;
		} else if (*p < 'A' || *p > 'Z') {
			return false;
		}
	}
	return true;
}

static void test_outcome_names(void **state)
{
	/* The codes of the API contract, tied to their values. */
	static const struct {
		enum outcome o;
		const char *name;
	} contract[] = {
	    {OUTCOME_INVALID_REQUEST, "INVALID_REQUEST"},
	    {OUTCOME_UNKNOWN_SEATS, "UNKNOWN_SEATS"},
	    {OUTCOME_SHOW_NOT_FOUND, "SHOW_NOT_FOUND"},
	    {OUTCOME_BOOKING_NOT_FOUND, "BOOKING_NOT_FOUND"},
	    {OUTCOME_MOVIE_NOT_FOUND, "MOVIE_NOT_FOUND"},
	    {OUTCOME_SCREEN_NOT_FOUND, "SCREEN_NOT_FOUND"},
	    {OUTCOME_SEATS_UNAVAILABLE, "SEATS_UNAVAILABLE"},
	    {OUTCOME_SEATS_NOT_HELD, "SEATS_NOT_HELD"},
	    {OUTCOME_SHOW_NOT_BOOKABLE, "SHOW_NOT_BOOKABLE"},
	    {OUTCOME_HOLD_LIMIT_EXCEEDED, "HOLD_LIMIT_EXCEEDED"},
	    {OUTCOME_BOOKING_NOT_CANCELLABLE, "BOOKING_NOT_CANCELLABLE"},
	    {OUTCOME_SCREEN_BUSY, "SCREEN_BUSY"},
	    {OUTCOME_UNAVAILABLE, "UNAVAILABLE"},
	};

	(void)state;
	for (int i = 0; i < OUTCOME_COUNT; i++) {
		const char *a = outcome_name((enum outcome)i);

		if (!test_upper_snake(a))
			fail_msg("outcome %d has name \"%s\"", i, a ? a : "(null)");
		for (int j = 0; j < i; j++)
			if (strcmp(a, outcome_name((enum outcome)j)) == 0)
				fail_msg("outcomes %d and %d share the name %s", j, i, a);
	}
	for (size_t i = 0; i < sizeof(contract) / sizeof(contract[0]); i++)
		assert_string_equal(outcome_name(contract[i].o), contract[i].name);
}

/* ---- bestseat.c ---- */

/* Fills g from one string per row, '.' free and 'x' taken; returns the
 * seats per row. */
static int test_grid(unsigned char *g, const char *const rows[], int nrows)
{
	int spr = (int)strlen(rows[0]);

	assert_true(nrows * spr <= TEST_GRID_MAX);
	for (int r = 0; r < nrows; r++) {
		assert_int_equal((int)strlen(rows[r]), spr);
		for (int i = 0; i < spr; i++) {
			assert_true(rows[r][i] == '.' || rows[r][i] == 'x');
			g[r * spr + i] = rows[r][i] == '.';
		}
	}
	return spr;
}

static void test_seat_list(const struct seat *seats, int n, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		char label[SEAT_LABEL_SIZE];

		seat_format(seats[i], label);
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? " " : "", label);
		assert_true(used < size);
	}
}

/* What every successful pick must satisfy, whatever the scoring. */
static void test_check_pick(const unsigned char *g, int rows, int spr, int count,
                            const struct seat *out)
{
	for (int i = 0; i < count; i++) {
		assert_true(out[i].row >= 0 && out[i].row < rows);
		assert_true(out[i].number >= 1 && out[i].number <= spr);
		if (!g[out[i].row * spr + out[i].number - 1])
			fail_msg("picked seat (%d,%d) is not free", out[i].row, out[i].number);
		if (i > 0 && seat_compare(&out[i - 1], &out[i]) >= 0)
			fail_msg("picked seats not in natural order or repeated at %d", i);
	}
}

/* expected: labels separated by single spaces, or NULL for -1. */
static void test_assert_pick(const char *const rows[], int nrows, int count, bool split,
                             const char *expected)
{
	unsigned char g[TEST_GRID_MAX];
	struct seat out[TEST_OUT_MAX];
	char got[TEST_LIST_SIZE];
	int spr = test_grid(g, rows, nrows);
	int rc;

	assert_true(count <= TEST_OUT_MAX);
	rc = bestseat_pick(g, nrows, spr, count, split, out);
	if (expected == NULL) {
		if (rc != -1) {
			test_seat_list(out, count, got, sizeof(got));
			fail_msg("count %d split %d: want -1, got %d [%s]", count, split, rc, got);
		}
		return;
	}
	if (rc != 0)
		fail_msg("count %d split %d: want [%s], got %d", count, split, expected, rc);
	test_check_pick(g, nrows, spr, count, out);
	test_seat_list(out, count, got, sizeof(got));
	if (strcmp(got, expected) != 0)
		fail_msg("count %d split %d: want [%s], got [%s]", count, split, expected, got);
}

static void test_bestseat_centre_of_empty_grid(void **state)
{
	static const char *const odd[] = {".........", ".........", ".........", ".........",
	                                  "........."};
	static const char *const even_rows[] = {"..........", "..........", "..........",
	                                        ".........."};

	(void)state;
	test_assert_pick(odd, 5, 3, false, "C4 C5 C6");
	test_assert_pick(odd, 5, 1, false, "C5");
	/* Two equally central blocks (seats 4-5, 5-6): the left one. */
	test_assert_pick(odd, 5, 2, false, "C4 C5");
	test_assert_pick(odd, 5, 9, false, "C1 C2 C3 C4 C5 C6 C7 C8 C9");
	/* Rows B and C are equally central: the front one. */
	test_assert_pick(even_rows, 4, 2, false, "B5 B6");
	test_assert_pick(even_rows, 4, 4, false, "B4 B5 B6 B7");
	/* allow_split changes nothing when a block exists. */
	test_assert_pick(odd, 5, 3, true, "C4 C5 C6");
}

static void test_bestseat_prefers_nearer_rows_and_seats(void **state)
{
	/* Middle row C is full; B and D tie, so B (front) wins. */
	static const char *const mid_full[] = {".......", ".......", "xxxxxxx", ".......",
	                                       "......."};
	/* C's only block is two seats off centre: the centred block one row
	 * forward is nearer. */
	static const char *const edge[] = {".......", ".......", "...xxxx", ".......", "......."};
	/* C's seats are two off centre, B4 and D4 one row off: B4, the front. */
	static const char *const hole[] = {"xxxxxxx", "xxx.xxx", "x.xxx.x", "xxx.xxx", "xxxxxxx"};
	/* One seat off in the middle row beats the centre two rows away. */
	static const char *const near[] = {".......", "xxxxxxx", "xx.xxxx", "xxxxxxx", "......."};

	(void)state;
	test_assert_pick(mid_full, 5, 3, false, "B3 B4 B5");
	test_assert_pick(edge, 5, 3, false, "B3 B4 B5");
	test_assert_pick(hole, 5, 1, false, "B4");
	test_assert_pick(near, 5, 1, false, "C3");
}

static void test_bestseat_avoids_single_gaps(void **state)
{
	/* The centre block 4-6 would strand seat 3 between it and taken seat
	 * 2; blocks 3-5 and 5-7 are as central and strand nothing. */
	static const char *const one[] = {".x......."};
	/* Every block of row B strands a seat at a wall; C's block 1-3 is
	 * flush against taken seat 4, so C wins over the central row. */
	static const char *const rows[] = {"....", "....", "...x"};
	/* Blocks of 2 in a row of 4: the middle pair would strand both ends. */
	static const char *const four[] = {"...."};
	/* A gap-free block far from the centre beats a central one with a gap. */
	static const char *const far[] = {"..xxxxxxx", "xxxx...xx", "xxxxxxxxx"};

	(void)state;
	test_assert_pick(one, 1, 3, false, "A3 A4 A5");
	test_assert_pick(rows, 3, 3, false, "C1 C2 C3");
	test_assert_pick(four, 1, 2, false, "A1 A2");
	test_assert_pick(far, 3, 2, false, "A1 A2");
}

static void test_bestseat_accepts_gap_when_nothing_else(void **state)
{
	static const char *const three[] = {"..."};
	static const char *const only[] = {"xxxxx", "x...x", "xxxxx"};

	(void)state;
	/* Both blocks of 2 strand a seat against a wall: the left one. */
	test_assert_pick(three, 1, 2, false, "A1 A2");
	test_assert_pick(only, 3, 2, false, "B2 B3");
}

static void test_bestseat_no_room(void **state)
{
	static const char *const pairs[] = {"..x..", "..x..", "x.x.x"};

	(void)state;
	test_assert_pick(pairs, 3, 3, false, NULL);
	test_assert_pick(pairs, 3, 2, false, "B1 B2");
}

static void test_bestseat_allow_split(void **state)
{
	static const char *const alt[] = {".x.x.", ".x.x.", ".x.x."};
	/* Row C has 2 scattered free seats, row E 3: E alone holds all 3. */
	static const char *const few_rows[] = {"xxxxxx", "xxxxxx", ".xxxx.", "xxxxxx", ".x.x.x"};
	/* B (4 scattered) is used up first; the last 2 come from A, as the
	 * adjacent pair A1-A2 rather than the more central A2 and A4. */
	static const char *const pair[] = {"..x.x.x", ".x.x.x.", "xxxxxxx"};
	/* Seats nearest the centre of the row; of two equally near, the left. */
	static const char *const wide[] = {".x.x.x.x.x."};

	(void)state;
	test_assert_pick(alt, 3, 2, false, NULL);
	test_assert_pick(alt, 3, 2, true, "B1 B3");
	test_assert_pick(alt, 3, 3, true, "B1 B3 B5");
	test_assert_pick(alt, 3, 5, true, "A1 A3 B1 B3 B5");
	test_assert_pick(alt, 3, 9, true, "A1 A3 A5 B1 B3 B5 C1 C3 C5");
	test_assert_pick(alt, 3, 10, true, NULL);
	test_assert_pick(few_rows, 5, 3, true, "E1 E3 E5");
	test_assert_pick(pair, 3, 6, true, "A1 A2 B1 B3 B5 B7");
	test_assert_pick(wide, 1, 3, true, "A3 A5 A7");
}

static void test_bestseat_count_limits(void **state)
{
	static const char *const small[] = {"...", "..."};
	unsigned char g[6] = {1, 1, 1, 1, 1, 1};
	struct seat out[8];

	(void)state;
	test_assert_pick(small, 2, 7, false, NULL);
	test_assert_pick(small, 2, 7, true, NULL);
	test_assert_pick(small, 2, 4, false, NULL);
	test_assert_pick(small, 2, 6, true, "A1 A2 A3 B1 B2 B3");
	test_assert_pick(small, 2, 3, false, "A1 A2 A3");
	assert_int_equal(bestseat_pick(g, 2, 3, 0, false, out), -1);
	assert_int_equal(bestseat_pick(g, 2, 3, 0, true, out), -1);
	assert_int_equal(bestseat_pick(g, 2, 3, -1, true, out), -1);
	assert_int_equal(bestseat_pick(g, 0, 3, 1, true, out), -1);
	assert_int_equal(bestseat_pick(g, 2, 0, 1, true, out), -1);
	assert_int_equal(bestseat_pick(NULL, 2, 3, 1, true, out), -1);
	assert_int_equal(bestseat_pick(g, 2, 3, 1, true, NULL), -1);
}

static void test_bestseat_tiny_and_full(void **state)
{
	static const char *const free1[] = {"."};
	static const char *const taken1[] = {"x"};
	static const char *const full[] = {"xxxx", "xxxx", "xxxx"};

	(void)state;
	test_assert_pick(free1, 1, 1, false, "A1");
	test_assert_pick(free1, 1, 1, true, "A1");
	test_assert_pick(free1, 1, 2, true, NULL);
	test_assert_pick(taken1, 1, 1, false, NULL);
	test_assert_pick(taken1, 1, 1, true, NULL);
	test_assert_pick(full, 3, 1, false, NULL);
	test_assert_pick(full, 3, 1, true, NULL);
	test_assert_pick(full, 3, 2, true, NULL);
}

static void test_bestseat_largest_screen(void **state)
{
	const int rows = SEAT_ROWS_MAX, spr = SEAT_NUMBER_MAX;
	unsigned char *g = calloc((size_t)rows * (size_t)spr, 1);
	struct seat out[4];
	char got[TEST_LIST_SIZE];

	(void)state;
	assert_non_null(g);
	g[(size_t)(rows - 1) * spr + spr - 1] = 1; /* only ZZ999 is free */
	assert_int_equal(bestseat_pick(g, rows, spr, 1, false, out), 0);
	test_seat_list(out, 1, got, sizeof(got));
	assert_string_equal(got, "ZZ999");
	assert_int_equal(bestseat_pick(g, rows, spr, 2, false, out), -1);
	g[0] = 1; /* and A1: the split takes both */
	assert_int_equal(bestseat_pick(g, rows, spr, 2, true, out), 0);
	test_seat_list(out, 2, got, sizeof(got));
	assert_string_equal(got, "A1 ZZ999");
	assert_int_equal(bestseat_pick(g, rows + 1, spr, 1, false, out), -1);
	assert_int_equal(bestseat_pick(g, rows, spr + 1, 1, false, out), -1);
	free(g);
}

/* Length of the run of free seats next to seat i, going in step dir. */
static int test_free_run(const unsigned char *row, int spr, int i, int dir)
{
	int n = 0;

	for (; i >= 0 && i < spr && row[i]; i += dir)
		n++;
	return n;
}

/* Brute force over random grids against the rules as stated: a block of
 * `count`; gap-free when any gap-free block exists; then the least
 * squared distance of its centre from the screen centre; then front row,
 * then left. In split mode: the fewest rows possible. */
static void test_bestseat_matches_brute_force(void **state)
{
	uint64_t seed = 7;

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		int rows = 1 + (int)(test_rand(&seed) % 8), spr = 1 + (int)(test_rand(&seed) % 12);
		int density = (int)(test_rand(&seed) % 100),
		    count = 1 + (int)(test_rand(&seed) % 6);
		bool split = test_rand(&seed) % 2;
		unsigned char g[8 * 12];
		struct seat out[8];
		int best_r = -1, best_s = -1, best_gap = 0, total = 0;
		double best_score = 0;

		for (int i = 0; i < rows * spr; i++) {
			g[i] = (int)(test_rand(&seed) % 100) >= density;
			total += g[i];
		}
		for (int r = 0; r < rows; r++) {
			const unsigned char *row = g + r * spr;

			for (int s = 0; s + count <= spr; s++) {
				if (test_free_run(row, spr, s, 1) < count)
					continue;
				int gap = test_free_run(row, spr, s - 1, -1) == 1 ||
				          test_free_run(row, spr, s + count, 1) == 1;
				double dr = r - (rows - 1) / 2.0,
				       dc = s + (count - 1) / 2.0 - (spr - 1) / 2.0;
				double score = dr * dr + dc * dc;

				if (best_r < 0 || gap < best_gap ||
				    (gap == best_gap && score < best_score)) {
					best_r = r;
					best_s = s;
					best_gap = gap;
					best_score = score;
				}
			}
		}

		int rc = bestseat_pick(g, rows, spr, count, split, out);

		if (best_r >= 0) {
			if (rc != 0)
				fail_msg("iter %d: a block exists but pick failed", iter);
			for (int i = 0; i < count; i++)
				if (out[i].row != best_r || out[i].number != best_s + 1 + i)
					fail_msg("iter %d: %dx%d count %d: seat %d is (%d,%d), "
					         "want row %d from %d",
					         iter, rows, spr, count, i, out[i].row,
					         out[i].number, best_r, best_s + 1);
			continue;
		}
		if (!split || total < count) {
			if (rc != -1)
				fail_msg("iter %d: no block (split %d, free %d, count %d) but pick "
				         "gave %d",
				         iter, split, total, count, rc);
			continue;
		}
		if (rc != 0)
			fail_msg("iter %d: split with %d free for %d failed", iter, total, count);
		test_check_pick(g, rows, spr, count, out);

		/* Fewest rows: take the fullest rows first. */
		int per_row[8], fewest = 0, sum = 0, used = 0;

		for (int r = 0; r < rows; r++) {
			per_row[r] = 0;
			for (int i = 0; i < spr; i++)
				per_row[r] += g[r * spr + i];
		}
		while (sum < count) {
			int top = 0;

			for (int r = 1; r < rows; r++)
				if (per_row[r] > per_row[top])
					top = r;
			sum += per_row[top];
			per_row[top] = -1;
			fewest++;
		}
		for (int i = 0; i < count; i++)
			used += i == 0 || out[i].row != out[i - 1].row;
		if (used != fewest)
			fail_msg("iter %d: split used %d rows, %d would do", iter, used, fewest);
	}
}

/* ---- core/holdrule ---- */

static void test_seat_status_names(void **state)
{
	enum seat_status st;

	(void)state;
	assert_string_equal(seat_status_name(SEAT_AVAILABLE), "AVAILABLE");
	assert_string_equal(seat_status_name(SEAT_HELD), "HELD");
	assert_string_equal(seat_status_name(SEAT_BOOKED), "BOOKED");
	assert_string_equal(seat_status_name(SEAT_STATUS_COUNT), "UNKNOWN");
	for (int i = 0; i < SEAT_STATUS_COUNT; i++) {
		assert_int_equal(seat_status_parse(seat_status_name((enum seat_status)i), &st), 0);
		assert_int_equal(st, i);
	}
	st = SEAT_BOOKED;
	assert_int_equal(seat_status_parse("held", &st), -1); /* upper case only */
	assert_int_equal(seat_status_parse("", &st), -1);
	assert_int_equal(seat_status_parse("UNKNOWN", &st), -1);
	assert_int_equal(st, SEAT_BOOKED); /* untouched on failure */
}

static void test_holdrule_expiry_and_cap(void **state)
{
	const int64_t ttl = 600000, life = 1200000, created = 1000000;

	(void)state;
	/* A new cart: now + ttl (the cap, created + life, lies further). */
	assert_int_equal(holdrule_expiry(created, created, ttl, life), created + ttl);
	/* A later hold moves it to now + ttl while that is under the cap. */
	assert_int_equal(holdrule_expiry(created, created + 100000, ttl, life),
	                 created + 100000 + ttl);
	/* Exactly at the cap, then capped. */
	assert_int_equal(holdrule_expiry(created, created + life - ttl, ttl, life), created + life);
	assert_int_equal(holdrule_expiry(created, created + life - ttl + 1, ttl, life),
	                 created + life);
	assert_int_equal(holdrule_expiry(created, created + 5 * life, ttl, life), created + life);
	/* ttl == life: every hold after the first is capped at once. */
	assert_int_equal(holdrule_expiry(created, created + 1, ttl, ttl), created + ttl);
}

static void test_holdrule_booking_status(void **state)
{
	const int64_t exp = 5000;

	(void)state;
	assert_int_equal(holdrule_booking_status(BOOKING_STAGED, exp, exp - 1), BOOKING_STAGED);
	/* Expired at the instant of its expiry, not after. */
	assert_int_equal(holdrule_booking_status(BOOKING_STAGED, exp, exp), BOOKING_EXPIRED);
	assert_int_equal(holdrule_booking_status(BOOKING_STAGED, exp, exp + 1), BOOKING_EXPIRED);
	/* Only a STAGED cart expires. */
	assert_int_equal(holdrule_booking_status(BOOKING_CONFIRMED, 0, exp), BOOKING_CONFIRMED);
	assert_int_equal(holdrule_booking_status(BOOKING_CANCELLED, 0, exp), BOOKING_CANCELLED);
	assert_int_equal(holdrule_booking_status(BOOKING_EXPIRED, exp, 0), BOOKING_EXPIRED);
}

static void test_holdrule_seat_status(void **state)
{
	const int64_t exp = 5000;

	(void)state;
	assert_int_equal(holdrule_seat_status(SEAT_HELD, exp, exp - 1), SEAT_HELD);
	assert_int_equal(holdrule_seat_status(SEAT_HELD, exp, exp), SEAT_AVAILABLE);
	assert_int_equal(holdrule_seat_status(SEAT_HELD, exp, exp + 1), SEAT_AVAILABLE);
	/* held_expiry means nothing for the other states. */
	assert_int_equal(holdrule_seat_status(SEAT_BOOKED, 0, exp), SEAT_BOOKED);
	assert_int_equal(holdrule_seat_status(SEAT_AVAILABLE, exp + 1, exp), SEAT_AVAILABLE);
}

static void test_holdrule_check_show_order(void **state)
{
	const struct holdrule_show live = {true, true, 10000, 3, 4}; /* A..C, 1..4 */
	struct holdrule_show sh;
	struct seat seats[3], bad[3];
	int nbad = 99;
	const unsigned all = HOLDRULE_CHECK_BOOKABLE | HOLDRULE_CHECK_SEATS;

	(void)state;
	/* Not found comes first, whatever else is wrong. */
	sh = live;
	sh.exists = false;
	sh.active = false;
	seats[0] = (struct seat){9, 9};
	assert_int_equal(holdrule_check_show(&sh, all, 20000, seats, 1, bad, &nbad),
	                 OUTCOME_SHOW_NOT_FOUND);
	assert_int_equal(nbad, 0);
	/* Then bookable: cancelled, or started (at its start time too). */
	sh = live;
	sh.active = false;
	assert_int_equal(holdrule_check_show(&sh, all, 0, seats, 1, bad, &nbad),
	                 OUTCOME_SHOW_NOT_BOOKABLE);
	assert_int_equal(holdrule_check_show(&live, all, 10000, seats, 1, bad, &nbad),
	                 OUTCOME_SHOW_NOT_BOOKABLE);
	assert_false(holdrule_show_bookable(&live, 10000));
	assert_true(holdrule_show_bookable(&live, 9999));
	/* Not asked for, bookable is not checked (confirm checks it later). */
	assert_int_equal(
	    holdrule_check_show(&live, HOLDRULE_CHECK_SEATS, 20000, seats, 1, bad, &nbad),
	    OUTCOME_UNKNOWN_SEATS);
	/* Then unknown seats, listed in natural order (the seats get sorted). */
	seats[0] = (struct seat){3, 1}; /* D1: no row D */
	seats[1] = (struct seat){0, 2}; /* A2: fine */
	seats[2] = (struct seat){1, 5}; /* B5: no seat 5 */
	assert_int_equal(holdrule_check_show(&live, all, 0, seats, 3, bad, &nbad),
	                 OUTCOME_UNKNOWN_SEATS);
	assert_int_equal(nbad, 2);
	assert_int_equal(bad[0].row, 1);
	assert_int_equal(bad[0].number, 5);
	assert_int_equal(bad[1].row, 3);
	assert_int_equal(seats[0].row, 0); /* sorted in place */
	/* Seats not asked for are not checked (release of the whole cart). */
	assert_int_equal(holdrule_check_show(&live, 0, 20000, seats, 3, bad, &nbad), OUTCOME_OK);
	assert_int_equal(nbad, 0);
	seats[0] = (struct seat){2, 4};
	assert_int_equal(holdrule_check_show(&live, all, 0, seats, 1, bad, &nbad), OUTCOME_OK);
}

static void test_holdrule_check_cancel(void **state)
{
	(void)state;
	assert_int_equal(holdrule_check_cancel(BOOKING_STAGED, 1000, 999), OUTCOME_OK);
	assert_int_equal(holdrule_check_cancel(BOOKING_CONFIRMED, 1000, 999), OUTCOME_OK);
	/* Once the show starts, only a cancelled booking answers OK again. */
	assert_int_equal(holdrule_check_cancel(BOOKING_CONFIRMED, 1000, 1000),
	                 OUTCOME_BOOKING_NOT_CANCELLABLE);
	assert_int_equal(holdrule_check_cancel(BOOKING_CANCELLED, 1000, 5000), OUTCOME_OK);
	assert_int_equal(holdrule_check_cancel(BOOKING_EXPIRED, 1000, 0),
	                 OUTCOME_BOOKING_NOT_CANCELLABLE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seat_parse_valid),
	    cmocka_unit_test(test_seat_parse_invalid),
	    cmocka_unit_test(test_seat_parse_uses_only_len_bytes),
	    cmocka_unit_test(test_seat_format_known),
	    cmocka_unit_test(test_seat_round_trip_every_row),
	    cmocka_unit_test(test_seat_compare_natural),
	    cmocka_unit_test(test_seat_sort_natural),
	    cmocka_unit_test(test_seat_duplicates),
	    cmocka_unit_test(test_booking_status_names),
	    cmocka_unit_test(test_booking_ref_fixed_source),
	    cmocka_unit_test(test_booking_ref_refills_after_rejections),
	    cmocka_unit_test(test_booking_ref_source_failure),
	    cmocka_unit_test(test_booking_ref_getrandom_unique),
	    cmocka_unit_test(test_booking_ref_valid),
	    cmocka_unit_test(test_booking_username),
	    cmocka_unit_test(test_timefmt_format_known),
	    cmocka_unit_test(test_timefmt_parse_valid),
	    cmocka_unit_test(test_timefmt_parse_offsets),
	    cmocka_unit_test(test_timefmt_parse_invalid),
	    cmocka_unit_test(test_timefmt_parse_date),
	    cmocka_unit_test(test_timefmt_parse_date_rejects_trailing_text),
	    cmocka_unit_test(test_timefmt_days_from_civil),
	    cmocka_unit_test(test_timefmt_round_trip),
	    cmocka_unit_test(test_timefmt_now),
	    cmocka_unit_test(test_num_parse_id),
	    cmocka_unit_test(test_num_parse_int),
	    cmocka_unit_test(test_outcome_names),
	    cmocka_unit_test(test_bestseat_centre_of_empty_grid),
	    cmocka_unit_test(test_bestseat_prefers_nearer_rows_and_seats),
	    cmocka_unit_test(test_bestseat_avoids_single_gaps),
	    cmocka_unit_test(test_bestseat_accepts_gap_when_nothing_else),
	    cmocka_unit_test(test_bestseat_no_room),
	    cmocka_unit_test(test_bestseat_allow_split),
	    cmocka_unit_test(test_bestseat_count_limits),
	    cmocka_unit_test(test_bestseat_tiny_and_full),
	    cmocka_unit_test(test_bestseat_largest_screen),
	    cmocka_unit_test(test_bestseat_matches_brute_force),
	    cmocka_unit_test(test_seat_status_names),
	    cmocka_unit_test(test_holdrule_expiry_and_cap),
	    cmocka_unit_test(test_holdrule_booking_status),
	    cmocka_unit_test(test_holdrule_seat_status),
	    cmocka_unit_test(test_holdrule_check_show_order),
	    cmocka_unit_test(test_holdrule_check_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
