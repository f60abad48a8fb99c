#include "threads.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/bytes.h"
#include "../../common/grow.h"
#include "tasks.h"
#include "../walk/walk.h"
#include "../walk/walk_list.h"

/* thread_info.flags: the CPU's FPU registers are not this task's, the
 * saved state is (arch/x86/include/asm/thread_info.h). */
#define TIF_NEED_FPU_LOAD 14
/* What a thread costs besides its xsave buffer: itself and its reads. */
#define THREAD_COST (sizeof(struct bd_thread) + 40 * sizeof(struct bd_kernel_iov))
/* Far more threads than pid_max allows tasks (PID_MAX_LIMIT, 4M). */
#define THREADS_MAX (1u << 22)

/* The task_struct members read of every thread, with the size each is
 * read as; the optional ones (checkpoint state) are 0 where the kernel
 * lacks them. */
static const struct field {
        enum bd_layout_id id;
        uint8_t size;
        uint8_t optional;
        size_t at; /* in struct bd_thread */
} fields[] = {
#define F(id, member, opt)                                                                         \
        {                                                                                          \
                BDL_##id, sizeof(((struct bd_thread *)0)->member), opt,                            \
                    offsetof(struct bd_thread, member)                                             \
        }
    F(TASK_PID, pid, 0),
    F(TASK_TGID, tgid, 0),
    F(TASK_ON_CPU, on_cpu, 0),
    F(TASK_CPU, cpu, 0),
    F(TASK_STATE, state, 0),
    F(TASK_FLAGS, flags, 0),
    F(TASK_POLICY, policy, 0),
    F(TASK_STATIC_PRIO, static_prio, 0),
    F(TASK_TI_FLAGS, ti_flags, 0),
    F(TASK_PENDING, pending, 0),
    F(TASK_BLOCKED, blocked, 0),
    F(TASK_UTIME, utime, 0),
    F(TASK_STIME, stime, 0),
    F(THREAD_FSBASE, fsbase, 0),
    F(THREAD_GSBASE, gsbase, 0),
    F(THREAD_FSINDEX, fsindex, 0),
    F(THREAD_GSINDEX, gsindex, 0),
    F(THREAD_ES, es, 0),
    F(THREAD_DS, ds, 0),
    F(THREAD_PKRU, pkru, 0),
    F(THREAD_FPSTATE, fpstate, 0),
    F(TASK_COMM, comm, 0),
    F(TASK_MM, mm, 0),
    F(TASK_SIGNAL, signal, 0),
    F(TASK_REAL_CRED, real_cred, 0),
    F(TASK_REAL_PARENT, parent, 0),
    F(TASK_STACK, stack, 0),
    F(TASK_PERSONALITY, personality, 1),
    F(TASK_EXIT_CODE, exit_code, 1),
    F(THREAD_TLS, tls, 1),
    F(TASK_SIGHAND, sighand, 1),
    F(TASK_CLEAR_CHILD_TID, clear_child_tid, 1),
    F(TASK_ROBUST_LIST, robust_list, 1),
    F(TASK_SAS_SS_SP, sas_ss_sp, 1),
    F(TASK_SAS_SS_SIZE, sas_ss_size, 1),
    F(TASK_SAS_SS_FLAGS, sas_ss_flags, 1),
    F(TASK_RSEQ, rseq, 1),
    F(TASK_RSEQ_SIG, rseq_sig, 1),
#undef F
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

struct reader {
        struct bd_program *prog;
        const struct bd_layout *l;
        int64_t off[NFIELDS], thread_node;
        uint8_t have[NFIELDS];
        struct bd_threads *ts;
        size_t cap;
        uint64_t budget;
        int32_t pid;
};

static struct bd_error *plan(struct reader *r)
{
        struct bd_error *err = bd_program_layout(r->prog, &r->l);
        if (!err)
                err = bd_layout_get(r->l, BDL_TASK_THREAD_NODE, &r->thread_node);
        for (size_t f = 0; !err && f < NFIELDS; f++) {
                if (fields[f].optional && !bd_layout_has(r->l, fields[f].id, &r->off[f]))
                        continue;
                if (!(err = bd_layout_get_sized(r->l, fields[f].id, fields[f].size, &r->off[f])))
                        r->have[f] = 1;
        }
        return err;
}

static struct bd_error *add_thread(void *arg, uint64_t node)
{
        struct reader *r = arg;
        struct bd_threads *ts = r->ts;
        struct bd_error *err = bd_budget_check(ts->n + 1, THREAD_COST, r->budget, "threads");
        if (err)
                return err;
        if (ts->n >= THREADS_MAX)
                return bd_error_new(BD_ERR_RANGE, "more than %u threads", THREADS_MAX);
        if (bd_grow((void **)&ts->t, &r->cap, ts->n + 1, sizeof(*ts->t), 16))
                return &bd_error_nomem;
        memset(&ts->t[ts->n], 0, sizeof(ts->t[0]));
        ts->t[ts->n++].task = node - (uint64_t)r->thread_node;
        return NULL;
}

static struct bd_error *read_fields(struct reader *r, struct bd_thread *t, size_t n)
{
        struct bd_kernel_iov *iov = calloc(n * NFIELDS + 1, sizeof(*iov));
        if (!iov)
                return &bd_error_nomem;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
                for (size_t f = 0; f < NFIELDS; f++)
                        if (r->have[f])
                                iov[m++] = (struct bd_kernel_iov){t[i].task + (uint64_t)r->off[f],
                                                                  (uint8_t *)&t[i] + fields[f].at,
                                                                  fields[f].size};
        struct bd_error *err = bd_walk_read(r->prog->k, iov, m, "task");
        free(iov);
        return err;
}

/* The task pid names, then every task on its signal_struct's list. */
static struct bd_error *find_threads(struct reader *r)
{
        struct bd_kernel *k = r->prog->k;
        struct bd_threads *ts = r->ts;
        uint64_t task;
        struct bd_error *err = bd_task_by_pid(r->prog, r->pid, &task);
        if (err || (err = add_thread(r, task + (uint64_t)r->thread_node)) ||
            (err = read_fields(r, ts->t, 1)))
                return err;
        struct bd_thread first = ts->t[0];
        if (!first.mm || (first.flags & BD_PF_KTHREAD))
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "pid %d is a kernel thread or has exited: it has no user "
                                    "memory",
                                    r->pid);
        if (!bd_walk_kptr_ok(k, first.signal, 8))
                return bd_error_new(BD_ERR_PROTOCOL, "pid %d: signal pointer 0x%" PRIx64, r->pid,
                                    first.signal);
        int64_t head;
        if ((err = bd_layout_get(r->l, BDL_SIGNAL_THREAD_HEAD, &head)))
                return err;
        ts->n = 0;
        struct bd_walk_opts o = {.max = THREADS_MAX, .check_prev = 1};
        if ((err = bd_list_walk(k, first.signal + (uint64_t)head, &o, add_thread, r)))
                return bd_error_wrap(err, "pid %d: thread list", r->pid);
        if (!ts->n)
                return bd_error_new(BD_ERR_PROTOCOL, "pid %d: an empty thread list", r->pid);
        if ((err = read_fields(r, ts->t, ts->n)))
                return err;
        for (size_t i = 0; i < ts->n; i++) {
                if (ts->t[i].signal != first.signal || ts->t[i].mm != first.mm)
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "pid %d: thread at 0x%" PRIx64
                                            " belongs to another process",
                                            r->pid, ts->t[i].task);
                if (ts->t[i].pid == r->pid && i) {
                        struct bd_thread tmp = ts->t[0];
                        ts->t[0] = ts->t[i];
                        ts->t[i] = tmp;
                }
        }
        return NULL;
}

