/* agentd: a lab service that keeps its state with libbdagent, for the
 * tests of bdmon agent: a counter and a table, changed by a request every
 * few milliseconds, with a checksum the service writes into its state so
 * that a copy read from outside can be checked.
 *
 *   agentd [-n NAME] [-i MS] [-s KIB] [-w USEC] [-t SECONDS [-S SECONDS]] [-N]
 *                                NAME: the beacon's (default agentd); a
 *                                request every MS (0: back to back); -s: a
 *                                second region of KIB KiB, 8 bytes of it
 *                                written per request; -w: USEC of work per
 *                                request besides; -t: stop after SECONDS
 *                                and print the requests made and the
 *                                counter, -S: those of its last part only,
 *                                after SECONDS (BDAGENT_RESTORE: started from a
 *                                checkpoint, it goes on from there); -N: without
 *                                the library (its overhead, for bench/)
 *   agentd -c FILE               check a copy of the state read from outside
 *                                (bdmon checkpoints -o): "whole N" (N
 *                                requests applied) and exit 0, or "torn"
 *                                and exit 1
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../host-agent/bdagent.h"

/* After n requests: counter n, the table's entries summing to n(n+1)/2,
 * sum n(n+1). A copy taken in the middle of a request breaks one of them. */
struct state {
        uint64_t counter;
        uint64_t table[64];
        uint64_t sum;
};
static struct state st;

static int check(const char *path)
{
        struct state s;
        FILE *f = fopen(path, "rb");
        size_t n = f ? fread(&s, 1, sizeof(s) + 1, f) : 0;
        if (f)
                fclose(f);
        if (n != sizeof(s)) {
                fprintf(stderr, "agentd: %s: not a copy of the state\n", path);
                return 2;
        }
        uint64_t table = 0;
        for (int i = 0; i < 64; i++)
                table += s.table[i];
        if (s.sum != s.counter * (s.counter + 1) || 2 * table != s.sum) {
                printf("torn\n");
                return 1;
        }
        printf("whole %llu\n", (unsigned long long)s.counter);
        return 0;
}

static uint8_t *blob; /* -s: a larger region, 8 bytes of it written per request */
static size_t blob_len;

static uint64_t now_ns(void);
static uint64_t work_ns; /* -w: what a request costs besides its state */

static void apply(void)
{
        if (work_ns)
                for (uint64_t until = now_ns() + work_ns; now_ns() < until;)
                        ;
        st.counter++;
        st.table[st.counter % 64] += st.counter;
        st.sum += st.counter + st.counter;
        if (blob_len)
                memcpy(blob + (st.counter * 64) % blob_len, &st.counter, 8);
}

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
        const char *name = "agentd";
        long ms = 5, seconds = 0, kib = 0, skip = 0;
        int c, lib = 1;
        while ((c = getopt(argc, argv, "n:i:c:t:s:w:S:N")) != -1) {
                if (c == 'c')
                        return check(optarg);
                else if (c == 'n')
                        name = optarg;
                else if (c == 'i')
                        ms = atol(optarg);
                else if (c == 't')
                        seconds = atol(optarg);
                else if (c == 's')
                        kib = atol(optarg);
                else if (c == 'w')
                        work_ns = (uint64_t)atol(optarg) * 1000u;
                else if (c == 'S')
                        skip = atol(optarg);
                else if (c == 'N')
                        lib = 0;
                else {
                        fprintf(stderr,
                                "usage: agentd [-n NAME] [-i MS] [-s KIB] [-w USEC] [-t SECONDS]"
                                " [-N] | agentd -c FILE\n");
                        return 2;
                }
        }
        if (kib > 0 && kib <= 16384) {
                blob_len = (size_t)kib << 10;
                if (!(blob = calloc(1, blob_len)))
                        return 1;
        }
        int rc = 0;
        if (lib) {
                rc = bd_agent_init(name);
                if (!rc)
                        rc = bd_region(&st, sizeof(st), "state");
                if (!rc && blob_len)
                        rc = bd_region(blob, blob_len, "blob");
        }
        if (rc) {
                fprintf(stderr, "agentd: libbdagent: %s\n", strerror(-rc));
                return 1;
        }
        struct timespec pause = {ms / 1000, (ms % 1000) * 1000000};
        uint64_t start = now_ns(), n = 0, counted = 0, from = start + (uint64_t)skip * 1000000000u;
        for (;;) {
                if (lib) {
                        bd_request_begin();
                        apply();
                        bd_request_end();
                } else {
                        apply();
                }
                n++;
                if (!counted && skip && !(n & 63) && now_ns() >= from) {
                        counted = n;
                        from = now_ns();
                }
                if (ms)
                        nanosleep(&pause, NULL);
                if (seconds && !(n & 63) && now_ns() - start >= (uint64_t)seconds * 1000000000u)
                        break;
        }
        if (!skip)
                from = start;
        printf("%llu requests in %.3f s, counter %llu\n", (unsigned long long)(n - counted),
               (double)(now_ns() - from) / 1e9, (unsigned long long)st.counter);
        return 0;
}
