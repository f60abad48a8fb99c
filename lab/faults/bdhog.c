/* bdhog: the lab's user-space resource hogs, run inside host2 by
 * `bdlab inject`. Each holds what it took for SECONDS, then lets go (and
 * its children with it), so the lab recovers by itself.
 *
 *   bdhog fork SECONDS         fork until the kernel refuses (a fork bomb
 *                              bounded by threads-max / pid_max)
 *   bdhog files N SECONDS      open N files (several processes if the
 *                              per-process limit is lower)
 *   bdhog memory SECONDS       allocate and touch memory until the OOM
 *                              killer takes it
 *   bdhog rtspin SECONDS       spin as SCHED_FIFO 99 pinned to the last
 *                              cpu (run with RT throttling off)
 */
#include <errno.h>
#include <sched.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int usage(void)
{
        fprintf(stderr, "usage: bdhog fork SECONDS | files N SECONDS | memory SECONDS | "
                        "rtspin SECONDS\n");
        return 2;
}

static void hold(unsigned seconds)
{
        alarm(seconds);
        for (;;)
                pause();
}

static int fork_bomb(unsigned seconds)
{
        /* One process group: the parent's alarm ends every child at once. */
        setpgid(0, 0);
        long n = 0;
        for (;;) {
                pid_t p = fork();
                if (p == 0)
                        hold(seconds + 1);
                if (p < 0)
                        break;
                n++;
        }
        fprintf(stderr, "bdhog: %ld children, then fork failed: %s\n", n, strerror(errno));
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
        long per = (long)rl.rlim_cur - 16;
        setpgid(0, 0);
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

static int memory(unsigned seconds)
{
        alarm(seconds);
        for (int round = 0; round < 1 << 20; round++) {
                size_t len = 16u << 20;
                char *p =
                    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (p == MAP_FAILED) {
                        sleep(1);
                        continue;
                }
                for (size_t i = 0; i < len; i += 4096)
                        p[i] = 1;
        }
        return 0;
}

static int rt_spin(unsigned seconds)
{
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)sysconf(_SC_NPROCESSORS_ONLN) - 1, &set);
        struct sched_param sp = {.sched_priority = 99};
        if (sched_setaffinity(0, sizeof(set), &set) || sched_setscheduler(0, SCHED_FIFO, &sp)) {
                fprintf(stderr, "bdhog: rtspin: %s\n", strerror(errno));
                return 1;
        }
        time_t end = time(NULL) + seconds;
        while (time(NULL) < end)
                ;
        return 0;
}

int main(int argc, char **argv)
{
        if (argc == 3 && !strcmp(argv[1], "fork"))
                return fork_bomb((unsigned)atoi(argv[2]));
        if (argc == 4 && !strcmp(argv[1], "files"))
                return open_files(atol(argv[2]), (unsigned)atoi(argv[3]));
        if (argc == 3 && !strcmp(argv[1], "memory"))
                return memory((unsigned)atoi(argv[2]));
        if (argc == 3 && !strcmp(argv[1], "rtspin"))
                return rt_spin((unsigned)atoi(argv[2]));
        return usage();
}
