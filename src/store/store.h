/* store.h - the one interface to all state.
 *
 * Every operation of the API is one function here and one transaction in
 * the backend. A backend is a table of methods (struct store_ops) chosen
 * once from the database URL by store_open(); callers use the store_*()
 * wrappers and never know which backend runs.
 *
 * Reads are synchronous and may be called from any thread at once.
 *
 * Writes are commands: the caller fills a struct store_cmd, sets done,
 * and hands it to store_submit(). The backend runs it in one transaction
 * and calls done(cmd) exactly once, from one of its own threads, after the
 * transaction is durable (or failed). Until done runs the command belongs
 * to the store. Refusals are outcomes (core/outcome.h), not error codes.
 *
 * Time and randomness come in through struct store_config so that tests
 * can drive the clock and replay a seed. All times are ms since the epoch.
 *
 * Known weak spot: a command whose caller went away still commits; that is
 * what "durable" means, and its answer is simply dropped. */
#ifndef BOXOFFICE_STORE_STORE_H
#define BOXOFFICE_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/booking.h"
#include "core/hist.h"
#include "core/outcome.h"
#include "core/seat.h"

enum store_err {
	STORE_OK = 0,
	STORE_ERR = -1,    /* storage failed: the API answers 503 */
	STORE_EBUSY = -2,  /* queue full or closing: 503 */
	STORE_EINVAL = -3, /* bad URL or configuration */
};

typedef int64_t (*store_clock_fn)(void *arg);

struct store_config {
	const char *url;              /* "sqlite:PATH" or "postgres://..." */
	int64_t hold_ttl_ms;          /* cart lifetime after a hold */
	int64_t hold_max_lifetime_ms; /* cap: createdAt + this */
	int64_t idempotency_ttl_ms;   /* how long answers are kept for replay */
	int max_seats_per_user;       /* held by one user in one show */
	int threads;                  /* expected concurrent readers */
	int pool_size;                /* PostgreSQL connections */
	store_clock_fn clock;         /* NULL: the real clock (PostgreSQL: its own) */
	void *clock_arg;
	booking_random_fn random; /* NULL: getrandom(2) */
	void *random_arg;
};

enum store_op {
	STORE_OP_HOLD,
	STORE_OP_HOLD_BEST,
	STORE_OP_CONFIRM,
	STORE_OP_RELEASE,
	STORE_OP_CANCEL,
	STORE_OP_EXPIRE_DUE,
	STORE_OP_CREATE_SCREEN,
	STORE_OP_CREATE_MOVIE,
	STORE_OP_CREATE_SHOW,
	STORE_OP_CANCEL_SHOW,
	STORE_OP_NOTIFY, /* listener only: changes committed by another node;
	                  * show 0 without changes: anything may have changed */
};

enum { IDEMPOTENCY_KEY_MAX = 255 };

struct store_cmd;
/* Builds the HTTP answer of a finished command: status and a malloc'd
 * body. Called by the store inside the transaction (any thread). */
typedef int (*store_answer_fn)(const struct store_cmd *cmd, unsigned *status, char **body,
                               size_t *len);

/* One committed seat change, for event streams. */
struct seat_change {
	int64_t show_id;
	struct seat seat;
	enum seat_status status;
};

struct store_cmd {
	enum store_op op;

	/* Input; which fields matter depends on op. */
	char username[USERNAME_MAX + 1];
	int64_t show_id; /* hold, hold-best, confirm, release, cancel-show */
	int nseats;      /* hold, confirm, release */
	bool all_seats;  /* release: the whole cart */
	struct seat seats[BOOKING_SEATS_MAX];
	int count;        /* hold-best */
	bool allow_split; /* hold-best */
	/* hold-best: seats[0..nseats) were chosen by store_pick outside the
	 * writer (nseats 0: none fit). The store holds exactly those, all
	 * newly, or none: then pick_conflict is set (SEATS_UNAVAILABLE, and
	 * no Idempotency-Key record is kept) and the caller picks again. */
	bool picked;
	char reference[BOOKING_REF_SIZE]; /* cancel */
	char name[NAME_MAX_LEN + 1];      /* create screen / movie */
	int rows, seats_per_row;          /* create screen */
	int duration_minutes;             /* create movie */
	char last_show_date[11];          /* create movie, "YYYY-MM-DD" */
	int64_t movie_id, screen_id;      /* create show */
	int64_t show_time;                /* create show */

	/* Idempotency (API.md 11), when idem_key is not empty. In the same
	 * transaction as the write the store looks the key up: a stored
	 * answer to the same request comes back with replayed set; a stored
	 * answer to another request gives OUTCOME_IDEMPOTENCY_KEY_REUSED.
	 * Otherwise the command runs, answer() builds its HTTP answer and the
	 * store keeps it with the write (not 400 or 5xx answers). */
	char idem_key[IDEMPOTENCY_KEY_MAX + 1];
	const char *idem_request; /* method, path and body; caller-owned */
	size_t idem_request_len;
	store_answer_fn answer;

