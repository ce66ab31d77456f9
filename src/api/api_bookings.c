/* api_bookings.c - holds, confirms, releases, cancels and booking reads
 * (API.md 3-8b), and the booking object every one of them answers with.
 *
 * Each write validates its body completely, then becomes one store
 * command; the answer is written after the store's commit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/num.h"

enum { BOOKINGS_PAGE_DEFAULT = 100 }; /* GET /api/bookings/user, API.md 6 */

static void bookings_json(struct jbuf *b, const struct booking *bk)
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

/* The answer of a booking write: the booking, or the outcome's error. A
 * store_answer_fn: it may run inside the store's transaction. */
static int bookings_answer(const struct store_cmd *cmd, unsigned *status, char **body, size_t *len)
{
	struct jbuf b;

	if (cmd->outcome != OUTCOME_OK)
		return api_error_answer(cmd, NULL, status, body, len);
	jbuf_init(&b, 512);
	bookings_json(&b, &cmd->booking);
	return api_answer_take(&b, 200, status, body, len);
}

/* Parses the fields of a booking write's body into cmd. */
typedef int (*bookings_parse_fn)(struct api *api, json_t *obj, struct store_cmd *cmd,
                                 struct api_bad *bad);

/* The one shape of every booking write: the body, username and (but for
 * cancel) showId, then the op's own fields; refused before any storage
 * work, else submitted. */
static void bookings_write(struct api *api, struct http_request *req, enum store_op op,
                           bookings_parse_fn parse)
{
	struct api_bad bad;
	json_t *obj = api_request_object(req);

	if (obj == NULL)
		return;
	struct api_pending *p = api_pending_new(api, req, bookings_answer);
	if (p == NULL) {
		json_decref(obj);
		return;
	}
	p->cmd.op = op;
	int ok =
	    api_parse_username(obj, p->cmd.username, &bad) == 0 &&
	    (http_set_user(req, p->cmd.username), 1) && /* for the request log */
	    (op == STORE_OP_CANCEL || api_parse_id(obj, "showId", &p->cmd.show_id, &bad) == 0) &&
	    parse(api, obj, &p->cmd, &bad) == 0;
	json_decref(obj);
	if (!ok) {
		api_error_bad(req, &bad);
		api_pending_drop(p);
		return;
	}
	if (api_limits_admit_user(api, req, p->cmd.username) != 0 ||
	    ((op == STORE_OP_HOLD || op == STORE_OP_HOLD_BEST) &&
	     api_limits_admit_hold(api, req, &p->cmd) != 0)) {
		api_pending_drop(p);
		return;
	}
	api_submit(p);
}

static int bookings_parse_seats(struct api *api, json_t *obj, struct store_cmd *cmd,
                                struct api_bad *bad)
{
	return api_parse_seats(obj, api->cfg.max_seats_per_request, cmd->seats, &cmd->nseats, bad);
}

static int bookings_parse_release(struct api *api, json_t *obj, struct store_cmd *cmd,
                                  struct api_bad *bad)
{
	json_t *seats = json_object_get(obj, "seats");

	if (seats == NULL || json_is_null(seats)) {
		cmd->all_seats = true;
		return 0;
	}
	return bookings_parse_seats(api, obj, cmd, bad);
}

static int bookings_parse_best(struct api *api, json_t *obj, struct store_cmd *cmd,
                               struct api_bad *bad)
{
	long count;
	int split;

	if (api_parse_int(obj, "count", 1, api->cfg.max_seats_per_request, &count, bad) != 0 ||
	    api_parse_bool(obj, "allowSplit", &split, bad) != 0)
		return -1;
	cmd->count = (int)count;
	cmd->allow_split = split;
	return 0;
}

static int bookings_parse_cancel(struct api *api, json_t *obj, struct store_cmd *cmd,
                                 struct api_bad *bad)
{
	(void)api;
	return api_parse_reference_field(obj, "bookingReference", cmd->reference, bad);
}

void api_bookings_hold(struct api *api, struct http_request *req, const char *seg)
{
	(void)seg;
	bookings_write(api, req, STORE_OP_HOLD, bookings_parse_seats);
}

void api_bookings_confirm(struct api *api, struct http_request *req, const char *seg)
{
	(void)seg;
	bookings_write(api, req, STORE_OP_CONFIRM, bookings_parse_seats);
}

void api_bookings_release(struct api *api, struct http_request *req, const char *seg)
{
	(void)seg;
	bookings_write(api, req, STORE_OP_RELEASE, bookings_parse_release);
}

void api_bookings_hold_best(struct api *api, struct http_request *req, const char *seg)
{
	(void)seg;
	bookings_write(api, req, STORE_OP_HOLD_BEST, bookings_parse_best);
}

void api_bookings_cancel(struct api *api, struct http_request *req, const char *seg)
{
	(void)seg;
	bookings_write(api, req, STORE_OP_CANCEL, bookings_parse_cancel);
}

