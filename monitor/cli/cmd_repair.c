/* bdmon repair TARGET SCRIPT [ARG...]: plan by default; --apply writes,
 * then waits for the script to see the effect; --plan FILE saves a plan, or
 * with --apply applies the one saved. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cache/cache.h"
#include "../repair/run.h"
#include "../repair/script.h"
#include "cli.h"

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

/* What an applied run ended with: its plan as applied, then why, if the
 * effect was not (wholly) seen. */
static int applied(struct cli *cli, struct bd_phys *p, struct bd_repair_run *run)
{
        show(cli, &run->plan, 1);
        int rc = cli_flush();
        if (run->err) {
                rc = cli_report(run->err);
                run->err = NULL;
        } else if (run->verdict == BD_VERDICT_NOT_YET) {
                fprintf(stderr, "bdmon: %s: the repair's effect was not seen%s%s\n", p->name,
                        run->plan.verdict_why[0] ? ": " : "", run->plan.verdict_why);
                rc = BD_ERR_CAS_FAILED;
        } else if (run->verdict == BD_VERDICT_AGAIN) {
                fprintf(stderr, "bdmon: %s: the repair has another phase to plan (%s)%s%s\n",
                        p->name,
                        run->saved ? "a saved plan is applied once: run it again without --plan"
                                   : "no more rounds",
                        run->plan.verdict_why[0] ? ": " : "", run->plan.verdict_why);
                rc = BD_ERR_CAS_FAILED;
        }
        return rc;
}

/* A plan saved by --plan FILE, for the kernel the target runs now. */
static struct bd_error *read_saved(const char *path, const struct bd_program *prog,
                                   struct bd_repair_plan *plan)
{
        struct bd_error *err = bd_repair_plan_read(path, plan);
        if (!err && strcmp(plan->build_id, prog->build_id))
                err = bd_error_new(BD_ERR_USAGE,
                                   "%s was planned on kernel build %s; the target runs %s", path,
                                   plan->build_id, prog->build_id);
        return err;
}

int cmd_repair(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        struct bd_program *prog;
        struct bd_error *err = cli_open_program(cli, p, &prog);
        if (err)
                return cli_report(err);
        struct bd_repair_options o = {.raw = cli->raw, .force = cli->force};
        struct bd_repair_script *s = NULL;
        struct bd_repair_plan saved;
        bd_repair_plan_init(&saved);
        int rc = 0, from_file = cli->apply && cli->plan;
        char found[1200];
        args[0] = (char *)bd_repair_find_script(args[0], found, sizeof(found));
        if (!(err = bd_repair_script_load(prog, args[0], NULL, &o, &s)) && from_file)
                err = read_saved(cli->plan, prog, &saved);
        if (!err) {
                struct bd_repair_run run;
                bd_repair_run_start(&run, s, prog, p->name, args[0], args + 1, (unsigned)nargs - 1,
                                    cli->apply, from_file ? &saved : NULL);
                bd_repair_run_wait(&run);
                if (run.err && !run.rounds) {
                        /* The first plan failed: there is nothing to show. */
                        err = run.err;
                        run.err = NULL;
                } else if (cli->apply) {
                        rc = applied(cli, p, &run);
                } else if (!cli->plan || !(err = save(cli->plan, &run.plan))) {
                        show(cli, &run.plan, 0);
                        rc = cli_flush();
                }
                bd_repair_run_free(&run);
        }
        bd_repair_plan_free(&saved);
        bd_repair_script_close(s);
        bd_program_close(prog);
        return err ? cli_report(err) : rc;
}
