/* api.c - routing, request parsing helpers, errors and the write path
 * shared by every resource. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "core/num.h"
#include "core/timefmt.h"

const char api_json_type[] = "application/json";

/* ---- answers ---- */

void api_send(struct http_request *req, unsigned status, struct jbuf *b)
{
	size_t len;
	char *body = jbuf_take(b, &len);

	if (body == NULL)
		return; /* out of memory: the adapter drops the connection */
	http_respond(req, status, api_json_type, body, len, NULL, NULL);
}

void api_error_json(struct jbuf *b, const char *code, const char *message, const struct seat *seats,
                    int nseats)
{
	jbuf_lit(b, "{\"error\":{\"code\":");
	jbuf_str(b, code);
	jbuf_lit(b, ",\"message\":");
	jbuf_str(b, message);
	if (nseats > 0) {
		jbuf_lit(b, ",\"seats\":");
		jbuf_seats(b, seats, (size_t)nseats);
	}
	jbuf_lit(b, "}}");
}

static void api_error_with_header(struct http_request *req, unsigned status, const char *code,
                                  const char *message, const char *hname, const char *hvalue)
{
	struct jbuf b;
	size_t len;

	jbuf_init(&b, 128);
	api_error_json(&b, code, message, NULL, 0);
	char *body = jbuf_take(&b, &len);
	if (body != NULL)
		http_respond(req, status, api_json_type, body, len, hname, hvalue);
}

void api_error(struct http_request *req, unsigned status, const char *code, const char *message,
               const struct seat *seats, int nseats)
{
	struct jbuf b;

	jbuf_init(&b, 128);
	api_error_json(&b, code, message, seats, nseats);
	api_send(req, status, &b);
}

int api_answer_take(struct jbuf *b, unsigned code, unsigned *status, char **body, size_t *len)
{
	*body = jbuf_take(b, len);
	*status = code;
	return *body != NULL ? 0 : -1;
}

void api_bad_request(struct http_request *req, const char *message)
{
	api_error(req, 400, "INVALID_REQUEST", message, NULL, 0);
}

struct api_outcome_info {
	unsigned status;
	const char *message;
};

static const struct api_outcome_info api_outcomes[OUTCOME_COUNT] = {
    [OUTCOME_OK] = {200, "ok"},
    [OUTCOME_CREATED] = {201, "created"},
    [OUTCOME_INVALID_REQUEST] = {400, "the request is not valid"},
    [OUTCOME_UNKNOWN_SEATS] = {400, "some seats do not exist in this show's screen"},
    [OUTCOME_SHOW_NOT_FOUND] = {404, "there is no show with this id"},
    [OUTCOME_BOOKING_NOT_FOUND] = {404, "this user has no such booking"},
    [OUTCOME_MOVIE_NOT_FOUND] = {404, "there is no movie with this id"},
    [OUTCOME_SCREEN_NOT_FOUND] = {404, "there is no screen with this id"},
    [OUTCOME_SEATS_UNAVAILABLE] = {409, "some seats are not available"},
    [OUTCOME_SEATS_NOT_HELD] = {409, "some seats are not held by this user, or the hold expired"},
    [OUTCOME_SHOW_NOT_BOOKABLE] = {409, "the show is cancelled or has already started"},
    [OUTCOME_HOLD_LIMIT_EXCEEDED] = {409,
                                     "this would hold more seats than one user may hold in a show"},
    [OUTCOME_BOOKING_NOT_CANCELLABLE] = {409, "the booking has expired or its show has started"},
    [OUTCOME_SCREEN_BUSY] = {409, "another show uses this screen at that time"},
    [OUTCOME_IDEMPOTENCY_KEY_IN_USE] = {409,
                                        "a request with this Idempotency-Key is still running"},
    [OUTCOME_IDEMPOTENCY_KEY_REUSED] = {422, "this Idempotency-Key was used for another request"},
    [OUTCOME_UNAVAILABLE] = {503, "storage is unavailable; retry later"},
};

