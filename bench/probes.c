#include "probes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../common/clock.h"
#include "../monitor/watch/probe.h"
#include "../monitor/kernel/program.h"

struct one {
        struct bd_phys *p;
        struct bd_program *prog;
        struct bd_probe *probe;
};

static void close_all(struct one *o, unsigned n)
{
        for (unsigned i = 0; i < n; i++) {
                bd_probe_close(o[i].probe);
                bd_program_close(o[i].prog);
                bd_phys_close(o[i].p);
        }
        free(o);
}

int bench_probes(const struct bd_target *t, const struct bd_open_options *open, unsigned ntargets,
                 unsigned seconds)
{
        struct one *o = calloc(ntargets, sizeof(*o));
        if (!o)
                return BD_ERR_NOMEM;
        for (unsigned i = 0; i < ntargets; i++) {
                struct bd_error *err = bd_target_open(t, open, &o[i].p);
                if (!err)
                        err = bd_program_open(o[i].p, NULL, &o[i].prog);
                if (!err)
                        err = bd_probe_open(o[i].prog, &o[i].probe);
                if (err) {
                        int code = err->code;
                        fprintf(stderr, "bdbench: target %u: %s\n", i, err->message);
                        bd_error_destroy(err);
                        close_all(o, ntargets);
                        return code;
                }
        }
        const struct bd_probe_info *info = bd_probe_info(o[0].probe);
        uint64_t probes = 0, failed = 0;
        struct timespec c0, c1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
        uint64_t trips = 0;
        for (unsigned i = 0; i < ntargets; i++)
                trips -= o[i].p->round_trips;
        uint64_t t0 = bd_now_ns(), end = t0 + (uint64_t)seconds * 1000000000u;
        struct bd_probe_sample s;
        while (bd_now_ns() < end)
                for (unsigned i = 0; i < ntargets; i++) {
                        bd_probe_read(o[i].probe, &s);
                        probes++;
                        failed += s.read_error != 0;
                }
        double wall = (double)(bd_now_ns() - t0) / 1e9;
        for (unsigned i = 0; i < ntargets; i++)
                trips += o[i].p->round_trips;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
        double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
        /* A probe reads every planned range plus each cpu's current task. */
        double reads = (double)probes * (info->ranges + 2.0 * info->ncpus);
        printf("{\"targets\":%u,\"seconds\":%.2f,\"cpu_seconds\":%.2f,\"probes\":%" PRIu64
               ",\"failed\":%" PRIu64 ",\"ranges_per_probe\":%u,\"bytes_per_probe\":%u,"
               "\"requests_per_probe\":%.2f,\"probes_per_s\":%.0f,"
               "\"reads_per_s\":%.0f,\"reads_per_cpu_s\":%.0f}\n",
               ntargets, wall, cpu, probes, failed, info->ranges, info->bytes,
               probes ? (double)trips / (double)probes : 0.0, (double)probes / wall, reads / wall,
               cpu > 0 ? reads / cpu : 0.0);
        close_all(o, ntargets);
        return failed ? BD_ERR_IO : 0;
}
