/* A program over a synthetic kernel for fuzz targets: a kallsyms image
 * (tests/unit/kallsyms_img.h) at physical 0 and the input from physical
 * base up, in an exactly-sized copy so that ASan sees any read past the
 * "memory", the kernel opened over it. Header only: each fuzz target is
 * one source file. */
#ifndef BD_FUZZ_KS_PROG_H
#define BD_FUZZ_KS_PROG_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/program.h"
#include "../unit/kallsyms_img.h"
#include "fuzz_check.h"
#include "mem_phys.h"

/* prog's kernel over ks and the input, through m; free the memory it
 * returns with ks_prog_unload() after the run. */
static inline uint8_t *ks_prog_load(struct bd_program *prog, struct mem_phys *m,
                                    const struct ks_img *ks, size_t base, const uint8_t *data,
                                    size_t size)
{
        size_t len = base + size;
        uint8_t *mem = calloc(1, len);
        CHECK(mem);
        ks_install(ks, mem, &prog->vi);
        memcpy(mem + base, data, size);
        mem_phys_init(m, mem, len);
        CHECK(!bd_kernel_open(&m->base, &prog->vi, &prog->k));
        return mem;
}

static inline void ks_prog_unload(struct bd_program *prog, uint8_t *mem)
{
        bd_kernel_close(prog->k);
        prog->k = NULL;
        free(mem);
}

#endif
