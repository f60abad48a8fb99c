/* bdmon checkpoint: a libbdagent process's committed state copied at each
 * interval into a store (checkpoint/checkpoint.h); bdmon checkpoints: what
 * a store keeps, one version checked, its regions written out. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../cache/cache.h"
#include "../checkpoint/checkpoint.h"
#include "../views/output.h"
#include "../watch/event.h"
#include "cli.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

static void sleep_until(uint64_t t)
{
        struct timespec ts = {(time_t)(t / 1000000000u), (long)(t % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
                ;
}

static void print_summary(const struct cli *cli, int32_t pid, const struct bd_checkpoint_stats *st,
                          uint64_t late, const struct bd_ckpt_store *s, double seconds)
{
        struct bd_ckpt_stats ss;
        bd_ckpt_store_stats(s, &ss);
        double per = st->intervals ? 1.0 / (double)st->intervals : 0;
        if (cli->json) {
                printf("{\"pid\":%" PRId32 ",\"store\":", pid);
                bd_json_string(stdout, cli->store);
                printf(",\"seconds\":%.3f,\"interval_ms\":%" PRIu64 ",\"intervals\":%" PRIu64
                       ",\"late\":%" PRIu64 ",\"versions_stored\":%" PRIu64
                       ",\"unchanged\":%" PRIu64 ",\"missed\":%" PRIu64 ",\"tries\":%" PRIu64
                       ",\"pinned\":%" PRIu64 ",\"pin_busy\":%" PRIu64
                       ",\"fabric_bytes_per_interval\":%.0f,\"round_trips_per_interval\":%.1f"
                       ",\"recovery_point_max_ms\":%.1f,\"gaps\":%" PRIu64
                       ",\"gaps_over_2_intervals\":%" PRIu64 ",\"bytes_stored\":%" PRIu64
                       ",\"dropped\":%" PRIu64 ",\"kept\":{\"versions\":%u,\"oldest\":%" PRIu64
                       ",\"newest\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"chunks\":%" PRIu64 "}}\n",
                       seconds, cli->interval_ms, st->intervals, late, st->versions, st->unchanged,
                       st->missed, st->tries, st->pinned, st->pin_busy,
                       (double)st->bytes_read * per, (double)st->round_trips * per,
                       (double)st->gap_max_ns / 1e6, st->gaps, st->gaps_over_2, st->bytes_stored,
                       st->dropped, ss.versions, ss.oldest, ss.newest, ss.bytes, ss.chunks);
                return;
        }
        printf("pid %" PRId32 ": %" PRIu64 " versions stored in %.1f s (%" PRIu64
               " intervals of %" PRIu64 " ms: %" PRIu64 " unchanged, %" PRIu64
               " missed, every copy torn; %" PRIu64 " late)\n",
               pid, st->versions, seconds, st->intervals, cli->interval_ms, st->unchanged,
               st->missed, late);
        printf("  per interval on the fabric: %.0f bytes, %.1f round trips (%.2f copies read)\n",
               (double)st->bytes_read * per, (double)st->round_trips * per,
               (double)st->tries * per);
        if (cli->pin)
                printf("  pinned: %" PRIu64 " whole copies read under a pin; %" PRIu64
                       " tries found another reader's\n",
                       st->pinned, st->pin_busy);
        printf("  recovery point: at most %.1f ms old (the longest gap between whole copies;"
               " %" PRIu64 " of %" PRIu64 " gaps over two intervals)\n",
               (double)st->gap_max_ns / 1e6, st->gaps_over_2, st->gaps);
        printf("  written: %" PRIu64 " bytes; %" PRIu64 " old versions dropped\n", st->bytes_stored,
               st->dropped);
        printf("  %s keeps %u versions (%" PRIu64 " to %" PRIu64 "), %" PRIu64 " bytes in %" PRIu64
               " chunks\n",
               cli->store, ss.versions, ss.oldest, ss.newest, ss.bytes, ss.chunks);
}

int cmd_checkpoint(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)nargs;
        if (!cli->store)
                return cli_usage_error("%s", "checkpoint needs --store DIR");
        int32_t pid;
        struct bd_program *prog;
        int rc = cli_open_process(cli, p, args[0], &pid, &prog);
        if (rc)
                return rc;
        struct bd_agent_copier *c = NULL;
        struct bd_ckpt_store *s = NULL;
        struct bd_ckpt_store_opts o = {.keep = cli->keep, .max_bytes = cli->store_size};
        struct bd_error *err = bd_agent_copier_new(prog, pid, &c);
        if (!err)
                err = bd_agent_copier_pin(c, cli->pin);
        if (!err)
                err = bd_ckpt_store_open(cli->store, &o, &s);
        if (err) {
                bd_agent_copier_free(c);
                bd_program_close(prog);
                return cli_report(err);
        }
        const struct bd_agent_view *v = bd_agent_copier_view(c);
        uint64_t bytes = 0;
        for (uint32_t i = 0; i < v->b.nregions; i++)
                bytes += v->b.region[i].len;
        if (!cli->quiet) {
                fprintf(stderr, "bdmon: checkpointing pid %" PRId32 " (libbdagent \"", pid);
                bd_put_text(stderr, v->b.name, strlen(v->b.name));
                fprintf(stderr,
                        "\", %" PRIu32 " regions, %" PRIu64 " bytes) every %" PRIu64
                        " ms into %s\n",
                        v->b.nregions, bytes, cli->interval_ms, cli->store);
        }
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        uint64_t interval = cli->interval_ms * 1000000u;
        struct bd_checkpoint_stats st = {.interval_ns = interval};
        uint64_t start = bd_now_ns(), next = start;
        uint64_t late = 0, shown = start;
        int tty = !cli->quiet && isatty(STDERR_FILENO);
        while (!stop && !err) {
                struct bd_ckpt_put put;
                err = bd_checkpoint_step(c, s, prog, &st, &put);
                uint64_t now = bd_now_ns();
                if (cli->duration_ms && now - start >= cli->duration_ms * 1000000u)
                        break;
                if (tty && now - shown >= 1000000000u) {
                        fprintf(stderr,
                                "\r%" PRIu64 " versions, %" PRIu64 " missed, %" PRIu64 " late",
                                st.versions, st.missed, late);
                        shown = now;
                }
                next += interval;
                if (next < now) {
                        /* A step longer than the interval: the ones it
                         * overran are skipped, not run back to back. */
                        late += (now - next) / interval + 1;
                        next += ((now - next) / interval + 1) * interval;
                }
                sleep_until(next);
        }
        if (tty)
                fputc('\n', stderr);
        print_summary(cli, pid, &st, late, s, (double)(bd_now_ns() - start) / 1e9);
        bd_ckpt_store_close(s);
        bd_agent_copier_free(c);
        bd_program_close(prog);
        rc = err ? cli_report(err) : cli_flush();
        if (!rc && !st.versions)
                rc = cli_report(bd_error_new(BD_ERR_NOT_FOUND,
                                             "no whole copy in %" PRIu64
                                             " intervals: the process commits faster than its "
                                             "regions can be read",
                                             st.intervals));
        return rc;
}

