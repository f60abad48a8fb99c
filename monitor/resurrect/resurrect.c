#include "resurrect.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criu/core.pb-c.h>
#include <criu/inventory.pb-c.h>
#include <criu/mm.pb-c.h>
#include <criu/pagemap.pb-c.h>
#include <criu/pstree.pb-c.h>
#include <criu/seccomp.pb-c.h>
#include <criu/timens.pb-c.h>

#include "../../common/bytes.h"
#include "../../common/grow.h"
#include "../views/tasks.h"
#include "../views/sigqueue.h"
#include "../views/sysinfo.h"
#include "../views/threads.h"
#include "../views/user_mem.h"
#include "../views/vmas.h"
#include "../walk/walk.h"
#include "agent_image.h"
#include "criu_image.h"
#include "files_image.h"

/* Signals, and the two whose actions cannot change (criu leaves them out). */
#define NSIG     64
#define SIGKILL_ 9
#define SIGSTOP_ 19
/* RLIM_NLIMITS, and a k_sigaction's size on x86-64. */
#define NRLIMITS           16
#define RLIMIT_SIGPENDING_ 11
#define SIGACTION          32
/* The namespaces' ids as criu numbers them, the root task's and ours the
 * same, so that criu restores into its own namespaces and creates none. */
enum { NS_PID = 1, NS_NET, NS_IPC, NS_UTS, NS_TIME, NS_MNT, NS_USER, NS_CGROUP };
/* The process's own objects' ids (mm, files, fs, sighand): the root
 * task's are 1. */
#define OWN_IDS 2
/* criu's TASK_ALIVE, the pages image's id, and the flags of anonymous
 * memory's pages (restorable lazily). */
#define TASK_ALIVE   1
#define TASK_STOPPED 3
/* The kernel's __TASK_STOPPED: a task stopped by a signal (SIGSTOP...). */
#define KERNEL_TASK_STOPPED 0x4u
/* criu's network lock methods: nftables is what Debian's criu has with no
 * more packages (it links libnftables); iptables needs its binaries. */
#define NETWORK_LOCK_NFTABLES 1
#define PAGES_ID              1
/* mm->flags: the dumpable bits, and MMF_DISABLE_THP. */
#define MMF_DUMPABLE_MASK 3u
#define MMF_DISABLE_THP   24
/* VM_* bits criu's images carry as mmap flags and madvise bits. */
#define VM_GROWSDOWN   0x100u
#define VM_DONTCOPY    0x20000u
#define VM_HUGEPAGE    0x20000000u
#define VM_NOHUGEPAGE  0x40000000u
#define VM_MERGEABLE   0x80000000u
#define MAP_SHARED_    0x01u
#define MAP_PRIVATE_   0x02u
#define MAP_ANON_      0x20u
#define MAP_GROWSDOWN_ 0x100u
/* criu's VMA_AREA_MEMFD (its image.h; pycriu's table lacks it). */
#define VMA_AREA_MEMFD (1u << 14)
/* The memfd's pages: an image of their own (agent_image.h). */
#define MEMFD_PAGES_ID 2
/* si_code of a signal queued by a process (sigqueue()). */
#define SI_QUEUE_ (-1)
/* SS_DISABLE: no alternate signal stack. */
#define SS_DISABLE_ 2u

struct creds {
        uint32_t uid, gid, euid, egid, suid, sgid, fsuid, fsgid, securebits;
        uint32_t cap[4][2]; /* inheritable, permitted, effective, bounding */
};

/* What the images need of the process beyond its threads. */
struct proc {
        uint64_t mm_field[11]; /* start_code .. env_end, in enum order below */
        uint64_t mm_flags, exe_file;
        uint64_t mmap_lock; /* the rw_semaphore's count */
        uint64_t auxv[512];
        size_t auxv_words;
        struct {
                uint64_t cur, max;
        } rlim[NRLIMITS];
        int16_t oom_score_adj;
        uint64_t pid_pgid, pid_sid;
        int32_t pgid, sid;
        uint8_t action[NSIG * SIGACTION];
        struct creds *creds; /* per thread */
        uint32_t *loginuid;  /* per thread */
};

enum {
        MM_START_CODE,
        MM_END_CODE,
        MM_START_DATA,
        MM_END_DATA,
        MM_START_STACK,
        MM_START_BRK,
        MM_BRK,
        MM_ARG_START,
        MM_ARG_END,
        MM_ENV_START,
        MM_ENV_END,
        MM_NFIELDS
};

/* Mapped files' ids, as criu numbers them: the same struct file, the same
 * id, from 1 in the order files first appear (the executable, then the
 * mappings). Sorted, so that a process with tens of thousands of mappings
 * costs n log n, not n squared. */
struct file_id {
        uint64_t file;
        size_t first;
        uint32_t id;
};

struct res {
        struct bd_program *prog;
        const struct bd_layout *l;
        struct bd_threads *ts;
        struct bd_user_mm um;
        struct bd_vmas *vs;
        struct proc p;
        struct file_id *fid; /* the mapped files' ids, by struct file */
        size_t nfid;
        int32_t pid;
        struct bd_resurrect_stats *st;
        struct bd_criu_dir dir;
        /* The process's pages, its page tables read ahead for all of them. */
        struct bd_user_pages *pages;
        /* Pending signals: each thread's own, then the process's shared. */
        uint64_t *pending;
        struct bd_sigqueue *sigq;
        /* libbdagent's beacon and what the images do with it. */
        struct bd_agent_image ai;
};

/* The mm's fields, the limits, the signal actions, pgrp and session, and
 * each thread's credentials: two batches. */
