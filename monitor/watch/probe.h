/* bdmon watch's probe: a target's liveness and exhaustion signals, read in
 * one pipelined batch of physical reads. Every address is translated once,
 * when the probe is planned (kernel image and per-CPU areas do not move), so
 * a probe costs one round trip and no page-table walk. What it reads is
 * raw, unchecked memory of a possibly dying kernel: monitor/classify.h
 * judges it. */
#ifndef BD_PROBE_H
#define BD_PROBE_H

#include <stdint.h>

#include "../../common/error.h"
#include "probe_sample.h"
#include "../kernel/program.h"

struct bd_probe;

struct bd_probe_info {
        unsigned ncpus;    /* cpus probed */
        unsigned ranges;   /* physical ranges per probe */
        unsigned bytes;    /* bytes per probe */
        char missing[256]; /* optional signals this kernel lacks, "" if none */
        int32_t system_running;
        /* The cpus (0-63) booted nohz_full: running one task, they stop
         * their tick and never switch, which is their purpose, not a
         * lockup. */
        uint64_t nohz_full;
};

/* Plan the probe for prog's kernel (needs kallsyms and a layout). Fails
 * with BD_ERR_NOT_FOUND when even jiffies or the runqueues are missing. */
struct bd_error *bd_probe_open(struct bd_program *prog, struct bd_probe **out);
void bd_probe_close(struct bd_probe *pr);
const struct bd_probe_info *bd_probe_info(const struct bd_probe *pr);

/* One probe into s (t_ns, rtt_ns stamped; read_error set on failure:
 * BD_ERR_NOT_FOUND when VMCOREINFO no longer reads as it did, or the BIOS
 * data area changed (a reset), i.e. the kernel probed is gone and the
 * program must be opened again). */
void bd_probe_read(struct bd_probe *pr, struct bd_probe_sample *s);

/* The slow scan (hung.h's bd_hung_scan) on the probe's kernel, the probe
 * keeping what each scan leaves for the next: the task in D state longest
 * without a context switch, into s's hung_* fields. */
struct bd_error *bd_probe_scan_hung(struct bd_probe *pr, struct bd_probe_sample *s);

#endif
