/* pg_sql.c - the text of every prepared call of the PostgreSQL backend,
 * by id (pg_internal.h). Each operation is one stored function of
 * sql/postgres; the writes that change seats go through bo_feed() so that
 * their changes enter the shared feed in their own transaction. */
#include "store/pg_internal.h"

/* Writes that change seats go through bo_feed(): their changes enter the
 * shared feed as the last step of their own transaction. */
const char *const pg_sql[PG_CALL_COUNT] = {
    [PG_HOLD] = "SELECT bo_feed(hold_seats_for_user($1, $2, $3::int[], $4::int[], $5::interval, "
                "$6::interval, $7))",
    [PG_HOLD_BEST] =
        "SELECT bo_feed(hold_best_seats($1, $2, $3, $4, $5::interval, $6::interval, $7))",
    [PG_CONFIRM] = "SELECT bo_feed(confirm_booking($1, $2, $3::int[], $4::int[]))",
    [PG_RELEASE] = "SELECT bo_feed(release_seats($1, $2, $3::int[], $4::int[]))",
    [PG_CANCEL] = "SELECT bo_feed(cancel_booking($1, $2))",
    [PG_EXPIRE] = "SELECT bo_feed(expire_holds())",
    [PG_CREATE_SCREEN] = "SELECT create_screen($1, $2, $3)",
    [PG_CREATE_MOVIE] = "SELECT create_movie($1, $2, $3::date)",
    [PG_CREATE_SHOW] = "SELECT create_show($1, $2, to_timestamp($3::bigint / 1000.0))",
    [PG_CANCEL_SHOW] = "SELECT bo_feed(cancel_show($1))",
    [PG_ACTIVE_SHOWS] = "SELECT get_active_shows()",
    [PG_SHOW_DETAILS] = "SELECT get_show_seat_details($1)",
    [PG_BOOKING_DETAILS] = "SELECT get_booking_details($1, $2)",
    [PG_USER_BOOKINGS] = "SELECT get_user_bookings($1)",
    [PG_USER_BOOKINGS_PAGE] = "SELECT get_user_bookings_page($1, $2, $3, $4)",
    [PG_NEXT_EXPIRY] = "SELECT floor(extract(epoch FROM next_hold_expiry()) * 1000)::bigint",
    [PG_PING] = "SELECT 1",
    [PG_DURABILITY] = "SELECT json_build_object('fsync', current_setting('fsync'), "
                      "'synchronous_commit', current_setting('synchronous_commit'), "
                      "'full_page_writes', current_setting('full_page_writes'))",
    [PG_SET_CLOCK] =
        "SELECT set_config('boxoffice.now', to_timestamp($1::bigint / 1000.0)::text, false)",
    [PG_IDEM_GET] = "SELECT request, status_code, body FROM idempotency WHERE key = $1 "
                    "AND created_at > bo_now() - $2::interval FOR UPDATE",
    /* A live record wins over ours (0 rows): we roll back and replay it. */
    [PG_IDEM_PUT] = "INSERT INTO idempotency (key, request, status_code, body, created_at) "
                    "VALUES ($1, $2, $3, $4, bo_now()) ON CONFLICT (key) DO UPDATE SET "
                    "request = EXCLUDED.request, status_code = EXCLUDED.status_code, "
                    "body = EXCLUDED.body, created_at = EXCLUDED.created_at "
                    "WHERE idempotency.created_at <= bo_now() - $5::interval",
    [PG_IDEM_EXPIRE] = "WITH gone AS (DELETE FROM idempotency WHERE created_at <= "
                       "bo_now() - $1::interval RETURNING 1) SELECT count(*) FROM gone",
};
