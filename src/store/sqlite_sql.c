/* sqlite_sql.c - the text of every prepared statement of the SQLite
 * backend, by id (sqlite_internal.h). Each seat change is a conditional
 * UPDATE whose WHERE clause is the rule; the writer never decides on a
 * value it read in another transaction. */
#include "store/sqlite_internal.h"

#define SQ_BOOKING_COLS                                                                            \
	"SELECT b.id, b.booking_reference, b.status, u.username, b.show_id, m.movie_name, "        \
	"sc.screen_name, s.show_time, b.created_at, b.expires_at, b.confirmed_at, "                \
	"b.cancelled_at FROM bookings b JOIN users u ON u.id = b.user_id "                         \
	"JOIN shows s ON s.id = b.show_id JOIN movies m ON m.id = s.movie_id "                     \
	"JOIN screens sc ON sc.id = s.screen_id "

/* A seat that is AVAILABLE, or HELD past its expiry, is free at NOW (a
 * parameter such as "?1"); P prefixes the columns ("st." or ""). The SQL
 * form of holdrule_seat_status (core/holdrule.h). */
#define SQ_FREE_SEAT(P, NOW)                                                                       \
	"(" P "status = 'AVAILABLE' OR (" P "status = 'HELD' AND " P "held_expiry <= " NOW "))"
#define SQ_CLEAR_SEAT                                                                              \
	"status = 'AVAILABLE', booking_id = NULL, held_at = NULL, held_by_user_id = NULL, "        \
	"held_expiry = NULL, version = version + 1"

