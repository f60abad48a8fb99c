/* bdmon watch: probe targets continuously, say when and how their OS fails.
 * The loop only schedules and prints; monitor/watch.c does the probing and
 * the classifier (monitor/classify.c) the judging. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../cache/cache.h"
#include "../watch/incident.h"
#include "../watch/metrics.h"
#include "../views/output.h"
#include "../watch/watch.h"
#include "cli.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

/* Monitor time (CLOCK_MONOTONIC) as wall-clock nanoseconds. */
static uint64_t wall_of(uint64_t mono)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wall = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        uint64_t now = bd_now_ns();
        return wall - (now > mono ? now - mono : 0);
}

static void iso_time(uint64_t wall_ns, char *buf, size_t cap, int date)
{
        time_t s = (time_t)(wall_ns / 1000000000u);
        struct tm tm;
        gmtime_r(&s, &tm);
        char b[32];
        strftime(b, sizeof(b), date ? "%Y-%m-%dT%H:%M:%S" : "%H:%M:%S", &tm);
        snprintf(buf, cap, "%s.%06" PRIu64 "%s", b, wall_ns % 1000000000u / 1000u, date ? "Z" : "");
}

static int is_alarm(enum bd_state s)
{
        return s != BD_STATE_HEALTHY && s != BD_STATE_UNKNOWN;
}

/* A kernel that oopsed stays "oops" until it reboots: coming back to that
 * state after a later failure is no new alarm. */
static int event_alarms(const struct bd_watcher *w, const struct bd_event *ev)
{
        if (ev->state == BD_STATE_OOPS && ev->since_ns == w->oops_announced)
                return 0;
        return is_alarm(ev->state);
}

/* Worth an incident directory: the kernel's own state says something. */
static int wants_incident(enum bd_state s)
{
        return is_alarm(s) && s != BD_STATE_NIC_UNREACHABLE && s != BD_STATE_REBOOTED;
}

static void event_json(FILE *f, const struct bd_watcher *w, const struct bd_event *ev,
                       const char *incident)
{
        char when[48];
        uint64_t wall = wall_of(ev->t_ns);
        iso_time(wall, when, sizeof(when), 1);
        fprintf(f, "{\"time\":\"%s\",\"unix_ns\":%" PRIu64 ",\"target\":", when, wall);
        bd_json_string(f, w->target.name);
        fprintf(f, ",\"state\":\"%s\",\"previous\":\"%s\",\"alarm\":%s,\"cpu\":%d,\"pid\":%d",
                bd_state_name(ev->state), bd_state_name(ev->previous),
                event_alarms(w, ev) ? "true" : "false", ev->cpu, (int)ev->pid);
        fprintf(f, ",\"what\":");
        bd_json_string(f, ev->what);
        fprintf(f, ",\"evidence\":");
        bd_json_string(f, ev->evidence);
        fprintf(f, ",\"since_unix_ns\":%" PRIu64 ",\"probe_rtt_us\":%.1f", wall_of(ev->since_ns),
                (double)w->last.rtt_ns / 1e3);
        if (w->note[0]) {
                fprintf(f, ",\"note\":");
                bd_json_string(f, w->note);
        }
        if (incident) {
                fprintf(f, ",\"incident\":");
                bd_json_string(f, incident);
        }
        fprintf(f, "}\n");
}

static void event_text(FILE *f, const struct bd_watcher *w, const struct bd_event *ev,
                       const char *incident)
{
        char when[48];
        iso_time(wall_of(ev->t_ns), when, sizeof(when), 0);
        fprintf(f, "%s %s %s", when, w->target.name, bd_state_name(ev->state));
        if (ev->cpu >= 0)
                fprintf(f, " cpu %d", ev->cpu);
        if (ev->pid > 0)
                fprintf(f, " pid %d", (int)ev->pid);
        if (ev->what[0] && ev->pid <= 0)
                fprintf(f, " (%s)", ev->what);
        fprintf(f, " [was %s]: %s", bd_state_name(ev->previous), ev->evidence);
        if (w->note[0])
                fprintf(f, " (%s)", w->note);
        if (incident)
                fprintf(f, "; saved in %s", incident);
        fputc('\n', f);
}

