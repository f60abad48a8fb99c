#include "kernel.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pgtable.h"

struct bd_error *bd_kernel_open(struct bd_phys *p, const struct bd_vmcoreinfo *vi,
                                struct bd_kernel **out)
{
        int64_t pb;
        uint64_t pgt, l5 = 0, kaslr = 0;
        if (bd_vmcoreinfo_signed(vi, "NUMBER(phys_base)", &pb))
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "VMCOREINFO has no NUMBER(phys_base): cannot place the "
                                    "kernel image in physical memory");
        if (bd_vmcoreinfo_number(vi, "SYMBOL(init_top_pgt)", 1, &pgt))
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "VMCOREINFO has no SYMBOL(init_top_pgt): no kernel page "
                                    "table to translate addresses with");
        if (pgt < BD_KERNEL_IMAGE_START || pgt >= BD_KERNEL_IMAGE_END)
                return bd_error_new(
                    BD_ERR_NOT_FOUND,
                    "SYMBOL(init_top_pgt)=0x%" PRIx64 " is outside the kernel image mapping", pgt);
        /* Kernels before 4.14 have no la57 and do not write the number. */
        bd_vmcoreinfo_number(vi, "NUMBER(pgtable_l5_enabled)", 0, &l5);
        bd_vmcoreinfo_number(vi, "KERNELOFFSET", 1, &kaslr);
        struct bd_kernel *k = calloc(1, sizeof(*k));
        if (!k)
                return &bd_error_nomem;
        k->phys = p;
        k->vi = vi;
        k->phys_base = pb;
        k->kaslr_offset = kaslr;
        k->levels = l5 ? 5 : 4;
        k->pgd_phys = pgt - BD_KERNEL_IMAGE_START + (uint64_t)pb;
        *out = k;
        return NULL;
}

#define MEMO_PAGES 4096
#define MEMO_SLOTS 8192 /* a power of two, twice the pages: short probes */
#define PAGE       4096u

struct bd_kernel_memo {
        size_t n;
        uint64_t key[MEMO_SLOTS]; /* page address + 1; 0: a free slot */
        uint32_t at[MEMO_SLOTS];
        uint8_t ok[MEMO_PAGES]; /* 0: the page's read failed; read it again */
        uint8_t page[MEMO_PAGES][PAGE];
};

void bd_kernel_close(struct bd_kernel *k)
{
        if (k)
                free(k->memo);
        free(k);
}

void bd_kernel_memo_start(struct bd_kernel *k)
{
        if (!k)
                return;
        bd_kernel_memo_stop(k);
        k->memo = calloc(1, sizeof(*k->memo));
}

void bd_kernel_memo_stop(struct bd_kernel *k)
{
        if (!k)
                return;
        free(k->memo);
        k->memo = NULL;
}

/* Where vaddr lies and how many bytes from it are physically contiguous. */
static struct bd_error *locate(struct bd_kernel *k, uint64_t vaddr, uint64_t *paddr, uint64_t *run)
{
        /* The image is linearly mapped: no walk needed (and none possible
         * before the page table itself is found this way). */
        if (vaddr >= BD_KERNEL_IMAGE_START && vaddr < BD_KERNEL_IMAGE_END) {
                *paddr = vaddr - BD_KERNEL_IMAGE_START + (uint64_t)k->phys_base;
                *run = BD_KERNEL_IMAGE_END - vaddr;
                return NULL;
        }
        if (k->direct_size && vaddr - k->direct_base < k->direct_size) {
                *paddr = vaddr - k->direct_base;
                *run = k->direct_size - (vaddr - k->direct_base);
                return NULL;
        }
        if (!k->tlb_size || vaddr - k->tlb_vaddr >= k->tlb_size) {
                uint64_t pa, size;
                struct bd_error *err = bd_pgtable_translate_cached(k->phys, &k->tables, k->pgd_phys,
                                                                   k->levels, vaddr, &pa, &size);
                if (err)
                        return err;
                k->walks++;
                k->tlb_vaddr = vaddr & ~(size - 1);
                k->tlb_paddr = pa & ~(size - 1);
                k->tlb_size = size;
        }
        uint64_t off = vaddr - k->tlb_vaddr;
        *paddr = k->tlb_paddr + off;
        *run = k->tlb_size - off;
        return NULL;
}