/* Each thread's pt_regs, the size and user features of its FPU state and
 * its parent's pid in one batch; then the xsave buffers in another. */
static struct bd_error *read_thread_state(struct reader *r)
{
        struct bd_kernel *k = r->prog->k;
        struct bd_threads *ts = r->ts;
        int64_t pt_regs_size, fp_size, fp_user, fp_regs, tgid;
        struct bd_error *err = bd_layout_get(r->l, BDL_PT_REGS, &pt_regs_size);
        if (!err)
                err = bd_layout_get_sized(r->l, BDL_FPSTATE_SIZE, 4, &fp_size);
        if (!err)
                err = bd_layout_get_sized(r->l, BDL_FPSTATE_USER_XFEATURES, 8, &fp_user);
        if (!err)
                err = bd_layout_get(r->l, BDL_FPSTATE_REGS, &fp_regs);
        if (!err)
                err = bd_layout_get(r->l, BDL_TASK_TGID, &tgid);
        if (err)
                return err;
        if (pt_regs_size != BD_PT_REGS_SIZE)
                return bd_error_new(BD_ERR_PROTOCOL, "struct pt_regs is %lld bytes, not %d",
                                    (long long)pt_regs_size, BD_PT_REGS_SIZE);
        struct bd_kernel_iov *iov = calloc(4 * ts->n + 1, sizeof(*iov));
        if (!iov)
                return &bd_error_nomem;
        size_t m = 0;
        for (size_t i = 0; i < ts->n; i++) {
                struct bd_thread *t = &ts->t[i];
                uint64_t stack = t->stack;
                if (!bd_walk_kptr_ok(k, stack, 4096) || !bd_walk_kptr_ok(k, t->fpstate, 64) ||
                    !bd_walk_kptr_ok(k, t->parent, 8)) {
                        free(iov);
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "thread %d: stack 0x%" PRIx64 ", FPU state 0x%" PRIx64
                                            " or parent 0x%" PRIx64 " is no kernel pointer",
                                            t->pid, stack, t->fpstate, t->parent);
                }
                iov[m++] = (struct bd_kernel_iov){stack + BD_THREAD_SIZE - BD_PT_REGS_SIZE, t->regs,
                                                  BD_PT_REGS_SIZE};
                iov[m++] = (struct bd_kernel_iov){t->fpstate + (uint64_t)fp_size, &t->fp_size, 4};
                iov[m++] = (struct bd_kernel_iov){t->fpstate + (uint64_t)fp_user,
                                                  &t->fp_user_xfeatures, 8};
                iov[m++] = (struct bd_kernel_iov){t->parent + (uint64_t)tgid, &t->ppid, 4};
        }
        err = bd_walk_read(k, iov, m, "thread state");
        m = 0;
        for (size_t i = 0; !err && i < ts->n; i++) {
                struct bd_thread *t = &ts->t[i];
                if (t->fp_size < BD_XSAVE_HDR_END || t->fp_size > BD_XSTATE_MAX) {
                        err = bd_error_new(BD_ERR_PROTOCOL, "thread %d: FPU state of %u bytes",
                                           t->pid, t->fp_size);
                        break;
                }
                if ((err = bd_budget_check(ts->n, THREAD_COST + t->fp_size, r->budget, "threads")))
                        break;
                if (!(t->xsave = malloc(t->fp_size))) {
                        err = &bd_error_nomem;
                        break;
                }
                iov[m++] =
                    (struct bd_kernel_iov){t->fpstate + (uint64_t)fp_regs, t->xsave, t->fp_size};
        }
        if (!err)
                err = bd_walk_read(k, iov, m, "FPU state");
        free(iov);
        return err;
}

