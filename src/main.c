/* main.c - options, subcommands and the life of the server process. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "core/num.h"
#include "demo.h"
#include "envfile.h"
#include "http/http.h"
#include "http/http_limits.h"
#include "log.h"
#include "store/backup.h"
#include "store/store.h"
#include "sweeper.h"

enum {
	OPT_TTL_MAX = 7 * 24 * 3600, /* seconds */
	OPT_THREADS_MAX = 256,
	OPT_POOL_MAX = 1000,
	OPT_SHUTDOWN_MAX = 3600, /* seconds */
	OPT_SHUTDOWN_DEFAULT = 10,
};

struct options {
	const char *command;
	const char *db;
	char host[64];
	long port;
	long hold_ttl, hold_max_lifetime; /* seconds; lifetime 0: 2 x ttl */
	long idempotency_ttl;             /* seconds */
	long max_seats_per_request, max_seats_per_user;
	const char *admin_token;
	long threads, db_pool;
	long conn_max, conn_per_ip;                      /* per_ip 0: no cap */
	long idle_timeout, header_timeout, body_timeout; /* seconds; 0: off */
	const char *trusted_proxy;
	enum log_level log_level;
	enum log_format log_format;
	long shutdown_timeout; /* seconds from SIGTERM to exit */
	int demo, no_demo;
	const char *file; /* backup, restore: the copy */
};

static void main_usage(FILE *out)
{
	fputs(
	    "usage: boxoffice [serve|migrate|seed [--demo]|verify|version|help] [options]\n"
	    "       boxoffice backup|restore --db sqlite:PATH FILE\n"
	    "\n"
	    "Commands:\n"
	    "  serve      migrate, seed the demo when no show is ahead, and serve the API "
	    "(default)\n"
	    "  migrate    create or upgrade the database schema, then exit\n"
	    "  seed       add the demo screens, movies and future shows (--demo), then exit\n"
	    "  verify     check every invariant of the database; exit 1 on a violation\n"
	    "  backup     copy an SQLite database to FILE while it may be serving\n"
	    "  restore    replace an SQLite database (server stopped) with the copy in FILE\n"
	    "  version    print the version\n"
	    "  help       print this help\n"
	    "\n"
	    "Options (each also read from the environment variable shown):\n"
	    "  --db URL                   sqlite:PATH (default sqlite:boxoffice.db) or\n"
	    "                             postgres://USER@HOST:PORT/DB            BOXOFFICE_DB\n"
	    "  --listen HOST:PORT         address to serve on (default 127.0.0.1:8080) "
	    "BOXOFFICE_LISTEN\n"
	    "  --hold-ttl SECONDS         how long a hold lasts (default 1200)        "
	    "BOXOFFICE_HOLD_TTL\n"
	    "  --hold-max-lifetime SECONDS  cap on a cart's life from its creation\n"
	    "                             (default 2 x hold-ttl)            "
	    "BOXOFFICE_HOLD_MAX_LIFETIME\n"
	    "  --idempotency-ttl SECONDS  how long Idempotency-Key answers are replayed\n"
	    "                             (default 86400)                  "
	    "BOXOFFICE_IDEMPOTENCY_TTL\n"
	    "  --max-seats-per-request N  seats in one hold/confirm (default 10, max 100)\n"
	    "                                                    BOXOFFICE_MAX_SEATS_PER_REQUEST\n"
	    "  --max-seats-per-user N     seats one user may hold in one show (default 10, max "
	    "100)\n"
	    "                                                       BOXOFFICE_MAX_SEATS_PER_USER\n"
	    "  --admin-token TOKEN        enables the admin API with this bearer token\n"
	    "                                                             BOXOFFICE_ADMIN_TOKEN\n"
	    "  --threads N                HTTP worker threads (default: the number of cores)\n"
	    "                                                                 BOXOFFICE_THREADS\n"
	    "  --db-pool N                database connections, PostgreSQL (default 8)\n"
	    "                                                                 BOXOFFICE_DB_POOL\n"
	    "  --log-level LEVEL          error, warn, info or debug (default info)\n"
	    "                                                               BOXOFFICE_LOG_LEVEL\n"
	    "  --max-connections N        connections in all; beyond, refused at once\n"
	    "                             (default 16384)          BOXOFFICE_MAX_CONNECTIONS\n"
	    "  --max-connections-per-ip N connections from one client address, 0: no cap\n"
	    "                             (default 1024)    BOXOFFICE_MAX_CONNECTIONS_PER_IP\n"
	    "  --idle-timeout SECONDS     close a connection silent this long, 0: never\n"
	    "                             (default 30)                BOXOFFICE_IDLE_TIMEOUT\n"
	    "  --header-timeout SECONDS   a request's first byte to its headers' end, 0: off\n"
	    "                             (default 10)              BOXOFFICE_HEADER_TIMEOUT\n"
	    "  --body-timeout SECONDS     the headers' end to the body's end, 0: off\n"
	    "                             (default 20)                BOXOFFICE_BODY_TIMEOUT\n"
	    "  --trusted-proxy CIDRS      proxies whose X-Forwarded-For names the client\n"
	    "                             (comma-separated IPv4; default none)\n"
	    "                                                           BOXOFFICE_TRUSTED_PROXY\n"
	    "  --log-format FORMAT        logfmt or json: one line per request and event on\n"
	    "                             stderr (default logfmt)          BOXOFFICE_LOG_FORMAT\n"
	    "  --shutdown-timeout SECONDS  on SIGTERM/SIGINT, how long to finish requests in\n"
	    "                             flight and queued writes (default 10)\n"
	    "                                                        BOXOFFICE_SHUTDOWN_TIMEOUT\n"
	    "  --config FILE              read BOXOFFICE_* settings from FILE (KEY=value\n"
	    "                             lines; the environment and flags win) BOXOFFICE_CONFIG\n"
	    "  --no-demo                  serve: never add demo data\n"
	    "  --demo                     seed: add the demo data (the only data set)\n"
	    "  -h, --help                 print this help\n",
	    out);
}

