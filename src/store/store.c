/* store.c - picks the backend from the URL and forwards to it. */
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timefmt.h"

struct store {
	const struct store_ops *ops;
	void *state;
	struct store_config cfg;
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

	if (ops == NULL)
		return STORE_EINVAL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return STORE_ERR;
	st->ops = ops;
	st->cfg = *cfg;
	rc = ops->open(cfg, &st->state);
	if (rc != 0) {
		free(st);
		return rc;
	}
	*out = st;
	return 0;
}

void store_drain(struct store *st)
{
	st->ops->drain(st->state);
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	st->ops->close(st->state);
	free(st);
}

void store_set_listener(struct store *st, store_listener_fn fn, void *arg)
{
	st->ops->set_listener(st->state, fn, arg);
}

const char *store_backend_name(const struct store *st)
{
	return st->ops->name;
}

int64_t store_now(const struct store *st)
{
	return st->cfg.clock ? st->cfg.clock(st->cfg.clock_arg) : timefmt_now_ms();
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

int store_submit(struct store *st, struct store_cmd *cmd)
{
	return st->ops->submit(st->state, cmd);
}

int store_active_shows(struct store *st, struct show_summary **out, size_t *n)
{
	return st->ops->active_shows(st->state, out, n);
}

int store_show_details(struct store *st, int64_t show_id, struct show_details *out, enum outcome *o)
{
	return st->ops->show_details(st->state, show_id, out, o);
}

int store_booking_details(struct store *st, const char *username, const char *reference,
                          struct booking *out, enum outcome *o)
{
	return st->ops->booking_details(st->state, username, reference, out, o);
}

int store_user_bookings(struct store *st, const char *username, struct booking **out, size_t *n)
{
	return st->ops->user_bookings(st->state, username, out, n);
}

bool store_feed_shared(const struct store *st)
{
	return st->ops->feed_head != NULL;
}

int store_feed_head(struct store *st, int64_t show_id, int64_t *seq)
{
	if (st->ops->feed_head == NULL)
		return STORE_EINVAL;
	return st->ops->feed_head(st->state, show_id, seq);
}

int store_next_expiry(struct store *st, int64_t *at)
{
	return st->ops->next_expiry(st->state, at);
}

int store_ping(struct store *st)
{
	return st->ops->ping(st->state);
}

int store_exclusive(struct store *st, int (*fn)(void *arg), void *arg)
{
	return st->ops->exclusive(st->state, fn, arg);
}

int store_durability(struct store *st, struct store_durability *out)
{
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
	memset(report, 0, sizeof(*report));
	return st->ops->verify(st->state, report);
}

void store_report_add(struct store_report *r, const char *name, long long violations,
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
