/* options.c - the options table and the parsing it drives (see options.h).
 *
 * Each row names a flag, its environment variable, its help, its default
 * and how a value is checked: a range for numbers, a parser for the rest.
 * Defaults are stated only here (or as the named constant of the layer
 * that owns the limit), and applied by parsing them like any value. */
#include "options.h"

#include <assert.h>
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "core/booking.h"
#include "core/num.h"
#include "envfile.h"
#include "events/events.h"
#include "http/http.h"
#include "http/http_limits.h"

enum option_kind {
	OPTION_TEXT, /* a string, kept as given */
	OPTION_LONG, /* an integer in [min, max] */
	OPTION_FLAG, /* no argument: sets an int to 1 */
	OPTION_PARSE /* checked and stored by the row's parse() */
};

struct option_row {
	const char *name; /* the flag without "--" */
	const char *arg;  /* what the argument is, for help; NULL for a flag */
	const char *env;  /* NULL: command line only */
	const char *help;
	enum option_kind kind;
	size_t offset;        /* of the field in struct options (not OPTION_PARSE) */
	long min, max;        /* OPTION_LONG */
	long def;             /* OPTION_LONG: the default, unless shown says otherwise */
	const char *def_text; /* OPTION_TEXT, OPTION_PARSE: the default, as typed */
	const char *shown;    /* help's default when it is not a value (derived, none) */
	int (*parse)(struct options *o, const char *v);
};

static int options_listen(struct options *o, const char *v);
static int options_level(struct options *o, const char *v);
static int options_format(struct options *o, const char *v);
static int options_proxy(struct options *o, const char *v);
static int options_rate_user(struct options *o, const char *v);
static int options_rate_write(struct options *o, const char *v);
static int options_rate_read(struct options *o, const char *v);
static int options_rate_admin(struct options *o, const char *v);
static int options_config(struct options *o, const char *v);
static int options_help_flag(struct options *o, const char *v);

#define OPT_FIELD(f) offsetof(struct options, f)

