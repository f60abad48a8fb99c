/* One whole copy of what a libbdagent process last committed, read from
 * outside while the process runs (common/agent_beacon.h has the protocol).
 * One-sided reads may complete in any order and the process's pages may
 * move under them (compaction, transparent huge pages), so a copy counts as
 * whole only when, read in this order: the committed slot's generation was
 * even, its regions were read, the generation read again was the same,
 * and the regions' pages, translated again after the read, were still the
 * frames read. Small regions (both slots and two heads within one
 * request's reply) go in one ordered read, so that the process has only
 * the NIC's copying time to rewrite the slot under it; larger ones take a
 * read of the head, a pipelined batch and the head again, and with a pin
 * (bd_agent_copier_pin()) hold the writer off the slot meanwhile. */
#ifndef BD_CHECKPOINT_COPY_H
#define BD_CHECKPOINT_COPY_H

#include <stdint.h>

#include "../views/agent.h"
#include "../views/user_mem.h"

struct bd_agent_copier;

/* A copier of pid's committed state; BD_ERR_NOT_FOUND when it maps no
 * beacon (bd_agent_read()). */
struct bd_error *bd_agent_copier_new(struct bd_program *prog, int32_t pid,
                                     struct bd_agent_copier **out);
void bd_agent_copier_free(struct bd_agent_copier *c);

/* Pin the slot a read of large regions takes (common/agent_beacon.h's
 * reader pin): two compare-and-swaps of the beacon's pin word per copy,
 * to set it and take it back, each audited; the source must allow the
 * monitor to write (--write, and a NIC that allows writes), or the first
 * copy fails with its refusal. A pin another reader holds is waited for by
 * no one: the copy goes on without one (bd_agent_copy.pin_busy). Fails
 * only when libsodium, which makes the pins' tokens, does not start. */
struct bd_error *bd_agent_copier_pin(struct bd_agent_copier *c, int on);

/* The beacon as last read: the regions a copy holds, their names and
 * lengths. Read again when the process registers another region. */
const struct bd_agent_view *bd_agent_copier_view(const struct bd_agent_copier *c);

struct bd_agent_copy {
        int whole;           /* 1: data holds one commit's state */
        unsigned tries;      /* attempts made, the whole one included */
        int reread;          /* the beacon changed and was read again */
        int slot;            /* the slot read */
        uint64_t generation; /* its generation: names the commit it holds */
        uint64_t commits;    /* the process's commit count when it was read */
        int pinned;          /* the whole copy was read under this reader's pin */
        unsigned pin_busy;   /* tries that found the pin another reader's */
        /* Region i's bytes (bd_agent_copier_view()'s region[i].len), until
         * the next read; valid when whole. */
        const uint8_t *data[BD_AGENT_MAX_REGIONS];
};

/* Read the committed slot, at most max_tries times while the process
 * rewrites it under the reader: a process that commits faster than its
 * regions can be read gives no whole copy (whole 0), which the caller
 * counts. Two slots give a reader one whole commit interval; the bound on
 * a region's size (BD_AGENT_REGION_MAX) keeps a read within it at the
 * fabric's speed unless commits come faster than about one per read.
 * Errors: BD_ERR_NOT_FOUND before the first commit or once the beacon is
 * gone (the process exited), BD_ERR_PROTOCOL for a beacon that no longer
 * checks, a transport error when the target is lost. */
struct bd_error *bd_agent_copier_read(struct bd_agent_copier *c, unsigned max_tries,
                                      struct bd_agent_copy *out);

#endif
