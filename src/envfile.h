/* envfile.h - the optional settings file of `--config FILE` (or
 * BOXOFFICE_CONFIG): KEY=value lines in systemd's EnvironmentFile format,
 * so that one file serves both the unit and a shell.
 *
 * Each setting becomes an environment variable unless the environment
 * already has it: command-line flags win over the environment, which wins
 * over the file. Keys starting with BOXOFFICE_ must be ones boxoffice
 * knows (a typo is an error, not a silently ignored line); other keys
 * (PGPASSWORD, PGSSLMODE, ...) are passed on for libpq. */
#ifndef BOXOFFICE_ENVFILE_H
#define BOXOFFICE_ENVFILE_H

#include <stddef.h>

enum {
	ENVFILE_SIZE_MAX = 64 * 1024, /* bytes in the file */
	ENVFILE_LINE_MAX = 4096,      /* bytes in one line */
};

/* known(key) returns 1 for a BOXOFFICE_ variable boxoffice reads. Returns
 * 0, or -1 with a sentence naming the file and line in msg. */
int envfile_load(const char *path, int (*known)(const char *key), char *msg, size_t msgsize);

#endif