static struct bd_error *read_process(struct res *r)
{
        static const enum bd_layout_id mm_ids[MM_NFIELDS] = {
            BDL_MM_START_CODE,  BDL_MM_END_CODE,  BDL_MM_START_DATA, BDL_MM_END_DATA,
            BDL_MM_START_STACK, BDL_MM_START_BRK, BDL_MM_BRK,        BDL_MM_ARG_START,
            BDL_MM_ARG_END,     BDL_MM_ENV_START, BDL_MM_ENV_END};
        static const enum bd_layout_id cred_ids[] = {
            BDL_CRED_UID,  BDL_CRED_GID,   BDL_CRED_EUID,  BDL_CRED_EGID,      BDL_CRED_SUID,
            BDL_CRED_SGID, BDL_CRED_FSUID, BDL_CRED_FSGID, BDL_CRED_SECUREBITS};
        static const enum bd_layout_id cap_ids[] = {BDL_CRED_CAP_INHERITABLE,
                                                    BDL_CRED_CAP_PERMITTED, BDL_CRED_CAP_EFFECTIVE,
                                                    BDL_CRED_CAP_BSET};
        const struct bd_layout *l = r->l;
        struct bd_kernel *k = r->prog->k;
        const struct bd_thread *t0 = &r->ts->t[0];
        struct proc *p = &r->p;
        size_t n = r->ts->n;
        int64_t mm_off[MM_NFIELDS], flags, auxv, exe, mmap_lock, rlim, oom, pids, action,
            cred_off[9], cap_off[4], pgid, sid, numbers, loginuid = -1;
        struct bd_error *err = NULL;
        for (int i = 0; !err && i < MM_NFIELDS; i++)
                err = bd_layout_get_sized(l, mm_ids[i], 8, &mm_off[i]);
        for (int i = 0; !err && i < 9; i++)
                err = bd_layout_get_sized(l, cred_ids[i], 4, &cred_off[i]);
        for (int i = 0; !err && i < 4; i++)
                err = bd_layout_get_sized(l, cap_ids[i], 8, &cap_off[i]);
        if (!err)
                err = bd_layout_get_sized(l, BDL_MM_FLAGS, 8, &flags);
        if (!err)
                err = bd_layout_get(l, BDL_MM_SAVED_AUXV, &auxv);
        if (!err)
                err = bd_layout_get_sized(l, BDL_MM_EXE_FILE, 8, &exe);
        if (!err)
                err = bd_layout_get_sized(l, BDL_MM_MMAP_LOCK, 8, &mmap_lock);
        if (!err)
                err = bd_layout_get_sized(l, BDL_SIGNAL_RLIM, sizeof(p->rlim), &rlim);
        if (!err)
                err = bd_layout_get_sized(l, BDL_SIGNAL_OOM_SCORE_ADJ, 2, &oom);
        if (!err)
                err = bd_layout_get(l, BDL_SIGNAL_PIDS, &pids);
        if (!err)
                err = bd_layout_get_sized(l, BDL_SIGHAND_ACTION, sizeof(p->action), &action);
        if (!err)
                err = bd_layout_get(l, BDL_PIDTYPE_PGID, &pgid);
        if (!err)
                err = bd_layout_get(l, BDL_PIDTYPE_SID, &sid);
        if (!err)
                err = bd_layout_get(l, BDL_PID_NUMBERS, &numbers);
        if (err)
                return err;
        int64_t auxv_size = l->e[BDL_MM_SAVED_AUXV].size;
        if (auxv_size < 16 || auxv_size > (int64_t)sizeof(p->auxv) || auxv_size % 16 || pgid < 0 ||
            pgid > 3 || sid < 0 || sid > 3)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "saved_auxv of %lld bytes, pid types %lld %lld",
                                    (long long)auxv_size, (long long)pgid, (long long)sid);
        int has_loginuid =
            bd_layout_has(l, BDL_TASK_LOGINUID, &loginuid) && l->e[BDL_TASK_LOGINUID].size == 4;
        if (!bd_walk_kptr_ok(k, t0->sighand, 8))
                return bd_error_new(BD_ERR_PROTOCOL, "pid %d: sighand pointer 0x%" PRIx64, r->pid,
                                    t0->sighand);
        p->creds = calloc(n, sizeof(*p->creds));
        p->loginuid = calloc(n, sizeof(*p->loginuid));
        struct bd_kernel_iov *iov = calloc(MM_NFIELDS + 16 + 14 * n, sizeof(*iov));
        if (!p->creds || !p->loginuid || !iov) {
                free(iov);
                return &bd_error_nomem;
        }
        size_t m = 0;
        for (int i = 0; i < MM_NFIELDS; i++)
                iov[m++] = (struct bd_kernel_iov){t0->mm + (uint64_t)mm_off[i], &p->mm_field[i], 8};
        iov[m++] = (struct bd_kernel_iov){t0->mm + (uint64_t)flags, &p->mm_flags, 8};
        iov[m++] = (struct bd_kernel_iov){t0->mm + (uint64_t)exe, &p->exe_file, 8};
        iov[m++] = (struct bd_kernel_iov){t0->mm + (uint64_t)mmap_lock, &p->mmap_lock, 8};
        iov[m++] = (struct bd_kernel_iov){t0->mm + (uint64_t)auxv, p->auxv, (size_t)auxv_size};
        iov[m++] = (struct bd_kernel_iov){t0->signal + (uint64_t)rlim, p->rlim, sizeof(p->rlim)};
        iov[m++] = (struct bd_kernel_iov){t0->signal + (uint64_t)oom, &p->oom_score_adj, 2};
        iov[m++] = (struct bd_kernel_iov){t0->signal + (uint64_t)pids + 8 * (uint64_t)pgid,
                                          &p->pid_pgid, 8};
        iov[m++] =
            (struct bd_kernel_iov){t0->signal + (uint64_t)pids + 8 * (uint64_t)sid, &p->pid_sid, 8};
        iov[m++] =
            (struct bd_kernel_iov){t0->sighand + (uint64_t)action, p->action, sizeof(p->action)};
        for (size_t i = 0; i < n; i++) {
                const struct bd_thread *t = &r->ts->t[i];
                struct creds *c = &p->creds[i];
                uint32_t *dst[9] = {&c->uid,  &c->gid,   &c->euid,  &c->egid,      &c->suid,
                                    &c->sgid, &c->fsuid, &c->fsgid, &c->securebits};
                if (!bd_walk_kptr_ok(k, t->real_cred, 8)) {
                        free(iov);
                        return bd_error_new(BD_ERR_PROTOCOL, "thread %d: cred pointer 0x%" PRIx64,
                                            t->pid, t->real_cred);
                }
                for (int j = 0; j < 9; j++)
                        iov[m++] =
                            (struct bd_kernel_iov){t->real_cred + (uint64_t)cred_off[j], dst[j], 4};
                for (int j = 0; j < 4; j++)
                        iov[m++] = (struct bd_kernel_iov){t->real_cred + (uint64_t)cap_off[j],
                                                          c->cap[j], 8};
                if (has_loginuid)
                        iov[m++] = (struct bd_kernel_iov){t->task + (uint64_t)loginuid,
                                                          &p->loginuid[i], 4};
                else
                        p->loginuid[i] = UINT32_MAX;
        }
        err = bd_walk_read(k, iov, m, "process state");
        /* RWSEM_WRITER_LOCKED: an mmap, munmap, mprotect or brk was
         * changing the mappings when the kernel stopped. */
        if (!err && (p->mmap_lock & 1))
                err = bd_error_new(BD_ERR_RANGE,
                                   "its mmap_lock was held for writing when the kernel stopped, "
                                   "so its mappings may be half-changed");
        p->auxv_words = bd_core_auxv_words(p->auxv, (size_t)auxv_size / 8);
        /* The process group's and session's numbers, in the initial
         * namespace: the first upid of each struct pid. */
        m = 0;
        if (!err && bd_walk_kptr_ok(k, p->pid_pgid, 8))
                iov[m++] = (struct bd_kernel_iov){p->pid_pgid + (uint64_t)numbers, &p->pgid, 4};
        if (!err && bd_walk_kptr_ok(k, p->pid_sid, 8))
                iov[m++] = (struct bd_kernel_iov){p->pid_sid + (uint64_t)numbers, &p->sid, 4};
        if (!err && m)
                err = bd_walk_read(k, iov, m, "struct pid");
        free(iov);
        return err;
}

/* State the images do not carry yet, which a restored process would lose
 * without a word: refused, naming it. Per thread its seccomp mode; per
 * process POSIX timers, the real interval timer and the CPU-time ones.
 * The same batch reads the pending sets, for read_signals(). */
