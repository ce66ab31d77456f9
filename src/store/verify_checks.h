/* verify_checks.h - the invariants of the stored data, stated once as SQL
 * for both backends (store_verify). Each query returns one row: the number
 * of violating rows and one example. "NOW" is replaced by the backend's
 * clock expression (a bound ms value on SQLite, bo_now() on PostgreSQL:
 * the database clock, or a test's cfg.clock). The
 * queries use only SQL both dialects read the same way. */
#ifndef BOXOFFICE_STORE_VERIFY_CHECKS_H
#define BOXOFFICE_STORE_VERIFY_CHECKS_H

#include <stdio.h>
#include <string.h>

struct verify_check {
	const char *name;
	const char *sql;
};

#define VERIFY_SEAT_KEY(a) "(" a ".show_id || ':' || " a ".seat_row || ':' || " a ".seat_number)"

static const struct verify_check verify_checks[] = {
    {"every seat is in at most one live (STAGED or CONFIRMED) booking",
     "SELECT count(*), min(k) FROM (SELECT " VERIFY_SEAT_KEY(
         "bs") " AS k FROM booking_seats bs "
               "JOIN bookings b ON b.id = bs.booking_id WHERE b.status = 'CONFIRMED' OR "
               "(b.status = 'STAGED' AND b.expires_at > NOW) "
               "GROUP BY bs.show_id, bs.seat_row, bs.seat_number HAVING count(*) > 1) d"},
    {"BOOKED seats belong to a CONFIRMED booking of the same show",
     "SELECT count(*), min(" VERIFY_SEAT_KEY(
         "s") ") FROM seats s LEFT JOIN bookings b "
              "ON b.id = s.booking_id WHERE s.status = 'BOOKED' AND (b.id IS NULL OR "
              "b.status <> 'CONFIRMED' OR b.show_id <> s.show_id)"},
    {"live HELD seats belong to the live STAGED booking of their holder",
     "SELECT count(*), min(" VERIFY_SEAT_KEY(
         "s") ") FROM seats s LEFT JOIN bookings b "
              "ON b.id = s.booking_id WHERE s.status = 'HELD' AND s.held_expiry > NOW AND "
              "(b.id IS NULL OR b.status <> 'STAGED' OR b.user_id <> s.held_by_user_id OR "
              "b.show_id <> s.show_id OR b.expires_at <> s.held_expiry)"},
    {"AVAILABLE seats belong to no booking",
     "SELECT count(*), min(" VERIFY_SEAT_KEY(
         "s") ") FROM seats s "
              "WHERE s.status = 'AVAILABLE' AND s.booking_id IS NOT NULL"},
    {"available + held + booked = total seats, per show",
     "SELECT count(*), min(sh.id) FROM shows sh JOIN screens sc ON sc.id = sh.screen_id "
     "WHERE (SELECT count(*) FROM seats s WHERE s.show_id = sh.id) <> sc.total_seats"},
    {"CONFIRMED bookings hold exactly their seats, all BOOKED",
     "SELECT count(*), min(b.booking_reference) FROM bookings b WHERE b.status = 'CONFIRMED' "
     "AND (b.total_seats <> (SELECT count(*) FROM booking_seats x WHERE x.booking_id = b.id) "
     "OR EXISTS (SELECT 1 FROM booking_seats x LEFT JOIN seats s ON s.show_id = x.show_id AND "
     "s.seat_row = x.seat_row AND s.seat_number = x.seat_number WHERE x.booking_id = b.id AND "
     "(s.status IS NULL OR s.status <> 'BOOKED' OR s.booking_id <> b.id)))"},
    {"booking references are unique",
     "SELECT count(*), min(r) FROM (SELECT booking_reference AS r FROM bookings "
     "GROUP BY booking_reference HAVING count(*) > 1) d"},
    {"at most one STAGED cart per user and show",
     "SELECT count(*), min(k) FROM (SELECT (show_id || ':' || user_id) AS k FROM bookings "
     "WHERE status = 'STAGED' GROUP BY show_id, user_id HAVING count(*) > 1) d"},
    {"seat versions count every change (held or booked seats changed at least once)",
     "SELECT count(*), min(" VERIFY_SEAT_KEY(
         "s") ") FROM seats s "
              "WHERE s.version < 0 OR (s.status <> 'AVAILABLE' AND s.version < 1)"},
};

/* Writes check's SQL with every NOW replaced by now_expr. */
static inline void verify_sql(const char *sql, const char *now_expr, char *out, size_t size)
{
	const char *at;
	size_t used = 0;

	while ((at = strstr(sql, "NOW")) != NULL && used < size) {
		used += (size_t)snprintf(out + used, size - used, "%.*s%s", (int)(at - sql), sql,
		                         now_expr);
		sql = at + 3;
	}
	if (used < size)
		snprintf(out + used, size - used, "%s", sql);
}

#endif
