/* api_internal.h - what the api/ files share; not for other layers. */
#ifndef BOXOFFICE_API_API_INTERNAL_H
#define BOXOFFICE_API_API_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "api/api.h"
#include "api/jbuf.h"

struct seatmap_cache;

enum { API_OPS = STORE_OP_NOTIFY + 1 };

struct api_metrics {
	atomic_llong writes[API_OPS][OUTCOME_COUNT]; /* answered writes */
	atomic_llong holds_expired;                  /* by this node's sweeper */
	atomic_llong seatmap_hits, seatmap_misses;
};

enum { API_INFLIGHT_BUCKETS = 256 };

struct api_inflight; /* Idempotency-Keys whose first request still runs */

struct api {
	struct api_config cfg;
	struct store *store;
	struct seatmap_cache *seatmaps;
	struct api_metrics metrics;
	pthread_mutex_t inflight_lock;
	struct api_inflight *inflight[API_INFLIGHT_BUCKETS];
};

/* A write waiting for the store; freed when its request ends. */
struct api_pending {
	struct api *api;
	struct http_request *req;
	int inflight;  /* its Idempotency-Key is in api->inflight */
	char *request; /* method, path and body, for the idempotency record */
	struct store_cmd cmd;
};

extern const char api_json_type[];

/* Answers with the buffer's JSON (taken). */
void api_send(struct http_request *req, unsigned status, struct jbuf *b);
/* Writes {"error":{code,message[,seats]}} into b. */
void api_error_json(struct jbuf *b, const char *code, const char *message, const struct seat *seats,
                    int nseats);
/* Writes the error body of an outcome into b and returns its status: the
 * one mapping from business outcome to status and error body. */
unsigned api_outcome_json(struct jbuf *b, enum outcome o, const struct seat *bad, int nbad);
/* Finishes an answer built in b (for a store_answer_fn). */
int api_answer_take(struct jbuf *b, unsigned code, unsigned *status, char **body, size_t *len);
/* Answers {"error":{code,message[,seats]}}. */
void api_error(struct http_request *req, unsigned status, const char *code, const char *message,
               const struct seat *seats, int nseats);
void api_bad_request(struct http_request *req, const char *message);
/* Answers with the outcome's status and error body. */
void api_outcome_error(struct http_request *req, enum outcome o, const struct seat *bad, int nbad);

/* Parses the body as a JSON object; on failure answers and returns NULL. */
json_t *api_parse_object(struct http_request *req);
/* Field readers: 0 on success; on failure they answer 400 and return -1. */
int api_field_id(struct http_request *req, json_t *obj, const char *name, int64_t *out);
int api_field_int(struct http_request *req, json_t *obj, const char *name, long min, long max,
                  long *out);
int api_field_string(struct http_request *req, json_t *obj, const char *name, size_t max,
                     char *out);
int api_field_username(struct http_request *req, json_t *obj, char out[USERNAME_MAX + 1]);
int api_field_seats(struct http_request *req, json_t *obj, int max, struct seat *out, int *n);
int api_query_username(struct http_request *req, char out[USERNAME_MAX + 1]);
int api_path_id(struct http_request *req, const char *segment, int64_t *out);

/* answer builds the HTTP answer of the finished command. */
struct api_pending *api_pending_new(struct api *api, struct http_request *req,
                                    store_answer_fn answer);
/* Takes p: checks its Idempotency-Key, suspends the request and queues
 * p->cmd; the answer is sent when the store is done. */
void api_submit(struct api_pending *p);

void api_booking_json(struct jbuf *b, const struct booking *bk);
/* Counts an answered write (for /metrics). */
void api_count_write(struct api *api, const struct store_cmd *cmd);

/* Resource handlers; seg is the {id} path segment or NULL. */
void api_shows_active(struct api *api, struct http_request *req, const char *seg);
void api_shows_get(struct api *api, struct http_request *req, const char *seg);
void api_bookings_hold(struct api *api, struct http_request *req, const char *seg);
void api_bookings_hold_best(struct api *api, struct http_request *req, const char *seg);
void api_bookings_confirm(struct api *api, struct http_request *req, const char *seg);
void api_bookings_release(struct api *api, struct http_request *req, const char *seg);
void api_bookings_cancel(struct api *api, struct http_request *req, const char *seg);
void api_bookings_details(struct api *api, struct http_request *req, const char *seg);
void api_bookings_user(struct api *api, struct http_request *req, const char *seg);
void api_admin_screens(struct api *api, struct http_request *req, const char *seg);
void api_admin_movies(struct api *api, struct http_request *req, const char *seg);
void api_admin_shows(struct api *api, struct http_request *req, const char *seg);
void api_admin_show_cancel(struct api *api, struct http_request *req, const char *seg);
/* The embedded page, spec and docs files (api_web.c), found by path. */
void api_web_file(struct api *api, struct http_request *req, const char *seg);

struct seatmap_cache *seatmap_cache_new(void);
void seatmap_cache_free(struct seatmap_cache *c);
void seatmap_cache_invalidate(struct seatmap_cache *c, int64_t show_id);

#endif
