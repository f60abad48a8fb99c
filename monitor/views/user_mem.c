#include "user_mem.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tasks.h"
#include "../walk/addr_set.h"
#include "../walk/walk.h"

struct bd_error *bd_user_mm_of_pid(struct bd_program *prog, int32_t pid, struct bd_user_mm *out)
{
        const struct bd_layout *l;
        uint64_t mm, pgd, pgd_phys;
        int64_t off_pgd;
        struct bd_error *err = bd_program_layout(prog, &l);
        if (!err)
                err = bd_layout_get(l, BDL_MM_PGD, &off_pgd);
        if (!err)
                err = bd_task_pointer(prog, pid, BDL_TASK_MM, &mm);
        if (err)
                return err;
        if (!mm)
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "pid %d has no user address space (a kernel thread, or "
                                    "exiting)",
                                    pid);
        if (!bd_walk_kptr_ok(prog->k, mm, 8))
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "pid %d: mm pointer 0x%" PRIx64 " is not a kernel address", pid,
                                    mm);
        if ((err = bd_kernel_read_u64(prog->k, mm + (uint64_t)off_pgd, &pgd)) ||
            (err = bd_kernel_translate(prog->k, pgd, &pgd_phys, NULL)))
                return bd_error_wrap(err, "pid %d: page table", pid);
        out->mm = mm;
        out->pgd_phys = pgd_phys;
        return NULL;
}

static struct bd_error *read_user(struct bd_program *prog, const struct bd_user_mm *mm,
                                  struct bd_pgtable_cache *cache, uint64_t vaddr, void *buf,
                                  size_t len)
{
        uint64_t top = prog->k->levels == 5 ? 1ull << 56 : 1ull << 47;
        if (vaddr >= top || len > top - vaddr)
                return bd_error_new(BD_ERR_RANGE,
                                    "0x%" PRIx64 "+%zu is not a user address (below 0x%" PRIx64 ")",
                                    vaddr, len, top);
        uint8_t *out = buf;
        while (len) {
                uint64_t pa, size;
                struct bd_error *err = bd_pgtable_translate_cached(
                    prog->phys, cache, mm->pgd_phys, prog->k->levels, vaddr, &pa, &size);
                if (err)
                        return err;
                uint64_t room = size - (vaddr & (size - 1));
                size_t n = room < len ? (size_t)room : len;
                if ((err = bd_phys_read(prog->phys, pa, out, n)))
                        return err;
                vaddr += n;
                out += n;
                len -= n;
        }
        return NULL;
}

struct bd_error *bd_user_read(struct bd_program *prog, const struct bd_user_mm *mm, uint64_t vaddr,
                              void *buf, size_t len)
{
        return read_user(prog, mm, NULL, vaddr, buf, len);
}

/* The kernel's shared zero pages: 0 where the kernel has none or does
 * not say. */
struct zero_pages {
        uint64_t small; /* empty_zero_page's physical address */
        uint64_t huge;  /* the huge zero page's (huge_zero_pfn), 2 MiB */
};

static void find_zero_pages(struct bd_program *prog, struct zero_pages *z)
{
        memset(z, 0, sizeof(*z));
        uint64_t addr, pfn;
        struct bd_error *err = bd_program_symbol(prog, "empty_zero_page", &addr);
        if (!err)
                err = bd_kernel_translate(prog->k, addr, &z->small, NULL);
        bd_error_destroy(err);
        /* ~0 until the first huge zero page is allocated. */
        err = bd_program_read_symbol(prog, "huge_zero_pfn", &pfn, sizeof(pfn));
        if (!err && pfn < (1ull << 40))
                z->huge = pfn << 12;
        bd_error_destroy(err);
}

/* Whether a present mapping of size bytes at physical pa is a zero page. */
static int zero_page(const struct zero_pages *z, uint64_t pa, uint64_t size)
{
        if (size == 4096)
                return z->small && (pa & ~4095ull) == z->small;
        if (size == (2u << 20))
                return z->huge && (pa & ~((2ull << 20) - 1)) == z->huge;
        return 0;
}

