/* A bd_phys over a buffer in this process: fuzz input as physical memory,
 * one window at address 0, without a file per run. Header only: each
 * fuzz target is built from one source file. */
#ifndef BD_FUZZ_MEM_PHYS_H
#define BD_FUZZ_MEM_PHYS_H

#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/program.h"
#include "../../monitor/kernel/kernel.h"
#include "../../monitor/source/phys.h"

/* An address in the kernel image of a synthetic memory: off past
 * __START_KERNEL_map. */
#define K(off) (BD_KERNEL_IMAGE_START + (uint64_t)(off))

struct mem_phys {
        struct bd_phys base;
        const uint8_t *data;
        uint8_t *writable; /* the same buffer, when CAS may change it */
};

static struct bd_error *mem_read(struct bd_phys *p, const struct bd_phys_piece *pieces, size_t n)
{
        struct mem_phys *m = (struct mem_phys *)p;
        for (size_t i = 0; i < n; i++)
                memcpy(pieces[i].buf, m->data + pieces[i].offset, pieces[i].len);
        p->round_trips++;
        return NULL;
}

static struct bd_error *mem_cas(struct bd_phys *p, struct bd_phys_cas_piece *pieces, size_t n)
{
        struct mem_phys *m = (struct mem_phys *)p;
        if (!m->writable) {
                pieces[0].state = BD_CAS_REFUSED;
                return bd_error_new(BD_ERR_READONLY, "read-only");
        }
        for (size_t i = 0; i < n; i++) {
                uint64_t *word = (uint64_t *)(void *)(m->writable + pieces[i].offset);
                uint64_t v = pieces[i].expect;
                __atomic_compare_exchange_n(word, &v, pieces[i].desired, 0, __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST);
                pieces[i].found = v;
                pieces[i].state = BD_CAS_ANSWERED;
        }
        return NULL;
}

static void mem_close(struct bd_phys *p)
{
        (void)p;
}

static const struct bd_phys_ops mem_ops = {.read = mem_read, .cas = mem_cas, .close = mem_close};

static void mem_phys_init(struct mem_phys *m, const uint8_t *data, size_t size)
{
        memset(m, 0, sizeof(*m));
        m->base.ops = &mem_ops;
        m->data = data;
        snprintf(m->base.name, sizeof(m->base.name), "fuzz");
        if (size) {
                m->base.nwindows = 1;
                m->base.windows[0] = (struct bd_window_desc){
                    .name = "ram", .base = 0, .length = size, .access = BD_ACCESS_RO};
        }
}

/* A program reading size bytes of zeroed memory (*mem) through m, without
 * the per-build cache: where a test of a kernel view starts. NULL when
 * memory runs out. */
static inline struct bd_program *mem_program(struct mem_phys *m, size_t size, uint8_t **mem)
{
        struct bd_program *prog = calloc(1, sizeof(*prog));
        *mem = calloc(1, size);
        if (!prog || !*mem) {
                free(prog);
                free(*mem);
                return NULL;
        }
        mem_phys_init(m, *mem, size);
        prog->phys = &m->base;
        prog->opt.no_cache = 1;
        return prog;
}

/* What mem_program() made. */
static inline void mem_program_free(struct bd_program *prog, uint8_t *mem)
{
        bd_program_close(prog);
        free(mem);
}

/* The input as memory: an exactly-sized copy, so that ASan sees any read
 * past the "memory", with m over it. NULL when memory runs out; free() it
 * after the run. */
static inline uint8_t *mem_phys_copy(struct mem_phys *m, const uint8_t *data, size_t size)
{
        uint8_t *mem = malloc(size ? size : 1);
        if (mem) {
                memcpy(mem, data, size);
                mem_phys_init(m, mem, size);
        }
        return mem;
}

/* A kernel over m with no VMCOREINFO: 4-level paging and phys_base 0, so
 * the image mapping is m from physical 0 up, and every other address goes
 * through page tables at physical 0. */
static inline void mem_phys_kernel(struct mem_phys *m, struct bd_kernel *k)
{
        memset(k, 0, sizeof(*k));
        k->phys = &m->base;
        k->levels = 4;
}

/* The input as kernel memory: mem_phys_copy() (free() it after the run)
 * and k a kernel reading it (mem_phys_kernel()). */
static inline uint8_t *mem_kernel_copy(struct mem_phys *m, struct bd_kernel *k, const uint8_t *data,
                                       size_t size)
{
        uint8_t *mem = mem_phys_copy(m, data, size);
        if (mem)
                mem_phys_kernel(m, k);
        return mem;
}

#endif
