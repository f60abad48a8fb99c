/* bdmon repair against the lab's live host2, through a write-enabled
 * Backdoors NIC on host2's memory (the ivshmem BAR, mediated: every CAS is
 * a locked instruction by the NIC's CPU on the memory host2's CPUs use).
 * The victims are processes the test starts; a canary started first must
 * live through every repair, same pid, still counting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lab_util.h"

#define NIC_W   "bdmon -q -s rdma:10.99.0.3:7474 -k " KEY " --write --audit /tmp/mon.audit"
#define NIC_RO  "bdmon -q -s rdma:10.99.0.3:7475 -k " KEY " --write --audit /tmp/mon.audit"
#define PLAN    "bdmon -q -s rdma:10.99.0.3:7474 -k " KEY
#define SCRIPT  "/bd/repair/kill.lua"
#define NIC_LOG "/tmp/nic-w.audit"

static int group_setup(void **state)
{
        (void)state;
        lab_init();
        if (lab_boot())
                return -1;
        struct result r =
            vm("host2-nic",
               "set -e; dd if=/dev/urandom of=/tmp/direct.bin bs=1024 count=1024 2>/dev/null;"
               "bdnicd -d -k " KEY " -l 0.0.0.0:7474 --allow-write -w host2=pci:1af4:1110"
               " -w direct=file:/tmp/direct.bin@0x1000000000"
               " -a " NIC_LOG " --log /tmp/nic-w.log --pidfile /tmp/nic-w.pid;"
               "bdnicd -d -k " KEY " -l 0.0.0.0:7475 -w host2=pci:1af4:1110"
               " -a /tmp/nic-ro.audit --log /tmp/nic-ro.log --pidfile /tmp/nic-ro.pid");
        int rc = r.rc;
        if (rc)
                print_error("starting bdnicd failed: %s %s\n", r.out, r.err);
        result_free(&r);
        if (rc)
                return -1;
        /* The canary: counts in a file, for ever, needing no fork (a fork
         * bomb would end a shell loop that forks); a copy of bdhog under
         * another name, since every fault's teardown kills `pidof bdhog`. */
        r = vm("host2", "cp /bd/lab/faults/bdhog /tmp/canary;"
                        " /tmp/canary canary /tmp/canary.n >/dev/null 2>&1 &"
                        " echo $! > /tmp/canary.pid");
        rc = r.rc;
        result_free(&r);
        return rc ? -1 : 0;
}

static int group_teardown(void **state)
{
        (void)state;
        struct result r = host("'%s/lab/bdlab' down", lab_root);
        int rc = r.rc;
        result_free(&r);
        return rc ? -1 : 0;
}

/* Start a victim in host2 (a shell command run in the background); its pid. */
static long victim(const char *cmd)
{
        struct result r = vm("host2", "(%s) >/dev/null 2>&1 & echo $!", cmd);
        expect_ok(&r, "starting a victim");
        long pid = strtol(r.out, NULL, 10);
        result_free(&r);
        assert_true(pid > 1);
        return pid;
}

/* A killed child of the agent's exited shell is init's to reap; until then
 * it is a zombie, which `kill -0` still finds. */
static int alive(long pid)
{
        struct result r = vm("host2", "s=$(cut -d' ' -f3 /proc/%ld/stat) && [ \"$s\" != Z ]", pid);
        int rc = r.rc;
        result_free(&r);
        return rc == 0;
}

/* The number a command in a VM prints. */
static long nic_cas_lines(void)
{
        return vm_number("host2-nic", "grep -c 'op=cas' " NIC_LOG " || true");
}

static long canary_count(void)
{
        return vm_number("host2", "cat /tmp/canary.n");
}

static void expect_canary_alive(void)
{
        struct result r = vm("host2", "kill -0 $(cat /tmp/canary.pid)");
        expect_ok(&r, "the canary lives");
        result_free(&r);
        long a = canary_count();
        sleep(1);
        long b = canary_count();
        if (b <= a)
                print_error("the canary stopped counting: %ld then %ld\n", a, b);
        assert_true(b > a);
}