	/* Output, valid when done runs. */
	enum outcome outcome;
	struct booking booking; /* hold, hold-best, confirm, release, cancel */
	int nbad;               /* seats at fault, natural order */
	struct seat bad[BOOKING_SEATS_MAX];
	int64_t created_id;          /* admin creates, cancel-show */
	int64_t created_end;         /* create show: end of the show */
	int total_seats;             /* create screen / show */
	int64_t expired;             /* expire-due: holds released */
	struct seat_change *changes; /* owned by the cmd; store_cmd_clear */
	size_t nchanges;
	int64_t feed_seq;       /* STORE_OP_NOTIFY from a shared feed: the seq of
	                         * these changes (all of one show) */
	bool pick_conflict;     /* hold-best: the picked seats were taken meanwhile */
	bool replayed;          /* answer_* is a stored answer */
	unsigned answer_status; /* set when the store built or replayed */
	char *answer_body;      /* the answer; owned, store_cmd_clear */
	size_t answer_len;

	void (*done)(struct store_cmd *cmd);
	void *arg;
};

/* Frees what a finished command owns (changes, answer). */
void store_cmd_clear(struct store_cmd *cmd);

struct show_summary {
	int64_t show_id, movie_id, screen_id;
	char movie_name[NAME_MAX_LEN + 1];
	char screen_name[NAME_MAX_LEN + 1];
	int duration_minutes;
	int64_t show_time;
	int total_seats, available_seats;
};

struct show_details {
	int64_t show_id;
	char movie_name[NAME_MAX_LEN + 1];
	char screen_name[NAME_MAX_LEN + 1];
	int duration_minutes;
	int64_t show_time;
	char status[16]; /* ACTIVE or CANCELLED */
	int rows, seats_per_row, total_seats;
	/* natural order; one allocation, owned, see store_show_details_free */
	struct seat *available, *held, *booked;
	int navailable, nheld, nbooked;
	/* earliest expiry of a live hold, INT64_MAX when none: the moment this
	 * picture goes stale without any write */
	int64_t next_expiry;
};

void store_show_details_free(struct show_details *d);

/* The outcome of store_verify(): each invariant checked, with a count of
 * violating rows and one example, in a readable text. */
struct store_report {
	int checks, failed;
	char *text; /* malloc'd, one line per check */
	size_t len;
};

/* The settings an acknowledged write's survival of a power cut rests on,
 * as the database reports them now (store_durability). */
enum { STORE_SETTINGS_MAX = 4, STORE_SETTING_LEN = 32 };

struct store_setting {
	char name[STORE_SETTING_LEN];
	char value[STORE_SETTING_LEN];
	const char *risk; /* NULL: safe; else what this value can lose (static) */
};

struct store_durability {
	int n;
	struct store_setting settings[STORE_SETTINGS_MAX];
};

/* Listener called after each commit with each finished command (from the
 * committing thread, before done). Used for caches and events. */
typedef void (*store_listener_fn)(void *arg, const struct store_cmd *cmd);

/* What /metrics shows of the storage, read now. The histograms live in
 * the store (valid until store_close) and are read with hist_read. */
struct store_stats {
	size_t queue_depth, queue_capacity; /* write commands waiting / room */
	const struct hist *batch_size;      /* commands per transaction */
	const struct hist *txn_seconds;     /* one transaction, begin to commit */
	int pool_in_use, pool_idle;         /* database connections */
};

struct store;
struct store_listener; /* store/backend.h */

/* Where a page of a user's bookings resumes: the list is ordered by
 * creation time, then id, both descending; a key names one booking. */
struct store_page_key {
	int64_t created_at, id;
};

struct store_page {
	int limit; /* 1..STORE_PAGE_MAX */
	int has_after;
	struct store_page_key after;
};

/* Whether more bookings follow the page, and the key to resume from. */
struct store_page_next {
	int more;
	struct store_page_key after;
};

enum { STORE_PAGE_MAX = 1000 };

/* A backend: every method but open takes the state open returned. The
 * contracts are those of the store_*() wrappers below; store/backend.h has
 * the plumbing store.c shares with every backend. */
