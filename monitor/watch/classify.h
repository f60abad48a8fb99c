/* The failure classifier of `bdmon watch`: pure logic turning a stream of
 * probe samples into the target's state, with no I/O. It must be fast and
 * never wrong, so a verdict needs positive evidence (panic_cpu, a taint bit)
 * or a stall measured as a lower bound in monitor time, and a single
 * implausible sample never changes anything.
 *
 * What each state needs (defaults of bd_classify_config_default()):
 *   panicked     panic_cpu in [0, ncpus): at once, kept until a reboot.
 *   oops         TAINT_DIE newly set or oops_in_progress > 0. Kept as the
 *                background state instead of "healthy" until a reboot: a
 *                kernel that oopsed is not healthy, but later lockups etc.
 *                still show over it.
 *   rebooted     boot_id_hash or jiffies discontinuous in 2 samples in a row,
 *                or another kernel found by its VMCOREINFO (announced
 *                again, as "rebooted (new kernel)", once that one is probed);
 *                kept until the new kernel reaches SYSTEM_RUNNING.
 *   hard-lockup  a cpu running a task whose rq clock gets no ticks and which
 *                does not switch for 200 ms while jiffies or other cpus move.
 *   soft-lockup  a cpu with ticks (rq clock moving) and nr_running >= 2 that
 *                does not switch for 200 ms, or TAINT_SOFTLOCKUP newly set;
 *                or a cpu with ticks whose real-time task (prio < 100)
 *                does not switch for 200 ms while RT throttling is off.
 *                That task starves the kernel threads bound to the cpu as
 *                soon as they wake, where a real-time task that gives its
 *                cpu up, or a nohz_full cpu left tickless to a poller,
 *                starves nobody and is no fault.
 *   frozen       nothing moves (jiffies, every rq clock and nr_switches) for
 *                150 ms while a cpu runs a task. If every cpu idles (NOHZ
 *                stops everything then), for 150 ms and past the moment an
 *                idle cpu's clock was set to wake it (its expires_next less
 *                the time it went idle, counted from the first sample that
 *                saw it asleep) by 250 ms; 5 s when no cpu says when.
 *   hung-task    the slow scan reports a task in D for 1 s without switching
 *                (30 s while a rebooted kernel has not reached SYSTEM_RUNNING).
 *   exhausted    threads, pids or files at >= 95% of their limit in 2 samples
 *                (cleared under 90%), or memory: an OOM kill in the last
 *                second (cleared once free pages are 10% over the min
 *                watermarks), or available memory (free pages + file LRU)
 *                under 8% of RAM in 2 samples (cleared at 12%).
 *   nic-unreachable  3 transport errors in a row; the target state is kept
 *                aside and re-evaluated on the next good sample.
 *   unknown      before the first good sample, or after 3 probes in a row
 *                that the NIC answered with an error (target memory
 *                unreadable).
 * When several hold: panicked > oops (the sample it appears in) > frozen >
 * hard-lockup > soft-lockup > hung-task > exhausted > rebooted > oops
 * (background) > healthy. Frozen beats the per-cpu lockups because those
 * need the rest of the machine to move; once nothing moves a cpu lockup can
 * no longer be told from a stopped machine.
 *
 * The available-memory shares. Free pages plus the file LRU is more than
 * the kernel's MemAvailable by its reserves (high watermarks, lowmem
 * reserves) and part of the cache: on the lab's host2 (455 MiB of RAM, no
 * swap, THP off below 512 MiB so min_free_kbytes stays near 2.7 MiB) by
 * about 4-9 MiB. bdhog's persistent memory hog stops short of the OOM
 * killer with MemAvailable at 3-4% of RAM: 4-6% by this count, so 5% would
 * catch it only now and then. Idle, host2 has about three quarters of its
 * RAM available (its ~50 MB tmpfs root counts as used), and under the lab's
 * stress-ng soak (--vm 96M, --hdd 16M on tmpfs) about half. 8% catches the
 * hog with ~10 MiB to spare and stays far from any healthy load; clearing
 * at 12% keeps a hog that lets a little go from flapping. A machine that
 * keeps little cache by design (a database sized to its RAM) may need
 * lower shares. */
