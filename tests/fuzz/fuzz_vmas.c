/* libFuzzer target: bdmon maps of pid 10 with the input as kernel memory
 * from physical TI_BASE (virtual TI_K(TI_BASE), or TI_D(TI_BASE) in the
 * direct map), after the kallsyms of tests/unit/tasks_img.h, laid out as
 * its stored layout says (files_img.h's for the files mapped):
 *
 *   0x2000 init_pid_ns (its IDR's xa_head at +0x08)
 *   then the IDR's nodes, pid 10's struct pid and task, its mm, the maple
 *   tree's nodes, the VMAs, their files, dentries and mounts wherever the
 *   input points.
 *
 * Invariants: no crash, hang, leak or out-of-bounds read; on success no
 * more VMAs than the budget holds, each a kernel pointer, an anonymous one
 * unnamed and every name NUL-terminated in its buffer; on failure a
 * one-line error with a code hostile memory can cause, and nothing
 * returned. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/views/vmas.h"
#include "../../monitor/walk/walk.h"
#include "fuzz_check.h"
#include "tasks_prog.h"

#define BUDGET (1u << 20)
#define PID    10

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct tasks_prog tp;
        struct bd_program *prog = tasks_prog_open(&tp, data, size, BUDGET);
        struct bd_vmas *vs = NULL;
        struct bd_error *err = bd_vmas_read(prog, PID, &vs);
        if (err) {
                CHECK(!vs);
                check_memory_error(err);
                bd_error_destroy(err);
        } else {
                CHECK(vs->n * sizeof(struct bd_vma) <= BUDGET);
                for (size_t i = 0; i < vs->n; i++) {
                        const struct bd_vma *v = &vs->v[i];
                        CHECK(bd_walk_kptr_ok(prog->k, v->addr, 8));
                        CHECK(strnlen(v->name, sizeof(v->name)) < sizeof(v->name));
                        CHECK(v->file || !v->name[0]);
                }
                bd_vmas_free(vs);
        }
        tasks_prog_close(&tp);
        return 0;
}
