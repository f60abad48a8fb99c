/* libFuzzer target: bdmon ps's every task, and a task found by its pid,
 * with the input's first byte as the options (bit 0: threads too, else
 * leaders only; the rest: the pid to look up) and the rest as kernel
 * memory from physical TI_BASE (virtual TI_K(TI_BASE), or TI_D(TI_BASE) in
 * the direct map), after the kallsyms of tests/unit/tasks_img.h, laid out
 * as its stored layout says:
 *
 *   0x2000 init_pid_ns (its IDR's xa_head at +0x08)   0x2048 nr_cpu_ids
 *   0x2050 __per_cpu_offset   0x2400 runqueues, CPU c's at + its offset
 *   then xa_nodes, struct pids, tasks, mms, signal_structs wherever the
 *   input points.
 *
 * Invariants: no crash, hang, leak or out-of-bounds read; on success no
 * more tasks than IDR entries or than the budget holds, sorted by pid,
 * only leaders unless threads were asked for, comm NUL-terminated, the
 * unknowns -1 and nothing below, a state ps can show; on failure a
 * one-line error with a code hostile memory can cause, and nothing
 * returned. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/views/tasks.h"
#include "fuzz_check.h"
#include "tasks_prog.h"

#define BUDGET (1u << 20)

static void check_tasks(const struct bd_tasks *ts, int threads)
{
        CHECK(ts->n + ts->st.unreadable <= ts->st.pids);
        CHECK(ts->n * sizeof(struct bd_task) <= BUDGET);
        for (size_t i = 0; i < ts->n; i++) {
                const struct bd_task *t = &ts->t[i];
                CHECK(!i || ts->t[i - 1].pid <= t->pid);
                CHECK(threads || t->pid == t->tgid);
                CHECK(strlen(t->comm) < sizeof(t->comm));
                CHECK(t->rss_pages >= -1 && t->since_run_ns >= -1 && t->signal_flags >= -1);
                CHECK(strchr("RSDTtXZPI?", bd_task_state_char(t->state, t->exit_state)));
                CHECK(bd_task_policy_name(t->policy)[0]);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct tasks_prog tp;
        if (!size)
                return 0;
        int threads = data[0] & 1;
        int32_t pid = data[0] >> 1;
        struct bd_program *prog = tasks_prog_open(&tp, data + 1, size - 1, BUDGET);
        struct bd_tasks *ts = NULL;
        struct bd_error *err = bd_tasks_read(prog, threads, &ts);
        if (err) {
                CHECK(!ts);
                check_memory_error(err);
                bd_error_destroy(err);
        } else {
                check_tasks(ts, threads);
                bd_tasks_free(ts);
        }
        uint64_t task = 0;
        if ((err = bd_task_by_pid(prog, pid, &task))) {
                CHECK(!task);
                check_memory_error(err);
                bd_error_destroy(err);
        }
        static const enum bd_layout_id member[] = {BDL_TASK_MM, BDL_TASK_FILES};
        uint64_t ptr = 0;
        if ((err = bd_task_pointer(prog, pid, member[data[0] >> 7], &ptr))) {
                check_memory_error(err);
                bd_error_destroy(err);
        }
        tasks_prog_close(&tp);
        return 0;
}
