#include "tasks.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/clock.h"
#include "../../common/grow.h"
#include "budget.h"
#include "../walk/gather.h"
#include "../walk/walk.h"
#include "../walk/walk_xarray.h"

/* Reading a gap of this many bytes costs less than another operation. */
#define FIELD_GAP 64
/* Held per task besides its fields and the task kept: the pointers, flags
 * and counters on the way (pid, parent, mm counters and their reads). */
#define TASK_EXTRA 256

/* Linux's TASK_REPORT bits and the two states folded into them
 * (include/linux/sched.h, fs/proc/array.c). */
#define TASK_REPORT      0x7fu
#define TASK_IDLE        0x402u
#define TASK_RTLOCK_WAIT 0x1000u

char bd_task_state_char(uint32_t state, int32_t exit_state)
{
        static const char letters[] = "RSDTtXZPI";
        uint32_t s = (state | (uint32_t)exit_state) & TASK_REPORT;
        if ((state & TASK_IDLE) == TASK_IDLE)
                s = TASK_REPORT + 1;
        if (state == TASK_RTLOCK_WAIT)
                s = 2;
        int fls = 0;
        while (s) {
                fls++;
                s >>= 1;
        }
        return fls < (int)sizeof(letters) ? letters[fls] : '?';
}

const char *bd_task_policy_name(uint32_t policy)
{
        static const char *const names[] = {"TS", "FF", "RR", "B", "ISO", "IDL", "DLN"};
        return policy < sizeof(names) / sizeof(names[0]) ? names[policy] : "?";
}

struct pids {
        uint64_t *pid; /* struct pid addresses */
        size_t n, cap;
        uint64_t each, budget; /* what a task costs, and the view may spend */
};

static struct bd_error *collect_pid(void *arg, uint64_t index, uint64_t entry)
{
        (void)index;
        struct pids *p = arg;
        if (entry & 3) /* a value entry, not a struct pid */
                return NULL;
        if (p->n >= BD_PID_MAX_LIMIT)
                return bd_error_new(BD_ERR_RANGE, "more than %u pids", BD_PID_MAX_LIMIT);
        struct bd_error *err = bd_budget_check(p->n + 1, p->each, p->budget, "tasks");
        if (err)
                return err;
        if (bd_grow((void **)&p->pid, &p->cap, p->n + 1, sizeof(*p->pid), 1024))
                return &bd_error_nomem;
        p->pid[p->n++] = entry;
        return NULL;
}

enum {
        F_STATE,
        F_EXIT_STATE,
        F_FLAGS,
        F_CPU,
        F_ON_CPU,
        F_PRIO,
        F_RT_PRIORITY,
        F_POLICY,
        F_PID,
        F_TGID,
        F_REAL_PARENT,
        F_COMM,
        F_MM,
        F_EXEC_START,
        F_NVCSW,
        F_NIVCSW,
        F_START_TIME,
        F_COUNT,
        /* What a repair reads of its victims: kept with the rest when the
         * kernel's layout has them (a stored layout may predate them). */
        F_PENDING = F_COUNT,
        F_TI_FLAGS,
        F_SIGNAL,
        F_ALL
};

static const enum bd_layout_id field_ids[F_ALL] = {
    BDL_TASK_STATE,      BDL_TASK_EXIT_STATE,    BDL_TASK_FLAGS,       BDL_TASK_CPU,
    BDL_TASK_ON_CPU,     BDL_TASK_PRIO,          BDL_TASK_RT_PRIORITY, BDL_TASK_POLICY,
    BDL_TASK_PID,        BDL_TASK_TGID,          BDL_TASK_REAL_PARENT, BDL_TASK_COMM,
    BDL_TASK_MM,         BDL_TASK_SE_EXEC_START, BDL_TASK_NVCSW,       BDL_TASK_NIVCSW,
    BDL_TASK_START_TIME, BDL_TASK_PENDING,       BDL_TASK_TI_FLAGS,    BDL_TASK_SIGNAL,
};