#ifndef BD_CLASSIFY_H
#define BD_CLASSIFY_H

#include <stdint.h>

#include "probe_sample.h"

enum bd_state {
        BD_STATE_UNKNOWN = 0,
        BD_STATE_HEALTHY,
        BD_STATE_PANICKED,
        BD_STATE_OOPS,
        BD_STATE_HARD_LOCKUP,
        BD_STATE_SOFT_LOCKUP,
        BD_STATE_FROZEN,
        BD_STATE_HUNG_TASK,
        BD_STATE_EXHAUSTED,
        BD_STATE_REBOOTED,
        BD_STATE_NIC_UNREACHABLE,
        BD_STATE_SUSPICIOUS,
};
#define BD_STATE_LAST BD_STATE_SUSPICIOUS

/* A change of verdict: of state, or of its subject (another cpu, task or
 * resource in the same state). */
struct bd_event {
        enum bd_state state, previous;
        uint64_t t_ns;      /* monitor time the verdict was reached */
        uint64_t since_ns;  /* monitor time of the first evidence (<= t_ns) */
        int cpu;            /* the cpu concerned, or -1 */
        int32_t pid;        /* the task concerned, or 0 */
        char what[32];      /* resource name or task comm, or "" */
        char evidence[256]; /* one human line: which signals, how long */
};

struct bd_classify_config {
        uint64_t interval_ns;    /* probe period; a tick_gap_ns of 0 becomes 5 of them */
        uint64_t frozen_ns;      /* nothing moves while a cpu runs a task */
        uint64_t frozen_idle_ns; /* ... while every cpu idles, none saying when it wakes */
        uint64_t wake_late_ns;   /* how late an idle cpu may wake after its clock's event */
        uint64_t hard_lockup_ns;
        uint64_t soft_lockup_ns;
        uint64_t tick_gap_ns; /* longest gap between ticks of a cpu that runs a task */
        uint64_t hung_task_ns;
        unsigned exhausted_pct; /* enter "exhausted" at this share of a limit */
        unsigned recovered_pct; /* leave it under this share */
        uint64_t oom_window_ns; /* how recent an OOM kill counts */
        unsigned mem_low_pct;   /* enter "exhausted" (memory) under this share of RAM available */
        unsigned mem_ok_pct;    /* leave it at this share */
        unsigned nic_errors;    /* transport errors in a row for nic-unreachable */
        int32_t system_running; /* SYSTEM_RUNNING's value in the target's enum */
        uint64_t ignore_cpus;   /* never judged: nohz_full cpus stop their tick while busy */
};

/* Per-cpu tracking (internal). */
struct bd_classify_cpu {
        int known;          /* has a previous accepted reading */
        int clock_moved;    /* rq clock moved in the previous accepted sample */
        int waiting;        /* nr_running >= 2 since t_wait, without a switch */
        int lock;           /* BD_STATE_HARD_LOCKUP, _SOFT_LOCKUP or 0 */
        int taint_soft;     /* the kernel's softlockup verdict points here */
        int held_rt;        /* the soft lockup is a real-time task's hold, nobody waiting yet */
        int rt;             /* its task has been seen real-time since t_rt, without a switch */
        int tick_alone;     /* the last sample saw a watchdog tick but no switch */
        int pair_alone;     /* the last sample saw two switches back to the same task but no tick */
        int away;           /* the last sample saw another task after one switch */
        int away_tick;      /* ... with a watchdog tick in it or just before */
        uint64_t away_from; /* the task it left, its pid and comm (a lockup names it) */
        int32_t away_pid;
        char away_comm[16];
        uint64_t t_switch; /* last sample where it switched, went idle or came up */
        uint64_t t_tick;   /* last sample where its clock moved twice in a row */
        uint64_t t_wait;
        uint64_t t_others; /* last sample where jiffies or another cpu moved */
        uint64_t t_pair;   /* the sample of pair_alone */
        uint64_t t_away;   /* the sample of away */
        uint64_t t_rt;     /* the first sample that saw its task real-time */
        /* The idle_since this cpu sleeps from, and the first sample that
         * saw it asleep (monitor time, no earlier than it fell asleep). */
        uint64_t idle_since, t_asleep;
        /* Target time (bd_classifier.tnow) at t_switch, t_tick, t_wait, t_pair, t_away, t_rt. */
        uint64_t n_switch, n_tick, n_wait, n_pair, n_away, n_rt;
};