static int main_bad_option(const char *name, const char *value)
{
	fprintf(stderr, "boxoffice: invalid value '%s' for %s (see boxoffice help)\n",
	        value ? value : "", name);
	return -1;
}

static int main_parse_listen(struct options *o, const char *v)
{
	const char *colon = strrchr(v, ':');

	if (colon == NULL || (size_t)(colon - v) >= sizeof(o->host) || colon == v ||
	    num_parse_int(colon + 1, 0, 65535, &o->port) != 0)
		return main_bad_option("--listen", v);
	memcpy(o->host, v, (size_t)(colon - v));
	o->host[colon - v] = '\0';
	return 0;
}

enum {
	OPT_DB = 256,
	OPT_LISTEN,
	OPT_HOLD_TTL,
	OPT_HOLD_MAX,
	OPT_MAX_REQ,
	OPT_MAX_USER,
	OPT_ADMIN,
	OPT_THREADS,
	OPT_POOL,
	OPT_LOG,
	OPT_DEMO,
	OPT_NO_DEMO,
	OPT_IDEM_TTL,
	OPT_CONN_MAX,
	OPT_CONN_PER_IP,
	OPT_IDLE_TIMEOUT,
	OPT_HEADER_TIMEOUT,
	OPT_BODY_TIMEOUT,
	OPT_TRUSTED_PROXY,
	OPT_LOG_FORMAT,
	OPT_SHUTDOWN,
	OPT_CONFIG,
};

static const struct option main_long_options[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"hold-ttl", required_argument, NULL, OPT_HOLD_TTL},
    {"hold-max-lifetime", required_argument, NULL, OPT_HOLD_MAX},
    {"max-seats-per-request", required_argument, NULL, OPT_MAX_REQ},
    {"max-seats-per-user", required_argument, NULL, OPT_MAX_USER},
    {"admin-token", required_argument, NULL, OPT_ADMIN},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"db-pool", required_argument, NULL, OPT_POOL},
    {"log-level", required_argument, NULL, OPT_LOG},
    {"demo", no_argument, NULL, OPT_DEMO},
    {"no-demo", no_argument, NULL, OPT_NO_DEMO},
    {"idempotency-ttl", required_argument, NULL, OPT_IDEM_TTL},
    {"max-connections", required_argument, NULL, OPT_CONN_MAX},
    {"max-connections-per-ip", required_argument, NULL, OPT_CONN_PER_IP},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"body-timeout", required_argument, NULL, OPT_BODY_TIMEOUT},
    {"trusted-proxy", required_argument, NULL, OPT_TRUSTED_PROXY},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The environment variable of each option that takes a value. */
