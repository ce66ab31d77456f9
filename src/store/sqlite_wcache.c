/* sqlite_wcache.c - the SQLite writer's caches of rows every write looks
 * up: user ids by username, and the row of a show that sq_show_check
 * reads (status, time, size, names). A hold or confirm paid a statement
 * for each (BENCHMARKS.md); a hit costs a hash probe.
 *
 * Correctness: an entry is learned inside the writer's transaction, where
 * it may still be rolled back (the command's savepoint, or the whole
 * batch). So a learned entry waits in a pending list and is used only once
 * its transaction committed and its command was not rolled back
 * (sq_wcache_commit, sq_wcache_drop). A user row never changes once
 * committed (users are never updated or deleted); a show changes only by
 * sq_do_cancel_show, which forgets it. Another connection writing the file
 * (a second process: the known weak spot of store_sqlite.c) is seen through
 * PRAGMA data_version at the start of each batch, and empties the caches.
 * Writer thread only. Direct-mapped tables: a collision evicts. */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"

enum {
	SQ_WC_USERS = 4096, /* slots; a power of two */
	SQ_WC_SHOWS = 256,  /* slots; a power of two */
	SQ_WC_PENDING = 2 * SQ_BATCH_MAX,
};

struct sq_wc_user {
	int64_t id; /* 0: empty */
	char name[USERNAME_MAX + 1];
};

struct sq_wc_pending {
	int is_show;
	struct sq_wc_user user;
	struct sq_wc_show show;
};

struct sq_wcache {
	int64_t data_version; /* -1 before the first batch */
	struct sq_wc_user users[SQ_WC_USERS];
	struct sq_wc_show shows[SQ_WC_SHOWS];
	size_t npending;
	struct sq_wc_pending pending[SQ_WC_PENDING];
};

static size_t sq_wc_user_slot(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return h & (SQ_WC_USERS - 1);
}

static size_t sq_wc_show_slot(int64_t id)
{
	return (size_t)((uint64_t)id & (SQ_WC_SHOWS - 1));
}

struct sq_wcache *sq_wcache_new(void)
{
	struct sq_wcache *w = calloc(1, sizeof(*w));

	if (w != NULL)
		w->data_version = -1;
	return w;
}

void sq_wcache_free(struct sq_wcache *w)
{
	free(w);
}

int sq_wcache_begin(struct sq_conn *c, struct sq_wcache *w)
{
	sqlite3_stmt *st;

	w->npending = 0;
	if (sq_first(c, &st, SQ_DATA_VERSION) != 1)
		return -1;
	int64_t v = sqlite3_column_int64(st, 0);
	sq_done(st);
	if (v != w->data_version) {
		memset(w->users, 0, sizeof(w->users));
		memset(w->shows, 0, sizeof(w->shows));
		w->data_version = v;
	}
	return 0;
}

size_t sq_wcache_mark(const struct sq_wcache *w)
{
	return w->npending;
}

void sq_wcache_drop(struct sq_wcache *w, size_t mark)
{
	if (mark < w->npending)
		w->npending = mark;
}

void sq_wcache_commit(struct sq_wcache *w)
{
	for (size_t i = 0; i < w->npending; i++) {
		const struct sq_wc_pending *p = &w->pending[i];
		if (p->is_show && p->show.id != 0)
			w->shows[sq_wc_show_slot(p->show.id)] = p->show;
		else if (p->is_show)
			continue; /* forgotten while pending */
		else
			w->users[sq_wc_user_slot(p->user.name)] = p->user;
	}
	w->npending = 0;
}

int sq_wcache_user(const struct sq_wcache *w, const char *name, int64_t *id)
{
	const struct sq_wc_user *u = &w->users[sq_wc_user_slot(name)];

	if (u->id == 0 || strcmp(u->name, name) != 0)
		return 0;
	*id = u->id;
	return 1;
}

void sq_wcache_learn_user(struct sq_wcache *w, const char *name, int64_t id)
{
	size_t len = strlen(name);

	if (w->npending == SQ_WC_PENDING || len > USERNAME_MAX || id == 0)
		return; /* not cached: the next write looks it up again */
	struct sq_wc_pending *p = &w->pending[w->npending++];
	p->is_show = 0;
	p->user.id = id;
	memcpy(p->user.name, name, len + 1);
}

const struct sq_wc_show *sq_wcache_show(const struct sq_wcache *w, int64_t id)
{
	const struct sq_wc_show *sh = &w->shows[sq_wc_show_slot(id)];

	return sh->id == id && id != 0 ? sh : NULL;
}

void sq_wcache_learn_show(struct sq_wcache *w, const struct sq_wc_show *show)
{
	if (w->npending == SQ_WC_PENDING || show->id == 0)
		return;
	struct sq_wc_pending *p = &w->pending[w->npending++];
	p->is_show = 1;
	p->show = *show;
}

void sq_wcache_forget_show(struct sq_wcache *w, int64_t id)
{
	struct sq_wc_show *sh = &w->shows[sq_wc_show_slot(id)];

	if (sh->id == id)
		sh->id = 0;
	for (size_t i = 0; i < w->npending; i++)
		if (w->pending[i].is_show && w->pending[i].show.id == id)
			w->pending[i].show.id = 0; /* merged as an empty slot: a miss */
}