unsigned api_outcome_json(struct jbuf *b, enum outcome o, const struct seat *bad, int nbad)
{
	if ((unsigned)o >= OUTCOME_COUNT)
		o = OUTCOME_UNAVAILABLE;
	api_error_json(b, outcome_name(o), api_outcomes[o].message, bad, nbad);
	return api_outcomes[o].status;
}

void api_outcome_error(struct http_request *req, enum outcome o, const struct seat *bad, int nbad)
{
	struct jbuf b;

	jbuf_init(&b, 128);
	unsigned status = api_outcome_json(&b, o, bad, nbad);
	api_send(req, status, &b);
}

/* ---- request parsing ---- */

json_t *api_parse_object(struct http_request *req)
{
	const char *ctype = http_header(req, "Content-Type");
	json_error_t err;
	size_t len;
	const char *body = http_body_data(req, &len);

	/* A missing Content-Type is taken as JSON; anything else must be. */
	if (ctype != NULL && (strncasecmp(ctype, "application/json", 16) != 0 ||
	                      (ctype[16] != '\0' && ctype[16] != ';' && ctype[16] != ' '))) {
		api_error(req, 415, "UNSUPPORTED_MEDIA_TYPE",
		          "the request body must be application/json", NULL, 0);
		return NULL;
	}
	json_t *obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (obj == NULL) {
		api_bad_request(req, "the request body is not valid JSON");
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		api_bad_request(req, "the request body must be a JSON object");
		return NULL;
	}
	return obj;
}

static void api_field_error(struct http_request *req, const char *name, const char *what)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "'%s' %s", name, what);
	api_bad_request(req, msg);
}

int api_field_id(struct http_request *req, json_t *obj, const char *name, int64_t *out)
{
	json_t *v = json_object_get(obj, name);

	if (!json_is_integer(v) || json_integer_value(v) <= 0) {
		api_field_error(req, name, "must be a positive integer");
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

int api_field_int(struct http_request *req, json_t *obj, const char *name, long min, long max,
                  long *out)
{
	json_t *v = json_object_get(obj, name);
	char msg[96];

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(msg, sizeof(msg), "must be an integer from %ld to %ld", min, max);
		api_field_error(req, name, msg);
		return -1;
	}
	*out = (long)json_integer_value(v);
	return 0;
}

int api_field_string(struct http_request *req, json_t *obj, const char *name, size_t max, char *out)
{
	json_t *v = json_object_get(obj, name);
	char msg[96];

	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(msg, sizeof(msg), "must be a string of 1 to %zu characters", max);
		api_field_error(req, name, msg);
		return -1;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int api_username_ok(const char *s)
{
	return s != NULL && strlen(s) <= USERNAME_MAX && booking_username_valid(s);
}

int api_field_username(struct http_request *req, json_t *obj, char out[USERNAME_MAX + 1])
{
	json_t *v = json_object_get(obj, "username");

	if (!json_is_string(v) || !api_username_ok(json_string_value(v))) {
		api_bad_request(req,
		                "'username' must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -");
		return -1;
	}
	memcpy(out, json_string_value(v), strlen(json_string_value(v)) + 1);
	return 0;
}

int api_query_username(struct http_request *req, char out[USERNAME_MAX + 1])
{
	const char *u = http_query(req, "username");

	if (!api_username_ok(u)) {
		api_bad_request(req,
		                "query parameter 'username' is required: 1 to 64 characters of "
		                "A-Z a-z 0-9 . _ @ -");
		return -1;
	}
	memcpy(out, u, strlen(u) + 1);
	return 0;
}

int api_field_seats(struct http_request *req, json_t *obj, int max, struct seat *out, int *n)
{
	json_t *arr = json_object_get(obj, "seats");
	char msg[128];
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > (size_t)max) {
		snprintf(msg, sizeof(msg), "'seats' must be an array of 1 to %d seat labels", max);
		api_bad_request(req, msg);
		return -1;
	}
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v) ||
		    seat_parse(json_string_value(v), json_string_length(v), &out[i]) != 0) {
			api_bad_request(req,
			                "every seat must be a label such as \"A1\" or \"AA7\"");
			return -1;
		}
	}
	*n = (int)json_array_size(arr);
	/* Sorted copies make duplicates adjacent; labels compare case-free. */
	seat_sort(out, (size_t)*n);
	if (seat_has_duplicates(out, (size_t)*n)) {
		api_bad_request(req, "'seats' lists a seat more than once");
		return -1;
	}
	return 0;
}

