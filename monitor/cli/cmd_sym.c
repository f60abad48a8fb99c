/* bdmon sym: a name's address, or an address's symbol, from kallsyms. */
#include <inttypes.h>
#include <stdio.h>

#include "../../common/clock.h"
#include "../views/output.h"
#include "cli.h"

int cmd_sym(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)nargs;
        const char *what = args[0];
        uint64_t t0 = bd_now_ns(), rt0 = p->round_trips;
        struct bd_program *prog = NULL;
        struct bd_kallsyms *ks = NULL;
        struct bd_error *err = cli_open_program(cli, p, &prog);
        if (!err)
                err = bd_program_kallsyms(prog, &ks);
        const char *name = what;
        uint64_t addr = 0, off = 0, size = 0;
        char type = '?';
        /* A name never starts with a digit in C, so a number is an address. */
        int by_addr = what[0] >= '0' && what[0] <= '9';
        if (!err && by_addr && cli_parse_number(what, &addr, 0))
                err = bd_error_new(BD_ERR_USAGE, "bad address '%s'", what);
        if (!err)
                err = by_addr ? bd_kallsyms_symbolize(ks, addr, &name, &off, &size, &type)
                              : bd_kallsyms_lookup(ks, what, &addr, &type);
        double ms = (double)(bd_now_ns() - t0) / 1e6;
        if (err) {
                bd_program_close(prog);
                return cli_report(bd_error_wrap(err, "sym"));
        }
        if (cli->json) {
                printf("{\"name\":");
                bd_json_string(stdout, name);
                printf(",\"addr\":\"0x%016" PRIx64 "\",\"type\":\"%c\"",
                       by_addr ? addr - off : addr, type);
                if (by_addr)
                        printf(",\"query\":\"0x%" PRIx64 "\",\"offset\":%" PRIu64
                               ",\"size\":%" PRIu64,
                               addr, off, size);
                printf(",\"symbols\":%zu,\"table_bytes\":%" PRIu64
                       ",\"from_cache\":%s,\"round_trips\":%" PRIu64 ",\"elapsed_ms\":%.3f}\n",
                       bd_kallsyms_count(ks), prog->stats.kallsyms_bytes,
                       prog->stats.kallsyms_from_cache ? "true" : "false", p->round_trips - rt0,
                       ms);
        } else if (by_addr) {
                printf("0x%016" PRIx64 " %s+0x%" PRIx64 "/0x%" PRIx64 " %c\n", addr, name, off,
                       size, type);
        } else {
                printf("%016" PRIx64 " %c %s\n", addr, type, name);
        }
        bd_program_close(prog);
        return cli_flush();
}
