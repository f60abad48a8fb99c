#include "page_filter.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/bytes.h"
#include "dump_pages.h"

/* The buddy allocator's largest block on 6.1 (MAX_ORDER - 1). */
#define MAX_BUDDY_ORDER 10
#define BATCH_PAGES     4096u
#define MAPPING_ANON    0x1u /* PAGE_MAPPING_ANON */
#define MAPPING_MOVABLE 0x2u /* with ANON: a KSM page */

enum bd_page_class bd_page_classify(const struct bd_page_rules *r, const struct bd_page_facts *f,
                                    unsigned *order)
{
        *order = 0;
        if (f->mapcount == r->buddy) {
                if (f->private_ > MAX_BUDDY_ORDER)
                        return BD_PAGE_KEEP;
                *order = (unsigned)f->private_;
                return BD_PAGE_FREE;
        }
        if (f->flags & r->slab)
                return BD_PAGE_KEEP;
        int anon = (f->mapping & (MAPPING_ANON | MAPPING_MOVABLE)) == MAPPING_ANON;
        if (anon)
                return BD_PAGE_USER;
        if (f->mapping && (f->flags & (r->lru | r->swapcache)))
                return f->flags & r->private_ ? BD_PAGE_CACHE_PRIVATE : BD_PAGE_CACHE;
        return BD_PAGE_KEEP;
}

struct layout {
        uint64_t size, flags, mapping, mapcount, private_, compound_head;
        int have_compound_head;
};

static struct bd_error *rules(const struct bd_vmcoreinfo *vi, struct bd_page_rules *r,
                              struct layout *l)
{
        static const char *const bits[] = {"NUMBER(PG_lru)", "NUMBER(PG_private)",
                                           "NUMBER(PG_swapcache)", "NUMBER(PG_slab)"};
        uint64_t *masks[] = {&r->lru, &r->private_, &r->swapcache, &r->slab};
        for (int i = 0; i < 4; i++) {
                uint64_t bit;
                if (bd_vmcoreinfo_number(vi, bits[i], 0, &bit) || bit > 63)
                        return bd_error_new(BD_ERR_NOT_FOUND, "VMCOREINFO has no usable %s",
                                            bits[i]);
                *masks[i] = 1ull << bit;
        }
        int64_t buddy;
        if (bd_vmcoreinfo_number(vi, "NUMBER(PG_head_mask)", 0, &r->head) ||
            bd_vmcoreinfo_signed(vi, "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", &buddy))
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "VMCOREINFO has no PG_head_mask or PAGE_BUDDY_MAPCOUNT_VALUE");
        r->buddy = (uint32_t)buddy;
        static const char *const keys[] = {"SIZE(page)", "OFFSET(page.flags)",
                                           "OFFSET(page.mapping)", "OFFSET(page._mapcount)",
                                           "OFFSET(page.private)"};
        uint64_t *vals[] = {&l->size, &l->flags, &l->mapping, &l->mapcount, &l->private_};
        for (int i = 0; i < 5; i++)
                if (bd_vmcoreinfo_number(vi, keys[i], 0, vals[i]))
                        return bd_error_new(BD_ERR_NOT_FOUND, "VMCOREINFO has no %s", keys[i]);
        l->have_compound_head =
            !bd_vmcoreinfo_number(vi, "OFFSET(page.compound_head)", 0, &l->compound_head);
        /* struct page is 64 bytes on x86-64; any field must lie inside. */
        if (l->size < 32 || l->size > 256 || l->flags > l->size - 8 || l->mapping > l->size - 8 ||
            l->mapcount > l->size - 4 || l->private_ > l->size - 8 ||
            (l->have_compound_head && l->compound_head > l->size - 8))
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "VMCOREINFO's struct page (%llu bytes) "
                                    "does not hold its own fields",
                                    (unsigned long long)l->size);
        return NULL;
}