static const struct {
	int opt;
	const char *env;
} main_env[] = {
    {OPT_DB, "BOXOFFICE_DB"},
    {OPT_LISTEN, "BOXOFFICE_LISTEN"},
    {OPT_HOLD_TTL, "BOXOFFICE_HOLD_TTL"},
    {OPT_HOLD_MAX, "BOXOFFICE_HOLD_MAX_LIFETIME"},
    {OPT_MAX_REQ, "BOXOFFICE_MAX_SEATS_PER_REQUEST"},
    {OPT_MAX_USER, "BOXOFFICE_MAX_SEATS_PER_USER"},
    {OPT_ADMIN, "BOXOFFICE_ADMIN_TOKEN"},
    {OPT_THREADS, "BOXOFFICE_THREADS"},
    {OPT_POOL, "BOXOFFICE_DB_POOL"},
    {OPT_LOG, "BOXOFFICE_LOG_LEVEL"},
    {OPT_IDEM_TTL, "BOXOFFICE_IDEMPOTENCY_TTL"},
    {OPT_CONN_MAX, "BOXOFFICE_MAX_CONNECTIONS"},
    {OPT_CONN_PER_IP, "BOXOFFICE_MAX_CONNECTIONS_PER_IP"},
    {OPT_IDLE_TIMEOUT, "BOXOFFICE_IDLE_TIMEOUT"},
    {OPT_HEADER_TIMEOUT, "BOXOFFICE_HEADER_TIMEOUT"},
    {OPT_BODY_TIMEOUT, "BOXOFFICE_BODY_TIMEOUT"},
    {OPT_TRUSTED_PROXY, "BOXOFFICE_TRUSTED_PROXY"},
    {OPT_LOG_FORMAT, "BOXOFFICE_LOG_FORMAT"},
    {OPT_SHUTDOWN, "BOXOFFICE_SHUTDOWN_TIMEOUT"},
};

