#include "core.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/grow.h"
#include "../kernel/pgtable.h"
#include "core_notes.h"
#include "elf_dump.h"
#include "tasks.h"
#include "user_mem.h"
#include "vmas.h"
#include "../walk/walk.h"
#include "../walk/walk_list.h"

/* x86-64's kernel stacks (THREAD_SIZE) without KASAN, which Debian's
 * kernels do not enable; pt_regs ends the stack (no top padding on 64-bit). */
#define THREAD_SIZE 16384u
/* thread_info.flags: the CPU's FPU registers are not this task's, the
 * saved state is (arch/x86/include/asm/thread_info.h). */
#define TIF_NEED_FPU_LOAD 14
/* What a thread costs besides its xsave buffer: its reads and its notes. */
#define THREAD_COST (sizeof(struct thread) + 24 * sizeof(struct bd_kernel_iov) + 1024)
/* Pages read per batch into the file. */
#define BATCH_BYTES (1u << 20)
#define BATCH_IOV   256

enum {
        F_PID,
        F_TGID,
        F_STACK,
        F_ON_CPU,
        F_CPU,
        F_TI_FLAGS,
        F_PENDING,
        F_BLOCKED,
        F_UTIME,
        F_STIME,
        F_PARENT,
        F_FSBASE,
        F_GSBASE,
        F_FSINDEX,
        F_GSINDEX,
        F_ES,
        F_DS,
        F_PKRU,
        F_FPSTATE,
        F_STATE,
        F_FLAGS,
        F_STATIC_PRIO,
        F_COMM,
        F_MM,
        F_SIGNAL,
        F_REAL_CRED,
        F_COUNT
};
static const enum bd_layout_id field_ids[F_COUNT] = {
    BDL_TASK_PID,      BDL_TASK_TGID,        BDL_TASK_STACK,       BDL_TASK_ON_CPU,
    BDL_TASK_CPU,      BDL_TASK_TI_FLAGS,    BDL_TASK_PENDING,     BDL_TASK_BLOCKED,
    BDL_TASK_UTIME,    BDL_TASK_STIME,       BDL_TASK_REAL_PARENT, BDL_THREAD_FSBASE,
    BDL_THREAD_GSBASE, BDL_THREAD_FSINDEX,   BDL_THREAD_GSINDEX,   BDL_THREAD_ES,
    BDL_THREAD_DS,     BDL_THREAD_PKRU,      BDL_THREAD_FPSTATE,   BDL_TASK_STATE,
    BDL_TASK_FLAGS,    BDL_TASK_STATIC_PRIO, BDL_TASK_COMM,        BDL_TASK_MM,
    BDL_TASK_SIGNAL,   BDL_TASK_REAL_CRED};
/* The sizes this code reads them as: a kernel whose BTF says otherwise is
 * not one this code knows. */
static const uint8_t field_size[F_COUNT] = {4, 4, 8, 4, 4, 8, 8, 8, 8, 8,  8, 8, 8,
                                            2, 2, 2, 2, 4, 8, 4, 4, 4, 16, 8, 8, 8};

struct thread {
        uint64_t task;
        int32_t pid, tgid;
        uint64_t stack;
        uint32_t on_cpu, cpu;
        uint64_t ti_flags, pending, blocked, utime, stime, parent, fsbase, gsbase;
        uint16_t fsindex, gsindex, es, ds;
        uint32_t pkru;
        uint64_t fpstate;
        uint32_t state, flags;
        int32_t static_prio;
        char comm[16];
        uint64_t mm, signal, real_cred;
        /* Read next. */
        uint8_t regs[BD_PT_REGS_SIZE];
        uint32_t fp_size;
        uint64_t fp_user_xfeatures;
        int32_t ppid;
        uint8_t *xsave;
};

static void *field_of(struct thread *t, int f)
{
        void *p[F_COUNT] = {&t->pid,      &t->tgid,        &t->stack,   &t->on_cpu,  &t->cpu,
                            &t->ti_flags, &t->pending,     &t->blocked, &t->utime,   &t->stime,
                            &t->parent,   &t->fsbase,      &t->gsbase,  &t->fsindex, &t->gsindex,
                            &t->es,       &t->ds,          &t->pkru,    &t->fpstate, &t->state,
                            &t->flags,    &t->static_prio, t->comm,     &t->mm,      &t->signal,
                            &t->real_cred};
        return p[f];
}

struct core {
        struct bd_program *prog;
        const struct bd_layout *l;
        int64_t off[F_COUNT], thread_node;
        struct thread *t;
        size_t n, cap;
        uint64_t budget, thread_head;
        int32_t pid;
        struct bd_core_stats *st;
};