static struct bd_error *refuse_unwritten(struct res *r)
{
        enum { SECCOMP, PENDING, SHARED, TIMERS, REAL, IT, SET, N };
        static const enum bd_layout_id ids[N] = {
            BDL_TASK_SECCOMP_MODE,   BDL_TASK_SIGPENDING,         BDL_SIGNAL_SHARED_PENDING,
            BDL_SIGNAL_POSIX_TIMERS, BDL_SIGNAL_REAL_TIMER_STATE, BDL_SIGNAL_IT,
            BDL_SIGPENDING_SIGNAL};
        static const int64_t sizes[N] = {4, -1, -1, 16, 1, 32, 8};
        int64_t off[N];
        struct bd_error *err = NULL;
        for (int i = 0; !err && i < N; i++)
                err = sizes[i] < 0 ? bd_layout_get(r->l, ids[i], &off[i])
                                   : bd_layout_get_sized(r->l, ids[i], sizes[i], &off[i]);
        if (err)
                return err;
        size_t n = r->ts->n;
        const struct bd_thread *t0 = &r->ts->t[0];
        int32_t *seccomp = calloc(n, sizeof(*seccomp));
        uint64_t timers[2] = {0}, it[4] = {0};
        uint8_t real = 0;
        struct bd_kernel_iov *iov = calloc(2 * n + 4, sizeof(*iov));
        r->pending = calloc(n + 1, sizeof(*r->pending));
        if (!seccomp || !iov || !r->pending) {
                free(seccomp), free(iov);
                return &bd_error_nomem;
        }
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                const struct bd_thread *t = &r->ts->t[i];
                iov[m++] = (struct bd_kernel_iov){t->task + (uint64_t)off[SECCOMP], &seccomp[i], 4};
                iov[m++] = (struct bd_kernel_iov){t->task + (uint64_t)(off[PENDING] + off[SET]),
                                                  &r->pending[i], 8};
        }
        iov[m++] = (struct bd_kernel_iov){t0->signal + (uint64_t)(off[SHARED] + off[SET]),
                                          &r->pending[n], 8};
        iov[m++] = (struct bd_kernel_iov){t0->signal + (uint64_t)off[TIMERS], timers, 16};
        iov[m++] = (struct bd_kernel_iov){t0->signal + (uint64_t)off[REAL], &real, 1};
        iov[m++] = (struct bd_kernel_iov){t0->signal + (uint64_t)off[IT], it, 32};
        err = bd_walk_read(r->prog->k, iov, m, "signal state");
        for (size_t i = 0; !err && i < n; i++)
                if (seccomp[i])
                        err = bd_error_new(BD_ERR_RANGE,
                                           "thread %d runs under seccomp (mode %d): filters are "
                                           "not written yet",
                                           r->ts->t[i].pid, seccomp[i]);
        /* A process being killed is not brought back to die again. */
        for (size_t i = 0; !err && i <= n; i++)
                if (r->pending[i] >> (SIGKILL_ - 1) & 1)
                        err = bd_error_new(BD_ERR_RANGE,
                                           "pid %d was being killed (SIGKILL pending)", r->pid);
        /* An empty list_head points at itself. */
        uint64_t timers_head = t0->signal + (uint64_t)off[TIMERS];
        if (!err && timers[0] != timers_head)
                err =
                    bd_error_new(BD_ERR_RANGE, "pid %d has POSIX timers: not written yet", r->pid);
        else if (!err && (real & 1))
                err = bd_error_new(BD_ERR_RANGE,
                                   "pid %d has its real interval timer armed (setitimer, "
                                   "alarm): not written yet",
                                   r->pid);
        else if (!err && (it[0] | it[2]))
                err = bd_error_new(BD_ERR_RANGE,
                                   "pid %d has a CPU-time interval timer armed: not written yet",
                                   r->pid);
        free(seccomp), free(iov);
        return err;
}

/* The queues behind each non-empty pending set, bounded as the kernel
 * bounds them: the user's RLIMIT_SIGPENDING, plus a legacy signal each
 * that the kernel queues past it. */
static struct bd_error *read_signals(struct res *r)
{
        size_t n = r->ts->n;
        int64_t task_off, shared_off;
        struct bd_error *err = bd_layout_get(r->l, BDL_TASK_SIGPENDING, &task_off);
        if (!err)
                err = bd_layout_get(r->l, BDL_SIGNAL_SHARED_PENDING, &shared_off);
        if (err)
                return err;
        if (!(r->sigq = calloc(n + 1, sizeof(*r->sigq))))
                return &bd_error_nomem;
        uint64_t lim = r->p.rlim[RLIMIT_SIGPENDING_].cur;
        size_t max = (lim < BD_WALK_DEFAULT_MAX ? (size_t)lim : BD_WALK_DEFAULT_MAX) + 32;
        for (size_t i = 0; !err && i <= n; i++) {
                if (!r->pending[i])
                        continue;
                uint64_t at = i < n ? r->ts->t[i].task + (uint64_t)task_off
                                    : r->ts->t[0].signal + (uint64_t)shared_off;
                err = bd_sigqueue_read(r->prog, at, max, &r->sigq[i]);
                r->st->signals += r->sigq[i].n;
        }
        return err;
}

/* A queue as criu's image holds it, and a signal more when extra->b[0]
 * is one; entries point into q, extra and e. */
static struct bd_error *signal_queue(const struct bd_sigqueue *q, const struct bd_siginfo *extra,
                                     SignalQueueEntry *out, SiginfoEntry **e, SiginfoEntry ***ep)
{
        *out = (SignalQueueEntry)SIGNAL_QUEUE_ENTRY__INIT;
        *e = NULL, *ep = NULL;
        size_t n = q ? q->n : 0, m = n + (extra && extra->b[0]);
        if (!m)
                return NULL;
        *e = calloc(m, sizeof(**e));
        *ep = calloc(m, sizeof(**ep));
        if (!*e || !*ep)
                return &bd_error_nomem;
        for (size_t i = 0; i < m; i++) {
                (*e)[i] = (SiginfoEntry)SIGINFO_ENTRY__INIT;
                (*e)[i].siginfo.len = BD_SIGINFO_SIZE;
                (*e)[i].siginfo.data = (uint8_t *)(i < n ? q->info[i].b : extra->b);
                (*ep)[i] = &(*e)[i];
        }
        out->n_signals = m, out->signals = *ep;
        return NULL;
}

/* libbdagent's signal, as sigqueue() from the process itself sends it,
 * for a thread whose request is rolled back (agent_image.h). */
static void agent_signal(const struct res *r, int32_t tid, struct bd_siginfo *si)
{
        memset(si, 0, sizeof(*si));
        if (!bd_agent_image_signals(&r->ai, tid))
                return;
        int32_t f[4] = {r->ai.signal, 0, SI_QUEUE_, 0};
        f[3] = r->pid; /* si_pid, in the union at offset 16 */
        memcpy(si->b, f, 12);
        memcpy(si->b + 16, &f[3], 4);
}

/* A GDT descriptor as set_thread_area() describes it (the kernel's
 * fill_user_desc()). */
static void user_desc(const uint8_t d[8], uint32_t entry, UserDescT *u)
{
        uint64_t v = bd_le64(d);
        uint32_t type = (uint32_t)(v >> 40) & 0xf;
        u->entry_number = entry;
        u->base_addr = (uint32_t)((v >> 16) & 0xffffff) | (uint32_t)((v >> 56) & 0xff) << 24;
        u->limit = (uint32_t)(v & 0xffff) | (uint32_t)((v >> 48) & 0xf) << 16;
        u->seg_32bit = (v >> 54) & 1;
        u->contents_h = (type >> 3) & 1;
        u->contents_l = (type >> 2) & 1;
        u->read_exec_only = !(type & 2);
        u->limit_in_pages = (v >> 55) & 1;
        u->seg_not_present = !((v >> 47) & 1);
        u->usable = (v >> 52) & 1;
}

/* The xsave components criu's image names, by state component. */
struct component {
        unsigned bit;
        size_t word; /* 4 or 8 */
        size_t *n;
        void **arr;
};

