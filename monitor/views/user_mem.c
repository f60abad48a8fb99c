#include "user_mem.h"

#include <inttypes.h>

#include "../kernel/pgtable.h"
#include "tasks.h"
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

struct bd_error *bd_user_read(struct bd_program *prog, const struct bd_user_mm *mm, uint64_t vaddr,
                              void *buf, size_t len)
{
        uint64_t top = prog->k->levels == 5 ? 1ull << 56 : 1ull << 47;
        if (vaddr >= top || len > top - vaddr)
                return bd_error_new(BD_ERR_RANGE,
                                    "0x%" PRIx64 "+%zu is not a user address (below 0x%" PRIx64 ")",
                                    vaddr, len, top);
        uint8_t *out = buf;
        while (len) {
                uint64_t pa, size;
                struct bd_error *err = bd_pgtable_translate(prog->phys, mm->pgd_phys,
                                                            prog->k->levels, vaddr, &pa, &size);
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
