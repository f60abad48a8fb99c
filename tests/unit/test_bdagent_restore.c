/* libbdagent started from a checkpoint (bdagent.h, BD_AGENT_RESTORE_ENV):
 * a region the directory has a file for starts with its contents, which
 * are also its first commit; a file of another length is refused with
 * the region untouched; a region with no file keeps its own. Its own
 * process: the library is set up once per process. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/agent_beacon.h"
#include "../../host-agent/bdagent.h"

static void put_file(const char *dir, const char *name, const void *data, size_t len)
{
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

static void test_loaded_from_checkpoint(void **state)
{
        (void)state;
        char dir[] = "/tmp/test_bdagent_restore.XXXXXX";
        assert_non_null(mkdtemp(dir));
        static uint64_t one[8], two[8], three[8], want[8];
        for (int i = 0; i < 8; i++)
                want[i] = 0x1111u * (unsigned)(i + 1);
        put_file(dir, "one", want, sizeof(want));
        put_file(dir, "two", want, sizeof(want) - 8);
        memset(two, 0x22, sizeof(two));
        memset(three, 0x33, sizeof(three));
        assert_int_equal(setenv(BD_AGENT_RESTORE_ENV, dir, 1), 0);
        assert_int_equal(bd_agent_init("restore-test"), 0);
        assert_int_equal(bd_region(one, sizeof(one), "one"), 0);
        assert_memory_equal(one, want, sizeof(want));
        assert_int_equal(bd_region(two, sizeof(two), "two"), -EMSGSIZE);
        for (int i = 0; i < 8; i++)
                assert_int_equal(two[i], 0x2222222222222222ull);
        assert_int_equal(bd_region(three, sizeof(three), "three"), 0);
        assert_int_equal(three[7], 0x3333333333333333ull);
        /* The loaded contents are the first commit: a request that
         * changes nothing commits them again. */
        bd_request_begin();
        bd_request_end();
        assert_int_equal(bd_agent_commits(), 1);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_loaded_from_checkpoint),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
