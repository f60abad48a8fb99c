/* The budgets of views that target numbers size (views/budget.h): the
 * refusal ps and maps give, naming the budget and the option that raises
 * it, and sizes as messages write them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../monitor/views/budget.h"

static void test_check(void **state)
{
        (void)state;
        assert_null(bd_budget_check(10, 100, 1000, "tasks"));
        assert_null(bd_budget_check(UINT64_MAX, 0, 1000, "tasks"));
        struct bd_error *err = bd_budget_check(11, 100, 1000, "tasks");
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_RANGE);
        assert_string_equal(err->message, "more than 10 tasks at 100 bytes each would pass the "
                                          "1000 bytes budget (--max-read raises it)");
        bd_error_destroy(err);
        /* No product to overflow: a count of 2^63 is refused. */
        err = bd_budget_check(1ull << 63, 1136, 128u << 20, "tasks");
        assert_non_null(err);
        assert_non_null(strstr(err->message, "118149 tasks"));
        assert_non_null(strstr(err->message, "128 MiB budget"));
        bd_error_destroy(err);
}

static void test_budget_of_program(void **state)
{
        (void)state;
        struct bd_program prog = {0};
        assert_int_equal(bd_budget(&prog, 16u << 20), 16u << 20);
        prog.opt.max_read = 1u << 30;
        assert_int_equal(bd_budget(&prog, 16u << 20), 1u << 30);
}

static void test_size_text(void **state)
{
        (void)state;
        static const struct {
                uint64_t bytes;
                const char *text;
        } cases[] = {
            {0, "0 bytes"},           {17, "17 bytes"},      {1536, "1.5 KiB"},
            {16u << 20, "16 MiB"},    {1ull << 30, "1 GiB"}, {5162220, "4.9 MiB"},
            {UINT64_MAX, "16.0 EiB"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char buf[32];
                bd_size_text(cases[i].bytes, buf, sizeof(buf));
                assert_string_equal(buf, cases[i].text);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_check),
            cmocka_unit_test(test_budget_of_program),
            cmocka_unit_test(test_size_text),
        };
        return cmocka_run_group_tests_name("budget", tests, NULL, NULL);
}
