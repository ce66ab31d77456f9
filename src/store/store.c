/* store.c - picks the backend from the URL and forwards to it; guards the
 * seam with asserts on every wrapper's preconditions (as SQLite guards its
 * interfaces: a caller's bug stops a debug build at the call, not deep in
 * a backend); owns the plumbing every backend shares (store/backend.h). */
#include "store/store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/timefmt.h"
#include "store/backend.h"
#include "store/verify_checks.h"

enum { STORE_VERIFY_SQL_MAX = 2048, STORE_VERIFY_EXAMPLE_MAX = 256 };

struct store {
	const struct store_ops *ops;
	void *state;
	struct store_config cfg;
	struct store_listener listener;
};

void store_cmd_clear(struct store_cmd *cmd)
{
	free(cmd->changes);
	cmd->changes = NULL;
	cmd->nchanges = 0;
	free(cmd->answer_body);
	cmd->answer_body = NULL;
	cmd->answer_len = 0;
}

void store_show_details_free(struct show_details *d)
{
	free(d->available); /* held and booked live in the same block */
	d->available = d->held = d->booked = NULL;
}

static const struct store_ops *store_backend_for(const char *url)
{
	if (strncmp(url, "sqlite:", 7) == 0)
		return &store_sqlite_ops;
	if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
		return &store_pg_ops;
	return NULL;
}

int store_open(const struct store_config *cfg, struct store **out)
{
	const struct store_ops *ops = store_backend_for(cfg->url);
	struct store *st;
	int rc;

	assert(cfg != NULL && cfg->url != NULL && out != NULL);
	assert(cfg->hold_ttl_ms > 0 && cfg->hold_max_lifetime_ms >= cfg->hold_ttl_ms);
	assert(cfg->max_seats_per_user >= 1);
	if (ops == NULL)
		return STORE_EINVAL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return STORE_ERR;
	st->ops = ops;
	st->cfg = *cfg;
	pthread_mutex_init(&st->listener.lock, NULL);
	rc = ops->open(cfg, &st->listener, &st->state);
	if (rc != 0) {
		pthread_mutex_destroy(&st->listener.lock);
		free(st);
		return rc;
	}
	*out = st;
	return 0;
}

void store_drain(struct store *st)
{
	assert(st != NULL);
	st->ops->drain(st->state);
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	st->ops->close(st->state);
	pthread_mutex_destroy(&st->listener.lock);
	free(st);
}

void store_set_listener(struct store *st, store_listener_fn fn, void *arg)
{
	assert(st != NULL);
	pthread_mutex_lock(&st->listener.lock);
	st->listener.fn = fn;
	st->listener.arg = arg;
	pthread_mutex_unlock(&st->listener.lock);
}

void store_listener_tell(struct store_listener *l, const struct store_cmd *cmd)
{
	pthread_mutex_lock(&l->lock);
	store_listener_fn fn = l->fn;
	void *arg = l->arg;
	pthread_mutex_unlock(&l->lock);
	if (fn != NULL)
		fn(arg, cmd);
}

const char *store_backend_name(const struct store *st)
{
	assert(st != NULL);
	return st->ops->name;
}

int64_t store_config_now(const struct store_config *cfg)
{
	return cfg->clock ? cfg->clock(cfg->clock_arg) : timefmt_now_ms();
}

int64_t store_now(const struct store *st)
{
	assert(st != NULL);
	return store_config_now(&st->cfg);
}

void store_cmd_reset_output(struct store_cmd *cmd)
{
	cmd->outcome = OUTCOME_UNAVAILABLE;
	cmd->nbad = 0;
	cmd->nchanges = 0;
	cmd->expired = 0;
	cmd->replayed = false;
	cmd->pick_conflict = false;
	free(cmd->answer_body);
	cmd->answer_body = NULL;
	cmd->answer_len = 0;
	memset(&cmd->booking, 0, sizeof(cmd->booking));
}

int store_show_details_alloc(struct show_details *d)
{
	size_t total = (size_t)(d->total_seats > 0 ? d->total_seats : 1);
	struct seat *all = malloc(sizeof(*all) * total * 3);

	if (all == NULL)
		return -1;
	d->available = all;
	d->held = all + total;
	d->booked = all + 2 * total;
	return 0;
}