static void test_plan_writes_nothing(void **state)
{
        (void)state;
        long pid = victim("while :; do :; done");
        long before = nic_cas_lines();
        struct result r = vm("mon", PLAN " repair " SCRIPT " %ld", pid);
        expect_ok(&r, "planning a kill");
        assert_non_null(strstr(r.out, "nothing written"));
        assert_non_null(strstr(r.out, "set_bit"));
        result_free(&r);
        /* By name, found beside the binary; as JSON. */
        r = vm("mon", PLAN " --json repair kill %ld", pid);
        expect_ok(&r, "planning by name");
        assert_non_null(strstr(r.out, "\"kind\":\"guard\""));
        result_free(&r);
        assert_int_equal(nic_cas_lines(), before);
        assert_true(alive(pid));
        r = vm("host2", "kill -9 %ld", pid);
        result_free(&r);
}

static void test_kill_spinner(void **state)
{
        (void)state;
        long pid = victim("while :; do :; done");
        long before = nic_cas_lines();
        struct result r = vm("mon", NIC_W " repair --apply " SCRIPT " %ld", pid);
        expect_ok(&r, "killing a spinner");
        assert_non_null(strstr(r.out, "effect: done"));
        result_free(&r);
        assert_false(alive(pid));
        /* Two bit-sets for its one thread, each one CAS (a retry adds one). */
        assert_true(nic_cas_lines() >= before + 2);
        r = vm("host2-nic", "grep 'op=cas' " NIC_LOG " | tail -n 1");
        assert_non_null(strstr(r.out, "result=swapped"));
        result_free(&r);
        r = vm("mon", "grep -c 'repair-outcome' /tmp/mon.audit");
        expect_ok(&r, "the monitor audits the outcome");
        result_free(&r);
        expect_canary_alive();
}

/* A sleeper is not woken by bits: pending until something wakes it. Here
 * it sleeps opening a FIFO; a writer wakes it, and it dies on its way back
 * to user mode instead of copying what was written. */
static void test_kill_sleeper(void **state)
{
        (void)state;
        struct result r = vm("host2", "rm -f /tmp/fifo /tmp/cat.out; mkfifo /tmp/fifo");
        expect_ok(&r, "a FIFO in host2");
        result_free(&r);
        long pid = victim("exec cat /tmp/fifo > /tmp/cat.out");
        r = vm("mon", NIC_W " repair --apply " SCRIPT " %ld", pid);
        expect_ok(&r, "killing a sleeper");
        assert_non_null(strstr(r.out, "effect: pending"));
        assert_non_null(strstr(r.out, "pending until woken"));
        result_free(&r);
        assert_true(alive(pid));
        r = vm("host2", "(echo woken > /tmp/fifo) 2>/dev/null; sleep 1");
        result_free(&r);
        assert_false(alive(pid));
        r = vm("host2", "wc -c < /tmp/cat.out");
        expect_ok(&r, "what the sleeper copied");
        assert_int_equal(atoi(r.out), 0);
        result_free(&r);
        expect_canary_alive();
}

static void test_refusals(void **state)
{
        (void)state;
        long before = nic_cas_lines();
        struct result r = vm("mon", NIC_W " repair --apply " SCRIPT " 1");
        expect_refusal(&r, 2, "init");
        result_free(&r);
        r = vm("mon", NIC_W " repair --apply " SCRIPT " 2");
        expect_refusal(&r, 2, "kernel thread");
        result_free(&r);
        long pid = victim("while :; do :; done");
        r = vm("mon", PLAN " repair --apply " SCRIPT " %ld", pid);
        expect_refusal(&r, 7, "--write");
        result_free(&r);
        assert_int_equal(nic_cas_lines(), before);
        /* A read-only NIC refuses, and says so in its own audit. */
        r = vm("mon", NIC_RO " repair --apply " SCRIPT " %ld", pid);
        expect_refusal(&r, 7, "read-only");
        result_free(&r);
        r = vm("host2-nic", "grep -c 'write-refused' /tmp/nic-ro.audit");
        expect_ok(&r, "the read-only NIC audits the refusal");
        result_free(&r);
        assert_true(alive(pid));
        r = vm("host2", "kill -9 %ld", pid);
        result_free(&r);
        expect_canary_alive();
}

/* A SCHED_FIFO 99 spinner pinned to a CPU, RT throttling off, that would
 * spin for an hour: found without its pid, killed, and the canary counts
 * on. The spinner is ended whatever happens. */