const char *const sq_sql[SQ_STMT_COUNT] = {
    [SQ_BEGIN] = "BEGIN",
    [SQ_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_SAVEPOINT] = "SAVEPOINT cmd",
    [SQ_RELEASE] = "RELEASE cmd",
    [SQ_ROLLBACK_TO] = "ROLLBACK TO cmd",
    [SQ_ACTIVE_SHOWS] =
        "SELECT s.id, s.movie_id, s.screen_id, m.movie_name, sc.screen_name, "
        "m.duration_minutes, s.show_time, sc.total_seats, "
        "(SELECT count(*) FROM seats st WHERE st.show_id = s.id AND " SQ_FREE_SEAT(
            "st.",
            "?1") ") "
                  "FROM shows s JOIN movies m ON m.id = s.movie_id JOIN screens sc ON sc.id = "
                  "s.screen_id "
                  "WHERE s.status = 'ACTIVE' AND s.show_time > ?1 ORDER BY s.show_time, s.id",
    [SQ_SHOW] = "SELECT s.id, m.movie_name, m.duration_minutes, s.show_time, sc.screen_name, "
                "s.status, sc.rows, sc.seats_per_row, sc.total_seats FROM shows s "
                "JOIN movies m ON m.id = s.movie_id JOIN screens sc ON sc.id = s.screen_id "
                "WHERE s.id = ?1",
    /* The state at ?2 as an enum seat_status, whose values come bound as
     * ?3 AVAILABLE, ?4 HELD, ?5 BOOKED. */
    [SQ_SHOW_SEATS] = "SELECT seat_row, seat_number, CASE WHEN " SQ_FREE_SEAT(
        "", "?2") " THEN ?3 "
                  "WHEN status = 'HELD' THEN ?4 ELSE ?5 END, held_expiry "
                  "FROM seats WHERE show_id = ?1 ORDER BY seat_row, seat_number",
    [SQ_BOOKING_BY_REF] = SQ_BOOKING_COLS "WHERE b.booking_reference = ?1 AND u.username = ?2",
    [SQ_BOOKING_BY_ID] = SQ_BOOKING_COLS "WHERE b.id = ?1",
    [SQ_BOOKINGS_OF_USER] =
        SQ_BOOKING_COLS "WHERE u.username = ?1 ORDER BY b.created_at DESC, b.id DESC",
    /* A page, below the key (?2, ?3): INT64_MAX for the first; one row
     * more than the page is asked for (?4). The index bookings_user serves
     * the order and the bound. */
    [SQ_BOOKINGS_OF_USER_PAGE] = SQ_BOOKING_COLS
    "WHERE u.username = ?1 AND (b.created_at < ?2 OR (b.created_at = ?2 AND b.id < ?3)) "
    "ORDER BY b.created_at DESC, b.id DESC LIMIT ?4",
    [SQ_BOOKING_SEATS] = "SELECT seat_row, seat_number FROM booking_seats WHERE booking_id = ?1 "
                         "ORDER BY seat_row, seat_number",
    [SQ_NEXT_EXPIRY] = "SELECT min(x) FROM (SELECT min(held_expiry) AS x FROM seats "
                       "WHERE status = 'HELD' UNION ALL SELECT min(expires_at) FROM bookings "
                       "WHERE status = 'STAGED')",
    [SQ_USER_GET] = "SELECT id FROM users WHERE username = ?1",
    [SQ_USER_INSERT] = "INSERT INTO users(username, guid, created_at) VALUES (?1, ?2, ?3)",
    /* With the names a booking's answer shows (sq_load_booking's join). */
    [SQ_SHOW_FOR_WRITE] = "SELECT s.status, s.show_time, sc.rows, sc.seats_per_row, "
                          "m.movie_name, sc.screen_name FROM shows s "
                          "JOIN screens sc ON sc.id = s.screen_id "
                          "JOIN movies m ON m.id = s.movie_id WHERE s.id = ?1",
    [SQ_CART_GET] = "SELECT id, created_at, expires_at, booking_reference FROM bookings "
                    "WHERE show_id = ?1 AND user_id = ?2 AND status = 'STAGED'",
    [SQ_CART_EXPIRE] = "UPDATE bookings SET status = 'EXPIRED' "
                       "WHERE id = ?1 AND status = 'STAGED' AND expires_at <= ?2",
    [SQ_CART_INSERT] = "INSERT INTO bookings(show_id, user_id, status, total_seats, "
                       "booking_reference, created_at, expires_at) "
                       "VALUES (?1, ?2, 'STAGED', ?6, ?3, ?4, ?5) "
                       "ON CONFLICT (booking_reference) DO NOTHING",
    [SQ_SEAT_TAKE] =
        "UPDATE seats SET status = 'HELD', booking_id = ?4, held_at = ?5, "
        "held_by_user_id = ?6, held_expiry = ?7, version = version + 1 "
        "WHERE show_id = ?1 AND seat_row = ?2 AND seat_number = ?3 AND " SQ_FREE_SEAT("", "?5"),
    [SQ_SEAT_MINE] =
        "SELECT 1 FROM seats WHERE show_id = ?1 AND seat_row = ?2 AND "
        "seat_number = ?3 AND status = 'HELD' AND booking_id = ?4 AND held_expiry > ?5",
    [SQ_SEAT_FREE] = "SELECT 1 FROM seats WHERE show_id = ?1 AND seat_row = ?2 AND "
                     "seat_number = ?3 AND " SQ_FREE_SEAT("", "?4"),
    [SQ_BSEAT_INSERT] = "INSERT OR IGNORE INTO booking_seats(booking_id, show_id, seat_row, "
                        "seat_number) VALUES (?1, ?2, ?3, ?4)",
    [SQ_CART_COUNT] = "SELECT count(*) FROM seats WHERE booking_id = ?1 AND status = 'HELD'",
    [SQ_CART_REFRESH] = "UPDATE bookings SET expires_at = ?2, total_seats = ?3 WHERE id = ?1",
    [SQ_CART_SEATS_REFRESH] = "UPDATE seats SET held_expiry = ?2, version = version + 1 "
                              "WHERE booking_id = ?1 AND status = 'HELD' AND held_expiry <> ?2",
    [SQ_SEAT_BOOK] = "UPDATE seats SET status = 'BOOKED', held_expiry = NULL, "
                     "version = version + 1 WHERE show_id = ?1 AND seat_row = ?2 AND "
                     "seat_number = ?3 AND status = 'HELD' AND booking_id = ?4 AND "
                     "held_by_user_id = ?5 AND held_expiry > ?6",
    [SQ_BOOKING_HELD_SEATS] = "SELECT seat_row, seat_number FROM seats "
                              "WHERE booking_id = ?1 AND status = 'HELD'",
    [SQ_BOOKING_ALL_SEATS] = "SELECT seat_row, seat_number FROM seats WHERE booking_id = ?1",
    [SQ_BOOKING_FREE_HELD] =
        "UPDATE seats SET " SQ_CLEAR_SEAT " WHERE booking_id = ?1 AND status = 'HELD'",
    [SQ_BOOKING_FREE_ALL] = "UPDATE seats SET " SQ_CLEAR_SEAT " WHERE booking_id = ?1",
    [SQ_BSEAT_KEEP_BOOKED] =
        "DELETE FROM booking_seats WHERE booking_id = ?1 AND NOT EXISTS (SELECT 1 FROM seats s "
        "WHERE s.show_id = booking_seats.show_id AND s.seat_row = booking_seats.seat_row AND "
        "s.seat_number = booking_seats.seat_number AND s.booking_id = ?1 AND "
        "s.status = 'BOOKED')",
    [SQ_BOOKING_CONFIRM] =
        "UPDATE bookings SET status = 'CONFIRMED', confirmed_at = ?2, "
        "expires_at = NULL, total_seats = ?3 WHERE id = ?1 AND status = 'STAGED'",
    [SQ_SEAT_STATE] = "SELECT s.status, s.booking_id, b.user_id, b.status FROM seats s "
                      "LEFT JOIN bookings b ON b.id = s.booking_id "
                      "WHERE s.show_id = ?1 AND s.seat_row = ?2 AND s.seat_number = ?3",
    [SQ_BSEAT_COUNT] = "SELECT count(*) FROM booking_seats WHERE booking_id = ?1",
    [SQ_SEAT_RELEASE] =
        "UPDATE seats SET " SQ_CLEAR_SEAT
        " WHERE show_id = ?1 AND seat_row = ?2 AND seat_number = ?3 AND status = 'HELD' "
        "AND booking_id = ?4",
    [SQ_BSEAT_DELETE_ONE] = "DELETE FROM booking_seats WHERE booking_id = ?1 AND seat_row = ?2 "
                            "AND seat_number = ?3",
    [SQ_BSEAT_DELETE_ALL] = "DELETE FROM booking_seats WHERE booking_id = ?1",
    [SQ_BOOKING_SET_TOTAL] = "UPDATE bookings SET total_seats = ?2 WHERE id = ?1",
    [SQ_BOOKING_CANCEL] = "UPDATE bookings SET status = 'CANCELLED', cancelled_at = ?2, "
                          "expires_at = NULL WHERE id = ?1 AND status IN ('STAGED', 'CONFIRMED')",
    [SQ_BOOKING_FIND] = "SELECT b.id, b.status, b.expires_at, s.show_time FROM bookings b "
                        "JOIN users u ON u.id = b.user_id JOIN shows s ON s.id = b.show_id "
                        "WHERE b.booking_reference = ?1 AND u.username = ?2",
    [SQ_EXPIRE_SEATS] =
        "UPDATE seats SET " SQ_CLEAR_SEAT
        " WHERE status = 'HELD' AND held_expiry <= ?1 RETURNING show_id, seat_row, seat_number",
    [SQ_EXPIRE_CARTS] = "UPDATE bookings SET status = 'EXPIRED' WHERE status = 'STAGED' "
                        "AND expires_at <= ?1",
    [SQ_SCREEN_INSERT] = "INSERT INTO screens(screen_name, rows, seats_per_row, total_seats) "
                         "VALUES (?1, ?2, ?3, ?2 * ?3)",
    [SQ_MOVIE_INSERT] = "INSERT INTO movies(movie_name, duration_minutes, last_show_date) "
                        "VALUES (?1, ?2, ?3)",
    [SQ_MOVIE_GET] = "SELECT duration_minutes, last_show_date FROM movies WHERE id = ?1",
    [SQ_SCREEN_GET] = "SELECT rows, seats_per_row, total_seats FROM screens WHERE id = ?1",
    [SQ_SHOW_OVERLAP] = "SELECT 1 FROM shows WHERE screen_id = ?1 AND status = 'ACTIVE' "
                        "AND show_time < ?3 AND end_time > ?2 LIMIT 1",
    [SQ_SHOW_INSERT] = "INSERT INTO shows(movie_id, screen_id, show_time, end_time, status) "
                       "VALUES (?1, ?2, ?3, ?4, 'ACTIVE')",
    [SQ_SEAT_INSERT] = "INSERT INTO seats(show_id, seat_row, seat_number) VALUES (?1, ?2, ?3)",
    [SQ_SHOW_CANCEL] = "UPDATE shows SET status = 'CANCELLED' WHERE id = ?1",
    [SQ_IDEM_GET] = "SELECT request, status_code, body, created_at FROM idempotency WHERE key = ?1",
    [SQ_IDEM_DELETE] = "DELETE FROM idempotency WHERE key = ?1",
    [SQ_IDEM_INSERT] = "INSERT INTO idempotency(key, request, status_code, body, created_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)",
    [SQ_IDEM_EXPIRE] = "DELETE FROM idempotency WHERE created_at <= ?1",
    [SQ_DATA_VERSION] = "PRAGMA data_version",
};
