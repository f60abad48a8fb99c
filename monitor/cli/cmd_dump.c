/* bdmon dump: the target's physical memory as a kdump-style ELF vmcore. */
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
        /* The notes and virtual addresses are what make the file a vmcore
         * to crash and drgn; a memory with no kernel in it still dumps,
         * without them. */
        struct bd_program *prog = NULL;
        struct bd_error *err = cli_open_program(cli, p, &prog);
        if (err && !cli->quiet)
                fprintf(stderr, "bdmon: dump: no VMCOREINFO note: %s\n", err->message);
        bd_error_destroy(err);
        struct bd_vmcore_desc d;
        if (prog) {
                bd_vmcore_describe(prog, &d, &err);
                if (err && !cli->quiet)
                        fprintf(stderr, "bdmon: dump: written without %s\n", err->message);
                bd_error_destroy(err);
        }
        uint64_t rt0 = p->round_trips;
        cli_progress_begin(cli, "dump", 64u << 20);
        err = bd_elf_dump(p, prog ? &d : NULL, cli->output, cli_progress);
        uint64_t total = 0;
        for (unsigned w = 0; w < p->nwindows; w++)
                total += p->windows[w].length;
        int ncpus = prog ? (int)d.ncpus : 0, panic_cpu = prog ? d.panic_cpu : -1;
        int panic_regs = prog && d.panic_regs, image = prog && d.text_size;
        if (prog)
                bd_vmcore_desc_free(&d);
        bd_program_close(prog);
        if (err)
                return cli_report(err);
        if (cli->json) {
                printf("{\"path\":");
                bd_json_string(stdout, cli->output);
                printf(",\"bytes\":%" PRIu64 ",\"windows\":%u,\"round_trips\":%" PRIu64
                       ",\"cpus\":%d,\"panic_cpu\":%d,\"panic_registers\":%s,"
                       "\"kernel_image\":%s}\n",
                       total, p->nwindows, p->round_trips - rt0, ncpus, panic_cpu,
                       panic_regs ? "true" : "false", image ? "true" : "false");
        } else {
                printf("%s: %" PRIu64 " MiB in %u segment%s", cli->output, total >> 20, p->nwindows,
                       p->nwindows == 1 ? "" : "s");
                if (ncpus)
                        printf(", %d cpu note%s", ncpus, ncpus == 1 ? "" : "s");
                if (panic_cpu >= 0)
                        printf(", cpu %d panicked (registers %s)", panic_cpu,
                               panic_regs ? "at panic()" : "not found");
                printf("\n");
        }
        return cli_flush();
}
