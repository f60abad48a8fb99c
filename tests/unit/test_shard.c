/* Sharding a fleet's targets over monitors (watch/shard.h): every target
 * owned by exactly `replicas` shards, shares about even, one more shard
 * moving about 1/N of the targets (and only to itself), and --shard's
 * text refused when it is not I/N. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "../../monitor/watch/shard.h"
#include "helpers.h"

#define TARGETS 10000

static char names[TARGETS][16];

static int setup(void **state)
{
        (void)state;
        for (int i = 0; i < TARGETS; i++)
                snprintf(names[i], sizeof(names[i]), "host%05d", i);
        return sodium_init() < 0 ? -1 : 0;
}

static void test_parse(void **state)
{
        (void)state;
        struct bd_shard s;
        assert_bd_ok(bd_shard_parse("2/3", &s));
        assert_int_equal(s.index, 2);
        assert_int_equal(s.count, 3);
        assert_int_equal(s.replicas, 1);
        static const char *const bad[] = {"0/3", "4/3",  "a/3",          "1/0",    "1/",
                                          "/3",  "-1/3", "1/3x",         "1/5000", "1",
                                          "",    "1/-3", "99999999999/3"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_error_says(bd_shard_parse(bad[i], &s), BD_ERR_USAGE, "give I/N");
}

/* Which shards of n (replicas r) own target t, as a bit mask. */
static uint64_t owners(unsigned n, unsigned r, int t)
{
        uint64_t mask = 0;
        for (unsigned i = 1; i <= n; i++)
                if (bd_shard_owns(&(struct bd_shard){i, n, r}, names[t]))
                        mask |= 1ull << i;
        return mask;
}

static void test_balance_and_replicas(void **state)
{
        (void)state;
        for (unsigned r = 1; r <= 3; r++) {
                unsigned count[11] = {0};
                for (int t = 0; t < TARGETS; t++) {
                        uint64_t m = owners(10, r, t);
                        assert_int_equal(__builtin_popcountll(m), r);
                        for (unsigned i = 1; i <= 10; i++)
                                count[i] += (m >> i) & 1;
                        assert_int_equal(owners(10, r, t), m); /* the same every time */
                }
                /* Each shard near r/10 of the targets. */
                for (unsigned i = 1; i <= 10; i++) {
                        assert_true(count[i] > r * TARGETS / 10 * 8 / 10);
                        assert_true(count[i] < r * TARGETS / 10 * 12 / 10);
                }
        }
}

static void test_one_more_shard_moves_one_in_n(void **state)
{
        (void)state;
        for (unsigned n = 2; n <= 20; n += 6) {
                int moved = 0;
                for (int t = 0; t < TARGETS; t++) {
                        uint64_t before = owners(n, 1, t), after = owners(n + 1, 1, t);
                        if (before != after) {
                                moved++;
                                /* Only to the new shard. */
                                assert_int_equal(after, 1ull << (n + 1));
                        }
                }
                /* About TARGETS / (n + 1). */
                double want = (double)TARGETS / (n + 1);
                printf("N %u -> %u: %d of %d targets moved (1/(N+1): %.0f)\n", n, n + 1, moved,
                       TARGETS, want);
                assert_true(moved > want * 0.8 && moved < want * 1.2);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse),
            cmocka_unit_test(test_balance_and_replicas),
            cmocka_unit_test(test_one_more_shard_moves_one_in_n),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