/* Pages read per batch. */
#define BATCH_BYTES (1u << 20)
#define BATCH_RUNS  256

struct bd_user_pages {
        struct bd_program *prog;
        const struct bd_user_mm *mm;
        struct zero_pages zero;
        struct bd_pgtable_cache cache;
        bd_user_pages_cb cb; /* of the range being walked */
        void *arg;
        /* The batch: runs in the order asked, those of data read at once,
         * each told to the callback of its range. */
        struct run {
                uint64_t va, pa, len;
                enum bd_page_kind kind;
                bd_user_pages_cb cb;
                void *arg;
        } run[BATCH_RUNS];
        struct bd_phys_iov iov[BATCH_RUNS];
        size_t n, bytes;
        uint8_t *buf;
        struct bd_addr_set frames; /* every frame read */
        uint64_t pages_read, pages_again;
};

/* Counts the pages of a run just read. */
static struct bd_error *count_frames(struct bd_user_pages *w, uint64_t pa, uint64_t len)
{
        for (uint64_t off = 0; off < len; off += 4096) {
                int added = bd_addr_set_insert(&w->frames, (pa + off) >> 12);
                if (added < 0)
                        return &bd_error_nomem;
                w->pages_read++;
                w->pages_again += (uint64_t)!added;
        }
        return NULL;
}

void bd_user_pages_counts(const struct bd_user_pages *w, uint64_t *read, uint64_t *again)
{
        *read = w->pages_read;
        *again = w->pages_again;
}

static struct bd_error *flush_pages(struct bd_user_pages *w)
{
        struct bd_phys *p = w->prog->phys;
        size_t niov = 0, at = 0;
        for (size_t i = 0; i < w->n; i++)
                if (w->run[i].kind == BD_PAGE_DATA) {
                        w->iov[niov++] =
                            (struct bd_phys_iov){w->run[i].pa, w->buf + at, (size_t)w->run[i].len};
                        at += w->run[i].len;
                }
        struct bd_error *err = niov ? bd_phys_read_batch(p, w->iov, niov) : NULL;
        if (bd_err_fatal(err))
                return err;
        /* A batch that failed for one piece outside the windows: read each
         * piece alone, and call what does not read unreadable. */
        for (size_t i = 0, k = 0; err && i < w->n; i++) {
                if (w->run[i].kind != BD_PAGE_DATA)
                        continue;
                struct bd_error *one =
                    bd_phys_read(p, w->iov[k].addr, w->iov[k].buf, w->iov[k].len);
                k++;
                if (bd_err_fatal(one)) {
                        bd_error_destroy(err);
                        return one;
                }
                if (one)
                        w->run[i].kind = BD_PAGE_UNREADABLE;
                bd_error_destroy(one);
        }
        bd_error_destroy(err);
        err = NULL;
        for (size_t i = 0; !err && i < w->n; i++)
                if (w->run[i].kind == BD_PAGE_DATA)
                        err = count_frames(w, w->run[i].pa, w->run[i].len);
        for (size_t i = 0, k = 0; !err && i < w->n; i++) {
                const struct run *r = &w->run[i];
                const void *data = NULL;
                if (r->kind == BD_PAGE_DATA || r->kind == BD_PAGE_UNREADABLE)
                        data = w->iov[k++].buf;
                err = r->cb(r->arg, r->va, r->kind == BD_PAGE_DATA ? data : NULL, r->len, r->kind);
        }
        w->n = 0;
        w->bytes = 0;
        return err;
}