int api_path_id(struct http_request *req, const char *segment, int64_t *out)
{
	if (num_parse_id(segment, strlen(segment), out) != 0) {
		api_bad_request(req, "the id in the path must be a positive integer");
		return -1;
	}
	return 0;
}

/* ---- the write path ---- */

struct api_inflight {
	struct api_inflight *next;
	char key[];
};

static size_t api_inflight_bucket(const char *key)
{
	size_t h = 5381;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = h * 33 + *p;
	return h % API_INFLIGHT_BUCKETS;
}

/* Adds key unless present; returns 0 when added, -1 when it was there
 * (or memory ran out, which is answered the same way: retry later). */
static int api_inflight_add(struct api *api, const char *key)
{
	size_t b = api_inflight_bucket(key), n = strlen(key);
	int rc = 0;

	pthread_mutex_lock(&api->inflight_lock);
	for (struct api_inflight *e = api->inflight[b]; e != NULL && rc == 0; e = e->next)
		if (strcmp(e->key, key) == 0)
			rc = -1;
	if (rc == 0) {
		struct api_inflight *e = malloc(sizeof(*e) + n + 1);
		if (e == NULL) {
			rc = -1;
		} else {
			memcpy(e->key, key, n + 1);
			e->next = api->inflight[b];
			api->inflight[b] = e;
		}
	}
	pthread_mutex_unlock(&api->inflight_lock);
	return rc;
}

static void api_inflight_remove(struct api *api, const char *key)
{
	pthread_mutex_lock(&api->inflight_lock);
	for (struct api_inflight **pp = &api->inflight[api_inflight_bucket(key)]; *pp != NULL;
	     pp = &(*pp)->next) {
		if (strcmp((*pp)->key, key) == 0) {
			struct api_inflight *e = *pp;
			*pp = e->next;
			free(e);
			break;
		}
	}
	pthread_mutex_unlock(&api->inflight_lock);
}

static void api_pending_done(struct store_cmd *cmd)
{
	struct api_pending *p = cmd->arg;

	http_resume(p->req);
}

static void api_pending_release_key(struct api_pending *p)
{
	if (p->inflight) {
		api_inflight_remove(p->api, p->cmd.idem_key);
		p->inflight = 0;
	}
}

static void api_pending_free(void *arg)
{
	struct api_pending *p = arg;

	api_pending_release_key(p);
	store_cmd_clear(&p->cmd);
	free(p->request);
	free(p);
}

struct api_pending *api_pending_new(struct api *api, struct http_request *req,
                                    store_answer_fn answer)
{
	struct api_pending *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		api_outcome_error(req, OUTCOME_UNAVAILABLE, NULL, 0);
		return NULL;
	}
	p->api = api;
	p->req = req;
	p->cmd.answer = answer;
	return p;
}

/* Sends the answer of a finished command: the one the store kept (or
 * replayed, byte for byte) or one built now. */
static void api_pending_answer(struct api_pending *p)
{
	struct store_cmd *cmd = &p->cmd;
	unsigned status;
	char *body;
	size_t len;

	api_pending_release_key(p);
	api_count_write(p->api, cmd);
	if (cmd->answer_body != NULL) {
		body = malloc(cmd->answer_len + 1);
		if (body == NULL)
			return;
		memcpy(body, cmd->answer_body, cmd->answer_len + 1);
		http_respond(p->req, cmd->answer_status, api_json_type, body, cmd->answer_len,
		             cmd->replayed ? "Idempotent-Replayed" : NULL,
		             cmd->replayed ? "true" : NULL);
		return;
	}
	if (cmd->answer(cmd, &status, &body, &len) == 0)
		http_respond(p->req, status, api_json_type, body, len, NULL, NULL);
}

