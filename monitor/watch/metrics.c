#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct bd_error *bd_metrics_listen(const char *hostport, int *fd, int *port)
{
        char host[64];
        const char *colon = strrchr(hostport, ':');
        if (!colon || (size_t)(colon - hostport) >= sizeof(host))
                return bd_error_new(BD_ERR_USAGE, "--metrics wants HOST:PORT, not '%s'", hostport);
        memcpy(host, hostport, (size_t)(colon - hostport));
        host[colon - hostport] = '\0';
        char *end;
        long p = strtol(colon + 1, &end, 10);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
        if (!strcmp(host, "localhost"))
                snprintf(host, sizeof(host), "127.0.0.1");
        if (*end || end == colon + 1 || p < 0 || p > 65535 ||
            inet_pton(AF_INET, host, &sa.sin_addr) != 1)
                return bd_error_new(BD_ERR_USAGE, "--metrics wants HOST:PORT, not '%s'", hostport);
        int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        if (s < 0)
                return bd_error_new(BD_ERR_IO, "--metrics: socket: %s", strerror(errno));
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        socklen_t len = sizeof(sa);
        if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 16) ||
            getsockname(s, (struct sockaddr *)&sa, &len)) {
                int e = errno;
                close(s);
                return bd_error_new(BD_ERR_IO, "--metrics %s: %s", hostport, strerror(e));
        }
        *fd = s;
        *port = ntohs(sa.sin_port);
        return NULL;
}

static void label(FILE *f, const char *name)
{
        /* Target names come from the config: escape what the format needs. */
        fputs("target=\"", f);
        for (; *name; name++) {
                if (*name == '"' || *name == '\\')
                        fputc('\\', f);
                if (*name == '\n')
                        fputs("\\n", f);
                else
                        fputc(*name, f);
        }
        fputc('"', f);
}

/* A per-target counter: the uint64_t at offset `at` of each watcher. */
static void counter(FILE *f, const struct bd_watcher_summary *w, size_t n, const char *name,
                    const char *help, size_t at)
{
        fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
        for (size_t i = 0; i < n; i++) {
                uint64_t v;
                memcpy(&v, (const char *)&w[i] + at, sizeof(v));
                fprintf(f, "%s{", name);
                label(f, w[i].name);
                fprintf(f, "} %" PRIu64 "\n", v);
        }
}

/* One histogram's series: its cumulative buckets (counts[nbounds] is
 * +Inf), sum and count, labelled with target, or with nothing if NULL. */
static void histogram(FILE *f, const char *name, const char *target, const uint64_t *counts,
                      const double *bounds, unsigned nbounds, double sum)
{
        uint64_t cum = 0;
        for (unsigned b = 0; b <= nbounds; b++) {
                cum += counts[b];
                fprintf(f, "%s_bucket{", name);
                if (target) {
                        label(f, target);
                        fputc(',', f);
                }
                if (b < nbounds)
                        fprintf(f, "le=\"%g\"} %" PRIu64 "\n", bounds[b], cum);
                else
                        fprintf(f, "le=\"+Inf\"} %" PRIu64 "\n", cum);
        }
        const char *what[] = {"sum", "count"};
        for (int k = 0; k < 2; k++) {
                fprintf(f, "%s_%s", name, what[k]);
                if (target) {
                        fputc('{', f);
                        label(f, target);
                        fputc('}', f);
                }
                if (k == 0)
                        fprintf(f, " %.9f\n", sum);
                else
                        fprintf(f, " %" PRIu64 "\n", cum);
        }
}

void bd_metrics_write(FILE *f, const struct bd_watcher_summary *w, size_t n)
{
        fputs("# HELP bdmon_target_state 1 for the state each target is in.\n"
              "# TYPE bdmon_target_state gauge\n",
              f);
        for (size_t i = 0; i < n; i++)
                for (int s = BD_STATE_UNKNOWN; s <= BD_STATE_LAST; s++) {
                        fputs("bdmon_target_state{", f);
                        label(f, w[i].name);
                        fprintf(f, ",state=\"%s\"} %d\n", bd_state_name(s), (int)w[i].state == s);
                }
        counter(f, w, n, "bdmon_probes_total", "Probes answered.",
                offsetof(struct bd_watcher_summary, probes));
        counter(f, w, n, "bdmon_probe_errors_total", "Probes or connections that failed.",
                offsetof(struct bd_watcher_summary, probe_errors));
        fputs("# HELP bdmon_probe_rtt_seconds Probe round-trip time.\n"
              "# TYPE bdmon_probe_rtt_seconds histogram\n",
              f);
        for (size_t i = 0; i < n; i++)
                histogram(f, "bdmon_probe_rtt_seconds", w[i].name, w[i].rtt_count,
                          bd_watch_rtt_bounds, BD_WATCH_RTT_BUCKETS, w[i].rtt_sum_s);
        /* One histogram for the monitor, not a series per target: it
         * tells whether this monitor keeps up. */
        fputs("# HELP bdmon_probe_lateness_seconds How far behind its schedule each probe "
              "started, all targets.\n"
              "# TYPE bdmon_probe_lateness_seconds histogram\n",
              f);
        uint64_t late[BD_WATCH_LATE_BUCKETS + 1] = {0};
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
                for (int b = 0; b <= BD_WATCH_LATE_BUCKETS; b++)
                        late[b] += w[i].late_count[b];
                sum += w[i].late_sum_s;
        }
        histogram(f, "bdmon_probe_lateness_seconds", NULL, late, bd_watch_late_bounds,
                  BD_WATCH_LATE_BUCKETS, sum);
}

/* How long a scrape's client may take no bytes before it is dropped: the
 * serving thread answers one scrape at a time. */
#define SEND_STALL_MS 200

/* 1 if all len bytes went; a write that times out or fails ends it. */
static int send_all(int c, const char *p, size_t len)
{
        while (len) {
                ssize_t w = send(c, p, len, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return 0;
                p += w;
                len -= (size_t)w;
        }
        return 1;
}

/* One scrape: the request is read (briefly) and ignored, whatever its path. */
static void answer(int c, const struct bd_watcher_summary *w, size_t n)
{
        char req[2048];
        struct pollfd pfd = {.fd = c, .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0)
                (void)!read(c, req, sizeof(req));
        char *body = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&body, &len);
        if (!f)
                return;
        bd_metrics_write(f, w, n);
        if (fclose(f))
                return;
        char head[160];
        int hl = snprintf(head, sizeof(head),
                          "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                          len);
        /* A few kilobytes a target, megabytes for a thousand: a write may
         * take only part, so each goes on where the last stopped, until
         * the client has all or has stalled for SEND_STALL_MS (its own
         * timeout then sees a short body against Content-Length). */
        int fl = fcntl(c, F_GETFL);
        fcntl(c, F_SETFL, fl & ~O_NONBLOCK);
        struct timeval tv = {0, SEND_STALL_MS * 1000};
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (send_all(c, head, (size_t)hl))
                send_all(c, body, len);
        free(body);
}

void bd_metrics_serve(int fd, const struct bd_watcher_summary *w, size_t n)
{
        for (int i = 0; i < 8; i++) {
                int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        return;
                answer(c, w, n);
                close(c);
        }
}