static struct bd_error *sized(const struct bd_layout *l, enum bd_layout_id id, int64_t size,
                              int64_t *off)
{
        struct bd_error *err = bd_layout_get(l, id, off);
        if (!err && l->e[id].size != size)
                err = bd_error_new(BD_ERR_PROTOCOL, "%s is %lld bytes, not %lld",
                                   bd_layout_path(id), (long long)l->e[id].size, (long long)size);
        return err;
}

static struct bd_error *add_thread(void *arg, uint64_t node)
{
        struct core *c = arg;
        struct bd_error *err = bd_budget_check(c->n + 1, THREAD_COST, c->budget, "threads");
        if (err)
                return err;
        if (bd_grow((void **)&c->t, &c->cap, c->n + 1, sizeof(*c->t), 16))
                return &bd_error_nomem;
        memset(&c->t[c->n], 0, sizeof(c->t[0]));
        c->t[c->n++].task = node - (uint64_t)c->thread_node;
        return NULL;
}

static struct bd_error *read_fields(struct core *c, struct thread *t, size_t n)
{
        struct bd_kernel_iov *iov = calloc(n * F_COUNT + 1, sizeof(*iov));
        if (!iov)
                return &bd_error_nomem;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
                for (int f = 0; f < F_COUNT; f++)
                        iov[m++] = (struct bd_kernel_iov){t[i].task + (uint64_t)c->off[f],
                                                          field_of(&t[i], f), field_size[f]};
        struct bd_error *err = bd_walk_read(c->prog->k, iov, m, "task");
        free(iov);
        return err;
}

/* The threads of pid's process: the task pid names, then every task on
 * its signal_struct's thread list. */
static struct bd_error *find_threads(struct core *c)
{
        struct bd_kernel *k = c->prog->k;
        uint64_t task;
        struct bd_error *err = bd_task_by_pid(c->prog, c->pid, &task);
        if (err || (err = add_thread(c, task + (uint64_t)c->thread_node)) ||
            (err = read_fields(c, c->t, 1)))
                return err;
        struct thread *first = &c->t[0];
        if (!first->mm || (first->flags & BD_PF_KTHREAD))
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "pid %d is a kernel thread or has exited: no user memory "
                                    "to dump",
                                    c->pid);
        if (!bd_walk_kptr_ok(k, first->signal, 8))
                return bd_error_new(BD_ERR_PROTOCOL, "pid %d: signal pointer 0x%" PRIx64, c->pid,
                                    first->signal);
        int64_t head;
        if ((err = bd_layout_get(c->l, BDL_SIGNAL_THREAD_HEAD, &head)))
                return err;
        c->n = 0;
        struct bd_walk_opts o = {.max = 1u << 22, .check_prev = 1};
        if ((err = bd_list_walk(k, first->signal + (uint64_t)head, &o, add_thread, c)))
                return bd_error_wrap(err, "pid %d: thread list", c->pid);
        if (!c->n)
                return bd_error_new(BD_ERR_PROTOCOL, "pid %d: an empty thread list", c->pid);
        if ((err = read_fields(c, c->t, c->n)))
                return err;
        /* The thread asked for first: gdb takes the first as current. */
        for (size_t i = 0; i < c->n; i++) {
                if (c->t[i].signal != first->signal || c->t[i].mm != first->mm)
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "pid %d: thread at 0x%" PRIx64
                                            " belongs to another process",
                                            c->pid, c->t[i].task);
                if (c->t[i].pid == c->pid && i) {
                        struct thread tmp = c->t[0];
                        c->t[0] = c->t[i];
                        c->t[i] = tmp;
                }
        }
        return NULL;
}

/* Each thread's pt_regs, the size and user features of its FPU state and
 * its parent's pid in one batch; then the xsave buffers in another. */