/* The kernel's xsave geometry, from its own tables. */
static struct bd_error *read_geometry(struct reader *r, struct bd_xstate_geometry *g)
{
        struct bd_program *prog = r->prog;
        int64_t nfeat, max_size, max_feat, fp_regs;
        struct bd_error *err = bd_layout_get(r->l, BDL_XFEATURE_MAX, &nfeat);
        if (!err)
                err = bd_layout_get_sized(r->l, BDL_FPU_CFG_MAX_SIZE, 4, &max_size);
        if (!err)
                err = bd_layout_get(r->l, BDL_FPSTATE_REGS, &fp_regs);
        if (err)
                return err;
        /* max_features follows max_size and default_size (fpu_state_config). */
        max_feat = max_size + 8;
        if (nfeat < 2 || nfeat > BD_XFEATURES_MAX)
                return bd_error_new(BD_ERR_PROTOCOL, "XFEATURE_MAX is %lld", (long long)nfeat);
        memset(g, 0, sizeof(*g));
        g->nfeatures = (unsigned)nfeat;
        size_t arr = g->nfeatures * sizeof(uint32_t);
        uint64_t cfg, init;
        if ((err = bd_program_symbol(prog, "fpu_user_cfg", &cfg)) ||
            (err = bd_program_symbol(prog, "init_fpstate", &init)))
                return err;
        struct bd_kernel_iov iov[] = {
            {cfg + (uint64_t)max_size, &g->user_max_size, 4},
            {cfg + (uint64_t)max_feat, &g->user_max_features, 8},
            {init + (uint64_t)fp_regs, g->init_legacy, sizeof(g->init_legacy)},
        };
        if ((err = bd_kernel_read_batch(prog->k, iov, 3)) ||
            (err = bd_program_read_symbol(prog, "xstate_offsets", g->offset, arr)) ||
            (err = bd_program_read_symbol(prog, "xstate_sizes", g->size, arr)) ||
            (err = bd_program_read_symbol(prog, "xstate_flags", g->flags, arr)) ||
            (err = bd_program_read_symbol(prog, "xstate_fx_sw_bytes", g->sw_bytes,
                                          sizeof(g->sw_bytes))))
                return bd_error_wrap(err, "the kernel's xsave layout");
        return bd_xstate_check(g);
}