struct bd_error *bd_page_filter(struct bd_program *prog, unsigned level, uint8_t *keep,
                                uint64_t max_pfn, struct bd_page_filter_stats *st)
{
        memset(st, 0, sizeof(*st));
        struct bd_page_rules r;
        struct layout l;
        uint64_t vmemmap;
        struct bd_error *err = rules(&prog->vi, &r, &l);
        if (err || (err = bd_program_read_symbol(prog, "vmemmap_base", &vmemmap, 8)))
                return err;
        uint8_t *cls = calloc(max_pfn ? max_pfn : 1, 1);
        uint8_t *buf = malloc(BATCH_PAGES * l.size);
        if (!cls || !buf) {
                free(cls), free(buf);
                return &bd_error_nomem;
        }
        static const unsigned drop[] = {
            [BD_PAGE_CACHE] = BD_DUMP_EXCLUDE_CACHE,
            [BD_PAGE_CACHE_PRIVATE] = BD_DUMP_EXCLUDE_CACHE_PRI,
            [BD_PAGE_USER] = BD_DUMP_EXCLUDE_USER,
            [BD_PAGE_FREE] = BD_DUMP_EXCLUDE_FREE,
        };
        uint64_t *count[] = {[BD_PAGE_CACHE] = &st->cache,
                             [BD_PAGE_CACHE_PRIVATE] = &st->cache_private,
                             [BD_PAGE_USER] = &st->user,
                             [BD_PAGE_FREE] = &st->free};
        for (uint64_t pfn = 0; pfn < max_pfn;) {
                if (!bd_pfn_test(keep, pfn)) {
                        pfn++;
                        continue;
                }
                /* A run of pages that exist: their struct pages are mapped. */
                uint64_t n = 0;
                while (n < BATCH_PAGES && pfn + n < max_pfn && bd_pfn_test(keep, pfn + n))
                        n++;
                struct bd_error *e =
                    bd_kernel_read(prog->k, vmemmap + pfn * l.size, buf, n * l.size);
                if (e) { /* a vmemmap hole: keep what it would have told */
                        bd_error_destroy(e);
                        pfn += n;
                        continue;
                }
                st->struct_page_bytes += n * l.size;
                for (uint64_t i = 0; i < n; i++) {
                        const uint8_t *pg = buf + i * l.size;
                        uint64_t at = pfn + i;
                        if (cls[at]) /* inside a free block already seen */
                                continue;
                        uint64_t head = l.have_compound_head ? bd_le64(pg + l.compound_head) : 0;
                        if (head & 1) { /* a tail page: its head's class */
                                uint64_t h = head - 1;
                                if (h >= vmemmap && (h - vmemmap) % l.size == 0 &&
                                    (h - vmemmap) / l.size < at)
                                        cls[at] = cls[(h - vmemmap) / l.size];
                                continue;
                        }
                        struct bd_page_facts f = {.flags = bd_le64(pg + l.flags),
                                                  .mapping = bd_le64(pg + l.mapping),
                                                  .private_ = bd_le64(pg + l.private_),
                                                  .mapcount = bd_le32(pg + l.mapcount)};
                        unsigned order;
                        enum bd_page_class c = bd_page_classify(&r, &f, &order);
                        uint64_t span = 1ull << order;
                        if (at % span) /* a free block starts aligned to its size */
                                c = BD_PAGE_KEEP, span = 1;
                        for (uint64_t j = 0; j < span && at + j < max_pfn; j++)
                                cls[at + j] = (uint8_t)c;
                }
                pfn += n;
        }
        for (uint64_t pfn = 0; pfn < max_pfn; pfn++) {
                unsigned c = cls[pfn];
                if (c != BD_PAGE_KEEP && bd_pfn_test(keep, pfn) && (level & drop[c])) {
                        bd_pfn_clear(keep, pfn);
                        (*count[c])++;
                }
        }
        free(cls), free(buf);
        return NULL;
}