static void print_version_text(const struct bd_ckpt_meta *m, const struct bd_ckpt_region *r,
                               unsigned n)
{
        char when[40];
        bd_wallclock_iso(m->unix_ns, 1, when, sizeof(when));
        printf("version %" PRIu64 ": %s pid %" PRId32 " \"%s\" generation %" PRIu64
               " commits %" PRIu64 "\n",
               m->version, when, m->pid, m->agent, m->generation, m->commits);
        for (unsigned i = 0; i < n; i++)
                printf("  %-31s %10" PRIu64 " bytes\n", r[i].name, r[i].len);
}

static void print_version_json(const struct bd_ckpt_meta *m, const struct bd_ckpt_region *r,
                               unsigned n)
{
        printf("{\"version\":%" PRIu64 ",\"unix_ns\":%" PRIu64 ",\"pid\":%" PRId32 ",\"agent\":",
               m->version, m->unix_ns, m->pid);
        bd_json_string(stdout, m->agent);
        printf(",\"generation\":%" PRIu64 ",\"commits\":%" PRIu64 ",\"regions\":[", m->generation,
               m->commits);
        for (unsigned i = 0; i < n; i++) {
                printf("%s{\"name\":", i ? "," : "");
                bd_json_string(stdout, r[i].name);
                printf(",\"len\":%" PRIu64 "}", r[i].len);
        }
        printf("]");
}

