/* bdhog: the lab's user-space resource hogs, run inside host2 by
 * `bdlab inject`. Each holds what it took for SECONDS, then lets go (and
 * its children with it), so the lab recovers by itself. SECONDS 0 makes a
 * persistent hog, for the repair tests: it never lets go, its members wake
 * every few milliseconds (and so act on a remote kill), and one of them
 * holds a small share asleep in pause(), which nothing wakes.
 *
 *   bdhog fork SECONDS         fork until the kernel refuses (a fork bomb
 *                              bounded by threads-max / pid_max); 0: every
 *                              member keeps trying to fork
 *   bdhog pids SECONDS         start processes until no pid is left; they
 *                              hold their pids and do nothing else
 *   bdhog files N SECONDS      open N files (several processes if the
 *                              per-process limit is lower; 0: 512 each)
 *   bdhog memory SECONDS       allocate and touch memory until the OOM
 *                              killer takes it; 0: until MemAvailable is
 *                              3% of MemTotal, below the OOM killer's
 *                              trigger, and hold it
 *   bdhog rtspin SECONDS [START]
 *                              spin as SCHED_FIFO 99 pinned to the last
 *                              cpu (run with RT throttling off), writing
 *                              "start" to the file START first, so that
 *                              the lab host can stamp when the spin began
 *   bdhog rtstarve SECONDS [START]
 *                              the same, beside a child of ordinary
 *                              priority bound to that cpu that wants it
 *                              every 10 ms: the spinner starves it at once
 *   bdhog rtpulse SECONDS      rtstarve's spinner and child, but the
 *                              spinner 50 ms at a time with 50 ms asleep
 *                              between: the child waits 50 ms at most, a
 *                              real-time task that starves nobody, which
 *                              is no fault
 *   bdhog canary FILE          count for ever, writing the count to FILE
 *                              (by rename) about every 2^16: a process that
 *                              needs no fork, file or memory to live on
 *   bdhog hold SECONDS         hold nothing: a process that only sleeps
 *                              (evilcomm runs it under a hostile name)
 */
#include <errno.h>
#include <sched.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int usage(void)
{
        fprintf(stderr, "usage: bdhog fork SECONDS | pids SECONDS | files N SECONDS | "
                        "memory SECONDS | rtspin SECONDS [START] | rtstarve SECONDS [START] | "
                        "rtpulse SECONDS | canary FILE | hold SECONDS\n");
        return 2;
}

/* Hold what this process has: for seconds, or (0) for ever, waking every
 * 250 ms so that a signal made pending by a remote write is acted on (not
 * more often: hundreds of holders would starve the lab's emulated CPUs). */
static void hold(unsigned seconds)
{
        if (seconds) {
                alarm(seconds);
                for (;;)
                        pause();
        }
        for (;;)
                nanosleep(&(struct timespec){0, 250 * 1000 * 1000}, NULL);
}

/* The persistent hog's sleeper: holds what it has, and nothing wakes it. */
static void sleeper(void)
{
        for (;;)
                pause();
}

/* A member of a persistent fork bomb: fork whenever the kernel lets it,
 * trying again every 100 ms (300 members trying every 10 ms would starve
 * the lab's emulated CPUs of anything else to measure). */
static void bomb_member(void)
{
        for (;;)
                if (fork() < 0)
                        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
}

/* Fork until refused; bomb: the children fork too. */
static int fork_bomb(unsigned seconds, int bomb)
{
        /* One process group: the parent's alarm ends every child at once. */
        setpgid(0, 0);
        if (!seconds && fork() == 0)
                sleeper();
        if (!seconds && bomb)
                bomb_member();
        long n = 0;
        for (;;) {
                pid_t p = fork();
                if (p == 0)
                        hold(seconds ? seconds + 1 : 0);
                if (p < 0)
                        break;
                n++;
        }
        fprintf(stderr, "bdhog: %ld children, then fork failed: %s\n", n, strerror(errno));
        if (!seconds)
                hold(0);
        sleep(seconds);
        signal(SIGTERM, SIG_IGN);
        kill(0, SIGTERM);
        while (wait(NULL) > 0)
                ;
        return 0;
}

static int open_files(long want, unsigned seconds)
{
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        long per = seconds ? (long)rl.rlim_cur - 16 : 512;
        setpgid(0, 0);
        if (!seconds && fork() == 0) {
                for (int i = 0; i < 150; i++)
                        open("/proc/self/stat", O_RDONLY);
                sleeper();
        }
        while (want > 0) {
                long mine = want < per ? want : per;
                want -= mine;
                if (want > 0 && fork() != 0)
                        continue;
                long got = 0;
                for (; got < mine; got++)
                        if (open("/proc/self/stat", O_RDONLY) < 0)
                                break;
                if (got < mine)
                        fprintf(stderr, "bdhog: %ld files, then: %s\n", got, strerror(errno));
                hold(seconds);
        }
        hold(seconds);
        return 0;
}

/* A field of /proc/meminfo, in kB; -1 if unreadable. */
static long meminfo(const char *field)
{
        FILE *f = fopen("/proc/meminfo", "r");
        char line[128];
        long v = -1;
        size_t n = strlen(field);
        while (f && fgets(line, sizeof(line), f))
                if (!strncmp(line, field, n) && line[n] == ':')
                        v = atol(line + n + 1);
        if (f)
                fclose(f);
        return v;
}