static struct bd_error *xsave_entry(const struct bd_xstate_geometry *g, const uint8_t *xs,
                                    UserX86XsaveEntry *xe, void *owned[8])
{
        xe->xstate_bv = bd_le64(xs + 512);
        struct component c[] = {
            {2, 4, &xe->n_ymmh_space, (void **)&xe->ymmh_space},
            {3, 8, &xe->n_bndreg_state, (void **)&xe->bndreg_state},
            {4, 8, &xe->n_bndcsr_state, (void **)&xe->bndcsr_state},
            {5, 8, &xe->n_opmask_reg, (void **)&xe->opmask_reg},
            {6, 8, &xe->n_zmm_upper, (void **)&xe->zmm_upper},
            {7, 8, &xe->n_hi16_zmm, (void **)&xe->hi16_zmm},
            {BD_XFEATURE_PKRU, 4, &xe->n_pkru, (void **)&xe->pkru},
        };
        for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
                if (!(xe->xstate_bv >> c[i].bit & 1) || c[i].bit >= g->nfeatures)
                        continue;
                size_t bytes = g->size[c[i].bit];
                if (!(owned[i] = malloc(bytes + 8)))
                        return &bd_error_nomem;
                memcpy(owned[i], xs + g->offset[c[i].bit], bytes);
                *c[i].n = bytes / c[i].word;
                *c[i].arr = owned[i];
        }
        return NULL;
}

static void creds_entry(const struct creds *c, CredsEntry *e, uint32_t caps[4][2])
{
        e->uid = c->uid, e->gid = c->gid, e->euid = c->euid, e->egid = c->egid;
        e->suid = c->suid, e->sgid = c->sgid, e->fsuid = c->fsuid, e->fsgid = c->fsgid;
        e->secbits = c->securebits;
        memcpy(caps, c->cap, sizeof(c->cap));
        e->n_cap_inh = e->n_cap_prm = e->n_cap_eff = e->n_cap_bnd = 2;
        e->cap_inh = caps[0], e->cap_prm = caps[1], e->cap_eff = caps[2], e->cap_bnd = caps[3];
}

/* What only the thread-group leader's core holds: the process's task
 * state, limits and signal actions. */
struct task_core {
        TaskCoreEntry tc;
        TaskTimersEntry timers;
        ItimerEntry itimer[3];
        TaskRlimitsEntry rl;
        RlimitEntry rlim[NRLIMITS];
        RlimitEntry *rlimp[NRLIMITS];
        SignalQueueEntry signals;
        SiginfoEntry *si, **sip;
        SaEntry sa[NSIG];
        SaEntry *sap[NSIG];
        char comm[17];
};

static struct bd_error *task_core(const struct res *r, const struct bd_thread *t,
                                  struct task_core *x)
{
        const struct proc *p = &r->p;
        x->tc = (TaskCoreEntry)TASK_CORE_ENTRY__INIT;
        x->timers = (TaskTimersEntry)TASK_TIMERS_ENTRY__INIT;
        for (int i = 0; i < 3; i++)
                x->itimer[i] = (ItimerEntry)ITIMER_ENTRY__INIT;
        x->timers.real = &x->itimer[0], x->timers.virt = &x->itimer[1];
        x->timers.prof = &x->itimer[2];
        x->rl = (TaskRlimitsEntry)TASK_RLIMITS_ENTRY__INIT;
        for (int i = 0; i < NRLIMITS; i++) {
                x->rlim[i] = (RlimitEntry)RLIMIT_ENTRY__INIT;
                x->rlim[i].cur = p->rlim[i].cur, x->rlim[i].max = p->rlim[i].max;
                x->rlimp[i] = &x->rlim[i];
        }
        x->rl.n_rlimits = NRLIMITS, x->rl.rlimits = x->rlimp;
        struct bd_error *err =
            signal_queue(r->sigq ? &r->sigq[r->ts->n] : NULL, NULL, &x->signals, &x->si, &x->sip);
        if (err)
                return err;
        size_t n = 0;
        for (int sig = 1; sig <= NSIG; sig++) {
                if (sig == SIGKILL_ || sig == SIGSTOP_)
                        continue;
                const uint8_t *a = p->action + (size_t)(sig - 1) * SIGACTION;
                x->sa[n] = (SaEntry)SA_ENTRY__INIT;
                x->sa[n].sigaction = bd_le64(a), x->sa[n].flags = bd_le64(a + 8);
                x->sa[n].restorer = bd_le64(a + 16), x->sa[n].mask = bd_le64(a + 24);
                x->sa[n].has_compat_sigaction = 1;
                x->sap[n] = &x->sa[n];
                n++;
        }
        memcpy(x->comm, t->comm, 16);
        x->comm[16] = 0;
        TaskCoreEntry *tc = &x->tc;
        /* Stopped it stays, as criu's restore of a stopped task leaves it. */
        tc->task_state = t->state & KERNEL_TASK_STOPPED ? TASK_STOPPED : TASK_ALIVE;
        tc->exit_code = 0;
        tc->personality = t->personality, tc->flags = t->flags;
        tc->blk_sigset = t->blocked, tc->comm = x->comm;
        tc->timers = &x->timers, tc->rlimits = &x->rl;
        tc->has_cg_set = 1, tc->cg_set = 1;
        tc->signals_s = &x->signals;
        tc->has_loginuid = 1, tc->loginuid = p->loginuid[0];
        tc->has_oom_score_adj = 1, tc->oom_score_adj = p->oom_score_adj;
        tc->n_sigactions = n, tc->sigactions = x->sap;
        tc->has_child_subreaper = 1;
        return NULL;
}

/* core-TID.img of thread i. */
static struct bd_error *write_core(struct res *r, size_t i)
{
        const struct bd_thread *t = &r->ts->t[i];
        const struct bd_xstate_geometry *g = &r->ts->geometry;
        uint8_t regs[BD_PT_REGS_SIZE], insn[2] = {0};
        memcpy(regs, t->regs, sizeof(regs));
        uint64_t ip = bd_le64(regs + BD_REG_IP);
        struct bd_error *err = bd_thread_user_frame(t, r->pid);
        if (err)
                return err;
        err = ip >= 2 ? bd_user_pages_peek(r->pages, ip - 2, insn, 2) : NULL;
        if (bd_err_fatal(err))
                return err;
        bd_error_destroy(err);
        struct bd_resurrect_thread *rt = &r->st->threads[i];
        rt->tid = t->pid;
        rt->on_cpu = t->on_cpu != 0;
        rt->syscall = (int64_t)bd_le64(regs + BD_REG_ORIG_AX);
        rt->fix = bd_syscall_fix(regs, insn[0] == 0x0f && insn[1] == 0x05);
        if (rt->fix == BD_SYSCALL_NONE)
                rt->syscall = -1;

        UserX86RegsEntry gp = USER_X86_REGS_ENTRY__INIT;
        uint64_t *gpr[21] = {&gp.r15, &gp.r14,     &gp.r13, &gp.r12, &gp.bp,    &gp.bx, &gp.r11,
                             &gp.r10, &gp.r9,      &gp.r8,  &gp.ax,  &gp.cx,    &gp.dx, &gp.si,
                             &gp.di,  &gp.orig_ax, &gp.ip,  &gp.cs,  &gp.flags, &gp.sp, &gp.ss};
        for (int k = 0; k < 21; k++)
                *gpr[k] = bd_le64(regs + 8 * k);
        gp.fs_base = t->fsbase, gp.gs_base = t->gsbase;
        gp.ds = t->ds, gp.es = t->es, gp.fs = t->fsindex, gp.gs = t->gsindex;
        gp.has_mode = 1, gp.mode = USER_X86_REGS_MODE__NATIVE;