/* Each region of a version as OUT/NAME (names are [A-Za-z0-9._-]). */
static struct bd_error *write_regions(const char *out, const struct bd_ckpt_region *r, unsigned n)
{
        if (mkdir(out, 0750) && errno != EEXIST)
                return bd_error_new(BD_ERR_IO, "%s: %s", out, strerror(errno));
        for (unsigned i = 0; i < n; i++) {
                char path[4200];
                int len = snprintf(path, sizeof(path), "%s/%s", out, r[i].name);
                if (len < 0 || (size_t)len >= sizeof(path) ||
                    bd_cache_write_atomic(path, r[i].data, (size_t)r[i].len))
                        return bd_error_new(BD_ERR_IO, "%s: %s", path, strerror(errno));
        }
        return NULL;
}

/* The standby's command, given the regions' directory as it sees it. */
static struct bd_error *standby(const struct cli *cli, const char *dir,
                                const struct bd_ckpt_meta *m, struct bd_standby_result *sb)
{
        char abs[PATH_MAX];
        const char *there = cli->to_images;
        if (!there)
                there = realpath(dir, abs) ? abs : dir;
        return bd_standby_restore(cli->to, there, m->pid, sb);
}

int cmd_checkpoints(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)p;
        if (nargs < 1)
                return cli_usage_error("%s", "checkpoints needs a store DIR");
        uint64_t want = 0;
        if (nargs == 2 && strcmp(args[1], "newest") &&
            (cli_parse_number(args[1], &want, 0) || !want))
                return cli_usage_error("bad version '%s' (a number, or newest)", args[1]);
        if ((cli->output || cli->to) && nargs < 2)
                return cli_usage_error("%s", "checkpoints -o OUT and --to COMMAND need a VERSION");
        struct bd_ckpt_store *s;
        struct bd_error *standby_err = NULL, *err = bd_ckpt_store_open(args[0], NULL, &s);
        if (err)
                return cli_report(err);
        struct bd_ckpt_stats ss;
        bd_ckpt_store_stats(s, &ss);
        struct bd_ckpt_meta m;
        struct bd_ckpt_region r[BD_AGENT_MAX_REGIONS];
        unsigned n = 0;
        if (nargs == 2) {
                /* Every chunk read back and held against its hash. */
                err = bd_ckpt_store_get(s, want, &m, r, &n);
                char out[4200];
                const char *to = cli->output;
                if (!to && cli->to) {
                        snprintf(out, sizeof(out), "%s/restore-%" PRIu64, args[0], m.version);
                        to = out;
                }
                if (!err && to)
                        err = write_regions(to, r, n);
                struct bd_standby_result sb = {0};
                if (!err && cli->to)
                        standby_err = standby(cli, to, &m, &sb);
                if (!err && cli->json) {
                        print_version_json(&m, r, n);
                        if (cli->to)
                                printf(",\"standby\":{\"status\":%d,\"elapsed_ms\":%.3f}",
                                       sb.status, (double)sb.elapsed_ns / 1e6);
                        printf("}\n");
                } else if (!err) {
                        print_version_text(&m, r, n);
                        if (cli->to)
                                printf("  the standby's command: exit %d after %.0f ms\n",
                                       sb.status, (double)sb.elapsed_ns / 1e6);
                }
                bd_ckpt_regions_free(r, n);
        } else if (cli->json) {
                printf("{\"store\":");
                bd_json_string(stdout, args[0]);
                printf(",\"bytes\":%" PRIu64 ",\"chunks\":%" PRIu64 ",\"versions\":[", ss.bytes,
                       ss.chunks);
                for (uint64_t v = ss.oldest, k = 0; !err && ss.versions && v <= ss.newest; v++) {
                        if (bd_ckpt_store_meta(s, v, &m, r, &n))
                                continue;
                        printf("%s", k++ ? "," : "");
                        print_version_json(&m, r, n);
                        putchar('}');
                }
                printf("]}\n");
        } else {
                printf("%s: %u versions, %" PRIu64 " bytes in %" PRIu64 " chunks\n", args[0],
                       ss.versions, ss.bytes, ss.chunks);
                for (uint64_t v = ss.oldest; ss.versions && v <= ss.newest; v++)
                        if (!bd_ckpt_store_meta(s, v, &m, r, &n))
                                print_version_text(&m, r, n);
        }
        bd_ckpt_store_close(s);
        if (err)
                return cli_report(err);
        int rc = cli_flush();
        return standby_err ? cli_report(standby_err) : rc;
}
