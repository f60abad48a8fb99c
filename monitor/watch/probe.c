#include "probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/bytes.h"
#include "../../common/clock.h"
#include "../../common/grow.h"
#include "../walk/gather.h"
#include "hung.h"

#define PANIC_CPU_INVALID (-1)
#define BDA_PHYS          0x400u
#define MAX_RT_PRIO       100 /* prio 0..99: real-time; fair tasks 100..139 */

/* A planned range's place in a merged read. */
struct copy_out {
        size_t from; /* offset in the scratch buffer */
        void *to;
        size_t len;
};

/* Reads of nearby fields are merged into one: a NIC's cost is per
 * request, not per byte. At most this much, so that a mediated NIC takes
 * several merged reads in one READV (monitor/phys_nic.c). */
#define MERGE_MAX 1024

struct bd_probe {
        struct bd_program *prog;
        struct bd_probe_info info;
        struct bd_phys_iov *iov; /* as planned: one per field range */
        size_t n, cap, n_static;
        struct bd_phys_iov *merged; /* what is read: merged static ranges, then the dynamic */
        size_t nmerged, merged_cap;
        struct copy_out *copies;
        size_t ncopies;
        uint8_t *scratch;
        uint64_t boot_hash;
        /* The start of VMCOREINFO and its KERNELOFFSET line, as found and
         * as each probe reads them: a reboot changes one or the other (the
         * same kernel booting again may put its note on the same page,
         * but KASLR moves it elsewhere in memory). */
        uint8_t note_then[64], note_now[64];
        uint8_t koff_then[32], koff_now[32];
        size_t koff_len;
        /* The BIOS data area: firmware writes it at every reset and Linux
         * leaves it alone once booted, so a change is a reset, even when
         * the old kernel's memory (VMCOREINFO included) survives it. */
        uint8_t bda_then[256], bda_now[256];
        int have_bda;

        /* Raw values, written by the reads; unplanned ones keep defaults. */
        uint64_t jiffies, tainted, online_mask, max_files, free_pages, totalram;
        uint64_t file_lru[2]; /* NR_ACTIVE_FILE, NR_INACTIVE_FILE */
        int64_t nr_files;
        int32_t panic_cpu, oops, system_state, nr_threads, max_threads, pid_max;
        int32_t min_free_kbytes, rt_runtime;
        uint32_t idr_next, rt_period;
        int have_online, have_free, have_file_lru;

        struct bd_gather rq;
        uint8_t *rq_copy;
        int64_t off_running, off_switches, off_clock, off_curr, off_idle, off_unint;
        size_t unint_size;
        uint64_t *hrtimer, *touch, *oom, *irqs, *files_cpu; /* per cpu */
        uint64_t *idle_since, *wake_at;                     /* per cpu */
        int have_oom;

        /* pid, comm and prio of each cpu's current task, read one probe
         * late. */
        struct bd_gather task;
        uint8_t *task_copy;
        int64_t off_pid, off_comm, off_prio; /* off_prio -1: not read */
        uint64_t *curr_read;                 /* the task each cpu's copy is of, 0: none */

        struct bd_hung hung; /* the slow scan's memory */
};

static struct bd_error *push(struct bd_probe *pr, uint64_t paddr, void *buf, size_t len)
{
        if (bd_grow((void **)&pr->iov, &pr->cap, pr->n + 1, sizeof(*pr->iov), 64))
                return &bd_error_nomem;
        pr->iov[pr->n++] = (struct bd_phys_iov){paddr, buf, len};
        return NULL;
}