static const uint8_t field_size[F_ALL] = {
    [F_STATE] = 4,       [F_EXIT_STATE] = 4,  [F_FLAGS] = 4,   [F_CPU] = 4,        [F_ON_CPU] = 4,
    [F_PRIO] = 4,        [F_RT_PRIORITY] = 4, [F_POLICY] = 4,  [F_PID] = 4,        [F_TGID] = 4,
    [F_REAL_PARENT] = 8, [F_COMM] = 16,       [F_MM] = 8,      [F_EXEC_START] = 8, [F_NVCSW] = 8,
    [F_NIVCSW] = 8,      [F_START_TIME] = 8,  [F_PENDING] = 8, [F_TI_FLAGS] = 8,   [F_SIGNAL] = 8,
};

struct plan {
        const struct bd_layout *l;
        int64_t off[F_ALL];
        size_t nfields; /* F_ALL, or F_COUNT without the signal fields */
        int64_t pid_tasks, pid_links, pidtype, rss, mm_counters[3], tgid, clock_task;
        int64_t signal_flags; /* -1: not known */
        struct bd_gather g;
};

static struct bd_error *make_plan(struct bd_program *prog, struct plan *pl)
{
        struct bd_error *err = bd_program_layout(prog, &pl->l);
        if (err)
                return err;
        if ((err = bd_layout_need(pl->l, field_ids, F_COUNT, pl->off)))
                return err;
        static const enum bd_layout_id more[] = {
            BDL_PID_TASKS,    BDL_TASK_PID_LINKS, BDL_PIDTYPE_PID,   BDL_MM_RSS_STAT,
            BDL_MM_FILEPAGES, BDL_MM_ANONPAGES,   BDL_MM_SHMEMPAGES, BDL_RQ_CLOCK_TASK};
        int64_t v[8];
        if ((err = bd_layout_need(pl->l, more, 8, v)))
                return err;
        pl->pid_tasks = v[0];
        pl->pid_links = v[1];
        pl->pidtype = v[2];
        pl->rss = v[3];
        for (int i = 0; i < 3; i++) {
                pl->mm_counters[i] = v[4 + i];
                if (v[4 + i] < 0 || v[4 + i] > 15)
                        return bd_error_new(BD_ERR_PROTOCOL, "mm counter index %lld",
                                            (long long)v[4 + i]);
        }
        if (pl->pidtype < 0 || pl->pidtype > 15)
                return bd_error_new(BD_ERR_PROTOCOL, "PIDTYPE_PID is %lld", (long long)pl->pidtype);
        pl->tgid = pl->off[F_TGID];
        pl->clock_task = v[7];
        pl->nfields = F_ALL;
        for (int i = F_COUNT; i < F_ALL; i++)
                if (!bd_layout_has(pl->l, field_ids[i], &pl->off[i]))
                        pl->nfields = F_COUNT;
        if (pl->nfields != F_ALL || !bd_layout_has(pl->l, BDL_SIGNAL_FLAGS, &pl->signal_flags))
                pl->signal_flags = -1;
        int64_t sizes[F_ALL];
        for (int i = 0; i < F_ALL; i++)
                sizes[i] = field_size[i];
        return bd_gather_plan(&pl->g, pl->off, sizes, pl->nfields, FIELD_GAP);
}

/* The initial pid namespace's IDR: where, and its xarray layout. */
static struct bd_error *pid_idr(struct bd_program *prog, const struct plan *pl, uint64_t *xa,
                                struct bd_xa_layout *xl)
{
        static const enum bd_layout_id ids[] = {BDL_PID_NS_IDR,    BDL_IDR_RT,
                                                BDL_XARRAY_HEAD,   BDL_XA_NODE_SHIFT,
                                                BDL_XA_NODE_SLOTS, BDL_XA_NODE};
        uint64_t ns;
        int64_t v[6];
        struct bd_error *err = bd_program_symbol(prog, "init_pid_ns", &ns);
        if (!err)
                err = bd_layout_need(pl->l, ids, 6, v);
        if (err)
                return err;
        *xa = ns + (uint64_t)v[0] + (uint64_t)v[1];
        *xl = (struct bd_xa_layout){(uint32_t)v[2], (uint32_t)v[3], (uint32_t)v[4], (uint32_t)v[5]};
        return NULL;
}

