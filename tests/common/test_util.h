/* test_util.h - small helpers the C test suites share: time units, the
 * run id that keeps one run's names apart in a shared database, the shape
 * of a booking reference, seat lists as text, the test database and its
 * temporary directory. */
#ifndef BOXOFFICE_TESTS_TEST_UTIL_H
#define BOXOFFICE_TESTS_TEST_UTIL_H

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/booking.h"
#include "core/seat.h"
#include "core/timefmt.h"

#define TEST_SECOND_MS INT64_C(1000)
#define TEST_MINUTE_MS INT64_C(60000)
#define TEST_HOUR_MS   INT64_C(3600000)
#define TEST_DAY_MS    INT64_C(86400000)

enum { TEST_RUN_ID_LEN = 8 };

/* Fills id with TEST_RUN_ID_LEN random base-36 digits: a suffix that
 * keeps this run's names apart from any earlier run's in a shared
 * database. */
static inline void test_make_run_id(char id[TEST_RUN_ID_LEN + 1])
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	uint64_t x = 0;

	if (getrandom(&x, sizeof(x), 0) != (ssize_t)sizeof(x))
		x = (uint64_t)timefmt_now_ms() * 1000003u ^ (uint64_t)getpid();
	for (int i = 0; i < TEST_RUN_ID_LEN; i++) {
		id[i] = digits[x % 36];
		x /= 36;
	}
	id[TEST_RUN_ID_LEN] = '\0';
}

/* True when r has the shape of a booking reference: BX- and
 * BOOKING_REF_SYMBOLS symbols of the reference alphabet (API.md). */
static inline bool test_ref_shaped(const char *r)
{
	static const char alphabet[] = "23456789ABCDEFGHJKMNPQRSTVWXYZ";

	if (strlen(r) != 3 + BOOKING_REF_SYMBOLS || strncmp(r, "BX-", 3) != 0)
		return false;
	for (const char *p = r + 3; *p; p++)
		if (!strchr(alphabet, *p))
			return false;
	return true;
}

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

/* The database a test uses: BOXOFFICE_TEST_DB when set (shared with other
 * tests: dir is left empty; returns 1), else a fresh SQLite file named
 * file in a new temporary directory named after tag, written to dir for
 * test_remove_dir (returns 0). Returns -1, errno set, when the directory
 * cannot be made. */
static inline int test_db_url(const char *tag, const char *file, char *url, size_t url_size,
                              char *dir, size_t dir_size)
{
	const char *env = getenv("BOXOFFICE_TEST_DB"), *tmp = getenv("TMPDIR");

	dir[0] = '\0';
	if (env && *env) {
		snprintf(url, url_size, "%s", env);
		return 1;
	}
	snprintf(dir, dir_size, "%s/boxoffice-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
	if (!mkdtemp(dir)) {
		dir[0] = '\0';
		return -1;
	}
	snprintf(url, url_size, "sqlite:%s/%s", dir, file);
	return 0;
}

/* Removes a test's temporary directory and the files in it (a database
 * and its -wal/-shm); returns 0 or -1 as rmdir does. */
static inline int test_remove_dir(const char *dir)
{
	DIR *d = opendir(dir);

	if (d) {
		struct dirent *e;
		char path[PATH_MAX + 260];
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	return rmdir(dir);
}

#endif