/* Translate a kernel range once, page by page, into physical ranges. */
static struct bd_error *plan_range(struct bd_probe *pr, uint64_t vaddr, void *buf, size_t len)
{
        uint8_t *b = buf;
        size_t first = pr->n;
        while (len) {
                uint64_t pa, ps = 0;
                struct bd_error *err = bd_kernel_translate(pr->prog->k, vaddr, &pa, &ps);
                if (!err && bd_phys_window_of(pr->prog->phys, pa) < 0)
                        err = bd_error_new(BD_ERR_RANGE, "%#llx (phys %#llx) outside every window",
                                           (unsigned long long)vaddr, (unsigned long long)pa);
                if (err) {
                        pr->n = first;
                        return err;
                }
                if (!ps || ps & (ps - 1))
                        ps = 4096;
                size_t room = ps - (vaddr & (ps - 1));
                size_t n = len < room ? len : room;
                if ((err = push(pr, pa, b, n))) {
                        pr->n = first;
                        return err;
                }
                vaddr += n, b += n, len -= n;
        }
        return NULL;
}

static void note_missing(struct bd_probe *pr, const char *what)
{
        size_t used = strlen(pr->info.missing);
        snprintf(pr->info.missing + used, sizeof(pr->info.missing) - used, "%s%s", used ? ", " : "",
                 what);
}

/* An optional global: symbol + offset, len bytes into buf. */
static int plan_global(struct bd_probe *pr, const char *sym, int64_t off, void *buf, size_t len)
{
        uint64_t addr;
        struct bd_error *err = bd_program_symbol(pr->prog, sym, &addr);
        if (!err)
                err = plan_range(pr, addr + (uint64_t)off, buf, len);
        if (err) {
                note_missing(pr, sym);
                bd_error_destroy(err);
                return -1;
        }
        return 0;
}

/* An optional per-CPU variable at offset off, len (<= 8) bytes per cpu
 * into vals. */
static int plan_percpu(struct bd_probe *pr, const char *sym, int64_t off, size_t len,
                       uint64_t *vals)
{
        uint64_t addr, at;
        struct bd_error *err = bd_program_symbol(pr->prog, sym, &addr);
        size_t first = pr->n;
        for (unsigned c = 0; !err && c < pr->info.ncpus; c++)
                if (!(err = bd_program_percpu(pr->prog, addr, c, &at)))
                        err = plan_range(pr, at + (uint64_t)off, &vals[c], len);
        if (err) {
                pr->n = first;
                note_missing(pr, sym);
                bd_error_destroy(err);
                return -1;
        }
        return 0;
}