static const struct option_row options_table[] = {
    {.name = "db",
     .arg = "URL",
     .env = "BOXOFFICE_DB",
     .kind = OPTION_TEXT,
     .help = "sqlite:PATH or postgres://USER@HOST:PORT/DB",
     .offset = OPT_FIELD(db),
     .def_text = "sqlite:boxoffice.db"},
    {.name = "listen",
     .arg = "HOST:PORT",
     .env = "BOXOFFICE_LISTEN",
     .kind = OPTION_PARSE,
     .help = "the IPv4 address and port to serve on",
     .def_text = "127.0.0.1:8080",
     .parse = options_listen},
    {.name = "hold-ttl",
     .arg = "SECONDS",
     .env = "BOXOFFICE_HOLD_TTL",
     .kind = OPTION_LONG,
     .help = "how long a hold lasts",
     .offset = OPT_FIELD(hold_ttl),
     .min = 1,
     .max = OPTIONS_TTL_MAX,
     .def = 1200},
    {.name = "hold-max-lifetime",
     .arg = "SECONDS",
     .env = "BOXOFFICE_HOLD_MAX_LIFETIME",
     .kind = OPTION_LONG,
     .help = "cap on a cart's life from its creation",
     .offset = OPT_FIELD(hold_max_lifetime),
     .min = 1,
     .max = 2L * OPTIONS_TTL_MAX,
     .shown = "2 x hold-ttl"},
    {.name = "idempotency-ttl",
     .arg = "SECONDS",
     .env = "BOXOFFICE_IDEMPOTENCY_TTL",
     .kind = OPTION_LONG,
     .help = "how long Idempotency-Key answers are replayed",
     .offset = OPT_FIELD(idempotency_ttl),
     .min = 1,
     .max = 30L * 24 * 3600,
     .def = 24L * 3600},
    {.name = "max-seats-per-request",
     .arg = "N",
     .env = "BOXOFFICE_MAX_SEATS_PER_REQUEST",
     .kind = OPTION_LONG,
     .help = "seats in one hold or confirm",
     .offset = OPT_FIELD(max_seats_per_request),
     .min = 1,
     .max = BOOKING_SEATS_MAX,
     .def = 10},
    {.name = "max-seats-per-user",
     .arg = "N",
     .env = "BOXOFFICE_MAX_SEATS_PER_USER",
     .kind = OPTION_LONG,
     .help = "seats one user may hold in one show",
     .offset = OPT_FIELD(max_seats_per_user),
     .min = 1,
     .max = BOOKING_SEATS_MAX,
     .def = 10},
    {.name = "admin-token",
     .arg = "TOKEN",
     .env = "BOXOFFICE_ADMIN_TOKEN",
     .kind = OPTION_TEXT,
     .help = "enables the admin API with this bearer token",
     .offset = OPT_FIELD(admin_token),
     .shown = "none: admin API off"},
    {.name = "threads",
     .arg = "N",
     .env = "BOXOFFICE_THREADS",
     .kind = OPTION_LONG,
     .help = "HTTP worker threads",
     .offset = OPT_FIELD(threads),
     .min = 1,
     .max = OPTIONS_THREADS_MAX,
     .shown = "number of cores"},
    {.name = "db-pool",
     .arg = "N",
     .env = "BOXOFFICE_DB_POOL",
     .kind = OPTION_LONG,
     .help = "database connections (PostgreSQL)",
     .offset = OPT_FIELD(db_pool),
     .min = 1,
     .max = OPTIONS_POOL_MAX,
     .def = 8},
    {.name = "log-level",
     .arg = "LEVEL",
     .env = "BOXOFFICE_LOG_LEVEL",
     .kind = OPTION_PARSE,
     .help = "error, warn, info or debug",
     .def_text = "info",
     .parse = options_level},
    {.name = "log-format",
     .arg = "FORMAT",
     .env = "BOXOFFICE_LOG_FORMAT",
     .kind = OPTION_PARSE,
     .help = "logfmt or json, one line per request and event",
     .def_text = "logfmt",
     .parse = options_format},
    {.name = "max-connections",
     .arg = "N",
     .env = "BOXOFFICE_MAX_CONNECTIONS",
     .kind = OPTION_LONG,
     .help = "connections in all; beyond, refused at once",
     .offset = OPT_FIELD(conn_max),
     .min = 1,
     .max = HTTP_CONNECTIONS_MAX,
     .def = HTTP_CONNECTIONS_DEFAULT},
    {.name = "max-connections-per-ip",
     .arg = "N",
     .env = "BOXOFFICE_MAX_CONNECTIONS_PER_IP",
     .kind = OPTION_LONG,
     .help = "connections from one client address, 0: no cap",
     .offset = OPT_FIELD(conn_per_ip),
     .min = 0,
     .max = HTTP_CONNECTIONS_MAX,
     .def = HTTP_PER_IP_DEFAULT},
    {.name = "max-viewers",
     .arg = "N",
     .env = "BOXOFFICE_MAX_VIEWERS",
     .kind = OPTION_LONG,
     .help = "event-stream viewers at once; more get 503",
     .offset = OPT_FIELD(max_viewers),
     .min = 1,
     .max = OPTIONS_VIEWERS_MAX,
     .def = EVENTS_MAX_VIEWERS},
    {.name = "sse-keepalive-ms",
     .arg = "MS",
     .env = "BOXOFFICE_SSE_KEEPALIVE_MS",
     .kind = OPTION_LONG,
     .help = "comment line interval on event streams (tests shorten it)",
     .offset = OPT_FIELD(sse_keepalive_ms),
     .min = 10,
     .max = OPTIONS_KEEPALIVE_MAX_MS,
     .def = EVENTS_KEEPALIVE_MS},
    {.name = "idle-timeout",
     .arg = "SECONDS",
     .env = "BOXOFFICE_IDLE_TIMEOUT",
     .kind = OPTION_LONG,
     .help = "close a connection silent this long, 0: never",
     .offset = OPT_FIELD(idle_timeout),
     .min = 0,
     .max = HTTP_TIMEOUT_MAX,
     .def = HTTP_IDLE_TIMEOUT_DEFAULT},
    {.name = "header-timeout",
     .arg = "SECONDS",
     .env = "BOXOFFICE_HEADER_TIMEOUT",
     .kind = OPTION_LONG,
     .help = "a request's first byte to its headers' end, 0: off",
     .offset = OPT_FIELD(header_timeout),
     .min = 0,
     .max = HTTP_TIMEOUT_MAX,
     .def = HTTP_HEADER_TIMEOUT_DEFAULT},
    {.name = "body-timeout",
     .arg = "SECONDS",
     .env = "BOXOFFICE_BODY_TIMEOUT",
     .kind = OPTION_LONG,
     .help = "the headers' end to the body's end, 0: off",
     .offset = OPT_FIELD(body_timeout),
     .min = 0,
     .max = HTTP_TIMEOUT_MAX,
     .def = HTTP_BODY_TIMEOUT_DEFAULT},
    {.name = "trusted-proxy",
     .arg = "CIDRS",
     .env = "BOXOFFICE_TRUSTED_PROXY",
     .kind = OPTION_PARSE,
     .help = "IPv4 proxies (comma-separated) trusted for X-Forwarded-For",
     .shown = "none",
     .parse = options_proxy},
    {.name = "write-rate-per-user",
     .arg = "RATE[/BURST]",
     .env = "BOXOFFICE_WRITE_RATE_PER_USER",
     .kind = OPTION_PARSE,
     .help = "booking writes a second (at once) per username; beyond, 429; 0: off",
     .def_text = API_WRITE_RATE_USER_TEXT,
     .parse = options_rate_user},
    {.name = "write-rate-per-ip",
     .arg = "RATE[/BURST]",
     .env = "BOXOFFICE_WRITE_RATE_PER_IP",
     .kind = OPTION_PARSE,
     .help = "booking writes a second (at once) per client address; 0: off",
     .def_text = "0",
     .parse = options_rate_write},
    {.name = "read-rate-per-ip",
     .arg = "RATE[/BURST]",
     .env = "BOXOFFICE_READ_RATE_PER_IP",
     .kind = OPTION_PARSE,
     .help = "reads a second (at once) per client address; 0: off",
     .def_text = "0",
     .parse = options_rate_read},
    {.name = "admin-rate-per-ip",
     .arg = "RATE[/BURST]",
     .env = "BOXOFFICE_ADMIN_RATE_PER_IP",
     .kind = OPTION_PARSE,
     .help = "admin requests a second (at once) per client address; 0: off",
     .def_text = "0",
     .parse = options_rate_admin},
    {.name = "max-held-seats-per-ip",
     .arg = "N",
     .env = "BOXOFFICE_MAX_HELD_SEATS_PER_IP",
     .kind = OPTION_LONG,
     .help = "seats one client address may hold in one show; beyond, 409; 0: no cap",
     .offset = OPT_FIELD(max_held_per_ip),
     .min = 0,
     .max = API_HELD_PER_IP_MAX,
     .def = 0},
    {.name = "shutdown-timeout",
     .arg = "SECONDS",
     .env = "BOXOFFICE_SHUTDOWN_TIMEOUT",
     .kind = OPTION_LONG,
     .help = "on SIGTERM, time to finish requests and queued writes",
     .offset = OPT_FIELD(shutdown_timeout),
     .min = 1,
     .max = OPTIONS_SHUTDOWN_MAX,
     .def = 10},
    {.name = "config",
     .arg = "FILE",
     .env = "BOXOFFICE_CONFIG",
     .kind = OPTION_PARSE,
     .help = "KEY=value lines of BOXOFFICE_* settings; env and flags win",
     .shown = "none",
     .parse = options_config},
    {.name = "no-demo",
     .kind = OPTION_FLAG,
     .help = "serve: never add demo data",
     .offset = OPT_FIELD(no_demo)},
    {.name = "demo",
     .kind = OPTION_FLAG,
     .help = "seed: add the demo data (the only data set)",
     .offset = OPT_FIELD(demo)},
    {.name = "help", .kind = OPTION_PARSE, .help = "print this help", .parse = options_help_flag},
};

