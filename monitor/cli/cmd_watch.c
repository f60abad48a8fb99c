/* bdmon watch: probe targets continuously, say when and how their OS fails,
 * and with --repair POLICY run the repair its rules call for. The loop only
 * schedules and says where things go; monitor/watch/ does the probing and
 * the repairs' steps (watch.c), the judging (classify.c), the event's
 * lines, JSON and hook (event.c), the incidents (incident.c) and the live
 * view (live.c); monitor/repair/ reads the policy (policy.c) and runs the
 * repair (run.c). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../../common/logfiles.h"
#include "../cache/cache.h"
#include "../views/output.h"
#include "../watch/event.h"
#include "../watch/incident.h"
#include "../watch/live.h"
#include "../watch/metrics.h"
#include "../watch/record.h"
#include "../watch/shard.h"
#include "../watch/watch.h"
#include "../watch/workers.h"
#include "cli.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

/* Where events go: the live view's recent lines, or standard output.
 * The targets' threads share it. */
struct view {
        struct cli *cli;
        int live;
        char dir[1024]; /* incidents, "" for none */
        FILE *rec;      /* --record, or NULL: written by the serving thread only */
        struct bd_record_queue recq;
        int rec_errno; /* the first write to the record that failed */
        /* Standard output and the live view's lines, a line at a time;
         * the incident directory (its rate and quota are the
         * directory's), an incident at a time. */
        pthread_mutex_t out, incidents;
        struct bd_live screen;
        /* --resurrect: done once; while its standby command runs, the
         * serving thread reaps no child (it would take that one's
         * status from the waiting target thread). The flag changes, and
         * is read for a round of reaping, under reap_lock. */
        int resurrected, standby_running;
        pthread_mutex_t reap_lock;
};

/* --resurrect: the panicked kernel's process written and handed to the
 * standby from this target's thread, through the connection and kernel the
 * watch has open; its probes wait meanwhile (a dead kernel has nothing new
 * to say but a reboot, which waits these few seconds). */
static int resurrect(struct view *v, struct bd_watcher *w)
{
        struct cli *cli = v->cli;
        struct cli_resurrection r;
        pthread_mutex_lock(&v->reap_lock);
        v->standby_running = 1;
        pthread_mutex_unlock(&v->reap_lock);
        cli_resurrect(cli, w->prog, (int32_t)cli->resurrect, &r);
        pthread_mutex_lock(&v->reap_lock);
        v->standby_running = 0;
        pthread_mutex_unlock(&v->reap_lock);
        struct bd_wallclock clk = bd_wallclock_now();
        char when[48];
        bd_wallclock_iso(clk.wall_ns, cli->json, when, sizeof(when));
        const struct bd_error *why = r.err ? r.err : r.standby_err;
        /* Said where events go: the live view's lines, or standard output. */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f) {
                cli_resurrection_free(&r);
                return BD_ERR_NOMEM;
        }
        if (cli->json) {
                fprintf(f, "{\"time\":\"%s\",\"unix_ns\":%" PRIu64 ",\"target\":", when,
                        clk.wall_ns);
                bd_json_string(f, w->target.name);
                fputs(",\"resurrect\":", f);
                if (r.err)
                        fprintf(f, "{\"pid\":%" PRId32 "}", r.pid);
                else
                        cli_resurrection_json(f, cli, &r);
                if (why) {
                        fprintf(f, ",\"exit\":%d,\"error\":", why->code);
                        bd_json_string(f, why->message);
                }
                fputs("}\n", f);
        } else {
                fprintf(f, "%s ", when);
                bd_put_text(f, w->target.name, strlen(w->target.name));
                fprintf(f, " resurrect %" PRId32 ": ", r.pid);
                if (!r.err)
                        cli_resurrection_text(f, cli, &r);
                if (why) {
                        fputs("failed: ", f);
                        bd_put_text(f, why->message, strlen(why->message));
                        fputc('\n', f);
                }
        }
        int rc = fclose(f) ? BD_ERR_NOMEM : 0;
        pthread_mutex_lock(&v->out);
        if (!rc && v->live) {
                bd_error_destroy(bd_live_add_text(&v->screen, text));
        } else if (!rc) {
                fputs(text, stdout);
                rc = cli_flush();
        }
        pthread_mutex_unlock(&v->out);
        free(text);
        cli_resurrection_free(&r);
        return rc;
}