        uint8_t *xs = malloc(g->user_max_size), fx[BD_FXSAVE_SIZE];
        void *owned[8] = {0};
        if (!xs)
                return &bd_error_nomem;
        UserX86FpregsEntry fp = USER_X86_FPREGS_ENTRY__INIT;
        UserX86XsaveEntry xe = USER_X86_XSAVE_ENTRY__INIT;
        uint32_t st_space[32], xmm_space[64];
        if (!(err = bd_thread_xstate(r->ts, i, xs, fx)))
                err = xsave_entry(g, xs, &xe, owned);
        if (!err) {
                fp.cwd = (uint32_t)bd_le32(fx) & 0xffff, fp.swd = bd_le32(fx) >> 16;
                fp.twd = bd_le32(fx + 4) & 0xffff, fp.fop = bd_le32(fx + 4) >> 16;
                fp.rip = bd_le64(fx + 8), fp.rdp = bd_le64(fx + 16);
                fp.mxcsr = bd_le32(fx + 24), fp.mxcsr_mask = bd_le32(fx + 28);
                memcpy(st_space, fx + 32, sizeof(st_space));
                memcpy(xmm_space, fx + 160, sizeof(xmm_space));
                fp.n_st_space = 32, fp.st_space = st_space;
                fp.n_xmm_space = 64, fp.xmm_space = xmm_space;
                fp.xsave = &xe;
        }
        UserDescT tls[3], *tlsp[3];
        for (int k = 0; k < 3; k++) {
                tls[k] = (UserDescT)USER_DESC_T__INIT;
                user_desc(t->tls + 8 * k, 12 + (uint32_t)k, &tls[k]);
                tlsp[k] = &tls[k];
        }
        ThreadInfoX86 ti = THREAD_INFO_X86__INIT;
        ti.clear_tid_addr = t->clear_child_tid;
        ti.gpregs = &gp, ti.fpregs = &fp;
        ti.n_tls = 3, ti.tls = tlsp;

        ThreadSasEntry sas = THREAD_SAS_ENTRY__INIT;
        sas.ss_sp = t->sas_ss_sp, sas.ss_size = t->sas_ss_size;
        sas.ss_flags = t->sas_ss_size ? t->sas_ss_flags : SS_DISABLE_;
        SignalQueueEntry sigp = SIGNAL_QUEUE_ENTRY__INIT;
        SiginfoEntry *si = NULL, **sip = NULL;
        struct bd_siginfo rollback;
        agent_signal(r, t->pid, &rollback);
        r->st->signals += rollback.b[0] != 0;
        if (!err)
                err = signal_queue(r->sigq ? &r->sigq[i] : NULL, &rollback, &sigp, &si, &sip);
        CredsEntry creds = CREDS_ENTRY__INIT;
        uint32_t caps[4][2];
        creds_entry(&r->p.creds[i], &creds, caps);
        RseqEntry rseq = RSEQ_ENTRY__INIT;
        /* Until 6.3 the kernel knows only the original 32-byte struct
         * rseq (and keeps no length); later lengths are not read yet. */
        rseq.rseq_abi_pointer = t->rseq;
        rseq.rseq_abi_size = t->rseq ? 32 : 0;
        rseq.signature = t->rseq_sig;
        char comm[17];
        memcpy(comm, t->comm, 16);
        comm[16] = 0;
        int leader = t->pid == t->tgid;
        ThreadCoreEntry thc = THREAD_CORE_ENTRY__INIT;
        /* get_robust_list() reports the head's size whatever is set. */
        thc.futex_rla = t->robust_list, thc.futex_rla_len = 24;
        thc.has_sched_nice = 1, thc.sched_nice = t->static_prio - 120;
        thc.has_sched_policy = 1, thc.sched_policy = t->policy;
        thc.has_blk_sigset = !leader, thc.blk_sigset = t->blocked;
        thc.sas = &sas, thc.signals_p = &sigp, thc.creds = &creds, thc.comm = comm;
        thc.rseq_entry = &rseq;

        struct task_core *tc = leader ? calloc(1, sizeof(*tc)) : NULL;
        if (leader && !tc && !err)
                err = &bd_error_nomem;
        CoreEntry ce = CORE_ENTRY__INIT;
        ce.mtype = CORE_ENTRY__MARCH__X86_64;
        ce.thread_info = &ti, ce.thread_core = &thc;
        if (!err && tc && !(err = task_core(r, t, tc)))
                ce.tc = &tc->tc;
        if (!err) {
                char name[64];
                snprintf(name, sizeof(name), "core-%d.img", t->pid);
                const ProtobufCMessage *msg = &ce.base;
                err = bd_criu_img_write(&r->dir, name, BD_CRIU_MAGIC_CORE, &msg, 1);
        }
        if (tc)
                free(tc->si), free(tc->sip);
        free(tc);
        free(si), free(sip);
        for (int k = 0; k < 8; k++)
                free(owned[k]);
        free(xs);
        return err;
}

static int by_file_only(const void *a, const void *b)
{
        const struct file_id *x = a, *y = b;
        return (x->file > y->file) - (x->file < y->file);
}

/* Files in order, and each file's first appearance first (qsort is not
 * stable). */
static int by_file(const void *a, const void *b)
{
        const struct file_id *x = a, *y = b;
        int c = by_file_only(a, b);
        return c ? c : (x->first > y->first) - (x->first < y->first);
}

static int by_first(const void *a, const void *b)
{
        const struct file_id *x = a, *y = b;
        return (x->first > y->first) - (x->first < y->first);
}

/* The ids of files[0..n) (0 entries: none), sorted by file into *out. */
static struct bd_error *number_files(const uint64_t *files, size_t n, struct file_id **out,
                                     size_t *nout)
{
        struct file_id *f = calloc(n + 1, sizeof(*f));
        if (!f)
                return &bd_error_nomem;
        size_t m = 0, u = 0;
        for (size_t i = 0; i < n; i++)
                if (files[i])
                        f[m++] = (struct file_id){files[i], i, 0};
        qsort(f, m, sizeof(*f), by_file);
        for (size_t i = 0; i < m; i++)
                if (!u || f[u - 1].file != f[i].file)
                        f[u++] = f[i];
        qsort(f, u, sizeof(*f), by_first);
        for (size_t i = 0; i < u; i++)
                f[i].id = (uint32_t)i + 1;
        qsort(f, u, sizeof(*f), by_file_only);
        *out = f;
        *nout = u;
        return NULL;
}

static uint32_t file_id(const struct file_id *f, size_t n, uint64_t file)
{
        struct file_id key = {.file = file};
        const struct file_id *hit = file ? bsearch(&key, f, n, sizeof(*f), by_file_only) : NULL;
        return hit ? hit->id : 0;
}

