/* Write a target's memory in the kdump-compressed format (makedumpfile's
 * "-c" output; crash, drgn through libkdumpfile, and libkdumpfile's Python
 * binding read it): a header block, a sub-header block with VMCOREINFO and
 * the vmcore's notes, two bitmaps (pages that exist, pages stored), a
 * descriptor per stored page, and each page compressed alone with zlib
 * (kept as it is when that does not shrink it). Written from the format's
 * public description: header version 6, 4 KiB blocks, x86-64.
 *
 * Pages are read once, in window order, and each is written as soon as it
 * is read: descriptors go at their final place in pfn order, data after
 * room for every page's descriptor (the unused part of that room is a hole
 * in the file, which costs no disk). Zero pages share one block of data
 * (24 bytes each for their descriptors), also at dump level 1: crash
 * refuses a dump whose zero kernel pages are left out (the mem_section
 * root table of a 5-level kernel is mostly zero pages) unless told
 * --zero_excluded, and the dump must open with no flags. They cross the
 * fabric to be told: telling them without reading needs the NIC's help. */
#ifndef BD_KDUMP_DUMP_H
#define BD_KDUMP_DUMP_H

#include <stdint.h>

#include "../source/phys.h"
#include "vmcore.h"

/* makedumpfile's dump-level bit for zero pages (see above for what it
 * does here); the others are views/page_filter.h's. */
#define BD_DUMP_EXCLUDE_ZERO 1u

struct bd_kdump_stats {
        uint64_t pages;      /* in the windows */
        uint64_t stored;     /* pages with a descriptor */
        uint64_t zero;       /* zero pages (shared block, or left out) */
        uint64_t compressed; /* stored compressed */
        uint64_t file_bytes; /* data written, holes not counted */
        uint64_t read_bytes; /* read from the target */
};

/* The bitmap by pfn of the pages that exist (the windows'), max_pfn
 * bits padded to whole 4 KiB blocks, as the format stores it; *max_pfn
 * gets its length. malloc'd. */
uint8_t *bd_kdump_pages(const struct bd_phys *p, uint64_t *max_pfn);
static inline int bd_pfn_test(const uint8_t *map, uint64_t pfn)
{
        return map[pfn / 8] >> (pfn % 8) & 1;
}
static inline void bd_pfn_clear(uint8_t *map, uint64_t pfn)
{
        map[pfn / 8] &= (uint8_t) ~(1u << (pfn % 8));
}

/* d gives the notes, VMCOREINFO, utsname and phys_base; level is the dump
 * level written in the header; keep, if not NULL, is bd_kdump_pages()'s
 * bitmap less the pages a filter left out (views/page_filter.h), which are
 * then never read. */
struct bd_error *bd_kdump_dump(struct bd_phys *p, const struct bd_vmcore_desc *d, unsigned level,
                               const uint8_t *keep, const char *path,
                               void (*progress)(uint64_t done, uint64_t total),
                               struct bd_kdump_stats *st);

#endif