enum {
	OPTIONS_COUNT = sizeof(options_table) / sizeof(options_table[0]),
	OPTIONS_VAL_BASE = 256, /* getopt values: OPTIONS_VAL_BASE + row */
};

static int options_bad(const struct option_row *r, const char *value)
{
	fprintf(stderr, "boxoffice: invalid value '%s' for --%s (see boxoffice help)\n",
	        value ? value : "", r->name);
	return -1;
}

static int options_listen(struct options *o, const char *v)
{
	const char *colon = strrchr(v, ':');

	if (colon == NULL || (size_t)(colon - v) >= sizeof(o->host) || colon == v ||
	    num_parse_int(colon + 1, 0, 65535, &o->port) != 0)
		return -1;
	memcpy(o->host, v, (size_t)(colon - v));
	o->host[colon - v] = '\0';
	return 0;
}

static int options_level(struct options *o, const char *v)
{
	return log_parse_level(v, &o->log_level);
}

static int options_format(struct options *o, const char *v)
{
	return log_parse_format(v, &o->log_format);
}

static int options_proxy(struct options *o, const char *v)
{
	uint32_t nets[HTTP_LIMITS_PROXIES_MAX], masks[HTTP_LIMITS_PROXIES_MAX];
	size_t n;

	if (http_limits_parse_cidrs(v, nets, masks, &n) != 0)
		return -1;
	o->trusted_proxy = v;
	return 0;
}

