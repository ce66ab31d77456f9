/* pg_calls.c - what the PostgreSQL backend sends and gets back: the
 * arguments of each write's stored function (built from the command) and
 * the decoding of the functions' jsonb answers into store results. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_internal.h"

enum outcome pg_outcome(json_t *res)
{
	const char *name = json_string_value(json_object_get(res, "outcome"));

	if (name == NULL)
		return OUTCOME_UNAVAILABLE;
	for (int o = 0; o < OUTCOME_COUNT; o++)
		if (strcmp(outcome_name((enum outcome)o), name) == 0)
			return (enum outcome)o;
	return OUTCOME_UNAVAILABLE;
}

int64_t pg_int(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

void pg_text(json_t *obj, const char *key, char *dst, size_t size)
{
	const char *v = json_string_value(json_object_get(obj, key));

	snprintf(dst, size, "%s", v ? v : "");
}

/* [[row, number], ...] -> seats; returns the count kept (at most max). */
int pg_seats(json_t *arr, struct seat *out, int max)
{
	size_t i;
	json_t *v;
	int n = 0;

	json_array_foreach(arr, i, v)
	{
		if (n == max)
			break;
		out[n].row = (int)json_integer_value(json_array_get(v, 0));
		out[n].number = (int)json_integer_value(json_array_get(v, 1));
		n++;
	}
	return n;
}

int pg_booking(json_t *o, struct booking *b)
{
	memset(b, 0, sizeof(*b));
	if (!json_is_object(o))
		return -1;
	pg_text(o, "reference", b->reference, sizeof(b->reference));
	const char *status = json_string_value(json_object_get(o, "status"));
	if (status == NULL || booking_status_parse(status, &b->status) != 0)
		return -1;
	pg_text(o, "username", b->username, sizeof(b->username));
	b->show_id = pg_int(o, "showId");
	pg_text(o, "movieName", b->movie_name, sizeof(b->movie_name));
	pg_text(o, "screenName", b->screen_name, sizeof(b->screen_name));
	b->show_time = pg_int(o, "showTime");
	b->created_at = pg_int(o, "createdAt");
	b->expires_at = b->status == BOOKING_STAGED ? pg_int(o, "expiresAt") : 0;
	b->confirmed_at = pg_int(o, "confirmedAt");
	b->cancelled_at = pg_int(o, "cancelledAt");
	b->nseats = pg_seats(json_object_get(o, "seats"), b->seats, BOOKING_SEATS_MAX);
	return 0;
}

enum seat_status pg_seat_status(const char *s)
{
	enum seat_status st;

	return s != NULL && seat_status_parse(s, &st) == 0 ? st : SEAT_AVAILABLE;
}

/* [[show, row, number, status], ...] -> cmd->changes. */
static int pg_changes(json_t *arr, struct store_cmd *cmd)
{
	size_t n = json_array_size(arr), i;
	json_t *v;

	cmd->nchanges = 0;
	if (n == 0)
		return 0;
	struct seat_change *p = realloc(cmd->changes, n * sizeof(*p));
	if (p == NULL)
		return -1;
	cmd->changes = p;
	json_array_foreach(arr, i, v)
	{
		p[i].show_id = (int64_t)json_integer_value(json_array_get(v, 0));
		p[i].seat.row = (int)json_integer_value(json_array_get(v, 1));
		p[i].seat.number = (int)json_integer_value(json_array_get(v, 2));
		p[i].status = pg_seat_status(json_string_value(json_array_get(v, 3)));
	}
	cmd->nchanges = n;
	return 0;
}

static void pg_arg(struct pg_args *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->buf[a->n], sizeof(a->buf[a->n]), fmt, ap);
	va_end(ap);
	a->v[a->n] = a->buf[a->n];
	a->n++;
}

static void pg_arg_null(struct pg_args *a)
{
	a->v[a->n++] = NULL;
}

/* Two int[] literals: rows and numbers of the command's seats. */
static void pg_arg_seats(struct pg_args *a, const struct store_cmd *cmd)
{
	char *rows = a->buf[a->n], *nums = a->buf[a->n + 1];
	size_t lr = 0, ln = 0;

	rows[lr++] = '{';
	nums[ln++] = '{';
	for (int i = 0; i < cmd->nseats; i++) {
		lr +=
		    (size_t)snprintf(rows + lr, 2048 - lr, "%s%d", i ? "," : "", cmd->seats[i].row);
		ln += (size_t)snprintf(nums + ln, 2048 - ln, "%s%d", i ? "," : "",
		                       cmd->seats[i].number);
	}
	snprintf(rows + lr, 2048 - lr, "}");
	snprintf(nums + ln, 2048 - ln, "}");
	a->v[a->n] = rows;
	a->v[a->n + 1] = nums;
	a->n += 2;
}

