/* A process's own address space, through its mm->pgd: the user half of
 * the page table the target's CPU would load for it. */
#ifndef BD_USER_MEM_H
#define BD_USER_MEM_H

#include <stddef.h>
#include <stdint.h>

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

#endif