static void test_rtspin(void **state)
{
        (void)state;
        struct result r = host("BDLAB_HOG_S=3600 '%s/lab/bdlab' inject host2 rtspin", lab_root);
        expect_ok(&r, "injecting rtspin");
        result_free(&r);
        /* The spinner owns a CPU: the agent may take a while to see it. */
        long pid = vm_number("host2", "for i in $(seq 20); do p=$(pidof bdhog) &&"
                                      " exec echo $p; sleep 0.5; done; echo 0");
        r = vm("mon", NIC_W " repair --apply rtspin");
        long rc = r.rc;
        if (rc)
                print_error("rtspin: exit %ld\n%s%s", rc, r.out, r.err);
        int done = strstr(r.out, "effect: done") != NULL;
        result_free(&r);
        int gone = pid > 0 && !alive(pid);
        r = vm("host2", "kill $(pidof bdhog) 2>/dev/null; true");
        result_free(&r);
        assert_true(pid > 1);
        assert_int_equal(rc, 0);
        assert_true(done);
        assert_true(gone);
        expect_canary_alive();
}

/* A spinlock leaked in bdfault.ko with a kthread spinning on it, a soft
 * lockup no reboot-free tool ends: released by one CAS of its locked byte.
 * Refused without --force. The lock is released from inside host2 whatever
 * happens. */
static void test_unlock(void **state)
{
        (void)state;
        struct result r = host("'%s/lab/bdlab' inject host2 lockleak", lab_root);
        expect_ok(&r, "injecting lockleak");
        result_free(&r);
        r = vm("host2", "grep -m1 ' bdfault_leak' /proc/kallsyms | cut -d' ' -f1");
        char addr[32];
        snprintf(addr, sizeof(addr), "0x%s", r.out);
        chomp(addr);
        result_free(&r);
        long spinners = vm_number("host2", "ps | grep -c '[b]dfault-lock' || true");
        /* The raw address and the module's own symbol name the same lock:
         * refused without --force, released with it by name. */
        struct result plain = vm("mon", NIC_W " --raw repair --apply unlock %s", addr);
        struct result named = vm("mon", NIC_W " sym bdfault_leak");
        struct result forced = vm("mon", NIC_W " --force repair --apply unlock bdfault_leak");
        sleep(1);
        struct result after = vm("host2", "ps | grep -c '[b]dfault-lock' || true");
        r = host("'%s/lab/bdlab' inject host2 lockfree", lab_root);
        result_free(&r);
        expect_refusal(&plain, 2, "--force");
        expect_ok(&named, "the module's symbol");
        assert_non_null(strstr(named.out, addr + 2));
        assert_non_null(strstr(named.out, "bdfault"));
        result_free(&named);
        expect_ok(&forced, "unlocking");
        assert_non_null(strstr(forced.out, "effect: done"));
        assert_non_null(strstr(forced.out, "kept"));
        /* The spinner took the lock, let it go and ended. */
        assert_int_equal(spinners, 1);
        assert_int_equal(atoi(after.out), 0);
        result_free(&plain);
        result_free(&forced);
        result_free(&after);
        expect_canary_alive();
}

/* The n-th occurrence of "key":"0x..." in json. */
static unsigned long long nth_hex(const char *json, const char *key, int n)
{
        char pat[64];
        snprintf(pat, sizeof(pat), "\"%s\":\"0x", key);
        const char *p = json;
        for (int i = 0; i <= n; i++) {
                p = strstr(p, pat);
                assert_non_null(p);
                p += strlen(pat);
        }
        return strtoull(p, NULL, 16);
}

/* A guard that changes between plan and apply stops the repair before any
 * of its writes. */
static void test_guard_changed(void **state)
{
        (void)state;
        long pid = victim("while :; do :; done");
        struct result r = vm("mon", PLAN " repair --plan /tmp/kill.plan " SCRIPT " %ld", pid);
        expect_ok(&r, "saving a plan");
        result_free(&r);
        r = vm("mon", "cat /tmp/kill.plan");
        /* Step 3 is the start_time guard: an 8-byte word. */
        unsigned long long pa = nth_hex(r.out, "paddr", 2), t0 = nth_hex(r.out, "read", 2);
        result_free(&r);
        r = vm("mon", NIC_W " cas 0x%llx 0x%llx 0x%llx", pa, t0, t0 + 1);
        expect_ok(&r, "changing the guarded start time");
        result_free(&r);
        long before = nic_cas_lines();
        r = vm("mon", NIC_W " repair --apply --plan /tmp/kill.plan " SCRIPT " %ld", pid);
        expect_refusal(&r, 11, "guard");
        assert_non_null(strstr(r.out, "changed"));
        result_free(&r);
        assert_int_equal(nic_cas_lines(), before);
        assert_true(alive(pid));
        r = vm("mon", NIC_W " cas 0x%llx 0x%llx 0x%llx", pa, t0 + 1, t0);
        expect_ok(&r, "restoring the start time");
        result_free(&r);
        r = vm("host2", "kill -9 %ld", pid);
        result_free(&r);
}

