/* bdmon dump: the target's physical memory as an ELF vmcore. */
#include <inttypes.h>
#include <stdio.h>

#include "../views/elf_dump.h"
#include "../views/output.h"
#include "cli.h"

int cmd_dump(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)args, (void)nargs;
        if (!cli->output)
                return cli_usage_error("%s", "dump needs -o FILE");
        /* The note is what makes the file a vmcore to crash and drgn; a
         * memory with no kernel in it still dumps, without one. */
        struct bd_program *prog = NULL;
        struct bd_error *err = cli_open_program(cli, p, &prog);
        if (err && !cli->quiet)
                fprintf(stderr, "bdmon: dump: no VMCOREINFO note: %s\n", err->message);
        bd_error_destroy(err);
        uint64_t rt0 = p->round_trips;
        cli_progress_begin(cli, "dump", 64u << 20);
        err = bd_elf_dump(p, prog ? &prog->vi : NULL, cli->output, cli_progress);
        uint64_t total = 0;
        for (unsigned w = 0; w < p->nwindows; w++)
                total += p->windows[w].length;
        bd_program_close(prog);
        if (err)
                return cli_report(err);
        if (cli->json) {
                printf("{\"path\":");
                bd_json_string(stdout, cli->output);
                printf(",\"bytes\":%" PRIu64 ",\"windows\":%u,\"round_trips\":%" PRIu64 "}\n",
                       total, p->nwindows, p->round_trips - rt0);
        } else {
                printf("%s: %" PRIu64 " MiB in %u segment%s\n", cli->output, total >> 20,
                       p->nwindows, p->nwindows == 1 ? "" : "s");
        }
        return cli_flush();
}