/* Keeps the command's answer: a stored one (replayed) or a fresh one. */
int store_cmd_set_answer(struct store_cmd *cmd, unsigned status, const char *body, size_t len)
{
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return -1;
	memcpy(copy, body, len);
	copy[len] = '\0';
	free(cmd->answer_body);
	cmd->answer_body = copy;
	cmd->answer_len = len;
	cmd->answer_status = status;
	return 0;
}

int store_answer_storable(unsigned status)
{
	/* Validation failures and server errors are not replayed. */
	return status != 400 && status < 500;
}

#ifndef NDEBUG
/* The preconditions of a write: what api/ validated before submitting. */
static void store_cmd_assert_valid(const struct store_cmd *cmd)
{
	assert(cmd != NULL && cmd->done != NULL);
	assert(cmd->op >= STORE_OP_HOLD && cmd->op < STORE_OP_NOTIFY); /* NOTIFY: listener only */
	assert(cmd->nseats >= 0 && cmd->nseats <= BOOKING_SEATS_MAX);
	assert(memchr(cmd->username, '\0', sizeof(cmd->username)) != NULL);
	assert(memchr(cmd->idem_key, '\0', sizeof(cmd->idem_key)) != NULL);
	assert(cmd->idem_key[0] == '\0' || cmd->answer == NULL || cmd->idem_request != NULL);
	switch (cmd->op) {
	case STORE_OP_HOLD:
	case STORE_OP_CONFIRM:
		assert(cmd->nseats >= 1);
		break;
	case STORE_OP_RELEASE:
		assert(cmd->all_seats || cmd->nseats >= 1);
		break;
	case STORE_OP_HOLD_BEST:
		assert(cmd->count >= 1 && cmd->count <= BOOKING_SEATS_MAX);
		assert(!cmd->picked || cmd->nseats == 0 || cmd->nseats == cmd->count);
		break;
	case STORE_OP_CREATE_SCREEN:
		assert(cmd->rows >= 1 && cmd->rows <= SEAT_ROWS_MAX);
		assert(cmd->seats_per_row >= 1 && cmd->seats_per_row <= SEAT_NUMBER_MAX);
		break;
	default:
		break;
	}
	for (int i = 0; i < cmd->nseats; i++)
		assert(cmd->seats[i].row >= 0 && cmd->seats[i].number >= 1);
}
#endif

int store_submit(struct store *st, struct store_cmd *cmd)
{
	assert(st != NULL);
#ifndef NDEBUG
	store_cmd_assert_valid(cmd);
#endif
	return st->ops->submit(st->state, cmd);
}

int store_pick(struct store *st, struct store_cmd *cmd)
{
	assert(st != NULL && cmd != NULL && cmd->op == STORE_OP_HOLD_BEST);
	store_unpick(cmd);
	return st->ops->pick != NULL ? st->ops->pick(st->state, cmd) : 0;
}

void store_unpick(struct store_cmd *cmd)
{
	cmd->picked = false;
	cmd->nseats = 0;
}

int store_active_shows(struct store *st, struct show_summary **out, size_t *n)
{
	assert(st != NULL && out != NULL && n != NULL);
	return st->ops->active_shows(st->state, out, n);
}

int store_show_details(struct store *st, int64_t show_id, struct show_details *out, enum outcome *o)
{
	assert(st != NULL && out != NULL && o != NULL);
	return st->ops->show_details(st->state, show_id, out, o);
}

int store_booking_details(struct store *st, const char *username, const char *reference,
                          struct booking *out, enum outcome *o)
{
	assert(st != NULL && username != NULL && reference != NULL && out != NULL && o != NULL);
	return st->ops->booking_details(st->state, username, reference, out, o);
}

int store_user_bookings_page(struct store *st, const char *username, const struct store_page *page,
                             struct booking **out, size_t *n, struct store_page_next *next)
{
	assert(st != NULL && username != NULL && page != NULL && out != NULL && n != NULL &&
	       next != NULL);
	assert(page->limit >= 1 && page->limit <= STORE_PAGE_MAX);
	return st->ops->user_bookings_page(st->state, username, page, out, n, next);
}

