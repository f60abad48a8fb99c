/* The program the task views' fuzz targets read: tests/unit/tasks_img.h's
 * kallsyms at physical 0 and the input from TI_BASE up as the rest of
 * memory, through its stored layout (no BTF), with the direct map at
 * TI_DIRECT. The symbol table and layout are made once (kallsyms lies
 * below the input, so every run would read the same); what the input
 * decides, the kernel object and the CPUs' per-CPU offsets, is read
 * afresh each run. Header only: each fuzz target is one source file. */
#ifndef BD_FUZZ_TASKS_PROG_H
#define BD_FUZZ_TASKS_PROG_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/program.h"
#include "../unit/tasks_img.h"
#include "fuzz_check.h"
#include "ks_prog.h"

struct tasks_prog {
        struct bd_program prog;
        struct mem_phys m;
        struct ks_img ks;
        uint8_t *mem;
};

/* p's program over the input; budget: what a view may read and hold. */
static inline struct bd_program *tasks_prog_open(struct tasks_prog *p, const uint8_t *data,
                                                 size_t size, uint64_t budget)
{
        if (!p->prog.layout) {
                ti_kallsyms(&p->ks);
                CHECK((p->prog.layout = calloc(1, sizeof(*p->prog.layout))));
                ti_layout(p->prog.layout);
                p->prog.opt.no_cache = 1;
                p->prog.phys = &p->m.base;
        }
        p->prog.opt.max_read = budget;
        p->mem = ks_prog_load(&p->prog, &p->m, &p->ks, TI_BASE, data, size);
        bd_kernel_set_direct_map(p->prog.k, TI_DIRECT);
        free(p->prog.cpu_offset);
        p->prog.cpu_offset = NULL;
        p->prog.ncpus = 0;
        return &p->prog;
}

static inline void tasks_prog_close(struct tasks_prog *p)
{
        ks_prog_unload(&p->prog, p->mem);
        p->mem = NULL;
}

#endif