static struct bd_error *plan_cpus(struct bd_probe *pr, const struct bd_layout *l)
{
        static const enum bd_layout_id rq_ids[] = {BDL_RQ_NR_RUNNING, BDL_RQ_NR_SWITCHES,
                                                   BDL_RQ_CLOCK,      BDL_RQ_CURR,
                                                   BDL_RQ_IDLE,       BDL_RQ_NR_UNINTERRUPTIBLE};
        enum { NRQ = sizeof(rq_ids) / sizeof(rq_ids[0]) };
        int64_t offs[NRQ], sizes[NRQ];
        struct bd_error *err = bd_layout_need(l, rq_ids, NRQ, offs);
        if (err)
                return err;
        for (size_t i = 0; i < NRQ; i++)
                sizes[i] = l->e[rq_ids[i]].size;
        /* nr_uninterruptible grew from unsigned int to unsigned long. */
        if (sizes[0] != 4 || sizes[1] != 8 || sizes[2] != 8 || sizes[3] != 8 || sizes[4] != 8 ||
            (sizes[5] != 4 && sizes[5] != 8))
                return bd_error_new(BD_ERR_NOT_FOUND, "struct rq members of unexpected sizes");
        pr->off_running = offs[0], pr->off_switches = offs[1], pr->off_clock = offs[2];
        pr->off_curr = offs[3], pr->off_idle = offs[4], pr->off_unint = offs[5];
        pr->unint_size = (size_t)sizes[5];
        /* One range per rq when the members are near each other. */
        if ((err = bd_gather_plan(&pr->rq, offs, sizes, NRQ, 1024)))
                return err;
        unsigned nc = pr->info.ncpus;
        pr->rq_copy = calloc(nc, pr->rq.copy_size);
        pr->hrtimer = calloc(nc, 8);
        pr->touch = calloc(nc, 8);
        pr->oom = calloc(nc, 8);
        pr->irqs = calloc(nc, 8);
        pr->files_cpu = calloc(nc, 8);
        pr->curr_read = calloc(nc, 8);
        pr->idle_since = calloc(nc, 8);
        pr->wake_at = calloc(nc, 8);
        if (!pr->rq_copy || !pr->hrtimer || !pr->touch || !pr->oom || !pr->irqs || !pr->files_cpu ||
            !pr->curr_read || !pr->idle_since || !pr->wake_at)
                return &bd_error_nomem;
        uint64_t rq;
        if ((err = bd_program_symbol(pr->prog, "runqueues", &rq)))
                return err;
        for (unsigned c = 0; c < nc; c++) {
                uint64_t at;
                struct bd_kernel_iov kv[BD_GATHER_MAX_SPANS];
                if ((err = bd_program_percpu(pr->prog, rq, c, &at)))
                        return err;
                size_t n =
                    bd_gather_iov(&pr->rq, at, pr->rq_copy + (size_t)c * pr->rq.copy_size, kv);
                for (size_t i = 0; i < n; i++)
                        if ((err = plan_range(pr, kv[i].vaddr, kv[i].buf, kv[i].len)))
                                return bd_error_wrap(err, "cpu %u's runqueue", c);
        }
        plan_percpu(pr, "hrtimer_interrupts", 0, 8, pr->hrtimer);
        plan_percpu(pr, "watchdog_touch_ts", 0, 8, pr->touch);
        int64_t off;
        if (bd_layout_has(l, BDL_HRTIMER_NR_EVENTS, &off) && l->e[BDL_HRTIMER_NR_EVENTS].size <= 8)
                plan_percpu(pr, "hrtimer_bases", off, (size_t)l->e[BDL_HRTIMER_NR_EVENTS].size,
                            pr->irqs);
        else
                note_missing(pr, "hrtimer_cpu_base.nr_events");
        /* The classifier uses a cpu's pair only when both are read. */
        int64_t woff, ioff;
        if (bd_layout_has(l, BDL_HRTIMER_EXPIRES_NEXT, &woff) &&
            l->e[BDL_HRTIMER_EXPIRES_NEXT].size == 8 &&
            bd_layout_has(l, BDL_TICK_IDLE_ENTRYTIME, &ioff) &&
            l->e[BDL_TICK_IDLE_ENTRYTIME].size == 8) {
                plan_percpu(pr, "hrtimer_bases", woff, 8, pr->wake_at);
                plan_percpu(pr, "tick_cpu_sched", ioff, 8, pr->idle_since);
        } else {
                note_missing(pr, "hrtimer_cpu_base.expires_next, tick_sched.idle_entrytime");
        }
        int64_t oom_idx;
        if (bd_layout_has(l, BDL_OOM_KILL, &oom_idx) && oom_idx >= 0 && oom_idx < 4096)
                pr->have_oom = !plan_percpu(pr, "vm_event_states", oom_idx * 8, 8, pr->oom);
        else
                note_missing(pr, "OOM_KILL");
        return NULL;
}

/* nr_files keeps most of its count in per-cpu deltas (s32 each) until
 * one passes the batch: the pointer to them is set once at boot. */
static void plan_files_percpu(struct bd_probe *pr, const struct bd_layout *l)
{
        int64_t off;
        uint64_t addr, counters;
        struct bd_error *err = bd_layout_get(l, BDL_PERCPU_COUNTER_COUNTERS, &off);
        if (!err)
                err = bd_program_symbol(pr->prog, "nr_files", &addr);
        if (!err)
                err = bd_kernel_read_u64(pr->prog->k, addr + (uint64_t)off, &counters);
        size_t first = pr->n;
        for (unsigned c = 0; !err && c < pr->info.ncpus; c++) {
                uint64_t at;
                if (!(err = bd_program_percpu(pr->prog, counters, c, &at)))
                        err = plan_range(pr, at, &pr->files_cpu[c], 4);
        }
        if (err) {
                pr->n = first;
                memset(pr->files_cpu, 0, pr->info.ncpus * 8);
                note_missing(pr, "nr_files per-cpu counters");
                bd_error_destroy(err);
        }
}

