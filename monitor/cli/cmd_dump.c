/* bdmon dump: the target's physical memory as a kdump-style ELF vmcore or
 * in the kdump-compressed format, filtered at the source, resumable. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../views/elf_dump.h"
#include "../views/kdump_dump.h"
#include "../views/output.h"
#include "../views/page_filter.h"
#include "cli.h"

struct progress {
        int on;
        uint64_t t0, last_ns, excluded;
};

/* One line on a terminal, redrawn at most twice a second. */
static void progress_line(const struct bd_dump_progress *pr, void *ctx)
{
        struct progress *g = ctx;
        uint64_t now = bd_now_ns();
        int end = pr->pages >= pr->total;
        if (!g->on || (now - g->last_ns < 500000000u && !end))
                return;
        g->last_ns = now;
        double s = (double)(now - g->t0) / 1e9, rate = s > 0 ? (double)pr->read_bytes / s : 0;
        double pages_rate = s > 0 ? (double)pr->pages / s : 0;
        uint64_t eta =
            pages_rate > 0 ? (uint64_t)((double)(pr->total - pr->pages) / pages_rate) : 0;
        fprintf(stderr,
                "\rdump: %" PRIu64 "/%" PRIu64 " pages (%u%%), %" PRIu64 " MiB read, %" PRIu64
                " zero unread, %" PRIu64 " left out, %.1f MiB/s, ETA %" PRIu64 ":%02" PRIu64 " ",
                pr->pages, pr->total, pr->total ? (unsigned)(pr->pages * 100 / pr->total) : 100,
                pr->read_bytes >> 20, pr->zero, g->excluded, rate / 1048576, eta / 60, eta % 60);
        if (end)
                fputc('\n', stderr);
}

int cmd_dump(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)args, (void)nargs;
        if (!cli->output)
                return cli_usage_error("%s", "dump needs -o FILE");
        int kdump = cli->format && !strcmp(cli->format, "kdump");
        unsigned level = (unsigned)cli->dump_level;
        if (cli->compress && !kdump)
                return cli_usage_error("%s", "--compress needs --format kdump");
        char part[4200];
        bd_dump_part_name(cli->output, part, sizeof(part));
        int resuming = cli->resume && !access(part, F_OK);
        if (cli->resume && !resuming && !cli->quiet)
                fprintf(stderr, "bdmon: dump: no %s to resume; starting afresh\n", part);
        /* The notes and virtual addresses are what make the file a vmcore
         * to crash and drgn; a memory with no kernel in it still dumps as
         * ELF, without them. */
        struct bd_program *prog = NULL;
        struct bd_error *err = cli_open_program(cli, p, &prog);
        if (err && (kdump || (level & ~BD_DUMP_EXCLUDE_ZERO))) /* they need the kernel */
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
        uint64_t read0 = p->bytes_read, scanned0 = p->bytes_scanned, rt0 = p->round_trips;
        uint64_t t0 = bd_now_ns();
        struct bd_dump_stats st = {0};
        struct bd_page_filter_stats fs = {0};
        uint8_t *keep = NULL;
        /* A partial file holds the page set it was started with. */
        if ((level & ~BD_DUMP_EXCLUDE_ZERO) && !resuming) {
                uint64_t max_pfn;
                keep = bd_dump_present(p, &max_pfn);
                err = keep ? bd_page_filter(prog, level, keep, max_pfn, &fs) : &bd_error_nomem;
        }
        struct progress g = {.on = !cli->quiet && isatty(STDERR_FILENO),
                             .t0 = t0,
                             .excluded = fs.cache + fs.cache_private + fs.user + fs.free};
        struct bd_dump_options o = {.path = cli->output,
                                    .level = level,
                                    .compression = cli->compress && !strcmp(cli->compress, "zstd")
                                                       ? BD_KDUMP_ZSTD
                                                       : BD_KDUMP_ZLIB,
                                    .keep = keep,
                                    .resume = resuming,
                                    .progress = progress_line,
                                    .progress_ctx = &g};
        if (!err)
                err = kdump ? bd_kdump_dump(p, &d, &o, &st)
                            : bd_elf_dump(p, prog ? &d : NULL, &o, &st);
        double secs = (double)(bd_now_ns() - t0) / 1e9;
        int ncpus = prog ? (int)d.ncpus : 0, panic_cpu = prog ? d.panic_cpu : -1;
        int panic_regs = prog && d.panic_regs, image = prog && d.text_size;
        unsigned stopped = prog ? d.stopped_regs : 0;
        free(keep);
        if (prog)
                bd_vmcore_desc_free(&d);
        bd_program_close(prog);
        if (err)
                return cli_report(err);
        uint64_t read = p->bytes_read - read0;
        if (cli->json) {
                printf("{\"path\":");
                bd_json_string(stdout, cli->output);
                printf(",\"format\":\"%s\",\"compression\":\"%s\",\"dump_level\":%u,\"windows\":%u,"
                       "\"cpus\":%d,"
                       "\"panic_cpu\":%d,\"panic_registers\":%s,\"stopped_cpu_registers\":%u,"
                       "\"kernel_image\":%s,"
                       "\"pages\":%" PRIu64 ",\"stored\":%" PRIu64 ",\"zero\":%" PRIu64
                       ",\"compressed\":%" PRIu64 ",\"resumed\":%" PRIu64 ",\"file_bytes\":%" PRIu64
                       ",\"page_bytes\":%" PRIu64 ",\"read_bytes\":%" PRIu64
                       ",\"scanned_bytes\":%" PRIu64 ",\"startup_read_bytes\":%" PRIu64
                       ",\"round_trips\":%" PRIu64
                       ",\"seconds\":%.3f,\"excluded\":{\"cache\":%" PRIu64
                       ",\"cache_private\":%" PRIu64 ",\"user\":%" PRIu64 ",\"free\":%" PRIu64
                       "},\"struct_page_bytes\":%" PRIu64 "}\n",
                       kdump ? "kdump" : "elf",
                       !kdump                            ? "none"
                       : st.compression == BD_KDUMP_ZSTD ? "zstd"
                                                         : "zlib",
                       level, p->nwindows, ncpus, panic_cpu, panic_regs ? "true" : "false", stopped,
                       image ? "true" : "false", st.pages, st.stored, st.zero, st.compressed,
                       st.resumed, st.file_bytes, st.read_bytes, read, p->bytes_scanned - scanned0,
                       read0, p->round_trips - rt0, secs, fs.cache, fs.cache_private, fs.user,
                       fs.free, fs.struct_page_bytes);
        } else {
                printf("%s: %s, level %u: %" PRIu64 " of %" PRIu64 " pages stored (%" PRIu64
                       " zero), %" PRIu64 " MiB written, %" PRIu64 " MiB read in %.1f s",
                       cli->output, kdump ? "kdump" : "ELF", level, st.stored, st.pages, st.zero,
                       st.file_bytes >> 20, read >> 20, secs);
                if (st.resumed)
                        printf(", %" PRIu64 " pages kept from %s", st.resumed, part);
                if (ncpus)
                        printf(", %d cpu note%s", ncpus, ncpus == 1 ? "" : "s");
                if (panic_cpu >= 0)
                        printf(", cpu %d panicked (registers %s; %u other cpu%s' where stopped)",
                               panic_cpu, panic_regs ? "at panic()" : "not found", stopped,
                               stopped == 1 ? "" : "s");
                printf("\n");
        }
        return cli_flush();
}
