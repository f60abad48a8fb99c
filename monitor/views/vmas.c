#include "vmas.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/clock.h"
#include "../../common/grow.h"
#include "budget.h"
#include "files.h"
#include "tasks.h"
#include "../walk/walk.h"
#include "../walk/walk_maple.h"

/* More VMAs than vm.max_map_count allows by default (65530), with room. */
#define VMAS_MAX (1u << 20)
/* What maps reads and holds per VMA: the VMA kept, its six fields' reads
 * in flight, its file pointer in the list of mapped files (whose paths
 * files.h reads, on its own budget). */
#define VMA_COST (sizeof(struct bd_vma) + 6 * sizeof(struct bd_kernel_iov) + sizeof(uint64_t))

struct collect {
        struct bd_vmas *out;
        size_t cap;
        uint64_t budget;
};

static struct bd_error *add_vma(void *arg, uint64_t first, uint64_t last, uint64_t entry)
{
        (void)first, (void)last;
        struct collect *c = arg;
        if (c->out->n >= VMAS_MAX)
                return bd_error_new(BD_ERR_RANGE, "more than %u VMAs", VMAS_MAX);
        struct bd_error *err = bd_budget_check(c->out->n + 1, VMA_COST, c->budget, "VMAs");
        if (err)
                return err;
        if (bd_grow((void **)&c->out->v, &c->cap, c->out->n + 1, sizeof(*c->out->v), 64))
                return &bd_error_nomem;
        struct bd_vma *v = &c->out->v[c->out->n++];
        memset(v, 0, sizeof(*v));
        v->addr = entry;
        return NULL;
}