/* Both lists of the file LRU from the global node counters, or neither:
 * one alone would understate the cache reclaim can drop. */
static void plan_file_lru(struct bd_probe *pr, const struct bd_layout *l)
{
        static const enum bd_layout_id ids[] = {BDL_NR_ACTIVE_FILE, BDL_NR_INACTIVE_FILE};
        int64_t idx[2];
        struct bd_error *err = bd_layout_need(l, ids, 2, idx);
        if (err || idx[0] < 0 || idx[0] >= 4096 || idx[1] < 0 || idx[1] >= 4096) {
                bd_error_destroy(err);
                note_missing(pr, "NR_ACTIVE_FILE/NR_INACTIVE_FILE");
                return;
        }
        size_t first = pr->n;
        if (plan_global(pr, "vm_node_stat", idx[0] * 8, &pr->file_lru[0], 8) ||
            plan_global(pr, "vm_node_stat", idx[1] * 8, &pr->file_lru[1], 8)) {
                pr->n = first;
                return;
        }
        pr->have_file_lru = 1;
}

static void plan_task_names(struct bd_probe *pr, const struct bd_layout *l)
{
        static const enum bd_layout_id ids[] = {BDL_TASK_PID, BDL_TASK_COMM};
        int64_t offs[3], sizes[3] = {4, 16, 4};
        /* prio is optional: without it no task is known real-time. */
        size_t n =
            bd_layout_has(l, BDL_TASK_PRIO, &offs[2]) && l->e[BDL_TASK_PRIO].size == 4 ? 3 : 2;
        struct bd_error *err = bd_layout_need(l, ids, 2, offs);
        if (!err)
                err = bd_gather_plan(&pr->task, offs, sizes, n, 64);
        if (!err && !(pr->task_copy = calloc(pr->info.ncpus, pr->task.copy_size)))
                err = &bd_error_nomem;
        if (err) {
                pr->task.n = 0;
                note_missing(pr, "task names");
                bd_error_destroy(err);
                return;
        }
        pr->off_pid = offs[0], pr->off_comm = offs[1];
        pr->off_prio = n == 3 ? offs[2] : -1;
        if (n == 2)
                note_missing(pr, "task_struct.prio");
}

static struct bd_error *plan_note(struct bd_probe *pr)
{
        uint8_t *page = malloc(BD_VMCOREINFO_MAX);
        if (!page)
                return &bd_error_nomem;
        uint64_t at = pr->prog->vi.phys;
        struct bd_error *err = bd_phys_read(pr->prog->phys, at, page, BD_VMCOREINFO_MAX);
        if (!err) {
                memcpy(pr->note_then, page, sizeof(pr->note_then));
                err = push(pr, at, pr->note_now, sizeof(pr->note_now));
        }
        static const char key[] = "KERNELOFFSET=";
        const uint8_t *k = err ? NULL : memmem(page, BD_VMCOREINFO_MAX, key, sizeof(key) - 1);
        if (k) {
                size_t pos = (size_t)(k - page), n = 0;
                while (n < sizeof(pr->koff_then) && pos + n < BD_VMCOREINFO_MAX &&
                       page[pos + n] != '\n')
                        n++;
                memcpy(pr->koff_then, page + pos, n);
                pr->koff_len = n;
                err = push(pr, at + pos, pr->koff_now, n);
        }
        free(page);
        if (!err && bd_phys_window_of(pr->prog->phys, BDA_PHYS) >= 0 &&
            bd_phys_window_of(pr->prog->phys, BDA_PHYS + sizeof(pr->bda_then) - 1) ==
                bd_phys_window_of(pr->prog->phys, BDA_PHYS)) {
                /* Optional: a window without low memory only loses this. */
                struct bd_error *e =
                    bd_phys_read(pr->prog->phys, BDA_PHYS, pr->bda_then, sizeof(pr->bda_then));
                if (!e)
                        e = push(pr, BDA_PHYS, pr->bda_now, sizeof(pr->bda_now));
                pr->have_bda = !e;
                bd_error_destroy(e);
        }
        return err;
}

