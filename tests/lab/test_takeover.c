/* Lab test of a takeover from a frozen host2: QEMU stops it (nothing moves,
 * no panic: a hung machine), bdmon reads a multi-threaded service and its
 * client's connection out through the Backdoors NIC, the standby host3
 * restores it with the client's connection, and host2 is never continued:
 * it stays stopped until the lab goes down. A group of its own, so that
 * test_lab's host2 can go on after its frozen test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lab_util.h"

#define IMAGES "/bd/lab/run/images"
#define PORT   7005

static int group_setup(void **state)
{
        (void)state;
        lab_init();
        if (lab_boot())
                return -1;
        struct result r = host("'%s/tests/lab/stage-tool' criu '%s/build/lab/criu' &&"
                               " '%s/tests/lab/stage-tool' nft '%s/build/lab/nft'",
                               lab_root, lab_root, lab_root, lab_root);
        int rc = r.rc;
        result_free(&r);
        if (!rc) {
                r = vm("host2-nic", "bdnicd -d -k " KEY " -w host2=pci:1af4:1110"
                                    " -a /tmp/nic.audit --log /tmp/nic.log --pidfile /tmp/nic.pid");
                rc = r.rc;
                if (rc)
                        print_error("starting bdnicd failed: %s %s\n", r.out, r.err);
                result_free(&r);
        }
        return rc ? -1 : 0;
}

static int group_teardown(void **state)
{
        (void)state;
        struct result r =
            host("'%s/lab/bdlab' stop host3; '%s/lab/bdlab' down", lab_root, lab_root);
        int rc = r.rc;
        result_free(&r);
        return rc ? -1 : 0;
}

static void test_frozen_host2_taken_over(void **state)
{
        (void)state;
        /* criu restores the same pids, and host2 and host3 are both fresh
         * boots here, so the service's pids (about 180-195) could be ones
         * host3's own start-up took: the service's start well above any
         * boot's pids, as a long-running machine's service would be. */
        long pid = vm_number("host2",
                             "echo 19999 > /proc/sys/kernel/ns_last_pid;"
                             " counterd -p %d -t 3 </dev/null >/dev/null 2>&1 &"
                             " echo $!",
                             PORT);
        assert_true(pid > 0);
        wait_listening("host2", PORT);
        long client = vm_number(
            "mon", "counter-client -i 50 10.99.0.2 %d > /tmp/cc.log 2>&1 & echo $!", PORT);
        ok(vm("mon", "for i in $(seq 100); do [ $(wc -l < /tmp/cc.log) -ge 20 ] && exit 0;"
                     " sleep 0.1; done; cat /tmp/cc.log; exit 1"),
           "the client's first 20 answers");
        /* The monitor knows its target before the fault (where its kernel
         * keeps VMCOREINFO; its symbols and types), as a watching one does. */
        ok(vm("mon", BDMON " info host2"), "bdmon info host2 before the freeze");
        /* The standby is up before the fault, as a standby is. */
        ok(host("'%s/lab/bdlab' start host3", lab_root), "booting host3");
        ok(vm("host3", STANDBY_PREPARE), "host3 ready as a standby");
        ok(host("'%s/lab/bdlab' inject host2 freeze", lab_root), "bdlab inject host2 freeze");
        struct result r = vm("mon",
                             "rm -rf " IMAGES "/frozen-conn; mkdir -p " IMAGES "; " BDMON
                             " --json resurrect host2 %ld --images " IMAGES "/frozen-conn",
                             pid);
        expect_ok(&r, "bdmon resurrect of the frozen host2's service");
        assert_non_null(strstr(r.out, "\"connections\":1,"));
        assert_non_null(strstr(r.out, "\"kernel_ran\":false"));
        assert_null(strstr(r.out, "\"on_cpu\":true"));
        printf("frozen: %s", r.out);
        result_free(&r);
        take_over(IMAGES "/frozen-conn", client, "takeover from the frozen host2");
        ok(vm("host3", "grep -q 'Threads:.*4' /proc/%ld/status", pid),
           "the main thread and three workers on host3");
        /* The original stays stopped: continuing it would answer for the
         * same address with the same connection. */
        r = host("'%s/lab/bdlab' status --json", lab_root);
        expect_ok(&r, "bdlab status");
        char *h2 = strstr(r.out, "\"name\": \"host2\"");
        assert_non_null(h2);
        char *end = strchr(h2, '}');
        assert_non_null(end);
        *end = 0;
        assert_non_null(strstr(h2, "\"runstate\": \"paused\""));
        result_free(&r);
}

int main(void)
{
        lab_filter();
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_frozen_host2_taken_over),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
