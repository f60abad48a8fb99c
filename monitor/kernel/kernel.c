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

#define MEMO_PAGES       1024
#define MEMO_SLOTS       16384 /* a power of two: pages, and the pages ranges lie in */
#define MEMO_RANGES      65536
#define MEMO_RANGE_BYTES (8u << 20)
#define PAGE             4096u

/* A range a batch read, found through the pages it lies in. */
struct memo_range {
        uint64_t va;
        uint32_t len, off; /* off: in bytes[] */
};
struct memo_link {
        uint32_t range, next; /* next: link + 1 on the same page, 0: none */
};

struct bd_kernel_memo {
        uint64_t key[MEMO_SLOTS];     /* page address + 1; 0: a free slot */
        uint32_t page_at[MEMO_SLOTS]; /* its copy in page[] + 1; 0: none */
        uint32_t links[MEMO_SLOTS];   /* its first link + 1; 0: none */
        size_t npages, nslots, nranges, nlinks, used;
        struct memo_range range[MEMO_RANGES];
        struct memo_link link[2 * MEMO_RANGES];
        uint8_t bytes[MEMO_RANGE_BYTES];
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

/* Runs are sent in groups so a long scattered read needs a bounded array;
 * each group travels as one pipelined batch that drains before the next
 * starts, so a group holds every field of a few thousand tasks. */
#define RUN_BATCH 16384

struct run_batch {
        struct bd_phys_iov *iov;
        size_t n, cap;
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
                        if (b->n == b->cap) {
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
        /* At most a run per page each range touches. */
        size_t runs = 0;
        for (size_t i = 0; i < n && runs < RUN_BATCH; i++)
                runs += iov[i].len
                            ? (iov[i].vaddr + iov[i].len - 1) / PAGE - iov[i].vaddr / PAGE + 1
                            : 0;
        struct bd_phys_iov few[8];
        struct run_batch b = {.cap = runs < RUN_BATCH ? runs : RUN_BATCH};
        b.iov = b.cap <= 8 ? few : malloc(b.cap * sizeof(*b.iov));
        if (b.cap <= 8)
                b.cap = 8;
        if (!b.iov)
                return &bd_error_nomem;
        struct bd_error *err = NULL;
        for (size_t i = 0; i < n && !err; i++)
                err = add_range(k, &b, iov[i].vaddr, iov[i].buf, iov[i].len);
        if (!err && b.n)
                err = bd_phys_read_batch(k->phys, b.iov, b.n);
        if (b.iov != few)
                free(b.iov);
        return err;
}

static uint64_t page_of(uint64_t va)
{
        return va & ~(uint64_t)(PAGE - 1);
}

/* The memo's slot for the page at va, taken if add and there is room;
 * -1 if none. */
static long memo_slot(struct bd_kernel_memo *m, uint64_t va, int add)
{
        size_t slot = (size_t)(((va / PAGE) * 0x9e3779b97f4a7c15ull) >> 50) & (MEMO_SLOTS - 1);
        while (m->key[slot] && m->key[slot] != va + 1)
                slot = (slot + 1) & (MEMO_SLOTS - 1);
        if (m->key[slot])
                return (long)slot;
        /* Half full at most: probes stay short. */
        if (!add || m->nslots >= MEMO_SLOTS / 2)
                return -1;
        m->key[slot] = va + 1;
        m->nslots++;
        return (long)slot;
}

/* Copy [va, va + len), within one page, from what the memo holds: its
 * copy of the page, or a range a batch read. 1 if it could. */
static int memo_copy(struct bd_kernel_memo *m, uint64_t va, void *buf, size_t len)
{
        long slot = memo_slot(m, page_of(va), 0);
        if (slot < 0)
                return 0;
        if (m->page_at[slot]) {
                memcpy(buf, m->page[m->page_at[slot] - 1] + (va - page_of(va)), len);
                return 1;
        }
        for (uint32_t l = m->links[slot]; l; l = m->link[l - 1].next) {
                const struct memo_range *r = &m->range[m->link[l - 1].range];
                if (r->va <= va && va + len <= r->va + r->len) {
                        memcpy(buf, m->bytes + r->off + (va - r->va), len);
                        return 1;
                }
        }
        return 0;
}

/* Keep a range a batch has read, if there is room, under each page it
 * lies in. */
static void memo_keep(struct bd_kernel_memo *m, const struct bd_kernel_iov *iov)
{
        uint64_t first = page_of(iov->vaddr), last = page_of(iov->vaddr + iov->len - 1);
        if (!iov->len || last - first > PAGE || m->nranges == MEMO_RANGES ||
            m->nlinks + 2 > 2 * MEMO_RANGES || iov->len > MEMO_RANGE_BYTES - m->used)
                return;
        long slots[2] = {memo_slot(m, first, 1), last != first ? memo_slot(m, last, 1) : -1};
        if (slots[0] < 0 || (last != first && slots[1] < 0))
                return;
        m->range[m->nranges] =
            (struct memo_range){iov->vaddr, (uint32_t)iov->len, (uint32_t)m->used};
        memcpy(m->bytes + m->used, iov->buf, iov->len);
        m->used += iov->len;
        for (int i = 0; i < 2 && slots[i] >= 0; i++) {
                m->link[m->nlinks] = (struct memo_link){(uint32_t)m->nranges, m->links[slots[i]]};
                m->links[slots[i]] = (uint32_t)++m->nlinks;
        }
        m->nranges++;
}

static int one_page(const struct bd_kernel_iov *iov)
{
        return iov->len && iov->len <= PAGE &&
               page_of(iov->vaddr) == page_of(iov->vaddr + iov->len - 1);
}

/* A batch under a memo: what the memo holds is copied, the rest read in
 * one batch and kept (a plan's kill then finds the fields ps read of its
 * victim without a round trip). */
static struct bd_error *memo_batch(struct bd_kernel *k, const struct bd_kernel_iov *iov, size_t n)
{
        struct bd_kernel_memo *m = k->memo;
        struct bd_kernel_iov *rest = malloc(n * sizeof(*rest));
        if (!rest)
                return read_batch(k, iov, n);
        size_t nrest = 0;
        for (size_t i = 0; i < n; i++)
                if (!one_page(&iov[i]) || !memo_copy(m, iov[i].vaddr, iov[i].buf, iov[i].len))
                        rest[nrest++] = iov[i];
        struct bd_error *err = nrest ? read_batch(k, rest, nrest) : NULL;
        for (size_t i = 0; i < nrest && !err; i++)
                memo_keep(m, &rest[i]);
        free(rest);
        return err;
}

struct bd_error *bd_kernel_read_batch(struct bd_kernel *k, const struct bd_kernel_iov *iov,
                                      size_t n)
{
        return k->memo ? memo_batch(k, iov, n) : read_batch(k, iov, n);
}

/* A read under a memo that it cannot serve takes the whole page: a plan
 * reads many fields of a few objects. */
struct bd_error *bd_kernel_read(struct bd_kernel *k, uint64_t vaddr, void *buf, size_t len)
{
        struct bd_kernel_iov iov = {vaddr, buf, len};
        struct bd_kernel_memo *m = k->memo;
        if (!m || !one_page(&iov))
                return bd_kernel_read_batch(k, &iov, 1);
        if (memo_copy(m, vaddr, buf, len))
                return NULL;
        long slot = memo_slot(m, page_of(vaddr), 1);
        if (slot < 0 || m->npages == MEMO_PAGES)
                return read_batch(k, &iov, 1);
        struct bd_kernel_iov whole = {page_of(vaddr), m->page[m->npages], PAGE};
        /* A page that does not read whole (its end unmapped, say) leaves
         * the field to be read alone, where its own error is met; a failed
         * transport is no such page. */
        struct bd_error *err = read_batch(k, &whole, 1);
        if (bd_err_fatal(err))
                return err;
        if (err) {
                bd_error_destroy(err);
                return read_batch(k, &iov, 1);
        }
        m->page_at[slot] = (uint32_t)++m->npages;
        memcpy(buf, m->page[m->npages - 1] + (vaddr - page_of(vaddr)), len);
        return NULL;
}

struct bd_error *bd_kernel_read_u64(struct bd_kernel *k, uint64_t vaddr, uint64_t *out)
{
        return bd_kernel_read(k, vaddr, out, sizeof(*out));
}

void bd_kernel_set_direct_map(struct bd_kernel *k, uint64_t page_offset_base)
{
        /* 64 TiB of direct map with 4-level paging, 32 PiB with 5-level
         * (Documentation/arch/x86/x86_64/mm.rst), but only as much of it as
         * there is physical memory: with KASLR the vmalloc area (kernel
         * stacks) follows the direct map closely, inside that span. */
        uint64_t size = k->levels == 5 ? 1ull << 55 : 1ull << 46, end = 0;
        for (unsigned w = 0; w < k->phys->nwindows; w++)
                if (k->phys->windows[w].base + k->phys->windows[w].length > end)
                        end = k->phys->windows[w].base + k->phys->windows[w].length;
        k->direct_base = page_offset_base;
        k->direct_size = end && end < size ? end : size;
}
