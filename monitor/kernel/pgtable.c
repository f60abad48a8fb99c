#include "pgtable.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const level_name[] = {"", "PTE", "PMD", "PUD", "P4D", "PGD"};

/* The top table is the PGD in both modes: 4-level paging folds the P4D. */
static const char *table_name(int level, int levels)
{
        return level == levels ? "PGD" : level_name[level];
}

static int canonical(uint64_t vaddr, int levels)
{
        /* Bits above the top index must copy the highest translated bit. */
        int top = levels == 5 ? 56 : 47;
        uint64_t high = vaddr >> top;
        return high == 0 || high == (~0ull >> top);
}

static int by_phys(const void *a, const void *b)
{
        uint64_t x = ((const struct bd_pgtable_table *)a)->phys;
        uint64_t y = ((const struct bd_pgtable_table *)b)->phys;
        return (x > y) - (x < y);
}

static const struct bd_pgtable_table *ahead_find(const struct bd_pgtable_cache *c, uint64_t phys)
{
        struct bd_pgtable_table key = {.phys = phys};
        return c->nahead ? bsearch(&key, c->ahead, c->nahead, sizeof(key), by_phys) : NULL;
}

void bd_pgtable_cache_release(struct bd_pgtable_cache *c)
{
        free(c->ahead);
        c->ahead = NULL;
        c->nahead = 0;
}

/* Entry index of the table at phys, from the cache or from memory. */
static struct bd_error *read_entry(struct bd_phys *p, struct bd_pgtable_cache *c, uint64_t table,
                                   uint64_t index, uint64_t *entry)
{
        if (!c)
                return bd_phys_read(p, table + index * 8, entry, 8);
        unsigned victim = 0;
        c->clock++;
        for (unsigned i = 0; i < BD_PGTABLE_CACHE_SLOTS; i++) {
                if (c->slot[i].used && c->slot[i].phys == table) {
                        c->slot[i].used = c->clock;
                        c->hits++;
                        *entry = c->slot[i].entries[index];
                        return NULL;
                }
                if (c->slot[i].used < c->slot[victim].used)
                        victim = i;
        }
        const struct bd_pgtable_table *t = ahead_find(c, table);
        if (t) {
                c->hits++;
                *entry = t->entries[index];
                return NULL;
        }
        c->misses++;
        struct bd_error *err = bd_phys_read(p, table, c->slot[victim].entries, 4096);
        if (err) {
                c->slot[victim].used = 0; /* its entries are half overwritten */
                if (bd_err_fatal(err))
                        return err;
                /* A table page only partly inside a window: the one entry
                 * may still be readable, and its error is the precise one. */
                bd_error_destroy(err);
                return bd_phys_read(p, table + index * 8, entry, 8);
        }
        c->slot[victim].phys = table;
        c->slot[victim].used = c->clock;
        *entry = c->slot[victim].entries[index];
        return NULL;
}

struct bd_error *bd_pgtable_translate(struct bd_phys *p, uint64_t pgd_phys, int levels,
                                      uint64_t vaddr, uint64_t *paddr, uint64_t *page_size)
{
        return bd_pgtable_translate_cached(p, NULL, pgd_phys, levels, vaddr, paddr, page_size);
}

struct bd_error *bd_pgtable_translate_cached(struct bd_phys *p, struct bd_pgtable_cache *cache,
                                             uint64_t pgd_phys, int levels, uint64_t vaddr,
                                             uint64_t *paddr, uint64_t *page_size)
{
        struct bd_pgtable_leaf leaf;
        struct bd_error *err = bd_pgtable_lookup(p, cache, pgd_phys, levels, vaddr, &leaf);
        if (err)
                return err;
        if (!leaf.present)
                return bd_error_fault(BD_ERR_NOT_FOUND, vaddr,
                                      "virtual address 0x%" PRIx64
                                      " is not mapped: level-%d %s entry %" PRIu64 " at 0x%" PRIx64
                                      " is not present (0x%" PRIx64 ")",
                                      vaddr, leaf.level, table_name(leaf.level, levels),
                                      (leaf.entry_phys & 4095) / 8, leaf.entry_phys, leaf.entry);
        *paddr = leaf.paddr;
        if (page_size)
                *page_size = leaf.size;
        return NULL;
}