void api_bookings_details(struct api *api, struct http_request *req, const char *seg)
{
	char username[USERNAME_MAX + 1], reference[BOOKING_REF_SIZE];
	const char *ref = http_query(req, "booking_reference");
	/* The original MovieHub client's spelling, accepted as an alias. */
	const char *alias = http_query(req, "bookingReference");
	struct booking bk;
	enum outcome o = OUTCOME_UNAVAILABLE;
	struct api_bad bad;
	struct jbuf b;
	(void)seg;

	if (api_parse_username_query(http_query(req, "username"), username, &bad) != 0) {
		api_error_bad(req, &bad);
		return;
	}
	http_set_user(req, username); /* for the request log */
	if (ref != NULL && alias != NULL && strcmp(ref, alias) != 0) {
		api_error(req, api_err_of(OUTCOME_INVALID_REQUEST),
		          "'booking_reference' and 'bookingReference' differ");
		return;
	}
	if (ref == NULL)
		ref = alias;
	if (ref == NULL || *ref == '\0') {
		api_error(req, api_err_of(OUTCOME_INVALID_REQUEST),
		          "query parameter 'booking_reference' is required");
		return;
	}
	if (api_parse_reference(ref, reference, &bad) != 0) {
		api_error_bad(req, &bad);
		return;
	}
	if (store_booking_details(api->store, username, reference, &bk, &o) != 0)
		o = OUTCOME_UNAVAILABLE;
	if (o != OUTCOME_OK) {
		api_error(req, api_err_of(o), NULL);
		return;
	}
	jbuf_init(&b, 512);
	bookings_json(&b, &bk);
	api_send(req, 200, &b);
}

/* A page cursor: the store's resume key as two hexadecimal numbers,
 * "CREATED.ID". Opaque to clients (API.md 6); anything else is 400. */
static int bookings_parse_cursor(const char *text, struct store_page_key *out)
{
	const char *dot = strchr(text, '.');
	int64_t v[2];

	if (dot == NULL)
		return -1;
	for (int i = 0; i < 2; i++) {
		const char *p = i == 0 ? text : dot + 1;
		size_t len = i == 0 ? (size_t)(dot - text) : strlen(dot + 1);
		if (len < 1 || len > 15 || strspn(p, "0123456789abcdef") < len)
			return -1; /* 15 hex digits: never beyond INT64_MAX */
		char *end;
		v[i] = (int64_t)strtoull(p, &end, 16);
		if (end != p + len)
			return -1;
	}
	out->created_at = v[0];
	out->id = v[1];
	return 0;
}

void api_bookings_user(struct api *api, struct http_request *req, const char *seg)
{
	char username[USERNAME_MAX + 1];
	struct booking *list;
	struct api_bad bad;
	size_t n;
	struct jbuf b;
	long limit = BOOKINGS_PAGE_DEFAULT;
	struct store_page page = {0};
	struct store_page_next next = {0};
	const char *v;
	(void)seg;

	if (api_parse_username_query(http_query(req, "username"), username, &bad) != 0) {
		api_error_bad(req, &bad);
		return;
	}
	if ((v = http_query(req, "limit")) != NULL &&
	    num_parse_int(v, 1, STORE_PAGE_MAX, &limit) != 0) {
		api_bad_request(&bad, "limit must be an integer from 1 to %d", STORE_PAGE_MAX);
		api_error_bad(req, &bad);
		return;
	}
	if ((v = http_query(req, "cursor")) != NULL) {
		if (bookings_parse_cursor(v, &page.after) != 0) {
			api_bad_request(&bad, "cursor must be one a Link header gave");
			api_error_bad(req, &bad);
			return;
		}
		page.has_after = 1;
	}
	page.limit = (int)limit;
	http_set_user(req, username); /* for the request log */
	if (store_user_bookings_page(api->store, username, &page, &list, &n, &next) != 0) {
		api_error(req, api_err_of(OUTCOME_UNAVAILABLE), NULL);
		return;
	}
	jbuf_init(&b, 64 + n * 512);
	jbuf_lit(&b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			jbuf_lit(&b, ",");
		bookings_json(&b, &list[i]);
	}
	jbuf_lit(&b, "]");
	free(list);
	if (!next.more) {
		api_send(req, 200, &b);
		return;
	}
	/* The next page (RFC 8288), so that the body stays the original
	 * array; a username needs no escaping ([A-Za-z0-9._@-]). */
	char link[USERNAME_MAX + 128];
	snprintf(link, sizeof(link),
	         "</api/bookings/user?username=%s&limit=%ld&cursor=%llx.%llx>; rel=\"next\"",
	         username, limit, (unsigned long long)next.after.created_at,
	         (unsigned long long)next.after.id);
	size_t len;
	char *body = jbuf_take(&b, &len);
	if (body != NULL)
		http_respond(req, 200, api_json_type, body, len, "Link", link);
}
