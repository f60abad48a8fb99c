/* bdbench --views: the kernel views as bdmon runs them (ps over every task,
 * the whole kernel log), cold (nothing cached on the monitor: VMCOREINFO
 * scanned, symbols and BTF read from the target) and warm (the per-build
 * cache and the remembered VMCOREINFO location), with the reads each
 * needed. */
#include <inttypes.h>
#include <stdio.h>

#include "../common/clock.h"
#include "../monitor/views/printk.h"
#include "../monitor/kernel/program.h"
#include "../monitor/views/tasks.h"
#include "views.h"

struct run {
        uint64_t ns, batches, reads, bytes;
        size_t items;
};

/* Where a cold ps spends its time: finding and checking VMCOREINFO (the
 * wait for the jiffies to move, reading BTF meanwhile, included), the
 * rest of the BTF and the layout, the task walk. */
struct phases {
        uint64_t open_ns, live_wait_ns, layout_ns, walk_ns;
};

static void begin(struct bd_phys *p, struct run *r, uint64_t *b, uint64_t *rd, uint64_t *by)
{
        *b = p->batches, *rd = p->round_trips, *by = p->bytes_read;
        r->ns = bd_now_ns();
}

static void end(struct bd_phys *p, struct run *r, uint64_t b, uint64_t rd, uint64_t by)
{
        r->ns = bd_now_ns() - r->ns;
        r->batches = p->batches - b, r->reads = p->round_trips - rd, r->bytes = p->bytes_read - by;
}

static struct bd_error *ps_once(struct bd_phys *p, int cold, struct run *r, int64_t *task_size,
                                struct bd_tasks_stats *st, struct phases *ph)
{
        uint64_t b, rd, by;
        begin(p, r, &b, &rd, &by);
        uint64_t started = r->ns;
        struct bd_program_options o = {.rescan = cold, .no_cache = cold};
        struct bd_program *prog;
        struct bd_tasks *ts = NULL;
        const struct bd_layout *l;
        struct bd_error *err = bd_program_open(p, &o, &prog);
        if (err)
                return err;
        uint64_t opened = bd_now_ns(), laid_out = opened;
        /* The layout first, so that the tasks' own figures are the walk's. */
        if (!(err = bd_program_layout(prog, &l)) &&
            !(err = bd_layout_get(l, BDL_TASK_STRUCT, task_size))) {
                laid_out = bd_now_ns();
                err = bd_tasks_read(prog, 0, &ts);
        }
        end(p, r, b, rd, by);
        *ph = (struct phases){opened - started, prog->stats.live_wait_ns, laid_out - opened,
                              bd_now_ns() - laid_out};
        if (ts) {
                r->items = ts->n;
                *st = ts->st;
        }
        bd_tasks_free(ts);
        bd_program_close(prog);
        return err;
}

static struct bd_error *dmesg_once(struct bd_phys *p, int cold, struct run *r)
{
        uint64_t b, rd, by;
        begin(p, r, &b, &rd, &by);
        struct bd_program_options o = {.rescan = cold, .no_cache = cold, .no_types = 1};
        struct bd_program *prog;
        struct bd_printk_layout lay;
        struct bd_printk_log *log = NULL;
        struct bd_error *err = bd_program_open(p, &o, &prog);
        if (err)
                return err;
        if (!(err = bd_printk_layout_get(&prog->vi, &lay)))
                err = bd_printk_read(prog->k, &lay, &log);
        end(p, r, b, rd, by);
        r->items = log ? log->n : 0;
        bd_printk_log_free(log);
        bd_program_close(prog);
        return err;
}

static void put(const char *name, const struct run *r, int last)
{
        printf("\"%s\":{\"ms\":%.2f,\"dependent_batches\":%" PRIu64 ",\"reads\":%" PRIu64
               ",\"bytes\":%" PRIu64 ",\"items\":%zu}%s",
               name, (double)r->ns / 1e6, r->batches, r->reads, r->bytes, r->items,
               last ? "" : ",");
}

/* A cold ps waits for the target's jiffies to move, and an idle tickless
 * target leaves them still from a few ms to most of a second: one run is
 * a draw of that wait. The median of COLD_RUNS is the figure, every run
 * beside it. */
#define COLD_RUNS 5

int bench_views(struct bd_phys *p)
{
        struct run cold[COLD_RUNS], ps_warm, dm_cold, dm_warm;
        struct bd_tasks_stats st_cold = {0}, st_warm = {0};
        struct phases ph[COLD_RUNS], ph_warm;
        int64_t task_size = 0;
        struct bd_error *err = NULL;
        unsigned order[COLD_RUNS];
        for (unsigned i = 0; i < COLD_RUNS; i++) {
                if ((err = ps_once(p, 1, &cold[i], &task_size, &st_cold, &ph[i])))
                        break;
                unsigned j = i;
                for (; j > 0 && cold[order[j - 1]].ns > cold[i].ns; j--)
                        order[j] = order[j - 1];
                order[j] = i;
        }
        /* The cold runs filled the cache only if allowed to: fill it now. */
        if (!err)
                err = ps_once(p, 0, &ps_warm, &task_size, &st_warm, &ph_warm);
        if (!err)
                err = ps_once(p, 0, &ps_warm, &task_size, &st_warm, &ph_warm);
        if (!err)
                err = dmesg_once(p, 1, &dm_cold);
        if (!err)
                err = dmesg_once(p, 0, &dm_warm);
        if (err) {
                int code = err->code;
                fprintf(stderr, "bdbench: %s\n", err->message);
                bd_error_destroy(err);
                return code;
        }
        unsigned m = order[COLD_RUNS / 2];
        printf("{");
        put("ps_cold", &cold[m], 0);
        printf(
            "\"ps_cold_phases\":{\"open_ms\":%.2f,\"live_wait_ms\":%.2f,\"btf_and_layout_ms\":%.2f,"
            "\"walk_ms\":%.2f},",
            (double)ph[m].open_ns / 1e6, (double)ph[m].live_wait_ns / 1e6,
            (double)ph[m].layout_ns / 1e6, (double)ph[m].walk_ns / 1e6);
        printf("\"ps_cold_runs\":[");
        for (unsigned i = 0; i < COLD_RUNS; i++)
                printf("{\"ms\":%.2f,\"live_wait_ms\":%.2f,\"dependent_batches\":%" PRIu64 "}%s",
                       (double)cold[i].ns / 1e6, (double)ph[i].live_wait_ns / 1e6, cold[i].batches,
                       i + 1 < COLD_RUNS ? "," : "],");
        put("ps_warm", &ps_warm, 0);
        printf("\"ps_tasks_only\":{\"ms\":%.2f,\"dependent_batches\":%" PRIu64 ",\"reads\":%" PRIu64
               ",\"bytes\":%" PRIu64 ",\"pids\":%" PRIu64 "},",
               (double)st_warm.elapsed_ns / 1e6, st_warm.batches, st_warm.round_trips,
               st_warm.bytes_read, st_warm.pids);
        printf("\"task_struct_bytes\":%" PRId64 ",", task_size);
        put("dmesg_cold", &dm_cold, 0);
        put("dmesg_warm", &dm_warm, 1);
        printf("}\n");
        return 0;
}