struct bd_error *bd_pgtable_lookup(struct bd_phys *p, struct bd_pgtable_cache *cache,
                                   uint64_t pgd_phys, int levels, uint64_t vaddr,
                                   struct bd_pgtable_leaf *out)
{
        if (levels != 4 && levels != 5)
                return bd_error_new(BD_ERR_USAGE, "%d-level paging is not x86-64's", levels);
        if (!canonical(vaddr, levels))
                return bd_error_fault(BD_ERR_NOT_FOUND, vaddr,
                                      "virtual address 0x%" PRIx64
                                      " is not canonical for %d-level paging",
                                      vaddr, levels);
        uint64_t table = pgd_phys & BD_PTE_ADDR_MASK;
        unsigned nchain = 0;
        uint64_t chain_phys[5] = {0}, chain[5] = {0};
        for (int level = levels; level >= 1; level--) {
                unsigned shift = 12 + 9 * (unsigned)(level - 1);
                uint64_t index = (vaddr >> shift) & 511;
                uint64_t entry;
                struct bd_error *err = read_entry(p, cache, table, index, &entry);
                if (err) {
                        err = bd_error_wrap(
                            err, "translating 0x%" PRIx64 ": level-%d %s table at 0x%" PRIx64,
                            vaddr, level, table_name(level, levels), table);
                        if (err != &bd_error_nomem) {
                                err->has_address = 1;
                                err->address = vaddr;
                        }
                        return err;
                }
                uint64_t size = 1ull << shift;
                chain_phys[nchain] = table + index * 8;
                chain[nchain++] = entry;
                *out = (struct bd_pgtable_leaf){.entry = entry,
                                                .entry_phys = table + index * 8,
                                                .level = level,
                                                .size = size,
                                                .nchain = nchain};
                memcpy(out->chain_phys, chain_phys, sizeof(chain_phys));
                memcpy(out->chain, chain, sizeof(chain));
                /* PS only means a leaf in a PUD (1 GiB) or PMD (2 MiB); in a
                 * PGD/P4D it is reserved and in a PTE it is the PAT bit. */
                int leaf = level == 1 || ((level == 2 || level == 3) && (entry & BD_PTE_HUGE));
                /* A page of a PROT_NONE mapping (mprotect, NUMA hinting)
                 * is in memory with its present bit clear; Linux stores
                 * the frame of such entries inverted (the L1TF defence). */
                int protnone = leaf && !(entry & BD_PTE_PRESENT) && (entry & BD_PTE_PROTNONE);
                if (!(entry & BD_PTE_PRESENT) && !protnone)
                        return NULL;
                if (leaf) {
                        /* For huge leaves bit 12 is PAT, not address: the
                         * alignment mask drops it with the offset bits. */
                        uint64_t frame =
                            (protnone ? ~entry : entry) & BD_PTE_ADDR_MASK & ~(size - 1);
                        out->present = 1;
                        out->protnone = protnone;
                        out->paddr = frame | (vaddr & (size - 1));
                        return NULL;
                }
                table = entry & BD_PTE_ADDR_MASK;
        }
        return bd_error_new(BD_ERR_INTERNAL, "unreachable");
}

/* The tables of one level: each with the virtual address its first entry
 * maps. */
struct frontier {
        uint64_t *phys, *base;
        size_t n;
};

/* Whether phys is a table already kept or already queued. */
static int known(const struct bd_pgtable_cache *c, const struct frontier *next, uint64_t phys)
{
        if (ahead_find(c, phys))
                return 1;
        for (size_t i = 0; i < next->n; i++)
                if (next->phys[i] == phys)
                        return 1;
        return 0;
}

