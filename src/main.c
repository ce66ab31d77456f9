/* main.c - the subcommands (one table) and the life of the server
 * process: start-up, serving, graceful shutdown. Options are options.c's. */
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
#include "demo.h"
#include "events/events.h"
#include "http/http.h"
#include "log.h"
#include "options.h"
#include "store/backup.h"
#include "store/store.h"
#include "sweeper.h"

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
	struct events *events;
};

/* Runs on the committing thread after every commit. */
static void main_on_commit(void *arg, const struct store_cmd *cmd)
{
	struct main_server *srv = arg;

	/* The cache drops its picture before viewers hear of the change, so
	 * a snapshot read after a feed position is never older than it. */
	api_on_commit(srv->api, cmd);
	if (srv->events != NULL)
		events_on_commit(srv->events, cmd);
	if (srv->sweeper != NULL && cmd->booking.status == BOOKING_STAGED &&
	    cmd->booking.expires_at)
		sweeper_note_expiry(srv->sweeper, cmd->booking.expires_at);
	if (srv->sweeper != NULL && cmd->op == STORE_OP_NOTIFY) {
		/* Another node's hold (or our own, heard back from the shared
		 * feed): its expiry is not in the event, so ask the store. */
		for (size_t i = 0; i < cmd->nchanges; i++) {
			if (cmd->changes[i].status == SEAT_HELD) {
				sweeper_recheck(srv->sweeper);
				break;
			}
		}
	}
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

/* The watchdog's budget: set once, before its thread starts. */
static long main_watchdog_seconds;

static void *main_watchdog(void *arg)
{
	(void)arg;
	sleep((unsigned)(main_watchdog_seconds + MAIN_WATCHDOG_GRACE_S));
	log_event(LOG_ERROR, "shutdown took too long: exiting without finishing", NULL);
	_exit(1);
	return NULL;
}

static void main_watchdog_start(long seconds)
{
	pthread_t t;

	main_watchdog_seconds = seconds;
	if (pthread_create(&t, NULL, main_watchdog, NULL) == 0)
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
	/* Event streams never finish by themselves: end them first (each
	 * suspended one is resumed), so that draining does not wait on them. */
	events_shutdown(srv->events);
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
	events_destroy(srv->events);
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
	struct events_config ecfg = {
	    .io = &api_events_io,
	    .max_viewers = (int)o->max_viewers,
	    .keepalive_ms = (int)o->sse_keepalive_ms,
	    .store = st,
	};
	if (events_create(&ecfg, &srv.events) != 0)
		goto out;
	struct api_config acfg = {
	    .max_seats_per_request = (int)o->max_seats_per_request,
	    .admin_token = o->admin_token,
	    .events = srv.events,
	    .write_rate_user = o->write_rate_user,
	    .write_rate_ip = o->write_rate_ip,
	    .read_rate_ip = o->read_rate_ip,
	    .admin_rate_ip = o->admin_rate_ip,
	    .max_held_seats_per_ip = (int)o->max_held_per_ip,
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

static int main_cmd_serve(const struct options *o)
{
	return main_serve(o);
}

static int main_cmd_migrate(const struct options *o)
{
	struct store *st;

	if (main_open_store(o, &st) != 0)
		return 1;
	store_close(st);
	printf("boxoffice: database %s is up to date\n", o->db);
	return 0;
}

static int main_cmd_seed(const struct options *o)
{
	struct store *st;

	if (main_open_store(o, &st) != 0)
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

static int main_cmd_verify(const struct options *o)
{
	struct store_report report;
	struct store *st;

	if (main_open_store(o, &st) != 0)
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

static int main_cmd_copy(const struct options *o)
{
	char msg[BACKUP_MSG_MAX];
	int backup = strcmp(o->command, "backup") == 0;

	if (o->file == NULL) {
		fprintf(stderr, "boxoffice: %s needs a FILE (see boxoffice help)\n", o->command);
		return 2;
	}
	int rc = backup ? backup_create(o->db, o->file, msg, sizeof(msg))
	                : backup_restore(o->db, o->file, msg, sizeof(msg));
	if (rc != 0) {
		fprintf(stderr, "boxoffice: %s: %s\n", o->command, msg);
		return rc == STORE_EINVAL ? 2 : 1;
	}
	printf("boxoffice: %s %s\n", backup ? "backed up to" : "restored from", o->file);
	return 0;
}

static int main_cmd_version(const struct options *o)
{
	(void)o;
	printf("boxoffice %s\n", BOXOFFICE_VERSION);
	return 0;
}

static int main_cmd_help(const struct options *o);

/* The subcommands; adding one is a row and its function. */
static const struct main_command {
	const char *name;
	const char *help;
	int (*run)(const struct options *o); /* returns the exit status */
} main_commands[] = {
    {.name = "serve",
     .help = "migrate, seed the demo when no show is ahead, and serve the API (default)",
     .run = main_cmd_serve},
    {.name = "migrate",
     .help = "create or upgrade the database schema, then exit",
     .run = main_cmd_migrate},
    {.name = "seed",
     .help = "add the demo screens, movies and future shows (--demo), then exit",
     .run = main_cmd_seed},
    {.name = "verify",
     .help = "check every invariant of the database; exit 1 on a violation",
     .run = main_cmd_verify},
    {.name = "backup",
     .help = "copy an SQLite database to FILE while it may be serving",
     .run = main_cmd_copy},
    {.name = "restore",
     .help = "replace an SQLite database (server stopped) with the copy in FILE",
     .run = main_cmd_copy},
    {.name = "version", .help = "print the version", .run = main_cmd_version},
    {.name = "help", .help = "print this help", .run = main_cmd_help},
};

enum { MAIN_COMMANDS = sizeof(main_commands) / sizeof(main_commands[0]) };

static void main_usage(FILE *out)
{
	fputs("usage: boxoffice [COMMAND] [options]\n"
	      "       boxoffice backup|restore --db sqlite:PATH FILE\n"
	      "\n"
	      "Commands:\n",
	      out);
	for (size_t i = 0; i < MAIN_COMMANDS; i++)
		fprintf(out, "  %-10s %s\n", main_commands[i].name, main_commands[i].help);
	fputs("\n", out);
	options_help(out);
}

static int main_cmd_help(const struct options *o)
{
	(void)o;
	main_usage(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;

	if (options_parse(argc, argv, &o) != 0)
		return 2;
	for (size_t i = 0; i < MAIN_COMMANDS; i++)
		if (strcmp(o.command, main_commands[i].name) == 0)
			return main_commands[i].run(&o);
	fprintf(stderr, "boxoffice: unknown command '%s'\n", o.command);
	main_usage(stderr);
	return 2;
}
