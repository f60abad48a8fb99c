/* libbdagent (host-agent/bdagent.h) as the monitor sees it: the beacon in
 * a memfd mapping, commits that leave one whole copy whichever instruction
 * the process stops at, a reader racing the writer that tells torn copies
 * from whole ones, and the recovery of a thread that was inside a request
 * when its process was resurrected. One library per process: the group
 * sets it up once, and the tests share it. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/agent_beacon.h"
#include "../../host-agent/bdagent.h"

/* The beacon, found as the monitor finds it: the mapping of the memfd
 * named after the application (in pid's /proc/PID/maps). */
static uint64_t find_beacon(pid_t pid, const char *name)
{
        char path[64], want[64], line[512];
        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        snprintf(want, sizeof(want), "/memfd:" BD_AGENT_MEMFD_PREFIX "%s (deleted)\n", name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        uint64_t at = 0;
        while (!at && fgets(line, sizeof(line), f)) {
                const char *file = strchr(line, '/');
                if (file && !strcmp(file, want))
                        at = strtoull(line, NULL, 16);
        }
        fclose(f);
        return at;
}

/* The state the tests commit: every word the same, and the words' sum,
 * so that a copy mixing two commits is seen. */
#define WORDS 1024
struct state {
        uint64_t word[WORDS];
        uint64_t sum;
};
static struct state live;

static void set_state(struct state *s, uint64_t v)
{
        for (int i = 0; i < WORDS; i++)
                s->word[i] = v;
        s->sum = v * WORDS;
}

static int whole(const struct state *s)
{
        uint64_t sum = 0;
        for (int i = 0; i < WORDS; i++) {
                if (s->word[i] != s->word[0])
                        return 0;
                sum += s->word[i];
        }
        return sum == s->sum;
}

static struct bd_agent_beacon *beacon;

static int setup(void **state)
{
        (void)state;
        set_state(&live, 0);
        if (bd_agent_init("unit-test") || bd_region(&live, sizeof(live), "state"))
                return -1;
        beacon = (struct bd_agent_beacon *)(uintptr_t)find_beacon(getpid(), "unit-test");
        return beacon ? 0 : -1;
}

/* Whether the page at addr is in pid's page table (/proc/PID/pagemap's
 * bit 63): what a reader through the page tables needs. */
static int present(pid_t pid, uint64_t addr)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        uint64_t e = 0;
        assert_int_equal(fseek(f, (long)(addr / 4096 * 8), SEEK_SET), 0);
        assert_int_equal(fread(&e, 8, 1, f), 1);
        fclose(f);
        return (int)(e >> 63);
}

static void test_beacon(void **state)
{
        (void)state;
        /* Its thread table's far end too, which no thread has written. */
        for (uint64_t at = 0; at < sizeof(*beacon); at += 4096)
                assert_true(present(getpid(), (uintptr_t)beacon + at));
        assert_int_equal(beacon->magic, BD_AGENT_MAGIC);
        assert_int_equal(beacon->version, BD_AGENT_VERSION);
        assert_int_equal(beacon->size, sizeof(*beacon));
        assert_string_equal(beacon->name, "unit-test");
        assert_int_equal(beacon->pid, getpid());
        assert_int_equal(beacon->nregions, 1);
        assert_string_equal(beacon->region[0].name, "state");
        assert_int_equal(beacon->region[0].live, (uintptr_t)&live);
        assert_int_equal(beacon->region[0].len, sizeof(live));
        assert_int_equal(beacon->committed, 0);
        assert_int_equal(bd_agent_init("again"), -EALREADY);
        /* What the library refuses: names, sizes, and the 17th region. */
        static uint8_t small[16][8];
        assert_int_equal(bd_region(small[0], 0, "empty"), -EINVAL);
        assert_int_equal(bd_region(small[0], BD_AGENT_REGION_MAX + 1, "huge"), -EINVAL);
        assert_int_equal(bd_region(small[0], 8, "a/b"), -EINVAL);
        assert_int_equal(bd_region(small[0], 8, ""), -EINVAL);
        assert_int_equal(bd_region(NULL, 8, "null"), -EINVAL);
        for (int i = 1; i < BD_AGENT_MAX_REGIONS; i++) {
                char name[16];
                snprintf(name, sizeof(name), "r%d", i);
                assert_int_equal(bd_region(small[i], 8, name), 0);
        }
        assert_int_equal(bd_region(small[0], 8, "one-more"), -ENOSPC);
}

/* A request's changes are committed at its end, into the other slot. */
static void test_commit_at_request_end(void **state)
{
        (void)state;
        uint64_t c0 = beacon->committed, n0 = bd_agent_commits();
        const struct state *slot[2] = {(void *)(uintptr_t)beacon->region[0].slot[0],
                                       (void *)(uintptr_t)beacon->region[0].slot[1]};
        bd_request_begin();
        assert_int_equal(beacon->in_request, 1);
        set_state(&live, 7);
        /* Mid-request: the committed copy is the state before it. */
        assert_int_equal(slot[beacon->committed]->word[0], 0);
        bd_request_end();
        assert_int_equal(beacon->in_request, 0);
        assert_int_equal(bd_agent_commits(), n0 + 1);
        assert_int_equal(beacon->committed, !c0);
        assert_int_equal(beacon->generation[beacon->committed] % 2, 0);
        assert_true(whole(slot[beacon->committed]));
        assert_int_equal(slot[beacon->committed]->word[0], 7);
        assert_int_equal(slot[c0]->word[0], 0);
        assert_int_equal(bd_request_rolled_back(), 0);
}