static int main_set(struct options *o, int opt, const char *v)
{
	switch (opt) {
	case OPT_DB:
		o->db = v;
		return 0;
	case OPT_LISTEN:
		return main_parse_listen(o, v);
	case OPT_HOLD_TTL:
		return num_parse_int(v, 1, OPT_TTL_MAX, &o->hold_ttl)
		           ? main_bad_option("--hold-ttl", v)
		           : 0;
	case OPT_HOLD_MAX:
		return num_parse_int(v, 1, 2 * OPT_TTL_MAX, &o->hold_max_lifetime)
		           ? main_bad_option("--hold-max-lifetime", v)
		           : 0;
	case OPT_MAX_REQ:
		return num_parse_int(v, 1, BOOKING_SEATS_MAX, &o->max_seats_per_request)
		           ? main_bad_option("--max-seats-per-request", v)
		           : 0;
	case OPT_MAX_USER:
		return num_parse_int(v, 1, BOOKING_SEATS_MAX, &o->max_seats_per_user)
		           ? main_bad_option("--max-seats-per-user", v)
		           : 0;
	case OPT_ADMIN:
		o->admin_token = v;
		return 0;
	case OPT_THREADS:
		return num_parse_int(v, 1, OPT_THREADS_MAX, &o->threads)
		           ? main_bad_option("--threads", v)
		           : 0;
	case OPT_POOL:
		return num_parse_int(v, 1, OPT_POOL_MAX, &o->db_pool)
		           ? main_bad_option("--db-pool", v)
		           : 0;
	case OPT_LOG:
		return log_parse_level(v, &o->log_level) ? main_bad_option("--log-level", v) : 0;
	case OPT_LOG_FORMAT:
		return log_parse_format(v, &o->log_format) ? main_bad_option("--log-format", v) : 0;
	case OPT_SHUTDOWN:
		return num_parse_int(v, 1, OPT_SHUTDOWN_MAX, &o->shutdown_timeout)
		           ? main_bad_option("--shutdown-timeout", v)
		           : 0;
	case OPT_CONFIG:
		return 0; /* read before everything else, see main_load_config */
	case OPT_DEMO:
		o->demo = 1;
		return 0;
	case OPT_NO_DEMO:
		o->no_demo = 1;
		return 0;
	case OPT_IDEM_TTL:
		return num_parse_int(v, 1, 30L * 24 * 3600, &o->idempotency_ttl)
		           ? main_bad_option("--idempotency-ttl", v)
		           : 0;
	case OPT_CONN_MAX:
		return num_parse_int(v, 1, HTTP_CONNECTIONS_MAX, &o->conn_max)
		           ? main_bad_option("--max-connections", v)
		           : 0;
	case OPT_CONN_PER_IP:
		return num_parse_int(v, 0, HTTP_CONNECTIONS_MAX, &o->conn_per_ip)
		           ? main_bad_option("--max-connections-per-ip", v)
		           : 0;
	case OPT_IDLE_TIMEOUT:
		return num_parse_int(v, 0, HTTP_TIMEOUT_MAX, &o->idle_timeout)
		           ? main_bad_option("--idle-timeout", v)
		           : 0;
	case OPT_HEADER_TIMEOUT:
		return num_parse_int(v, 0, HTTP_TIMEOUT_MAX, &o->header_timeout)
		           ? main_bad_option("--header-timeout", v)
		           : 0;
	case OPT_BODY_TIMEOUT:
		return num_parse_int(v, 0, HTTP_TIMEOUT_MAX, &o->body_timeout)
		           ? main_bad_option("--body-timeout", v)
		           : 0;
	case OPT_TRUSTED_PROXY: {
		uint32_t nets[HTTP_LIMITS_PROXIES_MAX], masks[HTTP_LIMITS_PROXIES_MAX];
		size_t n;
		if (http_limits_parse_cidrs(v, nets, masks, &n) != 0)
			return main_bad_option("--trusted-proxy", v);
		o->trusted_proxy = v;
		return 0;
	}
	}
	return -1;
}

/* 1 for a BOXOFFICE_ variable of the table above (for the config file). */
static int main_known_env(const char *key)
{
	for (size_t i = 0; i < sizeof(main_env) / sizeof(main_env[0]); i++)
		if (strcmp(main_env[i].env, key) == 0)
			return 1;
	return strcmp(key, "BOXOFFICE_SERVE_ARGS") == 0; /* read by the systemd unit */
}

/* --config FILE (or BOXOFFICE_CONFIG) is read before the environment and
 * the other flags, which override what it sets. */
static int main_load_config(int argc, char **argv)
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
	if (envfile_load(path, main_known_env, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "boxoffice: --config: %s\n", msg);
		return -1;
	}
	return 0;
}

static int main_parse(int argc, char **argv, struct options *o)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int opt;

	memset(o, 0, sizeof(*o));
	o->command = "serve";
	o->db = "sqlite:boxoffice.db";
	snprintf(o->host, sizeof(o->host), "127.0.0.1");
	o->port = 8080;
	o->hold_ttl = 1200;
	o->idempotency_ttl = 24 * 3600;
	o->max_seats_per_request = 10;
	o->max_seats_per_user = 10;
	o->threads = cores > 0 ? cores : 2;
	o->db_pool = 8;
	o->conn_max = HTTP_CONNECTIONS_DEFAULT;
	o->conn_per_ip = HTTP_PER_IP_DEFAULT;
	o->idle_timeout = HTTP_IDLE_TIMEOUT_DEFAULT;
	o->header_timeout = HTTP_HEADER_TIMEOUT_DEFAULT;
	o->body_timeout = HTTP_BODY_TIMEOUT_DEFAULT;
	o->log_level = LOG_INFO;
	o->log_format = LOG_LOGFMT;
	o->shutdown_timeout = OPT_SHUTDOWN_DEFAULT;

	if (main_load_config(argc, argv) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(main_env) / sizeof(main_env[0]); i++) {
		const char *v = getenv(main_env[i].env);
		if (v != NULL && *v != '\0' && main_set(o, main_env[i].opt, v) != 0)
			return -1;
	}
	if (argc > 1 && argv[1][0] != '-') {
		o->command = argv[1];
		argc--;
		argv++;
	}
	while ((opt = getopt_long(argc, argv, "h", main_long_options, NULL)) != -1) {
		if (opt == 'h') {
			o->command = "help";
			continue;
		}
		if (opt == '?' || main_set(o, opt, optarg) != 0)
			return -1;
	}
	if (optind < argc && o->file == NULL &&
	    (strcmp(o->command, "backup") == 0 || strcmp(o->command, "restore") == 0))
		o->file = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "boxoffice: unexpected argument '%s'\n", argv[optind]);
		return -1;
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