/* A peer with the key and a direct window's rkey posts one-sided writes
 * itself, bypassing bdmon, inside the window and past its end: the NIC's
 * registration refuses both (remote read only), and not a byte changes. */
static void text_of(const char *name, const char *cmd, char *buf, size_t cap)
{
        struct result r = vm(name, "%s", cmd);
        snprintf(buf, cap, "%s", r.out);
        chomp(buf);
        result_free(&r);
}

static void test_rogue_write(void **state)
{
        (void)state;
        char before[64], after[64];
        text_of("host2-nic", "md5sum < /tmp/direct.bin", before, sizeof(before));
        struct result r = vm("mon", "rogue_write -k " KEY " rdma:10.99.0.3:7474 direct");
        text_of("host2-nic", "md5sum < /tmp/direct.bin", after, sizeof(after));
        if (r.rc)
                print_error("rogue_write: exit %d\n%s%s", r.rc, r.out, r.err);
        assert_int_equal(r.rc, 0);
        assert_non_null(strstr(r.out, "write inside"));
        assert_non_null(strstr(r.out, "IBV_WC_REM_ACCESS_ERR"));
        result_free(&r);
        assert_string_equal(before, after);
}

/* ------------------------------------------------ persistent faults
 * Each is injected to last (BDLAB_HOG_S=0: the hog never lets go, its
 * lowered limit stays, one of its processes sleeps in pause()), seen by a
 * watch, repaired, and must leave host2 healthy in the same boot: the
 * exec agent starts processes, the canary counts at its old rate. */

#define EVENTS "/tmp/repair-watch.jsonl"

struct persistent {
        const char *kind;   /* bdlab inject KIND */
        const char *what;   /* the resource watch names */
        const char *sysctl; /* the limit the fault lowers, put back afterwards */
        const char *script; /* the repair and its arguments; %s: the limit before */
        int by_watch;       /* healed by watch --repair, not by hand */
};

static double canary_rate(void)
{
        long a = canary_count();
        sleep(3);
        return (double)(canary_count() - a) / 3;
}

static long long event_ns(const char *ev)
{
        char v[32];
        return json_field(ev, "unix_ns", v, sizeof(v)) ? 0 : atoll(v);
}