/* What criu's images carry of a VMA's vm_flags as madvise() advice. */
static uint64_t madv(uint64_t f)
{
        uint64_t m = 0;
        if (f & BD_VM_DONTDUMP)
                m |= 1ull << 16; /* MADV_DONTDUMP */
        if (f & VM_DONTCOPY)
                m |= 1ull << 10; /* MADV_DONTFORK */
        if (f & VM_MERGEABLE)
                m |= 1ull << 12; /* MADV_MERGEABLE */
        if (f & VM_HUGEPAGE)
                m |= 1ull << 14; /* MADV_HUGEPAGE */
        if (f & VM_NOHUGEPAGE)
                m |= 1ull << 15; /* MADV_NOHUGEPAGE */
        return m;
}

/* The pages of the VMAs whose memory the images carry, and where. */
struct pagemap {
        struct res *r;
        PagemapEntry *e;
        size_t n, cap;
        int fd;
};

/* A VMA's pages, told after its batch completes, maybe with the next
 * VMAs': each keeps its own flags. */
struct vma_pages {
        struct pagemap *pm;
        uint32_t flags;
};

static struct bd_error *put_pages(const struct vma_pages *vp, uint64_t va, const void *data,
                                  uint64_t len, enum bd_page_kind kind)
{
        struct pagemap *pm = vp->pm;
        struct bd_resurrect_stats *st = pm->r->st;
        if (kind == BD_PAGE_ZERO) {
                st->pages_zero += len / 4096;
                return NULL;
        }
        if (kind != BD_PAGE_DATA)
                return bd_error_new(
                    BD_ERR_RANGE,
                    "pid %d: %" PRIu64 " pages at 0x%" PRIx64 " are %s: they cannot be restored",
                    pm->r->pid, len / 4096, va,
                    kind == BD_PAGE_SWAPPED ? "swapped out" : "outside the source's memory");
        PagemapEntry *last = pm->n ? &pm->e[pm->n - 1] : NULL;
        if (last && last->flags == vp->flags &&
            last->vaddr + (uint64_t)last->nr_pages * 4096 == va &&
            last->nr_pages + len / 4096 <= UINT32_MAX) {
                last->nr_pages += (uint32_t)(len / 4096);
        } else {
                if (bd_grow((void **)&pm->e, &pm->cap, pm->n + 1, sizeof(*pm->e), 64))
                        return &bd_error_nomem;
                PagemapEntry *e = &pm->e[pm->n++];
                *e = (PagemapEntry)PAGEMAP_ENTRY__INIT;
                e->vaddr = va, e->nr_pages = (uint32_t)(len / 4096);
                e->has_flags = 1, e->flags = vp->flags;
        }
        st->pages += len / 4096;
        return bd_criu_raw_write(pm->fd, data, (size_t)len);
}

static struct bd_error *add_pages(void *arg, uint64_t va, const void *data, uint64_t len,
                                  enum bd_page_kind kind)
{
        const struct vma_pages *vp = arg;
        const struct bd_agent_image *ai = &vp->pm->r->ai;
        if ((kind != BD_PAGE_DATA && kind != BD_PAGE_ZERO) || !bd_agent_image_overlaps(ai, va, len))
                return put_pages(vp, va, data, len, kind);
        /* A region rolled back to its commit: those bytes instead. */
        uint8_t *buf = kind == BD_PAGE_DATA ? malloc((size_t)len) : calloc(1, (size_t)len);
        if (!buf)
                return &bd_error_nomem;
        if (kind == BD_PAGE_DATA)
                memcpy(buf, data, (size_t)len);
        bd_agent_image_patch(ai, va, buf, len);
        struct bd_error *err = put_pages(vp, va, buf, len, BD_PAGE_DATA);
        free(buf);
        return err;
}

/* The page tables of every mapping, read ahead a level at a time. */
static struct bd_error *prefetch(struct bd_user_pages *pages, const struct bd_vmas *vs)
{
        struct bd_pgtable_range *rg = calloc(vs->n + 1, sizeof(*rg));
        if (!rg)
                return &bd_error_nomem;
        for (size_t i = 0; i < vs->n; i++)
                rg[i] = (struct bd_pgtable_range){vs->v[i].start, vs->v[i].end};
        struct bd_error *err = bd_user_pages_prefetch(pages, rg, vs->n);
        free(rg);
        return err;
}

/* mm-PID.img, pagemap-PID.img and pages-1.img. */
static struct bd_error *write_memory(struct res *r)
{
        const struct proc *p = &r->p;
        const struct bd_vmas *vs = r->vs;
        uint64_t vdso = 0;
        int64_t vdso_off;
        struct bd_error *err = bd_layout_get_sized(r->l, BDL_MM_VDSO, 8, &vdso_off);
        if (!err)
                err = bd_kernel_read_u64(r->prog->k, r->ts->t[0].mm + (uint64_t)vdso_off, &vdso);
        if (err)
                return err;
        VmaEntry *ve = calloc(vs->n + 1, sizeof(*ve));
        VmaEntry **vp = calloc(vs->n + 1, sizeof(*vp));
        const struct file_id *ids = r->fid;
        size_t nids = r->nfid;
        struct pagemap pm = {.r = r, .fd = -1};
        struct vma_pages *vpg = calloc(vs->n + 1, sizeof(*vpg));
        if (!ve || !vp || !vpg)
                err = &bd_error_nomem;
        if (!err)
                err = bd_criu_raw_open(&r->dir, "pages-1.img", &pm.fd);
        for (size_t i = 0; !err && i < vs->n; i++) {
                const struct bd_vma *v = &vs->v[i];
                VmaEntry *e = &ve[i];
                *e = (VmaEntry)VMA_ENTRY__INIT;
                vp[i] = e;
                int shared = (v->flags & BD_VM_SHARED) != 0, file = v->file != 0;
                int is_vdso = vdso && v->start == vdso;
                int is_vvar = !file && vdso && v->end == vdso && (v->flags & BD_VM_IO);
                /* An anonymous VMA's vm_pgoff is its address: criu says 0. */
                e->start = v->start, e->end = v->end, e->pgoff = file ? v->pgoff * 4096 : 0;
                e->shmid = file_id(ids, nids, v->file);
                e->prot = (uint32_t)(v->flags & (BD_VM_READ | BD_VM_WRITE | BD_VM_EXEC));
                e->flags = (shared ? MAP_SHARED_ : MAP_PRIVATE_) | (file ? 0 : MAP_ANON_) |
                           (v->flags & VM_GROWSDOWN ? MAP_GROWSDOWN_ : 0);
                e->status = BD_CRIU_VMA_AREA_REGULAR |
                            (file ? (shared ? BD_CRIU_VMA_FILE_SHARED : BD_CRIU_VMA_FILE_PRIVATE)
                                  : (shared ? BD_CRIU_VMA_ANON_SHARED : BD_CRIU_VMA_ANON_PRIVATE));
                if (r->ai.st.present && v->start == r->ai.start)
                        e->status |= VMA_AREA_MEMFD;
                if (!file && v->start <= p->mm_field[MM_BRK] && v->end >= p->mm_field[MM_START_BRK])
                        e->status |= BD_CRIU_VMA_AREA_HEAP;
                if (is_vdso)
                        e->status |= BD_CRIU_VMA_AREA_VDSO;
                if (is_vvar)
                        e->status |= BD_CRIU_VMA_AREA_VVAR;
                e->fd = -1;
                e->madv = madv(v->flags);
                e->has_madv = e->madv != 0;
                if (file) {
                        e->has_fdflags = 1;
                        e->fdflags = shared && (v->flags & BD_VM_WRITE) ? 2 /* O_RDWR */ : 0;
                }
                /* The memory of private mappings and the vDSO (criu checks
                 * it against the restoring kernel's); vvar is the kernel's,
                 * shared memory is its file's. */
                if (shared || is_vvar || (v->flags & BD_VM_IO))
                        continue;
                vpg[i] =
                    (struct vma_pages){&pm, file || is_vdso ? BD_CRIU_PE_PRESENT
                                                            : BD_CRIU_PE_LAZY | BD_CRIU_PE_PRESENT};
                err = bd_user_pages_read(r->pages, v->start, v->end, add_pages, &vpg[i]);
        }
        if (!err)
                err = bd_user_pages_flush(r->pages);
        free(vpg);
        if (pm.fd >= 0 && close(pm.fd) && !err)
                err = bd_error_new(BD_ERR_IO, "images: pages-1.img: write failed");
        r->st->vmas = vs->n;
        char name[64];
        if (!err) {
                MmEntry mm = MM_ENTRY__INIT;
                uint64_t *f[MM_NFIELDS] = {&mm.mm_start_code, &mm.mm_end_code,    &mm.mm_start_data,
                                           &mm.mm_end_data,   &mm.mm_start_stack, &mm.mm_start_brk,
                                           &mm.mm_brk,        &mm.mm_arg_start,   &mm.mm_arg_end,
                                           &mm.mm_env_start,  &mm.mm_env_end};
                for (int k = 0; k < MM_NFIELDS; k++)
                        *f[k] = p->mm_field[k];
                mm.exe_file_id = file_id(ids, nids, p->exe_file);
                mm.n_mm_saved_auxv = p->auxv_words, mm.mm_saved_auxv = (uint64_t *)p->auxv;
                mm.n_vmas = vs->n, mm.vmas = vp;
                mm.has_dumpable = 1, mm.dumpable = (int32_t)(p->mm_flags & MMF_DUMPABLE_MASK);
                mm.has_thp_disabled = 1, mm.thp_disabled = (p->mm_flags >> MMF_DISABLE_THP) & 1;
                snprintf(name, sizeof(name), "mm-%d.img", r->pid);
                const ProtobufCMessage *msg = &mm.base;
                err = bd_criu_img_write(&r->dir, name, BD_CRIU_MAGIC_MM, &msg, 1);
        }
        if (!err) {
                PagemapHead head = PAGEMAP_HEAD__INIT;
                head.pages_id = PAGES_ID;
                const ProtobufCMessage **msgs = calloc(pm.n + 1, sizeof(*msgs));
                if (!msgs) {
                        err = &bd_error_nomem;
                } else {
                        msgs[0] = &head.base;
                        for (size_t k = 0; k < pm.n; k++)
                                msgs[k + 1] = &pm.e[k].base;
                        snprintf(name, sizeof(name), "pagemap-%d.img", r->pid);
                        err =
                            bd_criu_img_write(&r->dir, name, BD_CRIU_MAGIC_PAGEMAP, msgs, pm.n + 1);
                        free(msgs);
                }
        }
        free(pm.e), free(ve), free(vp);
        return err;
}

