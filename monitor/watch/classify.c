#include "classify.h"

#include <stdio.h>
#include <string.h>

#include "../../common/error.h"

#define TAINT_DIE        (1ull << 7)
#define TAINT_SOFTLOCKUP (1ull << 14)
/* Linux 6.x defines 19 taint flags: higher bits mean the word is garbage. */
#define TAINT_PLAUSIBLE ((1ull << 24) - 1)
#define OOPS_PLAUSIBLE  1024
#define SYSTEM_STATES   8
#define RESERVED_PIDS   300
/* Beyond this (plus two jiffies per elapsed ms, HZ <= 1000) jiffies did not
 * advance, something else was read. */
#define JIFFIES_JUMP_MAX 1000000000ull

enum { RES_MEMORY, RES_THREADS, RES_PIDS, RES_FILES };
static const char *const res_names[BD_CLASSIFY_RESOURCES] = {"memory", "threads", "pids", "files"};

/* Sample-level anomalies: a torn read, or the world really changed. */
enum {
        ANOM_JIFFIES = 1, /* a reboot if it persists */
        ANOM_BOOT_ID = 2, /* likewise */
        ANOM_NCPUS = 4,
        ANOM_CPU = 8, /* a cpu's rq clock or nr_switches went back */
};

struct bd_classify_config bd_classify_config_default(void)
{
        struct bd_classify_config cfg = {
            .interval_ns = 10000000,
            .frozen_ns = 150000000,
            .frozen_idle_ns = 5000000000ull,
            .wake_late_ns = 250000000,
            .hard_lockup_ns = 200000000,
            .soft_lockup_ns = 200000000,
            .tick_gap_ns = 50000000,
            .hung_task_ns = 1000000000,
            .exhausted_pct = 95,
            .recovered_pct = 90,
            .oom_window_ns = 500000000,
            .mem_low_pct = 8,
            .mem_ok_pct = 12,
            .nic_errors = 3,
            .system_running = 3,
            .ignore_cpus = 0,
        };
        return cfg;
}

const char *bd_state_name(enum bd_state state)
{
        static const char *const names[] = {
            [BD_STATE_UNKNOWN] = "unknown",
            [BD_STATE_HEALTHY] = "healthy",
            [BD_STATE_PANICKED] = "panicked",
            [BD_STATE_OOPS] = "oops",
            [BD_STATE_HARD_LOCKUP] = "hard-lockup",
            [BD_STATE_SOFT_LOCKUP] = "soft-lockup",
            [BD_STATE_FROZEN] = "frozen",
            [BD_STATE_HUNG_TASK] = "hung-task",
            [BD_STATE_EXHAUSTED] = "exhausted",
            [BD_STATE_REBOOTED] = "rebooted",
            [BD_STATE_NIC_UNREACHABLE] = "nic-unreachable",
            [BD_STATE_SUSPICIOUS] = "suspicious",
        };
        if ((unsigned)state >= sizeof(names) / sizeof(names[0]))
                return "invalid";
        return names[state];
}

void bd_classifier_init(struct bd_classifier *c, const struct bd_classify_config *cfg)
{
        memset(c, 0, sizeof(*c));
        c->cfg = cfg ? *cfg : bd_classify_config_default();
        if (!c->cfg.tick_gap_ns)
                c->cfg.tick_gap_ns = 5 * c->cfg.interval_ns;
        if (!c->cfg.nic_errors)
                c->cfg.nic_errors = 1;
        c->reported.state = BD_STATE_UNKNOWN;
        c->reported.cpu = -1;
        c->target = c->reported;
}

/* b - a, 0 if b is not later: durations from possibly reordered times. */
static uint64_t since(uint64_t a, uint64_t b)
{
        return b > a ? b - a : 0;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
        return a > b ? a : b;
}

/* When the sample's memory was read at the earliest: stalls measured from
 * it are lower bounds, so a verdict is never early. */
static uint64_t read_time(const struct bd_probe_sample *s)
{
        return s->t_ns - (s->rtt_ns < s->t_ns ? s->rtt_ns : s->t_ns);
}

/* Counters are compared through their signed difference, which stays right
 * across a 2^64 wrap. */
static int went_back(uint64_t before, uint64_t after)
{
        return (int64_t)(after - before) < 0;
}

static unsigned ncpus_of(const struct bd_probe_sample *s)
{
        return s->ncpus < BD_PROBE_MAX_CPUS ? s->ncpus : BD_PROBE_MAX_CPUS;
}

static int at_least_pct(int64_t v, int64_t limit, unsigned pct)
{
        if (v < 0 || limit <= 0)
                return 0;
        return (unsigned __int128)v * 100 >= (unsigned __int128)limit * pct;
}

enum { AVAIL_UNKNOWN = -1, AVAIL_TORN = -2 };

/* Available memory in thousandths of RAM: free pages and the file LRU,
 * which reclaim can drop (without swap, anonymous memory stays).
 * AVAIL_UNKNOWN when the probe could not read a part, AVAIL_TORN when a
 * part exceeds RAM. */