static int main_open_store(const struct options *o, struct store **st)
{
	struct store_config cfg = {
	    .url = o->db,
	    .hold_ttl_ms = o->hold_ttl * 1000,
	    .hold_max_lifetime_ms = o->hold_max_lifetime * 1000,
	    .idempotency_ttl_ms = o->idempotency_ttl * 1000,
	    .max_seats_per_user = (int)o->max_seats_per_user,
	    .threads = (int)o->threads,
	    .pool_size = (int)o->db_pool,
	};
	int rc = store_open(&cfg, st);

	char shown[512];

	log_redact_url(o->db, shown, sizeof(shown));
	if (rc == STORE_EINVAL)
		fprintf(stderr,
		        "boxoffice: unsupported database URL '%s' (use sqlite:PATH or "
		        "postgres://...)\n",
		        shown);
	else if (rc != 0)
		fprintf(stderr, "boxoffice: cannot open the database '%s'\n", shown);
	return rc;
}

struct main_server {
	struct api *api;
	struct sweeper *sweeper;
};

/* Runs on the committing thread after every commit. */
static void main_on_commit(void *arg, const struct store_cmd *cmd)
{
	struct main_server *srv = arg;

	api_on_commit(srv->api, cmd);
	if (srv->sweeper != NULL && cmd->booking.status == BOOKING_STAGED &&
	    cmd->booking.expires_at)
		sweeper_note_expiry(srv->sweeper, cmd->booking.expires_at);
}

static void main_raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct main_seed {
	struct store *st;
	int seeded;
};

/* Seeds the demo when no show is ahead; runs as an exclusive section so
 * that nodes starting together on one database seed it once. */
static int main_seed_locked(void *arg)
{
	struct main_seed *ms = arg;
	struct show_summary *shows;
	size_t n;

	if (store_active_shows(ms->st, &shows, &n) != 0)
		return -1;
	free(shows);
	if (n > 0)
		return 0;
	if (demo_seed(ms->st) < 0)
		return -1;
	ms->seeded = 1;
	return 0;
}

static int main_seed_if_empty(const struct options *o, struct store *st)
{
	struct main_seed ms = {st, 0};

	if (o->no_demo)
		return 0;
	if (store_exclusive(st, main_seed_locked, &ms) != 0)
		return -1;
	if (ms.seeded)
		log_event(LOG_INFO, "no show ahead: added the demo shows", NULL);
	return 0;
}

/* An event whose detail is part of its message ("msg: detail"). */
static void main_log(enum log_level level, const char *msg, const char *detail)
{
	char text[LOG_LINE_MAX / 2];

	if (detail == NULL) {
		log_event(level, msg, NULL);
		return;
	}
	snprintf(text, sizeof(text), "%s: %s", msg, detail);
	log_event(level, text, NULL);
}

/* Says what the storage's durability rests on, and loudly when a setting
 * lets an acknowledged booking be lost (the server still serves: the
 * operator may have chosen it, e.g. for a throwaway database). */
