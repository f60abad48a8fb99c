/* bdmon sym: a name's address, or an address's symbol, from kallsyms; a
 * name vmlinux lacks (or MODULE:NAME) from the loaded modules' tables. */
#include <inttypes.h>
#include <stdio.h>

#include "../../common/clock.h"
#include "../views/output.h"
#include "../views/symbols.h"
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
        struct bd_symbol sym = {.name = what, .type = '?'};
        uint64_t off = 0, size = 0;
        /* A name never starts with a digit in C, so a number is an address. */
        int by_addr = what[0] >= '0' && what[0] <= '9';
        if (!err && by_addr && cli_parse_number(what, &sym.addr, 0))
                err = bd_error_new(BD_ERR_USAGE, "bad address '%s'", what);
        if (!err)
                err = by_addr
                          ? bd_kallsyms_symbolize(ks, sym.addr, &sym.name, &off, &size, &sym.type)
                          : bd_symbols_find(prog, what, &sym);
        double ms = (double)(bd_now_ns() - t0) / 1e6;
        if (err) {
                bd_program_close(prog);
                return cli_report(bd_error_wrap(err, "sym"));
        }
        uint64_t addr = sym.addr;
        if (cli->json) {
                printf("{\"name\":");
                bd_json_string(stdout, sym.name);
                printf(",\"addr\":\"0x%016" PRIx64 "\",\"type\":\"%c\"",
                       by_addr ? addr - off : addr, sym.type);
                if (sym.module) {
                        printf(",\"module\":");
                        bd_json_string(stdout, sym.module);
                }
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
                printf("0x%016" PRIx64 " %s+0x%" PRIx64 "/0x%" PRIx64 " %c\n", addr, sym.name, off,
                       size, sym.type);
        } else if (sym.module) {
                /* As /proc/kallsyms shows a module's symbol. */
                printf("%016" PRIx64 " %c %s [%s]\n", addr, sym.type, sym.name, sym.module);
        } else {
                printf("%016" PRIx64 " %c %s\n", addr, sym.type, sym.name);
        }
        bd_program_close(prog);
        return cli_flush();
}