static struct bd_error *read_thread_state(struct core *c)
{
        struct bd_kernel *k = c->prog->k;
        int64_t pt_regs_size, fp_size, fp_user, fp_regs, tgid = c->off[F_TGID];
        struct bd_error *err = bd_layout_get(c->l, BDL_PT_REGS, &pt_regs_size);
        if (!err)
                err = sized(c->l, BDL_FPSTATE_SIZE, 4, &fp_size);
        if (!err)
                err = sized(c->l, BDL_FPSTATE_USER_XFEATURES, 8, &fp_user);
        if (!err)
                err = bd_layout_get(c->l, BDL_FPSTATE_REGS, &fp_regs);
        if (err)
                return err;
        if (pt_regs_size != BD_PT_REGS_SIZE)
                return bd_error_new(BD_ERR_PROTOCOL, "struct pt_regs is %lld bytes, not %d",
                                    (long long)pt_regs_size, BD_PT_REGS_SIZE);
        struct bd_kernel_iov *iov = calloc(4 * c->n + 1, sizeof(*iov));
        if (!iov)
                return &bd_error_nomem;
        size_t m = 0;
        for (size_t i = 0; i < c->n; i++) {
                struct thread *t = &c->t[i];
                if (!bd_walk_kptr_ok(k, t->stack, 4096) || !bd_walk_kptr_ok(k, t->fpstate, 64) ||
                    !bd_walk_kptr_ok(k, t->parent, 8)) {
                        free(iov);
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "thread %d: stack 0x%" PRIx64 ", FPU state 0x%" PRIx64
                                            " or parent 0x%" PRIx64 " is no kernel pointer",
                                            t->pid, t->stack, t->fpstate, t->parent);
                }
                iov[m++] = (struct bd_kernel_iov){t->stack + THREAD_SIZE - BD_PT_REGS_SIZE, t->regs,
                                                  BD_PT_REGS_SIZE};
                iov[m++] = (struct bd_kernel_iov){t->fpstate + (uint64_t)fp_size, &t->fp_size, 4};
                iov[m++] = (struct bd_kernel_iov){t->fpstate + (uint64_t)fp_user,
                                                  &t->fp_user_xfeatures, 8};
                iov[m++] = (struct bd_kernel_iov){t->parent + (uint64_t)tgid, &t->ppid, 4};
        }
        err = bd_walk_read(k, iov, m, "thread state");
        m = 0;
        for (size_t i = 0; !err && i < c->n; i++) {
                struct thread *t = &c->t[i];
                if (t->fp_size < BD_XSAVE_HDR_END || t->fp_size > BD_XSTATE_MAX) {
                        err = bd_error_new(BD_ERR_PROTOCOL, "thread %d: FPU state of %u bytes",
                                           t->pid, t->fp_size);
                        break;
                }
                if ((err = bd_budget_check(c->n, THREAD_COST + t->fp_size, c->budget, "threads")))
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
static struct bd_error *read_geometry(struct core *c, struct bd_xstate_geometry *g)
{
        struct bd_program *prog = c->prog;
        int64_t nfeat, max_size, max_feat, fp_regs;
        struct bd_error *err = bd_layout_get(c->l, BDL_XFEATURE_MAX, &nfeat);
        if (!err)
                err = sized(c->l, BDL_FPU_CFG_MAX_SIZE, 4, &max_size);
        if (!err)
                err = bd_layout_get(c->l, BDL_FPSTATE_REGS, &fp_regs);
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

/* Process-wide notes: NT_PRPSINFO, NT_AUXV. */
static struct bd_error *process_notes(struct core *c, const struct bd_user_mm *um,
                                      struct bd_core_notes *notes, uint64_t *vdso)
{
        struct bd_program *prog = c->prog;
        struct thread *t = &c->t[0];
        int64_t auxv, arg_start, arg_end, vdso_off, uid, gid;
        struct bd_error *err = bd_layout_get(c->l, BDL_MM_SAVED_AUXV, &auxv);
        if (!err)
                err = sized(c->l, BDL_MM_ARG_START, 8, &arg_start);
        if (!err)
                err = sized(c->l, BDL_MM_ARG_END, 8, &arg_end);
        if (!err)
                err = sized(c->l, BDL_MM_VDSO, 8, &vdso_off);
        if (!err)
                err = sized(c->l, BDL_CRED_UID, 4, &uid);
        if (!err)
                err = sized(c->l, BDL_CRED_GID, 4, &gid);
        if (err)
                return err;
        int64_t auxv_size = c->l->e[BDL_MM_SAVED_AUXV].size;
        if (auxv_size < 16 || auxv_size > 4096 || auxv_size % 16)
                return bd_error_new(BD_ERR_PROTOCOL, "mm_struct.saved_auxv is %lld bytes",
                                    (long long)auxv_size);
        uint64_t av[512], args[2];
        struct bd_core_prpsinfo ps = {0};
        if (!bd_walk_kptr_ok(prog->k, t->real_cred, 8))
                return bd_error_new(BD_ERR_PROTOCOL, "pid %d: cred pointer 0x%" PRIx64, c->pid,
                                    t->real_cred);
        struct bd_kernel_iov iov[] = {
            {t->mm + (uint64_t)auxv, av, (size_t)auxv_size},
            {t->mm + (uint64_t)arg_start, &args[0], 8},
            {t->mm + (uint64_t)arg_end, &args[1], 8},
            {t->mm + (uint64_t)vdso_off, vdso, 8},
            {t->real_cred + (uint64_t)uid, &ps.uid, 4},
            {t->real_cred + (uint64_t)gid, &ps.gid, 4},
        };
        if ((err = bd_walk_read(prog->k, iov, 6, "mm_struct")))
                return err;
        /* The vector ends at its AT_NULL entry, which it includes. */
        size_t n = 0, max = (size_t)auxv_size / 8;
        while (n + 2 <= max && av[n] != 0)
                n += 2;
        n = n + 2 <= max ? n + 2 : max;
        if ((err = bd_core_note_add(notes, "CORE", NT_AUXV, av, n * 8)))
                return err;
        ps.state = bd_task_state_char(t->state, 0);
        ps.nice = t->static_prio - 120;
        ps.flags = t->flags;
        ps.pid = t->tgid;
        ps.ppid = t->ppid;
        memcpy(ps.fname, t->comm, sizeof(ps.fname));
        ps.fname[15] = 0;
        /* The command line is user memory: a page not there leaves it
         * empty, as the kernel's own dump would not. */
        if (args[1] > args[0]) {
                size_t len = args[1] - args[0] < sizeof(ps.psargs) - 1 ? args[1] - args[0]
                                                                       : sizeof(ps.psargs) - 1;
                struct bd_error *e = bd_user_read(prog, um, args[0], ps.psargs, len);
                if (e) {
                        if (bd_err_transport(e->code))
                                return e;
                        bd_error_destroy(e);
                        memset(ps.psargs, 0, sizeof(ps.psargs));
                }
                for (size_t i = 0; i + 1 < len; i++)
                        if (!ps.psargs[i])
                                ps.psargs[i] = ' ';
        }
        uint8_t d[BD_PRPSINFO_SIZE];
        bd_core_prpsinfo_encode(&ps, d);
        return bd_core_note_add(notes, "CORE", NT_PRPSINFO, d, sizeof(d));
}

/* NT_PRSTATUS into status, NT_FPREGSET and NT_X86_XSTATE into fpu. */
static struct bd_error *thread_notes(struct core *c, const struct bd_xstate_geometry *g, size_t i,
                                     struct bd_core_notes *status, struct bd_core_notes *fpu)
{
        struct thread *t = &c->t[i];
        uint64_t cs, ss;
        memcpy(&cs, t->regs + 136, 8);
        memcpy(&ss, t->regs + 160, 8);
        if (cs == BD_USER32_CS)
                return bd_error_new(BD_ERR_RANGE,
                                    "pid %d is a 32-bit process: only 64-bit cores are written",
                                    c->pid);
        if (cs != BD_USER_CS)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "thread %d: the saved frame has cs 0x%" PRIx64 ", ss 0x%" PRIx64
                                    ": no user frame",
                                    t->pid, cs, ss);
        uint8_t *xstate = malloc(g->user_max_size);
        if (!xstate)
                return &bd_error_nomem;
        uint8_t fx[BD_FXSAVE_SIZE];
        struct bd_error *err =
            bd_xstate_to_user(g, t->xsave, t->fp_size, t->fp_user_xfeatures, t->pkru, xstate, fx);
        if (err) {
                free(xstate);
                return bd_error_wrap(err, "thread %d", t->pid);
        }
        struct bd_core_prstatus pr = {
            .pid = t->pid,
            .ppid = t->ppid,
            .sigpend = t->pending,
            .sighold = t->blocked,
            .utime_ns = t->utime,
            .stime_ns = t->stime,
            .fs_base = t->fsbase,
            .gs_base = t->gsbase,
            .ds = t->ds,
            .es = t->es,
            .fs = t->fsindex,
            .gs = t->gsindex,
            .fpvalid = 1,
        };
        memcpy(pr.pt_regs, t->regs, BD_PT_REGS_SIZE);
        uint8_t d[BD_PRSTATUS_SIZE];
        bd_core_prstatus_encode(&pr, d);
        err = bd_core_note_add(status, "CORE", NT_PRSTATUS, d, sizeof(d));
        if (!err)
                err = bd_core_note_add(fpu, "CORE", NT_FPREGSET, fx, sizeof(fx));
        if (!err)
                err = bd_core_note_add(fpu, "LINUX", NT_X86_XSTATE, xstate, g->user_max_size);
        free(xstate);
        return err;
}

/* Whether each shared file mapping's file is unlinked (i_nlink 0): shmem
 * of MAP_SHARED|MAP_ANONYMOUS and memfds, which a core holds. */
static struct bd_error *unlinked_files(struct core *c, const struct bd_vmas *vs, uint8_t *unlinked)
{
        struct bd_kernel *k = c->prog->k;
        int64_t f_inode, nlink;
        struct bd_error *err = sized(c->l, BDL_FILE_INODE, 8, &f_inode);
        if (!err)
                err = sized(c->l, BDL_INODE_NLINK, 4, &nlink);
        if (err)
                return err;
        uint64_t *inode = calloc(vs->n + 1, sizeof(*inode));
        uint32_t *count = calloc(vs->n + 1, sizeof(*count));
        struct bd_kernel_iov *iov = calloc(vs->n + 1, sizeof(*iov));
        if (!inode || !count || !iov) {
                err = &bd_error_nomem;
                goto out;
        }
        size_t m = 0;
        for (size_t i = 0; i < vs->n; i++)
                if ((vs->v[i].flags & BD_VM_SHARED) && bd_walk_kptr_ok(k, vs->v[i].file, 8))
                        iov[m++] =
                            (struct bd_kernel_iov){vs->v[i].file + (uint64_t)f_inode, &inode[i], 8};
        if (!m || (err = bd_walk_read(k, iov, m, "file")))
                goto out;
        m = 0;
        for (size_t i = 0; i < vs->n; i++)
                if (inode[i] && bd_walk_kptr_ok(k, inode[i], 8))
                        iov[m++] = (struct bd_kernel_iov){inode[i] + (uint64_t)nlink, &count[i], 4};
        if ((err = bd_walk_read(k, iov, m, "inode")))
                goto out;
        for (size_t i = 0; i < vs->n; i++)
                unlinked[i] = inode[i] && !count[i];
out:
        free(inode), free(count), free(iov);
        return err;
}

struct segment {
        uint64_t start, end, offset, filesz;
        uint32_t flags;
        enum bd_core_dump dump;
        /* Kernel memory behind pages the process never touched (the vDSO
         * image), len bytes of it; 0: none. */
        uint64_t backing, backing_len;
};

struct writer {
        struct core *c;
        const struct bd_user_mm *um;
        struct bd_pgtable_cache cache;
        int fd;
        struct bd_phys_iov iov[BATCH_IOV];
        uint64_t file_off[BATCH_IOV];
        size_t n, bytes;
        uint8_t *buf;
        uint8_t page[4096];
};

static struct bd_error *write_all(int fd, const void *p, size_t len, uint64_t off)
{
        const uint8_t *b = p;
        while (len) {
                ssize_t w = pwrite(fd, b, len, (off_t)off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return bd_error_new(BD_ERR_IO, "core: writing: %s",
                                            w < 0 ? strerror(errno) : "short write");
                b += w, len -= (size_t)w, off += (uint64_t)w;
        }
        return NULL;
}

/* Read the batch and put each piece where it goes; a piece outside every
 * window (a page table pointing at nothing the source exports) is counted
 * and left a hole. */
static struct bd_error *flush(struct writer *w)
{
        struct bd_phys *p = w->c->prog->phys;
        struct bd_error *err = w->n ? bd_phys_read_batch(p, w->iov, w->n) : NULL;
        for (size_t i = 0; i < w->n; i++) {
                if (err) {
                        if (bd_err_transport(err->code))
                                return err;
                        struct bd_error *one =
                            bd_phys_read(p, w->iov[i].addr, w->iov[i].buf, w->iov[i].len);
                        if (one) {
                                enum bd_err code = one->code;
                                bd_error_destroy(one);
                                if (bd_err_transport(code)) {
                                        bd_error_destroy(err);
                                        return bd_error_new(code, "core: the source was lost");
                                }
                                w->c->st->pages_unreadable += w->iov[i].len / 4096;
                                continue;
                        }
                }
                struct bd_error *e = write_all(w->fd, w->iov[i].buf, w->iov[i].len, w->file_off[i]);
                if (e) {
                        if (err)
                                bd_error_destroy(err);
                        return e;
                }
                w->c->st->pages_read += w->iov[i].len / 4096;
        }
        if (err)
                bd_error_destroy(err);
        w->n = 0;
        w->bytes = 0;
        return NULL;
}

/* Queue [va, va+len) of physical pa for the file at off. */
static struct bd_error *queue(struct writer *w, uint64_t pa, uint64_t len, uint64_t off)
{
        while (len) {
                if (w->n == BATCH_IOV || w->bytes == BATCH_BYTES) {
                        struct bd_error *err = flush(w);
                        if (err)
                                return err;
                }
                uint64_t room = BATCH_BYTES - w->bytes, take = len < room ? len : room;
                struct bd_phys_iov *last = w->n ? &w->iov[w->n - 1] : NULL;
                /* Pages next to each other in memory and in the file: one
                 * read (a source serves one large read faster than many). */
                if (last && last->addr + last->len == pa &&
                    w->file_off[w->n - 1] + last->len == off) {
                        last->len += (size_t)take;
                } else {
                        w->iov[w->n] = (struct bd_phys_iov){pa, w->buf + w->bytes, (size_t)take};
                        w->file_off[w->n++] = off;
                }
                w->bytes += take;
                pa += take, off += take, len -= take;
        }
        return NULL;
}

/* A page the process never touched but the kernel has a copy of. */
static struct bd_error *write_backing(struct writer *w, const struct segment *sg, uint64_t va,
                                      uint64_t end)
{
        for (; va < end; va += 4096) {
                uint64_t at = va - sg->start;
                if (at >= sg->backing_len)
                        return NULL;
                size_t len = sg->backing_len - at < 4096 ? (size_t)(sg->backing_len - at) : 4096;
                struct bd_error *err =
                    bd_kernel_read(w->c->prog->k, sg->backing + at, w->page, len);
                if (!err)
                        err = write_all(w->fd, w->page, len, sg->offset + at);
                if (err)
                        return err;
                w->c->st->pages_read++;
                w->c->st->pages_zero--;
        }
        return NULL;
}

/* Every present page of the segment's dumped part into the file; what is
 * not present stays a hole (zero) unless the kernel backs it. */
static struct bd_error *write_segment(struct writer *w, const struct segment *sg)
{
        struct bd_program *prog = w->c->prog;
        uint64_t va = sg->start, end = sg->start + sg->filesz;
        while (va < end) {
                struct bd_pgtable_leaf leaf;
                struct bd_error *err = bd_pgtable_lookup(prog->phys, &w->cache, w->um->pgd_phys,
                                                         prog->k->levels, va, &leaf);
                if (err)
                        return err;
                uint64_t next = (va & ~(leaf.size - 1)) + leaf.size;
                if (next > end || next <= va)
                        next = end;
                if (!leaf.present) {
                        if (leaf.level == 1 && leaf.entry)
                                w->c->st->pages_swapped++;
                        else
                                w->c->st->pages_zero += (next - va) / 4096;
                        if (sg->backing && (err = write_backing(w, sg, va, next)))
                                return err;
                        va = next;
                        continue;
                }
                if ((err = queue(w, leaf.paddr, next - va, sg->offset + (va - sg->start))))
                        return err;
                va = next;
        }
        return NULL;
}

/* The first page of a mapping at file offset 0, kept if it is an ELF
 * header (gdb finds a library's build id there). */
static int elf_header_page(struct core *c, const struct bd_user_mm *um, uint64_t va)
{
        uint8_t magic[4];
        struct bd_error *err = bd_user_read(c->prog, um, va, magic, 4);
        if (err) {
                bd_error_destroy(err);
                return 0;
        }
        return !memcmp(magic, ELFMAG, SELFMAG);
}

static struct bd_error *write_file(struct core *c, const struct bd_user_mm *um,
                                   const struct bd_core_notes *notes, struct segment *seg,
                                   size_t nseg, const char *tmp,
                                   void (*progress)(uint64_t, uint64_t))
{
        size_t nph = nseg + 1;
        uint64_t notes_off = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
        uint64_t off = (notes_off + notes->len + 4095) & ~4095ull, total = 0;
        Elf64_Phdr *ph = calloc(nph, sizeof(*ph));
        if (!ph)
                return &bd_error_nomem;
        ph[0] = (Elf64_Phdr){
            .p_type = PT_NOTE, .p_offset = notes_off, .p_filesz = notes->len, .p_align = 4};
        for (size_t i = 0; i < nseg; i++) {
                seg[i].offset = off;
                ph[i + 1] = (Elf64_Phdr){.p_type = PT_LOAD,
                                         .p_flags = seg[i].flags,
                                         .p_offset = off,
                                         .p_vaddr = seg[i].start,
                                         .p_filesz = seg[i].filesz,
                                         .p_memsz = seg[i].end - seg[i].start,
                                         .p_align = 4096};
                off += seg[i].filesz;
                total += seg[i].filesz;
        }
        Elf64_Ehdr eh;
        bd_elf_core_header(&eh, (unsigned)(nph < PN_XNUM ? nph : PN_XNUM));
        struct bd_error *err = NULL;
        if (nph >= PN_XNUM) {
                err = bd_error_new(BD_ERR_RANGE, "core: %zu segments, more than ELF's %d", nph,
                                   PN_XNUM - 1);
                goto out;
        }
        struct writer w = {.c = c, .um = um};
        w.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (w.fd < 0) {
                err = bd_error_new(BD_ERR_IO, "core: %s: %s", tmp, strerror(errno));
                goto out;
        }
        if (!(w.buf = malloc(BATCH_BYTES))) {
                err = &bd_error_nomem;
        } else if (ftruncate(w.fd, (off_t)off)) {
                err = bd_error_new(BD_ERR_IO, "core: %s: %s", tmp, strerror(errno));
        } else if (!(err = write_all(w.fd, &eh, sizeof(eh), 0)) &&
                   !(err = write_all(w.fd, ph, nph * sizeof(*ph), sizeof(eh))) &&
                   !(err = write_all(w.fd, notes->buf, notes->len, notes_off))) {
                uint64_t done = 0;
                for (size_t i = 0; !err && i < nseg; i++) {
                        if (seg[i].filesz)
                                err = write_segment(&w, &seg[i]);
                        done += seg[i].filesz;
                        if (progress)
                                progress(done, total);
                }
                if (!err)
                        err = flush(&w);
                if (!err && fsync(w.fd))
                        err = bd_error_new(BD_ERR_IO, "core: %s: %s", tmp, strerror(errno));
        }
        if (close(w.fd) && !err)
                err = bd_error_new(BD_ERR_IO, "core: %s: %s", tmp, strerror(errno));
        free(w.buf);
        c->st->file_bytes = off;
out:
        free(ph);
        return err;
}

/* The kernel's 64-bit vDSO image, which the vDSO mapping shows: what a
 * process never touched of it is read there. */
static struct bd_error *vdso_backing(struct core *c, struct segment *sg)
{
        int64_t data, size;
        uint64_t image, v[2];
        struct bd_error *err = sized(c->l, BDL_VDSO_IMAGE_DATA, 8, &data);
        if (!err)
                err = sized(c->l, BDL_VDSO_IMAGE_SIZE, 8, &size);
        if (!err)
                err = bd_program_symbol(c->prog, "vdso_image_64", &image);
        if (err)
                return err;
        struct bd_kernel_iov iov[] = {{image + (uint64_t)data, &v[0], 8},
                                      {image + (uint64_t)size, &v[1], 8}};
        if ((err = bd_walk_read(c->prog->k, iov, 2, "vdso_image_64")))
                return err;
        if (!bd_walk_kptr_ok(c->prog->k, v[0], 4096) || v[1] > sg->end - sg->start)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "vdso_image_64: data 0x%" PRIx64 ", %" PRIu64
                                    " bytes for a %" PRIu64 "-byte mapping",
                                    v[0], v[1], sg->end - sg->start);
        sg->backing = v[0];
        sg->backing_len = v[1];
        return NULL;
}

static struct bd_error *plan_segments(struct core *c, const struct bd_user_mm *um,
                                      const struct bd_vmas *vs, uint64_t vdso, struct segment *seg,
                                      struct bd_core_notes *notes)
{
        uint8_t *unlinked = calloc(vs->n + 1, 1);
        struct bd_core_file_map *fm = calloc(vs->n + 1, sizeof(*fm));
        struct bd_error *err = unlinked && fm ? NULL : &bd_error_nomem;
        if (!err)
                err = unlinked_files(c, vs, unlinked);
        size_t nfm = 0;
        uint64_t top = c->prog->k->levels == 5 ? 1ull << 56 : 1ull << 47;
        for (size_t i = 0; !err && i < vs->n; i++) {
                const struct bd_vma *v = &vs->v[i];
                if (v->start >= v->end || v->end > top || (v->start | v->end) & 4095 ||
                    (i && v->start < vs->v[i - 1].end)) {
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           "pid %d: VMA 0x%" PRIx64 "-0x%" PRIx64
                                           " is not a user range in order",
                                           c->pid, v->start, v->end);
                        break;
                }
                struct bd_core_vma_facts f = {.flags = v->flags,
                                              .pgoff = v->pgoff,
                                              .has_file = v->file != 0,
                                              .has_anon_vma = v->anon_vma != 0,
                                              .file_unlinked = unlinked[i],
                                              .is_vdso = vdso && v->start == vdso};
                seg[i] = (struct segment){
                    .start = v->start,
                    .end = v->end,
                    .flags = (v->flags & BD_VM_READ ? PF_R : 0) |
                             (v->flags & BD_VM_WRITE ? PF_W : 0) |
                             (v->flags & BD_VM_EXEC ? PF_X : 0),
                    .dump = bd_core_vma_dump(&f),
                };
                if (seg[i].dump == BD_CORE_WHOLE)
                        seg[i].filesz = v->end - v->start;
                if (f.is_vdso)
                        err = vdso_backing(c, &seg[i]);
                else if (seg[i].dump == BD_CORE_ELF_HEADER && elf_header_page(c, um, v->start))
                        seg[i].filesz = 4096;
                if (v->file)
                        fm[nfm++] = (struct bd_core_file_map){v->start, v->end, v->pgoff, v->name};
        }
        if (!err)
                err = bd_core_nt_file(fm, nfm, notes);
        free(unlinked);
        free(fm);
        return err;
}

