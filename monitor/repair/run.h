/* Running a repair: plan, then (to apply) apply, verify and plan again
 * until the script sees its effect. One implementation for `bdmon repair`,
 * which waits for it, and `bdmon watch --repair`, which steps it between
 * probes so that no target waits on another's repair.
 *
 * The target changes some words with plain stores under its own locks and
 * can lose a remote write: after each apply the effect is looked for
 * BD_RUN_VERIFY_TRIES times, BD_RUN_VERIFY_PAUSE_MS apart (the first one
 * pause after the apply), and a phase
 * whose effect is not seen is planned and applied again, BD_RUN_TRIES times
 * in all. A verify that answers "again" (BD_VERDICT_AGAIN) ends its phase:
 * the next is planned at once. At most BD_RUN_ROUNDS plans are applied. A
 * saved plan is applied once and never made again: a new one would not be
 * the one reviewed. Every round is audited (repair-plan, repair-step,
 * repair-outcome). */
#ifndef BD_REPAIR_RUN_H
#define BD_REPAIR_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/error.h"
#include "../kernel/program.h"
#include "plan.h"
#include "script.h"

#define BD_RUN_VERIFY_TRIES    20
#define BD_RUN_VERIFY_PAUSE_MS 100
#define BD_RUN_TRIES           3
#define BD_RUN_ROUNDS          6

struct bd_repair_run {
        /* What runs; the caller keeps it alive until the run ends. */
        struct bd_repair_script *script;
        struct bd_program *prog;
        const char *target, *name; /* named in the plan */
        char *const *args;
        unsigned nargs;
        int apply, saved;
        /* What came of it. */
        struct bd_repair_plan plan; /* the last one made (applied, with apply) */
        enum bd_verdict verdict;    /* the last verify's, with apply */
        unsigned rounds;            /* plans applied */
        struct bd_error *err;       /* what stopped the run, or NULL */
        /* Where it is. */
        int phase, done;
        unsigned tries, misses;
        uint64_t due_ns;
};

/* Start a run: the plan comes first, made by the script, unless saved is
 * not NULL (a plan read from a file, moved into the run). apply: then
 * apply it as above; else the run ends with the plan. */
void bd_repair_run_start(struct bd_repair_run *r, struct bd_repair_script *script,
                         struct bd_program *prog, const char *target, const char *name,
                         char *const *args, unsigned nargs, int apply,
                         struct bd_repair_plan *saved);
/* Do the next thing due at monitor time now; 1 once the run has ended
 * (r->err, r->plan, r->verdict say how), else 0 and r->due_ns says when
 * to step again. */
int bd_repair_run_step(struct bd_repair_run *r, uint64_t now);
/* Step the run to its end, sleeping while nothing is due. */
void bd_repair_run_wait(struct bd_repair_run *r);
/* Free the plan and the error. */
void bd_repair_run_free(struct bd_repair_run *r);

/* A script named without a '/' is looked for as NAME and NAME.lua in
 * $BDMON_REPAIRS, beside the bdmon binary (../repair) and in the system's
 * share; a path is taken as it is. Returns name itself when nothing was
 * found (loading it then says why), else buf. */
const char *bd_repair_find_script(const char *name, char *buf, size_t cap);

#endif