static int64_t avail_permille(const struct bd_probe_sample *s)
{
        if (s->free_pages < 0 || s->file_pages < 0 || s->total_pages <= 0)
                return AVAIL_UNKNOWN;
        if (s->free_pages > s->total_pages || s->file_pages > s->total_pages)
                return AVAIL_TORN;
        uint64_t avail = (uint64_t)s->free_pages + (uint64_t)s->file_pages;
        return (int64_t)((unsigned __int128)avail * 1000 / (uint64_t)s->total_pages);
}

static int taint_plausible(const struct bd_classifier *c, uint64_t mask)
{
        /* Taints are never cleared: a word missing a known bit is torn. */
        return !(mask & ~TAINT_PLAUSIBLE) && (mask & c->taint_known) == c->taint_known;
}

static int judged(const struct bd_classifier *c, const struct bd_probe_sample *s, unsigned i)
{
        return s->cpu[i].present && !(i < 64 && ((c->cfg.ignore_cpus | c->tickless) >> i & 1));
}

static unsigned anomalies(const struct bd_probe_sample *a, const struct bd_probe_sample *s)
{
        unsigned an = 0;
        uint64_t ms = since(a->t_ns, s->t_ns) / 1000000;
        if (went_back(a->jiffies, s->jiffies) ||
            s->jiffies - a->jiffies > JIFFIES_JUMP_MAX + 2 * ms)
                an |= ANOM_JIFFIES;
        if (a->boot_id_hash && s->boot_id_hash && a->boot_id_hash != s->boot_id_hash)
                an |= ANOM_BOOT_ID;
        if (s->ncpus != a->ncpus)
                an |= ANOM_NCPUS;
        unsigned n = ncpus_of(s) < ncpus_of(a) ? ncpus_of(s) : ncpus_of(a);
        for (unsigned i = 0; i < n; i++) {
                const struct bd_probe_cpu *p = &a->cpu[i], *q = &s->cpu[i];
                if (p->present && q->present &&
                    (went_back(p->clock, q->clock) || went_back(p->nr_switches, q->nr_switches)))
                        an |= ANOM_CPU;
        }
        return an;
}

static void reset_cpus(struct bd_classifier *c)
{
        memset(c->cpu, 0, sizeof(c->cpu));
        c->have_tnow = 0;
}

/* How many times the hung-task limit a task must wait in a kernel that
 * has not finished booting. */
#define BOOT_HUNG_FACTOR 30

/* After a reboot, until the new kernel reaches SYSTEM_RUNNING. */
static int booting(const struct bd_classifier *c, const struct bd_probe_sample *s)
{
        return c->rebooted && s->system_state < c->cfg.system_running && s->system_state >= 0;
}

/* Nothing learnt about the old kernel holds in a new boot. */
static void forget_boot(struct bd_classifier *c)
{
        c->rebooted = 1;
        c->panicked = c->oopsed = c->hung = c->have_oom = 0;
        memset(c->res_over, 0, sizeof(c->res_over));
        memset(c->res_on, 0, sizeof(c->res_on));
}

/* A new boot seen in the samples. */
static void reboot(struct bd_classifier *c, const struct bd_probe_sample *s, unsigned an)
{
        if (an & ANOM_BOOT_ID)
                snprintf(
                    c->reboot_why, sizeof(c->reboot_why), "boot id %#llx became %#llx in 2 probes",
                    (unsigned long long)c->base.boot_id_hash, (unsigned long long)s->boot_id_hash);
        else
                snprintf(c->reboot_why, sizeof(c->reboot_why),
                         "jiffies %llu became %llu in 2 probes",
                         (unsigned long long)c->base.jiffies, (unsigned long long)s->jiffies);
        c->reboot_since = c->pending.t_ns;
        c->reboot_what[0] = '\0';
        c->reboots_seen++;
        forget_boot(c);
        c->taint_known = taint_plausible(c, s->tainted_mask) ? s->tainted_mask : 0;
        reset_cpus(c);
}

/* The cpu the kernel's softlockup verdict is about: the running one whose
 * watchdog was touched longest ago (a touched-for-good cpu holds ULONG_MAX). */
static int stalest_cpu(const struct bd_classifier *c, const struct bd_probe_sample *s)
{
        int best = -1;
        for (unsigned i = 0; i < ncpus_of(s); i++) {
                const struct bd_probe_cpu *p = &s->cpu[i];
                if (!judged(c, s, i) || p->curr == p->idle)
                        continue;
                if (best < 0 || p->touch_ts < s->cpu[best].touch_ts)
                        best = (int)i;
        }
        return best;
}

#define TNOW_SLACK_NS 20000000ull /* tick granularity and read-time jitter */

static void advance_tnow(struct bd_classifier *c, const struct bd_probe_sample *s)
{
        uint64_t latest = c->tnow;
        int have = c->have_tnow;
        for (unsigned i = 0; i < ncpus_of(s); i++) {
                uint64_t clock = s->cpu[i].clock;
                if (!s->cpu[i].present)
                        continue;
                if (!have || (int64_t)(clock - latest) > 0)
                        latest = clock;
                have = 1;
        }
        if (!have)
                return;
        if (!c->have_tnow) {
                c->tnow = latest;
                c->have_tnow = 1;
                return;
        }
        /* A garbage clock far ahead must not run the target's time off. */
        uint64_t cap = since(c->base.t_ns, s->t_ns) + TNOW_SLACK_NS;
        c->tnow += latest - c->tnow < cap ? latest - c->tnow : cap;
}

