/* backend.h - what store.c gives every backend, so that each backend keeps
 * only what differs: the listener slot, resetting a command's output,
 * keeping an answer, the show-details block, durability settings, the verify loop and the
 * store's clock. Included by backends only; callers use store.h. */
#ifndef BOXOFFICE_STORE_BACKEND_H
#define BOXOFFICE_STORE_BACKEND_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* The one listener of a store, set from any thread at any time (main sets
 * it after open) and called by the backend's committing threads. */
struct store_listener {
	pthread_mutex_t lock;
	store_listener_fn fn;
	void *arg;
};

/* Calls the listener, if one is set, for a committed command. */
void store_listener_tell(struct store_listener *l, const struct store_cmd *cmd);

/* The store's clock: cfg->clock, or the real one. */
int64_t store_config_now(const struct store_config *cfg);

/* Clears every output field before a command runs (or after it failed):
 * outcome UNAVAILABLE, no seats at fault, no changes, no answer. Keeps
 * the changes array allocated for reuse. */
void store_cmd_reset_output(struct store_cmd *cmd);

/* Keeps a copy of an answer in the command; 0 or -1 (out of memory). */
int store_cmd_set_answer(struct store_cmd *cmd, unsigned status, const char *body, size_t len);
/* 1 when an answer with this status is kept for replay. */
int store_answer_storable(unsigned status);

/* Appends one durability setting (ignored beyond STORE_SETTINGS_MAX). */
void store_durability_add(struct store_durability *d, const char *name, const char *value,
                          const char *risk);

/* Allocates d's three seat runs for d->total_seats seats in one block
 * (available, held, booked; store_show_details_free frees it). 0 or -1. */
int store_show_details_alloc(struct show_details *d);

/* Runs one verify query: fills the count of violating rows and one
 * example (possibly empty). Returns 0, or -1 when the query failed. */
typedef int (*store_verify_query_fn)(void *ctx, const char *sql, long long *violations,
                                     char *example, size_t size);
/* Runs every invariant check (verify_checks.h) through query, with NOW
 * written as now_expr, into report; stops at the first failed query.
 * The caller provides the snapshot (one read transaction). 0 or -1. */
int store_verify_run(struct store_report *report, const char *now_expr, store_verify_query_fn query,
                     void *ctx);

/* fsync(2) of a file (dir 0) or a directory (dir 1) by path: 0 or -1
 * (errno set). A new file's name is durable only once its directory is
 * synced: store_sync_dir_of syncs the directory that holds path. */
int store_sync_path(const char *path, int dir);
int store_sync_dir_of(const char *path);

#endif
