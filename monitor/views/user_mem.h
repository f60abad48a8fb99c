/* A process's own address space, through its mm->pgd: the user half of
 * the page table the target's CPU would load for it. */
#ifndef BD_USER_MEM_H
#define BD_USER_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/pgtable.h"
#include "../kernel/program.h"

struct bd_user_mm {
        uint64_t mm;       /* struct mm_struct * */
        uint64_t pgd_phys; /* its top-level table */
};

/* The address space of pid; BD_ERR_NOT_FOUND for a kernel thread. */
struct bd_error *bd_user_mm_of_pid(struct bd_program *prog, int32_t pid, struct bd_user_mm *out);

/* Read user memory page by page; a page not present (swapped out, never
 * touched) is BD_ERR_NOT_FOUND naming the address. */
struct bd_error *bd_user_read(struct bd_program *prog, const struct bd_user_mm *mm, uint64_t vaddr,
                              void *buf, size_t len);

/* What bd_user_pages() found at a range of a process's memory. */
enum bd_page_kind {
        BD_PAGE_DATA,       /* present: its bytes */
        BD_PAGE_ZERO,       /* never touched, or mapped to a zero page: zeros */
        BD_PAGE_SWAPPED,    /* swapped out or migrating: not in memory */
        BD_PAGE_UNREADABLE, /* present, but outside every window of the source */
};
/* data holds len bytes for BD_PAGE_DATA, NULL otherwise. Return NULL to
 * go on, or an error, which ends the walk. */
typedef struct bd_error *(*bd_user_pages_cb)(void *arg, uint64_t va, const void *data, uint64_t len,
                                             enum bd_page_kind kind);

/* A reader of one process's pages over many ranges (its VMAs): the
 * kernel's zero pages are found once, and the page tables one range read
 * serve the next. */
struct bd_user_pages;
struct bd_error *bd_user_pages_new(struct bd_program *prog, const struct bd_user_mm *mm,
                                   struct bd_user_pages **out);
void bd_user_pages_free(struct bd_user_pages *w);

/* len bytes of user memory at vaddr, translated through the reader's
 * tables (read ahead, or kept from earlier walks). */
struct bd_error *bd_user_pages_peek(struct bd_user_pages *w, uint64_t vaddr, void *buf, size_t len);

/* Read ahead, a level at a time, the page tables of the n ranges that
 * bd_user_pages_read() will be asked for: a batch per level instead of a
 * dependent read per table. */
struct bd_error *bd_user_pages_prefetch(struct bd_user_pages *w,
                                        const struct bd_pgtable_range *range, size_t n);

/* Every page of [start, end) (page-aligned), in address order, in ranges
 * of one kind: the present ones read in pipelined batches of up to 1 MiB,
 * which span the ranges asked for one after the other, physically
 * contiguous pages in one read, pages mapped to the kernel's shared zero
 * pages (what a never-written anonymous page reads through; a thread's
 * 8 MiB stack is mostly that) not read at all, a whole empty page-table
 * level in one step. cb is called for them in the order asked, as each
 * batch completes: arg must stay valid until bd_user_pages_flush(), which
 * completes the last batch. Fails only when the way to the target is lost
 * (or a callback fails). */
struct bd_error *bd_user_pages_read(struct bd_user_pages *w, uint64_t start, uint64_t end,
                                    bd_user_pages_cb cb, void *arg);
struct bd_error *bd_user_pages_flush(struct bd_user_pages *w);

/* The 4-KiB pages read so far, and how many of them were of a frame read
 * before (one the process maps at two addresses is read at each): what
 * says that a process was read with no page twice. */
void bd_user_pages_counts(const struct bd_user_pages *w, uint64_t *read, uint64_t *again);

#endif
