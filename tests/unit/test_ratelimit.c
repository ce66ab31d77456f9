/* test_ratelimit.c - unit tests of the API's token buckets
 * (api/ratelimit.c): option text, bursts, refill, Retry-After, keys kept
 * apart, and that a busy key stays limited however many other keys pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/ratelimit.h"

static void test_ratelimit_parse(void **state)
{
	struct ratelimit_spec s;
	(void)state;

	assert_int_equal(ratelimit_parse("20/40", &s), 0);
	assert_true(s.rate == 20 && s.burst == 40);
	assert_int_equal(ratelimit_parse("20", &s), 0);
	assert_true(s.rate == 20 && s.burst == 40);
	assert_int_equal(ratelimit_parse("0.2", &s), 0);
	assert_true(s.burst == 1);
	assert_int_equal(ratelimit_parse("0", &s), 0);
	assert_true(s.rate == 0);
	const char *bad[] = {"", "x", "-1", "1/0", "1/", "1/2x", "nan", "inf", "1e7", "20 ", "/5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ratelimit_parse(bad[i], &s), -1);
}

static void test_ratelimit_off_allows(void **state)
{
	struct ratelimit_spec off = {0, 0};
	struct ratelimit *rl;
	(void)state;

	assert_int_equal(ratelimit_new(&off, &rl), 0);
	assert_null(rl);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(ratelimit_take(rl, "k", 1, 0, NULL), 1);
}

static void test_ratelimit_burst_then_refill(void **state)
{
	struct ratelimit_spec spec = {2, 5}; /* 2 a second, 5 at once */
	struct ratelimit *rl;
	unsigned retry = 0;
	(void)state;

	assert_int_equal(ratelimit_new(&spec, &rl), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(ratelimit_take(rl, "alice", 5, 1000, &retry), 1);
	assert_int_equal(ratelimit_take(rl, "alice", 5, 1000, &retry), 0);
	assert_int_equal(retry, 1); /* one token in 0.5 s: rounded up */
	assert_int_equal(ratelimit_take(rl, "bob", 3, 1000, &retry), 1);
	assert_int_equal(ratelimit_take(rl, "alice", 5, 1400, &retry), 0);
	assert_int_equal(ratelimit_take(rl, "alice", 5, 1500, &retry), 1);
	assert_int_equal(ratelimit_take(rl, "alice", 5, 1500, &retry), 0);
	/* A long pause refills to the burst, not beyond. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(ratelimit_take(rl, "alice", 5, 60000, &retry), 1);
	assert_int_equal(ratelimit_take(rl, "alice", 5, 60000, &retry), 0);
	/* A clock that steps back grants nothing. */
	assert_int_equal(ratelimit_take(rl, "alice", 5, 1000, &retry), 0);
	ratelimit_free(rl);
}

static void test_ratelimit_retry_after_slow_rate(void **state)
{
	struct ratelimit_spec spec = {0.1, 1}; /* one per 10 s */
	struct ratelimit *rl;
	unsigned retry = 0;
	(void)state;

	assert_int_equal(ratelimit_new(&spec, &rl), 0);
	assert_int_equal(ratelimit_take(rl, "k", 1, 0, &retry), 1);
	assert_int_equal(ratelimit_take(rl, "k", 1, 0, &retry), 0);
	assert_int_equal(retry, 10);
	assert_int_equal(ratelimit_take(rl, "k", 1, 4000, &retry), 0);
	assert_int_equal(retry, 6);
	ratelimit_free(rl);
}

static void test_ratelimit_busy_key_survives_key_spray(void **state)
{
	struct ratelimit_spec spec = {1, 3};
	struct ratelimit *rl;
	char key[32];
	(void)state;

	assert_int_equal(ratelimit_new(&spec, &rl), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_take(rl, "hot", 3, 0, NULL), 1);
	assert_int_equal(ratelimit_take(rl, "hot", 3, 0, NULL), 0);
	/* Four times as many keys as slots, each taking one token. */
	for (int i = 0; i < 4 * RATELIMIT_SLOTS; i++) {
		int n = snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(ratelimit_take(rl, key, (size_t)n, 0, NULL), 1);
	}
	assert_int_equal(ratelimit_take(rl, "hot", 3, 0, NULL), 0);
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ratelimit_parse),
	    cmocka_unit_test(test_ratelimit_off_allows),
	    cmocka_unit_test(test_ratelimit_burst_then_refill),
	    cmocka_unit_test(test_ratelimit_retry_after_slow_rate),
	    cmocka_unit_test(test_ratelimit_busy_key_survives_key_spray),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
