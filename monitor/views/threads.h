/* A process's threads with the user state their kernel saved for them:
 * what a core file and a checkpoint image are made of. Each thread's
 * pt_regs (at the top of its kernel stack, saved on its last kernel
 * entry), fs/gs bases and segments, TLS descriptors, signal state, its
 * FPU state (the xsave buffer its fpstate holds) and the kernel's xsave
 * geometry to read that buffer with. The threads come from the process's
 * signal_struct list, bounded and checked to share one mm and one signal
 * struct. */
#ifndef BD_THREADS_H
#define BD_THREADS_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/program.h"
#include "budget.h"
#include "core_notes.h"

/* x86-64's kernel stacks (THREAD_SIZE) without KASAN, which Debian's
 * kernels do not enable; pt_regs ends the stack (no top padding on 64-bit). */
#define BD_THREAD_SIZE 16384u

struct bd_thread {
        uint64_t task; /* struct task_struct * */
        int32_t pid, tgid, ppid;
        uint32_t on_cpu, cpu, state, flags, policy, personality;
        int32_t static_prio, exit_code;
        uint64_t ti_flags;
        uint64_t pending, blocked; /* the thread's own pending set, its mask */
        uint64_t utime, stime;     /* ns */
        uint64_t fsbase, gsbase;
        uint16_t fsindex, gsindex, es, ds;
        uint8_t tls[24]; /* thread.tls_array: 3 GDT descriptors */
        uint32_t pkru;
        char comm[16];
        uint64_t mm, signal, sighand, real_cred, parent, stack;
        /* What checkpoints restore besides registers; 0 where the kernel
         * lacks the member. */
        uint64_t clear_child_tid, robust_list, sas_ss_sp, sas_ss_size, rseq;
        uint32_t sas_ss_flags, rseq_sig;
        uint8_t regs[BD_PT_REGS_SIZE]; /* pt_regs */
        uint64_t fpstate;              /* struct fpstate * */
        uint32_t fp_size;
        uint64_t fp_user_xfeatures;
        uint8_t *xsave; /* fp_size bytes */
};

struct bd_threads {
        struct bd_thread *t; /* the thread asked for first */
        size_t n;
        struct bd_xstate_geometry geometry;
};

/* What reading a process's threads may hold, xsave buffers included. */
#define BD_THREADS_BUDGET (64u << 20)

/* The threads of pid's process. BD_ERR_NOT_FOUND for no such pid, or one
 * with no user memory (a kernel thread, or one that has exited). */
struct bd_error *bd_threads_read(struct bd_program *prog, int32_t pid, uint64_t budget,
                                 struct bd_threads **out);
void bd_threads_free(struct bd_threads *ts);

/* NULL when the thread's saved frame is a 64-bit user one (the cs of
 * pt_regs); BD_ERR_RANGE for a 32-bit process (pid), BD_ERR_PROTOCOL for
 * anything else. */
struct bd_error *bd_thread_user_frame(const struct bd_thread *t, int32_t pid);
/* Whether the thread's FPU state in memory is its own: it was off CPU, or
 * the kernel marked the CPU's registers stale (TIF_NEED_FPU_LOAD). */
int bd_thread_fpu_saved(const struct bd_thread *t);
/* The thread's FPU state in the standard layout (core_notes.h):
 * ts->geometry.user_max_size bytes into xstate, the legacy area into fx. */
struct bd_error *bd_thread_xstate(const struct bd_threads *ts, size_t i, uint8_t *xstate,
                                  uint8_t fx[BD_FXSAVE_SIZE]);

#endif
