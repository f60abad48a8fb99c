#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The library's errors do not name the target: the one place that knows
 * which target a command is about says it, once. */
static const char *report_target;

void cli_set_target(const char *name)
{
        report_target = name;
}

int cli_report(struct bd_error *err)
{
        int code = err->code;
        if (report_target)
                fprintf(stderr, "bdmon: %s: %s\n", report_target, err->message);
        else
                fprintf(stderr, "bdmon: %s\n", err->message);
        bd_error_destroy(err);
        return code;
}

int cli_usage_error(const char *fmt, const char *arg)
{
        fprintf(stderr, "bdmon: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\nTry 'bdmon --help'.\n");
        return BD_ERR_USAGE;
}

int cli_parse_number(const char *s, uint64_t *out, int allow_suffix)
{
        char *end;
        errno = 0;
        if (*s == '-')
                return -1;
        unsigned long long v = strtoull(s, &end, 0);
        if (errno || end == s)
                return -1;
        if (allow_suffix && *end) {
                int shift = *end == 'K' || *end == 'k' ? 10
                            : *end == 'M'              ? 20
                            : *end == 'G'              ? 30
                                                       : -1;
                if (shift < 0 || end[1] || v > (~0ull >> shift))
                        return -1;
                v <<= shift;
                end++;
        }
        if (*end)
                return -1;
        *out = v;
        return 0;
}

int cli_parse_ms(const char *s, uint64_t *ms)
{
        char *end;
        errno = 0;
        if (*s < '0' || *s > '9')
                return -1;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || (*end && strcmp(end, "ms") && strcmp(end, "s")) || v > UINT64_MAX / 1000)
                return -1;
        *ms = !strcmp(end, "s") ? v * 1000 : v;
        return 0;
}

int cli_flush(void)
{
        return fflush(stdout) ? BD_ERR_IO : 0;
}

/* The one progress line on stderr: what is under way, and how often. */
static struct {
        int quiet;
        const char *what;
        uint64_t step, last;
} progress_line;

void cli_progress_begin(const struct cli *cli, const char *what, uint64_t step)
{
        progress_line.quiet = cli->quiet;
        progress_line.what = what;
        progress_line.step = step;
        progress_line.last = 0;
}

void cli_progress(uint64_t done, uint64_t total)
{
        if (progress_line.quiet || !isatty(STDERR_FILENO) ||
            (done - progress_line.last < progress_line.step && done < total))
                return;
        progress_line.last = done;
        fprintf(stderr, "\r%s: %" PRIu64 " / %" PRIu64 " MiB", progress_line.what, done >> 20,
                total >> 20);
        if (done >= total)
                fputc('\n', stderr);
}

static struct bd_error *open_program(struct cli *cli, struct bd_phys *p, int no_types,
                                     struct bd_program **out)
{
        cli_progress_begin(cli, "scanning for VMCOREINFO", 0);
        struct bd_program_options opt = {
            .rescan = cli->rescan,
            .no_cache = cli->no_cache,
            .layout = cli->layout,
            .max_read = cli->max_read,
            .no_types = no_types,
            .progress = cli_progress,
        };
        return bd_program_open(p, &opt, out);
}

struct bd_error *cli_open_program(struct cli *cli, struct bd_phys *p, struct bd_program **out)
{
        return open_program(cli, p, 0, out);
}

struct bd_error *cli_open_program_untyped(struct cli *cli, struct bd_phys *p,
                                          struct bd_program **out)
{
        return open_program(cli, p, 1, out);
}

int cli_open_process(struct cli *cli, struct bd_phys *p, const char *arg, int32_t *pid,
                     struct bd_program **prog)
{
        uint64_t v;
        /* Above any pid_max (PID_MAX_LIMIT is 4M), within FUTEX_TID_MASK. */
        if (cli_parse_number(arg, &v, 0) || v > 0x3fffffff)
                return cli_usage_error("bad pid '%s'", arg);
        *pid = (int32_t)v;
        struct bd_error *err = cli_open_program(cli, p, prog);
        return err ? cli_report(err) : 0;
}
