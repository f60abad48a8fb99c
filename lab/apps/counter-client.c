/* counter-client: the lab's client of counterd, the one whose connection
 * must survive its server's resurrection. On one TCP connection it sends
 * "ID ADD 1" every interval, IDs from 1, one request outstanding at a
 * time; a request unanswered for the retry time is sent again on the same
 * connection (counterd answers a repeated ID from its table, never
 * applying it twice). Each answer must carry the outstanding ID and the
 * counter one above the last answer's: a request lost, or applied twice,
 * shows as a counter out of step.
 *
 * It prints a line per answer ("ID COUNTER GAP_MS", the time since the
 * request was first sent) and, on SIGTERM or after -t seconds, a summary:
 * "requests N answered N retries N max_gap_ms N first C last C".
 * Exit 0 when every answer was in step; 1 when one was not; 3 when the
 * connection failed (reset or closed); 2 on bad use. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
        (void)sig;
        stop = 1;
}

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct stats {
        uint64_t requests, answered, retries, first, last;
        double max_gap;
};

static void summary(const struct stats *s)
{
        printf("requests %" PRIu64 " answered %" PRIu64 " retries %" PRIu64
               " max_gap_ms %.0f first %" PRIu64 " last %" PRIu64 "\n",
               s->requests, s->answered, s->retries, s->max_gap, s->first, s->last);
        fflush(stdout);
}

static int send_line(int fd, uint64_t id)
{
        char line[64];
        int n = snprintf(line, sizeof(line), "%" PRIu64 " ADD 1\n", id);
        return write(fd, line, (size_t)n) == n ? 0 : -1;
}

int main(int argc, char **argv)
{
        int opt, interval = 50, retry = 1000, seconds = 0;
        while ((opt = getopt(argc, argv, "i:r:t:h")) != -1) {
                if (opt == 'i')
                        interval = atoi(optarg);
                else if (opt == 'r')
                        retry = atoi(optarg);
                else if (opt == 't')
                        seconds = atoi(optarg);
                else
                        goto usage;
        }
        if (argc - optind != 2 || interval < 1 || retry < 1 || seconds < 0)
                goto usage;
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)atoi(argv[optind + 1]))};
        if (inet_pton(AF_INET, argv[optind], &a.sin_addr) != 1)
                goto usage;
        signal(SIGTERM, on_term);
        signal(SIGINT, on_term);
        signal(SIGPIPE, SIG_IGN);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
                fprintf(stderr, "counter-client: connect %s:%s: %s\n", argv[optind],
                        argv[optind + 1], strerror(errno));
                return 3;
        }
        struct stats s = {0};
        uint64_t id = 1;
        double sent = now_ms(), last_try = sent, end = sent + seconds * 1e3;
        char buf[256];
        size_t len = 0;
        if (send_line(fd, id))
                goto broken;
        s.requests = 1;
        while (!stop && (!seconds || now_ms() < end)) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                int r = poll(&p, 1, 10);
                if (r < 0 && errno != EINTR)
                        goto broken;
                if (r > 0) {
                        ssize_t got = read(fd, buf + len, sizeof(buf) - 1 - len);
                        if (!got)
                                errno = 0;
                        if (got <= 0)
                                goto broken;
                        len += (size_t)got;
                }
                char *nl;
                while ((nl = memchr(buf, '\n', len))) {
                        *nl = 0;
                        uint64_t aid, counter;
                        if (sscanf(buf, "%" SCNu64 " %" SCNu64, &aid, &counter) != 2) {
                                fprintf(stderr, "counter-client: answer '%.40s'\n", buf);
                                summary(&s);
                                return 1;
                        }
                        memmove(buf, nl + 1, len - (size_t)(nl + 1 - buf));
                        len -= (size_t)(nl + 1 - buf);
                        if (aid != id)
                                continue; /* a retried request's second answer */
                        if (s.answered && counter != s.last + 1) {
                                fprintf(stderr,
                                        "counter-client: request %" PRIu64 " answered %" PRIu64
                                        " after %" PRIu64 ": out of step\n",
                                        aid, counter, s.last);
                                summary(&s);
                                return 1;
                        }
                        double gap = now_ms() - sent;
                        s.max_gap = gap > s.max_gap ? gap : s.max_gap;
                        if (!s.answered)
                                s.first = counter;
                        s.last = counter;
                        s.answered++;
                        printf("%" PRIu64 " %" PRIu64 " %.0f\n", aid, counter, gap);
                        fflush(stdout);
                        /* The next request, an interval after this one. */
                        double next = sent + interval;
                        while (now_ms() < next && !stop)
                                usleep(1000);
                        id++;
                        sent = last_try = now_ms();
                        if (send_line(fd, id))
                                goto broken;
                        s.requests++;
                }
                if (now_ms() - last_try >= retry) {
                        last_try = now_ms();
                        s.retries++;
                        if (send_line(fd, id))
                                goto broken;
                }
        }
        summary(&s);
        return 0;
broken:
        fprintf(stderr, "counter-client: connection lost: %s\n",
                errno ? strerror(errno) : "closed by the server");
        summary(&s);
        return 3;
usage:
        fprintf(stderr, "usage: counter-client [-i INTERVAL_MS] [-r RETRY_MS] [-t SECONDS] "
                        "IPV4 PORT\n");
        return 2;
}
