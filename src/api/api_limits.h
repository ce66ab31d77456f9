/* api_limits.h - the API's rate limits and its hoarding cap (issue 12).
 *
 * Token buckets (api/ratelimit.h) per client address for each class of
 * path, kept apart so that none can starve another: sales writes, reads,
 * admin. Per username on writes. And a cap on the seats one client address
 * holds live in one show, counted from the carts this node's answers
 * showed (so it is per node, and a user's seats count for the address that
 * last changed their cart). Refusals are 429 RATE_LIMITED with Retry-After
 * (the cap: 409 HOLD_LIMIT_EXCEEDED) and are counted for /metrics. */
#ifndef BOXOFFICE_API_API_LIMITS_H
#define BOXOFFICE_API_API_LIMITS_H

#include <pthread.h>
#include <stdatomic.h>

#include "api/jbuf.h"
#include "api/ratelimit.h"
#include "http/http.h"
#include "store/store.h"

struct api;
struct api_config;

enum api_limit_class {
	API_LIMIT_NONE,  /* health, metrics: never limited */
	API_LIMIT_READ,  /* GET of shows, bookings, the page */
	API_LIMIT_WRITE, /* the sales path: booking writes */
	API_LIMIT_ADMIN, /* /api/admin/... */
	API_LIMIT_CLASSES
};

enum {
	API_HOARD_BUCKETS = 4096,      /* (address, show) table */
	API_HOARD_ENTRIES_MAX = 65536, /* (address, show) pairs tracked at once */
	API_HOARD_USERS_MAX = 1024,    /* carts tracked per pair */
};

struct api_hoard;

struct api_limits {
	struct ratelimit *per_ip[API_LIMIT_CLASSES]; /* NULL: off */
	struct ratelimit *write_user;                /* NULL: off */
	int held_per_ip;                             /* 0: off */
	pthread_mutex_t hoard_lock;
	struct api_hoard *hoard[API_HOARD_BUCKETS];
	size_t hoard_entries;
	atomic_llong refused[API_LIMIT_CLASSES], refused_user, refused_held;
};

/* From the api's configuration; 0, or -1 out of memory. */
int api_limits_init(struct api_limits *l, const struct api_config *cfg);
void api_limits_destroy(struct api_limits *l);

/* 0 when the request's client address may go on in this class; else -1
 * after answering 429 with Retry-After. */
int api_limits_admit(struct api *api, struct http_request *req, enum api_limit_class c);
/* The same for a write by username. */
int api_limits_admit_user(struct api *api, struct http_request *req, const char *username);
/* For a hold of cmd->nseats (hold-best: cmd->count) by cmd->username in
 * cmd->show_id: 0 when the client address stays within its cap, else -1
 * after answering 409 HOLD_LIMIT_EXCEEDED. */
int api_limits_admit_hold(struct api *api, struct http_request *req, const struct store_cmd *cmd);
/* Notes the cart a finished booking write answered with. */
void api_limits_note(struct api *api, struct http_request *req, const struct store_cmd *cmd);

/* The rate-limit refusal counters in Prometheus text format (http/'s
 * connection refusals are api_opsmetrics.c's). */
void api_limits_metrics_write(struct api *api, struct jbuf *b);

#endif
