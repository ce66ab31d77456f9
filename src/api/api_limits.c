/* api_limits.c - rate limits and the per-address hoarding cap (see
 * api_limits.h). */
#include "api/api_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"

enum { API_ADDR_TEXT = 48 };

struct api_hoard_user {
	uint64_t user; /* hash of the username */
	int nseats;
	int64_t expires_at;
};

/* The carts seen from one address in one show. */
struct api_hoard {
	struct api_hoard *next;
	char ip[API_ADDR_TEXT];
	int64_t show_id;
	int n, cap;
	struct api_hoard_user *users;
};

static const char *const api_limit_names[API_LIMIT_CLASSES] = {
    [API_LIMIT_NONE] = "none",
    [API_LIMIT_READ] = "read_per_ip",
    [API_LIMIT_WRITE] = "write_per_ip",
    [API_LIMIT_ADMIN] = "admin_per_ip",
};

int api_limits_init(struct api_limits *l, const struct api_config *cfg)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->hoard_lock, NULL);
	l->held_per_ip = cfg->max_held_seats_per_ip;
	if (ratelimit_new(&cfg->read_rate_ip, &l->per_ip[API_LIMIT_READ]) != 0 ||
	    ratelimit_new(&cfg->write_rate_ip, &l->per_ip[API_LIMIT_WRITE]) != 0 ||
	    ratelimit_new(&cfg->admin_rate_ip, &l->per_ip[API_LIMIT_ADMIN]) != 0 ||
	    ratelimit_new(&cfg->write_rate_user, &l->write_user) != 0) {
		api_limits_destroy(l);
		return -1;
	}
	return 0;
}

void api_limits_destroy(struct api_limits *l)
{
	for (int c = 0; c < API_LIMIT_CLASSES; c++)
		ratelimit_free(l->per_ip[c]);
	ratelimit_free(l->write_user);
	for (size_t i = 0; i < API_HOARD_BUCKETS; i++) {
		while (l->hoard[i] != NULL) {
			struct api_hoard *h = l->hoard[i];
			l->hoard[i] = h->next;
			free(h->users);
			free(h);
		}
	}
	pthread_mutex_destroy(&l->hoard_lock);
	memset(l, 0, sizeof(*l));
}

static int64_t api_limits_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void api_limits_refuse(struct http_request *req, unsigned retry_after, const char *what)
{
	char retry[16], msg[API_MESSAGE_MAX];

	snprintf(retry, sizeof(retry), "%u", retry_after);
	snprintf(msg, sizeof(msg), "too many requests %s; retry in %u s", what, retry_after);
	api_error_header(req, API_ERR_RATE_LIMITED, msg, "Retry-After", retry);
}

int api_limits_admit(struct api *api, struct http_request *req, enum api_limit_class c)
{
	struct ratelimit *rl = api->limits.per_ip[c];
	unsigned retry = 1;

	if (rl == NULL)
		return 0;
	const char *ip = http_client_addr(req);
	if (ratelimit_take(rl, ip, strlen(ip), api_limits_now_ms(), &retry))
		return 0;
	atomic_fetch_add_explicit(&api->limits.refused[c], 1, memory_order_relaxed);
	api_limits_refuse(req, retry, "from this address");
	return -1;
}

int api_limits_admit_user(struct api *api, struct http_request *req, const char *username)
{
	unsigned retry = 1;

	if (api->limits.write_user == NULL ||
	    ratelimit_take(api->limits.write_user, username, strlen(username), api_limits_now_ms(),
	                   &retry))
		return 0;
	atomic_fetch_add_explicit(&api->limits.refused_user, 1, memory_order_relaxed);
	api_limits_refuse(req, retry, "by this user");
	return -1;
}

