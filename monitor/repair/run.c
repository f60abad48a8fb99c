#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../common/audit.h"
#include "../../common/clock.h"

enum { PLAN, APPLY, VERIFY };

const char *bd_repair_find_script(const char *name, char *buf, size_t cap)
{
        if (strchr(name, '/'))
                return name;
        char exe[1024], dirs[3][1100];
        unsigned nd = 0;
        const char *env = getenv("BDMON_REPAIRS");
        if (env && *env)
                snprintf(dirs[nd++], sizeof(dirs[0]), "%s", env);
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n > 0) {
                exe[n] = '\0';
                char *slash = strrchr(exe, '/');
                if (slash) {
                        *slash = '\0';
                        snprintf(dirs[nd++], sizeof(dirs[0]), "%s/../repair", exe);
                }
        }
        snprintf(dirs[nd++], sizeof(dirs[0]), "%s", BD_DATADIR "/repair");
        for (unsigned i = 0; i < nd; i++)
                for (int lua = 0; lua < 2; lua++) {
                        snprintf(buf, cap, "%s/%s%s", dirs[i], name, lua ? ".lua" : "");
                        if (!access(buf, R_OK))
                                return buf;
                }
        return name;
}

static void audit_plan(const struct bd_repair_plan *plan, const char *what)
{
        struct bd_audit_batch b = {0};
        bd_audit_add(&b,
                     "repair-%s target=%s script=\"%s\" build=%s steps=%zu writes=%u stopped_at=%d "
                     "verdict=%s",
                     what, plan->target, plan->script, plan->build_id, plan->n, plan->writes,
                     plan->stopped_at < 0 ? -1 : plan->stopped_at + 1,
                     plan->verdict[0] ? plan->verdict : "-");
        for (size_t i = 0; i < plan->n; i++) {
                const struct bd_repair_step *st = &plan->steps[i];
                bd_audit_add(&b,
                             "repair-step target=%s n=%zu kind=%s vaddr=0x%llx paddr=0x%llx "
                             "size=%u read=0x%llx expect=0x%llx value=0x%llx outcome=%s "
                             "found=0x%llx",
                             plan->target, i + 1, bd_step_kind_name(st->kind),
                             (unsigned long long)st->vaddr, (unsigned long long)st->paddr, st->size,
                             (unsigned long long)st->read, (unsigned long long)st->expect,
                             (unsigned long long)st->value, bd_step_outcome_name(st->outcome),
                             (unsigned long long)st->found);
        }
        (void)bd_audit_flush(&b);
}

void bd_repair_run_start(struct bd_repair_run *r, struct bd_repair_script *script,
                         struct bd_program *prog, const char *target, const char *name,
                         char *const *args, unsigned nargs, int apply, struct bd_repair_plan *saved)
{
        memset(r, 0, sizeof(*r));
        r->script = script;
        r->prog = prog;
        r->target = target;
        r->name = name;
        r->args = args;
        r->nargs = nargs;
        r->apply = apply;
        r->verdict = BD_VERDICT_NOT_YET;
        bd_repair_plan_init(&r->plan);
        r->phase = PLAN;
        if (saved) {
                r->plan = *saved;
                bd_repair_plan_init(saved);
                r->saved = 1;
                r->phase = APPLY;
        }
}

static int end(struct bd_repair_run *r, struct bd_error *err)
{
        r->err = err;
        r->done = 1;
        return 1;
}

/* Plan (again) from what memory says now. The plan made replaces the last
 * only once it is whole: a failure keeps the last one applied to show. */
static int plan(struct bd_repair_run *r)
{
        struct bd_repair_plan next;
        bd_repair_plan_start(&next, r->name, r->target, r->prog->build_id, r->args, r->nargs);
        struct bd_error *err = bd_repair_script_plan(r->script, r->args, r->nargs, &next);
        if (err) {
                bd_repair_plan_free(&next);
                return end(r, err);
        }
        bd_repair_plan_free(&r->plan);
        r->plan = next;
        if (!r->apply)
                return end(r, NULL);
        r->phase = APPLY;
        return 0;
}