static struct bd_error *add_run(struct bd_user_pages *w, uint64_t va, uint64_t pa, uint64_t len,
                                enum bd_page_kind kind)
{
        while (len) {
                struct run *last = w->n ? &w->run[w->n - 1] : NULL;
                if (kind != BD_PAGE_DATA) {
                        if (last && last->kind == kind && last->va + last->len == va &&
                            last->cb == w->cb && last->arg == w->arg) {
                                last->len += len;
                                return NULL;
                        }
                        if (w->n == BATCH_RUNS) {
                                struct bd_error *err = flush_pages(w);
                                if (err)
                                        return err;
                        }
                        w->run[w->n++] = (struct run){va, 0, len, kind, w->cb, w->arg};
                        return NULL;
                }
                if (w->bytes == BATCH_BYTES || (w->n == BATCH_RUNS)) {
                        struct bd_error *err = flush_pages(w);
                        if (err)
                                return err;
                        last = NULL;
                }
                uint64_t room = BATCH_BYTES - w->bytes, take = len < room ? len : room;
                /* Next to the last run in memory and in the process: one read. */
                if (last && last->kind == kind && last->va + last->len == va &&
                    last->pa + last->len == pa && last->cb == w->cb && last->arg == w->arg)
                        last->len += take;
                else
                        w->run[w->n++] = (struct run){va, pa, take, kind, w->cb, w->arg};
                w->bytes += take;
                va += take, pa += take, len -= take;
        }
        return NULL;
}

struct bd_error *bd_user_pages_new(struct bd_program *prog, const struct bd_user_mm *mm,
                                   struct bd_user_pages **out)
{
        struct bd_user_pages *w = calloc(1, sizeof(*w));
        if (!w || !(w->buf = malloc(BATCH_BYTES))) {
                free(w);
                return &bd_error_nomem;
        }
        w->prog = prog, w->mm = mm;
        /* Every frame of the process's address space (2^48 bytes). */
        bd_addr_set_init(&w->frames, (size_t)1 << 36);
        find_zero_pages(prog, &w->zero);
        *out = w;
        return NULL;
}

struct bd_error *bd_user_pages_peek(struct bd_user_pages *w, uint64_t vaddr, void *buf, size_t len)
{
        return read_user(w->prog, w->mm, &w->cache, vaddr, buf, len);
}

struct bd_error *bd_user_pages_prefetch(struct bd_user_pages *w,
                                        const struct bd_pgtable_range *range, size_t n)
{
        return bd_pgtable_prefetch(w->prog->phys, &w->cache, w->mm->pgd_phys, w->prog->k->levels,
                                   range, n);
}

void bd_user_pages_free(struct bd_user_pages *w)
{
        if (w) {
                bd_pgtable_cache_release(&w->cache);
                bd_addr_set_free(&w->frames);
                free(w->buf);
                free(w);
        }
}

struct bd_error *bd_user_pages_read(struct bd_user_pages *w, uint64_t start, uint64_t end,
                                    bd_user_pages_cb cb, void *arg)
{
        struct bd_program *prog = w->prog;
        w->cb = cb, w->arg = arg;
        struct bd_error *err = NULL;
        for (uint64_t va = start; !err && va < end;) {
                struct bd_pgtable_leaf leaf;
                if ((err = bd_pgtable_lookup(prog->phys, &w->cache, w->mm->pgd_phys,
                                             prog->k->levels, va, &leaf)))
                        break;
                uint64_t next = (va & ~(leaf.size - 1)) + leaf.size;
                if (next > end || next <= va)
                        next = end;
                enum bd_page_kind kind = BD_PAGE_DATA;
                if (!leaf.present)
                        kind = leaf.level == 1 && leaf.entry ? BD_PAGE_SWAPPED : BD_PAGE_ZERO;
                else if (zero_page(&w->zero, leaf.paddr, leaf.size))
                        kind = BD_PAGE_ZERO;
                err = add_run(w, va, leaf.paddr, next - va, kind);
                va = next;
        }
        /* A failed range leaves nothing queued for the next one. */
        if (err)
                w->n = 0, w->bytes = 0;
        return err;
}

struct bd_error *bd_user_pages_flush(struct bd_user_pages *w)
{
        struct bd_error *err = flush_pages(w);
        w->n = 0;
        w->bytes = 0;
        return err;
}