/* The cpu switched tasks at monitor time t_ns, target time n: whatever
 * waited or locked it since is over. */
static void switched(struct bd_classify_cpu *t, uint64_t t_ns, uint64_t n)
{
        t->t_switch = t_ns;
        t->n_switch = n;
        t->waiting = t->lock = t->taint_soft = t->rt = 0;
}

/* Update every tracker from the last accepted sample to s. */
static void track(struct bd_classifier *c, const struct bd_probe_sample *s)
{
        const struct bd_probe_sample *a = &c->base;
        unsigned n = ncpus_of(s);
        int moved[BD_PROBE_MAX_CPUS] = {0};
        int jiffies_moved = s->jiffies != a->jiffies;
        int any = jiffies_moved, nmoved = 0;
        for (unsigned i = 0; i < n; i++) {
                const struct bd_probe_cpu *p = &a->cpu[i], *q = &s->cpu[i];
                if (!p->present || !q->present)
                        continue;
                moved[i] = p->clock != q->clock || p->nr_switches != q->nr_switches ||
                           p->curr != q->curr || p->hrtimer_interrupts != q->hrtimer_interrupts ||
                           p->timer_irqs != q->timer_irqs;
                any |= moved[i];
                nmoved += moved[i];
        }
        if (any)
                c->t_progress = s->t_ns;
        advance_tnow(c, s);

        for (unsigned i = 0; i < BD_PROBE_MAX_CPUS; i++) {
                struct bd_classify_cpu *t = &c->cpu[i];
                if (i >= n || !judged(c, s, i)) {
                        memset(t, 0, sizeof(*t));
                        continue;
                }
                const struct bd_probe_cpu *p = &a->cpu[i], *q = &s->cpu[i];
                int idle = q->curr == q->idle;
                if (!idle || !q->idle_since) {
                        t->idle_since = 0;
                } else if (q->idle_since != t->idle_since) {
                        t->idle_since = q->idle_since;
                        t->t_asleep = s->t_ns;
                }
                if (!t->known || !p->present) {
                        memset(t, 0, sizeof(*t));
                        t->known = 1;
                        t->t_switch = t->t_tick = t->t_others = s->t_ns;
                        t->n_switch = t->n_tick = c->tnow;
                        continue;
                }
                if (p->timer_irqs && q->timer_irqs) {
                        /* Interrupts counted on the cpu itself: proof. */
                        if (p->timer_irqs != q->timer_irqs) {
                                t->t_tick = s->t_ns;
                                t->n_tick = c->tnow;
                        }
                } else {
                        int clock_moved = p->clock != q->clock;
                        if (clock_moved && t->clock_moved) {
                                t->t_tick = s->t_ns;
                                t->n_tick = c->tnow;
                        }
                        /* A single move may be another cpu updating this
                         * rq's clock (a remote wakeup or load balancing):
                         * only ticks come in runs. */
                        t->clock_moved = clock_moved;
                }
                if (jiffies_moved || nmoved > moved[i])
                        t->t_others = s->t_ns;
                /* The watchdog's stopper thread preempts even a SCHED_FIFO
                 * task when its hrtimer fires, and hands the cpu straight
                 * back: two switches, the same task, a watchdog tick. The
                 * tasks waiting for the cpu still wait. A batch read takes
                 * milliseconds, so the tick and the switches may show in
                 * consecutive samples, in either order: a tick alone waits
                 * for its pair one sample, a pair alone for its tick (and
                 * counts as a switch, at its own sample, if none comes).
                 * A sample may also catch the stopper on the cpu: another
                 * task after one switch, the first one back after one
                 * more. So a task that leaves after one switch is judged
                 * a sample later: back, with a tick, it was the stopper's
                 * visit; else it switched, at its own sample. */
                int same = p->curr == q->curr && !idle;
                uint64_t switches = q->nr_switches - p->nr_switches;
                int tick = p->hrtimer_interrupts != q->hrtimer_interrupts;
                int returned = t->away && !idle && q->curr == t->away_from && switches == 1 &&
                               (tick || t->away_tick);
                if (t->away && !returned)
                        switched(t, t->t_away, t->n_away);
                int left = !returned && !same && !idle && p->curr != p->idle && switches == 1 &&
                           t->lock != BD_STATE_HARD_LOCKUP;
                t->away = left;
                if (left) {
                        t->away_from = p->curr;
                        t->away_pid = p->curr_pid;
                        memcpy(t->away_comm, p->curr_comm, sizeof(t->away_comm));
                        t->away_tick = tick || t->tick_alone;
                        t->t_away = s->t_ns;
                        t->n_away = c->tnow;
                }
                int pair = same && switches == 2;
                int stopper = pair && (tick || t->tick_alone);
                if (t->pair_alone && !(tick && same && !switches))
                        switched(t, t->t_pair, t->n_pair);
                int paired = t->pair_alone && tick;
                t->pair_alone = pair && !stopper;
                if (t->pair_alone) {
                        t->t_pair = s->t_ns;
                        t->n_pair = c->tnow;
                }
                t->tick_alone = tick && same && !switches && !paired;
                if (!returned && !left && (!same || (switches && !stopper && !t->pair_alone)))
                        switched(t, s->t_ns, c->tnow);
                /* A task's prio is read one probe late: a sample that
                 * caught a new one (the stopper's visit) says nothing. */
                if (idle || (q->curr_pid && !q->curr_rt)) {
                        t->rt = 0;
                } else if (q->curr_rt && !t->rt) {
                        t->rt = 1;
                        t->t_rt = s->t_ns;
                        t->n_rt = c->tnow;
                }
                if (!idle && q->nr_running >= 2) {
                        if (!t->waiting) {
                                t->t_wait = s->t_ns;
                                t->n_wait = c->tnow;
                        }
                        t->waiting = 1;
                } else {
                        t->waiting = 0;
                }
        }
}

