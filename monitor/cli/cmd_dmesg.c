/* bdmon dmesg: the kernel log from printk's ring buffer, once or --follow. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../views/budget.h"
#include "../views/output.h"
#include "../views/printk.h"
#include "cli.h"

static void print_record(struct cli *cli, const struct bd_printk_record *r)
{
        uint32_t caller = r->caller_id & 0x7fffffffu;
        char who = r->caller_id & 0x80000000u ? 'C' : 'T';
        if (cli->json) {
                char *text = malloc((size_t)r->text_len + 1);
                if (!text)
                        return;
                memcpy(text, r->text, r->text_len);
                text[r->text_len] = '\0';
                printf("{\"seq\":%" PRIu64 ",\"ts_nsec\":%" PRIu64 ",\"caller\":\"%c%" PRIu32
                       "\",\"text\":",
                       r->seq, r->ts_nsec, who, caller);
                /* A NUL inside the text would end the JSON string early:
                 * the length, not the terminator, is the record's text. */
                for (size_t i = 0; i < r->text_len; i++)
                        if (!text[i])
                                text[i] = ' ';
                bd_json_string(stdout, text);
                printf("}\n");
                free(text);
                return;
        }
        bd_printk_write_text(stdout, r);
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

/* Print the records after *next (all when *have_next is 0); note on stderr
 * what the ring overwrote before it could be read. */
static void print_new(struct cli *cli, const struct bd_printk_log *log, uint64_t *next,
                      int *have_next)
{
        for (size_t i = 0; i < log->n; i++) {
                const struct bd_printk_record *r = &log->records[i];
                if (*have_next && r->seq < *next)
                        continue;
                if (*have_next && r->seq > *next && !cli->quiet)
                        fprintf(stderr, "bdmon: %" PRIu64 " records lost (overwritten)\n",
                                r->seq - *next);
                print_record(cli, r);
                *next = r->seq + 1;
                *have_next = 1;
        }
}

int cmd_dmesg(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)args, (void)nargs;
        struct bd_program *prog;
        struct bd_printk_layout lay;
        struct bd_printk_log *log = NULL;
        struct bd_error *err = cli_open_program_untyped(cli, p, &prog);
        if (err)
                return cli_report(bd_error_wrap(err, "dmesg"));
        uint64_t budget = bd_budget(prog, BD_PRINTK_BUDGET);
        if (!(err = bd_printk_layout_get(&prog->vi, &lay)))
                err = bd_printk_read_within(prog->k, &lay, budget, &log);
        if (err) {
                bd_program_close(prog);
                return cli_report(bd_error_wrap(err, "dmesg"));
        }
        uint64_t next = 0;
        int have_next = 0;
        char note[512];
        /* Before the records: a reader of the first lines learns they are
         * not the log's first. */
        bd_printk_budget_note(log, note, sizeof(note));
        if (!cli->quiet && note[0])
                fprintf(stderr, "bdmon: %s\n", note);
        print_new(cli, log, &next, &have_next);
        if (!cli->quiet && (log->skipped_state || log->skipped_corrupt))
                fprintf(stderr,
                        "bdmon: %zu records; skipped %" PRIu64 " not committed or overwritten, "
                        "%" PRIu64 " inconsistent\n",
                        log->n, log->skipped_state, log->skipped_corrupt);
        bd_printk_log_free(log);
        int rc = cli_flush();
        if (cli->follow) {
                signal(SIGINT, on_signal);
                signal(SIGTERM, on_signal);
                struct timespec ts = {(time_t)(cli->interval_ms / 1000),
                                      (long)(cli->interval_ms % 1000) * 1000000L};
                while (!stop && !rc) {
                        nanosleep(&ts, NULL);
                        if (stop)
                                break;
                        /* Each poll re-reads the ring: a live kernel reuses
                         * descriptors, so nothing read earlier is kept. */
                        if ((err = bd_printk_read_within(prog->k, &lay, budget, &log))) {
                                rc = cli_report(bd_error_wrap(err, "dmesg --follow"));
                                break;
                        }
                        print_new(cli, log, &next, &have_next);
                        bd_printk_log_free(log);
                        rc = cli_flush();
                }
        }
        bd_program_close(prog);
        return rc;
}