/* Checks and takes the request's Idempotency-Key (API.md 11). Returns 0,
 * or -1 after answering (400 for a malformed key, 409 while another
 * request with the key runs on this node). */
static int api_take_key(struct api_pending *p)
{
	const char *key = http_header(p->req, "Idempotency-Key");
	size_t n, len;

	if (key == NULL)
		return 0;
	n = strlen(key);
	for (size_t i = 0; i < n; i++) {
		if (key[i] < 0x20 || key[i] > 0x7e)
			n = 0;
	}
	if (n == 0 || n > IDEMPOTENCY_KEY_MAX) {
		api_bad_request(p->req, "the Idempotency-Key header must be 1 to 255 printable "
		                        "ASCII characters");
		return -1;
	}
	const char *body = http_body_data(p->req, &len);
	p->request = malloc(strlen(http_path(p->req)) + len + 8);
	if (p->request == NULL) {
		api_outcome_error(p->req, OUTCOME_UNAVAILABLE, NULL, 0);
		return -1;
	}
	int head = sprintf(p->request, "%s %s\n", http_method(p->req), http_path(p->req));
	memcpy(p->request + head, body, len);
	p->request[head + (int)len] = '\0';
	if (api_inflight_add(p->api, key) != 0) {
		api_outcome_error(p->req, OUTCOME_IDEMPOTENCY_KEY_IN_USE, NULL, 0);
		return -1;
	}
	p->inflight = 1;
	memcpy(p->cmd.idem_key, key, n + 1);
	p->cmd.idem_request = p->request;
	p->cmd.idem_request_len = (size_t)head + len;
	return 0;
}

void api_submit(struct api_pending *p)
{
	if (api_take_key(p) != 0) {
		free(p->request);
		free(p);
		return;
	}
	p->cmd.done = api_pending_done;
	p->cmd.arg = p;
	http_set_user_data(p->req, p, api_pending_free);
	/* Suspend first: the store may finish before this function returns. */
	http_suspend(p->req);
	if (store_submit(p->api->store, &p->cmd) != 0) {
		p->cmd.outcome = OUTCOME_UNAVAILABLE;
		http_resume(p->req);
	}
}

/* ---- booking objects ---- */

void api_booking_json(struct jbuf *b, const struct booking *bk)
{
	jbuf_lit(b, "{\"bookingReference\":");
	jbuf_str(b, bk->reference);
	jbuf_lit(b, ",\"status\":");
	jbuf_str(b, booking_status_name(bk->status));
	jbuf_lit(b, ",\"username\":");
	jbuf_str(b, bk->username);
	jbuf_lit(b, ",\"showId\":");
	jbuf_int(b, bk->show_id);
	jbuf_lit(b, ",\"movieName\":");
	jbuf_str(b, bk->movie_name);
	jbuf_lit(b, ",\"screenName\":");
	jbuf_str(b, bk->screen_name);
	jbuf_lit(b, ",\"showTime\":");
	jbuf_time(b, bk->show_time);
	jbuf_lit(b, ",\"seats\":");
	jbuf_seats(b, bk->seats, (size_t)bk->nseats);
	jbuf_lit(b, ",\"totalSeats\":");
	jbuf_int(b, bk->nseats);
	jbuf_lit(b, ",\"createdAt\":");
	jbuf_time(b, bk->created_at);
	jbuf_lit(b, ",\"expiresAt\":");
	jbuf_time(b, bk->status == BOOKING_STAGED ? bk->expires_at : 0);
	jbuf_lit(b, ",\"confirmedAt\":");
	jbuf_time(b, bk->confirmed_at);
	jbuf_lit(b, ",\"cancelledAt\":");
	jbuf_time(b, bk->cancelled_at);
	jbuf_lit(b, "}");
}