/* --on-alarm: the event in the environment, run in the background. */
static void run_hook(const char *cmd, const struct bd_watcher *w, const struct bd_event *ev,
                     const char *incident)
{
        char *json = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&json, &len);
        if (!f)
                return;
        event_json(f, w, ev, incident);
        fclose(f);
        if (len && json[len - 1] == '\n')
                json[len - 1] = '\0';
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
                char num[32];
                setenv("BDMON_TARGET", w->target.name, 1);
                setenv("BDMON_STATE", bd_state_name(ev->state), 1);
                setenv("BDMON_PREVIOUS", bd_state_name(ev->previous), 1);
                setenv("BDMON_EVIDENCE", ev->evidence, 1);
                setenv("BDMON_EVENT", json, 1);
                snprintf(num, sizeof(num), "%d", ev->cpu);
                setenv("BDMON_CPU", num, 1);
                snprintf(num, sizeof(num), "%d", (int)ev->pid);
                setenv("BDMON_PID", num, 1);
                setenv("BDMON_INCIDENT", incident ? incident : "", 1);
                execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
                _exit(127);
        }
        if (pid < 0)
                fprintf(stderr, "bdmon: --on-alarm: fork: %s\n", strerror(errno));
        free(json);
}

static void capture(struct cli *cli, const char *dir, struct bd_watcher *w,
                    const struct bd_event *ev, char *path, size_t cap)
{
        char when[48], name[256], *json = NULL;
        size_t len = 0;
        iso_time(wall_of(ev->t_ns), when, sizeof(when), 1);
        snprintf(name, sizeof(name), "%s-%s-%s", w->target.name, when, bd_state_name(ev->state));
        for (char *s = name; *s; s++)
                if (*s == '/' || *s == ':')
                        *s = *s == ':' ? '-' : '_';
        FILE *f = open_memstream(&json, &len);
        if (!f)
                return;
        event_json(f, w, ev, NULL);
        fclose(f);
        struct bd_error *err = bd_incident_write(dir, name, w->prog, json, path, cap);
        free(json);
        if (err) {
                path[0] = '\0';
                if (!cli->quiet)
                        fprintf(stderr, "bdmon: %s\n", err->message);
                bd_error_destroy(err);
        }
}

/* --record: every sample, one line each, for replaying into the
 * classifier (tests/unit/test_classify.c reads the same format). */
static void record(FILE *f, const struct bd_watcher *w)
{
        const struct bd_probe_sample *s = &w->last;
        fprintf(f,
                "%s t=%" PRIu64 " rtt=%" PRIu64 " err=%d jiffies=%" PRIu64 " panic_cpu=%d "
                "oops=%d taint=%#" PRIx64 " state=%d threads=%" PRId64 "/%" PRId64
                " pid_max=%" PRId64 " files=%" PRId64 "/%" PRId64 " free=%" PRId64 "/%" PRId64
                " oom=%" PRIu64,
                w->target.name, s->t_ns, s->rtt_ns, s->read_error, s->jiffies, (int)s->panic_cpu,
                (int)s->oops_in_progress, s->tainted_mask, (int)s->system_state, s->nr_threads,
                s->max_threads, s->pid_max, s->nr_files, s->max_files, s->free_pages,
                s->min_free_pages, s->oom_kills);
        if (s->hung_scanned)
                fprintf(f, " hung=%d/%" PRIu64, (int)s->hung_pid, s->hung_ns);
        for (unsigned c = 0; c < s->ncpus && c < BD_PROBE_MAX_CPUS; c++) {
                const struct bd_probe_cpu *q = &s->cpu[c];
                fprintf(f,
                        " cpu%u=%d,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%u,%d,%" PRIu64 ",%" PRIu64,
                        c, q->present, q->clock, q->nr_switches, q->timer_irqs, q->nr_running,
                        q->curr == q->idle, q->hrtimer_interrupts, q->touch_ts);
        }
        fputc('\n', f);
}

/* Where events go: the live view's recent lines, or standard output. */
#define VIEW_EVENTS 10
struct view {
        int live;
        char dir[1024]; /* incidents, "" for none */
        char events[VIEW_EVENTS][320];
        size_t nev, next;
};