static int on_event(void *arg, struct bd_watcher *w)
{
        struct view *v = arg;
        struct cli *cli = v->cli;
        const struct bd_event *ev = &w->event;
        struct bd_wallclock clk = bd_wallclock_now();
        char incident[1200] = "";
        int rc = 0, alarm = bd_event_alarms(w, ev);
        /* Say it first, then gather: the alarm must not wait for the log. */
        if (!v->live) {
                pthread_mutex_lock(&v->out);
                (cli->json ? bd_event_write_json : bd_event_write_text)(stdout, w, ev, NULL, &clk);
                rc = cli_flush();
                pthread_mutex_unlock(&v->out);
        }
        if (cli->resurrect >= 0 && ev->state == BD_STATE_PANICKED && !v->resurrected) {
                v->resurrected = 1;
                int rrc = resurrect(v, w);
                rc = rc ? rc : rrc;
        }
        if (v->dir[0] && bd_event_wants_incident(w, ev)) {
                pthread_mutex_lock(&v->incidents);
                struct bd_error *err =
                    bd_incident_capture(v->dir, w, ev, &clk, incident, sizeof(incident));
                pthread_mutex_unlock(&v->incidents);
                if (err && !cli->quiet)
                        fprintf(stderr, "bdmon: %s\n", err->message);
                bd_error_destroy(err);
                if (incident[0] && !v->live) {
                        pthread_mutex_lock(&v->out);
                        bd_event_write_saved(stdout, cli->json, w, ev, incident);
                        rc = rc ? rc : cli_flush();
                        pthread_mutex_unlock(&v->out);
                }
        }
        /* A line the view cannot keep (no memory) is only not shown. */
        if (v->live) {
                pthread_mutex_lock(&v->out);
                bd_error_destroy(
                    bd_live_add(&v->screen, w, ev, incident[0] ? incident : NULL, &clk));
                pthread_mutex_unlock(&v->out);
        }
        if (cli->on_alarm && alarm) {
                struct bd_error *err =
                    bd_event_hook(cli->on_alarm, w, ev, incident[0] ? incident : NULL, &clk, NULL);
                if (err)
                        fprintf(stderr, "bdmon: --on-alarm: %s\n", err->message);
                bd_error_destroy(err);
        }
        /* After the alarm was told and its incident saved: a repair adds
         * its record to that incident. */
        bd_watcher_repair_start(w, ev, incident[0] ? incident : NULL, bd_now_ns());
        bd_event_announced(w, ev);
        return rc;
}

/* w's repair ended: its record goes into its incident, its line where the
 * events go. */
static int on_repair(void *arg, struct bd_watcher *w)
{
        struct view *v = arg;
        struct cli *cli = v->cli;
        struct bd_wallclock clk = bd_wallclock_now();
        char record[1300] = "";
        if (w->repair.incident[0]) {
                pthread_mutex_lock(&v->incidents);
                struct bd_error *err =
                    bd_incident_add_repair(w->repair.incident, w, &clk, record, sizeof(record));
                pthread_mutex_unlock(&v->incidents);
                if (err && !cli->quiet)
                        fprintf(stderr, "bdmon: %s\n", err->message);
                bd_error_destroy(err);
        }
        const char *saved = record[0] ? record : NULL;
        int rc = 0;
        pthread_mutex_lock(&v->out);
        if (v->live)
                bd_error_destroy(bd_live_add_repair(&v->screen, w, saved, &clk));
        else if (cli->json)
                bd_event_write_repair_json(stdout, w, 0, saved, &clk);
        else
                bd_event_write_repair_text(stdout, w, saved, &clk);
        if (!v->live)
                rc = cli_flush();
        pthread_mutex_unlock(&v->out);
        return rc;
}

static void on_sample(void *arg, const struct bd_watcher *w)
{
        struct view *v = arg;
        if (v->rec)
                bd_record_queue_push(&v->recq, w);
}

/* What the targets' threads queued for --record, to its file. */
static void write_record(struct view *v)
{
        uint64_t dropped;
        if (!v->rec)
                return;
        if (bd_record_queue_write(&v->recq, v->rec, &dropped) && !v->rec_errno)
                v->rec_errno = errno ? errno : EIO;
        if (dropped && !v->cli->quiet)
                fprintf(stderr,
                        "bdmon: --record: %" PRIu64 " samples not recorded: the file did not "
                        "keep up\n",
                        dropped);
}

/* The first contact: a wrong key or a target that is no NIC is a
 * configuration error to stop on, not a state to watch. */
