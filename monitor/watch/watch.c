#include "watch.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/audit.h"
#include "../../common/clock.h"
#include "event.h"

const double bd_watch_rtt_bounds[BD_WATCH_RTT_BUCKETS] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
};
const double bd_watch_late_bounds[BD_WATCH_LATE_BUCKETS] = {
    0.0001, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
};

/* A source or kernel that failed is tried again this often: a dead NIC or
 * a booting kernel must not be hammered, nor wait long once back. */
#define REOPEN_NS         1000000000ull
#define PANICKED_EVERY_NS 100000000ull
#define RESCAN_FIRST_NS   100000000ull
#define RESCAN_CALM_NS    2000000000ull
#define RESCAN_MAX_NS     30000000000ull

/* The resources classify.c names its exhausted events after. Lockup and
 * hung-task events name a task by its comm, which the target chooses: no
 * rule is picked by that. */
static const char *const exhausted_subjects[] = {"memory", "threads", "pids", "files", NULL};

#define SAMPLE_VARS                                                                                \
        (BD_POLICY_VAR(BD_POLICY_PID_LAST) | BD_POLICY_VAR(BD_POLICY_BASE_MAX_THREADS) |           \
         BD_POLICY_VAR(BD_POLICY_BASE_PID_MAX) | BD_POLICY_VAR(BD_POLICY_BASE_MAX_FILES))
#define TASK_VARS (BD_POLICY_VAR(BD_POLICY_PID) | BD_POLICY_VAR(BD_POLICY_CPU))

/* Rebooted and nic-unreachable are left out: there is no kernel to read
 * then (it is being looked for, or out of reach). */
static const struct {
        enum bd_state state;
        const char *const *subjects;
        unsigned vars;
} repairable[BD_WATCH_POLICY_STATES] = {
    {BD_STATE_PANICKED, NULL, BD_POLICY_VAR(BD_POLICY_CPU)},
    {BD_STATE_OOPS, NULL, 0},
    {BD_STATE_HARD_LOCKUP, NULL, TASK_VARS},
    {BD_STATE_SOFT_LOCKUP, NULL, TASK_VARS},
    {BD_STATE_FROZEN, NULL, 0},
    {BD_STATE_HUNG_TASK, NULL, BD_POLICY_VAR(BD_POLICY_PID)},
    {BD_STATE_EXHAUSTED, exhausted_subjects, 0},
};

void bd_watch_policy_states(struct bd_policy_state out[BD_WATCH_POLICY_STATES])
{
        for (size_t i = 0; i < BD_WATCH_POLICY_STATES; i++)
                out[i] = (struct bd_policy_state){bd_state_name(repairable[i].state),
                                                  repairable[i].subjects,
                                                  repairable[i].vars | SAMPLE_VARS};
}

void bd_watcher_init(struct bd_watcher *w, const struct bd_target *t,
                     const struct bd_watch_options *opt)
{
        memset(w, 0, sizeof(*w));
        w->target = *t;
        w->opt = *opt;
        bd_classifier_init(&w->cls, &opt->cls);
        snprintf(w->note, sizeof(w->note), "not connected yet");
}

/* The repair is over (err: why it stopped early): say so in the audit and
 * let go of the script; the plan stays to be told. */
static void end_repair(struct bd_watcher *w, struct bd_error *err)
{
        struct bd_watch_repair *r = &w->repair;
        if (!err) {
                err = r->run.err;
                r->run.err = NULL;
        }
        r->err = err;
        snprintf(r->verdict, sizeof(r->verdict), "%s",
                 err         ? "error"
                 : !r->apply ? "planned"
                             : bd_verdict_name(r->run.verdict));
        bd_repair_script_close(r->script);
        r->script = NULL;
        r->state = BD_WATCH_REPAIR_ENDED;
        bd_audit("watch-repair target=%s state=%s rule=%u script=\"%s\" mode=%s steps=%zu "
                 "rounds=%u verdict=%s error=%s",
                 w->target.name, bd_state_name(r->event.state), r->rule->line, r->rule->script,
                 r->apply ? "apply" : "plan", r->run.plan.n, r->run.rounds, r->verdict,
                 err ? bd_err_name(err->code) : "-");
}

