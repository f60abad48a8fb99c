/* bdmon resurrect: one process of the target as CRIU images. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "../resurrect/resurrect.h"
#include "../resurrect/standby.h"
#include "../views/output.h"
#include "cli.h"

int cmd_resurrect(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)nargs;
        if (!cli->images)
                return cli_usage_error("%s", "resurrect needs --images DIR");
        int32_t pid;
        struct bd_program *prog;
        int rc = cli_open_process(cli, p, args[0], &pid, &prog);
        if (rc)
                return rc;
        struct bd_resurrect_options opt = {.force = cli->force};
        struct bd_resurrect_stats st;
        struct bd_error *err = bd_resurrect_images(prog, pid, cli->images, &opt, &st);
        bd_program_close(prog);
        if (err) {
                bd_resurrect_stats_free(&st);
                return cli_report(err);
        }
        /* The standby's restore, with the images as it sees them. */
        struct bd_standby_result sb = {0};
        char abs[PATH_MAX];
        const char *there = cli->to_images;
        if (cli->to && !there)
                there = realpath(cli->images, abs) ? abs : cli->images;
        /* A process restored while its kernel still runs would run twice,
         * the original answering for the same address. */
        struct bd_error *sb_err =
            !cli->to            ? NULL
            : st.kernel_ran > 0 ? bd_error_new(BD_ERR_RANGE,
                                               "not restored on the standby: the kernel still "
                                               "runs (its jiffies moved while pid %" PRId32
                                               " was read); stop and fence it first",
                                               pid)
                                : bd_standby_restore(cli->to, there, pid, &sb);
        if (cli->json) {
                printf("{\"images\":");
                bd_json_string(stdout, cli->images);
                printf(",\"pid\":%" PRId32 ",\"threads\":[", pid);
                for (size_t i = 0; i < st.nthreads; i++)
                        printf("%s{\"tid\":%" PRId32 ",\"on_cpu\":%s,\"syscall\":%" PRId64
                               ",\"registers\":\"%s\"}",
                               i ? "," : "", st.threads[i].tid,
                               st.threads[i].on_cpu ? "true" : "false", st.threads[i].syscall,
                               bd_syscall_fix_name(st.threads[i].fix));
                printf("],\"vmas\":%zu,\"pages\":%" PRIu64 ",\"pages_zero\":%" PRIu64
                       ",\"signals\":%zu,\"fds\":%zu,\"files\":%zu,\"sockets\":%zu"
                       ",\"epolls\":%zu,\"watches\":%zu,\"connections\":%zu"
                       ",\"queued_bytes\":%" PRIu64 ",\"round_trips\":%" PRIu64
                       ",\"batches\":%" PRIu64 ",\"bytes_read\":%" PRIu64 ",\"elapsed_ms\":%.3f",
                       st.vmas, st.pages, st.pages_zero, st.signals, st.files.fds, st.files.files,
                       st.files.sockets, st.files.epolls, st.files.watches, st.files.connections,
                       st.files.queued, st.reads.round_trips, st.reads.batches, st.reads.bytes_read,
                       (double)st.reads.elapsed_ns / 1e6);
                printf(",\"kernel_ran\":%s", st.kernel_ran < 0 ? "null"
                                             : st.kernel_ran   ? "true"
                                                               : "false");
                if (cli->to && st.kernel_ran <= 0)
                        printf(",\"standby\":{\"exit\":%d,\"elapsed_ms\":%.3f}", sb.status,
                               (double)sb.elapsed_ns / 1e6);
                printf("}\n");
        } else {
                printf("%s: pid %" PRId32 ", %zu thread%s, %zu mappings, %" PRIu64
                       " pages, %zu signals pending, %zu fds (%zu sockets, %zu connections) in "
                       "%" PRIu64 " round trips, %.0f ms\n",
                       cli->images, pid, st.nthreads, st.nthreads == 1 ? "" : "s", st.vmas,
                       st.pages, st.signals, st.files.fds, st.files.sockets, st.files.connections,
                       st.reads.round_trips, (double)st.reads.elapsed_ns / 1e6);
                /* Which system calls were rewound, and which will fail. */
                for (size_t i = 0; i < st.nthreads; i++)
                        if (st.threads[i].fix != BD_SYSCALL_NONE)
                                printf("  thread %" PRId32 ": in system call %" PRId64 ", %s\n",
                                       st.threads[i].tid, st.threads[i].syscall,
                                       st.threads[i].fix == BD_SYSCALL_REWOUND
                                           ? "rewound: it runs again"
                                           : "returns -EINTR");
        }
        if (cli->to && !sb_err && !cli->json)
                printf("restored on the standby in %.0f ms\n", (double)sb.elapsed_ns / 1e6);
        bd_resurrect_stats_free(&st);
        rc = cli_flush();
        return sb_err ? cli_report(sb_err) : rc;
}