static struct bd_error *task_addrs(struct bd_program *prog, const struct plan *pl,
                                   struct pids *pids, uint64_t **tasks, size_t *ntasks,
                                   struct bd_tasks_stats *st)
{
        struct bd_kernel *k = prog->k;
        uint64_t xa;
        struct bd_xa_layout xl;
        struct bd_error *err = pid_idr(prog, pl, &xa, &xl);
        if (err)
                return err;
        struct bd_walk_opts o = {.max = BD_PID_MAX_LIMIT / 64};
        err = bd_xa_walk(k, xa, &xl, &o, collect_pid, pids);
        if (err)
                return bd_error_wrap(err, "the pid IDR");
        st->pids = pids->n;

        /* pid->tasks[PIDTYPE_PID].first for every pid, in one batch. */
        uint64_t *first = calloc(pids->n ? pids->n : 1, sizeof(*first));
        struct bd_kernel_iov *iov = calloc(pids->n ? pids->n : 1, sizeof(*iov));
        uint8_t *ok = calloc(pids->n ? pids->n : 1, 1);
        if (!first || !iov || !ok) {
                free(first), free(iov), free(ok);
                return &bd_error_nomem;
        }
        size_t n = 0;
        for (size_t i = 0; i < pids->n; i++) {
                if (!bd_walk_kptr_ok(k, pids->pid[i], 8))
                        continue;
                uint64_t head = pids->pid[i] + (uint64_t)pl->pid_tasks + 8 * (uint64_t)pl->pidtype;
                iov[n] = (struct bd_kernel_iov){head, &first[n], 8};
                n++;
        }
        st->unreadable += pids->n - n;
        err = bd_gather_read(k, iov, n, 1, ok);
        size_t m = 0;
        /* first points at task->pid_links[PIDTYPE_PID], an hlist_node. */
        uint64_t back = (uint64_t)pl->pid_links + 16 * (uint64_t)pl->pidtype;
        for (size_t i = 0; !err && i < n; i++) {
                if (!ok[i] || !bd_walk_kptr_ok(k, first[i], 8)) {
                        st->unreadable += first[i] != 0 || !ok[i];
                        continue;
                }
                first[m++] = first[i] - back;
        }
        free(iov);
        free(ok);
        if (err) {
                free(first);
                return err;
        }
        *tasks = first;
        *ntasks = m;
        return NULL;
}

static struct bd_error *read_fields(struct bd_program *prog, const struct plan *pl,
                                    const uint64_t *addr, size_t n, uint8_t *copies, uint8_t *ok)
{
        struct bd_kernel_iov *iov = calloc(n * pl->g.n + 1, sizeof(*iov));
        if (!iov)
                return &bd_error_nomem;
        for (size_t i = 0; i < n; i++)
                bd_gather_iov(&pl->g, addr[i], copies + i * pl->g.copy_size, iov + i * pl->g.n);
        struct bd_error *err = bd_gather_read(prog->k, iov, n, pl->g.n, ok);
        free(iov);
        return err;
}