static int on_first(void *arg, struct bd_watcher *w, int changed)
{
        struct view *v = arg;
        struct cli *cli = v->cli;
        int code = w->open_error;
        if (code == BD_ERR_AUTH || code == BD_ERR_TARGET) {
                fprintf(stderr, "bdmon: %s: %s\n", w->target.name, w->note);
                return code;
        }
        if (w->note[0] && !cli->quiet) {
                fprintf(stderr, "bdmon: %s: %s; still watching\n", w->target.name, w->note);
        } else if (w->probe && !cli->quiet) {
                const struct bd_probe_info *in = bd_probe_info(w->probe);
                char tickless[48] = "";
                if (in->nohz_full)
                        snprintf(tickless, sizeof(tickless), "; nohz_full cpus %#llx not judged",
                                 (unsigned long long)in->nohz_full);
                fprintf(stderr, "bdmon: %s: %s, %u cpus: %u reads (%u bytes) a probe%s%s%s\n",
                        w->target.name, w->prog->release, in->ncpus, in->ranges, in->bytes,
                        tickless, in->missing[0] ? "; this kernel lacks " : "", in->missing);
        }
        return changed ? on_event(v, w) : 0;
}

/* The policy of --repair, checked against the states watch knows. */
static struct bd_error *read_policy(struct cli *cli, struct bd_policy *policy)
{
        struct bd_policy_state states[BD_WATCH_POLICY_STATES];
        bd_watch_policy_states(states);
        struct bd_error *err = bd_policy_read(cli->repair, states, BD_WATCH_POLICY_STATES, policy);
        for (size_t i = 0; !err && !cli->write && !cli->quiet && i < policy->n; i++)
                if (policy->rules[i].apply)
                        fprintf(stderr,
                                "bdmon: %s: line %u: mode=apply without --write: only a plan is "
                                "made\n",
                                cli->repair, policy->rules[i].line);
        return err;
}

static void reap(struct view *v)
{
        if (v)
                pthread_mutex_lock(&v->reap_lock);
        if (!v || !v->standby_running)
                while (waitpid(-1, NULL, WNOHANG) > 0)
                        ;
        if (v)
                pthread_mutex_unlock(&v->reap_lock);
}

/* --shard: this monitor's share of names (of the config's targets when
 * there are none), in *mine (malloc'd, pointing into names or *all). */
static int shard_share(struct cli *cli, char **names, int nnames, char (**all)[64], char ***mine,
                       int *nmine)
{
        struct bd_shard sh;
        struct bd_error *err = bd_shard_parse(cli->shard, &sh);
        if (!err && cli->replicas > sh.count)
                err = bd_error_new(BD_ERR_USAGE, "--replicas %u: more than the %u shards",
                                   cli->replicas, sh.count);
        if (err)
                return cli_report(err);
        if (cli->replicas)
                sh.replicas = cli->replicas;
        unsigned n = (unsigned)nnames;
        if (!nnames && (err = bd_target_names(cli->config, all, &n)))
                return cli_report(err);
        if (!(*mine = calloc(n + 1, sizeof(**mine))))
                return cli_report(&bd_error_nomem);
        *nmine = 0;
        for (unsigned i = 0; i < n; i++) {
                char *name = nnames ? names[i] : (*all)[i];
                if (bd_shard_owns(&sh, name))
                        (*mine)[(*nmine)++] = name;
        }
        if (!cli->quiet)
                fprintf(stderr, "bdmon: shard %u/%u (%u replica%s): %d of %u targets\n", sh.index,
                        sh.count, sh.replicas, sh.replicas == 1 ? "" : "s", *nmine, n);
        if (!*nmine)
                return cli_report(bd_error_new(BD_ERR_TARGET,
                                               "shard %u/%u watches none of the %u targets",
                                               sh.index, sh.count, n));
        return 0;
}