static int options_rate_user(struct options *o, const char *v)
{
	return ratelimit_parse(v, &o->write_rate_user);
}

static int options_rate_write(struct options *o, const char *v)
{
	return ratelimit_parse(v, &o->write_rate_ip);
}

static int options_rate_read(struct options *o, const char *v)
{
	return ratelimit_parse(v, &o->read_rate_ip);
}

static int options_rate_admin(struct options *o, const char *v)
{
	return ratelimit_parse(v, &o->admin_rate_ip);
}

static int options_config(struct options *o, const char *v)
{
	(void)o;
	(void)v;
	return 0; /* read before everything else: options_load_config() */
}

static int options_help_flag(struct options *o, const char *v)
{
	(void)v;
	o->command = "help";
	return 0;
}

/* Sets the row's field from text v (NULL for a flag). */
static int options_set(struct options *o, const struct option_row *r, const char *v)
{
	char *field = (char *)o + r->offset;
	long n;

	switch (r->kind) {
	case OPTION_TEXT:
		*(const char **)(void *)field = v;
		return 0;
	case OPTION_LONG:
		if (num_parse_int(v, r->min, r->max, &n) != 0)
			return options_bad(r, v);
		*(long *)(void *)field = n;
		return 0;
	case OPTION_FLAG:
		*(int *)(void *)field = 1;
		return 0;
	case OPTION_PARSE:
		return r->parse(o, v) == 0 ? 0 : options_bad(r, v);
	}
	return -1;
}

static void options_defaults(struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->command = "serve";
	for (size_t i = 0; i < OPTIONS_COUNT; i++) {
		const struct option_row *r = &options_table[i];
		if (r->kind == OPTION_LONG && r->shown == NULL)
			*(long *)(void *)((char *)o + r->offset) = r->def;
		else if (r->def_text != NULL && options_set(o, r, r->def_text) != 0)
			assert(!"a default of the options table does not parse");
	}
}

/* 1 for a BOXOFFICE_ variable of the table (for the config file). */
static int options_known_env(const char *key)
{
	for (size_t i = 0; i < OPTIONS_COUNT; i++)
		if (options_table[i].env != NULL && strcmp(options_table[i].env, key) == 0)
			return 1;
	return strcmp(key, "BOXOFFICE_SERVE_ARGS") == 0; /* read by the systemd unit */
}