static void decode(const struct plan *pl, const uint8_t *c, uint64_t addr, struct bd_task *t)
{
        const struct bd_gather *g = &pl->g;
        const int64_t *o = pl->off;
        memset(t, 0, sizeof(*t));
        t->addr = addr;
        t->state = (uint32_t)bd_gather_value(g, c, o[F_STATE], 4);
        t->exit_state = (int32_t)bd_gather_value(g, c, o[F_EXIT_STATE], 4);
        t->flags = (uint32_t)bd_gather_value(g, c, o[F_FLAGS], 4);
        t->cpu = (uint32_t)bd_gather_value(g, c, o[F_CPU], 4);
        t->on_cpu = (int32_t)bd_gather_value(g, c, o[F_ON_CPU], 4);
        t->prio = (int32_t)bd_gather_value(g, c, o[F_PRIO], 4);
        t->rt_priority = (uint32_t)bd_gather_value(g, c, o[F_RT_PRIORITY], 4);
        t->policy = (uint32_t)bd_gather_value(g, c, o[F_POLICY], 4);
        t->pid = (int32_t)bd_gather_value(g, c, o[F_PID], 4);
        t->tgid = (int32_t)bd_gather_value(g, c, o[F_TGID], 4);
        t->mm = bd_gather_value(g, c, o[F_MM], 8);
        t->nvcsw = bd_gather_value(g, c, o[F_NVCSW], 8);
        t->nivcsw = bd_gather_value(g, c, o[F_NIVCSW], 8);
        t->start_time = bd_gather_value(g, c, o[F_START_TIME], 8);
        const void *comm = bd_gather_field(g, c, o[F_COMM], 16);
        if (comm)
                memcpy(t->comm, comm, 16);
        t->comm[16] = '\0';
        t->rss_pages = -1;
        t->since_run_ns = -1;
        t->ppid = -1;
        t->signal_flags = -1;
        if (pl->nfields == F_ALL) {
                t->sigpending = bd_gather_value(g, c, o[F_PENDING], 8);
                t->ti_flags = bd_gather_value(g, c, o[F_TI_FLAGS], 8);
                t->signal = bd_gather_value(g, c, o[F_SIGNAL], 8);
        }
}

/* Parent tgids, mm counters, signal_struct flags and the runqueue clocks,
 * in one batch. */
