/* bdmon core: one process of the target as an ELF core file for gdb. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../views/core.h"
#include "../views/output.h"
#include "cli.h"

int cmd_core(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)nargs;
        if (!cli->output)
                return cli_usage_error("%s", "core needs -o FILE");
        int32_t pid;
        struct bd_program *prog;
        int rc = cli_open_process(cli, p, args[0], &pid, &prog);
        if (rc)
                return rc;
        struct bd_core_stats st;
        cli_progress_begin(cli, "core", 16u << 20);
        struct bd_error *err = bd_core_write(prog, pid, cli->output, cli_progress, &st);
        bd_program_close(prog);
        if (err)
                return cli_report(err);
        /* Registers of a thread that was running are those of its last
         * entry into the kernel: say so, once per thread. */
        for (size_t i = 0; i < st.nthreads && !cli->quiet; i++)
                if (st.threads[i].on_cpu)
                        fprintf(stderr,
                                "bdmon: core: thread %d was on cpu %u: its registers are from "
                                "its last kernel entry%s\n",
                                st.threads[i].tid, st.threads[i].cpu,
                                st.threads[i].fpu_saved ? "" : ", its FPU state from before that");
        if (cli->json) {
                printf("{\"path\":");
                bd_json_string(stdout, cli->output);
                printf(",\"pid\":%" PRId32 ",\"ppid\":%" PRId32 ",\"comm\":", pid, st.ppid);
                bd_json_string(stdout, st.comm);
                printf(",\"threads\":[");
                for (size_t i = 0; i < st.nthreads; i++)
                        printf("%s{\"tid\":%" PRId32 ",\"on_cpu\":%s,\"cpu\":%u,\"fpu_saved\":%s}",
                               i ? "," : "", st.threads[i].tid,
                               st.threads[i].on_cpu ? "true" : "false", st.threads[i].cpu,
                               st.threads[i].fpu_saved ? "true" : "false");
                printf("],\"segments\":%u,\"pages_read\":%" PRIu64 ",\"pages_zero\":%" PRIu64
                       ",\"pages_swapped\":%" PRIu64 ",\"pages_unreadable\":%" PRIu64
                       ",\"file_bytes\":%" PRIu64 ",\"round_trips\":%" PRIu64
                       ",\"batches\":%" PRIu64 ",\"bytes_read\":%" PRIu64 ",\"elapsed_ms\":%.3f}\n",
                       st.segments, st.pages_read, st.pages_zero, st.pages_swapped,
                       st.pages_unreadable, st.file_bytes, st.reads.round_trips, st.reads.batches,
                       st.reads.bytes_read, (double)st.reads.elapsed_ns / 1e6);
        } else {
                printf("%s: pid %" PRId32 " (", cli->output, pid);
                bd_put_text(stdout, st.comm, strlen(st.comm));
                printf("), %zu thread%s, %u mappings, %" PRIu64 " KiB of memory in %" PRIu64
                       " round trips, %.0f ms\n",
                       st.nthreads, st.nthreads == 1 ? "" : "s", st.segments, st.pages_read * 4,
                       st.reads.round_trips, (double)st.reads.elapsed_ns / 1e6);
                if (st.pages_swapped || st.pages_unreadable)
                        printf("%s: %" PRIu64 " pages swapped out and %" PRIu64
                               " unreadable are zero in the core\n",
                               cli->output, st.pages_swapped, st.pages_unreadable);
        }
        bd_core_stats_free(&st);
        return cli_flush();
}