static int by_paddr(const void *a, const void *b)
{
        const struct bd_phys_iov *x = a, *y = b;
        return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Merge the static ranges (sorted by address) into reads of at most
 * MERGE_MAX bytes within one window, and note where each range's bytes
 * land. The dynamic ranges are appended to merged[] per probe. */
static struct bd_error *merge_static(struct bd_probe *pr)
{
        size_t n = pr->n_static;
        struct bd_phys_iov *sorted = malloc(n * sizeof(*sorted));
        pr->merged_cap = n + (size_t)pr->task.n * pr->info.ncpus + 1;
        pr->merged = malloc(pr->merged_cap * sizeof(*pr->merged));
        pr->copies = malloc(n * sizeof(*pr->copies));
        pr->scratch = malloc(n * MERGE_MAX);
        if (!sorted || !pr->merged || !pr->copies || !pr->scratch) {
                free(sorted);
                return &bd_error_nomem;
        }
        memcpy(sorted, pr->iov, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), by_paddr);
        size_t used = 0;
        for (size_t i = 0; i < n; i++) {
                const struct bd_phys_iov *v = &sorted[i];
                struct bd_phys_iov *m = pr->nmerged ? &pr->merged[pr->nmerged - 1] : NULL;
                /* Each range gets a MERGE_MAX slot of scratch at most: the
                 * planners keep to it (a runqueue's span is gathered within
                 * 1024 bytes, the rest are words), and a layout that broke
                 * it must not write past the slot. */
                if (v->len > MERGE_MAX) {
                        free(sorted);
                        return bd_error_new(BD_ERR_INTERNAL,
                                            "a probe range of %zu bytes (at most %d)", v->len,
                                            MERGE_MAX);
                }
                if (!m || v->addr < m->addr || v->addr + v->len - m->addr > MERGE_MAX ||
                    bd_phys_window_of(pr->prog->phys, v->addr + v->len - 1) !=
                        bd_phys_window_of(pr->prog->phys, m->addr)) {
                        m = &pr->merged[pr->nmerged++];
                        *m = (struct bd_phys_iov){v->addr, pr->scratch + used, 0};
                        used += MERGE_MAX;
                }
                if (v->addr + v->len - m->addr > m->len)
                        m->len = v->addr + v->len - m->addr;
                pr->copies[pr->ncopies++] = (struct copy_out){
                    (size_t)((uint8_t *)m->buf - pr->scratch) + (v->addr - m->addr), v->buf,
                    v->len};
        }
        free(sorted);
        pr->info.ranges = (unsigned)pr->nmerged;
        return NULL;
}

/* The nohz_full cpus, read once: the mask is set at boot. Whether there
 * are any is tick_nohz_full_running; the mask is a cpumask_var_t, a
 * pointer to the bits when cpumasks live off the stack (Debian's MAXSMP)
 * and the bits themselves otherwise. Memory the boot allocator gave lies
 * in the direct map, and the first word of a mask that does could only
 * be a bitmap with nearly every cpu from 39 up set. Unreadable: none. */
static void read_nohz_full(struct bd_probe *pr)
{
        struct bd_kernel *k = pr->prog->k;
        uint64_t at, word;
        uint8_t running = 0;
        struct bd_error *err = bd_program_symbol(pr->prog, "tick_nohz_full_running", &at);
        if (!err)
                err = bd_kernel_read(k, at, &running, 1);
        if (!err && running && !(err = bd_program_symbol(pr->prog, "tick_nohz_full_mask", &at)) &&
            !(err = bd_kernel_read_u64(k, at, &word)) && k->direct_size &&
            word - k->direct_base < k->direct_size)
                err = bd_kernel_read_u64(k, word, &word);
        int failed = err != NULL;
        bd_error_destroy(err);
        if (failed || !running)
                return;
        unsigned n = pr->info.ncpus;
        pr->info.nohz_full = n < 64 ? word & ((1ull << n) - 1) : word;
}