struct bd_error *bd_kernel_translate(struct bd_kernel *k, uint64_t vaddr, uint64_t *paddr,
                                     uint64_t *page_size)
{
        if (vaddr >= BD_KERNEL_IMAGE_START && vaddr < BD_KERNEL_IMAGE_END) {
                *paddr = vaddr - BD_KERNEL_IMAGE_START + (uint64_t)k->phys_base;
                if (page_size)
                        *page_size = 4096;
                return NULL;
        }
        uint64_t run;
        struct bd_error *err = locate(k, vaddr, paddr, &run);
        if (!err && page_size)
                *page_size = k->tlb_size;
        return err;
}

/* Runs are sent in groups so a long scattered read needs no big array; each
 * group travels as one pipelined batch, so groups are large enough to keep
 * the pipeline full across a thousand tasks' fields. */
#define RUN_BATCH 1024

struct run_batch {
        struct bd_phys_iov iov[RUN_BATCH];
        size_t n;
};

/* Whether every byte of [pa, pa + len) lies in a window; if not, *bad is
 * the first that does not. */
static int in_windows(struct bd_phys *p, uint64_t pa, uint64_t len, uint64_t *bad)
{
        while (len) {
                int w = bd_phys_window_of(p, pa);
                if (w < 0) {
                        *bad = pa;
                        return 0;
                }
                uint64_t room = p->windows[w].base + p->windows[w].length - pa;
                if (room >= len)
                        break;
                pa += room;
                len -= room;
        }
        return 1;
}

static struct bd_error *add_range(struct bd_kernel *k, struct run_batch *b, uint64_t vaddr,
                                  void *buf, size_t len)
{
        if (vaddr + len < vaddr)
                return bd_error_new(BD_ERR_RANGE, "kernel read of %zu bytes at 0x%" PRIx64 " wraps",
                                    len, vaddr);
        uint8_t *out = buf;
        while (len) {
                uint64_t pa, run;
                struct bd_error *err = locate(k, vaddr, &pa, &run);
                if (err)
                        return err;
                size_t chunk = run < len ? (size_t)run : len;
                /* Checked here, where the virtual address is still known:
                 * a fault names what the caller asked for. */
                uint64_t bad;
                if (!in_windows(k->phys, pa, chunk, &bad))
                        return bd_error_fault(BD_ERR_RANGE, vaddr + (bad - pa),
                                              "0x%" PRIx64 " is at physical 0x%" PRIx64
                                              ", outside every window",
                                              vaddr + (bad - pa), bad);
                struct bd_phys_iov *last = b->n ? &b->iov[b->n - 1] : NULL;
                if (last && last->addr + last->len == pa &&
                    (uint8_t *)last->buf + last->len == out) {
                        last->len += chunk;
                } else {
                        if (b->n == RUN_BATCH) {
                                if ((err = bd_phys_read_batch(k->phys, b->iov, b->n)))
                                        return err;
                                b->n = 0;
                        }
                        b->iov[b->n++] = (struct bd_phys_iov){pa, out, chunk};
                }
                vaddr += chunk;
                out += chunk;
                len -= chunk;
        }
        return NULL;
}

static struct bd_error *read_batch(struct bd_kernel *k, const struct bd_kernel_iov *iov, size_t n)
{
        struct run_batch b;
        b.n = 0;
        for (size_t i = 0; i < n; i++) {
                struct bd_error *err = add_range(k, &b, iov[i].vaddr, iov[i].buf, iov[i].len);
                if (err)
                        return err;
        }
        return b.n ? bd_phys_read_batch(k->phys, b.iov, b.n) : NULL;
}

/* The memo's page index for the page at va, a slot reserved for it (not yet
 * read) when it has none; -1 when the memo is full. */
static long memo_index(struct bd_kernel_memo *m, uint64_t va, int *fresh)
{
        size_t slot = (size_t)(((va / PAGE) * 0x9e3779b97f4a7c15ull) >> 51) & (MEMO_SLOTS - 1);
        while (m->key[slot] && m->key[slot] != va + 1)
                slot = (slot + 1) & (MEMO_SLOTS - 1);
        *fresh = !m->key[slot];
        if (!*fresh)
                return m->at[slot];
        if (m->n == MEMO_PAGES)
                return -1;
        m->key[slot] = va + 1;
        m->at[slot] = (uint32_t)m->n;
        return (long)m->n++;
}

