/* bdmon repair TARGET SCRIPT [ARG...]: plan by default; --apply writes,
 * then waits for the script to see the effect; --plan FILE saves a plan, or
 * with --apply applies the one saved. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../common/audit.h"
#include "../cache/cache.h"
#include "../repair/script.h"
#include "cli.h"

/* The target changes some words with plain stores under its own locks and
 * can lose a remote write: the effect is looked for this often, and the
 * whole plan made again this many times. */
#define VERIFY_TRIES    20
#define VERIFY_PAUSE_MS 100
#define ROUNDS          3

/* A script named without a '/' is looked for as NAME and NAME.lua in
 * $BDMON_REPAIRS, beside the bdmon binary (../repair) and in the system's
 * share; a path is taken as it is. */
static const char *find_script(const char *name, char *buf, size_t cap)
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
        snprintf(dirs[nd++], sizeof(dirs[0]), "/usr/share/backdoors/repair");
        for (unsigned i = 0; i < nd; i++)
                for (int lua = 0; lua < 2; lua++) {
                        snprintf(buf, cap, "%s/%s%s", dirs[i], name, lua ? ".lua" : "");
                        if (!access(buf, R_OK))
                                return buf;
                }
        return name;
}

static struct bd_error *make_plan(struct bd_repair_script *s, struct bd_program *prog,
                                  struct bd_phys *p, const char *script, char **args,
                                  unsigned nargs, struct bd_repair_plan *plan)
{
        bd_repair_plan_start(plan, script, p->name, prog->build_id, args, nargs);
        struct bd_error *err = bd_repair_script_plan(s, args, nargs, plan);
        if (err)
                bd_repair_plan_free(plan);
        return err;
}

static void show(struct cli *cli, const struct bd_repair_plan *plan, int applied)
{
        if (cli->json)
                bd_repair_plan_write_json(stdout, plan, applied);
        else
                bd_repair_plan_write_text(stdout, plan, applied);
}

static struct bd_error *save(const char *path, const struct bd_repair_plan *plan)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
                return &bd_error_nomem;
        bd_repair_plan_write_json(f, plan, 0);
        int bad = fclose(f);
        struct bd_error *err = NULL;
        if (bad)
                err = &bd_error_nomem;
        else if (bd_cache_write_atomic(path, text, len))
                err = bd_error_new(BD_ERR_IO, "%s: cannot write the plan", path);
        free(text);
        return err;
}

/* Wait for the script to see the effect: done, pending, or not yet. */
static struct bd_error *verify(struct bd_repair_script *s, char **args, unsigned nargs,
                               struct bd_repair_plan *plan, enum bd_verdict *v)
{
        for (int i = 0; i < VERIFY_TRIES; i++) {
                if (i)
                        nanosleep(&(struct timespec){0, VERIFY_PAUSE_MS * 1000000L}, NULL);
                struct bd_error *err = bd_repair_script_verify(s, args, nargs, v, plan->verdict_why,
                                                               sizeof(plan->verdict_why));
                if (err)
                        return err;
                if (*v != BD_VERDICT_NOT_YET)
                        break;
        }
        snprintf(plan->verdict, sizeof(plan->verdict), "%s", bd_verdict_name(*v));
        return NULL;
}

static void audit_plan(const struct bd_repair_plan *plan, const char *what)
{
        bd_audit("repair-%s target=%s script=\"%s\" build=%s steps=%zu writes=%u stopped_at=%d "
                 "verdict=%s",
                 what, plan->target, plan->script, plan->build_id, plan->n, plan->writes,
                 plan->stopped_at < 0 ? -1 : plan->stopped_at + 1,
                 plan->verdict[0] ? plan->verdict : "-");
        for (size_t i = 0; i < plan->n; i++) {
                const struct bd_repair_step *st = &plan->steps[i];
                bd_audit("repair-step target=%s n=%zu kind=%s vaddr=0x%llx paddr=0x%llx size=%u "
                         "read=0x%llx expect=0x%llx value=0x%llx outcome=%s found=0x%llx",
                         plan->target, i + 1, bd_step_kind_name(st->kind),
                         (unsigned long long)st->vaddr, (unsigned long long)st->paddr, st->size,
                         (unsigned long long)st->read, (unsigned long long)st->expect,
                         (unsigned long long)st->value, bd_step_outcome_name(st->outcome),
                         (unsigned long long)st->found);
        }
}

static int apply(struct cli *cli, struct bd_repair_script *s, struct bd_program *prog,
                 struct bd_phys *p, char **args, unsigned nargs, struct bd_repair_plan *plan,
                 int saved)
{
        struct bd_error *err = NULL;
        enum bd_verdict v = BD_VERDICT_NOT_YET;
        for (int round = 1; round <= ROUNDS; round++) {
                if (round > 1) {
                        /* A lost write: plan again from what memory says now. */
                        bd_repair_plan_free(plan);
                        if ((err = make_plan(s, prog, p, args[0], args + 1, nargs - 1, plan)))
                                break;
                }
                audit_plan(plan, "plan");
                err = bd_repair_apply(plan, prog);
                if (!err)
                        err = verify(s, args + 1, nargs - 1, plan, &v);
                audit_plan(plan, "outcome");
                if (err || v != BD_VERDICT_NOT_YET || saved)
                        break;
        }
        show(cli, plan, 1);
        int rc = cli_flush();
        if (err)
                return cli_report(err);
        if (v == BD_VERDICT_NOT_YET) {
                fprintf(stderr, "bdmon: %s: the repair's effect was not seen%s%s\n", p->name,
                        plan->verdict_why[0] ? ": " : "", plan->verdict_why);
                return BD_ERR_CAS_FAILED;
        }
        return rc;
}

int cmd_repair(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        struct bd_program *prog;
        struct bd_error *err = cli_open_program(cli, p, &prog);
        if (err)
                return cli_report(err);
        struct bd_repair_options o = {.raw = cli->raw, .force = cli->force};
        struct bd_repair_script *s = NULL;
        struct bd_repair_plan plan;
        bd_repair_plan_init(&plan);
        int rc, saved = cli->apply && cli->plan;
        char found[1200];
        args[0] = (char *)find_script(args[0], found, sizeof(found));
        if ((err = bd_repair_script_load(prog, args[0], NULL, &o, &s)))
                goto fail;
        if (saved) {
                if ((err = bd_repair_plan_read(cli->plan, &plan)))
                        goto fail;
                if (strcmp(plan.build_id, prog->build_id)) {
                        err = bd_error_new(BD_ERR_USAGE,
                                           "%s was planned on kernel build %s; the target runs %s",
                                           cli->plan, plan.build_id, prog->build_id);
                        goto fail;
                }
        } else if ((err = make_plan(s, prog, p, args[0], args + 1, (unsigned)nargs - 1, &plan))) {
                goto fail;
        }
        if (cli->apply) {
                rc = apply(cli, s, prog, p, args, (unsigned)nargs, &plan, saved);
        } else {
                if (cli->plan && (err = save(cli->plan, &plan)))
                        goto fail;
                show(cli, &plan, 0);
                rc = cli_flush();
        }
        bd_repair_plan_free(&plan);
        bd_repair_script_close(s);
        bd_program_close(prog);
        return rc;
fail:
        bd_repair_plan_free(&plan);
        bd_repair_script_close(s);
        bd_program_close(prog);
        return cli_report(err);
}