/* The reader's side of the protocol (agent_beacon.h): 1 and the copy in
 * out when it is whole, 0 when it was torn. */
static int read_committed(const struct bd_agent_beacon *b, struct state *out)
{
        uint64_t c = __atomic_load_n(&b->committed, __ATOMIC_ACQUIRE);
        uint64_t g = __atomic_load_n(&b->generation[c], __ATOMIC_ACQUIRE);
        memcpy(out, (const void *)(uintptr_t)b->region[0].slot[c], sizeof(*out));
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return !(g & 1) && __atomic_load_n(&b->generation[c], __ATOMIC_ACQUIRE) == g;
}

static volatile int writing;

static void *writer(void *arg)
{
        (void)arg;
        /* On from the state the tests before left. */
        for (uint64_t v = live.word[0] + 1; writing; v++) {
                bd_request_begin();
                set_state(&live, v);
                bd_request_end();
        }
        return NULL;
}

/* A thread committing back to back, until stop_writer(). */
static pthread_t start_writer(void)
{
        writing = 1;
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, writer, NULL), 0);
        return t;
}

static void stop_writer(pthread_t t)
{
        writing = 0;
        pthread_join(t, NULL);
}

static void test_reader_races_writer(void **state)
{
        (void)state;
        pthread_t t = start_writer();
        static struct state copy;
        unsigned good = 0, torn = 0, changes = 0;
        uint64_t n0 = bd_agent_commits(), last = 0;
        /* Until the writer has committed many times under the reader. */
        while (bd_agent_commits() < n0 + 20000 || changes < 100) {
                if (!read_committed(beacon, &copy)) {
                        torn++;
                        continue;
                }
                /* A copy the protocol calls whole is one commit's state. */
                assert_true(whole(&copy));
                changes += copy.word[0] != last;
                last = copy.word[0];
                good++;
        }
        stop_writer(t);
        print_message("reader: %u whole copies (%u different), %u torn ones told apart, %llu "
                      "commits\n",
                      good, changes, torn, (unsigned long long)(bd_agent_commits() - n0));
}

/* A process stopped at any instruction (as a kernel's death stops it),
 * read from outside: the committed slot holds one whole commit. */
static void test_stopped_anywhere(void **state)
{
        (void)state;
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t child = fork();
        assert_true(child >= 0);
        if (!child) {
                close(fds[0]);
                for (uint64_t v = 1;; v++) {
                        bd_request_begin();
                        set_state(&live, v);
                        bd_request_end();
                        if (v == 1000 && write(fds[1], "x", 1) != 1)
                                _exit(1);
                }
        }
        close(fds[1]);
        char c;
        assert_int_equal(read(fds[0], &c, 1), 1);
        close(fds[0]);
        static struct bd_agent_beacon b;
        static struct state copy;
        unsigned stops = 0;
        uint64_t last = 0;
        for (; stops < 300; stops++) {
                usleep(200 + (unsigned)(stops * 37 % 500));
                assert_int_equal(kill(child, SIGSTOP), 0);
                int st;
                assert_int_equal(waitpid(child, &st, WUNTRACED), child);
                /* The beacon is at the same address in the child. */
                struct iovec local = {&b, sizeof(b)}, remote = {(void *)beacon, sizeof(b)};
                assert_int_equal(process_vm_readv(child, &local, 1, &remote, 1, 0),
                                 (ssize_t)sizeof(b));
                /* Its own beacon (fork gave it one), at the same address,
                 * every page of it mapped. */
                assert_int_equal(b.pid, child);
                assert_true(present(child, (uintptr_t)beacon + 4096));
                uint64_t k = b.committed;
                assert_true(k <= 1);
                assert_int_equal(b.generation[k] % 2, 0);
                local = (struct iovec){&copy, sizeof(copy)};
                remote = (struct iovec){(void *)(uintptr_t)b.region[0].slot[k], sizeof(copy)};
                assert_int_equal(process_vm_readv(child, &local, 1, &remote, 1, 0),
                                 (ssize_t)sizeof(copy));
                assert_true(whole(&copy));
                assert_true(copy.word[0] >= last);
                last = copy.word[0];
                assert_int_equal(kill(child, SIGCONT), 0);
        }
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        /* And the parent's beacon was never the child's to write. */
        assert_int_equal(beacon->pid, getpid());
        assert_int_equal(beacon->in_request, 0);
        print_message("stopped %u times: each time one whole commit (the last %llu)\n", stops,
                      (unsigned long long)last);
}

/* The pinned reader (agent_beacon.h), slow on purpose: a copy that takes
 * long enough for the writer to come back to its slot many times over.
 * 1 and the copy in out when it is whole, 0 when the pin was taken or the
 * slot was being written as it was pinned. */