static void clear_repair(struct bd_watch_repair *r)
{
        bd_repair_script_close(r->script);
        bd_repair_run_free(&r->run);
        bd_error_destroy(r->err);
        memset(r, 0, sizeof(*r));
}

static void drop_kernel(struct bd_watcher *w)
{
        /* The repair reads and writes through the kernel about to go. */
        if (w->repair.state == BD_WATCH_REPAIR_RUNNING)
                end_repair(w, bd_error_new(BD_ERR_NOT_FOUND, "the kernel went away mid-repair"));
        bd_probe_close(w->probe);
        bd_program_close(w->prog);
        w->probe = NULL;
        w->prog = NULL;
}

static void drop_source(struct bd_watcher *w)
{
        drop_kernel(w);
        bd_phys_close(w->phys);
        w->phys = NULL;
}

/* The kernel is gone (rebooted) at monitor time now: look for one that is
 * not it, at once the first time. A kernel that goes again within
 * RESCAN_CALM_NS of being found doubles the wait before the next search,
 * up to RESCAN_MAX_NS: a target that keeps rewriting its VMCOREINFO gets
 * a scan of its memory every 30 s, not one per probe. A kernel that ran
 * for RESCAN_CALM_NS booted and ran: reboots that come close together (a
 * crash loop; bench/detect reboots 6 s after the kernel is found) must not
 * earn the wait. Its VMCOREINFO copies may still lie in memory, first in
 * a plain scan. */
static void forget_kernel(struct bd_watcher *w, uint64_t now)
{
        if (w->prog) {
                bd_program_gone_add(&w->gone, &w->prog->vi, UINT64_MAX);
                w->opt.prog.gone = &w->gone;
        }
        drop_kernel(w);
        w->baseline.have = 0;
        if (now - w->found_ns > RESCAN_CALM_NS)
                w->rescan_wait_ns = 0;
        w->next_open_ns = now + w->rescan_wait_ns;
        w->rescan_wait_ns = w->rescan_wait_ns ? w->rescan_wait_ns * 2 : RESCAN_FIRST_NS;
        if (w->rescan_wait_ns > RESCAN_MAX_NS)
                w->rescan_wait_ns = RESCAN_MAX_NS;
}

void bd_watcher_close(struct bd_watcher *w)
{
        drop_source(w);
        clear_repair(&w->repair);
}

enum bd_state bd_watcher_state(const struct bd_watcher *w)
{
        return w->probes || w->probe_errors ? w->event.state : BD_STATE_UNKNOWN;
}

uint64_t bd_watcher_due(const struct bd_watcher *w)
{
        uint64_t due = w->probe ? w->next_probe_ns : w->next_open_ns;
        if (w->repair.state == BD_WATCH_REPAIR_ENDED)
                return 0;
        if (w->repair.state == BD_WATCH_REPAIR_RUNNING && w->repair.run.due_ns < due)
                return w->repair.run.due_ns;
        return due;
}

void bd_watcher_summarize(const struct bd_watcher *w, struct bd_watcher_summary *s)
{
        memcpy(s->name, w->target.name, sizeof(s->name));
        s->state = bd_watcher_state(w);
        s->probes = w->probes;
        s->probe_errors = w->probe_errors;
        memcpy(s->rtt_count, w->rtt_count, sizeof(s->rtt_count));
        s->rtt_sum_s = w->rtt_sum_s;
        memcpy(s->late_count, w->late_count, sizeof(s->late_count));
        s->late_sum_s = w->late_sum_s;
        s->rtt_ns = w->last.rtt_ns;
        s->ncpus = w->last.ncpus < BD_PROBE_MAX_CPUS ? w->last.ncpus : BD_PROBE_MAX_CPUS;
        for (unsigned c = 0; c < s->ncpus; c++) {
                const struct bd_probe_cpu *q = &w->last.cpu[c];
                s->cpu_mark[c] = !q->present          ? '-'
                                 : w->cls.cpu[c].lock ? '!'
                                 : q->curr == q->idle ? '.'
                                                      : '*';
        }
        memcpy(s->note, w->note, sizeof(s->note));
}

