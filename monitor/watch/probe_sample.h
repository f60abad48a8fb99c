/* One reading of a target's liveness signals, taken by `bdmon watch`'s probe
 * in a single pipelined batch every ~10 ms and judged by monitor/classify.h.
 * Values are raw kernel memory: the probe validates nothing, so any of them
 * can be torn or garbage and the classifier must cope. */
#ifndef BD_PROBE_SAMPLE_H
#define BD_PROBE_SAMPLE_H

#include <stdint.h>

#define BD_PROBE_MAX_CPUS 64

struct bd_probe_cpu {
        int present;                 /* read this probe (cpu possible and online) */
        uint64_t hrtimer_interrupts; /* per-CPU watchdog hrtimer count: moves only every ~4 s
                                        (watchdog_thresh*2/5) */
        uint64_t touch_ts;    /* per-CPU watchdog_touch_ts, seconds of running_clock() (softlockup
                                 timestamp) */
        uint64_t nr_switches; /* rq->nr_switches */
        uint64_t clock; /* rq->clock, ns: advances on ticks and scheduling events; stops on an idle
                           NOHZ cpu */
        uint64_t curr;  /* rq->curr task pointer */
        uint64_t idle;  /* rq->idle task pointer: curr == idle means the cpu idles */
        int32_t curr_pid;   /* curr's pid */
        char curr_comm[16]; /* curr's comm, not NUL-terminated if 16 long */
        /* 1 when curr's prio is a real-time one (below 100: SCHED_FIFO or
         * SCHED_RR, or boosted to one), which no fair task preempts; 0 for
         * any other, or when not read. */
        int curr_rt;
        /* rq->nr_running (0: not read). Added because a cpu running one task
         * alone legitimately never switches: only a task waiting behind it
         * (the softlockup watchdog's stopper comes every ~4 s) makes a
         * still nr_switches mean a soft lockup. */
        uint32_t nr_running;
        /* hrtimer interrupts taken (hrtimer_bases.nr_events; 0: not read).
         * Every tick is one, and nothing but an interrupt on that very cpu
         * moves it, whereas another cpu may update this rq's clock (a
         * remote wakeup) while this one has interrupts off. */
        uint64_t timer_irqs;
        /* When the cpu last went idle or came back to idle from an
         * interrupt (tick_sched.idle_entrytime), and the next event its
         * clock is set to fire (hrtimer_cpu_base.expires_next), both the
         * target's CLOCK_MONOTONIC ns; 0: not read. A NOHZ idle cpu sleeps
         * until then, no longer: one still asleep well after it, with
         * nothing else moving, has stopped. */
        uint64_t idle_since, wake_at;
};

struct bd_probe_sample {
        uint64_t t_ns;    /* monitor CLOCK_MONOTONIC when the reply arrived */
        uint64_t rtt_ns;  /* probe round-trip */
        int read_error;   /* 0, or the enum bd_err of a failed probe (BD_ERR_UNREACHABLE, BD_ERR_IO:
                             NIC problems; others: target memory problems) */
        uint64_t jiffies; /* jiffies_64 */
        int32_t panic_cpu;        /* -1 (PANIC_CPU_INVALID) unless panicking */
        int32_t oops_in_progress; /* > 0 while an oops or panic is being reported */
        uint64_t
            tainted_mask; /* bit 7 TAINT_DIE: an oops happened; bit 14 TAINT_SOFTLOCKUP; 9 WARN */
        int32_t system_state;  /* enum system_states: 3 RUNNING since Linux 4.17 (FREEING_INITMEM is
                                  2), then HALT.. */
        uint64_t boot_id_hash; /* something that changes on reboot (e.g. KASLR offset ^ vmcoreinfo
                                  location); 0 unknown */
        int64_t nr_threads, max_threads; /* nr_threads and max_threads */
        int64_t pid_last, pid_max;       /* last allocated pid (idr_next) and pid_max */
        int64_t nr_files, max_files;     /* files_stat nr_files (summed) and max_files */
        int64_t free_pages;              /* NR_FREE_PAGES (-1 unknown) */
        int64_t min_free_pages;          /* the sum of zones' min watermarks (0 unknown) */
        /* The file LRU (NR_ACTIVE_FILE + NR_INACTIVE_FILE; -1 unknown) and
         * _totalram_pages (0 unknown). Added because, without swap, free
         * pages plus the cache reclaim can drop is all the kernel can still
         * hand out: a hog may hold that near nothing and never trip the OOM
         * killer. */
        int64_t file_pages, total_pages;
        uint64_t oom_kills;         /* vm event OOM_KILL, summed over cpus */
        int64_t nr_uninterruptible; /* rq->nr_uninterruptible summed: tasks in D (-1 unknown) */
        /* sysctl_sched_rt_runtime and sysctl_sched_rt_period, in us (both
         * 0: not read). A runtime of -1, or one as long as the period,
         * turns RT throttling off: then nothing takes a cpu from a
         * real-time task that will not give it up. */
        int32_t rt_runtime_us;
        uint32_t rt_period_us;
        unsigned ncpus; /* entries of cpu[] filled (nr_cpu_ids, at most BD_PROBE_MAX_CPUS) */
        struct bd_probe_cpu cpu[BD_PROBE_MAX_CPUS];
        /* Filled by a slower scan (every ~500 ms), else hung_pid 0: the task in D state longest
         * without a context switch. */
        int hung_scanned; /* 1 if this sample carries that scan: only then does hung_pid 0 mean
                             "none" */
        int32_t hung_pid;
        char hung_comm[16];
        uint64_t hung_ns;
        /* Not read by the probe: the kernel's description (VMCOREINFO)
         * passed the checks but its own two copies disagree. */
        int suspicious;
};

#endif