struct bd_error *bd_pgtable_prefetch(struct bd_phys *p, struct bd_pgtable_cache *c,
                                     uint64_t pgd_phys, int levels,
                                     const struct bd_pgtable_range *range, size_t n)
{
        if (levels != 4 && levels != 5)
                return bd_error_new(BD_ERR_USAGE, "%d-level paging is not x86-64's", levels);
        const uint64_t half = 1ull << (12 + 9 * levels - 1); /* the user half's end */
        size_t cap = BD_PGTABLE_PREFETCH_MAX;
        struct frontier cur = {calloc(cap, 8), calloc(cap, 8), 0};
        struct frontier next = {calloc(cap, 8), calloc(cap, 8), 0};
        struct bd_phys_iov *iov = calloc(cap, sizeof(*iov));
        struct bd_error *err = NULL;
        if (!cur.phys || !cur.base || !next.phys || !next.base || !iov) {
                err = &bd_error_nomem;
                goto out;
        }
        size_t left = cap - 1;
        cur.phys[0] = pgd_phys & BD_PTE_ADDR_MASK, cur.base[0] = 0, cur.n = 1;
        for (int level = levels; level >= 1 && cur.n; level--) {
                /* This level's tables not kept yet: one batch. */
                struct bd_pgtable_table *all =
                    realloc(c->ahead, (c->nahead + cur.n) * sizeof(*all));
                if (!all) {
                        err = &bd_error_nomem;
                        goto out;
                }
                c->ahead = all;
                struct bd_pgtable_table *fresh = all + c->nahead;
                size_t m = 0;
                for (size_t i = 0; i < cur.n; i++)
                        if (!ahead_find(c, cur.phys[i])) {
                                fresh[m].phys = cur.phys[i];
                                iov[m] = (struct bd_phys_iov){cur.phys[i], fresh[m].entries, 4096};
                                m++;
                        }
                if (m && (err = bd_phys_read_batch(p, iov, m))) {
                        /* A table outside the windows: the lookups say
                         * which, precisely. */
                        if (!bd_err_fatal(err)) {
                                bd_error_destroy(err);
                                err = NULL;
                        }
                        goto out;
                }
                c->nahead += m;
                qsort(c->ahead, c->nahead, sizeof(*c->ahead), by_phys);
                if (level == 1)
                        break;
                /* The tables below, where the ranges go through a present
                 * entry that is no huge leaf. */
                unsigned shift = 12 + 9 * (unsigned)(level - 1);
                uint64_t span = 1ull << shift;
                next.n = 0;
                for (size_t i = 0; i < cur.n; i++) {
                        const struct bd_pgtable_table *t = ahead_find(c, cur.phys[i]);
                        uint64_t lo = cur.base[i], hi = lo + 512 * span;
                        for (size_t r = 0; t && r < n; r++) {
                                uint64_t s = range[r].start > lo ? range[r].start : lo;
                                uint64_t e = range[r].end < hi ? range[r].end : hi;
                                if (e > half)
                                        e = half;
                                for (uint64_t va = s & ~(span - 1); va < e; va += span) {
                                        uint64_t entry = t->entries[(va >> shift) & 511];
                                        uint64_t child = entry & BD_PTE_ADDR_MASK;
                                        if (!(entry & BD_PTE_PRESENT) ||
                                            (level <= 3 && (entry & BD_PTE_HUGE)) ||
                                            known(c, &next, child))
                                                continue;
                                        if (next.n == left)
                                                goto out;
                                        next.phys[next.n] = child, next.base[next.n] = va;
                                        next.n++;
                                }
                        }
                }
                left -= next.n;
                struct frontier swap = cur;
                cur = next, next = swap;
        }
out:
        free(cur.phys), free(cur.base), free(next.phys), free(next.base), free(iov);
        return err;
}
