/* The pages a dump stores, by pfn, and reading them for a writer
 * (views/elf_dump.c, views/kdump_dump.c): bitmaps of max_pfn bits, padded
 * to whole 4 KiB blocks as the kdump format stores them; the stored pages
 * read in pfn order, batched so that a batch fills the fabric's pipeline,
 * with pages already known to be zero handed over without a read. */
#ifndef BD_DUMP_PAGES_H
#define BD_DUMP_PAGES_H

#include <stdint.h>
#include <stdio.h>

#include "../source/phys.h"

#define BD_DUMP_PAGE BD_PHYS_PAGE
/* makedumpfile's dump-level bit for zero pages (each writer says what it
 * does with them); the others are views/page_filter.h's. */
#define BD_DUMP_EXCLUDE_ZERO 1u

static inline int bd_pfn_test(const uint8_t *map, uint64_t pfn)
{
        return map[pfn / 8] >> (pfn % 8) & 1;
}
static inline void bd_pfn_set(uint8_t *map, uint64_t pfn)
{
        map[pfn / 8] |= (uint8_t)(1u << (pfn % 8));
}
static inline void bd_pfn_clear(uint8_t *map, uint64_t pfn)
{
        map[pfn / 8] &= (uint8_t) ~(1u << (pfn % 8));
}
/* How many of the first max_pfn bits are set. */
uint64_t bd_pfn_count(const uint8_t *map, uint64_t max_pfn);
/* The bytes of a bitmap of max_pfn bits, whole blocks. */
uint64_t bd_dump_bitmap_bytes(uint64_t max_pfn);

/* The bitmap of the pages that exist (the windows' whole pages); *max_pfn
 * gets its length. malloc'd. */
uint8_t *bd_dump_present(const struct bd_phys *p, uint64_t *max_pfn);

/* A bitmap of the pages of map that hold only zeros (bd_phys_zeromap).
 * When the source cannot tell without moving them, they are read if
 * read_them, else the answer is NULL (with *err NULL). */
uint8_t *bd_dump_zero_pages(struct bd_phys *p, const uint8_t *map, uint64_t max_pfn, int read_them,
                            struct bd_error **err);

/* Where a dump is, for its progress line. */
struct bd_dump_progress {
        uint64_t pages, total; /* stored pages handed to the writer, of all */
        uint64_t read_bytes;   /* of them, read from the target */
        uint64_t zero;         /* known zero without a read */
};

/* What a dump is asked for, in either format. */
struct bd_dump_options {
        const char *path;
        unsigned level;       /* makedumpfile's dump level (bit 1: zero pages) */
        unsigned compression; /* kdump: enum bd_kdump_compression */
        const uint8_t *keep;  /* the pages to keep, by pfn (bd_dump_present()
                               * less a filter's); NULL: all */
        /* Continue path's partial file (bd_dump_part_name(), which must
         * exist) where it stopped, with the layout, header and page set it
         * was started with (keep is not used). */
        int resume;
        void (*progress)(const struct bd_dump_progress *pr, void *ctx);
        void *progress_ctx;
};

struct bd_dump_stats {
        uint64_t pages;       /* in the windows */
        uint64_t stored;      /* pages the file holds (kdump: with a descriptor) */
        uint64_t zero;        /* stored as zero, or left out as zero */
        uint64_t compressed;  /* stored compressed (kdump) */
        uint64_t file_bytes;  /* the file's size, holes counted */
        uint64_t read_bytes;  /* pages read from the target by this run */
        uint64_t resumed;     /* pages a partial file already held */
        unsigned compression; /* kdump: the file's (a resumed one keeps its first run's) */
};

/* The windows' pages (*pages), or BD_ERR_RANGE when one is not whole
 * pages: both formats count in pages. */
struct bd_error *bd_dump_windows(const struct bd_phys *p, uint64_t *pages);
/* Why --resume cannot take the partial file (why completes "the partial
 * dump ..."). */
struct bd_error *bd_dump_not_resumable(const char *why);

/* The name a dump is written under until it is whole: path + ".part". */
void bd_dump_part_name(const char *path, char *buf, size_t cap);

/* The partial file, opened to go on with (again) or made anew, with a
 * buffer large enough that a share mounted sync is not written 4 KiB at
 * a time. */
FILE *bd_dump_open(const char *part, int again);

/* The end of a dump: f closed, then the partial file renamed to path
 * when all went well; after a failure to write (bad) it is removed, after
 * err (the target's source failed) kept for --resume, and err returned
 * saying so. */
struct bd_error *bd_dump_file_finish(FILE *f, const char *part, const char *path,
                                     struct bd_error *err, int bad);

/* Hand every page of store from from_pfn on to page() in pfn order: the
 * bytes read from the target, or NULL for a page zero says is zero
 * (zero may be NULL). page() returns nonzero to stop (a write failed):
 * then this returns BD_ERR_IO. progress, if set, is called after each
 * batch. */
struct bd_error *bd_dump_read(struct bd_phys *p, const uint8_t *store, const uint8_t *zero,
                              uint64_t max_pfn, uint64_t from_pfn,
                              int (*page)(void *ctx, uint64_t pfn, const uint8_t *bytes), void *ctx,
                              void (*progress)(const struct bd_dump_progress *pr, void *pctx),
                              void *pctx);

#endif