static struct bd_error *maple_layout(const struct bd_layout *l, struct bd_maple_layout *ml,
                                     int64_t *mt)
{
        static const enum bd_layout_id ids[] = {BDL_MM_MT,
                                                BDL_MAPLE_TREE_ROOT,
                                                BDL_MAPLE_NODE_PARENT,
                                                BDL_MAPLE_DENSE_SLOT,
                                                BDL_MAPLE_RANGE64_PIVOT,
                                                BDL_MAPLE_RANGE64_SLOT,
                                                BDL_MAPLE_RANGE64_META,
                                                BDL_MAPLE_ARANGE64_PIVOT,
                                                BDL_MAPLE_ARANGE64_SLOT,
                                                BDL_MAPLE_ARANGE64_META};
        int64_t v[10];
        struct bd_error *err = bd_layout_need(l, ids, 10, v);
        if (err)
                return err;
        for (int i = 0; i < 10; i++)
                if (v[i] < 0 || v[i] >= 4096)
                        return bd_error_new(BD_ERR_PROTOCOL, "maple layout: offset %lld",
                                            (long long)v[i]);
        *mt = v[0];
        *ml = (struct bd_maple_layout){(uint32_t)v[1], (uint32_t)v[2], (uint32_t)v[3],
                                       (uint32_t)v[4], (uint32_t)v[5], (uint32_t)v[6],
                                       (uint32_t)v[7], (uint32_t)v[8], (uint32_t)v[9]};
        return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/* Each mapped file's path as d_path() gives it, across mounts; the VMAs of
 * one file share its struct file, which is described once. A path memory
 * does not give is left empty. */
static struct bd_error *resolve_names(struct bd_program *prog, struct bd_vmas *vs)
{
        uint64_t *file = calloc(vs->n + 1, sizeof(*file));
        if (!file)
                return &bd_error_nomem;
        size_t n = 0;
        for (size_t i = 0; i < vs->n; i++)
                if (vs->v[i].file)
                        file[n++] = vs->v[i].file;
        qsort(file, n, sizeof(*file), cmp_u64);
        size_t u = 0;
        for (size_t i = 0; i < n; i++)
                if (!u || file[u - 1] != file[i])
                        file[u++] = file[i];
        struct bd_files *fs = NULL;
        struct bd_error *err = u ? bd_files_of(prog, file, u, &fs) : NULL;
        for (size_t i = 0; !err && u && i < vs->n; i++) {
                const uint64_t *at =
                    vs->v[i].file ? bsearch(&vs->v[i].file, file, u, sizeof(*file), cmp_u64) : NULL;
                if (!at)
                        continue;
                /* The description's fd j is file[j] (none is NULL). */
                size_t j = (size_t)(at - file);
                if (j < fs->n && fs->f[j].fd == (int32_t)j && fs->f[j].path)
                        snprintf(vs->v[i].name, sizeof(vs->v[i].name), "%s", fs->f[j].path);
        }
        bd_files_free(fs);
        free(file);
        return err;
}

struct bd_error *bd_vmas_read(struct bd_program *prog, int32_t pid, struct bd_vmas **out)
{
        uint64_t t0 = bd_now_ns(), rt0 = prog->phys->round_trips;
        const struct bd_layout *l;
        struct bd_maple_layout ml;
        int64_t mt = 0, f[6];
        uint64_t mm;
        static const enum bd_layout_id vma_ids[] = {BDL_VMA_START, BDL_VMA_END, BDL_VMA_FLAGS,
                                                    BDL_VMA_PGOFF, BDL_VMA_FILE};
        struct bd_error *err = bd_program_layout(prog, &l);
        if (!err)
                err = maple_layout(l, &ml, &mt);
        if (!err)
                err = bd_layout_need(l, vma_ids, 5, f);
        /* Optional: only core files ask whether a mapping was written to. */
        size_t nf = bd_layout_has(l, BDL_VMA_ANON_VMA, &f[5]) ? 6 : 5;
        if (!err)
                err = bd_task_pointer(prog, pid, BDL_TASK_MM, &mm);
        if (err)
                return bd_error_wrap(err, "maps");
        if (!mm || !bd_walk_kptr_ok(prog->k, mm, 8))
                return bd_error_new(BD_ERR_NOT_FOUND, "maps: pid %d has no user address space",
                                    pid);
        struct bd_vmas *vs = calloc(1, sizeof(*vs));
        if (!vs)
                return &bd_error_nomem;
        struct collect c = {vs, 0, bd_budget(prog, BD_VMAS_BUDGET)};
        struct bd_walk_opts o = {.max = VMAS_MAX / 8};
        err = bd_maple_walk(prog->k, mm + (uint64_t)mt, &ml, &o, add_vma, &c);
        struct bd_kernel_iov *iov = NULL;
        if (!err && !(iov = calloc(nf * vs->n + 1, sizeof(*iov))))
                err = &bd_error_nomem;
        for (size_t i = 0; !err && i < vs->n; i++) {
                struct bd_vma *v = &vs->v[i];
                if (!bd_walk_kptr_ok(prog->k, v->addr, 8)) {
                        err = bd_error_new(BD_ERR_PROTOCOL, "maps: VMA pointer 0x%llx",
                                           (unsigned long long)v->addr);
                        break;
                }
                uint64_t *dst[6] = {&v->start, &v->end,  &v->flags,
                                    &v->pgoff, &v->file, &v->anon_vma};
                for (size_t j = 0; j < nf; j++)
                        iov[nf * i + j] =
                            (struct bd_kernel_iov){v->addr + (uint64_t)f[j], dst[j], 8};
        }
        if (!err)
                err = bd_kernel_read_batch(prog->k, iov, nf * vs->n);
        free(iov);
        if (err) {
                bd_vmas_free(vs);
                return bd_error_wrap(err, "maps: pid %d", pid);
        }
        if ((err = resolve_names(prog, vs))) {
                bd_vmas_free(vs);
                return bd_error_wrap(err, "maps: pid %d: mapped files", pid);
        }
        vs->round_trips = prog->phys->round_trips - rt0;
        vs->elapsed_ns = bd_now_ns() - t0;
        *out = vs;
        return NULL;
}

const struct bd_vma *bd_vmas_holding(const struct bd_vmas *vs, uint64_t addr, uint64_t len)
{
        if (len > UINT64_MAX - addr)
                return NULL;
        for (size_t i = 0; i < vs->n; i++)
                if (addr >= vs->v[i].start && addr + len <= vs->v[i].end)
                        return &vs->v[i];
        return NULL;
}

void bd_vmas_free(struct bd_vmas *v)
{
        if (v) {
                free(v->v);
                free(v);
        }
}
