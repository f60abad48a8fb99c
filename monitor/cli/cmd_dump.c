/* bdmon dump: the target's physical memory as a kdump-style ELF vmcore or
 * in the kdump-compressed format. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../views/elf_dump.h"
#include "../views/kdump_dump.h"
#include "../views/page_filter.h"
#include "../views/output.h"
#include "cli.h"

int cmd_dump(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)args, (void)nargs;
        if (!cli->output)
                return cli_usage_error("%s", "dump needs -o FILE");
        int kdump = cli->format && !strcmp(cli->format, "kdump");
        unsigned level = (unsigned)cli->dump_level;
        if (level && !kdump)
                return cli_usage_error("%s", "-d needs --format kdump");
        /* The notes and virtual addresses are what make the file a vmcore
         * to crash and drgn; a memory with no kernel in it still dumps as
         * ELF, without them. */
        struct bd_program *prog = NULL;
        struct bd_error *err = cli_open_program(cli, p, &prog);
        if (err && kdump) /* its header and notes need the kernel */
                return cli_report(err);
        if (err && !cli->quiet)
                fprintf(stderr, "bdmon: dump: no VMCOREINFO note: %s\n", err->message);
        bd_error_destroy(err);
        err = NULL;
        struct bd_vmcore_desc d;
        if (prog) {
                bd_vmcore_describe(prog, &d, &err);
                if (err && !cli->quiet)
                        fprintf(stderr, "bdmon: dump: written without %s\n", err->message);
                bd_error_destroy(err);
                err = NULL;
        }
        uint64_t rt0 = p->round_trips;
        struct bd_kdump_stats ks = {0};
        struct bd_page_filter_stats fs = {0};
        uint8_t *keep = NULL;
        if (level & ~BD_DUMP_EXCLUDE_ZERO) {
                uint64_t max_pfn;
                keep = bd_kdump_pages(p, &max_pfn);
                err = keep ? bd_page_filter(prog, level, keep, max_pfn, &fs) : &bd_error_nomem;
        }
        if (!err) {
                cli_progress_begin(cli, "dump", 64u << 20);
                err = kdump ? bd_kdump_dump(p, &d, level, keep, cli->output, cli_progress, &ks)
                            : bd_elf_dump(p, prog ? &d : NULL, cli->output, cli_progress);
        }
        uint64_t total = 0;
        for (unsigned w = 0; w < p->nwindows; w++)
                total += p->windows[w].length;
        int ncpus = prog ? (int)d.ncpus : 0, panic_cpu = prog ? d.panic_cpu : -1;
        int panic_regs = prog && d.panic_regs, image = prog && d.text_size;
        free(keep);
        if (prog)
                bd_vmcore_desc_free(&d);
        bd_program_close(prog);
        if (err)
                return cli_report(err);
        if (cli->json) {
                printf("{\"path\":");
                bd_json_string(stdout, cli->output);
                printf(",\"format\":\"%s\",\"bytes\":%" PRIu64
                       ",\"windows\":%u,\"round_trips\":%" PRIu64
                       ",\"cpus\":%d,\"panic_cpu\":%d,\"panic_registers\":%s,"
                       "\"kernel_image\":%s",
                       kdump ? "kdump" : "elf", total, p->nwindows, p->round_trips - rt0, ncpus,
                       panic_cpu, panic_regs ? "true" : "false", image ? "true" : "false");
                if (kdump)
                        printf(",\"dump_level\":%u,\"pages\":%" PRIu64 ",\"stored\":%" PRIu64
                               ",\"zero\":%" PRIu64 ",\"compressed\":%" PRIu64
                               ",\"file_bytes\":%" PRIu64 ",\"read_bytes\":%" PRIu64
                               ",\"excluded\":{\"cache\":%" PRIu64 ",\"cache_private\":%" PRIu64
                               ",\"user\":%" PRIu64 ",\"free\":%" PRIu64
                               "},\"struct_page_bytes\":%" PRIu64,
                               level, ks.pages, ks.stored, ks.zero, ks.compressed, ks.file_bytes,
                               ks.read_bytes, fs.cache, fs.cache_private, fs.user, fs.free,
                               fs.struct_page_bytes);
                printf("}\n");
        } else {
                printf("%s: %" PRIu64 " MiB in %u segment%s", cli->output, total >> 20, p->nwindows,
                       p->nwindows == 1 ? "" : "s");
                if (kdump)
                        printf(" as kdump (level %u): %" PRIu64 " of %" PRIu64
                               " pages stored, %" PRIu64 " zero, %" PRIu64 " MiB written",
                               level, ks.stored, ks.pages, ks.zero, ks.file_bytes >> 20);
                if (ncpus)
                        printf(", %d cpu note%s", ncpus, ncpus == 1 ? "" : "s");
                if (panic_cpu >= 0)
                        printf(", cpu %d panicked (registers %s)", panic_cpu,
                               panic_regs ? "at panic()" : "not found");
                printf("\n");
        }
        return cli_flush();
}
