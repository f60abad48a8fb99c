/* Remote micro-checkpoints of a libbdagent process (`bdmon checkpoint`): at
 * each interval one whole copy of its committed state (copy.h), stored as a
 * version when it holds a commit the store does not have yet (store.h). The
 * target's CPUs copy nothing: the process only commits into its own slots,
 * and the monitor reads them over the fabric. */
#ifndef BD_CHECKPOINT_H
#define BD_CHECKPOINT_H

#include <stdint.h>

#include "copy.h"
#include "store.h"

/* Copies a read at most tries in one interval before it gives up on it. */
#define BD_CHECKPOINT_TRIES 4

struct bd_checkpoint_stats {
        uint64_t interval_ns;             /* set by the caller: the period asked */
        uint64_t intervals;               /* steps taken */
        uint64_t versions;                /* versions stored */
        uint64_t unchanged;               /* steps whose copy held the commit stored last */
        uint64_t missed;                  /* steps with no whole copy: every try torn */
        uint64_t tries;                   /* copies read, torn ones included */
        uint64_t pinned;                  /* whole copies read under a pin */
        uint64_t pin_busy;                /* tries that found another reader's pin */
        uint64_t bytes_read, round_trips; /* on the fabric, tables and heads included */
        uint64_t bytes_stored;            /* written to the store */
        uint64_t dropped;                 /* old versions dropped for room */
        /* The recovery point: were the host gone at some instant, what
         * the store holds is the state as of the last whole copy (stored,
         * or unchanged since). Its age peaks just before each copy: the
         * longest gap between whole copies, and how many gaps passed two
         * intervals (monitor time). */
        uint64_t whole_ns, gap_max_ns, gaps, gaps_over_2;
        /* The newest version stored: its slot's generation names its commit. */
        int slot;
        uint64_t generation;
};

/* One interval's work: a copy, stored if new; then a few chunks of dropped
 * versions reclaimed. *put says what was stored (version 0: nothing).
 * Errors are copy.h's and store.h's; a missed copy is none. */
struct bd_error *bd_checkpoint_step(struct bd_agent_copier *c, struct bd_ckpt_store *s,
                                    struct bd_program *prog, struct bd_checkpoint_stats *st,
                                    struct bd_ckpt_put *put);

#endif
