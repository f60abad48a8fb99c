#include "vmas.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/clock.h"
#include "../../common/grow.h"
#include "budget.h"
#include "tasks.h"
#include "../walk/walk.h"
#include "../walk/walk_maple.h"

/* More VMAs than vm.max_map_count allows by default (65530), with room. */
#define VMAS_MAX (1u << 20)
/* Path components followed up d_parent: deeper is corrupt or irrelevant. */
#define PATH_DEPTH    32
#define NAME_MAX_READ 64
/* What maps reads and holds per VMA: the VMA kept, its five fields' reads
 * in flight, and its path's walk (two reads a level, the dentry, its
 * parent, the name's pointer and the name). */
#define VMA_COST                                                                                   \
        (sizeof(struct bd_vma) + 7 * sizeof(struct bd_kernel_iov) + 3 * sizeof(uint64_t) +         \
         NAME_MAX_READ + 1)

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

/* Prepend "/name" for each dentry up to the root, a level per batch. */
static void resolve_names(struct bd_program *prog, const struct bd_layout *l, struct bd_vmas *vs)
{
        int64_t f_dentry, d_name, d_parent;
        if (!bd_layout_has(l, BDL_FILE_DENTRY, &f_dentry) ||
            !bd_layout_has(l, BDL_DENTRY_NAME, &d_name) ||
            !bd_layout_has(l, BDL_DENTRY_PARENT, &d_parent))
                return;
        size_t n = vs->n;
        uint64_t *dentry = calloc(n + 1, sizeof(*dentry));
        uint64_t *next = calloc(n + 1, sizeof(*next));
        uint64_t *name_ptr = calloc(n + 1, sizeof(*name_ptr));
        char(*name)[NAME_MAX_READ + 1] = calloc(n + 1, sizeof(*name));
        struct bd_kernel_iov *iov = calloc(2 * n + 1, sizeof(*iov));
        if (!dentry || !next || !name_ptr || !name || !iov)
                goto out;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
                if (vs->v[i].file && bd_walk_kptr_ok(prog->k, vs->v[i].file, 8))
                        iov[m++] = (struct bd_kernel_iov){vs->v[i].file + (uint64_t)f_dentry,
                                                          &dentry[i], 8};
        if (bd_kernel_read_batch(prog->k, iov, m))
                goto out;
        for (int depth = 0; depth < PATH_DEPTH; depth++) {
                m = 0;
                for (size_t i = 0; i < n; i++)
                        if (dentry[i] && bd_walk_kptr_ok(prog->k, dentry[i], 8)) {
                                iov[m++] = (struct bd_kernel_iov){dentry[i] + (uint64_t)d_name,
                                                                  &name_ptr[i], 8};
                                iov[m++] = (struct bd_kernel_iov){dentry[i] + (uint64_t)d_parent,
                                                                  &next[i], 8};
                        }
                if (!m || bd_kernel_read_batch(prog->k, iov, m))
                        break;
                m = 0;
                for (size_t i = 0; i < n; i++)
                        if (dentry[i] && bd_walk_kptr_ok(prog->k, name_ptr[i], 1)) {
                                memset(name[i], 0, sizeof(name[i]));
                                iov[m++] =
                                    (struct bd_kernel_iov){name_ptr[i], name[i], NAME_MAX_READ};
                        }
                /* Names may sit at the end of a page before an unmapped
                 * one: a failed batch ends the paths where they are. */
                if (bd_kernel_read_batch(prog->k, iov, m))
                        break;
                for (size_t i = 0; i < n; i++) {
                        if (!dentry[i])
                                continue;
                        /* The root dentry is its own parent. */
                        if (next[i] == dentry[i]) {
                                if (!vs->v[i].name[0])
                                        strcpy(vs->v[i].name, "/");
                                dentry[i] = 0;
                                continue;
                        }
                        char tmp[sizeof(vs->v[i].name)];
                        snprintf(tmp, sizeof(tmp), "/%s%s", name[i], vs->v[i].name);
                        memcpy(vs->v[i].name, tmp, sizeof(tmp));
                        dentry[i] = next[i];
                }
        }
out:
        free(dentry), free(next), free(name_ptr), free(name), free(iov);
}

struct bd_error *bd_vmas_read(struct bd_program *prog, int32_t pid, struct bd_vmas **out)
{
        uint64_t t0 = bd_now_ns(), rt0 = prog->phys->round_trips;
        const struct bd_layout *l;
        struct bd_maple_layout ml;
        int64_t mt = 0, f[5];
        uint64_t mm;
        static const enum bd_layout_id vma_ids[] = {BDL_VMA_START, BDL_VMA_END, BDL_VMA_FLAGS,
                                                    BDL_VMA_PGOFF, BDL_VMA_FILE};
        struct bd_error *err = bd_program_layout(prog, &l);
        if (!err)
                err = maple_layout(l, &ml, &mt);
        if (!err)
                err = bd_layout_need(l, vma_ids, 5, f);
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
        if (!err && !(iov = calloc(5 * vs->n + 1, sizeof(*iov))))
                err = &bd_error_nomem;
        for (size_t i = 0; !err && i < vs->n; i++) {
                struct bd_vma *v = &vs->v[i];
                if (!bd_walk_kptr_ok(prog->k, v->addr, 8)) {
                        err = bd_error_new(BD_ERR_PROTOCOL, "maps: VMA pointer 0x%llx",
                                           (unsigned long long)v->addr);
                        break;
                }
                uint64_t *dst[5] = {&v->start, &v->end, &v->flags, &v->pgoff, &v->file};
                for (int j = 0; j < 5; j++)
                        iov[5 * i + (size_t)j] =
                            (struct bd_kernel_iov){v->addr + (uint64_t)f[j], dst[j], 8};
        }
        if (!err)
                err = bd_kernel_read_batch(prog->k, iov, 5 * vs->n);
        free(iov);
        if (err) {
                bd_vmas_free(vs);
                return bd_error_wrap(err, "maps: pid %d", pid);
        }
        resolve_names(prog, l, vs);
        vs->round_trips = prog->phys->round_trips - rt0;
        vs->elapsed_ns = bd_now_ns() - t0;
        *out = vs;
        return NULL;
}

void bd_vmas_free(struct bd_vmas *v)
{
        if (v) {
                free(v->v);
                free(v);
        }
}
