/* A process of the target as an ELF core file that gdb opens, read from
 * its kernel's memory with no help from the target: each thread's user
 * registers (the pt_regs its last kernel entry saved at the top of its
 * kernel stack, fs_base and the segments from thread_struct), its FPU state
 * (the saved xsave buffer, made standard), the process's auxv, command
 * line, credentials and mapped files, and a PT_LOAD per VMA holding what
 * the kernel's own core dump would (views/core_notes.h decides). Works on a
 * live kernel and a dead one. */
#ifndef BD_CORE_H
#define BD_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/program.h"
#include "budget.h"

struct bd_core_thread {
        int32_t tid;
        int on_cpu;    /* running when read (or at the crash): see below */
        unsigned cpu;  /* the cpu it last ran on */
        int fpu_saved; /* its FPU state in memory is its own: off CPU, or
                        * the kernel marked the CPU's copy stale */
};

struct bd_core_stats {
        /* The threads, the one asked for first. A thread on a CPU has
         * registers from its last kernel entry (stale if it has run user
         * code since) and, unless fpu_saved, FPU state from before. */
        struct bd_core_thread *threads;
        size_t nthreads;
        unsigned segments;         /* PT_LOADs, one per VMA */
        uint64_t pages_read;       /* pages of memory in the core */
        uint64_t pages_zero;       /* never touched: holes in the file */
        uint64_t pages_swapped;    /* swapped out or migrating: zero in the core */
        uint64_t pages_unreadable; /* outside the source's windows: zero too */
        uint64_t file_bytes;       /* the core's size (sparse where zero) */
        int32_t ppid;
        char comm[17];
        struct bd_reads reads;
};

/* What a core may read and hold besides the memory it streams to the file:
 * the notes (some 12 KiB a thread with AVX-512's xsave) and the VMAs. */
#define BD_CORE_BUDGET (64u << 20)

/* Write pid's process to path (through path.tmp.PID, renamed whole; mode
 * 0600: a core holds the process's secrets). progress, if set, gets bytes
 * of address space done and total. Fails with BD_ERR_NOT_FOUND for no such
 * pid and for a kernel thread, BD_ERR_RANGE for a 32-bit process. */
struct bd_error *bd_core_write(struct bd_program *prog, int32_t pid, const char *path,
                               void (*progress)(uint64_t done, uint64_t total),
                               struct bd_core_stats *st);
void bd_core_stats_free(struct bd_core_stats *st);

#endif