struct bd_error *bd_probe_open(struct bd_program *prog, struct bd_probe **out)
{
        const struct bd_layout *l;
        unsigned ncpus;
        struct bd_error *err = bd_program_layout(prog, &l);
        if (!err)
                err = bd_program_cpus(prog, &ncpus);
        if (err)
                return bd_error_wrap(err, "probe");
        struct bd_probe *pr = calloc(1, sizeof(*pr));
        if (!pr)
                return &bd_error_nomem;
        pr->prog = prog;
        pr->info.ncpus = ncpus < BD_PROBE_MAX_CPUS ? ncpus : BD_PROBE_MAX_CPUS;
        pr->panic_cpu = PANIC_CPU_INVALID;
        int64_t running = 3;
        bd_layout_has(l, BDL_SYSTEM_RUNNING, &running);
        pr->info.system_running = (int32_t)running;
        pr->system_state = pr->info.system_running;

        uint64_t addr;
        if ((err = bd_program_symbol(prog, "jiffies_64", &addr)) ||
            (err = plan_range(pr, addr, &pr->jiffies, 8)) || (err = plan_cpus(pr, l))) {
                bd_probe_close(pr);
                return bd_error_wrap(err, "probe");
        }
        plan_global(pr, "panic_cpu", 0, &pr->panic_cpu, 4);
        plan_global(pr, "oops_in_progress", 0, &pr->oops, 4);
        plan_global(pr, "tainted_mask", 0, &pr->tainted, 8);
        plan_global(pr, "system_state", 0, &pr->system_state, 4);
        pr->have_online = !plan_global(pr, "__cpu_online_mask", 0, &pr->online_mask, 8);
        plan_global(pr, "nr_threads", 0, &pr->nr_threads, 4);
        plan_global(pr, "max_threads", 0, &pr->max_threads, 4);
        plan_global(pr, "pid_max", 0, &pr->pid_max, 4);
        plan_global(pr, "min_free_kbytes", 0, &pr->min_free_kbytes, 4);
        /* Both or neither: a runtime alone cannot say it fills the period. */
        size_t before_rt = pr->n;
        if (plan_global(pr, "sysctl_sched_rt_runtime", 0, &pr->rt_runtime, 4) ||
            plan_global(pr, "sysctl_sched_rt_period", 0, &pr->rt_period, 4))
                pr->n = before_rt;
        int64_t a, b;
        if (bd_layout_has(l, BDL_PID_NS_IDR, &a) && bd_layout_has(l, BDL_IDR_NEXT, &b))
                plan_global(pr, "init_pid_ns", a + b, &pr->idr_next, 4);
        if (bd_layout_has(l, BDL_PERCPU_COUNTER_COUNT, &a))
                plan_global(pr, "nr_files", a, &pr->nr_files, 8);
        plan_files_percpu(pr, l);
        if (bd_layout_has(l, BDL_FILES_STAT_MAX_FILES, &a))
                plan_global(pr, "files_stat", a, &pr->max_files, 8);
        if (bd_layout_has(l, BDL_NR_FREE_PAGES, &a) && a >= 0 && a < 4096)
                pr->have_free = !plan_global(pr, "vm_zone_stat", a * 8, &pr->free_pages, 8);
        plan_file_lru(pr, l);
        plan_global(pr, "_totalram_pages", 0, &pr->totalram, 8);
        if ((err = plan_note(pr))) {
                bd_probe_close(pr);
                return bd_error_wrap(err, "probe: VMCOREINFO");
        }
        plan_task_names(pr, l);
        read_nohz_full(pr);
        pr->n_static = pr->n;
        if ((err = merge_static(pr))) {
                bd_probe_close(pr);
                return bd_error_wrap(err, "probe");
        }
        for (size_t i = 0; i < pr->nmerged; i++)
                pr->info.bytes += (unsigned)pr->merged[i].len;
        /* A new boot moves the kernel (KASLR) and its VMCOREINFO note. */
        pr->boot_hash = bd_fnv1a(BD_FNV1A_INIT, &prog->k->kaslr_offset, 8);
        pr->boot_hash = bd_fnv1a(pr->boot_hash, &prog->vi.phys, 8);
        pr->boot_hash = bd_fnv1a(pr->boot_hash, prog->build_id, strlen(prog->build_id));
        *out = pr;
        return NULL;
}