/* ---- metrics ---- */

static const char *const api_op_names[API_OPS] = {
    [STORE_OP_HOLD] = "hold",
    [STORE_OP_HOLD_BEST] = "hold_best",
    [STORE_OP_CONFIRM] = "confirm",
    [STORE_OP_RELEASE] = "release",
    [STORE_OP_CANCEL] = "cancel",
    [STORE_OP_EXPIRE_DUE] = "expire_due",
    [STORE_OP_CREATE_SCREEN] = "create_screen",
    [STORE_OP_CREATE_MOVIE] = "create_movie",
    [STORE_OP_CREATE_SHOW] = "create_show",
    [STORE_OP_CANCEL_SHOW] = "cancel_show",
    [STORE_OP_NOTIFY] = "notify",
};

void api_count_write(struct api *api, const struct store_cmd *cmd)
{
	if ((unsigned)cmd->op < API_OPS && (unsigned)cmd->outcome < OUTCOME_COUNT)
		atomic_fetch_add_explicit(&api->metrics.writes[cmd->op][cmd->outcome], 1,
		                          memory_order_relaxed);
}

static void api_metric(struct jbuf *b, const char *name, const char *help, long long v)
{
	jbuf_lit(b, "# HELP ");
	jbuf_lit(b, name);
	jbuf_lit(b, " ");
	jbuf_lit(b, help);
	jbuf_lit(b, "\n# TYPE ");
	jbuf_lit(b, name);
	jbuf_lit(b, " counter\n");
	jbuf_lit(b, name);
	jbuf_lit(b, " ");
	jbuf_int(b, v);
	jbuf_lit(b, "\n");
}

/* The storage's durability settings, read now: one gauge per setting with
 * its value as a label, and how many of them can lose acknowledged writes. */
static void api_metrics_durability(struct api *api, struct jbuf *b)
{
	struct store_durability d;
	int risky = 0;

	if (store_durability(api->store, &d) != 0)
		return;
	jbuf_lit(b, "# HELP boxoffice_storage_setting A storage setting that durability rests on "
	            "(its value is the label).\n# TYPE boxoffice_storage_setting gauge\n");
	for (int i = 0; i < d.n; i++) {
		jbuf_lit(b, "boxoffice_storage_setting{name=");
		jbuf_str(b, d.settings[i].name);
		jbuf_lit(b, ",value=");
		jbuf_str(b, d.settings[i].value);
		jbuf_lit(b, "} 1\n");
		risky += d.settings[i].risk != NULL;
	}
	jbuf_lit(b, "# HELP boxoffice_storage_durability_at_risk Storage settings with which an "
	            "acknowledged write can be lost (0: none).\n"
	            "# TYPE boxoffice_storage_durability_at_risk gauge\n"
	            "boxoffice_storage_durability_at_risk ");
	jbuf_int(b, risky);
	jbuf_lit(b, "\n");
}

static void api_metrics(struct api *api, struct http_request *req, const char *seg)
{
	struct api_metrics *m = &api->metrics;
	struct jbuf b;
	size_t len;
	(void)seg;

	jbuf_init(&b, 4096);
	jbuf_lit(&b, "# HELP boxoffice_writes_total Write requests answered, by operation and "
	             "outcome.\n# TYPE boxoffice_writes_total counter\n");
	for (int op = 0; op < API_OPS; op++) {
		for (int o = 0; o < OUTCOME_COUNT; o++) {
			long long v = atomic_load_explicit(&m->writes[op][o], memory_order_relaxed);
			if (v == 0)
				continue;
			jbuf_lit(&b, "boxoffice_writes_total{op=\"");
			jbuf_lit(&b, api_op_names[op]);
			jbuf_lit(&b, "\",outcome=\"");
			jbuf_lit(&b, outcome_name((enum outcome)o));
			jbuf_lit(&b, "\"} ");
			jbuf_int(&b, v);
			jbuf_lit(&b, "\n");
		}
	}
	api_metric(&b, "boxoffice_holds_expired_total",
	           "Expired holds given back by this node's sweeper.",
	           atomic_load(&m->holds_expired));
	api_metric(&b, "boxoffice_seatmap_cache_hits_total", "Seat maps served from the cache.",
	           atomic_load(&m->seatmap_hits));
	api_metric(&b, "boxoffice_seatmap_cache_misses_total", "Seat maps built from storage.",
	           atomic_load(&m->seatmap_misses));
	api_metrics_durability(api, &b);
	char *body = jbuf_take(&b, &len);
	if (body != NULL)
		http_respond(req, 200, "text/plain; version=0.0.4", body, len, NULL, NULL);
}

