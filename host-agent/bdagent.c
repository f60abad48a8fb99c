/* libbdagent: see bdagent.h; the beacon's format and the commit protocol
 * a reader relies on are in common/agent_beacon.h. */
#include "bdagent.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/agent_beacon.h"

static struct bd_agent_beacon *beacon;
static void (*recovery)(const struct bd_resurrection *);
/* 1 while a thread commits or registers a region: requests wait. */
static int busy;
/* beacon->resurrected when the recovery procedure last ran. */
static uint64_t recovered_for;
/* The pin last honoured, and since when (ms): its lease. With busy held. */
static uint64_t pin_seen, pin_since;

static __thread sigjmp_buf point;
static __thread struct bd_agent_thread *me;
static __thread int rolled;
/* A thread beyond the beacon's table is counted, not published. */
static __thread struct bd_agent_thread unlisted;

#define PAGE 4096u

static size_t page_round(size_t n)
{
        return (n + PAGE - 1) & ~(size_t)(PAGE - 1);
}

static void lock(void)
{
        int free_ = 0;
        while (
            !__atomic_compare_exchange_n(&busy, &free_, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
                free_ = 0;
                __builtin_ia32_pause();
        }
}

static void unlock(void)
{
        __atomic_store_n(&busy, 0, __ATOMIC_SEQ_CST);
}

/* The resurrected process: a thread that was inside a request goes back
 * to where it began it. Any other delivery of the signal is ignored. */
static void on_signal(int sig, siginfo_t *si, void *uc)
{
        (void)sig, (void)si, (void)uc;
        if (beacon && __atomic_load_n(&beacon->resurrected, __ATOMIC_ACQUIRE) && me && me->inside)
                siglongjmp(point, 1);
}

/* Every page of the beacon mapped in: a reader from outside translates
 * it through the process's page tables, where a page never touched has no
 * entry (the thread table's far end, or a forked child's copy). */
static void touch(volatile uint8_t *m, size_t size)
{
        for (size_t at = 0; at < size; at += PAGE)
                m[at] = m[at];
}

/* A child of fork() would share its parent's beacon (a shared mapping),
 * and each would write the other's: the child gets a beacon of its own,
 * a copy at the same address, with only its one thread in it. */
static void after_fork(void)
{
        if (!beacon)
                return;
        static uint8_t copy[(sizeof(struct bd_agent_beacon) + PAGE - 1) & ~(size_t)(PAGE - 1)];
        size_t size = sizeof(copy);
        memcpy(copy, beacon, size);
        char memfd[sizeof(BD_AGENT_MEMFD_PREFIX) + BD_AGENT_NAME_MAX];
        strcpy(memfd, BD_AGENT_MEMFD_PREFIX);
        strcat(memfd, beacon->name);
        int fd = memfd_create(memfd, MFD_CLOEXEC);
        /* Without a beacon of its own the child publishes none: better than
         * writing its parent's. */
        if (fd < 0 || ftruncate(fd, (off_t)size) || pwrite(fd, copy, size, 0) != (ssize_t)size ||
            mmap(beacon, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
                MAP_FAILED) {
                munmap(beacon, size);
                beacon = NULL;
        } else {
                touch((volatile uint8_t *)beacon, size);
                beacon->pid = getpid();
                int inside = me && me->inside;
                for (uint32_t i = 0; i < beacon->nthreads && i < BD_AGENT_MAX_THREADS; i++)
                        if (&beacon->thread[i] != me)
                                beacon->thread[i].inside = 0;
                beacon->in_request = (uint64_t)inside;
                if (me && me != &unlisted)
                        me->tid = gettid();
        }
        if (fd >= 0)
                close(fd);
        /* The thread that held it is not in the child. */
        busy = 0;
}

int bd_agent_init(const char *name)
{
        if (!bd_agent_name_ok(name))
                return -EINVAL;
        if (beacon)
                return -EALREADY;
        char memfd[sizeof(BD_AGENT_MEMFD_PREFIX) + BD_AGENT_NAME_MAX];
        strcpy(memfd, BD_AGENT_MEMFD_PREFIX);
        strcat(memfd, name);
        int fd = memfd_create(memfd, MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t size = page_round(sizeof(struct bd_agent_beacon));
        void *m = MAP_FAILED;
        if (!ftruncate(fd, (off_t)size))
                m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        int err = errno;
        close(fd);
        if (m == MAP_FAILED)
                return -err;
        touch(m, size);
        struct bd_agent_beacon *b = m;
        b->version = BD_AGENT_VERSION;
        b->size = sizeof(*b);
        strcpy(b->name, name);
        b->pid = getpid();
        b->signal = SIGRTMAX - 2;
        b->committed = BD_AGENT_NONE;
        b->on_resurrect = (uint64_t)(uintptr_t)recovery;
        struct sigaction sa = {.sa_sigaction = on_signal, .sa_flags = SA_SIGINFO};
        sigemptyset(&sa.sa_mask);
        err = 0;
        if (sigaction(b->signal, &sa, NULL) || (err = pthread_atfork(NULL, NULL, after_fork))) {
                err = err ? err : errno;
                munmap(m, size);
                return -err;
        }
        /* The magic last: a reader never takes a beacon being filled in. */
        __atomic_store_n(&b->magic, BD_AGENT_MAGIC, __ATOMIC_RELEASE);
        beacon = b;
        return 0;
}

/* A checkpoint's copy of region name (bdmon checkpoints ... --to), when
 * BD_AGENT_RESTORE_ENV names a directory: its contents into ptr. 0 when
 * there is none to load or it was loaded, -EMSGSIZE when it is not len
 * bytes (another build of the program), -errno when it cannot be read. */
static int load_checkpoint(void *ptr, size_t len, const char *name)
{
        const char *dir = getenv(BD_AGENT_RESTORE_ENV);
        if (!dir || !*dir)
                return 0;
        char path[4096];
        int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (n < 0 || (size_t)n >= sizeof(path))
                return -ENAMETOOLONG;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        struct stat st;
        int rc = fstat(fd, &st) ? -errno : (size_t)st.st_size != len ? -EMSGSIZE : 0;
        /* Into a copy first: a short read must not leave ptr half-loaded. */
        uint8_t *copy = rc ? NULL : malloc(len);
        if (!rc && !copy)
                rc = -ENOMEM;
        for (size_t got = 0; !rc && got < len;) {
                ssize_t r = read(fd, copy + got, len - got);
                if (r < 0 && errno == EINTR)
                        continue;
                rc = r < 0 ? -errno : !r ? -EMSGSIZE : 0;
                got += r > 0 ? (size_t)r : 0;
        }
        if (!rc)
                memcpy(ptr, copy, len);
        free(copy);
        close(fd);
        return rc;
}

int bd_region(void *ptr, size_t len, const char *name)
{
        if (!beacon)
                return -ENOENT;
        if (!ptr || !len || len > BD_AGENT_REGION_MAX || !bd_agent_name_ok(name))
                return -EINVAL;
        size_t span = page_round(len);
        uint8_t *slots =
            mmap(NULL, 2 * span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (slots == MAP_FAILED)
                return -ENOMEM;
        lock();
        int rc = 0;
        if (__atomic_load_n(&beacon->in_request, __ATOMIC_SEQ_CST))
                rc = -EBUSY;
        else if (beacon->nregions == BD_AGENT_MAX_REGIONS)
                rc = -ENOSPC;
        else
                rc = load_checkpoint(ptr, len, name);
        if (rc) {
                unlock();
                munmap(slots, 2 * span);
                return rc;
        }
        /* Its state now is its committed state, in either slot. */
        memcpy(slots, ptr, len);
        memcpy(slots + span, ptr, len);
        struct bd_agent_region *r = &beacon->region[beacon->nregions];
        strcpy(r->name, name);
        r->live = (uint64_t)(uintptr_t)ptr;
        r->len = len;
        r->slot[0] = (uint64_t)(uintptr_t)slots;
        r->slot[1] = (uint64_t)(uintptr_t)(slots + span);
        /* committed before the count: a reader never sees a region
         * with nothing committed. */
        if (beacon->committed == BD_AGENT_NONE)
                __atomic_store_n(&beacon->committed, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&beacon->nregions, beacon->nregions + 1, __ATOMIC_RELEASE);
        unlock();
        return 0;
}

static uint64_t now_ms(void)
{
        struct timespec ts;
        /* Read only while a pin names the slot to write: the vDSO's, a
         * system call only where the clock source has none (the lab's
         * HPET). */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether a reader's pin holds slot w (agent_beacon.h), within its lease;
 * an expired one is taken away. */
static int pinned(struct bd_agent_beacon *b, uint64_t w)
{
        uint64_t pin = __atomic_load_n(&b->pin, __ATOMIC_SEQ_CST);
        if (BD_AGENT_PIN_SLOT(pin) != (int)w)
                return 0;
        uint64_t now = now_ms();
        if (pin != pin_seen) {
                pin_seen = pin, pin_since = now;
                return 1;
        }
        if (now - pin_since < BD_AGENT_PIN_LEASE_MS)
                return 1;
        __atomic_compare_exchange_n(&b->pin, &pin, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        pin_seen = 0;
        return 0;
}

/* The regions into the slot that is not committed, then that slot named
 * committed (agent_beacon.h); with busy held and no request in flight.
 * Skipped while a reader pins that slot. */
static void commit(void)
{
        struct bd_agent_beacon *b = beacon;
        if (b->committed == BD_AGENT_NONE)
                return;
        uint64_t w = !b->committed;
        /* A pin seen: skipped before the slot is touched, so that a
         * reader's copy is never made to look torn by the skip. */
        if (pinned(b, w)) {
                __atomic_store_n(&b->pin_skips, b->pin_skips + 1, __ATOMIC_RELEASE);
                return;
        }
        /* Odd while being written; odd already when a commit was cut off
         * by a fork in another thread. */
        uint64_t was = b->generation[w], gen = (was + 1) | 1;
        __atomic_store_n(&b->generation[w], gen, __ATOMIC_SEQ_CST);
        /* Marked first, the pin read again after: a reader whose pin came
         * meanwhile saw the slot odd, or this sees the pin. */
        if (BD_AGENT_PIN_SLOT(__atomic_load_n(&b->pin, __ATOMIC_SEQ_CST)) == (int)w) {
                __atomic_store_n(&b->generation[w], was, __ATOMIC_SEQ_CST);
                __atomic_store_n(&b->pin_skips, b->pin_skips + 1, __ATOMIC_RELEASE);
                return;
        }
        for (uint32_t i = 0; i < b->nregions; i++) {
                const struct bd_agent_region *r = &b->region[i];
                memcpy((void *)(uintptr_t)r->slot[w], (const void *)(uintptr_t)r->live,
                       (size_t)r->len);
        }
        __atomic_store_n(&b->generation[w], gen + 1, __ATOMIC_RELEASE);
        __atomic_store_n(&b->committed, w, __ATOMIC_RELEASE);
        __atomic_store_n(&b->commits, b->commits + 1, __ATOMIC_RELEASE);
}

/* The thread's entry in the beacon, made at its first request. */
static void enlist(void)
{
        uint32_t i = __atomic_fetch_add(&beacon->nthreads, 1, __ATOMIC_SEQ_CST);
        if (i >= BD_AGENT_MAX_THREADS) {
                __atomic_store_n(&beacon->nthreads, BD_AGENT_MAX_THREADS, __ATOMIC_SEQ_CST);
                me = &unlisted;
                return;
        }
        me = &beacon->thread[i];
        me->tid = gettid();
}

sigjmp_buf *bd_agent_point_(void)
{
        return &point;
}

void bd_agent_begin_(void)
{
        if (!beacon)
                return;
        if (!me)
                enlist();
        uint64_t res = __atomic_load_n(&beacon->resurrected, __ATOMIC_ACQUIRE);
        if (res && recovery && __atomic_exchange_n(&recovered_for, res, __ATOMIC_SEQ_CST) != res)
                recovery(&(struct bd_resurrection){.rolled_back = beacon->rolled_back,
                                                   .commits = beacon->commits});
        /* Into the request unless a commit runs; then wait for its end. */
        for (;;) {
                while (__atomic_load_n(&busy, __ATOMIC_SEQ_CST))
                        __builtin_ia32_pause();
                __atomic_fetch_add(&beacon->in_request, 1, __ATOMIC_SEQ_CST);
                if (!__atomic_load_n(&busy, __ATOMIC_SEQ_CST))
                        break;
                __atomic_fetch_sub(&beacon->in_request, 1, __ATOMIC_SEQ_CST);
        }
        me->inside = 1;
        me->requests++;
}

void bd_agent_recovered_(void)
{
        /* Back from the handler by siglongjmp, which left the signal
         * blocked; the request that died is no longer in flight. */
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, beacon->signal);
        pthread_sigmask(SIG_UNBLOCK, &s, NULL);
        me->inside = 0;
        __atomic_fetch_sub(&beacon->in_request, 1, __ATOMIC_SEQ_CST);
        rolled = 1;
}

void bd_request_end(void)
{
        if (!beacon || !me || !me->inside)
                return;
        me->inside = 0;
        rolled = 0;
        if (__atomic_sub_fetch(&beacon->in_request, 1, __ATOMIC_SEQ_CST))
                return;
        int free_ = 0;
        if (!__atomic_compare_exchange_n(&busy, &free_, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
                return;
        /* A request that began since is in flight: it commits at its end. */
        if (!__atomic_load_n(&beacon->in_request, __ATOMIC_SEQ_CST))
                commit();
        unlock();
}

int bd_request_rolled_back(void)
{
        return rolled;
}

void bd_on_resurrect(void (*fn)(const struct bd_resurrection *what))
{
        recovery = fn;
        if (beacon)
                beacon->on_resurrect = (uint64_t)(uintptr_t)fn;
}

uint64_t bd_agent_commits(void)
{
        return beacon ? __atomic_load_n(&beacon->commits, __ATOMIC_ACQUIRE) : 0;
}