int store_user_bookings(struct store *st, const char *username, struct booking **out, size_t *n)
{
	assert(st != NULL && username != NULL && out != NULL && n != NULL);
	return st->ops->user_bookings(st->state, username, out, n);
}

bool store_feed_shared(const struct store *st)
{
	assert(st != NULL);
	return st->ops->feed_head != NULL;
}

int store_feed_head(struct store *st, int64_t show_id, int64_t *seq)
{
	assert(st != NULL && seq != NULL);
	if (st->ops->feed_head == NULL)
		return STORE_EINVAL;
	return st->ops->feed_head(st->state, show_id, seq);
}

int store_next_expiry(struct store *st, int64_t *at)
{
	assert(st != NULL && at != NULL);
	return st->ops->next_expiry(st->state, at);
}

int store_ping(struct store *st)
{
	assert(st != NULL);
	return st->ops->ping(st->state);
}

int store_exclusive(struct store *st, int (*fn)(void *arg), void *arg)
{
	assert(st != NULL && fn != NULL);
	return st->ops->exclusive(st->state, fn, arg);
}

int store_durability(struct store *st, struct store_durability *out)
{
	assert(st != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	return st->ops->durability(st->state, out);
}

void store_durability_add(struct store_durability *d, const char *name, const char *value,
                          const char *risk)
{
	if (d->n >= STORE_SETTINGS_MAX)
		return;
	struct store_setting *s = &d->settings[d->n++];
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->value, sizeof(s->value), "%s", value ? value : "");
	s->risk = risk;
}

int store_verify(struct store *st, struct store_report *report)
{
	assert(st != NULL && report != NULL);
	memset(report, 0, sizeof(*report));
	return st->ops->verify(st->state, report);
}

/* Appends "ok NAME" or "FAIL NAME: N rows, e.g. EXAMPLE". */
static void store_report_add(struct store_report *r, const char *name, long long violations,
                             const char *example)
{
	char *line = NULL;
	int n = violations == 0 ? asprintf(&line, "ok   %s\n", name)
	                        : asprintf(&line, "FAIL %s: %lld rows, e.g. %s\n", name, violations,
	                                   example ? example : "?");

	r->checks++;
	if (violations != 0)
		r->failed++;
	if (n < 0)
		return;
	char *p = realloc(r->text, r->len + (size_t)n + 1);
	if (p != NULL) {
		memcpy(p + r->len, line, (size_t)n + 1);
		r->text = p;
		r->len += (size_t)n;
	}
	free(line);
}

int store_verify_run(struct store_report *report, const char *now_expr, store_verify_query_fn query,
                     void *ctx)
{
	for (size_t i = 0; i < sizeof(verify_checks) / sizeof(verify_checks[0]); i++) {
		char sql[STORE_VERIFY_SQL_MAX], example[STORE_VERIFY_EXAMPLE_MAX] = "";
		long long violations = 0;

		verify_sql(verify_checks[i].sql, now_expr, sql, sizeof(sql));
		if (query(ctx, sql, &violations, example, sizeof(example)) != 0)
			return -1;
		store_report_add(report, verify_checks[i].name, violations, example);
	}
	return 0;
}

struct store_waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int finished;
};

static void store_run_done(struct store_cmd *cmd)
{
	struct store_waiter *w = cmd->arg;

	pthread_mutex_lock(&w->lock);
	w->finished = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int store_run(struct store *st, struct store_cmd *cmd)
{
	struct store_waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	int rc;

	cmd->done = store_run_done;
	cmd->arg = &w;
	rc = store_submit(st, cmd);
	if (rc == 0) {
		pthread_mutex_lock(&w.lock);
		while (!w.finished)
			pthread_cond_wait(&w.cond, &w.lock);
		pthread_mutex_unlock(&w.lock);
	}
	cmd->done = NULL; /* the waiter dies with this frame */
	cmd->arg = NULL;
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.cond);
	return rc;
}

void store_stats(struct store *st, struct store_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (st->ops->stats != NULL)
		st->ops->stats(st->state, out);
}

int store_sync_path(const char *path, int dir)
{
	int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int store_sync_dir_of(const char *path)
{
	char copy[PATH_MAX];

	if ((size_t)snprintf(copy, sizeof(copy), "%s", path) >= sizeof(copy)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return store_sync_path(dirname(copy), 1);
}
