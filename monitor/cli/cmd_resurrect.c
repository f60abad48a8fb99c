/* bdmon resurrect: one process of the target as CRIU images, and what it
 * says of them (watch --resurrect says the same). */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../views/output.h"
#include "cli.h"

void cli_resurrect(struct cli *cli, struct bd_program *prog, int32_t pid,
                   struct cli_resurrection *r)
{
        memset(r, 0, sizeof(*r));
        r->pid = pid;
        struct bd_resurrect_options opt = {.force = cli->force};
        if ((r->err = bd_resurrect_images(prog, pid, cli->images, &opt, &r->st)) || !cli->to)
                return;
        /* The standby's restore, with the images as it sees them. */
        char abs[PATH_MAX];
        const char *there = cli->to_images;
        if (!there)
                there = realpath(cli->images, abs) ? abs : cli->images;
        /* A process restored while its kernel still runs would run twice,
         * the original answering for the same address. */
        r->standby_err = r->st.kernel_ran > 0
                             ? bd_error_new(BD_ERR_RANGE,
                                            "not restored on the standby: the kernel still "
                                            "runs (its jiffies moved while pid %" PRId32
                                            " was read); stop and fence it first",
                                            pid)
                             : bd_standby_restore(cli->to, there, pid, &r->sb);
}

void cli_resurrection_json(FILE *f, const struct cli *cli, const struct cli_resurrection *r)
{
        const struct bd_resurrect_stats *st = &r->st;
        fprintf(f, "{\"images\":");
        bd_json_string(f, cli->images);
        fprintf(f, ",\"pid\":%" PRId32 ",\"threads\":[", r->pid);
        for (size_t i = 0; i < st->nthreads; i++)
                fprintf(f,
                        "%s{\"tid\":%" PRId32 ",\"on_cpu\":%s,\"syscall\":%" PRId64
                        ",\"registers\":\"%s\"}",
                        i ? "," : "", st->threads[i].tid, st->threads[i].on_cpu ? "true" : "false",
                        st->threads[i].syscall, bd_syscall_fix_name(st->threads[i].fix));
        fprintf(f,
                "],\"vmas\":%zu,\"pages\":%" PRIu64 ",\"pages_zero\":%" PRIu64
                ",\"pages_read\":%" PRIu64 ",\"pages_read_again\":%" PRIu64
                ",\"signals\":%zu,\"fds\":%zu,\"files\":%zu,\"sockets\":%zu"
                ",\"epolls\":%zu,\"watches\":%zu,\"connections\":%zu"
                ",\"queued_bytes\":%" PRIu64 ",\"round_trips\":%" PRIu64 ",\"batches\":%" PRIu64
                ",\"bytes_read\":%" PRIu64 ",\"elapsed_ms\":%.3f",
                st->vmas, st->pages, st->pages_zero, st->pages_read, st->pages_read_again,
                st->signals, st->files.fds, st->files.files, st->files.sockets, st->files.epolls,
                st->files.watches, st->files.connections, st->files.queued, st->reads.round_trips,
                st->reads.batches, st->reads.bytes_read, (double)st->reads.elapsed_ns / 1e6);
        const struct bd_agent_resurrection *ag = &st->agent;
        fprintf(f, ",\"agent\":");
        if (ag->present) {
                fprintf(f, "{\"name\":");
                bd_json_string(f, ag->name);
                fprintf(f,
                        ",\"commits\":%" PRIu64 ",\"rolled_back\":%zu,\"regions\":%zu"
                        ",\"region_bytes\":%" PRIu64 ",\"threads_gone\":%zu}",
                        ag->commits, ag->rolled_back, ag->regions, ag->bytes, ag->threads_gone);
        } else {
                fprintf(f, "null");
        }
        fprintf(f, ",\"kernel_ran\":%s",
                st->kernel_ran < 0 ? "null"
                : st->kernel_ran   ? "true"
                                   : "false");
        if (cli->to && st->kernel_ran <= 0)
                fprintf(f, ",\"standby\":{\"exit\":%d,\"elapsed_ms\":%.3f}", r->sb.status,
                        (double)r->sb.elapsed_ns / 1e6);
        fputc('}', f);
}

void cli_resurrection_text(FILE *f, const struct cli *cli, const struct cli_resurrection *r)
{
        const struct bd_resurrect_stats *st = &r->st;
        fputs(cli->images, f);
        fprintf(f,
                ": pid %" PRId32 ", %zu thread%s, %zu mappings, %" PRIu64
                " pages, %zu signals pending, %zu fds (%zu sockets, %zu connections) in "
                "%" PRIu64 " round trips, %.0f ms\n",
                r->pid, st->nthreads, st->nthreads == 1 ? "" : "s", st->vmas, st->pages,
                st->signals, st->files.fds, st->files.sockets, st->files.connections,
                st->reads.round_trips, (double)st->reads.elapsed_ns / 1e6);
        if (st->pages_read_again)
                fprintf(f, "  %" PRIu64 " pages read twice: frames the process maps twice\n",
                        st->pages_read_again);
        /* Which system calls were rewound, and which will fail. */
        for (size_t i = 0; i < st->nthreads; i++)
                if (st->threads[i].fix != BD_SYSCALL_NONE)
                        fprintf(f, "  thread %" PRId32 ": in system call %" PRId64 ", %s\n",
                                st->threads[i].tid, st->threads[i].syscall,
                                st->threads[i].fix == BD_SYSCALL_REWOUND ? "rewound: it runs again"
                                                                         : "returns -EINTR");
        const struct bd_agent_resurrection *ag = &st->agent;
        if (ag->present) {
                char name[4 * BD_AGENT_NAME_MAX];
                bd_text_escape(name, sizeof(name), ag->name);
                if (ag->rolled_back)
                        fprintf(f,
                                "  libbdagent %s: %zu request%s in flight rolled back to commit "
                                "%" PRIu64 " (%zu regions, %" PRIu64 " bytes)\n",
                                name, ag->rolled_back, ag->rolled_back == 1 ? "" : "s", ag->commits,
                                ag->regions, ag->bytes);
                else
                        fprintf(f, "  libbdagent %s: no request in flight, at commit %" PRIu64 "\n",
                                name, ag->commits);
        }
        if (cli->to && !r->standby_err)
                fprintf(f, "restored on the standby in %.0f ms\n", (double)r->sb.elapsed_ns / 1e6);
}

void cli_resurrection_free(struct cli_resurrection *r)
{
        bd_resurrect_stats_free(&r->st);
        bd_error_destroy(r->err);
        bd_error_destroy(r->standby_err);
        r->err = r->standby_err = NULL;
}

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
        struct cli_resurrection r;
        cli_resurrect(cli, prog, pid, &r);
        bd_program_close(prog);
        if (r.err) {
                rc = cli_report(r.err);
                r.err = NULL;
                cli_resurrection_free(&r);
                return rc;
        }
        if (cli->json) {
                cli_resurrection_json(stdout, cli, &r);
                putchar('\n');
        } else {
                cli_resurrection_text(stdout, cli, &r);
        }
        rc = cli_flush();
        if (r.standby_err) {
                rc = cli_report(r.standby_err);
                r.standby_err = NULL;
        }
        cli_resurrection_free(&r);
        return rc;
}