/* ---- health ---- */

static void api_healthz(struct api *api, struct http_request *req, const char *seg)
{
	struct jbuf b;
	(void)api;
	(void)seg;

	jbuf_init(&b, 32);
	jbuf_lit(&b, "{\"status\":\"ok\"}");
	api_send(req, 200, &b);
}

static void api_readyz(struct api *api, struct http_request *req, const char *seg)
{
	struct store_durability d;
	struct jbuf b;
	(void)seg;

	if (http_draining(req)) {
		/* Shutting down: balancers stop sending before the node goes. */
		api_error(req, 503, "UNAVAILABLE", "the server is shutting down", NULL, 0);
		return;
	}
	if (store_ping(api->store) != 0) {
		api_outcome_error(req, OUTCOME_UNAVAILABLE, NULL, 0);
		return;
	}
	jbuf_init(&b, 64);
	jbuf_lit(&b, "{\"status\":\"ready\",\"backend\":");
	jbuf_str(&b, store_backend_name(api->store));
	if (store_durability(api->store, &d) == 0) {
		/* "durability":{"settings":{"fsync":"on",...},"atRisk":[names]} */
		jbuf_lit(&b, ",\"durability\":{\"settings\":{");
		for (int i = 0; i < d.n; i++) {
			if (i > 0)
				jbuf_lit(&b, ",");
			jbuf_str(&b, d.settings[i].name);
			jbuf_lit(&b, ":");
			jbuf_str(&b, d.settings[i].value);
		}
		jbuf_lit(&b, "},\"atRisk\":[");
		for (int i = 0, first = 1; i < d.n; i++) {
			if (d.settings[i].risk == NULL)
				continue;
			if (!first)
				jbuf_lit(&b, ",");
			first = 0;
			jbuf_str(&b, d.settings[i].name);
		}
		jbuf_lit(&b, "]}");
	}
	jbuf_lit(&b, "}");
	api_send(req, 200, &b);
}

/* ---- routing ---- */

typedef void (*api_route_fn)(struct api *api, struct http_request *req, const char *seg);

struct api_route {
	const char *method;
	const char *pattern; /* "{id}" matches one path segment */
	api_route_fn fn;
};

static const struct api_route api_routes[] = {
    {"GET", "/healthz", api_healthz},
    {"GET", "/readyz", api_readyz},
    {"GET", "/metrics", api_metrics},
    {"GET", "/api/shows/active", api_shows_active},
    {"GET", "/api/shows/{id}", api_shows_get},
    {"POST", "/api/bookings/hold", api_bookings_hold},
    {"POST", "/api/bookings/hold-best", api_bookings_hold_best},
    {"POST", "/api/bookings/confirm", api_bookings_confirm},
    {"POST", "/api/bookings/release", api_bookings_release},
    {"POST", "/api/bookings/cancel", api_bookings_cancel},
    {"GET", "/api/bookings/details", api_bookings_details},
    {"GET", "/api/bookings/user", api_bookings_user},
    {"POST", "/api/admin/screens", api_admin_screens},
    {"POST", "/api/admin/movies", api_admin_movies},
    {"POST", "/api/admin/shows", api_admin_shows},
    {"POST", "/api/admin/shows/{id}/cancel", api_admin_show_cancel},
    {"GET", "/", api_web_file},
    {"GET", "/web/{id}", api_web_file},
    {"GET", "/openapi.json", api_web_file},
    {"GET", "/docs", api_web_file},
    {"GET", "/docs/{id}", api_web_file},
};