/* Feed the classifier a failed probe of the given kind. */
static int feed_error(struct bd_watcher *w, int code, uint64_t now)
{
        struct bd_probe_sample s;
        memset(&s, 0, sizeof(s));
        s.t_ns = now;
        s.read_error = code;
        w->probe_errors++;
        w->last = s;
        return bd_classifier_feed(&w->cls, &s, &w->event);
}

/* Connect and find the kernel; on failure say why and when to retry. */
static int open_kernel(struct bd_watcher *w, uint64_t now, int *changed)
{
        struct bd_error *err = NULL;
        *changed = 0;
        w->next_open_ns = now + REOPEN_NS;
        if (!w->phys && (err = bd_target_open(&w->target, &w->opt.open, &w->phys))) {
                snprintf(w->note, sizeof(w->note), "%s", err->message);
                int code = err->code;
                bd_error_destroy(err);
                w->open_error = code;
                /* Whatever kept us from the NIC, the target is out of reach. */
                *changed = feed_error(w, code == BD_ERR_UNREACHABLE ? code : BD_ERR_IO, now);
                return -1;
        }
        if (!(err = bd_program_open(w->phys, &w->opt.prog, &w->prog)))
                err = bd_probe_open(w->prog, &w->probe);
        if (err) {
                snprintf(w->note, sizeof(w->note), "%s", err->message);
                int code = err->code;
                bd_error_destroy(err);
                w->open_error = code;
                drop_kernel(w);
                /* The NIC answered: the kernel is what is missing. */
                if (bd_err_transport(code))
                        drop_source(w);
                *changed = feed_error(w, code, now);
                return -1;
        }
        /* The probe's plan holds its offsets; a watch of a thousand kernels
         * cannot keep a thousand BTFs for the rare incident or repair. */
        bd_program_trim(w->prog);
        /* The kernel after a reboot, whose first verdict may well be
         * "rebooted" again. */
        if (w->opt.prog.gone)
                bd_classifier_new_kernel(&w->cls, now, w->prog->vi.phys);
        bd_classifier_tickless(&w->cls, bd_probe_info(w->probe)->nohz_full);
        w->opt.prog.gone = NULL;
        w->opt.prog.rescan = 0;
        w->note[0] = '\0';
        w->open_error = 0;
        w->reopens++;
        w->found_ns = bd_now_ns();
        /* Due from now, after the search: the time it took is no probe's
         * lateness. */
        w->next_probe_ns = w->next_hung_ns = bd_now_ns();
        return 0;
}

static void count(uint64_t *counts, const double *bounds, unsigned nbounds, double *sum,
                  uint64_t ns)
{
        double s = (double)ns / 1e9;
        unsigned b = 0;
        while (b < nbounds && s > bounds[b])
                b++;
        counts[b]++;
        *sum += s;
}

