/* x86-64 page-table walking over raw physical memory: the one place virtual
 * addresses become physical ones. Tables are read through bd_phys, so a
 * table that is not in memory the source exports is an error, not a crash. */
#ifndef BD_PGTABLE_H
#define BD_PGTABLE_H

#include <stdint.h>

#include "../../common/error.h"
#include "../source/phys.h"

/* Bits 12..51 of an entry: the physical frame (bit 63 is NX, 52..62 are
 * software and protection-key bits, 0..11 flags). */
#define BD_PTE_ADDR_MASK 0x000ffffffffff000ull
#define BD_PTE_PRESENT   0x1ull
#define BD_PTE_HUGE      0x80ull /* PS: a 1 GiB or 2 MiB leaf */
/* Without the present bit, in a leaf: a page of a PROT_NONE mapping (the
 * global bit's place, which only present entries use). */
#define BD_PTE_PROTNONE 0x100ull

/* Translate vaddr through the table rooted at pgd_phys (CR3's frame; the
 * PML5 with levels 5, the PML4 with levels 4). On success *paddr is the
 * physical address and *page_size the size of the mapping page (4 KiB,
 * 2 MiB or 1 GiB), which the caller may use to translate neighbours without
 * another walk. Fails with BD_ERR_NOT_FOUND for a non-canonical address or a
 * non-present entry and BD_ERR_RANGE for a table outside every window; the
 * message names the virtual address and the level. */
struct bd_error *bd_pgtable_translate(struct bd_phys *p, uint64_t pgd_phys, int levels,
                                      uint64_t vaddr, uint64_t *paddr, uint64_t *page_size);

/* Table pages a walker keeps, so that translating neighbouring addresses
 * costs no reads: a walk reads whole 4 KiB tables (one round trip, like one
 * entry) and the next walk through the same tables reads nothing. Only for
 * short-lived use (one command): a live kernel may change its tables. */
#define BD_PGTABLE_CACHE_SLOTS 8

/* Tables bd_pgtable_prefetch() may read for one cache: 4 MiB of them. */
#define BD_PGTABLE_PREFETCH_MAX 1024

struct bd_pgtable_table {
        uint64_t phys;
        uint64_t entries[512];
};

struct bd_pgtable_cache {
        struct {
                uint64_t phys; /* valid when used is non-zero */
                uint64_t used; /* clock value of the last use */
                uint64_t entries[512];
        } slot[BD_PGTABLE_CACHE_SLOTS];
        uint64_t clock;
        uint64_t hits, misses;
        /* Read ahead by bd_pgtable_prefetch(), sorted by phys. */
        struct bd_pgtable_table *ahead;
        size_t nahead;
};

/* Frees what bd_pgtable_prefetch() kept; the cache stays usable. */
void bd_pgtable_cache_release(struct bd_pgtable_cache *cache);

/* A range of virtual addresses, [start, end). */
struct bd_pgtable_range {
        uint64_t start, end;
};

/* Reads into cache every table page the lookups of the lower-half
 * (user) ranges would read, a level at a time: one pipelined batch per
 * level instead of one dependent read per table. At most
 * BD_PGTABLE_PREFETCH_MAX tables; what is left out, or outside every
 * window, the lookups read as before. Fails only when the way to the
 * memory is lost. */
struct bd_error *bd_pgtable_prefetch(struct bd_phys *p, struct bd_pgtable_cache *cache,
                                     uint64_t pgd_phys, int levels,
                                     const struct bd_pgtable_range *range, size_t n);

/* bd_pgtable_translate() through a cache (zero-initialised before first
 * use); cache may be NULL. */
struct bd_error *bd_pgtable_translate_cached(struct bd_phys *p, struct bd_pgtable_cache *cache,
                                             uint64_t pgd_phys, int levels, uint64_t vaddr,
                                             uint64_t *paddr, uint64_t *page_size);

/* What the walk to vaddr found: the mapping (present) or the entry that
 * ended it. A walk that ends on a non-present entry is no error here: level
 * and size say how much address space that entry covers (a whole 1 GiB of
 * nothing costs one lookup), and a non-zero entry at level 1 is a swap or
 * migration entry, not an untouched page. A page of a PROT_NONE mapping is
 * present, as the kernel's pte_present() says. Errors: a non-canonical address
 * (BD_ERR_NOT_FOUND), a table outside every window (BD_ERR_RANGE). */
struct bd_pgtable_leaf {
        int present;
        int protnone;        /* present, in a PROT_NONE mapping */
        int level;           /* 1 (PTE) .. 5 */
        uint64_t entry;      /* as read */
        uint64_t entry_phys; /* where it was read */
        uint64_t size;       /* bytes the entry maps or would map */
        uint64_t paddr;      /* present: vaddr's physical address */
        /* Every entry the walk read, top level first: where it is and what
         * it held. Reading them again (one request, no walk) tells whether
         * the translation still holds. */
        unsigned nchain;
        uint64_t chain_phys[5], chain[5];
};

struct bd_error *bd_pgtable_lookup(struct bd_phys *p, struct bd_pgtable_cache *cache,
                                   uint64_t pgd_phys, int levels, uint64_t vaddr,
                                   struct bd_pgtable_leaf *out);

#endif