enum { API_SEGMENT_MAX = 64 };

/* Matches path against pattern; copies the {id} segment into seg. */
static int api_route_match(const char *pattern, const char *path, char seg[API_SEGMENT_MAX])
{
	while (*pattern && *path) {
		if (strncmp(pattern, "{id}", 4) == 0) {
			size_t n = strcspn(path, "/");
			if (n == 0)
				return 0;
			if (n >= API_SEGMENT_MAX) {
				strcpy(seg, "-"); /* too long to be an id: the handler says 400 */
			} else {
				memcpy(seg, path, n);
				seg[n] = '\0';
			}
			pattern += 4;
			path += n;
			continue;
		}
		if (*pattern != *path)
			return 0;
		pattern++;
		path++;
	}
	return *pattern == '\0' && *path == '\0';
}

void api_handle(void *arg, struct http_request *req)
{
	struct api *api = arg;
	struct api_pending *p = http_user_data(req);
	const char *method = http_method(req), *path = http_path(req);
	char seg[API_SEGMENT_MAX], allow[32] = "";

	if (p != NULL) {
		/* Resumed after the store finished this request's command. */
		api_pending_answer(p);
		return;
	}
	for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
		const struct api_route *r = &api_routes[i];
		seg[0] = '\0';
		if (!api_route_match(r->pattern, path, seg))
			continue;
		if (strcmp(r->method, method) == 0) {
			r->fn(api, req, seg[0] ? seg : NULL);
			return;
		}
		if (strstr(allow, r->method) == NULL) {
			if (allow[0])
				strcat(allow, ", ");
			strcat(allow, r->method);
		}
	}
	if (allow[0]) {
		api_error_with_header(req, 405, "METHOD_NOT_ALLOWED",
		                      "this path does not accept that method", "Allow", allow);
		return;
	}
	api_error(req, 404, "NOT_FOUND", "there is nothing at this path", NULL, 0);
}

/* ---- lifecycle ---- */

int api_create(const struct api_config *cfg, struct store *st, struct api **out)
{
	struct api *api = calloc(1, sizeof(*api));

	if (api == NULL)
		return -1;
	api->cfg = *cfg;
	api->store = st;
	api->seatmaps = seatmap_cache_new();
	if (api->seatmaps == NULL) {
		free(api);
		return -1;
	}
	pthread_mutex_init(&api->inflight_lock, NULL);
	*out = api;
	return 0;
}

void api_destroy(struct api *api)
{
	if (api == NULL)
		return;
	seatmap_cache_free(api->seatmaps);
	for (size_t i = 0; i < API_INFLIGHT_BUCKETS; i++) {
		while (api->inflight[i] != NULL) {
			struct api_inflight *next = api->inflight[i]->next;
			free(api->inflight[i]);
			api->inflight[i] = next;
		}
	}
	pthread_mutex_destroy(&api->inflight_lock);
	free(api);
}

void api_on_commit(struct api *api, const struct store_cmd *cmd)
{
	int64_t last = 0;

	if (cmd->op == STORE_OP_EXPIRE_DUE)
		atomic_fetch_add(&api->metrics.holds_expired, cmd->expired);
	for (size_t i = 0; i < cmd->nchanges; i++) {
		if (cmd->changes[i].show_id != last) {
			last = cmd->changes[i].show_id;
			seatmap_cache_invalidate(api->seatmaps, last);
		}
	}
	if (cmd->op == STORE_OP_CANCEL_SHOW || (cmd->op == STORE_OP_NOTIFY && cmd->nchanges == 0))
		seatmap_cache_invalidate(api->seatmaps, cmd->show_id);
}
