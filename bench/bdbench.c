/* bdbench: latency and throughput of the monitor's physical-memory reads,
 * through exactly the code bdmon uses (target config, source, read path). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/clock.h"
#include "../monitor/source/target.h"
#include "newkernel.h"
#include "probes.h"
#include "views.h"

static const char usage[] =
    "Usage: bdbench [OPTIONS] TARGET ADDR\n"
    "       bdbench [OPTIONS] --views TARGET\n"
    "       bdbench [OPTIONS] --probes N [--seconds S] TARGET\n"
    "       bdbench [OPTIONS] --new-kernel [--seconds S] TARGET\n"
    "\n"
    "Measures reads of TARGET's physical memory at ADDR as bdmon performs them:\n"
    "latency of small reads (median, p99) and throughput of large ones. TARGET is\n"
    "a config name, file:PATH or rdma:HOST[:PORT] (with --key).\n"
    "With --views: bdmon ps and dmesg, cold (nothing cached) and warm, with the\n"
    "reads and dependent batches each took.\n"
    "With --probes: bdmon watch's probe against N sources of TARGET at once,\n"
    "round robin on one thread for S seconds (default 10): probes and physical\n"
    "reads per second, per wall and per CPU second, and the source's requests\n"
    "per probe (a mediated NIC answers a probe's ranges in one READV).\n"
    "With --new-kernel: wait up to S seconds (default 10) for a copy of VMCOREINFO\n"
    "that was not in TARGET's memory when it started (a rebooted kernel's), and\n"
    "print when it was written (no earlier than written_after_unix_ns) and seen.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   target config (default /etc/backdoors/targets)\n"
    "  -k, --key FILE      key for rdma: targets\n"
    "      --size N        small read size in bytes (default 64)\n"
    "      --iters N       small reads to time (default 2000, after 100 warm-up)\n"
    "      --bw-size N     large read size in bytes (default 1048576)\n"
    "      --bw-iters N    large reads to time (default 100)\n"
    "      --sleep-poll    sleep on completions instead of spinning\n"
    "      --rc-only       small mediated reads over RC too, not UC\n"
    "  -h, --help\n"
    "\n"
    "Prints one JSON object: lat_median_us, lat_p99_us, bw_mib_s, round trips.\n";

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static int fail(struct bd_error *err)
{
        int code = err->code;
        fprintf(stderr, "bdbench: %s\n", err->message);
        bd_error_destroy(err);
        return code;
}

int main(int argc, char **argv)
{
        const char *config = BD_DEFAULT_CONFIG, *key = NULL;
        unsigned long size = 64, iters = 2000, bw_size = 1u << 20, bw_iters = 100;
        struct bd_open_options open = {.timeout_ms = 10000, .busy_poll = 1};
        int views = 0, new_kernel = 0;
        unsigned long probes = 0, seconds = 10;
        enum {
                OPT_SIZE = 256,
                OPT_ITERS,
                OPT_BWSIZE,
                OPT_BWITERS,
                OPT_SLEEP,
                OPT_VIEWS,
                OPT_PROBES,
                OPT_SECONDS,
                OPT_NEW_KERNEL,
                OPT_RC_ONLY
        };
        static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"key", required_argument, NULL, 'k'},
            {"size", required_argument, NULL, OPT_SIZE},
            {"iters", required_argument, NULL, OPT_ITERS},
            {"bw-size", required_argument, NULL, OPT_BWSIZE},
            {"bw-iters", required_argument, NULL, OPT_BWITERS},
            {"sleep-poll", no_argument, NULL, OPT_SLEEP},
            {"views", no_argument, NULL, OPT_VIEWS},
            {"probes", required_argument, NULL, OPT_PROBES},
            {"seconds", required_argument, NULL, OPT_SECONDS},
            {"new-kernel", no_argument, NULL, OPT_NEW_KERNEL},
            {"rc-only", no_argument, NULL, OPT_RC_ONLY},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        int c;
        while ((c = getopt_long(argc, argv, "c:k:h", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        config = optarg;
                        break;
                case 'k':
                        key = optarg;
                        break;
                case OPT_SIZE:
                        size = strtoul(optarg, NULL, 0);
                        break;
                case OPT_ITERS:
                        iters = strtoul(optarg, NULL, 0);
                        break;
                case OPT_BWSIZE:
                        bw_size = strtoul(optarg, NULL, 0);
                        break;
                case OPT_BWITERS:
                        bw_iters = strtoul(optarg, NULL, 0);
                        break;
                case OPT_SLEEP:
                        open.busy_poll = 0;
                        break;
                case OPT_RC_ONLY:
                        open.rc_only = 1;
                        break;
                case OPT_VIEWS:
                        views = 1;
                        break;
                case OPT_PROBES:
                        probes = strtoul(optarg, NULL, 0);
                        break;
                case OPT_SECONDS:
                        seconds = strtoul(optarg, NULL, 0);
                        break;
                case OPT_NEW_KERNEL:
                        new_kernel = 1;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                default:
                        fputs(usage, stderr);
                        return BD_ERR_USAGE;
                }
        }
        if (probes && argc - optind == 1) {
                struct bd_target t;
                struct bd_error *err = bd_target_resolve(config, argv[optind], key, &t);
                if (err)
                        return fail(err);
                if (probes > 4096 || !seconds || seconds > 3600) {
                        fputs(usage, stderr);
                        return BD_ERR_USAGE;
                }
                return bench_probes(&t, &open, (unsigned)probes, (unsigned)seconds);
        }
        if ((views || new_kernel) && argc - optind == 1) {
                struct bd_target t;
                struct bd_phys *p;
                struct bd_error *err = bd_target_resolve(config, argv[optind], key, &t);
                if (!err)
                        err = bd_target_open(&t, &open, &p);
                if (err)
                        return fail(err);
                if (new_kernel && (!seconds || seconds > 3600)) {
                        fputs(usage, stderr);
                        return BD_ERR_USAGE;
                }
                int rc = new_kernel ? bench_new_kernel(p, (unsigned)seconds) : bench_views(p);
                bd_phys_close(p);
                return rc;
        }
        if (views || new_kernel || argc - optind != 2 || !size || !iters || !bw_size || !bw_iters ||
            size > (64u << 20) || bw_size > (1u << 30)) {
                fputs(usage, stderr);
                return BD_ERR_USAGE;
        }
        const char *name = argv[optind];
        uint64_t addr = strtoull(argv[optind + 1], NULL, 0);

        struct bd_target t;
        struct bd_error *err = bd_target_resolve(config, name, key, &t);
        if (err)
                return fail(err);
        struct bd_phys *p;
        uint64_t t_open = bd_now_ns();
        if ((err = bd_target_open(&t, &open, &p)))
                return fail(err);
        t_open = bd_now_ns() - t_open;

        uint8_t *buf = malloc(bw_size > size ? bw_size : size);
        uint64_t *lat = malloc(iters * sizeof(*lat));
        if (!buf || !lat)
                return fail(&bd_error_nomem);
        for (unsigned i = 0; i < 100; i++)
                if ((err = bd_phys_read(p, addr, buf, size)))
                        return fail(err);
        for (unsigned long i = 0; i < iters; i++) {
                uint64_t t0 = bd_now_ns();
                if ((err = bd_phys_read(p, addr, buf, size)))
                        return fail(err);
                lat[i] = bd_now_ns() - t0;
        }
        qsort(lat, iters, sizeof(*lat), cmp_u64);
        uint64_t rt0 = p->round_trips;
        uint64_t t0 = bd_now_ns();
        for (unsigned long i = 0; i < bw_iters; i++)
                if ((err = bd_phys_read(p, addr, buf, bw_size)))
                        return fail(err);
        uint64_t bw_ns = bd_now_ns() - t0;
        double mib_s = (double)bw_size * (double)bw_iters / (1 << 20) / ((double)bw_ns / 1e9);

        int w = bd_phys_window_of(p, addr);
        printf("{\"target\":\"%s\",\"window\":\"%s\",\"mode\":\"%s\",\"size\":%lu,"
               "\"iters\":%lu,\"lat_min_us\":%.2f,\"lat_median_us\":%.2f,\"lat_p99_us\":%.2f,"
               "\"bw_size\":%lu,\"bw_iters\":%lu,\"bw_mib_s\":%.2f,"
               "\"bw_round_trips_per_read\":%.1f,\"connect_ms\":%.2f,\"rc_only\":%s,"
               "\"retries\":%llu}\n",
               p->name, w >= 0 ? p->windows[w].name : "?",
               w >= 0 ? bd_mode_name(p->windows[w].mode) : "?", size, iters, lat[0] / 1e3,
               lat[iters / 2] / 1e3, lat[(iters * 99) / 100] / 1e3, bw_size, bw_iters, mib_s,
               (double)(p->round_trips - rt0) / (double)bw_iters, t_open / 1e6,
               open.rc_only ? "true" : "false", (unsigned long long)p->retries);
        free(buf);
        free(lat);
        bd_phys_close(p);
        return 0;
}