static uint64_t api_hoard_hash(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

/* The pair's entry; with create, made when missing (NULL when the table is
 * full or memory ran out: the cap then does not apply). Under hoard_lock. */
static struct api_hoard *api_hoard_find(struct api_limits *l, const char *ip, int64_t show_id,
                                        int create)
{
	uint64_t h = api_hoard_hash(ip) ^ (uint64_t)show_id * 0x9e3779b97f4a7c15ull;
	struct api_hoard **pp = &l->hoard[h % API_HOARD_BUCKETS];

	for (; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->show_id == show_id && strcmp((*pp)->ip, ip) == 0)
			return *pp;
	if (!create || l->hoard_entries >= API_HOARD_ENTRIES_MAX)
		return NULL;
	struct api_hoard *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	snprintf(e->ip, sizeof(e->ip), "%s", ip);
	e->show_id = show_id;
	*pp = e;
	l->hoard_entries++;
	return e;
}

/* Drops the carts that have expired; under hoard_lock. */
static void api_hoard_prune(struct api_hoard *e, int64_t now)
{
	int w = 0;

	for (int i = 0; i < e->n; i++)
		if (e->users[i].nseats > 0 && e->users[i].expires_at > now)
			e->users[w++] = e->users[i];
	e->n = w;
}

int api_limits_admit_hold(struct api *api, struct http_request *req, const struct store_cmd *cmd)
{
	struct api_limits *l = &api->limits;
	int want = cmd->op == STORE_OP_HOLD_BEST ? cmd->count : cmd->nseats;
	long held = 0;

	if (l->held_per_ip <= 0)
		return 0;
	const char *ip = http_client_addr(req);
	pthread_mutex_lock(&l->hoard_lock);
	struct api_hoard *e = api_hoard_find(l, ip, cmd->show_id, 0);
	if (e != NULL) {
		/* Every live cart, the holder's own too: it only grows. */
		api_hoard_prune(e, store_now(api->store));
		for (int i = 0; i < e->n; i++)
			held += e->users[i].nseats;
	}
	pthread_mutex_unlock(&l->hoard_lock);
	if (held + want <= l->held_per_ip)
		return 0;
	atomic_fetch_add_explicit(&l->refused_held, 1, memory_order_relaxed);
	char msg[API_MESSAGE_MAX];
	snprintf(msg, sizeof(msg),
	         "this client address already holds %ld seats in this show; at most %d at once",
	         held, l->held_per_ip);
	api_error(req, api_err_of(OUTCOME_HOLD_LIMIT_EXCEEDED), msg);
	return -1;
}

void api_limits_note(struct api *api, struct http_request *req, const struct store_cmd *cmd)
{
	struct api_limits *l = &api->limits;

	if (l->held_per_ip <= 0 || cmd->replayed || cmd->outcome != OUTCOME_OK)
		return;
	if (cmd->op != STORE_OP_HOLD && cmd->op != STORE_OP_HOLD_BEST &&
	    cmd->op != STORE_OP_CONFIRM && cmd->op != STORE_OP_RELEASE &&
	    cmd->op != STORE_OP_CANCEL)
		return;
	const struct booking *bk = &cmd->booking;
	int nseats = bk->status == BOOKING_STAGED ? bk->nseats : 0;
	uint64_t me = api_hoard_hash(bk->username);
	const char *ip = http_client_addr(req);
	pthread_mutex_lock(&l->hoard_lock);
	struct api_hoard *e = api_hoard_find(l, ip, bk->show_id, nseats > 0);
	if (e != NULL) {
		api_hoard_prune(e, store_now(api->store));
		int i = 0;
		while (i < e->n && e->users[i].user != me)
			i++;
		if (i == e->n && nseats > 0 && e->n < API_HOARD_USERS_MAX) {
			if (e->n == e->cap) {
				int cap = e->cap ? e->cap * 2 : 8;
				struct api_hoard_user *u =
				    realloc(e->users, (size_t)cap * sizeof(*u));
				if (u != NULL) {
					e->users = u;
					e->cap = cap;
				}
			}
			if (e->n < e->cap)
				e->users[e->n++] = (struct api_hoard_user){me, 0, 0};
		}
		if (i < e->n) {
			e->users[i].nseats = nseats;
			e->users[i].expires_at = bk->expires_at;
		}
	}
	pthread_mutex_unlock(&l->hoard_lock);
}

static void api_limits_counter(struct jbuf *b, const char *labels, long long v)
{
	jbuf_lit(b, "boxoffice_rate_limited_total{limit=\"");
	jbuf_lit(b, labels);
	jbuf_lit(b, "\"} ");
	jbuf_int(b, v);
	jbuf_lit(b, "\n");
}

void api_limits_metrics_write(struct api *api, struct jbuf *b)
{
	struct api_limits *l = &api->limits;

	jbuf_lit(b, "# HELP boxoffice_rate_limited_total Requests refused by a rate limit or the "
	            "per-address held-seat cap.\n# TYPE boxoffice_rate_limited_total counter\n");
	for (int c = API_LIMIT_READ; c < API_LIMIT_CLASSES; c++)
		api_limits_counter(b, api_limit_names[c],
		                   atomic_load_explicit(&l->refused[c], memory_order_relaxed));
	api_limits_counter(b, "write_per_user",
	                   atomic_load_explicit(&l->refused_user, memory_order_relaxed));
	api_limits_counter(b, "held_seats_per_ip",
	                   atomic_load_explicit(&l->refused_held, memory_order_relaxed));
}
