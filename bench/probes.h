/* The watch part of bdbench: how many probes one monitor core sustains. */
#ifndef BD_BENCH_PROBES_H
#define BD_BENCH_PROBES_H

#include "../monitor/source/target.h"

/* Open ntargets sources of t, each with its own kernel and probe, probe
 * them round robin for seconds on this one thread, print one JSON object;
 * returns an exit code. */
int bench_probes(const struct bd_target *t, const struct bd_open_options *open, unsigned ntargets,
                 unsigned seconds);

#endif