static void pg_arg_hold_limits(struct pg_args *a, const struct pg_state *s)
{
	pg_arg(a, "%lld milliseconds", (long long)s->cfg.hold_ttl_ms);
	pg_arg(a, "%lld milliseconds", (long long)s->cfg.hold_max_lifetime_ms);
	pg_arg(a, "%d", s->cfg.max_seats_per_user);
}

enum pg_call_id pg_prepare_args(const struct pg_state *s, const struct store_cmd *cmd,
                                struct pg_args *a)
{
	a->n = 0;
	switch (cmd->op) {
	case STORE_OP_HOLD:
		pg_arg(a, "%s", cmd->username);
		pg_arg(a, "%lld", (long long)cmd->show_id);
		pg_arg_seats(a, cmd);
		pg_arg_hold_limits(a, s);
		return PG_HOLD;
	case STORE_OP_HOLD_BEST:
		pg_arg(a, "%s", cmd->username);
		pg_arg(a, "%lld", (long long)cmd->show_id);
		pg_arg(a, "%d", cmd->count);
		pg_arg(a, "%s", cmd->allow_split ? "true" : "false");
		pg_arg_hold_limits(a, s);
		return PG_HOLD_BEST;
	case STORE_OP_CONFIRM:
		pg_arg(a, "%s", cmd->username);
		pg_arg(a, "%lld", (long long)cmd->show_id);
		pg_arg_seats(a, cmd);
		return PG_CONFIRM;
	case STORE_OP_RELEASE:
		pg_arg(a, "%s", cmd->username);
		pg_arg(a, "%lld", (long long)cmd->show_id);
		if (cmd->all_seats) {
			pg_arg_null(a);
			pg_arg_null(a);
		} else {
			pg_arg_seats(a, cmd);
		}
		return PG_RELEASE;
	case STORE_OP_CANCEL:
		pg_arg(a, "%s", cmd->username);
		pg_arg(a, "%s", cmd->reference);
		return PG_CANCEL;
	case STORE_OP_EXPIRE_DUE:
		return PG_EXPIRE;
	case STORE_OP_CREATE_SCREEN:
		pg_arg(a, "%s", cmd->name);
		pg_arg(a, "%d", cmd->rows);
		pg_arg(a, "%d", cmd->seats_per_row);
		return PG_CREATE_SCREEN;
	case STORE_OP_CREATE_MOVIE:
		pg_arg(a, "%s", cmd->name);
		pg_arg(a, "%d", cmd->duration_minutes);
		pg_arg(a, "%s", cmd->last_show_date);
		return PG_CREATE_MOVIE;
	case STORE_OP_CREATE_SHOW:
		pg_arg(a, "%lld", (long long)cmd->movie_id);
		pg_arg(a, "%lld", (long long)cmd->screen_id);
		pg_arg(a, "%lld", (long long)cmd->show_time);
		return PG_CREATE_SHOW;
	case STORE_OP_CANCEL_SHOW:
		pg_arg(a, "%lld", (long long)cmd->show_id);
		return PG_CANCEL_SHOW;
	case STORE_OP_NOTIFY:
		break; /* never submitted */
	}
	return PG_PING;
}

/* Fills the command's results from the function's answer. */
int pg_decode_write(struct store_cmd *cmd, json_t *res)
{
	enum outcome o = pg_outcome(res);
	json_t *obj;

	cmd->nbad = pg_seats(json_object_get(res, "seats"), cmd->bad, BOOKING_SEATS_MAX);
	if (o != OUTCOME_OK) {
		cmd->outcome = o;
		return 0;
	}
	if (pg_changes(json_object_get(res, "changes"), cmd) != 0)
		return -1;
	switch (cmd->op) {
	case STORE_OP_EXPIRE_DUE:
		cmd->expired = pg_int(res, "expired");
		break;
	case STORE_OP_CREATE_SCREEN:
		obj = json_object_get(res, "screen");
		cmd->created_id = pg_int(obj, "screenId");
		cmd->total_seats = (int)pg_int(obj, "totalSeats");
		o = OUTCOME_CREATED;
		break;
	case STORE_OP_CREATE_MOVIE:
		cmd->created_id = pg_int(json_object_get(res, "movie"), "movieId");
		o = OUTCOME_CREATED;
		break;
	case STORE_OP_CREATE_SHOW:
		obj = json_object_get(res, "show");
		cmd->created_id = pg_int(obj, "showId");
		cmd->created_end = pg_int(obj, "endTime");
		cmd->total_seats = (int)pg_int(obj, "totalSeats");
		o = OUTCOME_CREATED;
		break;
	case STORE_OP_CANCEL_SHOW:
		cmd->created_id = cmd->show_id;
		break;
	default:
		if (pg_booking(json_object_get(res, "booking"), &cmd->booking) != 0)
			return -1;
		if (cmd->op == STORE_OP_HOLD_BEST) {
			cmd->nseats = cmd->booking.nseats;
			memcpy(cmd->seats, cmd->booking.seats, sizeof(cmd->seats));
		}
	}
	cmd->outcome = o;
	return 0;
}