struct bd_error *bd_threads_read(struct bd_program *prog, int32_t pid, uint64_t budget,
                                 struct bd_threads **out)
{
        struct reader r = {.prog = prog, .pid = pid, .budget = budget};
        if (!(r.ts = calloc(1, sizeof(*r.ts))))
                return &bd_error_nomem;
        struct bd_error *err = plan(&r);
        if (!err)
                err = find_threads(&r);
        if (!err)
                err = read_thread_state(&r);
        if (!err)
                err = read_geometry(&r, &r.ts->geometry);
        if (err) {
                bd_threads_free(r.ts);
                return err;
        }
        *out = r.ts;
        return NULL;
}

void bd_threads_free(struct bd_threads *ts)
{
        if (!ts)
                return;
        for (size_t i = 0; i < ts->n; i++)
                free(ts->t[i].xsave);
        free(ts->t);
        free(ts);
}

struct bd_error *bd_thread_user_frame(const struct bd_thread *t, int32_t pid)
{
        uint64_t cs = bd_le64(t->regs + BD_REG_CS), ss = bd_le64(t->regs + BD_REG_SS);
        if (cs == BD_USER32_CS)
                return bd_error_new(BD_ERR_RANGE,
                                    "pid %d is a 32-bit process: only 64-bit ones are supported",
                                    pid);
        if (cs != BD_USER_CS)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "thread %d: the saved frame has cs 0x%" PRIx64 ", ss 0x%" PRIx64
                                    ": no user frame",
                                    t->pid, cs, ss);
        return NULL;
}

int bd_thread_fpu_saved(const struct bd_thread *t)
{
        return !t->on_cpu || (t->ti_flags >> TIF_NEED_FPU_LOAD & 1);
}

struct bd_error *bd_thread_xstate(const struct bd_threads *ts, size_t i, uint8_t *xstate,
                                  uint8_t fx[BD_FXSAVE_SIZE])
{
        const struct bd_thread *t = &ts->t[i];
        struct bd_error *err = bd_xstate_to_user(&ts->geometry, t->xsave, t->fp_size,
                                                 t->fp_user_xfeatures, t->pkru, xstate, fx);
        return err ? bd_error_wrap(err, "thread %d", t->pid) : NULL;
}
