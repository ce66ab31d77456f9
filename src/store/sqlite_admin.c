/* sqlite_admin.c - the admin writes of the SQLite backend: screens,
 * movies, shows (with their seats) and cancelling a show. Writer thread,
 * inside the batch's transaction; 0 with cmd->outcome set, or -1. */
#include "core/timefmt.h"
#include "store/sqlite_internal.h"

enum { SQ_MS_PER_DAY = 86400 * 1000, SQ_MS_PER_MINUTE = 60 * 1000 };

int sq_do_create_screen(struct sq_state *s, struct store_cmd *cmd)
{
	struct sq_conn *c = s->writer_conn;

	if (sq_run(c, SQ_SCREEN_INSERT, "%s%d%d", cmd->name, cmd->rows, cmd->seats_per_row) != 1)
		return -1;
	cmd->created_id = sqlite3_last_insert_rowid(c->db);
	cmd->total_seats = cmd->rows * cmd->seats_per_row;
	cmd->outcome = OUTCOME_CREATED;
	return 0;
}

int sq_do_create_movie(struct sq_state *s, struct store_cmd *cmd)
{
	struct sq_conn *c = s->writer_conn;

	if (sq_run(c, SQ_MOVIE_INSERT, "%s%d%s", cmd->name, cmd->duration_minutes,
	           cmd->last_show_date) != 1)
		return -1;
	cmd->created_id = sqlite3_last_insert_rowid(c->db);
	cmd->outcome = OUTCOME_CREATED;
	return 0;
}

/* Inserts the show's seats, every one AVAILABLE. */
static int sq_show_seats_insert(struct sq_conn *c, int64_t show_id, int rows, int per_row)
{
	for (int r = 0; r < rows; r++)
		for (int n = 1; n <= per_row; n++)
			if (sq_run(c, SQ_SEAT_INSERT, SQ_I64 "%d%d", show_id, r, n) != 1)
				return -1;
	return 0;
}

int sq_do_create_show(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	sqlite3_stmt *st;
	int rc, duration, rows, per_row, y, m, d;
	char last_date[16];

	rc = sq_row(c, &st, SQ_MOVIE_GET, SQ_I64, cmd->movie_id);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		cmd->outcome = OUTCOME_MOVIE_NOT_FOUND;
		return 0;
	}
	duration = sqlite3_column_int(st, 0);
	sq_copy_text(last_date, sizeof(last_date), st, 1);
	sq_done(st);

	rc = sq_row(c, &st, SQ_SCREEN_GET, SQ_I64, cmd->screen_id);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		cmd->outcome = OUTCOME_SCREEN_NOT_FOUND;
		return 0;
	}
	rows = sqlite3_column_int(st, 0);
	per_row = sqlite3_column_int(st, 1);
	cmd->total_seats = sqlite3_column_int(st, 2);
	sq_done(st);

	/* The show must lie ahead and start on or before the movie's last day. */
	if (timefmt_parse_date(last_date, &y, &m, &d) != 0)
		return -1;
	int64_t last_day_end = (timefmt_days_from_civil(y, m, d) + 1) * SQ_MS_PER_DAY;
	if (cmd->show_time <= now || cmd->show_time >= last_day_end) {
		cmd->outcome = OUTCOME_INVALID_REQUEST;
		return 0;
	}
	cmd->created_end = cmd->show_time + (int64_t)duration * SQ_MS_PER_MINUTE;

	rc = sq_row(c, &st, SQ_SHOW_OVERLAP, SQ_I64 SQ_I64 SQ_I64, cmd->screen_id, cmd->show_time,
	            cmd->created_end);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		sq_done(st);
		cmd->outcome = OUTCOME_SCREEN_BUSY;
		return 0;
	}
	if (sq_run(c, SQ_SHOW_INSERT, SQ_I64 SQ_I64 SQ_I64 SQ_I64, cmd->movie_id, cmd->screen_id,
	           cmd->show_time, cmd->created_end) != 1)
		return -1;
	cmd->created_id = sqlite3_last_insert_rowid(c->db);
	if (sq_show_seats_insert(c, cmd->created_id, rows, per_row) != 0)
		return -1;
	cmd->outcome = OUTCOME_CREATED;
	return 0;
}

int sq_do_cancel_show(struct sq_state *s, struct store_cmd *cmd)
{
	int n = sq_run(s->writer_conn, SQ_SHOW_CANCEL, SQ_I64, cmd->show_id);

	/* The writer's cached row of the show is no longer so. */
	sq_wcache_forget_show(s->writer_conn->wcache, cmd->show_id);
	if (n < 0)
		return -1;
	cmd->created_id = cmd->show_id;
	cmd->outcome = n == 1 ? OUTCOME_OK : OUTCOME_SHOW_NOT_FOUND;
	return 0;
}
