/* demo.c - a small cinema for the demo: three screens, five movies and
 * four shows a day per screen over the coming three days, starting at the
 * next full hour, so GET /api/shows/active is never empty after seeding. */
#include "demo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timefmt.h"

enum {
	DEMO_DAYS = 3,
	DEMO_SHOWS_PER_DAY = 4,
	DEMO_SLOT_MS = 3 * 60 * 60 * 1000, /* longer than any demo movie */
	DEMO_DAY_MS = 24 * 60 * 60 * 1000,
	DEMO_RUN_DAYS = 60, /* lastShowDate: today + this */
};

static const struct {
	const char *name;
	int rows, seats_per_row;
} demo_screens[] = {
    {"Screen 1", 10, 20},
    {"Screen 2", 8, 16},
    {"Grand Hall", 15, 30},
};

static const struct {
	const char *name;
	int minutes;
} demo_movies[] = {
    {"The Quiet Orbit", 124}, {"Paper Lanterns", 98},   {"Northbound Freight", 141},
    {"A Map of Tides", 110},  {"Midnight Ledger", 132},
};

static int demo_run(struct store *st, struct store_cmd *cmd)
{
	return store_run(st, cmd) == 0 && cmd->outcome == OUTCOME_CREATED ? 0 : -1;
}

int demo_seed(struct store *st)
{
	const size_t nscreens = sizeof(demo_screens) / sizeof(demo_screens[0]);
	const size_t nmovies = sizeof(demo_movies) / sizeof(demo_movies[0]);
	int64_t screen_ids[sizeof(demo_screens) / sizeof(demo_screens[0])];
	int64_t movie_ids[sizeof(demo_movies) / sizeof(demo_movies[0])];
	struct store_cmd *cmd = calloc(1, sizeof(*cmd));
	int64_t now = store_now(st);
	char date[TIMEFMT_SIZE];
	int shows = -1;

	if (cmd == NULL)
		return -1;
	timefmt_format(now + (int64_t)DEMO_RUN_DAYS * DEMO_DAY_MS, date);
	for (size_t i = 0; i < nscreens; i++) {
		memset(cmd, 0, sizeof(*cmd));
		cmd->op = STORE_OP_CREATE_SCREEN;
		snprintf(cmd->name, sizeof(cmd->name), "%s", demo_screens[i].name);
		cmd->rows = demo_screens[i].rows;
		cmd->seats_per_row = demo_screens[i].seats_per_row;
		if (demo_run(st, cmd) != 0)
			goto done;
		screen_ids[i] = cmd->created_id;
	}
	for (size_t i = 0; i < nmovies; i++) {
		memset(cmd, 0, sizeof(*cmd));
		cmd->op = STORE_OP_CREATE_MOVIE;
		snprintf(cmd->name, sizeof(cmd->name), "%s", demo_movies[i].name);
		cmd->duration_minutes = demo_movies[i].minutes;
		memcpy(cmd->last_show_date, date, 10);
		if (demo_run(st, cmd) != 0)
			goto done;
		movie_ids[i] = cmd->created_id;
	}
	int64_t hour = (int64_t)60 * 60 * 1000;
	int64_t first = (now / hour + 1) * hour;
	shows = 0;
	for (int day = 0; day < DEMO_DAYS; day++) {
		for (size_t s = 0; s < nscreens; s++) {
			for (int k = 0; k < DEMO_SHOWS_PER_DAY; k++) {
				memset(cmd, 0, sizeof(*cmd));
				cmd->op = STORE_OP_CREATE_SHOW;
				cmd->screen_id = screen_ids[s];
				cmd->movie_id =
				    movie_ids[((size_t)day * 7 + (size_t)k * 3 + s) % nmovies];
				cmd->show_time = first + (int64_t)day * DEMO_DAY_MS +
				                 (int64_t)k * DEMO_SLOT_MS +
				                 (int64_t)s * 30 * 60 * 1000;
				if (demo_run(st, cmd) != 0) {
					shows = -1;
					goto done;
				}
				shows++;
			}
		}
	}
done:
	free(cmd);
	return shows;
}
