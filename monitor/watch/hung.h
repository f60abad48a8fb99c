/* bdmon watch's hung-task scan: the slow companion of the probe (probe.h).
 * Where the probe reads a fixed set of ranges in one batch, this walks every
 * task of the target and finds the one that has been in uninterruptible
 * sleep longest without a context switch. A scan remembers the tasks it saw
 * in D, so that the next one can tell how long each has stayed so. */
#ifndef BD_HUNG_H
#define BD_HUNG_H

#include <stddef.h>

#include "../../common/error.h"
#include "probe_sample.h"
#include "../kernel/program.h"

struct bd_hung_track;

/* What one scan leaves for the next: zero it before the first scan, and
 * give it to bd_hung_free() when done. */
struct bd_hung {
        struct bd_hung_track *seen; /* the tasks in D at the last scan */
        size_t nseen;
};

/* Walk every task of prog and put into s the one that has been in
 * uninterruptible sleep (exactly TASK_UNINTERRUPTIBLE, as the kernel's
 * hung-task detector counts it) longest without a context switch. Its
 * duration is a lower bound: the time since it last ran on its cpu, and
 * at least the time it has been seen in D with the same switch count. */
struct bd_error *bd_hung_scan(struct bd_program *prog, struct bd_hung *h,
                              struct bd_probe_sample *s);

void bd_hung_free(struct bd_hung *h);

#endif