struct store_ops {
	const char *name;
	/* Opens and migrates; calls listener (store_listener_tell) after each
	 * commit, from the committing thread, before the command's done. */
	int (*open)(const struct store_config *cfg, struct store_listener *listener, void **state);
	void (*drain)(void *state);
	void (*close)(void *state);
	int (*submit)(void *state, struct store_cmd *cmd);
	int (*active_shows)(void *state, struct show_summary **out, size_t *n);
	int (*show_details)(void *state, int64_t show_id, struct show_details *out,
	                    enum outcome *o);
	int (*booking_details)(void *state, const char *username, const char *reference,
	                       struct booking *out, enum outcome *o);
	int (*user_bookings)(void *state, const char *username, struct booking **out, size_t *n);
	/* One page of the same list (store_user_bookings_page). */
	int (*user_bookings_page)(void *state, const char *username, const struct store_page *page,
	                          struct booking **out, size_t *n, struct store_page_next *next);
	int (*next_expiry)(void *state, int64_t *at);
	int (*ping)(void *state);
	int (*durability)(void *state, struct store_durability *out);
	int (*verify)(void *state, struct store_report *report);
	int (*exclusive)(void *state, int (*fn)(void *arg), void *arg);
	/* Fills out; never blocks on the writer. */
	void (*stats)(void *state, struct store_stats *out);
	/* Shared change feed (NULL for a single-node backend): the newest seq
	 * of show_id this node's listener has been told about (0: none yet).
	 * Such a backend numbers each write's changes per show in commit
	 * order inside the write's own transaction, and reports every node's
	 * changes (its own too) to the listener as STORE_OP_NOTIFY commands
	 * with feed_seq set, in seq order per show. */
	int (*feed_head)(void *state, int64_t show_id, int64_t *seq);
	/* store_pick (NULL: the backend picks inside its write). */
	int (*pick)(void *state, struct store_cmd *cmd);
};

/* Opens the backend named by cfg->url and migrates its schema. */
int store_open(const struct store_config *cfg, struct store **out);
/* Refuses new writes (STORE_EBUSY) and finishes every queued one (each
 * gets done). Reads keep working until store_close. */
void store_drain(struct store *st);
/* Drains, then closes. */
void store_close(struct store *st);
/* Sets (or with fn NULL removes) the listener; safe while writes run. */
void store_set_listener(struct store *st, store_listener_fn fn, void *arg);
const char *store_backend_name(const struct store *st);

/* Queues a write. 0: done will be called. <0: it will not. */
int store_submit(struct store *st, struct store_cmd *cmd);

/* Hold-best without a slow path in the write: on a backend with one
 * writer (SQLite), chooses a hold-best command's seats on the calling
 * thread from the show's in-memory grid and sets cmd->picked; elsewhere,
 * or when there is nothing to pick from, leaves it unset and the write
 * picks. A command that comes back with pick_conflict (another write took
 * a picked seat first) is picked and submitted again; after
 * STORE_PICK_ATTEMPTS conflicts it goes unpicked (store_unpick) and the
 * writer decides. Always returns 0: a failed pick is an unpicked command. */
enum { STORE_PICK_ATTEMPTS = 3 };
int store_pick(struct store *st, struct store_cmd *cmd);
/* Makes cmd a hold-best that the write itself picks. */
void store_unpick(struct store_cmd *cmd);

int store_active_shows(struct store *st, struct show_summary **out, size_t *n);
int store_show_details(struct store *st, int64_t show_id, struct show_details *out,
                       enum outcome *o);
int store_booking_details(struct store *st, const char *username, const char *reference,
                          struct booking *out, enum outcome *o);
/* Newest first; *out is malloc'd (free it), possibly NULL when *n is 0. */
int store_user_bookings(struct store *st, const char *username, struct booking **out, size_t *n);
/* At most page->limit of them, in the same order, starting below
 * page->after when page->has_after; next->more says whether any follow,
 * and next->after is then where the next page starts. */
int store_user_bookings_page(struct store *st, const char *username, const struct store_page *page,
                             struct booking **out, size_t *n, struct store_page_next *next);
/* Earliest expiry of a live hold or cart; INT64_MAX when none. */
int store_next_expiry(struct store *st, int64_t *at);
int store_ping(struct store *st);
/* Reads the durability settings now (a round trip on PostgreSQL); 0 with
 * *out filled, <0 when storage cannot answer. */
int store_durability(struct store *st, struct store_durability *out);
/* Checks every invariant of the stored data (the rules of API.md in one
 * place). Returns 0 with the report filled (free report->text), <0 when
 * the checks could not run. */
int store_verify(struct store *st, struct store_report *report);
/* Runs fn while no other node of this database runs an exclusive section
 * (start-up work such as seeding); returns fn's result or <0. */
int store_exclusive(struct store *st, int (*fn)(void *arg), void *arg);
int64_t store_now(const struct store *st);
/* The storage's figures for /metrics (zeroes where a backend has none). */
void store_stats(struct store *st, struct store_stats *out);
/* true when the backend keeps a feed shared by every node (see feed_head). */
bool store_feed_shared(const struct store *st);
int store_feed_head(struct store *st, int64_t show_id, int64_t *seq);

/* Runs a command and waits for it (tools, tests, the CLI). */
int store_run(struct store *st, struct store_cmd *cmd);

/* Backends. */
extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;

#endif
