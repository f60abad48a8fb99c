/* A process of the target as a CRIU image directory, read from its
 * kernel's memory (live, frozen or dead) with no help from the target: the
 * images criu restore reads, in the installed criu's formats. Written:
 * inventory, pstree, core-TID per thread (registers with system calls
 * rewound as criu's dump rewinds them, FPU and xsave state, TLS, signal
 * mask, actions and pending signals (views/sigqueue.h), credentials, limits, robust futex list,
 * rseq, alternate signal stack), ids, mm (its fields, VMAs, auxv), the process's memory (pagemap
 * and pages: every present page of its private mappings but zero pages), its files (files_image.h:
 * regular files, stateless devices, listening TCP sockets and established connections with their
 * queues, cwd, root, umask), an empty seccomp image, the time namespace (the kernel's clocks at its
 * last tick, so that the restored process's clocks go on from them), and DIR/takeover, what a
 * standby needs besides criu (standby/bd-standby-restore); for a process using libbdagent, its
 * beacon's memfd and its last commit point (agent_image.h). criu restore brings such a process
 * back. Refused, naming the cause, whatever the images would silently lose: fd kinds not written
 * yet, seccomp filters, POSIX and interval timers; and a process being killed (SIGKILL pending). */
#ifndef BD_RESURRECT_H
#define BD_RESURRECT_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/program.h"
#include "../views/budget.h"
#include "agent_image.h"
#include "files_image.h"
#include "syscall_restart.h"

struct bd_resurrect_thread {
        int32_t tid;
        int on_cpu;
        enum bd_syscall_fix fix; /* what was done to its registers */
        int64_t syscall;         /* the call it was in, -1 for none */
};

struct bd_resurrect_stats {
        struct bd_resurrect_thread *threads;
        size_t nthreads;
        size_t vmas;
        uint64_t pages;                        /* in pages-1.img */
        uint64_t pages_zero;                   /* never touched, or the zero page: not written */
        uint64_t pages_read, pages_read_again; /* bd_user_pages_counts() */
        size_t signals;                        /* pending, the threads' and the process's */
        struct bd_files_image_stats files;
        struct bd_agent_resurrection agent; /* libbdagent's beacon, if mapped */
        struct bd_reads reads;
        /* 1: the kernel's jiffies moved while the process was read, so it
         * still runs, and so may the process; 0: they stood still; -1: no
         * jiffies_64 to tell by. */
        int kernel_ran;
};

struct bd_resurrect_options {
        /* Take threads that were on a CPU anyway: their registers are
         * those of their last kernel entry, their FPU state maybe older. */
        int force;
};

/* Write pid's process into the image directory dir, which must not exist
 * (built as dir.tmp.PID, renamed whole). Refuses, naming the cause, a
 * thread that was on a CPU (without force; BD_ERR_RANGE), a 32-bit process
 * (BD_ERR_RANGE), swapped-out pages (BD_ERR_RANGE); BD_ERR_NOT_FOUND for no
 * such pid and a kernel thread. */
struct bd_error *bd_resurrect_images(struct bd_program *prog, int32_t pid, const char *dir,
                                     const struct bd_resurrect_options *opt,
                                     struct bd_resurrect_stats *st);
void bd_resurrect_stats_free(struct bd_resurrect_stats *st);

#endif
