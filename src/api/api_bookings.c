/* api_bookings.c - holds, confirms, releases, cancels and booking reads.
 *
 * Each write validates its body completely, then becomes one store
 * command; the answer is written after the store's commit. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

/* The answer of a booking write: the booking, or the outcome's error. A
 * store_answer_fn: it may run inside the store's transaction. */
static int bookings_answer(const struct store_cmd *cmd, unsigned *status, char **body, size_t *len)
{
	struct jbuf b;
	unsigned code = 200;

	jbuf_init(&b, 512);
	if (cmd->outcome != OUTCOME_OK)
		code = api_outcome_json(&b, cmd->outcome, cmd->bad, cmd->nbad);
	else
		api_booking_json(&b, &cmd->booking);
	return api_answer_take(&b, code, status, body, len);
}

/* Reads username and showId, the fields every booking write has. */
static struct api_pending *bookings_begin(struct api *api, struct http_request *req,
                                          enum store_op op, json_t **obj)
{
	struct api_pending *p;

	*obj = api_parse_object(req);
	if (*obj == NULL)
		return NULL;
	p = api_pending_new(api, req, bookings_answer);
	if (p == NULL)
		goto fail;
	p->cmd.op = op;
	if (api_field_username(req, *obj, p->cmd.username) != 0)
		goto fail;
	if (op != STORE_OP_CANCEL && api_field_id(req, *obj, "showId", &p->cmd.show_id) != 0)
		goto fail;
	return p;
fail:
	free(p);
	json_decref(*obj);
	return NULL;
}

static void bookings_finish(struct api_pending *p, json_t *obj, int ok)
{
	json_decref(obj);
	if (ok)
		api_submit(p);
	else
		free(p);
}

static void bookings_with_seats(struct api *api, struct http_request *req, enum store_op op)
{
	json_t *obj;
	struct api_pending *p = bookings_begin(api, req, op, &obj);

	if (p == NULL)
		return;
	int ok = api_field_seats(req, obj, api->cfg.max_seats_per_request, p->cmd.seats,
	                         &p->cmd.nseats) == 0;
	bookings_finish(p, obj, ok);
}

void api_bookings_hold(struct api *api, struct http_request *req, const char *seg)
{
	(void)seg;
	bookings_with_seats(api, req, STORE_OP_HOLD);
}

void api_bookings_confirm(struct api *api, struct http_request *req, const char *seg)
{
	(void)seg;
	bookings_with_seats(api, req, STORE_OP_CONFIRM);
}

void api_bookings_release(struct api *api, struct http_request *req, const char *seg)
{
	json_t *obj;
	struct api_pending *p = bookings_begin(api, req, STORE_OP_RELEASE, &obj);
	(void)seg;

	if (p == NULL)
		return;
	int ok = 1;
	if (json_object_get(obj, "seats") == NULL || json_is_null(json_object_get(obj, "seats")))
		p->cmd.all_seats = true;
	else
		ok = api_field_seats(req, obj, api->cfg.max_seats_per_request, p->cmd.seats,
		                     &p->cmd.nseats) == 0;
	bookings_finish(p, obj, ok);
}

void api_bookings_hold_best(struct api *api, struct http_request *req, const char *seg)
{
	json_t *obj;
	struct api_pending *p = bookings_begin(api, req, STORE_OP_HOLD_BEST, &obj);
	long count;
	(void)seg;

	if (p == NULL)
		return;
	int ok = api_field_int(req, obj, "count", 1, api->cfg.max_seats_per_request, &count) == 0;
	if (ok) {
		json_t *split = json_object_get(obj, "allowSplit");
		p->cmd.count = (int)count;
		if (split != NULL && !json_is_boolean(split)) {
			api_bad_request(req, "'allowSplit' must be true or false");
			ok = 0;
		}
		p->cmd.allow_split = json_is_true(split);
	}
	bookings_finish(p, obj, ok);
}

/* References are upper case; input may be any case. Returns 0 when the
 * text has the shape of a reference. */
static int bookings_reference(const char *in, char out[BOOKING_REF_SIZE])
{
	size_t n = strlen(in);

	if (n >= BOOKING_REF_SIZE || !booking_ref_valid(in))
		return -1;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)toupper((unsigned char)in[i]);
	return 0;
}

void api_bookings_cancel(struct api *api, struct http_request *req, const char *seg)
{
	json_t *obj;
	struct api_pending *p = bookings_begin(api, req, STORE_OP_CANCEL, &obj);
	(void)seg;

	if (p == NULL)
		return;
	json_t *ref = json_object_get(obj, "bookingReference");
	if (!json_is_string(ref) || json_string_length(ref) == 0) {
		api_bad_request(req, "'bookingReference' must be a non-empty string");
		bookings_finish(p, obj, 0);
		return;
	}
	if (bookings_reference(json_string_value(ref), p->cmd.reference) != 0) {
		/* Not shaped like any reference: it cannot exist. */
		api_outcome_error(req, OUTCOME_BOOKING_NOT_FOUND, NULL, 0);
		bookings_finish(p, obj, 0);
		return;
	}
	bookings_finish(p, obj, 1);
}

void api_bookings_details(struct api *api, struct http_request *req, const char *seg)
{
	char username[USERNAME_MAX + 1], reference[BOOKING_REF_SIZE];
	const char *ref = http_query(req, "booking_reference");
	/* The original MovieHub client's spelling, accepted as an alias. */
	const char *alias = http_query(req, "bookingReference");
	struct booking bk;
	enum outcome o = OUTCOME_UNAVAILABLE;
	struct jbuf b;
	(void)seg;

	if (api_query_username(req, username) != 0)
		return;
	if (ref != NULL && alias != NULL && strcmp(ref, alias) != 0) {
		api_bad_request(req, "'booking_reference' and 'bookingReference' differ");
		return;
	}
	if (ref == NULL)
		ref = alias;
	if (ref == NULL || *ref == '\0') {
		api_bad_request(req, "query parameter 'booking_reference' is required");
		return;
	}
	if (bookings_reference(ref, reference) != 0) {
		api_outcome_error(req, OUTCOME_BOOKING_NOT_FOUND, NULL, 0);
		return;
	}
	if (store_booking_details(api->store, username, reference, &bk, &o) != 0)
		o = OUTCOME_UNAVAILABLE;
	if (o != OUTCOME_OK) {
		api_outcome_error(req, o, NULL, 0);
		return;
	}
	jbuf_init(&b, 512);
	api_booking_json(&b, &bk);
	api_send(req, 200, &b);
}

void api_bookings_user(struct api *api, struct http_request *req, const char *seg)
{
	char username[USERNAME_MAX + 1];
	struct booking *list;
	size_t n;
	struct jbuf b;
	(void)seg;

	if (api_query_username(req, username) != 0)
		return;
	if (store_user_bookings(api->store, username, &list, &n) != 0) {
		api_outcome_error(req, OUTCOME_UNAVAILABLE, NULL, 0);
		return;
	}
	jbuf_init(&b, 64 + n * 512);
	jbuf_lit(&b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			jbuf_lit(&b, ",");
		api_booking_json(&b, &list[i]);
	}
	jbuf_lit(&b, "]");
	free(list);
	api_send(req, 200, &b);
}
