/* fanout.h - runs the parts of one job side by side on a few threads.
 *
 * The events fan-out sends one event to thousands of sockets, each send
 * costing about 11-14 us of kernel CPU on loopback (BENCHMARKS.md); split
 * over the cores, the last viewer gets it sooner. A fanout owns up to
 * FANOUT_MAX - 1 helper threads, started once; fanout_run hands parts
 * 1..n-1 of a job to them, runs part 0 on the calling thread and returns
 * when every part is done. Jobs run one at a time (the caller serialises
 * them). Nothing here knows what a part does. */
#ifndef BOXOFFICE_EVENTS_FANOUT_H
#define BOXOFFICE_EVENTS_FANOUT_H

enum { FANOUT_MAX = 4 }; /* parts at once, at most */

struct fanout;

/* A fanout that runs up to `parts` parts at once (1..FANOUT_MAX). Helpers
 * that cannot start leave fewer: fanout_parts says how many. NULL when
 * out of memory. */
struct fanout *fanout_create(int parts);
int fanout_parts(const struct fanout *fo);
/* Calls fn(ctx, i) for i in 0..parts-1 (parts <= fanout_parts), part 0
 * on this thread, and returns once all have returned. */
void fanout_run(struct fanout *fo, void (*fn)(void *ctx, int part), void *ctx, int parts);
/* Stops and joins the helpers. */
void fanout_destroy(struct fanout *fo);

#endif
