/* The host-side stamp of a reboot: when a kernel wrote a VMCOREINFO that
 * was not in memory before, read from the target's RAM file on the host,
 * so that bdmon watch's recognition of the new kernel is timed against
 * the moment there was one to recognise. */
#ifndef BD_BENCH_NEWKERNEL_H
#define BD_BENCH_NEWKERNEL_H

#include "../monitor/source/phys.h"

/* Note every copy of VMCOREINFO in p, then read p over and over until a
 * copy appears that was not there (another text, or another place), for
 * at most seconds. Prints one JSON object: written_after_unix_ns (the
 * last read of that chunk before, the earliest the copy can have been
 * written), seen_unix_ns and phys. Returns an exit code: 1 if none came. */
int bench_new_kernel(struct bd_phys *p, unsigned seconds);

#endif
