/* bdnicd's polling window after activity (backdoor-nic/serve.h): the
 * default follows the requests' pace, so that a burst of dependent reads
 * finds the NIC awake and a quiet NIC sleeps; a number given is kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../backdoor-nic/serve.h"

#define US 1000ull

static void test_fixed_window_kept(void **state)
{
        (void)state;
        assert_int_equal(bd_nic_spin_window(0, 10 * US), 0);
        assert_int_equal(bd_nic_spin_window(5000, UINT64_MAX), 5000 * US);
        assert_int_equal(bd_nic_spin_window(5000, 1), 5000 * US);
}

static void test_auto_follows_the_burst(void **state)
{
        (void)state;
        /* Requests a round trip apart: awake for two of them. */
        assert_int_equal(bd_nic_spin_window(BD_SPIN_AUTO, 20 * US), 40 * US);
        assert_int_equal(bd_nic_spin_window(BD_SPIN_AUTO, 400 * US), 800 * US);
        /* The lab's dependent reads, an emulated round trip apart. */
        assert_int_equal(bd_nic_spin_window(BD_SPIN_AUTO, 1300 * US), 2600 * US);
        /* Never longer than the longest window. */
        assert_int_equal(bd_nic_spin_window(BD_SPIN_AUTO, 3000 * US), BD_SPIN_AUTO_MAX_NS);
        assert_int_equal(bd_nic_spin_window(BD_SPIN_AUTO, BD_SPIN_AUTO_MAX_NS),
                         BD_SPIN_AUTO_MAX_NS);
}

static void test_auto_after_a_lone_request(void **state)
{
        (void)state;
        /* The first request, or one after a quiet stretch: asleep at once. */
        assert_int_equal(bd_nic_spin_window(BD_SPIN_AUTO, UINT64_MAX), 0);
        assert_int_equal(bd_nic_spin_window(BD_SPIN_AUTO, BD_SPIN_AUTO_MAX_NS + 1), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_fixed_window_kept),
            cmocka_unit_test(test_auto_follows_the_burst),
            cmocka_unit_test(test_auto_after_a_lone_request),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