/* Whether nothing takes a cpu from a real-time task that will not give it
 * up: RT throttling off (runtime -1, or as long as the period). Unread
 * (both 0) says no. */
static int rt_unthrottled(const struct bd_probe_sample *s)
{
        return s->rt_period_us &&
               (s->rt_runtime_us == -1 ||
                (s->rt_runtime_us > 0 && (uint32_t)s->rt_runtime_us >= s->rt_period_us));
}

/* Per-cpu lockups, latched in c->cpu[].lock until the cpu switches. */
static void judge_cpus(struct bd_classifier *c, const struct bd_probe_sample *s)
{
        uint64_t now = read_time(s);
        for (unsigned i = 0; i < ncpus_of(s); i++) {
                struct bd_classify_cpu *t = &c->cpu[i];
                const struct bd_probe_cpu *q = &s->cpu[i];
                if (!t->known || q->curr == q->idle)
                        continue;
                uint64_t quiet = max64(t->t_tick, t->t_switch);
                uint64_t n_quiet = t->t_tick > t->t_switch ? t->n_tick : t->n_switch;
                int ticking = since(t->t_tick, now) < c->cfg.tick_gap_ns;
                /* Others must have moved after it went quiet, else the
                 * whole machine stopped (a VM descheduled by its host). */
                int hard = since(quiet, now) >= c->cfg.hard_lockup_ns &&
                           c->tnow - n_quiet >= c->cfg.hard_lockup_ns && t->t_others > quiet;
                /* Waiting starts after the last switch (track() resets it). */
                int waited = t->waiting && ticking &&
                             since(t->t_wait, now) >= c->cfg.soft_lockup_ns &&
                             c->tnow - t->n_wait >= c->cfg.soft_lockup_ns;
                /* A real-time task that holds a ticking cpu with throttling
                 * off starves whoever is bound there the moment they wake:
                 * the tick queues the cpu's own work (timers' kworkers,
                 * ksoftirqd), which may run nowhere else. One that gives
                 * the cpu up, or a nohz_full cpu left tickless to its
                 * poller, starves nobody. */
                int held = t->rt && ticking && rt_unthrottled(s) &&
                           since(t->t_rt, now) >= c->cfg.soft_lockup_ns &&
                           c->tnow - t->n_rt >= c->cfg.soft_lockup_ns;
                int soft = t->taint_soft || t->lock == BD_STATE_SOFT_LOCKUP || waited || held;
                if (t->lock != BD_STATE_SOFT_LOCKUP)
                        t->held_rt = held && !waited && !t->taint_soft;
                /* A hard lockup lasts until the cpu switches: what looks
                 * like a tick later is another cpu touching its rq. */
                if (t->lock == BD_STATE_HARD_LOCKUP)
                        hard = 1;
                t->lock = hard ? BD_STATE_HARD_LOCKUP : soft ? BD_STATE_SOFT_LOCKUP : 0;
        }
}

/* Whether an OOM kill seen within the window still stands for the
 * memory verdict at t_ns (the alarm and its evidence agree on it). */
static int oom_recent(const struct bd_classifier *c, uint64_t t_ns)
{
        return c->have_oom && since(c->t_oom, t_ns) <= c->cfg.oom_window_ns;
}

static void judge_resources(struct bd_classifier *c, const struct bd_probe_sample *s)
{
        unsigned hi = c->cfg.exhausted_pct, lo = c->cfg.recovered_pct;
        int oom_now = oom_recent(c, s->t_ns);
        int64_t pid_space = s->pid_max > RESERVED_PIDS ? s->pid_max - RESERVED_PIDS : 0;
        int over[BD_CLASSIFY_RESOURCES], under[BD_CLASSIFY_RESOURCES];

        /* The OOM killer acting is the kernel's own verdict that reclaim
         * failed; the free count seen at that moment says little (the
         * victim's memory is back by the next probe). Short of that, a
         * machine with next to nothing available is starved all the same.
         * A torn reading holds the state; an unread one has no say. */
        int64_t avail = avail_permille(s);
        int free_short = s->free_pages >= 0 && s->min_free_pages > 0 &&
                         !at_least_pct(s->free_pages, s->min_free_pages, 100 + (100 - lo));
        over[RES_MEMORY] = oom_now || (avail >= 0 && avail < (int64_t)c->cfg.mem_low_pct * 10);
        under[RES_MEMORY] = !oom_now && !free_short &&
                            (avail == AVAIL_UNKNOWN || avail >= (int64_t)c->cfg.mem_ok_pct * 10);
        over[RES_THREADS] = at_least_pct(s->nr_threads, s->max_threads, hi);
        under[RES_THREADS] = !at_least_pct(s->nr_threads, s->max_threads, lo);
        /* pid allocation is cyclic: pid_last sweeps up to pid_max and wraps
         * on any busy machine, so it says nothing about exhaustion. Every
         * task holds a pid, so nr_threads is a floor on the pids in use:
         * that near pid_max means the pid space is full. */
        over[RES_PIDS] = at_least_pct(s->nr_threads, pid_space, hi);
        under[RES_PIDS] = !at_least_pct(s->nr_threads, pid_space, lo);
        over[RES_FILES] = at_least_pct(s->nr_files, s->max_files, hi);
        under[RES_FILES] = !at_least_pct(s->nr_files, s->max_files, lo);

        for (int r = 0; r < BD_CLASSIFY_RESOURCES; r++) {
                if (!c->res_on[r]) {
                        /* Two samples: one torn counter must not alarm. */
                        if (over[r] && c->res_over[r]++ == 0)
                                c->res_since[r] = s->t_ns;
                        if (!over[r])
                                c->res_over[r] = 0;
                        if (c->res_over[r] >= 2)
                                c->res_on[r] = 1;
                } else if (under[r]) {
                        c->res_on[r] = 0;
                        c->res_over[r] = 0;
                }
        }
}