static int read_pinned(struct bd_agent_beacon *b, uint64_t token, struct state *out)
{
        uint64_t c = __atomic_load_n(&b->committed, __ATOMIC_SEQ_CST), none = 0;
        uint64_t pin = (token & ~3ull) | (c + 1);
        if (!__atomic_compare_exchange_n(&b->pin, &none, pin, 0, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST))
                return 0;
        uint64_t g = __atomic_load_n(&b->generation[c], __ATOMIC_SEQ_CST);
        const uint8_t *from = (const void *)(uintptr_t)b->region[0].slot[c];
        for (size_t at = 0; at < sizeof(*out); at += 1024) {
                memcpy((uint8_t *)out + at, from + at,
                       sizeof(*out) - at < 1024 ? sizeof(*out) - at : 1024);
                usleep(20);
        }
        uint64_t g2 = __atomic_load_n(&b->generation[c], __ATOMIC_SEQ_CST);
        assert_true(
            __atomic_compare_exchange_n(&b->pin, &pin, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
        return !(g & 1) && g2 == g;
}

/* A reader slower than the writer's commits gets whole copies by pinning
 * its slot, while commits go on in the other one (one) or are skipped. */
static void test_reader_pin(void **state)
{
        (void)state;
        pthread_t t = start_writer();
        static struct state copy;
        unsigned good = 0, tries = 0;
        uint64_t skips0 = beacon->pin_skips, n0 = bd_agent_commits(), last = 0;
        for (; tries < 200; tries++) {
                if (!read_pinned(beacon, 0x5eed00 + tries * 4, &copy))
                        continue;
                assert_true(whole(&copy));
                assert_true(copy.word[0] >= last);
                last = copy.word[0];
                good++;
        }
        stop_writer(t);
        print_message("pinned reader: %u whole of %u slow copies; the writer committed %llu times "
                      "and skipped %llu commits for the pin\n",
                      good, tries, (unsigned long long)(bd_agent_commits() - n0),
                      (unsigned long long)(beacon->pin_skips - skips0));
        assert_true(good > 0);
        assert_true(beacon->pin_skips > skips0);
        assert_int_equal(beacon->pin, 0);
}

/* A pin its reader never takes back holds commits off for the lease, no
 * longer: then the library takes it away and commits. */
static void test_pin_lease(void **state)
{
        (void)state;
        uint64_t w = !beacon->committed;
        beacon->pin = 0xdead00 | (w + 1);
        uint64_t n0 = bd_agent_commits(), skips0 = beacon->pin_skips;
        bd_request_begin();
        set_state(&live, 99);
        bd_request_end();
        assert_int_equal(bd_agent_commits(), n0);
        assert_int_equal(beacon->pin_skips, skips0 + 1);
        assert_int_equal(beacon->generation[w] % 2, 0);
        usleep((BD_AGENT_PIN_LEASE_MS + 100) * 1000);
        bd_request_begin();
        bd_request_end();
        assert_int_equal(bd_agent_commits(), n0 + 1);
        assert_int_equal(beacon->pin, 0);
        const struct state *slot = (void *)(uintptr_t)beacon->region[0].slot[beacon->committed];
        assert_int_equal(slot->word[0], 99);
}

static int recovered_runs;
static uint64_t recovered_rolled_back;

static void on_resurrect(const struct bd_resurrection *what)
{
        recovered_runs++;
        recovered_rolled_back = what->rolled_back;
}

/* What an image writer does to a resurrected process (resurrected set,
 * its signal queued to a thread that was inside a request): the thread
 * goes back to its bd_request_begin(), told, and the recovery procedure
 * runs once. */
static void test_recovery_point(void **state)
{
        (void)state;
        bd_on_resurrect(on_resurrect);
        volatile int passes = 0;
        bd_request_begin();
        passes++;
        if (passes == 1) {
                assert_int_equal(bd_request_rolled_back(), 0);
                set_state(&live, 12345); /* half-applied, then the death */
                beacon->rolled_back = 1;
                __atomic_store_n(&beacon->resurrected, 1, __ATOMIC_RELEASE);
                raise(beacon->signal);
                fail_msg("the signal did not take the thread back to its request");
        }
        assert_int_equal(passes, 2);
        assert_int_equal(bd_request_rolled_back(), 1);
        assert_int_equal(recovered_runs, 1);
        assert_int_equal(recovered_rolled_back, 1);
        assert_int_equal(beacon->in_request, 1);
        bd_request_end();
        assert_int_equal(bd_request_rolled_back(), 0);
        assert_int_equal(beacon->in_request, 0);
        /* Once: the next request runs no recovery. */
        bd_request_begin();
        bd_request_end();
        assert_int_equal(recovered_runs, 1);
        /* The signal outside a request does nothing. */
        raise(beacon->signal);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_beacon),
            cmocka_unit_test(test_commit_at_request_end),
            cmocka_unit_test(test_reader_races_writer),
            cmocka_unit_test(test_stopped_anywhere),
            cmocka_unit_test(test_reader_pin),
            cmocka_unit_test(test_pin_lease),
            cmocka_unit_test(test_recovery_point),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