void bd_probe_close(struct bd_probe *pr)
{
        if (!pr)
                return;
        free(pr->iov);
        free(pr->merged);
        free(pr->copies);
        free(pr->scratch);
        free(pr->rq_copy);
        free(pr->hrtimer);
        free(pr->touch);
        free(pr->oom);
        free(pr->irqs);
        free(pr->idle_since);
        free(pr->wake_at);
        free(pr->files_cpu);
        free(pr->task_copy);
        free(pr->curr_read);
        bd_hung_free(&pr->hung);
        free(pr);
}

const struct bd_probe_info *bd_probe_info(const struct bd_probe *pr)
{
        return &pr->info;
}

/* Each cpu's current task as of the last probe, if it lies in the direct
 * map inside a window: a wild pointer must not cost a walk or fail the
 * batch. */
static void plan_curr(struct bd_probe *pr, size_t *nread)
{
        struct bd_kernel *k = pr->prog->k;
        size_t n = pr->nmerged;
        for (unsigned c = 0; c < pr->info.ncpus; c++) {
                uint64_t curr = bd_gather_value(&pr->rq, pr->rq_copy + (size_t)c * pr->rq.copy_size,
                                                pr->off_curr, 8);
                pr->curr_read[c] = 0;
                if (!pr->task.n || !curr || !k->direct_size ||
                    curr - k->direct_base >= k->direct_size)
                        continue;
                uint8_t *copy = pr->task_copy + (size_t)c * pr->task.copy_size;
                size_t first = n;
                int ok = 1;
                for (unsigned i = 0; ok && i < pr->task.n && n < pr->merged_cap; i++) {
                        uint64_t pa = curr - k->direct_base + pr->task.span[i].off;
                        uint32_t len = pr->task.span[i].len;
                        int w = bd_phys_window_of(pr->prog->phys, pa);
                        ok = w >= 0 && w == bd_phys_window_of(pr->prog->phys, pa + len - 1);
                        if (ok)
                                pr->merged[n++] =
                                    (struct bd_phys_iov){pa, copy + pr->task.span[i].pos, len};
                }
                if (ok && n - first == pr->task.n)
                        pr->curr_read[c] = curr;
                else
                        n = first;
        }
        *nread = n;
}