static void verdict(struct bd_classify_verdict *v, enum bd_state state, int cpu, int32_t pid,
                    const char *what, size_t what_len, uint64_t since_ns)
{
        memset(v, 0, sizeof(*v));
        v->state = state;
        v->cpu = cpu;
        v->pid = pid;
        if (what) {
                size_t n = strnlen(what, what_len);
                if (n >= sizeof(v->what))
                        n = sizeof(v->what) - 1;
                memcpy(v->what, what, n);
        }
        v->since_ns = since_ns;
}

/* The monitor time by which an idle cpu of s must have woken, its clock's
 * next event come (+ wake_late_ns); 0 if none says. A sleep longer than
 * frozen_idle_ns, or an event due before the cpu went idle, is a torn or
 * stale pair and says nothing. */
static uint64_t wake_due(const struct bd_classifier *c, const struct bd_probe_sample *s)
{
        uint64_t due = 0;
        for (unsigned i = 0; i < ncpus_of(s); i++) {
                const struct bd_classify_cpu *t = &c->cpu[i];
                const struct bd_probe_cpu *q = &s->cpu[i];
                /* track() keeps idle_since only for a judged cpu that idles. */
                if (!t->idle_since || !q->wake_at || q->wake_at <= q->idle_since ||
                    q->wake_at - q->idle_since > c->cfg.frozen_idle_ns)
                        continue;
                uint64_t at = t->t_asleep + (q->wake_at - q->idle_since) + c->cfg.wake_late_ns;
                if (!due || at < due)
                        due = at;
        }
        return due;
}

/* The target's state from the trackers, by priority. */
static void evaluate(struct bd_classifier *c, const struct bd_probe_sample *s, int oops_now)
{
        struct bd_classify_verdict *v = &c->target;
        uint64_t now = read_time(s);
        int shutting_down =
            s->system_state > c->cfg.system_running && s->system_state < SYSTEM_STATES;

        /* Every other verdict is read through that description. */
        if (s->suspicious) {
                verdict(v, BD_STATE_SUSPICIOUS, -1, 0, NULL, 0, now);
                return;
        }
        if (c->panicked) {
                verdict(v, BD_STATE_PANICKED, c->panic_cpu, 0, NULL, 0, c->panic_since);
                return;
        }
        if (oops_now) {
                verdict(v, BD_STATE_OOPS, -1, 0, NULL, 0, c->oops_since);
                return;
        }

        int busy = 0;
        for (unsigned i = 0; i < ncpus_of(s); i++) {
                const struct bd_probe_cpu *q = &s->cpu[i];
                if (judged(c, s, i) && q->curr != q->idle && c->cpu[i].lock != BD_STATE_HARD_LOCKUP)
                        busy = 1;
        }
        /* A running cpu ticks: with none, NOHZ lets the whole machine sleep
         * until a timer, at the latest the watchdog hrtimer; each idle cpu
         * says when its clock will wake it. */
        uint64_t limit = busy ? c->cfg.frozen_ns : c->cfg.frozen_idle_ns;
        uint64_t still = since(c->t_progress, now), due;
        if (still >= limit ||
            (!busy && still >= c->cfg.frozen_ns && (due = wake_due(c, s)) && now >= due)) {
                verdict(v, BD_STATE_FROZEN, -1, 0, NULL, 0, c->t_progress);
                return;
        }
        /* Stopping cpus on purpose (reboot, halt) is no lockup. */
        for (int want = BD_STATE_HARD_LOCKUP; !shutting_down && want <= BD_STATE_SOFT_LOCKUP;
             want++) {
                for (unsigned i = 0; i < ncpus_of(s); i++) {
                        const struct bd_classify_cpu *t = &c->cpu[i];
                        const struct bd_probe_cpu *q = &s->cpu[i];
                        if (t->lock != want)
                                continue;
                        uint64_t from = want == BD_STATE_HARD_LOCKUP ? max64(t->t_tick, t->t_switch)
                                        : t->held_rt                 ? t->t_rt
                                        : t->waiting                 ? t->t_wait
                                                                     : t->t_switch;
                        /* Judged a sample later, a task gone away still
                         * names the lockup (classify_cpu.away). */
                        verdict(v, want, (int)i, t->away ? t->away_pid : q->curr_pid,
                                t->away ? t->away_comm : q->curr_comm, sizeof(q->curr_comm), from);
                        return;
                }
        }
        if (c->hung) {
                verdict(v, BD_STATE_HUNG_TASK, -1, c->hung_pid, c->hung_comm, sizeof(c->hung_comm),
                        c->hung_since);
                return;
        }
        for (int r = 0; r < BD_CLASSIFY_RESOURCES; r++) {
                if (c->res_on[r]) {
                        verdict(v, BD_STATE_EXHAUSTED, -1, 0, res_names[r], 32, c->res_since[r]);
                        return;
                }
        }
        if (booting(c, s)) {
                verdict(v, BD_STATE_REBOOTED, -1, 0, c->reboot_what, sizeof(c->reboot_what),
                        c->reboot_since);
                return;
        }
        c->rebooted = 0;
        if (c->oopsed)
                verdict(v, BD_STATE_OOPS, -1, 0, NULL, 0, c->oops_since);
        else
                verdict(v, BD_STATE_HEALTHY, -1, 0, NULL, 0, s->t_ns);
}