/* The ids of the executable and the mapped files, as criu numbers them. */
static struct bd_error *map_file_ids(struct res *r)
{
        uint64_t *files = calloc(r->vs->n + 2, sizeof(*files));
        if (!files)
                return &bd_error_nomem;
        files[0] = r->p.exe_file;
        for (size_t i = 0; i < r->vs->n; i++)
                files[i + 1] = r->vs->v[i].file;
        struct bd_error *err = number_files(files, r->vs->n + 1, &r->fid, &r->nfid);
        free(files);
        return err;
}

/* files.img, fdinfo-N.img and fs-PID.img, the mapped files first. */
static struct bd_error *write_files(struct res *r)
{
        uint64_t *mapped = calloc(r->nfid + 1, sizeof(*mapped));
        uint8_t *rw = calloc(r->nfid + 1, 1);
        struct bd_error *err = mapped && rw ? NULL : &bd_error_nomem;
        for (size_t i = 0; !err && i < r->nfid; i++)
                mapped[r->fid[i].id - 1] = r->fid[i].file;
        for (size_t i = 0; !err && i < r->vs->n; i++) {
                const struct bd_vma *v = &r->vs->v[i];
                if (v->file && (v->flags & BD_VM_SHARED) && (v->flags & BD_VM_WRITE))
                        rw[file_id(r->fid, r->nfid, v->file) - 1] = 1;
        }
        struct bd_files_image in = {.mapped = mapped,
                                    .mapped_rw = rw,
                                    .nmapped = r->nfid,
                                    .agent_memfd = r->ai.st.present ? r->ai.file : 0,
                                    .table_id = OWN_IDS,
                                    .pid = r->pid};
        if (!err)
                err = bd_files_image_write(r->prog, &r->dir, &in, &r->st->files);
        /* The memfd's inode and contents; its pages by the file's id. */
        if (!err && r->ai.st.present)
                err =
                    bd_agent_image_write(&r->dir, &r->ai, file_id(r->fid, r->nfid, r->ai.file),
                                         MEMFD_PAGES_ID, r->p.creds[0].fsuid, r->p.creds[0].fsgid);
        free(mapped), free(rw);
        return err;
}

/* timens-0.img: the dead (or frozen) kernel's clocks at its last tick.
 * criu restore puts the process into a new time namespace offset by the
 * difference, so that its CLOCK_MONOTONIC and CLOCK_BOOTTIME go on from
 * where they were, not from the restoring machine's uptime. */
static struct bd_error *write_timens(struct res *r)
{
        struct bd_sysinfo si;
        struct bd_error *err = bd_sysinfo_read(r->prog, &si);
        if (!err && !si.have_uptime)
                err = bd_error_new(BD_ERR_NOT_FOUND, "the kernel's clocks (tk_core) did not read");
        if (err)
                return bd_error_wrap(err, "time namespace");
        Timespec mono = TIMESPEC__INIT, boot = TIMESPEC__INIT;
        mono.tv_sec = si.mono_ns / 1000000000u, mono.tv_nsec = si.mono_ns % 1000000000u;
        boot.tv_sec = si.uptime_ns / 1000000000u, boot.tv_nsec = si.uptime_ns % 1000000000u;
        TimensEntry te = TIMENS_ENTRY__INIT;
        te.monotonic = &mono, te.boottime = &boot;
        const ProtobufCMessage *msg = &te.base;
        return bd_criu_img_write(&r->dir, "timens-0.img", BD_CRIU_MAGIC_TIMENS, &msg, 1);
}

/* takeover: what standby/bd-standby-restore needs besides criu: the pids
 * that must be free there, the addresses to move and the connections to
 * hold off meanwhile. Numbers only. */
static struct bd_error *write_takeover(struct res *r)
{
        int fd;
        struct bd_error *err = bd_criu_raw_open(&r->dir, "takeover", &fd);
        if (err)
                return err;
        char line[64];
        int n = snprintf(line, sizeof(line), "# bdmon resurrect: for bd-standby-restore\n");
        err = bd_criu_raw_write(fd, line, (size_t)n);
        for (size_t i = 0; !err && i < r->ts->n; i++) {
                n = snprintf(line, sizeof(line), "pid %d\n", r->ts->t[i].pid);
                err = bd_criu_raw_write(fd, line, (size_t)n);
        }
        if (!err)
                err = bd_criu_raw_write(fd, r->st->files.takeover, r->st->files.takeover_len);
        if (close(fd) && !err)
                err = bd_error_new(BD_ERR_IO, "images: takeover: write failed");
        return err;
}

