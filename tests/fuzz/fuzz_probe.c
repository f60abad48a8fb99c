/* libFuzzer target: bdmon watch's probe, planned then taken three times
 * with a hung-task scan between, and closed, with the input as kernel
 * memory from physical TI_BASE (virtual TI_K(TI_BASE), or TI_D(TI_BASE) in
 * the direct map), after the kallsyms of tests/unit/tasks_img.h (whose
 * VMCOREINFO, and the BIOS data area, are the fixed memory below it),
 * laid out as its stored layout says:
 *
 *   0x2000 init_pid_ns   0x2040 jiffies_64   0x2048 nr_cpu_ids
 *   0x2050 __per_cpu_offset   0x20a8.. panic_cpu, oops_in_progress,
 *   system_state, nr_threads, max_threads, pid_max, min_free_kbytes
 *   0x20c8 __cpu_online_mask   0x20d0 nr_files   0x2100 files_stat
 *   0x2200 vm_zone_stat   0x2240 vm_node_stat
 *   0x2400 CPU 0's per-CPU area (runqueues, then hrtimer_interrupts,
 *   watchdog_touch_ts, hrtimer_bases, vm_event_states at +0x200..0x240)
 *   then the tasks (as fuzz_tasks.c's) wherever the input points.
 *
 * Invariants: no crash, hang, leak or out-of-bounds read; planning fails
 * with a one-line error with a code hostile memory can cause and nothing
 * returned, or plans at most BD_PROBE_MAX_CPUS CPUs; memory that does not
 * change never reads as another kernel (a sample's error is at most a
 * range outside memory), and a sample fills only the CPUs planned; the
 * first hung-task scan, having seen nothing before, names no task. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/watch/probe.h"
#include "fuzz_check.h"
#include "tasks_prog.h"

#define BUDGET (1u << 20)

static void check_sample(const struct bd_probe_info *info, const struct bd_probe_sample *s)
{
        CHECK(s->read_error == 0 || s->read_error == BD_ERR_RANGE);
        if (s->read_error)
                return;
        CHECK(s->ncpus == info->ncpus);
        static const struct bd_probe_cpu none;
        for (unsigned c = s->ncpus; c < BD_PROBE_MAX_CPUS; c++)
                CHECK(!memcmp(&s->cpu[c], &none, sizeof(none)));
}

static void scan(struct bd_probe *pr, struct bd_probe_sample *s, int first)
{
        struct bd_error *err = bd_probe_scan_hung(pr, s);
        if (err) {
                check_memory_error(err);
                bd_error_destroy(err);
                return;
        }
        CHECK(s->hung_scanned);
        CHECK(!first || (!s->hung_pid && !s->hung_ns));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct tasks_prog tp;
        static struct bd_probe_sample s;
        struct bd_program *prog = tasks_prog_open(&tp, data, size, BUDGET);
        struct bd_probe *pr = NULL;
        struct bd_error *err = bd_probe_open(prog, &pr);
        if (err) {
                CHECK(!pr);
                check_memory_error(err);
                bd_error_destroy(err);
        } else {
                const struct bd_probe_info *info = bd_probe_info(pr);
                CHECK(info->ncpus >= 1 && info->ncpus <= BD_PROBE_MAX_CPUS);
                CHECK(info->ranges >= 1 && strlen(info->missing) < sizeof(info->missing));
                for (int i = 0; i < 3; i++) {
                        bd_probe_read(pr, &s);
                        check_sample(info, &s);
                        if (i < 2)
                                scan(pr, &s, i == 0);
                }
                bd_probe_close(pr);
        }
        tasks_prog_close(&tp);
        return 0;
}