static int on_event(struct cli *cli, struct view *v, struct bd_watcher *w)
{
        const struct bd_event *ev = &w->event;
        char incident[1200] = "";
        int rc = 0, alarm = event_alarms(w, ev);
        /* Say it first, then gather: the alarm must not wait for the log. */
        if (!v->live) {
                (cli->json ? event_json : event_text)(stdout, w, ev, NULL);
                rc = cli_flush();
        }
        if (v->dir[0] && alarm && wants_incident(ev->state)) {
                capture(cli, v->dir, w, ev, incident, sizeof(incident));
                if (incident[0] && !v->live) {
                        if (cli->json) {
                                printf("{\"target\":");
                                bd_json_string(stdout, w->target.name);
                                printf(",\"incident\":");
                                bd_json_string(stdout, incident);
                                printf("}\n");
                        } else {
                                printf("%s: %s saved in %s\n", w->target.name,
                                       bd_state_name(ev->state), incident);
                        }
                        rc = rc ? rc : cli_flush();
                }
        }
        if (v->live) {
                FILE *f = fmemopen(v->events[v->next], sizeof(v->events[0]), "w");
                if (f) {
                        event_text(f, w, ev, incident[0] ? incident : NULL);
                        fclose(f);
                        v->next = (v->next + 1) % VIEW_EVENTS;
                        v->nev += v->nev < VIEW_EVENTS;
                }
        }
        if (cli->on_alarm && alarm)
                run_hook(cli->on_alarm, w, ev, incident[0] ? incident : NULL);
        if (ev->state == BD_STATE_OOPS)
                w->oops_announced = ev->since_ns;
        return rc;
}

/* The live view: a row per target, redrawn in place. */
static void draw(const struct bd_watcher *w, size_t n, const struct view *v, uint64_t interval_ns)
{
        char when[48];
        iso_time(wall_of(bd_now_ns()), when, sizeof(when), 0);
        printf("\033[H\033[2Jbdmon watch: %zu target%s, probe every %.1f ms   %s\n\n", n,
               n == 1 ? "" : "s", (double)interval_ns / 1e6, when);
        printf("%-12s %-16s %9s %10s  %s\n", "TARGET", "STATE", "RTT", "PROBES",
               "CPUS (* runs a task, . idles, ! stuck)");
        for (size_t i = 0; i < n; i++) {
                const struct bd_watcher *t = &w[i];
                enum bd_state st = bd_watcher_state(t);
                printf("%-12.12s %s%-16s\033[0m %7.2fms %10" PRIu64 "  ", t->target.name,
                       st == BD_STATE_HEALTHY ? "\033[32m"
                       : is_alarm(st)         ? "\033[1;31m"
                                              : "\033[33m",
                       bd_state_name(st), (double)t->last.rtt_ns / 1e6, t->probes);
                for (unsigned c = 0; c < t->last.ncpus && c < BD_PROBE_MAX_CPUS; c++) {
                        const struct bd_probe_cpu *q = &t->last.cpu[c];
                        char mark = !q->present          ? '-'
                                    : t->cls.cpu[c].lock ? '!'
                                    : q->curr == q->idle ? '.'
                                                         : '*';
                        printf("%c", mark);
                }
                if (t->note[0])
                        printf("  %s", t->note);
                printf("\n");
        }
        if (v->nev)
                printf("\nRecent events:\n");
        for (size_t k = 0; k < v->nev; k++)
                printf("  %s", v->events[(v->next + VIEW_EVENTS - v->nev + k) % VIEW_EVENTS]);
        fflush(stdout);
}

static uint64_t next_due(const struct bd_watcher *w, size_t n)
{
        uint64_t due = UINT64_MAX;
        for (size_t i = 0; i < n; i++)
                if (bd_watcher_due(&w[i]) < due)
                        due = bd_watcher_due(&w[i]);
        return due;
}

static void reap(void)
{
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
}

