/* ratelimit.c - bounded, set-associative token buckets (see ratelimit.h). */
#include "api/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum {
	RATELIMIT_SETS = RATELIMIT_SLOTS / RATELIMIT_WAYS,
	RATELIMIT_STRIPES = 256, /* locks; a set's lock is set % STRIPES */
	RATELIMIT_RATE_MAX = 1000000,
};

struct ratelimit_slot {
	uint64_t key; /* hash of the key; 0: empty */
	double tokens;
	int64_t at_ms; /* when tokens was computed */
};

struct ratelimit {
	struct ratelimit_spec spec;
	pthread_mutex_t stripes[RATELIMIT_STRIPES];
	struct ratelimit_slot slots[RATELIMIT_SLOTS];
};

int ratelimit_parse(const char *text, struct ratelimit_spec *out)
{
	char *end;
	double rate = strtod(text, &end);
	double burst;

	if (end == text || !isfinite(rate) || rate < 0 || rate > RATELIMIT_RATE_MAX)
		return -1;
	if (*end == '/') {
		const char *b = end + 1;
		burst = strtod(b, &end);
		if (end == b || !isfinite(burst) || burst < 1 || burst > RATELIMIT_RATE_MAX)
			return -1;
	} else {
		burst = rate * 2 < 1 ? 1 : rate * 2;
	}
	if (*end != '\0')
		return -1;
	out->rate = rate;
	out->burst = burst;
	return 0;
}

int ratelimit_new(const struct ratelimit_spec *spec, struct ratelimit **out)
{
	*out = NULL;
	if (spec->rate <= 0)
		return 0;
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return -1;
	rl->spec = *spec;
	for (size_t i = 0; i < RATELIMIT_STRIPES; i++)
		pthread_mutex_init(&rl->stripes[i], NULL);
	*out = rl;
	return 0;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	for (size_t i = 0; i < RATELIMIT_STRIPES; i++)
		pthread_mutex_destroy(&rl->stripes[i]);
	free(rl);
}

/* FNV-1a, never 0 (0 marks an empty slot). */
static uint64_t ratelimit_hash(const char *key, size_t len)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211ull;
	}
	return h == 0 ? 1 : h;
}

static double ratelimit_level(const struct ratelimit *rl, const struct ratelimit_slot *s,
                              int64_t now_ms)
{
	double t = s->tokens;

	if (now_ms > s->at_ms)
		t += (double)(now_ms - s->at_ms) * rl->spec.rate / 1000.0;
	return t > rl->spec.burst ? rl->spec.burst : t;
}

int ratelimit_take(struct ratelimit *rl, const char *key, size_t len, int64_t now_ms,
                   unsigned *retry_after_s)
{
	if (rl == NULL)
		return 1;
	uint64_t h = ratelimit_hash(key, len);
	size_t set = (size_t)(h % RATELIMIT_SETS);
	struct ratelimit_slot *ways = &rl->slots[set * RATELIMIT_WAYS];
	struct ratelimit_slot *s = NULL;
	int ok;

	pthread_mutex_lock(&rl->stripes[set % RATELIMIT_STRIPES]);
	for (size_t i = 0; i < RATELIMIT_WAYS && s == NULL; i++)
		if (ways[i].key == h)
			s = &ways[i];
	if (s == NULL) {
		/* The emptiest-looking victim would be wrong: evict the fullest
		 * (an idle client's), which a new full bucket replaces at no
		 * loss. An empty slot has key 0 and counts as full. */
		double best = -1;
		for (size_t i = 0; i < RATELIMIT_WAYS; i++) {
			double lvl = ways[i].key == 0 ? rl->spec.burst + 1
			                              : ratelimit_level(rl, &ways[i], now_ms);
			if (lvl > best) {
				best = lvl;
				s = &ways[i];
			}
		}
		s->key = h;
		s->tokens = rl->spec.burst;
		s->at_ms = now_ms;
	}
	s->tokens = ratelimit_level(rl, s, now_ms);
	if (now_ms > s->at_ms)
		s->at_ms = now_ms;
	ok = s->tokens >= 1.0;
	if (ok) {
		s->tokens -= 1.0;
	} else if (retry_after_s != NULL) {
		double wait = ceil((1.0 - s->tokens) / rl->spec.rate);
		*retry_after_s = wait < 1 ? 1 : wait > 86400 ? 86400 : (unsigned)wait;
	}
	pthread_mutex_unlock(&rl->stripes[set % RATELIMIT_STRIPES]);
	return ok;
}