static void ns_ids(TaskKobjIdsEntry *e, uint32_t own)
{
        e->vm_id = e->files_id = e->fs_id = e->sighand_id = own;
        e->has_pid_ns_id = 1, e->pid_ns_id = NS_PID;
        e->has_net_ns_id = 1, e->net_ns_id = NS_NET;
        e->has_ipc_ns_id = 1, e->ipc_ns_id = NS_IPC;
        e->has_uts_ns_id = 1, e->uts_ns_id = NS_UTS;
        e->has_mnt_ns_id = 1, e->mnt_ns_id = NS_MNT;
        e->has_user_ns_id = 1, e->user_ns_id = NS_USER;
        e->has_cgroup_ns_id = 1, e->cgroup_ns_id = NS_CGROUP;
        e->has_time_ns_id = 1, e->time_ns_id = NS_TIME;
}

/* inventory.img, pstree.img and ids-PID.img. */
static struct bd_error *write_tree(struct res *r)
{
        TaskKobjIdsEntry root = TASK_KOBJ_IDS_ENTRY__INIT, ids = TASK_KOBJ_IDS_ENTRY__INIT;
        ns_ids(&root, 1);
        ns_ids(&ids, OWN_IDS);
        InventoryEntry inv = INVENTORY_ENTRY__INIT;
        inv.img_version = 2;
        inv.has_fdinfo_per_id = 1, inv.fdinfo_per_id = 1;
        inv.root_ids = &root;
        inv.has_ns_per_id = 1, inv.ns_per_id = 1;
        inv.has_root_cg_set = 1, inv.root_cg_set = 1;
        inv.has_lsmtype = 1, inv.lsmtype = LSMTYPE__NO_LSM;
        inv.has_network_lock_method = 1, inv.network_lock_method = NETWORK_LOCK_NFTABLES;
        const ProtobufCMessage *msg = &inv.base;
        struct bd_error *err =
            bd_criu_img_write(&r->dir, "inventory.img", BD_CRIU_MAGIC_INVENTORY, &msg, 1);
        uint32_t *tids = calloc(r->ts->n + 1, sizeof(*tids));
        if (!err && !tids)
                err = &bd_error_nomem;
        if (!err) {
                PstreeEntry pe = PSTREE_ENTRY__INIT;
                pe.pid = (uint32_t)r->ts->t[0].tgid;
                pe.pgid = (uint32_t)r->p.pgid, pe.sid = (uint32_t)r->p.sid;
                for (size_t i = 0; i < r->ts->n; i++)
                        tids[i] = (uint32_t)r->ts->t[i].pid;
                pe.n_threads = r->ts->n, pe.threads = tids;
                msg = &pe.base;
                err = bd_criu_img_write(&r->dir, "pstree.img", BD_CRIU_MAGIC_PSTREE, &msg, 1);
        }
        free(tids);
        if (!err)
                err = write_timens(r);
        if (!err) {
                SeccompEntry none = SECCOMP_ENTRY__INIT;
                msg = &none.base;
                err = bd_criu_img_write(&r->dir, "seccomp.img", BD_CRIU_MAGIC_SECCOMP, &msg, 1);
        }
        if (!err) {
                char name[64];
                snprintf(name, sizeof(name), "ids-%d.img", r->pid);
                msg = &ids.base;
                err = bd_criu_img_write(&r->dir, name, BD_CRIU_MAGIC_IDS, &msg, 1);
        }
        return err;
}

/* jiffies_64, or 0 when the kernel has none to read. */
static uint64_t jiffies(struct bd_program *prog)
{
        uint64_t v = 0;
        struct bd_error *err = bd_program_read_symbol(prog, "jiffies_64", &v, sizeof(v));
        if (!err)
                return v;
        bd_error_destroy(err);
        return 0;
}

struct bd_error *bd_resurrect_images(struct bd_program *prog, int32_t pid, const char *dir,
                                     const struct bd_resurrect_options *opt,
                                     struct bd_resurrect_stats *st)
{
        memset(st, 0, sizeof(*st));
        bd_reads_start(&st->reads, prog->phys);
        uint64_t j0 = jiffies(prog);
        struct res r = {.prog = prog, .pid = pid, .st = st, .dir = {.fd = -1}};
        struct bd_error *err = bd_program_layout(prog, &r.l);
        if (!err)
                err = bd_threads_read(prog, pid, bd_budget(prog, BD_THREADS_BUDGET), &r.ts);
        if (!err && r.ts->t[0].tgid != pid)
                err = bd_error_new(BD_ERR_USAGE, "%d is a thread of process %d: name the process",
                                   pid, r.ts->t[0].tgid);
        for (size_t i = 0; !err && i < r.ts->n; i++)
                if (r.ts->t[i].on_cpu && !(opt && opt->force))
                        err = bd_error_new(BD_ERR_RANGE,
                                           "thread %d was on cpu %u: its registers and FPU state "
                                           "were in the CPU, not in memory (--force takes the "
                                           "risk)",
                                           r.ts->t[i].pid, r.ts->t[i].cpu);
        if (!err)
                err = bd_user_mm_of_pid(prog, pid, &r.um);
        if (!err)
                err = read_process(&r);
        if (!err)
                err = refuse_unwritten(&r);
        if (!err)
                err = read_signals(&r);
        if (!err)
                err = bd_vmas_read(prog, pid, &r.vs);
        if (!err)
                err = bd_user_pages_new(prog, &r.um, &r.pages);
        if (!err)
                err = prefetch(r.pages, r.vs);
        if (!err)
                err = bd_agent_image_plan(pid, r.vs, r.ts, r.pages, &r.ai);
        if (!err && !(st->threads = calloc(r.ts->n, sizeof(*st->threads))))
                err = &bd_error_nomem;
        if (!err)
                err = bd_criu_dir_create(dir, &r.dir);
        for (size_t i = 0; !err && i < r.ts->n; i++)
                err = write_core(&r, i);
        if (!err)
                err = map_file_ids(&r);
        if (!err)
                err = write_memory(&r);
        if (!err)
                err = write_files(&r);
        if (!err)
                err = write_tree(&r);
        if (!err)
                err = write_takeover(&r);
        if (!err)
                err = bd_criu_dir_commit(&r.dir);
        uint64_t j1 = j0 ? jiffies(prog) : 0;
        st->kernel_ran = j0 && j1 ? j1 != j0 : -1;
        if (err)
                bd_criu_dir_discard(&r.dir);
        st->nthreads = r.ts ? r.ts->n : 0;
        for (size_t i = 0; r.sigq && i <= r.ts->n; i++)
                bd_sigqueue_free(&r.sigq[i]);
        free(r.sigq), free(r.pending);
        free(r.fid);
        st->agent = r.ai.st;
        bd_agent_image_free(&r.ai);
        free(r.p.creds);
        free(r.p.loginuid);
        if (r.pages)
                bd_user_pages_counts(r.pages, &st->pages_read, &st->pages_read_again);
        bd_user_pages_free(r.pages);
        bd_vmas_free(r.vs);
        bd_threads_free(r.ts);
        bd_reads_stop(&st->reads, prog->phys);
        return err ? bd_error_wrap(err, "resurrect pid %d", pid) : NULL;
}

void bd_resurrect_stats_free(struct bd_resurrect_stats *st)
{
        free(st->threads);
        free(st->files.takeover);
        st->threads = NULL;
        st->files.takeover = NULL;
}