struct bd_error *bd_core_write(struct bd_program *prog, int32_t pid, const char *path,
                               void (*progress)(uint64_t done, uint64_t total),
                               struct bd_core_stats *st)
{
        memset(st, 0, sizeof(*st));
        bd_reads_start(&st->reads, prog->phys);
        struct core c = {
            .prog = prog, .pid = pid, .st = st, .budget = bd_budget(prog, BD_CORE_BUDGET)};
        struct bd_error *err = bd_program_layout(prog, &c.l);
        if (!err)
                err = bd_layout_get(c.l, BDL_TASK_THREAD_NODE, &c.thread_node);
        for (int f = 0; !err && f < F_COUNT; f++)
                if (!(err = bd_layout_get(c.l, field_ids[f], &c.off[f])) &&
                    c.l->e[field_ids[f]].size != field_size[f] && f != F_COMM)
                        err = bd_error_new(BD_ERR_PROTOCOL, "%s is %lld bytes, not %d",
                                           bd_layout_path(field_ids[f]),
                                           (long long)c.l->e[field_ids[f]].size, field_size[f]);
        struct bd_user_mm um;
        struct bd_xstate_geometry g;
        struct bd_core_notes notes = {0};
        struct bd_vmas *vs = NULL;
        struct segment *seg = NULL;
        uint64_t vdso = 0;
        if (!err)
                err = find_threads(&c);
        if (!err)
                err = read_thread_state(&c);
        if (!err)
                err = read_geometry(&c, &g);
        if (!err)
                err = bd_user_mm_of_pid(prog, pid, &um);
        /* The kernel's order: the first thread's status, then the
         * process's notes, then its FPU state; the other threads after. */
        struct bd_core_notes first_fpu = {0};
        if (!err)
                err = thread_notes(&c, &g, 0, &notes, &first_fpu);
        if (!err)
                err = process_notes(&c, &um, &notes, &vdso);
        if (!err)
                err = bd_vmas_read(prog, pid, &vs);
        if (!err && !(seg = calloc(vs->n + 1, sizeof(*seg))))
                err = &bd_error_nomem;
        if (!err)
                err = plan_segments(&c, &um, vs, vdso, seg, &notes);
        if (!err)
                err = bd_core_notes_append(&notes, &first_fpu);
        bd_core_notes_free(&first_fpu);
        for (size_t i = 1; !err && i < c.n; i++)
                err = thread_notes(&c, &g, i, &notes, &notes);
        if (!err && !(st->threads = calloc(c.n, sizeof(*st->threads))))
                err = &bd_error_nomem;
        for (size_t i = 0; !err && i < c.n; i++) {
                struct thread *t = &c.t[i];
                st->threads[i] = (struct bd_core_thread){
                    .tid = t->pid,
                    .on_cpu = t->on_cpu != 0,
                    .cpu = t->cpu,
                    .fpu_saved = !t->on_cpu || (t->ti_flags >> TIF_NEED_FPU_LOAD & 1)};
        }
        if (!err) {
                st->nthreads = c.n;
                st->segments = (unsigned)vs->n;
                st->ppid = c.t[0].ppid;
                memcpy(st->comm, c.t[0].comm, 16);
                st->comm[16] = 0;
                char tmp[4200];
                snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
                err = write_file(&c, &um, &notes, seg, vs->n, tmp, progress);
                if (!err && rename(tmp, path))
                        err = bd_error_new(BD_ERR_IO, "core: %s: %s", path, strerror(errno));
                if (err)
                        unlink(tmp);
        }
        for (size_t i = 0; i < c.n; i++)
                free(c.t[i].xsave);
        free(c.t);
        free(seg);
        bd_vmas_free(vs);
        bd_core_notes_free(&notes);
        bd_reads_stop(&st->reads, prog->phys);
        if (err)
                return bd_error_wrap(err, "core of pid %d", pid);
        return NULL;
}

void bd_core_stats_free(struct bd_core_stats *st)
{
        free(st->threads);
        st->threads = NULL;
}