/* The memo's copy of the page at va, read now if it has none; NULL when it
 * cannot hold or read it (the caller reads the source and meets the
 * precise error there). */
static const uint8_t *memo_page(struct bd_kernel *k, uint64_t va)
{
        struct bd_kernel_memo *m = k->memo;
        int fresh;
        long i = memo_index(m, va, &fresh);
        if (i < 0)
                return NULL;
        if (!m->ok[i]) {
                struct bd_kernel_iov iov = {va, m->page[i], PAGE};
                struct bd_error *err = read_batch(k, &iov, 1);
                if (err) {
                        bd_error_destroy(err);
                        return NULL;
                }
                m->ok[i] = 1;
        }
        return m->page[i];
}

static uint64_t page_of(uint64_t va)
{
        return va & ~(uint64_t)(PAGE - 1);
}

/* A batch under a memo: the pages its ranges lie in that the memo lacks
 * are read whole, all in one batch (a task's fields for a plan come to a
 * few pages, and reading each page alone would cost a round trip), then
 * every range within one page is served from the copies. What the memo
 * cannot serve (a range across pages, a page past its room or whose read
 * failed) is read as without one, where a failure meets its precise
 * error. */
static struct bd_error *memo_batch(struct bd_kernel *k, const struct bd_kernel_iov *iov, size_t n)
{
        struct bd_kernel_memo *m = k->memo;
        struct bd_kernel_iov *want = malloc(n * sizeof(*want));
        long *at = malloc(n * sizeof(*at));
        if (!want || !at) {
                free(want);
                free(at);
                return read_batch(k, iov, n);
        }
        size_t nwant = 0;
        for (size_t i = 0; i < n; i++) {
                at[i] = -1;
                uint64_t va = iov[i].vaddr;
                if (!iov[i].len || iov[i].len > PAGE || page_of(va) != page_of(va + iov[i].len - 1))
                        continue;
                int fresh;
                at[i] = memo_index(m, page_of(va), &fresh);
                if (at[i] >= 0 && fresh)
                        want[nwant++] = (struct bd_kernel_iov){page_of(va), m->page[at[i]], PAGE};
        }
        /* One page that does not translate fails the batch: those are then
         * read one by one, so that the others still serve. */
        struct bd_error *err = nwant ? read_batch(k, want, nwant) : NULL;
        for (size_t i = 0; i < nwant; i++) {
                int fresh;
                long j = memo_index(m, want[i].vaddr, &fresh);
                if (!err) {
                        m->ok[j] = 1;
                } else {
                        struct bd_error *one = read_batch(k, &want[i], 1);
                        m->ok[j] = !one;
                        bd_error_destroy(one);
                }
        }
        bd_error_destroy(err);
        err = NULL;
        size_t nrest = 0;
        for (size_t i = 0; i < n; i++) {
                const uint8_t *copy = at[i] >= 0 ? memo_page(k, page_of(iov[i].vaddr)) : NULL;
                if (copy)
                        memcpy(iov[i].buf, copy + (iov[i].vaddr - page_of(iov[i].vaddr)),
                               iov[i].len);
                else
                        want[nrest++] = iov[i];
        }
        if (nrest)
                err = read_batch(k, want, nrest);
        free(want);
        free(at);
        return err;
}

struct bd_error *bd_kernel_read_batch(struct bd_kernel *k, const struct bd_kernel_iov *iov,
                                      size_t n)
{
        return k->memo ? memo_batch(k, iov, n) : read_batch(k, iov, n);
}

struct bd_error *bd_kernel_read(struct bd_kernel *k, uint64_t vaddr, void *buf, size_t len)
{
        struct bd_kernel_iov iov = {vaddr, buf, len};
        return bd_kernel_read_batch(k, &iov, 1);
}

struct bd_error *bd_kernel_read_u64(struct bd_kernel *k, uint64_t vaddr, uint64_t *out)
{
        return bd_kernel_read(k, vaddr, out, sizeof(*out));
}

void bd_kernel_set_direct_map(struct bd_kernel *k, uint64_t page_offset_base)
{
        /* 64 TiB of direct map with 4-level paging, 32 PiB with 5-level
         * (Documentation/arch/x86/x86_64/mm.rst). */
        k->direct_base = page_offset_base;
        k->direct_size = k->levels == 5 ? 1ull << 55 : 1ull << 46;
}
