/* counterd: the lab's stateful TCP service, the process the resurrection
 * and core tests read out of host2. It keeps its state only in memory: a
 * running counter and a table of the last requests, which requests change.
 *
 * Protocol, one line each way: "ID ADD N\n" adds N to the counter and
 * answers "ID COUNTER\n". IDs increase per client; a request whose ID the
 * service has applied already (a client's retry) is answered again from
 * the table, never applied twice; one too old for the table is answered
 * "ID STALE\n". "ID GET\n" answers the counter without changing it.
 *
 * With -t N, N more threads wait on a condition variable, each with a
 * value of its own on its stack: a multi-threaded process whose threads
 * are all asleep, as a frozen or dead kernel leaves them. With no client
 * connected the main thread waits in accept(), with clients in poll().
 * With -b SIG (repeatable) every thread blocks SIG: a signal sent to the
 * process stays pending, as the resurrection tests want one. With -e an
 * epoll fd watches the listening socket (edge-triggered, its data a
 * marker), for the tests to find again after a restore. With -T a POSIX
 * timer is armed (ten minutes, SIGALRM): state the images refuse.
 *
 * With -L the service uses libbdagent (host-agent/bdagent.h): the counter,
 * the count and the table are its regions, and each ADD is a request
 * between commit points. With -P ID as well, the request ID pauses half
 * applied (the counter and the count changed, the table not yet), its
 * client's connection closed first: a service that dies there, brought
 * back by bdmon resurrect, must show the state before that request. A
 * request a resurrection rolled back is dropped, unanswered, and said on
 * stderr; the client's retry applies it. "ID STATS\n" answers "ID
 * counter=C applied=A resurrections=R rolled_back=B dropped=D\n": R the
 * runs of the recovery procedure (bd_on_resurrect), B what the last run
 * was told, D the last request dropped (0 for none). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../host-agent/bdagent.h"

#define MAX_CLIENTS 16
#define TABLE_SIZE  64
#define LINE_MAX_   128

/* The state a test reads back (gdb prints these by name). */
uint64_t counter;
uint64_t requests_applied;
struct applied {
        uint64_t id, counter;
} table[TABLE_SIZE];

/* -L and -P, and what the recovery procedure saw (not regions: they
 * say what happened to the regions). */
static int with_agent;
static uint64_t pause_id;
static uint64_t resurrections, rolled_back, dropped;

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;

struct client {
        int fd;
        size_t len;
        char line[LINE_MAX_];
};

static void *idle_worker(void *arg)
{
        volatile uint64_t worker_mark = 0xc0ffee00u + (uint64_t)(uintptr_t)arg;
        pthread_mutex_lock(&idle_lock);
        for (;;)
                pthread_cond_wait(&idle_cond, &idle_lock);
        return (void *)(uintptr_t)worker_mark;
}

static void on_resurrect(const struct bd_resurrection *what)
{
        resurrections++;
        rolled_back = what->rolled_back;
        fprintf(stderr, "counterd: resurrected at commit %" PRIu64 ", %" PRIu64 " rolled back\n",
                what->commits, what->rolled_back);
}

/* The answer to one request line from c, into out; "" for none. */
static void answer(struct client *c, const char *line, char *out, size_t cap)
{
        uint64_t id, n;
        char op[8];
        int k = sscanf(line, "%" SCNu64 " %7s %" SCNu64, &id, op, &n);
        if (k >= 2 && !strcmp(op, "GET")) {
                snprintf(out, cap, "%" PRIu64 " %" PRIu64 "\n", id, counter);
                return;
        }
        if (k >= 2 && !strcmp(op, "STATS")) {
                snprintf(out, cap,
                         "%" PRIu64 " counter=%" PRIu64 " applied=%" PRIu64
                         " resurrections=%" PRIu64 " rolled_back=%" PRIu64 " dropped=%" PRIu64 "\n",
                         id, counter, requests_applied, resurrections, rolled_back, dropped);
                return;
        }
        if (k != 3 || strcmp(op, "ADD")) {
                snprintf(out, cap, "0 ERROR\n");
                return;
        }
        struct applied *slot = &table[id % TABLE_SIZE];
        if (slot->id == id && id) {
                snprintf(out, cap, "%" PRIu64 " %" PRIu64 "\n", id, slot->counter);
                return;
        }
        if (id && slot->id > id) {
                snprintf(out, cap, "%" PRIu64 " STALE\n", id);
                return;
        }
        if (with_agent)
                bd_request_begin();
        if (with_agent && bd_request_rolled_back()) {
                dropped = id;
                bd_request_end();
                fprintf(stderr, "counterd: request %" PRIu64 " was rolled back: dropped\n", id);
                out[0] = 0;
                return;
        }
        counter += n;
        requests_applied++;
        if (id && id == pause_id) {
                pause_id = 0;
                close(c->fd);
                c->fd = -1;
                for (;;)
                        pause();
        }
        *slot = (struct applied){id, counter};
        if (with_agent)
                bd_request_end();
        snprintf(out, cap, "%" PRIu64 " %" PRIu64 "\n", id, counter);
}