/* --config FILE (or BOXOFFICE_CONFIG) is read before the environment and
 * the other flags, which override what it sets. */
static int options_load_config(int argc, char **argv)
{
	const char *path = getenv("BOXOFFICE_CONFIG");
	char msg[ENVFILE_LINE_MAX];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
	}
	if (path == NULL || *path == '\0')
		return 0;
	if (envfile_load(path, options_known_env, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "boxoffice: --config: %s\n", msg);
		return -1;
	}
	return 0;
}

int options_parse(int argc, char **argv, struct options *o)
{
	struct option longopts[OPTIONS_COUNT + 1];
	int opt;

	options_defaults(o);
	if (options_load_config(argc, argv) != 0)
		return -1;
	for (size_t i = 0; i < OPTIONS_COUNT; i++) {
		const struct option_row *r = &options_table[i];
		const char *v = r->env != NULL ? getenv(r->env) : NULL;
		if (v != NULL && *v != '\0' && options_set(o, r, v) != 0)
			return -1;
		longopts[i] = (struct option){r->name, r->arg ? required_argument : no_argument,
		                              NULL, OPTIONS_VAL_BASE + (int)i};
	}
	longopts[OPTIONS_COUNT] = (struct option){NULL, 0, NULL, 0};
	if (argc > 1 && argv[1][0] != '-') {
		o->command = argv[1];
		argc--;
		argv++;
	}
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			o->command = "help";
			continue;
		}
		if (opt < OPTIONS_VAL_BASE ||
		    options_set(o, &options_table[opt - OPTIONS_VAL_BASE], optarg) != 0)
			return -1;
	}
	if (optind < argc && o->file == NULL &&
	    (strcmp(o->command, "backup") == 0 || strcmp(o->command, "restore") == 0))
		o->file = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "boxoffice: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	/* The defaults the table can only describe. */
	if (o->threads == 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		o->threads = cores > 0 ? cores : 2;
	}
	if (o->hold_max_lifetime == 0)
		o->hold_max_lifetime = 2 * o->hold_ttl;
	if (o->hold_max_lifetime < o->hold_ttl) {
		fprintf(stderr, "boxoffice: --hold-max-lifetime must be at least --hold-ttl\n");
		return -1;
	}
	log_setup(o->log_level, o->log_format);
	return 0;
}

enum { OPTIONS_HELP_COLUMN = 30 };

void options_help(FILE *out)
{
	fputs("Options (each also read from the environment variable shown):\n", out);
	for (size_t i = 0; i < OPTIONS_COUNT; i++) {
		const struct option_row *r = &options_table[i];
		char flag[64], facts[160];
		int used = 0;

		snprintf(flag, sizeof(flag), "%s--%s%s%s",
		         r->parse == options_help_flag ? "-h, " : "", r->name, r->arg ? " " : "",
		         r->arg ? r->arg : "");
		fprintf(out, "  %-*s %s\n", OPTIONS_HELP_COLUMN - 1, flag, r->help);
		facts[0] = '\0';
		if (r->kind == OPTION_LONG)
			used += snprintf(facts + used, sizeof(facts) - (size_t)used, "%ld to %ld; ",
			                 r->min, r->max);
		if (r->shown != NULL)
			used += snprintf(facts + used, sizeof(facts) - (size_t)used, "default %s; ",
			                 r->shown);
		else if (r->kind == OPTION_LONG)
			used += snprintf(facts + used, sizeof(facts) - (size_t)used,
			                 "default %ld; ", r->def);
		else if (r->def_text != NULL)
			used += snprintf(facts + used, sizeof(facts) - (size_t)used, "default %s; ",
			                 r->def_text);
		if (r->env != NULL)
			used +=
			    snprintf(facts + used, sizeof(facts) - (size_t)used, "%s; ", r->env);
		if (used > 2) {
			facts[used - 2] = '\0'; /* the last "; " */
			fprintf(out, "  %-*s %s\n", OPTIONS_HELP_COLUMN - 1, "", facts);
		}
	}
}