static struct bd_error *read_pointed(struct bd_program *prog, const struct plan *pl,
                                     struct bd_task *t, const uint64_t *parent,
                                     const uint64_t *exec_start, size_t n)
{
        struct bd_kernel *k = prog->k;
        unsigned ncpus = 0;
        uint64_t rq = 0;
        struct bd_error *err = bd_program_cpus(prog, &ncpus);
        if (!err)
                err = bd_program_symbol(prog, "runqueues", &rq);
        if (err) /* time since last run is the only casualty */
                bd_error_destroy(err), ncpus = 0;
        int32_t *ptgid = calloc(n + 1, sizeof(*ptgid));
        uint32_t *sflags = calloc(n + 1, sizeof(*sflags));
        int64_t(*rss)[16] = calloc(n + 1, sizeof(*rss));
        uint64_t *clock = calloc(ncpus + 1, sizeof(*clock));
        uint8_t *have_clock = calloc(ncpus + 1, 1);
        /* who: [0, n) parents, [n, 2n) mms, [2n, 3n) signals, then cpus. */
        struct bd_kernel_iov *iov = calloc(3 * n + ncpus + 1, sizeof(*iov));
        uint8_t *ok = calloc(3 * n + ncpus + 1, 1);
        size_t *who = calloc(3 * n + ncpus + 1, sizeof(*who));
        if (!ptgid || !sflags || !rss || !clock || !have_clock || !iov || !ok || !who) {
                err = &bd_error_nomem;
                goto out;
        }
        size_t m = 0;
        int nctr = 0;
        for (int i = 0; i < 3; i++)
                if (pl->mm_counters[i] + 1 > nctr)
                        nctr = (int)pl->mm_counters[i] + 1;
        for (size_t i = 0; i < n; i++) {
                if (bd_walk_kptr_ok(k, parent[i], 8)) {
                        who[m] = i;
                        iov[m++] =
                            (struct bd_kernel_iov){parent[i] + (uint64_t)pl->tgid, &ptgid[i], 4};
                }
                if (t[i].mm && bd_walk_kptr_ok(k, t[i].mm, 8)) {
                        who[m] = n + i;
                        iov[m++] = (struct bd_kernel_iov){t[i].mm + (uint64_t)pl->rss, rss[i],
                                                          8 * (size_t)nctr};
                }
                if (pl->signal_flags >= 0 && bd_walk_kptr_ok(k, t[i].signal, 8)) {
                        who[m] = 2 * n + i;
                        iov[m++] = (struct bd_kernel_iov){t[i].signal + (uint64_t)pl->signal_flags,
                                                          &sflags[i], 4};
                }
        }
        for (unsigned c = 0; c < ncpus; c++) {
                uint64_t a;
                struct bd_error *e = bd_program_percpu(prog, rq, c, &a);
                if (e) {
                        bd_error_destroy(e);
                        continue;
                }
                who[m] = 3 * n + c;
                iov[m++] = (struct bd_kernel_iov){a + (uint64_t)pl->clock_task, &clock[c], 8};
        }
        if ((err = bd_gather_read(k, iov, m, 1, ok)))
                goto out;
        for (size_t j = 0; j < m; j++) {
                if (!ok[j])
                        continue;
                size_t w = who[j];
                if (w < n) {
                        t[w].ppid = ptgid[w];
                } else if (w < 2 * n) {
                        size_t i = w - n;
                        /* Summed in unsigned: hostile counters must not
                         * overflow a signed sum, and one just below zero
                         * (not yet folded back) still sums right. */
                        uint64_t sum = 0;
                        for (int c = 0; c < 3; c++)
                                sum += (uint64_t)rss[i][pl->mm_counters[c]];
                        t[i].rss_pages = (int64_t)sum < 0 ? 0 : (int64_t)sum;
                } else if (w < 3 * n) {
                        t[w - 2 * n].signal_flags = sflags[w - 2 * n];
                } else {
                        have_clock[w - 3 * n] = 1;
                }
        }
        /* By each task's cpu: a pass per cpu would cost cpus times tasks. */
        for (size_t i = 0; i < n; i++) {
                unsigned c = t[i].cpu;
                /* Clocks 2^63 ns apart are garbage, not a time: as an
                 * int64_t they would go negative, which is not "unknown". */
                if (c < ncpus && have_clock[c] && exec_start[i] && exec_start[i] <= clock[c] &&
                    clock[c] - exec_start[i] <= INT64_MAX)
                        t[i].since_run_ns = (int64_t)(clock[c] - exec_start[i]);
        }
out:
        free(ptgid), free(sflags), free(rss), free(clock), free(have_clock), free(iov), free(ok),
            free(who);
        return err;
}

static int by_pid(const void *a, const void *b)
{
        const struct bd_task *x = a, *y = b;
        return x->pid < y->pid ? -1 : x->pid > y->pid;
}

