/* bdmon ps: the target's processes (or threads), read from its memory. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../views/output.h"
#include "../views/tasks.h"
#include "cli.h"

static void since_text(const struct bd_task *t, char *buf, size_t cap)
{
        int64_t ns = t->since_run_ns;
        if (t->on_cpu)
                snprintf(buf, cap, "running");
        else if (ns < 0)
                snprintf(buf, cap, "-");
        else if (ns < 1000000000)
                snprintf(buf, cap, "%" PRId64 "ms", ns / 1000000);
        else if (ns < 120 * 1000000000ll)
                snprintf(buf, cap, "%.1fs", (double)ns / 1e9);
        else if (ns < 7200 * 1000000000ll)
                snprintf(buf, cap, "%" PRId64 "m", (int64_t)(ns / 60000000000ll));
        else
                snprintf(buf, cap, "%" PRId64 "h", (int64_t)(ns / 3600000000000ll));
}

int cmd_ps(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)args, (void)nargs;
        struct bd_program *prog;
        struct bd_tasks *ts = NULL;
        struct bd_error *err = cli_open_program(cli, p, &prog);
        if (err)
                return cli_report(bd_error_wrap(err, "ps"));
        if ((err = bd_tasks_read(prog, cli->threads, &ts))) {
                bd_program_close(prog);
                return cli_report(err);
        }
        if (cli->json) {
                printf("{\"target\":");
                bd_json_string(stdout, p->name);
                printf(",\"tasks\":[");
        } else {
                printf("%7s %7s S %3s %3s %3s %9s %8s %s\n", "PID", "PPID", "CPU", "CLS", "PRI",
                       "RSS-KiB", "LAST-RUN", "COMMAND");
        }
        for (size_t i = 0; i < ts->n; i++) {
                const struct bd_task *t = &ts->t[i];
                char s = bd_task_state_char(t->state, t->exit_state);
                int kthread = !!(t->flags & BD_PF_KTHREAD);
                if (cli->json) {
                        printf("%s{\"pid\":%d,\"tgid\":%d,\"ppid\":%d,\"state\":\"%c\",\"cpu\":%u,"
                               "\"on_cpu\":%s,\"policy\":\"%s\",\"prio\":%d,\"rt_priority\":%u,",
                               i ? "," : "", t->pid, t->tgid, t->ppid, s, t->cpu,
                               t->on_cpu ? "true" : "false", bd_task_policy_name(t->policy),
                               t->prio, t->rt_priority);
                        if (t->rss_pages >= 0)
                                printf("\"rss_kib\":%" PRId64 ",", t->rss_pages * 4);
                        if (t->since_run_ns >= 0)
                                printf("\"since_run_ns\":%" PRId64 ",", t->since_run_ns);
                        printf("\"nvcsw\":%" PRIu64 ",\"nivcsw\":%" PRIu64
                               ",\"start_time_ns\":%" PRIu64 ",\"kthread\":%s,"
                               "\"task\":\"0x%" PRIx64 "\",\"comm\":",
                               t->nvcsw, t->nivcsw, t->start_time, kthread ? "true" : "false",
                               t->addr);
                        bd_json_string(stdout, t->comm);
                        printf("}");
                } else {
                        char since[16], rss[24] = "-";
                        since_text(t, since, sizeof(since));
                        if (t->rss_pages >= 0)
                                snprintf(rss, sizeof(rss), "%" PRId64, t->rss_pages * 4);
                        printf("%7d %7d %c %3u %3s %3d %9s %8s ", t->pid, t->ppid, s, t->cpu,
                               bd_task_policy_name(t->policy), t->prio, rss, since);
                        bd_put_text(stdout, t->comm, strnlen(t->comm, sizeof(t->comm)));
                        putchar('\n');
                }
        }
        const struct bd_tasks_stats *st = &ts->st;
        if (cli->json)
                printf("],\"pids\":%" PRIu64 ",\"unreadable\":%" PRIu64 ",\"batches\":%" PRIu64
                       ",\"round_trips\":%" PRIu64 ",\"bytes_read\":%" PRIu64
                       ",\"elapsed_ms\":%.3f}\n",
                       st->pids, st->unreadable, st->batches, st->round_trips, st->bytes_read,
                       (double)st->elapsed_ns / 1e6);
        else if (!cli->quiet)
                fprintf(stderr,
                        "bdmon: %zu %s of %" PRIu64 " pids in %.1f ms: %" PRIu64
                        " dependent batches, %" PRIu64 " reads, %" PRIu64 " KiB\n",
                        ts->n, cli->threads ? "threads" : "processes", st->pids,
                        (double)st->elapsed_ns / 1e6, st->batches, st->round_trips,
                        st->bytes_read >> 10);
        if (st->unreadable && !cli->quiet && !cli->json)
                fprintf(stderr, "bdmon: %" PRIu64 " tasks did not read (freed or corrupt)\n",
                        st->unreadable);
        bd_tasks_free(ts);
        bd_program_close(prog);
        return cli_flush();
}
