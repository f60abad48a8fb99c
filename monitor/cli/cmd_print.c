/* bdmon print: a kernel variable or an address, typed by BTF. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../kernel/btf.h"
#include "../views/object.h"
#include "../views/object_print.h"
#include "../views/output.h"
#include "cli.h"

/* Members and array elements are expanded this deep. */
#define PRINT_DEPTH 2

static struct bd_error *print_one(struct cli *cli, struct bd_program *prog, const char *expr,
                                  const struct bd_object *base, const char *path, long cpu)
{
        struct bd_object o;
        struct bd_error *err = bd_object_path(prog, base, path, &o);
        if (err)
                return err;
        struct btf *btf;
        if ((err = bd_program_btf(prog, &btf)))
                return err;
        char tname[256];
        bd_btf_type_name(btf, o.type_id, tname, sizeof(tname));
        if (cli->json) {
                printf("{\"expr\":");
                bd_json_string(stdout, expr);
                if (cpu >= 0)
                        printf(",\"cpu\":%ld", cpu);
                printf(",\"type\":");
                bd_json_string(stdout, tname);
                printf(",\"address\":\"0x%" PRIx64 "\",\"value\":", o.addr);
        } else {
                if (cpu >= 0)
                        printf("cpu %ld: ", cpu);
                printf("(%s)%s = ", tname, expr);
        }
        err = bd_object_print(prog, &o, stdout, cli->json, PRINT_DEPTH);
        if (err)
                fputs(cli->json ? "null}\n" : "<unreadable>\n", stdout);
        else
                fputs(cli->json ? "}\n" : "\n", stdout);
        return err;
}

int cmd_print(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)nargs;
        const char *expr = args[0];
        size_t head = strcspn(expr, ".[");
        char base_name[256];
        if (!head || head >= sizeof(base_name))
                return cli_usage_error("bad expression '%s' (SYMBOL[.MEMBER...] or "
                                       "0xADDR[.MEMBER...])",
                                       expr);
        memcpy(base_name, expr, head);
        base_name[head] = '\0';
        const char *path = expr + head;
        int by_addr = base_name[0] >= '0' && base_name[0] <= '9';
        uint64_t addr = 0;
        if (by_addr && cli_parse_number(base_name, &addr, 0))
                return cli_usage_error("bad address '%s'", base_name);
        if (by_addr && !cli->type)
                return cli_usage_error("an address needs --type STRUCT, as in '%s'",
                                       "print --type task_struct 0xffff...comm");

        struct bd_program *prog;
        struct bd_error *err = cli_open_program(cli, p, &prog);
        if (err)
                return cli_report(bd_error_wrap(err, "print"));
        struct bd_object base = {0};
        int percpu = 0;
        if (by_addr) {
                struct btf *btf;
                base.addr = addr;
                if (!(err = bd_program_btf(prog, &btf)))
                        err = bd_object_find_type(btf, cli->type, &base.type_id);
        } else {
                err = bd_object_variable(prog, base_name, cli->type, &base, &percpu);
        }
        unsigned ncpus = 1;
        if (!err && percpu)
                err = bd_program_cpus(prog, &ncpus);
        if (!err && percpu && cli->cpu >= (long)ncpus)
                err = bd_error_new(BD_ERR_RANGE, "cpu %ld: the target has %u", cli->cpu, ncpus);
        int rc = 0;
        if (!err && !percpu) {
                err = print_one(cli, prog, expr, &base, path, -1);
        } else if (!err) {
                /* Every CPU's copy; one that does not read is reported and
                 * the others still print. */
                for (unsigned c = 0; c < ncpus; c++) {
                        if (cli->cpu >= 0 && (long)c != cli->cpu)
                                continue;
                        struct bd_object o = base;
                        struct bd_error *e = bd_program_percpu(prog, base.addr, c, &o.addr);
                        if (!e)
                                e = print_one(cli, prog, expr, &o, path, (long)c);
                        if (e) {
                                rc = e->code;
                                fprintf(stderr, "bdmon: print: cpu %u: %s\n", c, e->message);
                                bd_error_destroy(e);
                        }
                }
        }
        if (err)
                rc = cli_report(bd_error_wrap(err, "print"));
        bd_program_close(prog);
        return rc ? rc : cli_flush();
}