static int watch(struct cli *cli, char **names, int nnames)
{
        struct bd_watcher *w = calloc((size_t)nnames, sizeof(*w));
        if (!w)
                return cli_report(&bd_error_nomem);
        struct bd_watch_options opt = {
            .open = cli->open,
            .prog = {.rescan = cli->rescan,
                     .need_live = 1,
                     .no_cache = cli->no_cache,
                     .layout = cli->layout,
                     .max_read = cli->max_read},
            .interval_ns = (cli->interval_set ? cli->interval_ms : 10) * 1000000ull,
            .hung_every_ns = 500000000ull,
            .cls = bd_classify_config_default(),
        };
        opt.cls.interval_ns = opt.interval_ns;
        if (cli->hung_ms)
                opt.cls.hung_task_ns = cli->hung_ms * 1000000ull;
        int rc = 0;
        struct bd_policy policy = {0};
        if (cli->repair) {
                struct bd_error *err = read_policy(cli, &policy);
                if (err)
                        rc = cli_report(err);
                opt.policy = &policy;
        }
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
        struct view *v = calloc(1, sizeof(*v));
        if (!v && !rc)
                rc = cli_report(&bd_error_nomem);
        if (v) {
                bd_record_queue_init(&v->recq);
                pthread_mutex_init(&v->reap_lock, NULL);
        }
        if (!rc && cli->record && !(v->rec = fopen(cli->record, "ae")))
                rc = cli_report(
                    bd_error_new(BD_ERR_IO, "--record %s: %s", cli->record, strerror(errno)));
        if (!rc && v->rec)
                bd_logfile_register(fileno(v->rec), cli->record, 1);
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
        struct bd_watcher_summary *shown = calloc((size_t)nnames, sizeof(*shown));
        if (!rc && !shown)
                rc = cli_report(&bd_error_nomem);
        struct bd_workers *ws = NULL;
        if (!rc) {
                v->cli = cli;
                v->live = !cli->json && isatty(STDOUT_FILENO);
                snprintf(v->dir, sizeof(v->dir), "%s", dir);
                pthread_mutex_init(&v->out, NULL);
                pthread_mutex_init(&v->incidents, NULL);
                struct bd_watch_hooks hooks = {.first = on_first,
                                               .sample = on_sample,
                                               .event = on_event,
                                               .repair = on_repair,
                                               .arg = v};
                signal(SIGINT, on_signal);
                signal(SIGTERM, on_signal);
                bd_logfiles_reopen_on_sighup();
                struct bd_error *err = bd_workers_start(w, (size_t)nnames, &hooks, &ws);
                if (err)
                        rc = cli_report(err);
        }
        /* This thread only serves: the live view, the metrics, the hooks'
         * children; the targets' threads probe. */
        uint64_t end = cli->duration_ms ? bd_now_ns() + cli->duration_ms * 1000000ull : UINT64_MAX;
        uint64_t next_draw = 0;
        while (ws && !stop && !bd_workers_failed(ws)) {
                uint64_t now = bd_now_ns();
                if (now >= end)
                        break;
                reap(v);
                write_record(v);
                if (v->live && now >= next_draw) {
                        struct bd_wallclock clk = bd_wallclock_now();
                        bd_workers_summaries(ws, shown);
                        pthread_mutex_lock(&v->out);
                        bd_live_draw(stdout, &v->screen, shown, (size_t)nnames, opt.interval_ns,
                                     &clk);
                        fflush(stdout);
                        pthread_mutex_unlock(&v->out);
                        next_draw = now + 250000000ull;
                }
                /* Woken by a scrape or a signal; else a look at least every
                 * 100 ms, for the end of the watch and a thread's failure. */
                uint64_t due = now + 100000000ull;
                if (v->live && next_draw < due)
                        due = next_draw;
                if (end < due)
                        due = end;
                uint64_t d = due > now ? due - now : 0;
                struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
                struct pollfd pfd = {.fd = mfd, .events = POLLIN};
                if (ppoll(&pfd, mfd >= 0, &ts, NULL) > 0) {
                        bd_workers_summaries(ws, shown);
                        bd_metrics_serve(mfd, shown, (size_t)nnames);
                }
        }
        if (ws) {
                rc = bd_workers_stop(ws, "the watch stopped");
                write_record(v);
                pthread_mutex_destroy(&v->out);
                pthread_mutex_destroy(&v->incidents);
        }
        if (!rc && !cli->quiet)
                for (int i = 0; i < nnames; i++)
                        fprintf(stderr,
                                "bdmon: %s: %" PRIu64 " probes (mean round trip %.2f ms, %u "
                                "ranges), %" PRIu64 " failed, %s\n",
                                w[i].target.name, w[i].probes,
                                w[i].probes ? w[i].rtt_sum_s * 1e3 / (double)w[i].probes : 0.0,
                                w[i].probe ? bd_probe_info(w[i].probe)->ranges : 0,
                                w[i].probe_errors, bd_state_name(bd_watcher_state(&w[i])));
        for (int i = 0; i < nnames; i++)
                bd_watcher_close(&w[i]);
        free(w);
        free(shown);
        bd_policy_free(&policy);
        if (mfd >= 0)
                close(mfd);
        if (v && v->rec)
                bd_logfile_forget(fileno(v->rec));
        if (v && v->rec && fclose(v->rec) && !v->rec_errno)
                v->rec_errno = errno;
        if (v && v->rec_errno && !rc)
                rc = cli_report(bd_error_new(BD_ERR_IO, "--record: %s", strerror(v->rec_errno)));
        if (v) {
                bd_record_queue_destroy(&v->recq);
                pthread_mutex_destroy(&v->reap_lock);
        }
        free(v);
        reap(NULL);
        return rc;
}

int cmd_watch(struct cli *cli, char **names, int nnames)
{
        if (!cli->shard)
                return watch(cli, names, nnames);
        char(*all)[64] = NULL;
        char **mine = NULL;
        int nmine = 0;
        int rc = shard_share(cli, names, nnames, &all, &mine, &nmine);
        if (!rc)
                rc = watch(cli, mine, nmine);
        free(mine);
        free(all);
        return rc;
}
