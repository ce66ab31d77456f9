/* test_util.h - small helpers the C test suites share. */
#ifndef BOXOFFICE_TESTS_TEST_UTIL_H
#define BOXOFFICE_TESTS_TEST_UTIL_H

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