int bd_watcher_step(struct bd_watcher *w, uint64_t now)
{
        int changed;
        if (!w->probe) {
                if (now < w->next_open_ns)
                        return 0;
                if (open_kernel(w, now, &changed))
                        return changed;
        }
        if (now < w->next_probe_ns)
                return 0;
        struct bd_probe_sample s;
        uint64_t due = w->next_probe_ns;
        bd_probe_read(w->probe, &s);
        uint64_t start = s.t_ns - s.rtt_ns;
        count(w->late_count, bd_watch_late_bounds, BD_WATCH_LATE_BUCKETS, &w->late_sum_s,
              start > due ? start - due : 0);
        /* Jitter-tolerant: the next probe is due one interval after this
         * one was due, but never in a burst to catch up. A panicked kernel
         * can only be reset: probed at most every PANICKED_EVERY_NS, it
         * leaves its NIC and the fabric to what is read from it then (a
         * resurrection, a dump), and its reboot is seen that much later
         * at most. */
        uint64_t every = w->opt.interval_ns;
        if (w->event.state == BD_STATE_PANICKED && every < PANICKED_EVERY_NS)
                every = PANICKED_EVERY_NS;
        w->next_probe_ns += every;
        if (w->next_probe_ns < s.t_ns)
                w->next_probe_ns = s.t_ns + every;
        if (s.read_error) {
                w->probe_errors++;
                if (bd_err_transport(s.read_error)) {
                        /* The connection may be dead: reconnect from scratch. */
                        snprintf(w->note, sizeof(w->note), "probe failed: %s",
                                 bd_err_name(s.read_error));
                        drop_source(w);
                        w->next_open_ns = s.t_ns + REOPEN_NS / 10;
                } else if (s.read_error == BD_ERR_NOT_FOUND) {
                        /* VMCOREINFO moved or vanished: find the new kernel. */
                        snprintf(w->note, sizeof(w->note),
                                 "the kernel's VMCOREINFO changed (reboot?): looking for it");
                        forget_kernel(w, s.t_ns);
                }
                w->last = s;
                return bd_classifier_feed(&w->cls, &s, &w->event);
        }
        w->probes++;
        count(w->rtt_count, bd_watch_rtt_bounds, BD_WATCH_RTT_BUCKETS, &w->rtt_sum_s, s.rtt_ns);
        /* The task walk is dear (a round trip per tree level, then every
         * task): only when the runqueues count tasks in D, or to see a hung
         * one gone; never while the kernel stands still (frozen, panicked),
         * where no task can be seen to wait longer than the rest. */
        int still = w->event.state == BD_STATE_FROZEN || w->event.state == BD_STATE_PANICKED;
        if (w->opt.hung_every_ns && s.t_ns >= w->next_hung_ns && !still &&
            (s.nr_uninterruptible > 0 || w->cls.hung)) {
                struct bd_error *err = bd_probe_scan_hung(w->probe, &s);
                /* A scan that fails (a task list changing under it) only
                 * means no verdict on hung tasks this time. */
                bd_error_destroy(err);
                w->next_hung_ns = bd_now_ns() + w->opt.hung_every_ns;
        }
        s.suspicious = w->prog->stats.suspicious[0] != 0;
        w->last = s;
        int verdict = bd_classifier_feed(&w->cls, &s, &w->event);
        if (!w->baseline.have && w->event.state == BD_STATE_HEALTHY) {
                w->baseline.have = 1;
                w->baseline.max_threads = s.max_threads;
                w->baseline.pid_max = s.pid_max;
                w->baseline.max_files = s.max_files;
        }
        if (w->cls.reboots_seen != w->reboots_seen) {
                /* The addresses probed are the old kernel's: find the new
                 * one before reading anything more. */
                w->reboots_seen = w->cls.reboots_seen;
                snprintf(w->note, sizeof(w->note), "looking for the new kernel");
                forget_kernel(w, s.t_ns);
        }
        return verdict;
}

static void put(struct bd_policy_vars *v, enum bd_policy_var var, int64_t value, int known)
{
        if (known) {
                v->value[var] = value;
                v->known |= BD_POLICY_VAR(var);
        }
}

void bd_watcher_vars(const struct bd_watcher *w, const struct bd_event *ev,
                     struct bd_policy_vars *v)
{
        memset(v, 0, sizeof(*v));
        put(v, BD_POLICY_PID, ev->pid, ev->pid > 0);
        put(v, BD_POLICY_CPU, ev->cpu, ev->cpu >= 0);
        put(v, BD_POLICY_PID_LAST, w->last.pid_last, w->last.pid_last > 0);
        /* A limit this kernel lacks reads as 0: unknown, not "restore 0". */
        put(v, BD_POLICY_BASE_MAX_THREADS, w->baseline.max_threads,
            w->baseline.have && w->baseline.max_threads > 0);
        put(v, BD_POLICY_BASE_PID_MAX, w->baseline.pid_max,
            w->baseline.have && w->baseline.pid_max > 0);
        put(v, BD_POLICY_BASE_MAX_FILES, w->baseline.max_files,
            w->baseline.have && w->baseline.max_files > 0);
}