static void heal(const struct persistent *f)
{
        char boot0[64], boot1[64], limit[32] = "", script[160], ev[4096], what[32] = "";
        text_of("host2", "cat /proc/sys/kernel/random/boot_id", boot0, sizeof(boot0));
        if (f->sysctl)
                text_of("host2", f->sysctl, limit, sizeof(limit));
        snprintf(script, sizeof(script), f->script, limit);
        double rate0 = canary_rate();
        long canary = vm_number("host2", "cat /tmp/canary.pid");
        struct result r =
            vm("mon",
               "rm -rf " EVENTS " /tmp/rinc; mkdir /tmp/rinc;"
               " echo 'exhausted:%s %s mode=apply' > /tmp/policy;"
               " (" PLAN " --audit /tmp/mon.audit --json --incidents /tmp/rinc %s watch > " EVENTS
               " 2>/tmp/rw.err &"
               " echo $! > /tmp/rw.pid)",
               f->what, script, f->by_watch ? "--write --repair /tmp/policy" : "");
        expect_ok(&r, "starting a watch");
        result_free(&r);
        int healthy = wait_match(EVENTS, 0, "\"state\":\"healthy\"", 120, ev, sizeof(ev));
        r = host("BDLAB_HOG_S=0 '%s/lab/bdlab' inject host2 %s", lab_root, f->kind);
        int injected = r.rc == 0;
        result_free(&r);
        int alarm = healthy && injected
                        ? wait_match(EVENTS, healthy, "\"state\":\"exhausted\"", 90, ev, sizeof(ev))
                        : 0;
        long long t_alarm = event_ns(ev);
        json_field(ev, "what", what, sizeof(what));
        struct result fix = {0};
        if (alarm && !f->by_watch)
                /* A NIC round trip can pass bdmon's default 5 s while the
                 * fault saturates the lab's emulated CPUs. */
                fix = vm("mon", NIC_W " --timeout 30000 repair --apply %s", script);
        int healed =
            alarm ? wait_match(EVENTS, alarm, "\"previous\":\"exhausted\"", 60, ev, sizeof(ev)) : 0;
        long long t_healed = event_ns(ev);
        text_of("host2", "cat /proc/sys/kernel/random/boot_id", boot1, sizeof(boot1));
        struct result forks = vm("host2", "for i in 1 2 3 4 5 6 7 8; do sh -c true || exit 1;"
                                          " done; exec echo started");
        /* Live ones: a killed hog whose parent lives on stays a zombie,
         * holding nothing but its pid until the parent reaps it. */
        long left = vm_number("host2", "n=0; for p in $(pidof bdhog); do grep -q '^State:.*Z'"
                                       " /proc/$p/status || n=$((n+1)); done; echo $n");
        double rate1 = canary_rate();
        struct result repaired = vm("mon", "cat /tmp/rinc/*/repair.json 2>/dev/null; true");
        /* Whatever happened: the hog ends, the limit comes back, the watch
         * stops. */
        r = vm("host2", "kill -9 $(pidof bdhog) 2>/dev/null; sleep 1; %s%s%s true",
               limit[0] ? "echo " : "", limit,
               !limit[0]                 ? ""
               : strstr(f->kind, "pid")  ? " > /proc/sys/kernel/pid_max;"
               : strstr(f->kind, "file") ? " > /proc/sys/fs/file-max;"
                                         : " > /proc/sys/kernel/threads-max;");
        result_free(&r);
        r = vm("mon", "kill $(cat /tmp/rw.pid); sleep 1; cat /tmp/rw.err");
        result_free(&r);

        const char *effect = fix.out ? strstr(fix.out, "effect:") : NULL;
        print_message("%s: %.*s\n", script, effect ? (int)strcspn(effect, "\n") : 4,
                      effect ? effect : "none");
        print_message("%-8s alarm -> healthy in %.2f s; %ld hog process(es) left asleep;"
                      " canary %.0f/s before, %.0f/s after\n",
                      f->kind, alarm && healed ? (double)(t_healed - t_alarm) / 1e9 : -1.0, left,
                      rate0, rate1);
        assert_true(injected);
        assert_true(alarm > 0);
        assert_string_equal(what, f->what);
        if (!f->by_watch) {
                /* The end says what failed; a plan of a thousand steps
                 * would not fit cmocka's message. */
                size_t len = strlen(fix.out);
                if (fix.rc)
                        print_error("%s: exit %d\n...%s%s", script, fix.rc,
                                    fix.out + (len > 3000 ? len - 3000 : 0), fix.err);
                assert_int_equal(fix.rc, 0);
                /* The hog's sleeper is marked, not woken. */
                assert_non_null(strstr(fix.out, "pending until woken"));
        } else {
                assert_non_null(strstr(repaired.out, "\"verdict\""));
        }
        result_free(&fix);
        result_free(&repaired);
        assert_true(healed > 0);
        assert_string_equal(boot0, boot1);
        expect_ok(&forks, "host2 starts processes");
        assert_non_null(strstr(forks.out, "started"));
        result_free(&forks);
        assert_true(left >= 1 && left <= 2);
        assert_int_equal(vm_number("host2", "cat /tmp/canary.pid"), canary);
        assert_true(rate1 >= rate0 / 3);
        expect_canary_alive();
}

static void test_forkbomb(void **state)
{
        (void)state;
        heal(&(struct persistent){"forkbomb", "threads", "cat /proc/sys/kernel/threads-max",
                                  "forkbomb restore=%s", 0});
}

static void test_pids(void **state)
{
        (void)state;
        heal(&(struct persistent){"pids", "pids", "cat /proc/sys/kernel/pid_max", "pids", 0});
}

static void test_files(void **state)
{
        (void)state;
        heal(&(struct persistent){"files", "files", "cat /proc/sys/fs/file-max", "files", 0});
}

/* Healed by the watch itself, from a policy. */
static void test_memhog_by_watch(void **state)
{
        (void)state;
        heal(&(struct persistent){"memory", "memory", NULL, "memhog", 1});
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_plan_writes_nothing),
            cmocka_unit_test(test_kill_spinner),
            cmocka_unit_test(test_kill_sleeper),
            cmocka_unit_test(test_refusals),
            cmocka_unit_test(test_rtspin),
            cmocka_unit_test(test_unlock),
            cmocka_unit_test(test_guard_changed),
            cmocka_unit_test(test_rogue_write),
            cmocka_unit_test(test_forkbomb),
            cmocka_unit_test(test_pids),
            cmocka_unit_test(test_files),
            cmocka_unit_test(test_memhog_by_watch),
        };
        lab_filter();
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