/* Positive evidence, read from an accepted sample. Returns whether an oops
 * shows in this very sample. */
static int evidence(struct bd_classifier *c, const struct bd_probe_sample *s)
{
        int oops_now = 0;
        if (s->panic_cpu >= 0 && (unsigned)s->panic_cpu < ncpus_of(s) && !c->panicked) {
                c->panicked = 1;
                c->panic_cpu = s->panic_cpu;
                c->panic_since = s->t_ns;
        }
        if (taint_plausible(c, s->tainted_mask)) {
                uint64_t fresh = s->tainted_mask & ~c->taint_known;
                if (fresh & TAINT_DIE) {
                        oops_now = 1;
                        snprintf(c->oops_why, sizeof(c->oops_why), "TAINT_DIE set (taint %#llx)",
                                 (unsigned long long)s->tainted_mask);
                }
                if (fresh & TAINT_SOFTLOCKUP) {
                        int cpu = stalest_cpu(c, s);
                        if (cpu >= 0)
                                c->cpu[cpu].taint_soft = 1;
                }
                c->taint_known = s->tainted_mask;
        }
        if (s->oops_in_progress > 0 && s->oops_in_progress < OOPS_PLAUSIBLE) {
                if (!oops_now)
                        snprintf(c->oops_why, sizeof(c->oops_why), "oops_in_progress %d",
                                 (int)s->oops_in_progress);
                oops_now = 1;
        }
        if (oops_now && !c->oopsed) {
                c->oopsed = 1;
                c->oops_since = s->t_ns;
        }
        if (s->oom_kills != c->base.oom_kills && !went_back(c->base.oom_kills, s->oom_kills)) {
                c->have_oom = 1;
                c->t_oom = s->t_ns;
        }
        if (s->hung_scanned) {
                /* A booting kernel's initcalls and probes wait in D for
                 * seconds as a matter of course (a kworker 1.5 s in the
                 * lab's first second): only a far longer wait is a hang. */
                uint64_t limit = c->cfg.hung_task_ns;
                if (booting(c, s))
                        limit *= BOOT_HUNG_FACTOR;
                int hung = s->hung_pid > 0 && s->hung_ns >= limit &&
                           (s->pid_max <= 0 || s->hung_pid <= s->pid_max);
                if (hung && (!c->hung || c->hung_pid != s->hung_pid))
                        c->hung_since = s->t_ns - (s->hung_ns < s->t_ns ? s->hung_ns : s->t_ns);
                c->hung = hung;
                if (hung) {
                        c->hung_pid = s->hung_pid;
                        memcpy(c->hung_comm, s->hung_comm, sizeof(c->hung_comm));
                        c->hung_ns = s->hung_ns;
                }
        }
        return oops_now;
}

/* A good sample. Implausible ones wait for the next: if it agrees with the
 * old state the odd one was torn and is dropped, if it agrees with the odd
 * one the world changed (a reboot when jiffies or the boot id jumped). Until
 * then nothing in it counts, panic_cpu included: a read of zeroed or reused
 * memory looks like cpu 0 panicking. */
