/* The beacon libbdagent (host-agent/bdagent.h) publishes in an application's
 * memory, and the monitor reads from it (live, frozen or after the kernel
 * died): where the application's registered state is, and which copy of it
 * is whole. It lives at the start of a memfd mapping named
 * BD_AGENT_MEMFD_PREFIX + the application's name, so that the monitor finds
 * it among the process's mappings by file name (Debian's kernel names no
 * anonymous mappings).
 *
 * Everything in it is the target's word: the monitor checks every field
 * against the limits below and every address against the process's
 * mappings before it follows one.
 *
 * Commits. The library keeps two copies (slots) of every region. A commit
 * writes the slot that is not the committed one: its generation is made
 * odd, the regions are copied into it, the generation made even again,
 * and only then does `committed` name it. A process that stops at any
 * instruction therefore leaves `committed` naming a slot whose regions all
 * hold one commit's state. A reader racing the writer reads `committed`,
 * that slot's generation (even), the regions, then the generation again:
 * unchanged, the copy is whole; changed or odd, it is torn and read again.
 *
 * The reader pin. A region that takes longer to read than the writer
 * takes to come back to a slot (two commits) would never be read whole.
 * A reader that may write the process's memory (a monitor allowed to)
 * pins the slot it reads: it swaps `pin` from 0 to a token of its own
 * whose low two bits are the slot + 1 (compare-and-swap), reads that
 * slot's generation again (odd: a commit was in it before the pin was
 * seen; unpin and try again), the regions and the generation again, then
 * swaps its token back to 0. A commit marks its slot odd first and only
 * then looks at `pin`: when the pin names that slot it puts the generation
 * back and skips the commit (counted in pin_skips): the next request's
 * end commits what it would have. So a commit that began before the
 * pin was seen shows as an odd generation to the reader, and none begins
 * in the pinned slot after. A pin is honoured for BD_AGENT_PIN_LEASE_MS
 * from the first commit that found it, then the library swaps it back to
 * 0 itself: a reader that died holding one stops commits for that long at
 * most, and a reader slower than that sees its copy torn by the
 * generation, as without a pin.
 *
 * All fields are little-endian, at fixed offsets (x86-64). */
#ifndef BD_AGENT_BEACON_H
#define BD_AGENT_BEACON_H

#include <stddef.h>
#include <stdint.h>

#define BD_AGENT_MAGIC        0x6e6f636165424442ull /* "BDBeacon" */
#define BD_AGENT_VERSION      2
#define BD_AGENT_MEMFD_PREFIX "bdagent:"
#define BD_AGENT_NAME_MAX     32 /* with its NUL */
#define BD_AGENT_MAX_REGIONS  16
/* A region's bound: a commit copies every region on the application's
 * request path, and a checkpoint reads them over the fabric. */
#define BD_AGENT_REGION_MAX   (16u << 20)
#define BD_AGENT_MAX_THREADS  256
#define BD_AGENT_NONE         UINT64_MAX /* committed before the first commit */
#define BD_AGENT_PIN_LEASE_MS 1000
/* A pin's slot, from its low two bits: 0 or 1, or -1 for no pin. */
#define BD_AGENT_PIN_SLOT(pin) ((int)((pin)&3) - 1)

struct bd_agent_region {
        char name[BD_AGENT_NAME_MAX];
        uint64_t live; /* the application's own copy */
        uint64_t len;
        uint64_t slot[2]; /* the two copies, len bytes each */
};

/* A thread that has begun a request once: whether it is inside one now. */
struct bd_agent_thread {
        int32_t tid;
        uint32_t inside; /* 1 between bd_request_begin and bd_request_end */
        uint64_t requests;
};

struct bd_agent_beacon {
        uint64_t magic;
        uint32_t version;
        uint32_t size; /* sizeof(struct bd_agent_beacon) */
        char name[BD_AGENT_NAME_MAX];
        int32_t pid;
        /* The signal the library recovers a thread with: an image writer
         * queues it to every thread that was inside a request. */
        int32_t signal;
        uint32_t nregions, nthreads;
        uint64_t committed;     /* 0 or 1, BD_AGENT_NONE before the first commit */
        uint64_t generation[2]; /* per slot: odd while being written */
        uint64_t commits;
        uint64_t in_request;   /* threads inside a request now */
        uint64_t on_resurrect; /* the recovery procedure's address, 0: none */
        /* Set in the images of a resurrected process, never in the memory
         * of the one that died; rolled_back: its requests that were in
         * flight and were rolled back. */
        uint64_t resurrected, rolled_back;
        uint64_t pin;       /* a reader's pin (above), 0: none */
        uint64_t pin_skips; /* commits skipped for a pin */
        struct bd_agent_region region[BD_AGENT_MAX_REGIONS];
        struct bd_agent_thread thread[BD_AGENT_MAX_THREADS];
};

/* A name as bd_agent_init() and bd_region() take it, and as a reader
 * must find it: 1 to 31 characters of [A-Za-z0-9._-], NUL-terminated
 * within its field. */
static inline int bd_agent_name_ok(const char *name)
{
        size_t n = 0;
        while (n < BD_AGENT_NAME_MAX && name[n])
                n++;
        if (!n || n == BD_AGENT_NAME_MAX)
                return 0;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return 0;
        }
        return 1;
}

#endif