struct bd_error *bd_tasks_read(struct bd_program *prog, int threads, struct bd_tasks **out)
{
        /* The plan may load BTF on first use: the figures are the walk's. */
        struct plan pl;
        struct bd_error *err = make_plan(prog, &pl);
        if (err)
                return bd_error_wrap(err, "ps");
        struct bd_phys *p = prog->phys;
        uint64_t t0 = bd_now_ns(), rt0 = p->round_trips, b0 = p->bytes_read, w0 = p->batches;
        struct bd_tasks *ts = calloc(1, sizeof(*ts));
        struct pids pids = {
            .each = pl.g.copy_size + pl.g.n * sizeof(struct bd_kernel_iov) +
                    sizeof(struct bd_task) + TASK_EXTRA,
            .budget = bd_budget(prog, BD_TASKS_BUDGET),
        };
        uint64_t *addr = NULL, *parent = NULL, *exec_start = NULL;
        uint8_t *copies = NULL, *ok = NULL;
        size_t n = 0;
        if (!ts) {
                err = &bd_error_nomem;
                goto out;
        }
        if ((err = task_addrs(prog, &pl, &pids, &addr, &n, &ts->st)))
                goto out;
        copies = calloc(n + 1, pl.g.copy_size);
        ok = calloc(n + 1, 1);
        ts->t = calloc(n + 1, sizeof(*ts->t));
        parent = calloc(n + 1, sizeof(*parent));
        exec_start = calloc(n + 1, sizeof(*exec_start));
        if (!copies || !ok || !ts->t || !parent || !exec_start) {
                err = &bd_error_nomem;
                goto out;
        }
        if ((err = read_fields(prog, &pl, addr, n, copies, ok)))
                goto out;
        for (size_t i = 0; i < n; i++) {
                const uint8_t *c = copies + i * pl.g.copy_size;
                if (!ok[i]) {
                        ts->st.unreadable++;
                        continue;
                }
                struct bd_task *t = &ts->t[ts->n];
                decode(&pl, c, addr[i], t);
                if (!threads && t->pid != t->tgid)
                        continue;
                parent[ts->n] = bd_gather_value(&pl.g, c, pl.off[F_REAL_PARENT], 8);
                exec_start[ts->n] = bd_gather_value(&pl.g, c, pl.off[F_EXEC_START], 8);
                ts->n++;
        }
        if ((err = read_pointed(prog, &pl, ts->t, parent, exec_start, ts->n)))
                goto out;
        qsort(ts->t, ts->n, sizeof(*ts->t), by_pid);
        ts->st.round_trips = prog->phys->round_trips - rt0;
        ts->st.batches = prog->phys->batches - w0;
        ts->st.bytes_read = prog->phys->bytes_read - b0;
        ts->st.elapsed_ns = bd_now_ns() - t0;
out:
        free(pids.pid), free(addr), free(parent), free(exec_start), free(copies), free(ok);
        if (err) {
                bd_tasks_free(ts);
                return bd_error_wrap(err, "ps");
        }
        *out = ts;
        return NULL;
}

struct find_pid {
        uint64_t want, entry;
};

static struct bd_error *match_pid(void *arg, uint64_t index, uint64_t entry)
{
        struct find_pid *f = arg;
        if (index != f->want)
                return NULL;
        f->entry = entry;
        return &bd_walk_stop;
}

struct bd_error *bd_task_by_pid(struct bd_program *prog, int32_t pid, uint64_t *task)
{
        struct plan pl;
        struct bd_error *err = make_plan(prog, &pl);
        if (err)
                return err;
        struct bd_kernel *k = prog->k;
        uint64_t xa;
        struct bd_xa_layout xl;
        if ((err = pid_idr(prog, &pl, &xa, &xl)))
                return err;
        struct bd_walk_opts o = {.max = BD_PID_MAX_LIMIT / 64};
        struct find_pid f = {(uint64_t)pid, 0};
        if ((err = bd_xa_walk(k, xa, &xl, &o, match_pid, &f)))
                return bd_error_wrap(err, "the pid IDR");
        uint64_t first = 0;
        if (f.entry && !(f.entry & 3) && bd_walk_kptr_ok(k, f.entry, 8) &&
            (err = bd_kernel_read_u64(
                 k, f.entry + (uint64_t)pl.pid_tasks + 8 * (uint64_t)pl.pidtype, &first)))
                return err;
        if (!first || !bd_walk_kptr_ok(k, first, 8))
                return bd_error_new(BD_ERR_NOT_FOUND, "no task with pid %d", pid);
        *task = first - (uint64_t)pl.pid_links - 16 * (uint64_t)pl.pidtype;
        return NULL;
}

struct bd_error *bd_task_pointer(struct bd_program *prog, int32_t pid, enum bd_layout_id member,
                                 uint64_t *out)
{
        const struct bd_layout *l;
        int64_t off;
        uint64_t task;
        struct bd_error *err = bd_program_layout(prog, &l);
        if (!err)
                err = bd_layout_get(l, member, &off);
        if (!err)
                err = bd_task_by_pid(prog, pid, &task);
        return err ? err : bd_kernel_read_u64(prog->k, task + (uint64_t)off, out);
}

void bd_tasks_free(struct bd_tasks *ts)
{
        if (ts) {
                free(ts->t);
                free(ts);
        }
}
