/* A kernel seen through its physical memory: the "program" every kernel view
 * reads from. Built from VMCOREINFO alone (phys_base, KASLR offset, paging
 * mode, the kernel page table), so it works on a dead kernel and needs
 * nothing from the target's OS. */
#ifndef BD_KERNEL_H
#define BD_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/error.h"
#include "pgtable.h"
#include "../source/phys.h"
#include "vmcoreinfo.h"

/* __START_KERNEL_map: the kernel image's mapping, 1 GiB from here (KASLR
 * moves the image within it, and phys_base says where it sits in RAM). */
#define BD_KERNEL_IMAGE_START 0xffffffff80000000ull
#define BD_KERNEL_IMAGE_END   0xffffffffc0000000ull

struct bd_kernel {
        struct bd_phys *phys;           /* borrowed */
        const struct bd_vmcoreinfo *vi; /* borrowed */
        int64_t phys_base;              /* negative under KASLR */
        uint64_t kaslr_offset;          /* KERNELOFFSET, 0 if absent */
        int levels;                     /* 4 or 5 */
        uint64_t pgd_phys;              /* init_top_pgt */
        /* The last translated page: the direct map uses 1 GiB and 2 MiB
         * pages, so one walk serves many neighbouring reads. */
        uint64_t tlb_vaddr, tlb_paddr, tlb_size;
        /* The direct map (page_offset_base, randomised by KASLR): set once
         * known, it makes every slab object a subtraction, not a walk. */
        uint64_t direct_base, direct_size;
        uint64_t walks; /* page-table walks done, for tests and progress */
        struct bd_pgtable_cache tables;
        struct bd_kernel_memo *memo; /* bd_kernel_memo_start(), else NULL */
};

/* Fails with BD_ERR_NOT_FOUND when VMCOREINFO lacks what is needed
 * (NUMBER(phys_base), SYMBOL(init_top_pgt)). p and vi must outlive k. */
struct bd_error *bd_kernel_open(struct bd_phys *p, const struct bd_vmcoreinfo *vi,
                                struct bd_kernel **out);
void bd_kernel_close(struct bd_kernel *k);

/* Physical address of a kernel virtual address, and the size of the page
 * that maps it. */
struct bd_error *bd_kernel_translate(struct bd_kernel *k, uint64_t vaddr, uint64_t *paddr,
                                     uint64_t *page_size);

/* Read len bytes of kernel virtual memory. Pages are translated one by one
 * and the physically contiguous runs are read in one batch. */
struct bd_error *bd_kernel_read(struct bd_kernel *k, uint64_t vaddr, void *buf, size_t len);
struct bd_error *bd_kernel_read_u64(struct bd_kernel *k, uint64_t vaddr, uint64_t *out);

/* One range of kernel virtual memory for bd_kernel_read_batch(). */
struct bd_kernel_iov {
        uint64_t vaddr;
        void *buf;
        size_t len;
};

/* Read many ranges in as few pipelined round trips as the source allows:
 * what a walker uses to fetch a whole level of a tree, or one field of a
 * thousand tasks, at once. Stops at the first range that does not
 * translate. */
struct bd_error *bd_kernel_read_batch(struct bd_kernel *k, const struct bd_kernel_iov *iov,
                                      size_t n);

/* One moment's view for work that reads many fields of many objects (a
 * repair's plan and its check): until bd_kernel_memo_stop(), what a batch
 * read is kept and served again (the fields ps read of every task, for a
 * plan that then kills some), and a bd_kernel_read() that finds nothing
 * kept takes its whole 4 KiB page, which then serves every read within it
 * (up to 1024 pages and 8 MiB of batches; then reads go to the source
 * again). Never for anything that must see memory move (a probe, a guard's
 * re-read). */
void bd_kernel_memo_start(struct bd_kernel *k);
void bd_kernel_memo_stop(struct bd_kernel *k);

/* Tell the kernel object where the direct map starts (page_offset_base);
 * later reads of it translate by subtraction. */
void bd_kernel_set_direct_map(struct bd_kernel *k, uint64_t page_offset_base);

#endif
