/* libFuzzer target: bd_repair_plan_parse on a saved plan file, the one way
 * a plan reaches `bdmon repair --apply --plan FILE` from outside.
 *
 * Invariants: a plan that parses has at most BD_REPAIR_MAX_STEPS steps, each
 * of a known kind, 1, 2, 4 or 8 bytes naturally aligned at both addresses,
 * with values that fit its size (a bit number within it), and every string
 * NUL-terminated in its array; written out again, it parses to the same
 * steps. A refusal comes with an error object (freed here). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/repair/plan.h"
#include "fuzz_check.h"

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static void check_step(const struct bd_repair_step *st)
{
        CHECK(st->kind == BD_STEP_GUARD || st->kind == BD_STEP_CAS || st->kind == BD_STEP_SET_BIT);
        CHECK(st->size == 1 || st->size == 2 || st->size == 4 || st->size == 8);
        CHECK(!(st->vaddr & (st->size - 1)) && !(st->paddr & (st->size - 1)));
        uint64_t mask = st->size == 8 ? ~0ull : (1ull << (8 * st->size)) - 1;
        CHECK(!(st->expect & ~mask) && !(st->read & ~mask));
        CHECK(st->kind == BD_STEP_SET_BIT ? st->value < 8u * st->size : !(st->value & ~mask));
        CHECK(TERMINATED(st->path) && TERMINATED(st->why));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct bd_repair_plan plan;
        struct bd_error *err = bd_repair_plan_parse((const char *)data, size, &plan);
        if (err) {
                CHECK(err->message[0]);
                bd_error_destroy(err);
                return 0;
        }
        CHECK(plan.n <= BD_REPAIR_MAX_STEPS && plan.nargs <= BD_REPAIR_MAX_ARGS);
        CHECK(TERMINATED(plan.script) && TERMINATED(plan.target) && TERMINATED(plan.build_id));
        for (size_t i = 0; i < plan.n; i++)
                check_step(&plan.steps[i]);
        /* What we write, we read back the same. */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        CHECK(f);
        bd_repair_plan_write_json(f, &plan, 0);
        CHECK(!fclose(f));
        struct bd_repair_plan again;
        err = bd_repair_plan_parse(text, len, &again);
        CHECK(!err);
        CHECK(again.n == plan.n);
        for (size_t i = 0; i < plan.n; i++)
                CHECK(!memcmp(&again.steps[i], &plan.steps[i],
                              offsetof(struct bd_repair_step, outcome)));
        bd_repair_plan_free(&again);
        free(text);
        bd_repair_plan_free(&plan);
        return 0;
}
