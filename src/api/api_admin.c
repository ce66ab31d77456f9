/* api_admin.c - creating screens, movies and shows; cancelling shows.
 *
 * Only with "Authorization: Bearer <admin token>". Without a configured
 * token the admin API does not exist (404), so a default install exposes
 * nothing. Tokens are compared in constant time. */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/timefmt.h"

enum {
	ADMIN_SEATS_MAX = 100000,
	ADMIN_DURATION_MAX = 24 * 60,
};

static int admin_token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);

	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return diff == 0;
}

/* Returns 0 when the caller may use the admin API, else answers. */
static int admin_check(struct api *api, struct http_request *req)
{
	const char *auth = http_header(req, "Authorization");

	if (api->cfg.admin_token == NULL || api->cfg.admin_token[0] == '\0') {
		api_error(req, 404, "NOT_FOUND", "there is nothing at this path", NULL, 0);
		return -1;
	}
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 ||
	    !admin_token_equal(auth + 7, api->cfg.admin_token)) {
		api_error(req, 401, "UNAUTHORIZED", "a valid admin bearer token is required", NULL,
		          0);
		return -1;
	}
	return 0;
}

/* The answer of an admin write (a store_answer_fn). */
static int admin_answer(const struct store_cmd *cmd, unsigned *status, char **body, size_t *len)
{
	struct jbuf b;

	if (cmd->outcome == OUTCOME_INVALID_REQUEST) {
		jbuf_init(&b, 160);
		api_error_json(&b, "INVALID_REQUEST",
		               "'showTime' must be in the future and on or before the movie's "
		               "lastShowDate",
		               NULL, 0);
		return api_answer_take(&b, 400, status, body, len);
	}
	if (cmd->outcome != OUTCOME_CREATED && cmd->outcome != OUTCOME_OK) {
		jbuf_init(&b, 160);
		unsigned code = api_outcome_json(&b, cmd->outcome, NULL, 0);
		return api_answer_take(&b, code, status, body, len);
	}
	jbuf_init(&b, 256);
	switch (cmd->op) {
	case STORE_OP_CREATE_SCREEN:
		jbuf_lit(&b, "{\"screenId\":");
		jbuf_int(&b, cmd->created_id);
		jbuf_lit(&b, ",\"name\":");
		jbuf_str(&b, cmd->name);
		jbuf_lit(&b, ",\"rows\":");
		jbuf_int(&b, cmd->rows);
		jbuf_lit(&b, ",\"seatsPerRow\":");
		jbuf_int(&b, cmd->seats_per_row);
		jbuf_lit(&b, ",\"totalSeats\":");
		jbuf_int(&b, cmd->total_seats);
		break;
	case STORE_OP_CREATE_MOVIE:
		jbuf_lit(&b, "{\"movieId\":");
		jbuf_int(&b, cmd->created_id);
		jbuf_lit(&b, ",\"name\":");
		jbuf_str(&b, cmd->name);
		jbuf_lit(&b, ",\"durationMinutes\":");
		jbuf_int(&b, cmd->duration_minutes);
		jbuf_lit(&b, ",\"lastShowDate\":");
		jbuf_str(&b, cmd->last_show_date);
		break;
	case STORE_OP_CREATE_SHOW:
		jbuf_lit(&b, "{\"showId\":");
		jbuf_int(&b, cmd->created_id);
		jbuf_lit(&b, ",\"movieId\":");
		jbuf_int(&b, cmd->movie_id);
		jbuf_lit(&b, ",\"screenId\":");
		jbuf_int(&b, cmd->screen_id);
		jbuf_lit(&b, ",\"showTime\":");
		jbuf_time(&b, cmd->show_time);
		jbuf_lit(&b, ",\"endTime\":");
		jbuf_time(&b, cmd->created_end);
		jbuf_lit(&b, ",\"status\":\"ACTIVE\",\"totalSeats\":");
		jbuf_int(&b, cmd->total_seats);
		break;
	default:
		jbuf_lit(&b, "{\"showId\":");
		jbuf_int(&b, cmd->show_id);
		jbuf_lit(&b, ",\"status\":\"CANCELLED\"");
		break;
	}
	jbuf_lit(&b, "}");
	return api_answer_take(&b, cmd->op == STORE_OP_CANCEL_SHOW ? 200 : 201, status, body, len);
}