static void main_check_durability(struct store *st)
{
	struct store_durability d;
	char line[512];
	size_t used = 0;

	if (store_durability(st, &d) != 0) {
		main_log(LOG_WARN, "cannot read the storage's durability settings", NULL);
		return;
	}
	line[0] = '\0';
	for (int i = 0; i < d.n && used < sizeof(line); i++)
		used += (size_t)snprintf(line + used, sizeof(line) - used, "%s%s=%s", i ? ", " : "",
		                         d.settings[i].name, d.settings[i].value);
	main_log(LOG_INFO, "storage durability", line);
	for (int i = 0; i < d.n; i++) {
		if (d.settings[i].risk == NULL)
			continue;
		char warning[512];
		snprintf(warning, sizeof(warning),
		         "WARNING: DURABILITY AT RISK: %s %s=%s: %s; acknowledged bookings are not "
		         "safe until it is changed",
		         store_backend_name(st), d.settings[i].name, d.settings[i].value,
		         d.settings[i].risk);
		log_event(LOG_WARN, warning, NULL);
	}
}

/* Every finished request: its log line. */
static void main_request_done(void *arg, const struct http_request *req)
{
	struct main_server *srv = arg;

	api_observe_request(srv->api, req);
	log_request(req);
}

/* A stop that takes far longer than --shutdown-timeout (storage that no
 * longer answers, so queued writes never finish) must still end: after
 * the timeout and a grace period the process exits 1 on its own. */
enum { MAIN_WATCHDOG_GRACE_S = 5 };

static void *main_watchdog(void *arg)
{
	long seconds = (long)(intptr_t)arg;

	sleep((unsigned)(seconds + MAIN_WATCHDOG_GRACE_S));
	log_event(LOG_ERROR, "shutdown took too long: exiting without finishing", NULL);
	_exit(1);
	return NULL;
}

static void main_watchdog_start(long seconds)
{
	pthread_t t;

	if (pthread_create(&t, NULL, main_watchdog, (void *)(intptr_t)seconds) == 0)
		pthread_detach(t);
}

static long main_ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Graceful stop, in this order: stop accepting connections, turn /readyz
 * 503 and wait for the requests in flight (their writes commit meanwhile);
 * then refuse new writes and finish every queued one (each resumes its
 * suspended request; the listener, which may tell the sweeper about holds,
 * runs for the last time) and let those answers go out; stop the sweeper
 * (its writes are now refused); close every connection; and only then
 * close storage. All of it within --shutdown-timeout: requests still
 * running then are cut. */
static void main_shutdown(const struct options *o, struct main_server *srv, struct store *st,
                          struct http_server *http)
{
	struct timespec t0;
	long budget = o->shutdown_timeout * 1000;
	int left = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (http != NULL)
		http_drain(http, budget);
	if (st != NULL)
		store_drain(st);
	if (http != NULL) {
		long rest = budget - main_ms_since(&t0);
		left = http_drain(http, rest > 0 ? rest : 0);
	}
	sweeper_stop(srv->sweeper);
	http_stop(http);
	store_close(st);
	api_destroy(srv->api);
	if (http != NULL) {
		char ms[32], cut[16];
		snprintf(ms, sizeof(ms), "%ld", main_ms_since(&t0));
		snprintf(cut, sizeof(cut), "%d", left);
		log_event(left ? LOG_WARN : LOG_INFO, "stopped", "shutdown_ms", ms, "requests_cut",
		          cut, NULL);
	}
}

