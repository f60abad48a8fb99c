/* Every task of the target, read as ps needs it: from the initial pid
 * namespace's IDR (an xarray, read a tree level per round trip), each pid's
 * task, then the fields of all tasks in one batch and what they point to
 * (parent, mm, runqueue clock) in another. Works from BTF or a stored
 * layout; a task whose memory does not read is counted, not fatal. */
#ifndef BD_TASKS_H
#define BD_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/program.h"

struct bd_task {
        uint64_t addr;
        int32_t pid, tgid, ppid;
        uint32_t state, flags;
        int32_t exit_state;
        uint32_t cpu;
        int32_t on_cpu;
        int32_t prio;
        uint32_t rt_priority, policy;
        char comm[17];
        uint64_t mm;
        int64_t rss_pages;    /* -1: no mm (kernel thread) or unreadable */
        int64_t since_run_ns; /* since its last run was accounted; -1 unknown */
        uint64_t nvcsw, nivcsw;
        uint64_t start_time; /* ns after boot */
        /* What a repair acts on, 0 and -1 when the layout lacks them. */
        uint64_t sigpending;  /* pending.signal.sig[0]: the thread's own set */
        uint64_t ti_flags;    /* thread_info.flags */
        uint64_t signal;      /* its signal_struct */
        int64_t signal_flags; /* signal_struct.flags */
};

struct bd_tasks_stats {
        uint64_t pids;        /* IDR entries */
        uint64_t unreadable;  /* tasks whose memory did not read */
        uint64_t batches;     /* waits for a pipelined batch: the dependent steps */
        uint64_t round_trips; /* operations on the source */
        uint64_t bytes_read;
        uint64_t elapsed_ns;
};

struct bd_tasks {
        struct bd_task *t; /* by pid */
        size_t n;
        struct bd_tasks_stats st;
};

/* ps's default budget (budget.h): at about 1.3 KiB read and held a task
 * (6.1's fields of a task_struct, the task kept, the reads' entries), some
 * 100,000 tasks. */
#define BD_TASKS_BUDGET (128u << 20)
/* pid_max can be raised to 4M (PID_MAX_LIMIT on 64-bit): no pid above. */
#define BD_PID_MAX_LIMIT (4u << 20)

/* threads: every thread, else thread-group leaders only (as ps). Fails
 * with BD_ERR_RANGE when the IDR holds more tasks than the budget allows
 * (tasks of both kinds count: which are threads is known once read). */
struct bd_error *bd_tasks_read(struct bd_program *prog, int threads, struct bd_tasks **out);
void bd_tasks_free(struct bd_tasks *t);

/* The task_struct of pid (in the initial pid namespace). */
struct bd_error *bd_task_by_pid(struct bd_program *prog, int32_t pid, uint64_t *task);
/* What the pointer member of pid's task_struct holds (BDL_TASK_MM,
 * BDL_TASK_FILES), as read: maybe NULL, maybe wild. */
struct bd_error *bd_task_pointer(struct bd_program *prog, int32_t pid, enum bd_layout_id member,
                                 uint64_t *out);

/* The letter ps shows, from __state and exit_state: R S D T t X Z P I. */
char bd_task_state_char(uint32_t state, int32_t exit_state);
/* "TS", "FF", "RR", "B", "IDL", "DLN" as ps -o cls. */
const char *bd_task_policy_name(uint32_t policy);

/* PF_KTHREAD (include/linux/sched.h): no user address space. */
#define BD_PF_KTHREAD 0x00200000u

#endif