/* Whether the plan stopped because memory moved under it: a guard or a
 * field no longer as planned (a victim that died and whose task_struct was
 * reused, say), not a failure to read or write. */
static int stale(const struct bd_repair_plan *plan)
{
        if (plan->stopped_at < 0)
                return 0;
        enum bd_step_outcome o = plan->steps[plan->stopped_at].outcome;
        return o == BD_OUTCOME_CHANGED || o == BD_OUTCOME_MOVED || o == BD_OUTCOME_MISMATCH;
}

static int apply(struct bd_repair_run *r, uint64_t now)
{
        r->rounds++;
        audit_plan(&r->plan, "plan");
        struct bd_error *err = bd_repair_apply(&r->plan, r->prog);
        if (err) {
                audit_plan(&r->plan, "outcome");
                /* Nothing more of a stale plan is written; the script plans
                 * again from memory as it is now, as when a verify sees no
                 * effect. A saved plan is never made again. */
                if (stale(&r->plan) && !r->saved && ++r->misses < BD_RUN_TRIES &&
                    r->rounds < BD_RUN_ROUNDS) {
                        bd_error_destroy(err);
                        r->phase = PLAN;
                        return 0;
                }
                return end(r, err);
        }
        /* A victim acts on what was written at its next return to user
         * mode: looking at once would find nothing done yet, and a watch
         * probes meanwhile (it sees healthy as soon as that is so). */
        r->phase = VERIFY;
        r->tries = 0;
        r->due_ns = now + BD_RUN_VERIFY_PAUSE_MS * 1000000ull;
        return 0;
}

static int verify(struct bd_repair_run *r, uint64_t now)
{
        struct bd_repair_plan *p = &r->plan;
        struct bd_error *err = bd_repair_script_verify(r->script, r->args, r->nargs, &r->verdict,
                                                       p->verdict_why, sizeof(p->verdict_why));
        if (err) {
                audit_plan(p, "outcome");
                return end(r, err);
        }
        if (r->verdict == BD_VERDICT_NOT_YET && ++r->tries < BD_RUN_VERIFY_TRIES) {
                r->due_ns = now + BD_RUN_VERIFY_PAUSE_MS * 1000000ull;
                return 0;
        }
        snprintf(p->verdict, sizeof(p->verdict), "%s", bd_verdict_name(r->verdict));
        audit_plan(p, "outcome");
        if (r->verdict == BD_VERDICT_AGAIN)
                r->misses = 0;
        else if (r->verdict == BD_VERDICT_NOT_YET)
                r->misses++;
        if (r->saved || r->rounds >= BD_RUN_ROUNDS ||
            (r->verdict != BD_VERDICT_AGAIN &&
             (r->verdict != BD_VERDICT_NOT_YET || r->misses >= BD_RUN_TRIES)))
                return end(r, NULL);
        r->phase = PLAN;
        return 0;
}

int bd_repair_run_step(struct bd_repair_run *r, uint64_t now)
{
        if (r->done)
                return 1;
        if (now < r->due_ns)
                return 0;
        switch (r->phase) {
        case PLAN:
                return plan(r);
        case APPLY:
                return apply(r, now);
        default:
                return verify(r, now);
        }
}

void bd_repair_run_wait(struct bd_repair_run *r)
{
        uint64_t now;
        while (!bd_repair_run_step(r, now = bd_now_ns()))
                if (r->due_ns > now) {
                        uint64_t d = r->due_ns - now;
                        nanosleep(
                            &(struct timespec){(time_t)(d / 1000000000u), (long)(d % 1000000000u)},
                            NULL);
                }
}

void bd_repair_run_free(struct bd_repair_run *r)
{
        bd_repair_plan_free(&r->plan);
        bd_error_destroy(r->err);
        r->err = NULL;
}
