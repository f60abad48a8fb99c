/* The monitor's check of a libbdagent beacon (views/agent.h): a beacon as
 * the library writes it passes; each field a hostile process could bend is
 * refused, naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../monitor/views/agent.h"
#include "helpers.h"

#define BEACON_AT 0x7f0000000000ull
#define LIVE      0x555555560000ull
#define SLOTS     0x7f0000100000ull

/* The process's mappings: the beacon's memfd, the application's data, the
 * library's copies, a file and a shared mapping. */
static struct bd_vma maps[] = {
    {.start = 0x555555554000ull,
     .end = 0x555555556000ull,
     .flags = 0x5,
     .file = 1,
     .name = "/bin/app"},
    {.start = LIVE, .end = LIVE + 0x4000, .flags = 0x3},
    {.start = 0x600000000000ull, .end = 0x600000001000ull, .flags = 0xb},
    {.start = BEACON_AT,
     .end = BEACON_AT + 0x2000,
     .flags = 0xb,
     .file = 1,
     .name = "/memfd:bdagent:app (deleted)"},
    {.start = SLOTS, .end = SLOTS + 0x4000, .flags = 0x3},
};
static const struct bd_vmas vs = {.v = maps, .n = sizeof(maps) / sizeof(maps[0])};

static struct bd_agent_beacon good;

static void make_good(void)
{
        memset(&good, 0, sizeof(good));
        good.magic = BD_AGENT_MAGIC;
        good.version = BD_AGENT_VERSION;
        good.size = sizeof(good);
        strcpy(good.name, "app");
        good.pid = 1234;
        good.signal = 62;
        good.nregions = 2;
        good.nthreads = 2;
        good.committed = 1;
        good.generation[1] = 8;
        good.commits = 4;
        strcpy(good.region[0].name, "state");
        good.region[0].live = LIVE;
        good.region[0].len = 0x1000;
        good.region[0].slot[0] = SLOTS;
        good.region[0].slot[1] = SLOTS + 0x1000;
        strcpy(good.region[1].name, "table.v2");
        good.region[1].live = LIVE + 0x1000;
        good.region[1].len = 100;
        good.region[1].slot[0] = SLOTS + 0x2000;
        good.region[1].slot[1] = SLOTS + 0x3000;
        good.thread[0] = (struct bd_agent_thread){1234, 0, 10};
        good.thread[1] = (struct bd_agent_thread){1240, 1, 3};
}

static struct bd_agent_view view;

static void test_good_beacon(void **state)
{
        (void)state;
        make_good();
        assert_bd_ok(bd_agent_check(&good, sizeof(good), BEACON_AT, &vs, &view));
        assert_int_equal(view.beacon, BEACON_AT);
        assert_string_equal(view.b.region[1].name, "table.v2");
        /* A thread's entry claimed but not filled in yet. */
        good.thread[1].tid = 0;
        assert_bd_ok(bd_agent_check(&good, sizeof(good), BEACON_AT, &vs, &view));
        /* Before its first region: nothing committed yet. */
        good.nregions = 0;
        good.committed = BD_AGENT_NONE;
        assert_bd_ok(bd_agent_check(&good, sizeof(good), BEACON_AT, &vs, &view));
}

/* One bent field: refused, the message naming it. */
static void refused(const char *what)
{
        struct bd_error *err = bd_agent_check(&good, sizeof(good), BEACON_AT, &vs, &view);
        assert_non_null(err);
        if (!strstr(err->message, what))
                print_error("'%s' does not say '%s'\n", err->message, what);
        assert_non_null(strstr(err->message, what));
        assert_int_equal(err->code, BD_ERR_PROTOCOL);
        bd_error_destroy(err);
        make_good();
}

static void test_bent_fields(void **state)
{
        (void)state;
        make_good();
        struct bd_error *err = bd_agent_check(&good, sizeof(good) - 1, BEACON_AT, &vs, &view);
        assert_non_null(err);
        bd_error_destroy(err);
        good.magic++;
        refused("magic");
        good.version = BD_AGENT_VERSION + 1;
        refused("version");
        good.size = 64;
        refused("size");
        memcpy(good.name, "0123456789012345678901234567890123", BD_AGENT_NAME_MAX);
        refused("its name");
        strcpy(good.name, "a/b");
        refused("its name");
        good.name[0] = 0;
        refused("its name");
        good.pid = 0;
        refused("pid");
        good.pid = 5 << 20;
        refused("pid");
        good.signal = 9;
        refused("signal");
        good.nregions = BD_AGENT_MAX_REGIONS + 1;
        refused("more regions");
        good.nthreads = BD_AGENT_MAX_THREADS + 1;
        refused("more threads");
        good.committed = 2;
        refused("committed");
        good.committed = BD_AGENT_NONE;
        refused("committed");
        strcpy(good.region[1].name, "x\033[2J");
        refused("region's name");
        good.region[0].len = 0;
        refused("length");
        good.region[0].len = BD_AGENT_REGION_MAX + 1;
        refused("length");
        good.region[0].live = LIVE + 0x3800; /* runs past its mapping */
        refused("outside the process's mappings");
        good.region[0].live = UINT64_MAX - 10; /* wraps */
        refused("outside the process's mappings");
        good.region[1].slot[1] = 0x555555554000ull; /* the program's file */
        refused("private writable");
        good.region[1].slot[0] = 0x600000000000ull; /* shared */
        refused("private writable");
        good.region[0].slot[0] = BEACON_AT; /* the memfd */
        refused("private writable");
        good.thread[1].tid = -1;
        refused("thread");
        good.thread[1].tid = 5 << 20;
        refused("thread");
        good.thread[0].inside = 2;
        refused("thread");
}

static void test_mapping_names(void **state)
{
        (void)state;
        assert_true(bd_agent_mapping("/memfd:bdagent:app (deleted)"));
        assert_true(bd_agent_mapping("/memfd:bdagent:app"));
        assert_false(bd_agent_mapping("/memfd:other (deleted)"));
        assert_false(bd_agent_mapping("/tmp/memfd:bdagent:app"));
        assert_false(bd_agent_mapping("/memfd:bdagent:a/b"));
        assert_false(bd_agent_mapping(""));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_good_beacon),
            cmocka_unit_test(test_bent_fields),
            cmocka_unit_test(test_mapping_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