/* Read what the client sent; answer each complete line. 0 on EOF or error. */
static int serve(struct client *c)
{
        ssize_t r = read(c->fd, c->line + c->len, sizeof(c->line) - 1 - c->len);
        if (r <= 0)
                return r < 0 && errno == EINTR;
        c->len += (size_t)r;
        c->line[c->len] = 0;
        char *nl;
        while ((nl = memchr(c->line, '\n', c->len))) {
                *nl = 0;
                char out[LINE_MAX_];
                answer(c, c->line, out, sizeof(out));
                if (c->fd < 0)
                        return 0;
                size_t left = strlen(out);
                for (char *p = out; left;) {
                        ssize_t w = write(c->fd, p, left);
                        if (w <= 0)
                                return 0;
                        p += w, left -= (size_t)w;
                }
                size_t used = (size_t)(nl + 1 - c->line);
                memmove(c->line, nl + 1, c->len - used);
                c->len -= used;
        }
        return c->len < sizeof(c->line) - 1;
}

int main(int argc, char **argv)
{
        int port = 7000, threads = 0, with_epoll = 0, with_timer = 0, opt;
        sigset_t blocked;
        sigemptyset(&blocked);
        while ((opt = getopt(argc, argv, "p:t:b:eTLP:h")) != -1) {
                if (opt == 'p')
                        port = atoi(optarg);
                else if (opt == 't')
                        threads = atoi(optarg);
                else if (opt == 'b' && sigaddset(&blocked, atoi(optarg)) == 0)
                        continue;
                else if (opt == 'e')
                        with_epoll = 1;
                else if (opt == 'T')
                        with_timer = 1;
                else if (opt == 'L')
                        with_agent = 1;
                else if (opt == 'P')
                        pause_id = strtoull(optarg, NULL, 10);
                else {
                        fprintf(stderr, "usage: counterd [-p PORT] [-t IDLE_THREADS] [-b "
                                        "SIGNAL]... [-e] [-T] [-L [-P ID]]\n");
                        return opt == 'h' ? 0 : 2;
                }
        }
        if (with_agent) {
                int err = bd_agent_init("counterd");
                if (!err)
                        err = bd_region(&counter, sizeof(counter), "counter");
                if (!err)
                        err = bd_region(&requests_applied, sizeof(requests_applied), "applied");
                if (!err)
                        err = bd_region(table, sizeof(table), "table");
                if (err) {
                        fprintf(stderr, "counterd: libbdagent: %s\n", strerror(-err));
                        return 1;
                }
                bd_on_resurrect(on_resurrect);
        }
        /* Before the threads start, so that they inherit the mask. */
        pthread_sigmask(SIG_BLOCK, &blocked, NULL);
        if (port <= 0 || port > 65535 || threads < 0 || threads > 64) {
                fprintf(stderr, "counterd: bad port or thread count\n");
                return 2;
        }
        for (int i = 0; i < threads; i++) {
                pthread_t t;
                if (pthread_create(&t, NULL, idle_worker, (void *)(uintptr_t)i)) {
                        fprintf(stderr, "counterd: cannot start thread %d\n", i);
                        return 1;
                }
        }
        int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 8)) {
                fprintf(stderr, "counterd: port %d: %s\n", port, strerror(errno));
                return 1;
        }
        timer_t timer;
        struct itimerspec ten_minutes = {.it_value = {.tv_sec = 600}};
        if (with_timer && (timer_create(CLOCK_MONOTONIC, NULL, &timer) ||
                           timer_settime(timer, 0, &ten_minutes, NULL))) {
                fprintf(stderr, "counterd: timer: %s\n", strerror(errno));
                return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 0xc0ffee};
        int ep = with_epoll ? epoll_create1(EPOLL_CLOEXEC) : -1;
        if (with_epoll && (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev))) {
                fprintf(stderr, "counterd: epoll: %s\n", strerror(errno));
                return 1;
        }
        struct client cl[MAX_CLIENTS];
        struct pollfd pfd[MAX_CLIENTS + 1];
        size_t n = 0;
        for (;;) {
                /* With no client, wait in accept(): a call the kernel
                 * restarts as it was when a checkpoint interrupts it. */
                if (!n) {
                        int fd = accept(ls, NULL, NULL);
                        if (fd >= 0)
                                cl[n++] = (struct client){.fd = fd};
                        else if (errno != EINTR)
                                return 1;
                        continue;
                }
                pfd[0] = (struct pollfd){.fd = ls, .events = POLLIN};
                for (size_t i = 0; i < n; i++)
                        pfd[i + 1] = (struct pollfd){.fd = cl[i].fd, .events = POLLIN};
                if (poll(pfd, n + 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return 1;
                }
                for (size_t i = n; i-- > 0;)
                        if (pfd[i + 1].revents && !serve(&cl[i])) {
                                close(cl[i].fd);
                                cl[i] = cl[--n];
                        }
                if (pfd[0].revents & POLLIN) {
                        int fd = accept(ls, NULL, NULL);
                        if (fd >= 0 && n < MAX_CLIENTS)
                                cl[n++] = (struct client){.fd = fd};
                        else if (fd >= 0)
                                close(fd);
                }
        }
}
