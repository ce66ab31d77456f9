/* envfile.c - loads the --config settings file into the environment.
 * See envfile.h. */
#include "envfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int envfile_key_ok(const char *k, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)k[0]) || k[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)k[i]) || k[i] == '_'))
			return 0;
	return 1;
}

/* One line, NUL-terminated without its newline: 0 (set or skipped) or
 * -1 with msg. */
static int envfile_line(char *line, const char *path, int lineno, int (*known)(const char *),
                        char *msg, size_t msgsize)
{
	char *p = line, *eq, *value, *end;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#' || *p == ';')
		return 0;
	if (strncmp(p, "export ", 7) == 0)
		p += 7;
	eq = strchr(p, '=');
	if (eq == NULL || !envfile_key_ok(p, (size_t)(eq - p))) {
		snprintf(msg, msgsize, "%s:%d: expected KEY=value", path, lineno);
		return -1;
	}
	*eq = '\0';
	value = eq + 1;
	end = value + strlen(value);
	while (end > value && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	if (end - value >= 2 && (value[0] == '"' || value[0] == '\'') && end[-1] == value[0]) {
		value++;
		*--end = '\0';
	}
	if (strncmp(p, "BOXOFFICE_", 10) == 0 && !known(p)) {
		snprintf(msg, msgsize, "%s:%d: unknown setting %s", path, lineno, p);
		return -1;
	}
	/* 0: what the environment already says wins. */
	if (setenv(p, value, 0) != 0) {
		snprintf(msg, msgsize, "%s:%d: %s", path, lineno, strerror(errno));
		return -1;
	}
	return 0;
}

int envfile_load(const char *path, int (*known)(const char *key), char *msg, size_t msgsize)
{
	FILE *f = fopen(path, "r");
	char line[ENVFILE_LINE_MAX + 2];
	long total = 0;
	int lineno = 0, rc = 0;

	if (f == NULL) {
		snprintf(msg, msgsize, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);
		lineno++;
		total += (long)n;
		if (total > ENVFILE_SIZE_MAX) {
			snprintf(msg, msgsize, "%s: larger than %d bytes", path, ENVFILE_SIZE_MAX);
			rc = -1;
			break;
		}
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(f)) {
			snprintf(msg, msgsize, "%s:%d: line longer than %d bytes", path, lineno,
			         ENVFILE_LINE_MAX);
			rc = -1;
			break;
		}
		rc = envfile_line(line, path, lineno, known, msg, msgsize);
	}
	if (rc == 0 && ferror(f)) {
		snprintf(msg, msgsize, "cannot read %s", path);
		rc = -1;
	}
	fclose(f);
	return rc;
}
