/* The monitor's side of small reads over UC (monitor/source/nic_answers.h):
 * how long one waits before it is asked again over RC, the round trip that
 * wait follows, and which read an answer belongs to (a late one to none). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../monitor/source/nic_answers.h"

#define MS 1000000ull

static void test_timeout_follows_round_trip(void **state)
{
        (void)state;
        /* No answer yet: a first round trip on a slow fabric fits. */
        assert_int_equal(bd_nic_uc_timeout_ns(0), 50 * MS);
        /* Eight round trips, but not below 10 ms nor above half a second. */
        assert_int_equal(bd_nic_uc_timeout_ns(2 * MS), 16 * MS);
        assert_int_equal(bd_nic_uc_timeout_ns(1 * MS), 10 * MS);
        assert_int_equal(bd_nic_uc_timeout_ns(1), 10 * MS);
        assert_int_equal(bd_nic_uc_timeout_ns(10 * MS), 80 * MS);
        assert_int_equal(bd_nic_uc_timeout_ns(10000 * MS), 500 * MS);
}

static void test_srtt_smooths(void **state)
{
        (void)state;
        assert_int_equal(bd_nic_uc_srtt(0, 3 * MS), 3 * MS);
        /* One slow answer moves it an eighth of the way. */
        assert_int_equal(bd_nic_uc_srtt(8 * MS, 16 * MS), 9 * MS);
        /* Steady answers bring it to their round trip. */
        uint64_t s = 20 * MS;
        for (int i = 0; i < 200; i++)
                s = bd_nic_uc_srtt(s, 1 * MS);
        assert_true(s >= 1 * MS && s < 1 * MS + MS / 100);
}

static void test_find_only_waiting_mediated(void **state)
{
        (void)state;
        struct bd_nic_read_op ops[4] = {
            {.busy = 1, .mediated = 0, .id = 5}, /* a one-sided READ: no id */
            {.busy = 0, .mediated = 1, .id = 5}, /* answered already */
            {.busy = 1, .mediated = 1, .id = 6},
            {.busy = 1, .mediated = 1, .id = 5},
        };
        assert_int_equal(bd_nic_read_find(ops, 4, 5), 3);
        assert_int_equal(bd_nic_read_find(ops, 4, 6), 2);
        assert_int_equal(bd_nic_read_find(ops, 4, 7), -1);
        assert_int_equal(bd_nic_read_find(ops, 3, 5), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_timeout_follows_round_trip),
            cmocka_unit_test(test_srtt_smooths),
            cmocka_unit_test(test_find_only_waiting_mediated),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