static int judge(struct bd_classifier *c, const struct bd_probe_sample *s)
{
        if (!c->have_base) {
                c->base = *s;
                c->have_base = 1;
                c->t_progress = s->t_ns;
                c->taint_known = taint_plausible(c, s->tainted_mask) ? s->tainted_mask : 0;
                reset_cpus(c);
                track(c, s);
                evaluate(c, s, evidence(c, s));
                /* Announced even if the new kernel already runs. */
                if (c->new_boot)
                        verdict(&c->target, BD_STATE_REBOOTED, -1, 0, c->reboot_what,
                                sizeof(c->reboot_what), c->reboot_since);
                c->new_boot = 0;
                return 1;
        }
        unsigned an = anomalies(&c->base, s);
        if (an) {
                if (!c->have_pending || anomalies(&c->pending, s)) {
                        c->pending = *s;
                        c->have_pending = 1;
                        return 0;
                }
                int rebooting = an & (ANOM_JIFFIES | ANOM_BOOT_ID);
                if (rebooting)
                        reboot(c, s, an);
                else
                        reset_cpus(c);
                c->have_pending = 0;
                c->t_progress = s->t_ns;
                c->base = *s;
                track(c, s);
                /* What the old kernel's addresses hold in a new boot is
                 * not evidence (zeroed memory reads as panic_cpu 0). */
                evaluate(c, s, rebooting ? 0 : evidence(c, s));
                /* Announced even if the new kernel already runs. */
                if (rebooting)
                        verdict(&c->target, BD_STATE_REBOOTED, -1, 0, c->reboot_what,
                                sizeof(c->reboot_what), c->reboot_since);
                return 1;
        }
        c->have_pending = 0;
        track(c, s);
        int oops_now = evidence(c, s);
        uint64_t known_boot = c->base.boot_id_hash;
        c->base = *s;
        if (!s->boot_id_hash)
                c->base.boot_id_hash = known_boot;
        judge_cpus(c, s);
        judge_resources(c, s);
        evaluate(c, s, oops_now);
        return 1;
}

static void describe_memory(const struct bd_classifier *c, uint64_t t_ns, unsigned long long ms,
                            char *buf, size_t len)
{
        const struct bd_probe_sample *s = &c->base;
        unsigned long long oom_ms = since(c->t_oom, t_ns) / 1000000;
        int64_t avail = avail_permille(s);
        if (oom_recent(c, t_ns)) {
                snprintf(buf, len,
                         "OOM kill %llu ms ago (%llu in all); free pages %lld, min watermarks %lld",
                         oom_ms, (unsigned long long)s->oom_kills, (long long)s->free_pages,
                         (long long)s->min_free_pages);
                return;
        }
        char oom[48] = "no OOM kill seen";
        if (c->have_oom)
                snprintf(oom, sizeof(oom), "last OOM kill %llu ms ago", oom_ms);
        if (avail >= 0)
                snprintf(buf, len,
                         "available memory %lld.%lld%% of RAM for %llu ms (free %lld + file LRU "
                         "%lld of %lld pages), %s",
                         (long long)(avail / 10), (long long)(avail % 10), ms,
                         (long long)s->free_pages, (long long)s->file_pages,
                         (long long)s->total_pages, oom);
        else
                snprintf(buf, len, "free pages %lld, min watermarks %lld, for %llu ms; %s",
                         (long long)s->free_pages, (long long)s->min_free_pages, ms, oom);
}

static void describe(const struct bd_classifier *c, const struct bd_classify_verdict *v,
                     uint64_t t_ns, char *buf, size_t len)
{
        const struct bd_probe_sample *s = &c->base;
        unsigned long long ms = since(v->since_ns, t_ns) / 1000000;
        const struct bd_probe_cpu *q = v->cpu >= 0 ? &s->cpu[v->cpu] : NULL;
        switch (v->state) {
        case BD_STATE_UNKNOWN:
                if (c->other_errors)
                        snprintf(buf, len,
                                 "%u probes in a row failed: %s (target memory unreadable)",
                                 c->other_errors, bd_err_name(c->last_error));
                else
                        snprintf(buf, len, "no good probe yet");
                break;
        case BD_STATE_NIC_UNREACHABLE:
                snprintf(buf, len, "%u probes in a row failed: %s, for %llu ms",
                         c->transport_errors, bd_err_name(c->last_error), ms);
                break;
        case BD_STATE_HEALTHY: {
                unsigned online = 0;
                for (unsigned i = 0; i < ncpus_of(s); i++)
                        online += s->cpu[i].present != 0;
                snprintf(buf, len, "jiffies %llu, %u of %u cpus online, no failure signal",
                         (unsigned long long)s->jiffies, online, s->ncpus);
                break;
        }
        case BD_STATE_PANICKED:
                snprintf(buf, len, "panic_cpu %d (taint %#llx, oops_in_progress %d)", v->cpu,
                         (unsigned long long)s->tainted_mask, (int)s->oops_in_progress);
                break;
        case BD_STATE_OOPS:
                snprintf(buf, len, "%s", c->oops_why);
                break;
        case BD_STATE_HARD_LOCKUP:
                snprintf(buf, len,
                         "cpu %d runs pid %d (%.16s) with no tick and no context switch for %llu "
                         "ms while other cpus or jiffies move",
                         v->cpu, (int)v->pid, v->what, ms);
                break;
        case BD_STATE_SOFT_LOCKUP:
                if (c->cpu[v->cpu].taint_soft)
                        snprintf(buf, len,
                                 "kernel set TAINT_SOFTLOCKUP; cpu %d, touched at %llu s, runs "
                                 "pid %d (%.16s) without switching",
                                 v->cpu, (unsigned long long)q->touch_ts, (int)v->pid, v->what);
                else if (c->cpu[v->cpu].held_rt)
                        snprintf(
                            buf, len,
                            "cpu %d runs real-time pid %d (%.16s) with ticks but no context "
                            "switch for %llu ms, RT throttling off: nothing else can run there (%u "
                            "runnable)",
                            v->cpu, (int)v->pid, v->what, ms, q->nr_running);
                else
                        snprintf(buf, len,
                                 "cpu %d runs pid %d (%.16s) with ticks but no context switch for "
                                 "%llu ms, %u runnable",
                                 v->cpu, (int)v->pid, v->what, ms, q->nr_running);
                break;
        case BD_STATE_FROZEN: {
                unsigned online = 0, running = 0;
                for (unsigned i = 0; i < ncpus_of(s); i++) {
                        online += s->cpu[i].present != 0;
                        running += s->cpu[i].present && s->cpu[i].curr != s->cpu[i].idle;
                }
                int n = snprintf(buf, len,
                                 "nothing moved for %llu ms: jiffies %llu, rq clock and "
                                 "nr_switches of %u cpus (%u running a task), no panic",
                                 ms, (unsigned long long)s->jiffies, online, running);
                uint64_t due = running ? 0 : wake_due(c, s);
                if (due && n > 0 && (size_t)n < len && t_ns + c->cfg.wake_late_ns >= due)
                        snprintf(
                            buf + n, len - (size_t)n,
                            "; an idle cpu's clock was due to wake it %llu ms ago",
                            (unsigned long long)((t_ns + c->cfg.wake_late_ns - due) / 1000000));
                break;
        }
        case BD_STATE_HUNG_TASK:
                snprintf(buf, len, "pid %d (%.16s) in D state for %llu ms without a context switch",
                         (int)v->pid, v->what, (unsigned long long)(c->hung_ns / 1000000));
                break;
        case BD_STATE_EXHAUSTED:
                if (!strcmp(v->what, "memory"))
                        describe_memory(c, t_ns, ms, buf, len);
                else if (!strcmp(v->what, "threads"))
                        snprintf(buf, len, "nr_threads %lld of max_threads %lld",
                                 (long long)s->nr_threads, (long long)s->max_threads);
                else if (!strcmp(v->what, "pids"))
                        snprintf(buf, len, "%lld tasks hold pids of pid_max %lld (last pid %lld)",
                                 (long long)s->nr_threads, (long long)s->pid_max,
                                 (long long)s->pid_last);
                else
                        snprintf(buf, len, "nr_files %lld of max_files %lld",
                                 (long long)s->nr_files, (long long)s->max_files);
                break;
        case BD_STATE_REBOOTED:
                snprintf(buf, len, "%s; system_state %d", c->reboot_why, (int)s->system_state);
                break;
        case BD_STATE_SUSPICIOUS:
                snprintf(buf, len,
                         "the kernel's own two copies of VMCOREINFO disagree: edited in place; "
                         "every other verdict is read through it");
                break;
        }
}