int cmd_watch(struct cli *cli, char **names, int nnames)
{
        struct bd_watcher *w = calloc((size_t)nnames, sizeof(*w));
        if (!w)
                return cli_report(&bd_error_nomem);
        struct bd_watch_options opt = {
            .open = cli->open,
            .prog = {.rescan = cli->rescan, .no_cache = cli->no_cache, .layout = cli->layout},
            .interval_ns = (cli->interval_set ? cli->interval_ms : 10) * 1000000ull,
            .hung_every_ns = 500000000ull,
            .cls = bd_classify_config_default(),
        };
        opt.cls.interval_ns = opt.interval_ns;
        if (cli->hung_ms)
                opt.cls.hung_task_ns = cli->hung_ms * 1000000ull;
        int rc = 0;
        for (int i = 0; i < nnames && !rc; i++) {
                struct bd_target t;
                struct bd_error *err = bd_target_resolve(cli->config, names[i], cli->key, &t);
                if (err) {
                        rc = cli_report(err);
                        break;
                }
                bd_watcher_init(&w[i], &t, &opt);
        }
        char dir[1024] = "";
        if (!rc && !cli->no_capture) {
                const char *env = getenv("BDMON_INCIDENTS");
                if (cli->incidents)
                        snprintf(dir, sizeof(dir), "%s", cli->incidents);
                else if (env && *env)
                        snprintf(dir, sizeof(dir), "%s", env);
                else if (bd_cache_path("incidents", dir, sizeof(dir), 1))
                        rc = cli_report(bd_error_new(BD_ERR_IO,
                                                     "watch: no directory for incidents "
                                                     "(--incidents DIR or --no-capture)"));
        }
        FILE *rec = NULL;
        if (!rc && cli->record && !(rec = fopen(cli->record, "a")))
                rc = cli_report(
                    bd_error_new(BD_ERR_IO, "--record %s: %s", cli->record, strerror(errno)));
        int mfd = -1, mport = 0;
        if (!rc && cli->metrics) {
                struct bd_error *err = bd_metrics_listen(cli->metrics, &mfd, &mport);
                if (err)
                        rc = cli_report(err);
                else if (!cli->quiet)
                        fprintf(stderr, "bdmon: metrics on http://%.*s:%d/metrics\n",
                                (int)(strrchr(cli->metrics, ':') - cli->metrics), cli->metrics,
                                mport);
        }
        struct view view = {.live = !cli->json && isatty(STDOUT_FILENO)};
        snprintf(view.dir, sizeof(view.dir), "%s", dir);
        /* A first contact now: a wrong key or a target that is no NIC is a
         * configuration error to stop on, not a state to watch. */
        uint64_t t0 = bd_now_ns();
        for (int i = 0; !rc && i < nnames; i++) {
                int changed = bd_watcher_step(&w[i], t0);
                int code = w[i].open_error;
                if (code == BD_ERR_AUTH || code == BD_ERR_TARGET) {
                        fprintf(stderr, "bdmon: %s: %s\n", w[i].target.name, w[i].note);
                        rc = code;
                } else if (w[i].note[0] && !cli->quiet) {
                        fprintf(stderr, "bdmon: %s: %s; still watching\n", w[i].target.name,
                                w[i].note);
                } else if (w[i].probe && !cli->quiet) {
                        const struct bd_probe_info *in = bd_probe_info(w[i].probe);
                        fprintf(stderr, "bdmon: %s: %s, %u cpus: %u reads (%u bytes) a probe%s%s\n",
                                w[i].target.name, w[i].prog->release, in->ncpus, in->ranges,
                                in->bytes, in->missing[0] ? "; this kernel lacks " : "",
                                in->missing);
                }
                if (!rc && changed)
                        rc = on_event(cli, &view, &w[i]);
        }
        if (rc)
                goto done;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        uint64_t end = cli->duration_ms ? bd_now_ns() + cli->duration_ms * 1000000ull : UINT64_MAX;
        uint64_t next_draw = 0;
        while (!stop && !rc) {
                uint64_t now = bd_now_ns();
                if (now >= end)
                        break;
                for (int i = 0; i < nnames && !rc; i++) {
                        uint64_t seen = w[i].probes + w[i].probe_errors;
                        int changed = bd_watcher_step(&w[i], now);
                        if (rec && w[i].probes + w[i].probe_errors != seen)
                                record(rec, &w[i]);
                        if (changed)
                                rc = on_event(cli, &view, &w[i]);
                }
                reap();
                now = bd_now_ns();
                if (view.live && now >= next_draw) {
                        draw(w, (size_t)nnames, &view, opt.interval_ns);
                        next_draw = now + 250000000ull;
                }
                uint64_t due = next_due(w, (size_t)nnames);
                if (view.live && next_draw < due)
                        due = next_draw;
                if (end < due)
                        due = end;
                uint64_t d = due > now ? due - now : 0;
                struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
                struct pollfd pfd = {.fd = mfd, .events = POLLIN};
                if (ppoll(&pfd, mfd >= 0, &ts, NULL) > 0)
                        bd_metrics_serve(mfd, w, (size_t)nnames);
        }
        if (!cli->quiet)
                for (int i = 0; i < nnames; i++)
                        fprintf(stderr,
                                "bdmon: %s: %" PRIu64 " probes (mean round trip %.2f ms, %u "
                                "ranges), %" PRIu64 " failed, %s\n",
                                w[i].target.name, w[i].probes,
                                w[i].probes ? w[i].rtt_sum_s * 1e3 / (double)w[i].probes : 0.0,
                                w[i].probe ? bd_probe_info(w[i].probe)->ranges : 0,
                                w[i].probe_errors, bd_state_name(bd_watcher_state(&w[i])));
done:
        for (int i = 0; i < nnames; i++)
                bd_watcher_close(&w[i]);
        free(w);
        if (mfd >= 0)
                close(mfd);
        if (rec && fclose(rec) && !rc)
                rc = cli_report(bd_error_new(BD_ERR_IO, "--record: %s", strerror(errno)));
        reap();
        return rc;
}