/* A verdict (internal). */
struct bd_classify_verdict {
        enum bd_state state;
        int cpu;
        int32_t pid;
        char what[32];
        uint64_t since_ns;
};

enum { BD_CLASSIFY_RESOURCES = 4 }; /* memory, threads, pids, files */

struct bd_classifier {
        struct bd_classify_config cfg;
        struct bd_classify_verdict reported; /* what feed() last announced */
        struct bd_classify_verdict target;   /* the target's state, apart from the NIC */
        int have_base, have_pending;
        struct bd_probe_sample base;    /* last accepted sample */
        struct bd_probe_sample pending; /* an implausible one awaiting confirmation */
        uint64_t t_progress;            /* last sample where anything moved */
        /* The target's own time: the latest rq clock, advancing at most as
         * fast as monitor time. A stall must last in both, or time while
         * the target did not run (paused, unreachable) would count. */
        int have_tnow;
        uint64_t tnow;
        uint64_t taint_known; /* taint bits seen so far this boot */
        int panicked, oopsed, rebooted;
        int new_boot;          /* the next sample is a new kernel's first */
        unsigned reboots_seen; /* in the samples (not those told by bd_classifier_new_kernel) */
        int32_t panic_cpu;
        uint64_t panic_since, oops_since, reboot_since;
        char oops_why[96], reboot_why[96];
        char reboot_what[16]; /* "new kernel" once the watch probes it */
        int hung;
        int32_t hung_pid;
        char hung_comm[16];
        uint64_t hung_ns, hung_since;
        int have_oom;
        uint64_t t_oom;
        int res_over[BD_CLASSIFY_RESOURCES]; /* consecutive samples over the limit */
        int res_on[BD_CLASSIFY_RESOURCES];
        uint64_t res_since[BD_CLASSIFY_RESOURCES];
        unsigned transport_errors, other_errors; /* in a row */
        int last_error;
        uint64_t error_since;
        struct bd_classify_cpu cpu[BD_PROBE_MAX_CPUS];
        uint64_t tickless; /* the kernel's nohz_full cpus: not judged either */
};

struct bd_classify_config bd_classify_config_default(void);
/* cfg NULL: the defaults. The state starts as unknown. */
void bd_classifier_init(struct bd_classifier *c, const struct bd_classify_config *cfg);
/* Judge one more sample (in monitor time order). 1 and ev filled when the
 * verdict changed, else 0. */
int bd_classifier_feed(struct bd_classifier *c, const struct bd_probe_sample *s,
                       struct bd_event *ev);
/* The samples from now on are another kernel's, found at phys by its
 * VMCOREINFO after the one probed so far went away: a reboot at t_ns
 * (unless one was seen already), announced with the first of them even
 * if that kernel already runs, and nothing of the old kernel's samples is
 * held against them. */
void bd_classifier_new_kernel(struct bd_classifier *c, uint64_t t_ns, uint64_t phys);
/* The probed kernel's nohz_full cpus (0-63), not judged besides
 * cfg.ignore_cpus until told again: its probe says which when opened. */
void bd_classifier_tickless(struct bd_classifier *c, uint64_t cpus);
const char *bd_state_name(enum bd_state state);

#endif