/* Checks the token, parses the body and makes the pending command. */
static struct api_pending *admin_begin(struct api *api, struct http_request *req, enum store_op op,
                                       json_t **obj)
{
	struct api_pending *p;

	if (admin_check(api, req) != 0)
		return NULL;
	*obj = api_parse_object(req);
	if (*obj == NULL)
		return NULL;
	p = api_pending_new(api, req, admin_answer);
	if (p == NULL) {
		json_decref(*obj);
		return NULL;
	}
	p->cmd.op = op;
	return p;
}

static void admin_finish(struct api_pending *p, json_t *obj, int ok)
{
	json_decref(obj);
	if (ok)
		api_submit(p);
	else
		free(p);
}

void api_admin_screens(struct api *api, struct http_request *req, const char *seg)
{
	json_t *obj;
	struct api_pending *p = admin_begin(api, req, STORE_OP_CREATE_SCREEN, &obj);
	long rows, per_row;
	(void)seg;

	if (p == NULL)
		return;
	int ok = api_field_string(req, obj, "name", NAME_MAX_LEN, p->cmd.name) == 0 &&
	         api_field_int(req, obj, "rows", 1, SEAT_ROWS_MAX, &rows) == 0 &&
	         api_field_int(req, obj, "seatsPerRow", 1, SEAT_NUMBER_MAX, &per_row) == 0;
	if (ok && rows * per_row > ADMIN_SEATS_MAX) {
		api_bad_request(req, "a screen has at most 100000 seats");
		ok = 0;
	}
	p->cmd.rows = ok ? (int)rows : 0;
	p->cmd.seats_per_row = ok ? (int)per_row : 0;
	admin_finish(p, obj, ok);
}

void api_admin_movies(struct api *api, struct http_request *req, const char *seg)
{
	json_t *obj;
	struct api_pending *p = admin_begin(api, req, STORE_OP_CREATE_MOVIE, &obj);
	long duration;
	int y, m, d;
	(void)seg;

	if (p == NULL)
		return;
	int ok = api_field_string(req, obj, "name", NAME_MAX_LEN, p->cmd.name) == 0 &&
	         api_field_int(req, obj, "durationMinutes", 1, ADMIN_DURATION_MAX, &duration) == 0;
	if (ok) {
		json_t *date = json_object_get(obj, "lastShowDate");
		if (!json_is_string(date) || json_string_length(date) != 10 ||
		    timefmt_parse_date(json_string_value(date), &y, &m, &d) != 0) {
			api_bad_request(req,
			                "'lastShowDate' must be a date such as \"2026-12-31\"");
			ok = 0;
		} else {
			memcpy(p->cmd.last_show_date, json_string_value(date), 11);
			p->cmd.duration_minutes = (int)duration;
		}
	}
	admin_finish(p, obj, ok);
}

void api_admin_shows(struct api *api, struct http_request *req, const char *seg)
{
	json_t *obj;
	struct api_pending *p = admin_begin(api, req, STORE_OP_CREATE_SHOW, &obj);
	(void)seg;

	if (p == NULL)
		return;
	int ok = api_field_id(req, obj, "movieId", &p->cmd.movie_id) == 0 &&
	         api_field_id(req, obj, "screenId", &p->cmd.screen_id) == 0;
	if (ok) {
		json_t *t = json_object_get(obj, "showTime");
		if (!json_is_string(t) ||
		    timefmt_parse(json_string_value(t), &p->cmd.show_time) != 0) {
			api_bad_request(req, "'showTime' must be an RFC 3339 time such as "
			                     "\"2026-11-25T19:30:00.000Z\"");
			ok = 0;
		} else if (p->cmd.show_time <= store_now(api->store)) {
			api_bad_request(req, "'showTime' must be in the future");
			ok = 0;
		}
	}
	admin_finish(p, obj, ok);
}

void api_admin_show_cancel(struct api *api, struct http_request *req, const char *seg)
{
	struct api_pending *p;
	int64_t show_id;

	if (admin_check(api, req) != 0 || api_path_id(req, seg, &show_id) != 0)
		return;
	p = api_pending_new(api, req, admin_answer);
	if (p == NULL)
		return;
	p->cmd.op = STORE_OP_CANCEL_SHOW;
	p->cmd.show_id = show_id;
	api_submit(p);
}