static int main_serve(const struct options *o)
{
	struct main_server srv = {0};
	struct store *st = NULL;
	struct http_server *http = NULL;
	sigset_t sigs;
	int sig, rc = 1;

	/* Block the stop signals in every thread; main waits for them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	main_raise_fd_limit();

	if (main_open_store(o, &st) != 0)
		return 1;
	main_check_durability(st);
	if (main_seed_if_empty(o, st) != 0) {
		log_event(LOG_ERROR, "cannot seed the demo data", NULL);
		goto out;
	}
	struct api_config acfg = {
	    .max_seats_per_request = (int)o->max_seats_per_request,
	    .admin_token = o->admin_token,
	};
	if (api_create(&acfg, st, &srv.api) != 0)
		goto out;
	/* The sweeper exists before the listener that tells it about holds. */
	if (sweeper_start(st, &srv.sweeper) != 0)
		goto out;
	store_set_listener(st, main_on_commit, &srv);
	struct http_config hcfg = {
	    .host = o->host,
	    .port = (uint16_t)o->port,
	    .threads = (unsigned)o->threads,
	    .conn_max = (unsigned)o->conn_max,
	    .conn_per_ip = (unsigned)o->conn_per_ip,
	    .idle_timeout_s = (unsigned)o->idle_timeout,
	    .header_timeout_s = (unsigned)o->header_timeout,
	    .body_timeout_s = (unsigned)o->body_timeout,
	    .trusted_proxy = o->trusted_proxy,
	    .done = main_request_done,
	    .done_arg = &srv,
	};
	api_http_hooks(srv.api, &hcfg);
	if (http_start(&hcfg, &http) != 0)
		goto out;
	if (log_enabled(LOG_INFO)) {
		char shown[512], url[96];
		log_redact_url(o->db, shown, sizeof(shown));
		snprintf(url, sizeof(url), "http://%s:%u/", o->host, http_port(http));
		log_event(LOG_INFO, "serving", "url", url, "backend", store_backend_name(st), "db",
		          shown, "version", BOXOFFICE_VERSION, NULL);
	}
	sigwait(&sigs, &sig);
	log_event(LOG_INFO, "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
	main_watchdog_start(o->shutdown_timeout);
	rc = 0;
out:
	main_shutdown(o, &srv, st, http);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;
	struct store *st;

	if (main_parse(argc, argv, &o) != 0)
		return 2;
	if (strcmp(o.command, "help") == 0) {
		main_usage(stdout);
		return 0;
	}
	if (strcmp(o.command, "version") == 0) {
		printf("boxoffice %s\n", BOXOFFICE_VERSION);
		return 0;
	}
	if (strcmp(o.command, "serve") == 0)
		return main_serve(&o);
	if (strcmp(o.command, "migrate") == 0) {
		if (main_open_store(&o, &st) != 0)
			return 1;
		store_close(st);
		printf("boxoffice: database %s is up to date\n", o.db);
		return 0;
	}
	if (strcmp(o.command, "verify") == 0) {
		struct store_report report;
		if (main_open_store(&o, &st) != 0)
			return 2;
		int rc = store_verify(st, &report);
		store_close(st);
		if (rc != 0) {
			fprintf(stderr, "boxoffice: verify: the checks could not run\n");
			free(report.text);
			return 2;
		}
		fputs(report.text ? report.text : "", stdout);
		printf("%d checks, %d failed\n", report.checks, report.failed);
		free(report.text);
		return report.failed == 0 ? 0 : 1;
	}
	if (strcmp(o.command, "backup") == 0 || strcmp(o.command, "restore") == 0) {
		char msg[BACKUP_MSG_MAX];
		int backup = strcmp(o.command, "backup") == 0;
		if (o.file == NULL) {
			fprintf(stderr, "boxoffice: %s needs a FILE (see boxoffice help)\n",
			        o.command);
			return 2;
		}
		int rc = backup ? backup_create(o.db, o.file, msg, sizeof(msg))
		                : backup_restore(o.db, o.file, msg, sizeof(msg));
		if (rc != 0) {
			fprintf(stderr, "boxoffice: %s: %s\n", o.command, msg);
			return rc == STORE_EINVAL ? 2 : 1;
		}
		printf("boxoffice: %s %s\n", backup ? "backed up to" : "restored from", o.file);
		return 0;
	}
	if (strcmp(o.command, "seed") == 0) {
		if (main_open_store(&o, &st) != 0)
			return 1;
		int shows = demo_seed(st);
		store_close(st);
		if (shows < 0) {
			fprintf(stderr, "boxoffice: seeding failed\n");
			return 1;
		}
		printf("boxoffice: added %d demo shows\n", shows);
		return 0;
	}
	fprintf(stderr, "boxoffice: unknown command '%s'\n", o.command);
	main_usage(stderr);
	return 2;
}