static int report(struct bd_classifier *c, const struct bd_probe_sample *s,
                  const struct bd_classify_verdict *v, struct bd_event *ev)
{
        struct bd_classify_verdict *r = &c->reported;
        if (r->state == v->state && r->cpu == v->cpu && r->pid == v->pid &&
            !strcmp(r->what, v->what))
                return 0;
        memset(ev, 0, sizeof(*ev));
        ev->state = v->state;
        ev->previous = r->state;
        ev->t_ns = s->t_ns;
        ev->since_ns = v->since_ns < s->t_ns ? v->since_ns : s->t_ns;
        ev->cpu = v->cpu;
        ev->pid = v->pid;
        memcpy(ev->what, v->what, sizeof(ev->what));
        describe(c, v, s->t_ns, ev->evidence, sizeof(ev->evidence));
        *r = *v;
        return 1;
}

void bd_classifier_tickless(struct bd_classifier *c, uint64_t cpus)
{
        c->tickless = cpus;
}

void bd_classifier_new_kernel(struct bd_classifier *c, uint64_t t_ns, uint64_t phys)
{
        if (!c->rebooted) {
                snprintf(c->reboot_why, sizeof(c->reboot_why),
                         "another kernel's VMCOREINFO at %#llx", (unsigned long long)phys);
                c->reboot_since = t_ns;
        }
        forget_boot(c);
        snprintf(c->reboot_what, sizeof(c->reboot_what), "new kernel");
        c->new_boot = 1;
        c->have_base = c->have_pending = 0;
}

int bd_classifier_feed(struct bd_classifier *c, const struct bd_probe_sample *s,
                       struct bd_event *ev)
{
        if (!s->read_error) {
                c->transport_errors = c->other_errors = 0;
                /* A sample held back tells nothing yet, not even that the
                 * state before a run of errors still holds. */
                if (!judge(c, s))
                        return 0;
                return report(c, s, &c->target, ev);
        }
        int transport = bd_err_transport(s->read_error);
        unsigned *run = transport ? &c->transport_errors : &c->other_errors;
        /* An error the NIC sent back proves the NIC reachable, and the
         * reverse: each kind breaks the other's run. */
        *(transport ? &c->other_errors : &c->transport_errors) = 0;
        if ((*run)++ == 0)
                c->error_since = s->t_ns;
        c->last_error = s->read_error;
        struct bd_classify_verdict v = c->target;
        if (*run >= c->cfg.nic_errors)
                verdict(&v, transport ? BD_STATE_NIC_UNREACHABLE : BD_STATE_UNKNOWN, -1, 0, NULL, 0,
                        c->error_since);
        else if (c->reported.state == BD_STATE_NIC_UNREACHABLE ||
                 c->reported.state == BD_STATE_UNKNOWN)
                v = c->reported; /* wait for a good sample to re-evaluate */
        return report(c, s, &v, ev);
}
