/* Which pages a filtered dump leaves out, decided at the source from each
 * page's struct page (read through the vmemmap, 64 bytes a page, in
 * batches), so that the pages themselves never cross the fabric:
 * makedumpfile's dump levels, with the rules it applies and the flag
 * numbers the kernel publishes in VMCOREINFO (NUMBER(PG_lru) ...,
 * OFFSET(page.flags) ...). A page whose struct page cannot be read, or
 * that no rule names, is kept: a filter errs towards a bigger dump. */
#ifndef BD_PAGE_FILTER_H
#define BD_PAGE_FILTER_H

#include <stdint.h>

#include "../kernel/program.h"

/* makedumpfile's dump-level bits (1, zero pages, is the writer's). */
#define BD_DUMP_EXCLUDE_CACHE     2u  /* page cache without private data */
#define BD_DUMP_EXCLUDE_CACHE_PRI 4u  /* page cache with private data */
#define BD_DUMP_EXCLUDE_USER      8u  /* anonymous (process) memory */
#define BD_DUMP_EXCLUDE_FREE      16u /* free pages, in the buddy allocator */

enum bd_page_class {
        BD_PAGE_KEEP,
        BD_PAGE_CACHE,
        BD_PAGE_CACHE_PRIVATE,
        BD_PAGE_USER,
        BD_PAGE_FREE,
};

/* The page flags' bits (masks) and the buddy marker, from VMCOREINFO. */
struct bd_page_rules {
        uint64_t lru, private_, swapcache, slab, head;
        uint32_t buddy; /* _mapcount of a free block's first page */
};

/* What is read of one struct page (a tail page's class is its head's). */
struct bd_page_facts {
        uint64_t flags, mapping, private_;
        uint32_t mapcount;
};

/* A page's class; for BD_PAGE_FREE, *order is the block's order (the
 * kernel's bound, MAX_ORDER 10 on 6.1, is checked: a larger one is kept). */
enum bd_page_class bd_page_classify(const struct bd_page_rules *r, const struct bd_page_facts *f,
                                    unsigned *order);

struct bd_page_filter_stats {
        uint64_t cache, cache_private, user, free; /* pages left out, by reason */
        uint64_t struct_page_bytes;                /* read to decide */
};

/* Clear in keep (a bitmap by pfn of max_pfn bits, set for the pages that
 * exist) the pages level's bits 2..16 leave out. BD_ERR_NOT_FOUND when
 * VMCOREINFO or kallsyms lack what the rules need (vmemmap_base,
 * SIZE(page), the offsets and flag numbers). */
struct bd_error *bd_page_filter(struct bd_program *prog, unsigned level, uint8_t *keep,
                                uint64_t max_pfn, struct bd_page_filter_stats *st);

#endif