static void *touch(size_t len)
{
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return NULL;
        for (size_t i = 0; i < len; i += 4096)
                p[i] = 1;
        return p;
}

/* Take memory until MemAvailable is 3% of MemTotal, a child asleep
 * holding 48 MiB of it, and keep it. Steps shrink near the end so as not
 * to overshoot into the OOM killer. */
static int memory_held(void)
{
        setpgid(0, 0);
        if (fork() == 0) {
                touch(48u << 20);
                sleeper();
        }
        sleep(1);
        long total = meminfo("MemTotal");
        for (;;) {
                long avail = meminfo("MemAvailable");
                if (total <= 0 || avail < 0 || avail <= total * 3 / 100)
                        break;
                long step = (avail - total * 3 / 100) / 4;
                if (step < 1024)
                        break;
                if (!touch((size_t)(step > 16384 ? 16384 : step) << 10))
                        break;
        }
        hold(0);
        return 0;
}

static int memory(unsigned seconds)
{
        if (!seconds)
                return memory_held();
        alarm(seconds);
        for (int round = 0; round < 1 << 20; round++)
                if (!touch(16u << 20))
                        sleep(1);
        return 0;
}

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* SCHED_FIFO 99 on the last cpu, spinning for seconds: pulse_ms at a time
 * with as long asleep between, or (0) without a pause. With a victim, a
 * child of ordinary priority bound to the same cpu wants it every 10 ms
 * (as a service's thread pinned there would), so the spinner starves
 * someone from its first moment rather than from whenever a per-cpu
 * kworker next wakes. */
static int rt_spin(const char *how, unsigned seconds, unsigned pulse_ms, int victim,
                   const char *start)
{
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)sysconf(_SC_NPROCESSORS_ONLN) - 1, &set);
        if (sched_setaffinity(0, sizeof(set), &set)) {
                fprintf(stderr, "bdhog: %s: %s\n", how, strerror(errno));
                return 1;
        }
        pid_t child = victim ? fork() : 0;
        if (child < 0) {
                fprintf(stderr, "bdhog: %s: fork: %s\n", how, strerror(errno));
                return 1;
        }
        if (victim && child == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (;;)
                        nanosleep(&(struct timespec){0, 10000000}, NULL);
        }
        struct sched_param sp = {.sched_priority = 99};
        int err = sched_setscheduler(0, SCHED_FIFO, &sp);
        if (err)
                fprintf(stderr, "bdhog: %s: %s\n", how, strerror(errno));
        int fd = err || !start ? -1 : open(start, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
                if (write(fd, "start\n", 6) != 6)
                        fprintf(stderr, "bdhog: %s: %s: %s\n", how, start, strerror(errno));
                close(fd);
        }
        uint64_t end = now_ms() + seconds * 1000ull;
        while (!err && now_ms() < end) {
                if (!pulse_ms)
                        continue;
                for (uint64_t until = now_ms() + pulse_ms; now_ms() < until;)
                        ;
                nanosleep(&(struct timespec){0, (long)pulse_ms * 1000000}, NULL);
        }
        if (child > 0) {
                kill(child, SIGKILL);
                waitpid(child, NULL, 0);
        }
        return err ? 1 : 0;
}

/* Run it from a copy under another name: a fault's teardown ends every
 * bdhog. */
static _Noreturn void canary(const char *path)
{
        char tmp[4096], text[32];
        snprintf(tmp, sizeof(tmp), "%s.t", path);
        for (unsigned long i = 1;; i++) {
                if (i % (1ul << 16))
                        continue;
                int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (fd < 0)
                        continue;
                int n = snprintf(text, sizeof(text), "%lu\n", i);
                if (write(fd, text, (size_t)n) == n)
                        rename(tmp, path);
                close(fd);
        }
}

int main(int argc, char **argv)
{
        if (argc == 3 && !strcmp(argv[1], "canary"))
                canary(argv[2]);
        if (argc == 3 && !strcmp(argv[1], "fork"))
                return fork_bomb((unsigned)atoi(argv[2]), 1);
        if (argc == 3 && !strcmp(argv[1], "pids"))
                return fork_bomb((unsigned)atoi(argv[2]), 0);
        if (argc == 4 && !strcmp(argv[1], "files"))
                return open_files(atol(argv[2]), (unsigned)atoi(argv[3]));
        if (argc == 3 && !strcmp(argv[1], "memory"))
                return memory((unsigned)atoi(argv[2]));
        if ((argc == 3 || argc == 4) && !strcmp(argv[1], "rtspin"))
                return rt_spin("rtspin", (unsigned)atoi(argv[2]), 0, 0, argv[3]);
        if ((argc == 3 || argc == 4) && !strcmp(argv[1], "rtstarve"))
                return rt_spin("rtstarve", (unsigned)atoi(argv[2]), 0, 1, argv[3]);
        if (argc == 3 && !strcmp(argv[1], "rtpulse"))
                return rt_spin("rtpulse", (unsigned)atoi(argv[2]), 50, 1, NULL);
        if (argc == 3 && !strcmp(argv[1], "hold")) {
                hold((unsigned)atoi(argv[2]));
                return 0;
        }
        return usage();
}