void bd_probe_read(struct bd_probe *pr, struct bd_probe_sample *s)
{
        memset(s, 0, sizeof(*s));
        size_t nread;
        plan_curr(pr, &nread);
        uint64_t t0 = bd_now_ns();
        struct bd_error *err = bd_phys_read_batch(pr->prog->phys, pr->merged, nread);
        s->t_ns = bd_now_ns();
        s->rtt_ns = s->t_ns - t0;
        if (err) {
                s->read_error = err->code ? (int)err->code : BD_ERR_INTERNAL;
                bd_error_destroy(err);
                return;
        }
        for (size_t i = 0; i < pr->ncopies; i++)
                memcpy(pr->copies[i].to, pr->scratch + pr->copies[i].from, pr->copies[i].len);
        if (memcmp(pr->note_now, pr->note_then, sizeof(pr->note_now)) ||
            memcmp(pr->koff_now, pr->koff_then, pr->koff_len) ||
            (pr->have_bda && memcmp(pr->bda_now, pr->bda_then, sizeof(pr->bda_now)))) {
                s->read_error = BD_ERR_NOT_FOUND; /* the probed kernel is gone */
                return;
        }
        s->jiffies = pr->jiffies;
        s->panic_cpu = pr->panic_cpu;
        s->oops_in_progress = pr->oops;
        s->tainted_mask = pr->tainted;
        s->system_state = pr->system_state;
        s->boot_id_hash = pr->boot_hash;
        s->nr_threads = pr->nr_threads;
        s->max_threads = pr->max_threads;
        s->pid_last = pr->idr_next ? (int64_t)pr->idr_next - 1 : 0;
        s->pid_max = pr->pid_max;
        s->nr_files = pr->nr_files;
        s->max_files = (int64_t)pr->max_files;
        s->free_pages = pr->have_free ? (int64_t)pr->free_pages : -1;
        /* Summed in unsigned: a counter a cpu has not folded back yet may
         * be just below zero, and the sum is still right. */
        s->file_pages = pr->have_file_lru ? (int64_t)(pr->file_lru[0] + pr->file_lru[1]) : -1;
        s->total_pages = (int64_t)pr->totalram;
        s->min_free_pages = pr->min_free_kbytes > 0 ? pr->min_free_kbytes / 4 : 0;
        s->rt_runtime_us = pr->rt_runtime;
        s->rt_period_us = pr->rt_period;
        s->ncpus = pr->info.ncpus;
        for (unsigned c = 0; c < pr->info.ncpus; c++) {
                struct bd_probe_cpu *q = &s->cpu[c];
                const uint8_t *rq = pr->rq_copy + (size_t)c * pr->rq.copy_size;
                q->present = !pr->have_online || (c < 64 && (pr->online_mask >> c & 1));
                q->nr_running = (uint32_t)bd_gather_value(&pr->rq, rq, pr->off_running, 4);
                q->nr_switches = bd_gather_value(&pr->rq, rq, pr->off_switches, 8);
                q->clock = bd_gather_value(&pr->rq, rq, pr->off_clock, 8);
                q->curr = bd_gather_value(&pr->rq, rq, pr->off_curr, 8);
                q->idle = bd_gather_value(&pr->rq, rq, pr->off_idle, 8);
                q->hrtimer_interrupts = pr->hrtimer[c];
                q->touch_ts = pr->touch[c];
                q->timer_irqs = pr->irqs[c];
                q->idle_since = pr->idle_since[c];
                q->wake_at = pr->wake_at[c];
                s->oom_kills += pr->oom[c];
                /* Per-cpu counts go negative (a task sleeps on one cpu, wakes
                 * on another); only the sum means anything. */
                uint64_t unint = bd_gather_value(&pr->rq, rq, pr->off_unint, pr->unint_size);
                s->nr_uninterruptible += pr->unint_size == 4 ? (int32_t)unint : (int64_t)unint;
                s->nr_files += (int32_t)pr->files_cpu[c];
                if (pr->curr_read[c] && pr->curr_read[c] == q->curr) {
                        const uint8_t *t = pr->task_copy + (size_t)c * pr->task.copy_size;
                        q->curr_pid = (int32_t)bd_gather_value(&pr->task, t, pr->off_pid, 4);
                        const void *comm = bd_gather_field(&pr->task, t, pr->off_comm, 16);
                        if (comm)
                                memcpy(q->curr_comm, comm, 16);
                        int32_t prio = (int32_t)bd_gather_value(&pr->task, t, pr->off_prio, 4);
                        q->curr_rt = pr->off_prio >= 0 && prio >= 0 && prio < MAX_RT_PRIO;
                }
        }
}

struct bd_error *bd_probe_scan_hung(struct bd_probe *pr, struct bd_probe_sample *s)
{
        return bd_hung_scan(pr->prog, &pr->hung, s);
}
