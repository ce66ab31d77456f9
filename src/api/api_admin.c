/* api_admin.c - creating screens, movies and shows; cancelling shows
 * (API.md 10).
 *
 * Only with "Authorization: Bearer <admin token>". Without a configured
 * token the admin API does not exist (404), so a default install exposes
 * nothing. Tokens are compared in constant time. */
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "core/timefmt.h"

enum {
	ADMIN_SEATS_MAX = 100000,
	ADMIN_DURATION_MAX = 24 * 60,
};

static const char admin_bearer[] = "Bearer ";

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
	const size_t n = sizeof(admin_bearer) - 1;

	if (api->cfg.admin_token == NULL || api->cfg.admin_token[0] == '\0') {
		api_error(req, API_ERR_NOT_FOUND, NULL);
		return -1;
	}
	/* The scheme is case-insensitive (RFC 9110 11.1); spaces after it
	 * are not part of the token. */
	if (auth != NULL && strncasecmp(auth, admin_bearer, n) == 0)
		auth += n + strspn(auth + n, " ");
	else
		auth = NULL;
	if (auth == NULL || !admin_token_equal(auth, api->cfg.admin_token)) {
		api_error(req, API_ERR_UNAUTHORIZED, NULL);
		return -1;
	}
	return 0;
}

/* The answer of an admin write (a store_answer_fn). */
static int admin_answer(const struct store_cmd *cmd, unsigned *status, char **body, size_t *len)
{
	struct jbuf b;

	if (cmd->outcome == OUTCOME_INVALID_REQUEST)
		/* The only invalid input the store finds is the show's time. */
		return api_error_answer(cmd,
		                        "'showTime' must be in the future and on or before the "
		                        "movie's lastShowDate",
		                        status, body, len);
	if (cmd->outcome != OUTCOME_CREATED && cmd->outcome != OUTCOME_OK)
		return api_error_answer(cmd, NULL, status, body, len);
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

/* Parses the fields of an admin create's body into cmd. */
typedef int (*admin_parse_fn)(struct api *api, json_t *obj, struct store_cmd *cmd,
                              struct api_bad *bad);

/* The one shape of every admin create: the token, the body, the op's
 * fields; refused before any storage work, else submitted. */
static void admin_write(struct api *api, struct http_request *req, enum store_op op,
                        admin_parse_fn parse)
{
	struct api_bad bad;

	if (admin_check(api, req) != 0)
		return;
	json_t *obj = api_request_object(req);
	if (obj == NULL)
		return;
	struct api_pending *p = api_pending_new(api, req, admin_answer);
	if (p == NULL) {
		json_decref(obj);
		return;
	}
	p->cmd.op = op;
	int ok = parse(api, obj, &p->cmd, &bad) == 0;
	json_decref(obj);
	if (!ok) {
		api_error_bad(req, &bad);
		api_pending_drop(p);
		return;
	}
	api_submit(p);
}

static int admin_parse_screen(struct api *api, json_t *obj, struct store_cmd *cmd,
                              struct api_bad *bad)
{
	long rows, per_row;
	(void)api;

	if (api_parse_string(obj, "name", NAME_MAX_LEN, cmd->name, bad) != 0 ||
	    api_parse_int(obj, "rows", 1, SEAT_ROWS_MAX, &rows, bad) != 0 ||
	    api_parse_int(obj, "seatsPerRow", 1, SEAT_NUMBER_MAX, &per_row, bad) != 0)
		return -1;
	if (rows * per_row > ADMIN_SEATS_MAX)
		return api_bad_request(bad, "a screen has at most %d seats", ADMIN_SEATS_MAX);
	cmd->rows = (int)rows;
	cmd->seats_per_row = (int)per_row;
	return 0;
}

static int admin_parse_movie(struct api *api, json_t *obj, struct store_cmd *cmd,
                             struct api_bad *bad)
{
	long duration;
	(void)api;

	if (api_parse_string(obj, "name", NAME_MAX_LEN, cmd->name, bad) != 0 ||
	    api_parse_int(obj, "durationMinutes", 1, ADMIN_DURATION_MAX, &duration, bad) != 0 ||
	    api_parse_date(obj, "lastShowDate", cmd->last_show_date, bad) != 0)
		return -1;
	cmd->duration_minutes = (int)duration;
	return 0;
}

static int admin_parse_show(struct api *api, json_t *obj, struct store_cmd *cmd,
                            struct api_bad *bad)
{
	if (api_parse_id(obj, "movieId", &cmd->movie_id, bad) != 0 ||
	    api_parse_id(obj, "screenId", &cmd->screen_id, bad) != 0 ||
	    api_parse_time(obj, "showTime", &cmd->show_time, bad) != 0)
		return -1;
	if (cmd->show_time <= store_now(api->store))
		return api_bad_request(bad, "'showTime' must be in the future");
	return 0;
}

void api_admin_screens(struct api *api, struct http_request *req, const char *seg)
{
	(void)seg;
	admin_write(api, req, STORE_OP_CREATE_SCREEN, admin_parse_screen);
}

void api_admin_movies(struct api *api, struct http_request *req, const char *seg)
{
	(void)seg;
	admin_write(api, req, STORE_OP_CREATE_MOVIE, admin_parse_movie);
}

void api_admin_shows(struct api *api, struct http_request *req, const char *seg)
{
	(void)seg;
	admin_write(api, req, STORE_OP_CREATE_SHOW, admin_parse_show);
}

void api_admin_show_cancel(struct api *api, struct http_request *req, const char *seg)
{
	struct api_pending *p;
	struct api_bad bad;
	int64_t show_id;

	if (admin_check(api, req) != 0)
		return;
	if (api_parse_path_id(seg, &show_id, &bad) != 0) {
		api_error_bad(req, &bad);
		return;
	}
	p = api_pending_new(api, req, admin_answer);
	if (p == NULL)
		return;
	p->cmd.op = STORE_OP_CANCEL_SHOW;
	p->cmd.show_id = show_id;
	api_submit(p);
}
