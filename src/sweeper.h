/* sweeper.h - turns expired holds back into AVAILABLE when they expire.
 *
 * One thread sleeps until the earliest hold expiry the store knows of (not
 * on a fixed poll), then queues an expire-due command like any other write.
 * Correctness never waits for it: reads and holds already treat an expired
 * hold as available; the sweeper makes the rows (and events) catch up. */
#ifndef BOXOFFICE_SWEEPER_H
#define BOXOFFICE_SWEEPER_H

#include <stdint.h>

#include "store/store.h"

enum {
	SWEEPER_IDLE_MS = 60 * 1000, /* re-check even without news */
	SWEEPER_RETRY_MS = 1000,     /* after a storage error */
	SWEEPER_RECHECK_MS = 200,    /* at most one recheck per this */
};

struct sweeper;

int sweeper_start(struct store *st, struct sweeper **out);
/* A commit created a hold expiring at `at`: wake earlier if needed. */
void sweeper_note_expiry(struct sweeper *sw, int64_t at);
/* Someone (another node) made a hold whose expiry we do not know: ask the
 * store for the earliest expiry soon (coalesced, SWEEPER_RECHECK_MS). */
void sweeper_recheck(struct sweeper *sw);
void sweeper_stop(struct sweeper *sw);

#endif
