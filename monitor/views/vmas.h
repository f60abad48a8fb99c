/* A process's memory map (its VMAs), from the maple tree in its mm_struct:
 * what /proc/PID/maps shows, read without the target's help. */
#ifndef BD_VMAS_H
#define BD_VMAS_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/program.h"

struct bd_vma {
        uint64_t addr; /* struct vm_area_struct * */
        uint64_t start, end, flags, pgoff;
        uint64_t file;     /* struct file *, 0 for anonymous memory */
        uint64_t anon_vma; /* non-zero once written to (0 if the layout lacks it) */
        char name[256];    /* the file's path as far as the dentries give it */
};

struct bd_vmas {
        struct bd_vma *v;
        size_t n;
        uint64_t round_trips, elapsed_ns;
};

/* VM_READ, VM_WRITE, VM_EXEC, VM_SHARED (include/linux/mm.h). */
#define BD_VM_READ   0x1u
#define BD_VM_WRITE  0x2u
#define BD_VM_EXEC   0x4u
#define BD_VM_SHARED 0x8u

/* maps' default budget (budget.h): at about 600 bytes read and held a
 * VMA (the VMA kept, its fields, its path's dentry walk), some 120,000
 * VMAs, above vm.max_map_count's default (65530). */
#define BD_VMAS_BUDGET (64u << 20)

/* Fails with BD_ERR_RANGE when the process has more VMAs than the budget
 * allows. */
struct bd_error *bd_vmas_read(struct bd_program *prog, int32_t pid, struct bd_vmas **out);
void bd_vmas_free(struct bd_vmas *v);

/* The mapping that holds all of [addr, addr + len), or NULL (a range that
 * wraps is in none). */
const struct bd_vma *bd_vmas_holding(const struct bd_vmas *vs, uint64_t addr, uint64_t len);

#endif