/* Start the rule for ev, the current alarm, if one matches and may run. */
static int start(struct bd_watcher *w, const struct bd_event *ev, uint64_t now)
{
        const struct bd_policy *p = w->opt.policy;
        struct bd_watch_repair *r = &w->repair;
        if (!p || r->state != BD_WATCH_REPAIR_IDLE)
                return 0;
        const struct bd_policy_rule *rule = bd_policy_match(p, bd_state_name(ev->state), ev->what);
        if (!rule || !bd_policy_allows(rule, w->rule_ran[rule - p->rules], now))
                return 0;
        w->rule_ran[rule - p->rules] = now;
        clear_repair(r);
        r->attempt = 1;
        r->state = BD_WATCH_REPAIR_RUNNING;
        r->rule = rule;
        r->event = *ev;
        memcpy(r->incident, w->alarm_incident, sizeof(r->incident));
        r->apply = rule->apply && w->opt.open.write_enabled;
        for (unsigned i = 0; i < rule->nargs; i++)
                r->argv[i] = r->args[i];
        /* The numbers of this moment, not of when the script gets to run. */
        struct bd_policy_vars v;
        bd_watcher_vars(w, ev, &v);
        struct bd_error *err = bd_policy_expand(rule, &v, r->args);
        if (err)
                end_repair(w, err);
        return 1;
}

int bd_watcher_repair_start(struct bd_watcher *w, const struct bd_event *ev, const char *incident,
                            uint64_t now)
{
        /* Kept for the runs again while this alarm holds. */
        w->alarming = bd_event_alarms(w, ev);
        snprintf(w->alarm_incident, sizeof(w->alarm_incident), "%s",
                 w->alarming && incident ? incident : "");
        return w->alarming && start(w, ev, now);
}

int bd_watcher_repair_again(struct bd_watcher *w, uint64_t now)
{
        struct bd_watch_repair *r = &w->repair;
        const struct bd_event *ev = &w->event;
        if (r->state != BD_WATCH_REPAIR_IDLE || !w->alarming)
                return 0;
        int same = r->rule && r->event.state == ev->state && r->event.since_ns == ev->since_ns &&
                   !strcmp(r->event.what, ev->what);
        unsigned attempt = same ? r->attempt + 1 : 1;
        if (!start(w, ev, now))
                return 0;
        r->attempt = attempt;
        return 1;
}

/* The repair's first step: its script, found and loaded against the
 * kernel watched. */
static struct bd_error *begin_repair(struct bd_watcher *w)
{
        struct bd_watch_repair *r = &w->repair;
        if (!w->prog)
                return bd_error_new(BD_ERR_NOT_FOUND, "no kernel to repair: %s", w->note);
        const char *path = bd_repair_find_script(r->rule->script, r->path, sizeof(r->path));
        if (path != r->path)
                snprintf(r->path, sizeof(r->path), "%s", path);
        /* unlock by another name (a link) is still unlock. */
        char real[PATH_MAX];
        if (realpath(r->path, real) && bd_policy_refuses(real))
                return bd_error_new(BD_ERR_USAGE, "%s is %s: never run from a policy", r->path,
                                    real);
        struct bd_repair_options o = {.force = r->rule->force};
        struct bd_error *err = bd_repair_script_load(w->prog, r->path, NULL, &o, &r->script);
        if (!err)
                bd_repair_run_start(&r->run, r->script, w->prog, w->target.name, r->path, r->argv,
                                    r->rule->nargs, r->apply, NULL);
        return err;
}

int bd_watcher_repair_step(struct bd_watcher *w, uint64_t now)
{
        struct bd_watch_repair *r = &w->repair;
        if (r->state == BD_WATCH_REPAIR_RUNNING && now >= r->run.due_ns) {
                struct bd_error *err = r->script ? NULL : begin_repair(w);
                if (err)
                        end_repair(w, err);
                else if (bd_repair_run_step(&r->run, now))
                        end_repair(w, NULL);
        }
        if (r->state != BD_WATCH_REPAIR_ENDED)
                return 0;
        r->state = BD_WATCH_REPAIR_IDLE;
        return 1;
}

int bd_watcher_repair_stop(struct bd_watcher *w, const char *why)
{
        struct bd_watch_repair *r = &w->repair;
        if (r->state == BD_WATCH_REPAIR_IDLE)
                return 0;
        if (r->state == BD_WATCH_REPAIR_RUNNING)
                end_repair(w, bd_error_new(BD_ERR_INTERNAL, "%s mid-repair", why));
        r->state = BD_WATCH_REPAIR_IDLE;
        return 1;
}
