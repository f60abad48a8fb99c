/* The one physical-memory interface every feature of the monitor uses.
 *
 * A source (a NIC over RDMA, a local file) exposes windows: ranges of target
 * physical addresses. This layer maps addresses to windows, splits requests
 * that straddle them, refuses addresses outside every window, enforces the
 * monitor's own write permission and audits writes; a source only moves bytes
 * within one window. */
#ifndef BD_PHYS_H
#define BD_PHYS_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/error.h"
#include "../../common/wire.h"

/* A piece of a request that lies within one window. */
struct bd_phys_piece {
        unsigned window;
        uint64_t offset; /* within the window */
        void *buf;
        size_t len;
};

/* A compare-and-swap of an 8-byte word within one window. */
enum bd_cas_state {
        BD_CAS_UNTRIED = 0,
        BD_CAS_SENT,     /* no answer came: it may or may not be made */
        BD_CAS_ANSWERED, /* found holds the word's value; swapped if it was expect */
        BD_CAS_REFUSED,  /* the source said no: nothing written */
};
struct bd_phys_cas_piece {
        unsigned window;
        uint64_t offset; /* 8-aligned, within the window */
        uint64_t expect, desired;
        uint64_t found;
        enum bd_cas_state state;
};

struct bd_phys;

struct bd_phys_ops {
        /* Read every piece; sources pipeline them as far as they can. */
        struct bd_error *(*read)(struct bd_phys *p, const struct bd_phys_piece *pieces, size_t n);
        /* Read the pieces in order, each complete before the next begins,
         * in as few round trips as the source can; NULL: a piece at a time
         * through read. */
        struct bd_error *(*read_ordered)(struct bd_phys *p, const struct bd_phys_piece *pieces,
                                         size_t n);
        /* Compare-and-swap every piece in order, pipelined as far as the
         * source can, each piece's state saying how far it got. After a
         * failure nothing more is sent; the answers to what was are
         * still taken. Returns the first failure. */
        struct bd_error *(*cas)(struct bd_phys *p, struct bd_phys_cas_piece *pieces, size_t n);
        void (*close)(struct bd_phys *p);
        /* Optional: for each piece (whole BD_PHYS_PAGE pages of one
         * window), set bit i of its buf (LSB first, zeroed by the caller)
         * when its i-th page holds only zero bytes (npats 0), or one of the
         * patterns at its place, without moving the pages. */
        struct bd_error *(*pagemap)(struct bd_phys *p, const struct bd_phys_piece *pieces, size_t n,
                                    const struct bd_page_pattern *pats, unsigned npats);
};

#define BD_PHYS_PAGE 4096u

/* How a source does a compare-and-swap, and why, as `bdmon windows` shows
 * it; static strings. */
struct bd_cas_method {
        const char *how;         /* on a read-write window: "nic-cpu", "local" */
        const char *why;         /* ... and why that way */
        const char *refused_why; /* why a read-only window refuses one */
};

struct bd_phys {
        const struct bd_phys_ops *ops;
        const struct bd_cas_method *cas_method; /* set by the source; NULL: none */
        char name[64];                          /* target name, for messages */
        char describe[128];                     /* "rdma 10.99.0.3:7471", "file /x/host2.ram" */
        struct bd_window_desc windows[BD_MAX_WINDOWS];
        unsigned nwindows;
        int write_enabled; /* the monitor's own --write */
        int still;         /* a core file: memory that never moves, so nothing in it runs */
        /* counters for benchmarks and progress */
        uint64_t bytes_read;
        uint64_t bytes_scanned; /* told zero or not by the source, not moved */
        uint64_t round_trips;   /* operations on the source (pipelined together) */
        uint64_t retries;       /* of them, asked again: a lossy path's answer never came */
        uint64_t batches;       /* times the caller waited for a batch of them */
};

/* One read request for bd_phys_read_batch(). */
struct bd_phys_iov {
        uint64_t addr;
        void *buf;
        size_t len;
};

struct bd_error *bd_phys_read(struct bd_phys *p, uint64_t addr, void *buf, size_t len);
/* Read several ranges in one pipelined batch. */
struct bd_error *bd_phys_read_batch(struct bd_phys *p, const struct bd_phys_iov *iov, size_t n);
/* Read several ranges in the order given, each complete before the next
 * begins (pieces of one batch may complete in any order): what reading a
 * generation, the data it guards and the generation again needs. A NIC's
 * mediated window does it in one round trip for small ranges (a READV,
 * copied by the NIC's CPU in order); other sources take a round trip a
 * range. */
struct bd_error *bd_phys_read_ordered(struct bd_phys *p, const struct bd_phys_iov *iov, size_t n);
/* Which of the npages pages from addr (page-aligned, inside the windows)
 * hold only zero bytes: bit i of zero (LSB first, (npages + 7) / 8
 * bytes) set for page i. A source that can tell without moving the pages
 * (a NIC, by BD_OP_ZEROMAP) does; from others they are read. */
struct bd_error *bd_phys_zeromap(struct bd_phys *p, uint64_t addr, uint64_t npages, uint8_t *zero);
/* Which of the npages pages from addr hold one of the npats patterns
 * (1 to BD_PAGEMATCH_MAX_PATS) at its place, as bd_phys_zeromap tells zero
 * pages: a search of the target's memory that moves a bitmap from a NIC
 * (BD_OP_PAGEMATCH) and the pages from other sources. */
struct bd_error *bd_phys_pagematch(struct bd_phys *p, uint64_t addr, uint64_t npages,
                                   const struct bd_page_pattern *pats, unsigned npats,
                                   uint8_t *match);
/* 1 when a BD_PHYS_PAGE page holds only zero bytes. */
int bd_phys_page_zero(const uint8_t *page);
/* 1 when bd_phys_zeromap() and bd_phys_pagematch() move no pages. */
int bd_phys_zeromap_native(const struct bd_phys *p);
/* Compare-and-swap an 8-byte word. Fails with BD_ERR_CAS_FAILED (and *old
 * set) when the word did not hold expect. Audited: one line with the value
 * found. */
struct bd_error *bd_phys_cas(struct bd_phys *p, uint64_t addr, uint64_t expect, uint64_t desired,
                             uint64_t *old);

/* One compare-and-swap of bd_phys_cas_batch(). */
struct bd_phys_cas_op {
        uint64_t addr, expect, desired;
        uint64_t found;     /* the value the word held, once answered */
        enum bd_err status; /* BD_OK: swapped; BD_ERR_CAS_FAILED: the word held
                             * found, nothing written; else not made (see the
                             * batch's error) */
};
/* Several compare-and-swaps, independent of each other, pipelined (a NIC
 * keeps up to BD_QUEUE_DEPTH in flight, so n cost about one round trip, not
 * n), each checked and audited as bd_phys_cas. A word that did not hold its
 * expected value is no error of the batch: its status says so. Returns
 * the failure that stopped the batch (nothing is tried when one op is
 * refused before sending: --write, alignment, windows), or NULL. */
struct bd_error *bd_phys_cas_batch(struct bd_phys *p, struct bd_phys_cas_op *ops, size_t n);
/* How a compare-and-swap on a window is done: the source's way ("nic-cpu",
 * "local") on a read-write window, "refused" on a read-only one; *why says
 * why. What the window offers, whatever the monitor's own --write. */
const char *bd_phys_cas_how(const struct bd_phys *p, unsigned window, const char **why);
void bd_phys_close(struct bd_phys *p);

/* Which window holds addr; -1 if none. */
int bd_phys_window_of(const struct bd_phys *p, uint64_t addr);

#endif
