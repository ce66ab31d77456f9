/* options.h - every setting of boxoffice, from one table (options.c).
 *
 * That table drives the command line, the environment variables, the
 * --config file, the defaults, the ranges and the Options part of
 * `boxoffice help`; the README's options table is checked against that
 * help by tests/static/test_options.py. Adding an option is one row in
 * options.c and one field below. */
#ifndef BOXOFFICE_OPTIONS_H
#define BOXOFFICE_OPTIONS_H

#include <stdio.h>

#include "api/ratelimit.h"
#include "log.h"

enum {
	OPTIONS_HOST_MAX = 64,
	OPTIONS_TTL_MAX = 7 * 24 * 3600, /* seconds */
	OPTIONS_THREADS_MAX = 256,
	OPTIONS_POOL_MAX = 1000,
	OPTIONS_SHUTDOWN_MAX = 3600, /* seconds */
	OPTIONS_VIEWERS_MAX = 1000000,
	OPTIONS_KEEPALIVE_MAX_MS = 3600 * 1000,
};

struct options {
	const char *command; /* argv[1] unless it is an option; else "serve" */
	const char *file;    /* backup, restore: the copy */
	const char *db;
	char host[OPTIONS_HOST_MAX];
	long port;
	long hold_ttl, hold_max_lifetime; /* seconds */
	long idempotency_ttl;             /* seconds */
	long max_seats_per_request, max_seats_per_user;
	const char *admin_token; /* NULL: the admin API is off */
	long threads, db_pool;
	long conn_max, conn_per_ip;                      /* per_ip 0: no cap */
	long idle_timeout, header_timeout, body_timeout; /* seconds; 0: off */
	const char *trusted_proxy;
	struct ratelimit_spec write_rate_user, write_rate_ip, read_rate_ip, admin_rate_ip;
	long max_held_per_ip; /* 0: no cap */
	long max_viewers, sse_keepalive_ms; /* event streams */
	enum log_level log_level;
	enum log_format log_format;
	long shutdown_timeout; /* seconds from SIGTERM to exit */
	int demo, no_demo;
};

/* Fills o from, in rising precedence: the defaults, the --config file, the
 * environment and argv. Returns 0, or -1 after saying why on stderr. The
 * strings of o point into argv and the environment. */
int options_parse(int argc, char **argv, struct options *o);

/* Writes the Options part of `boxoffice help`: per option a line with the
 * flag, its argument and what it sets, then one with its range, default
 * and environment variable. */
void options_help(FILE *out);

#endif
