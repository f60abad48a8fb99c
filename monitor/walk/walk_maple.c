#include "walk_maple.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/grow.h"
#include "walk_xarray.h"

/* enum maple_type and the encoding of node pointers (lib/maple_tree.c,
 * include/linux/maple_tree.h). */
enum { MT_DENSE, MT_LEAF_64, MT_RANGE_64, MT_ARANGE_64 };
#define NODE_MASK  0xffull
#define TYPE_SHIFT 3
#define TYPE_MASK  0xf

static const unsigned mt_slots[] = {31, 16, 16, 10};
static const unsigned mt_pivots[] = {0, 15, 15, 9};

/* What the level reader queues: the node to read, its encoded pointer
 * (for the type) and the range its parent gives it. */
struct mt_item {
        uint64_t node;
        uint64_t enode; /* node address | type << 3 | flags */
        uint64_t min, max;
};

struct mt_rec {
        uint64_t first, last, entry;
};

struct mtwalk {
        struct bd_walk walk;
        const struct bd_maple_layout *l;
        unsigned leaf_depth; /* of the leaves seen so far; 0: none yet */
        struct mt_rec *recs;
        size_t nrecs, caprecs;
};

static struct bd_error *add_rec(struct mtwalk *w, uint64_t first, uint64_t last, uint64_t entry)
{
        if (bd_grow((void **)&w->recs, &w->caprecs, w->nrecs + 1, sizeof(*w->recs), 64))
                return &bd_error_nomem;
        w->recs[w->nrecs++] = (struct mt_rec){first, last, entry};
        return NULL;
}

static struct bd_error *add_node(struct mtwalk *w, uint64_t enode, uint64_t min, uint64_t max,
                                 uint64_t from)
{
        struct mt_item it = {enode & ~NODE_MASK, enode, min, max};
        if (((enode >> TYPE_SHIFT) & TYPE_MASK) > MT_ARANGE_64)
                return bd_walk_bad_pointer(&w->walk, enode, from);
        struct bd_error *err = bd_walk_admit(&w->walk, it.node, BD_MAPLE_NODE_SIZE, enode, from);
        return err ? err : bd_walk_push(&w->walk, &it, sizeof(it));
}

static uint64_t get64(const uint8_t *buf, size_t off)
{
        uint64_t v;
        memcpy(&v, buf + off, sizeof(v));
        return v;
}

/* The index of the last slot in use: the kernel's ma_data_end(). A full
 * node has no room for metadata, so its end is told by the last pivot. */
static unsigned data_end(const struct mtwalk *w, unsigned type, const uint8_t *buf,
                         uint32_t pivot_off, uint64_t max)
{
        unsigned np = mt_pivots[type];
        uint32_t meta = type == MT_ARANGE_64 ? w->l->arange_meta : w->l->range_meta;
        if (type != MT_ARANGE_64) {
                uint64_t last = get64(buf, pivot_off + 8 * (np - 1));
                if (last == max && last)
                        return np - 1;
                if (last)
                        return np;
        }
        if (meta)
                return buf[meta];
        /* Without metadata the first zero pivot past slot 0 ends the node. */
        for (unsigned i = 1; i < np; i++)
                if (!get64(buf, pivot_off + 8 * i))
                        return i;
        return np;
}

static struct bd_error *scan_node(void *arg, const void *item, const uint8_t *buf)
{
        struct mtwalk *w = arg;
        const struct mt_item *it = item;
        uint64_t tree = w->walk.root, node = it->node;
        unsigned depth = w->walk.depth;
        unsigned type = (it->enode >> TYPE_SHIFT) & TYPE_MASK;
        /* A freed node points to itself (ma_dead_node()): the tree changed
         * under the walk, or it is garbage. */
        if ((get64(buf, w->l->parent) & ~NODE_MASK) == node)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "maple tree at 0x%" PRIx64 ": node 0x%" PRIx64 " is dead", tree,
                                    node);
        int leaf = type < MT_RANGE_64;
        if (leaf) {
                if (w->leaf_depth && w->leaf_depth != depth)
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "maple tree at 0x%" PRIx64 ": leaf 0x%" PRIx64
                                            " at depth %u, others at %u",
                                            tree, node, depth, w->leaf_depth);
                w->leaf_depth = depth;
        }
        if (type == MT_DENSE) {
                /* One index per slot, from the node's minimum. */
                for (unsigned i = 0; i < mt_slots[type]; i++) {
                        uint64_t idx = it->min + i;
                        if (idx < it->min || idx > it->max)
                                break;
                        uint64_t e = get64(buf, w->l->dense_slot + 8 * i);
                        struct bd_error *err = e ? add_rec(w, idx, idx, e) : NULL;
                        if (err)
                                return err;
                }
                return NULL;
        }
        uint32_t poff = type == MT_ARANGE_64 ? w->l->arange_pivot : w->l->range_pivot;
        uint32_t soff = type == MT_ARANGE_64 ? w->l->arange_slot : w->l->range_slot;
        unsigned np = mt_pivots[type];
        unsigned end = data_end(w, type, buf, poff, it->max);
        if (end >= mt_slots[type])
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "maple tree at 0x%" PRIx64 ": node 0x%" PRIx64
                                    " claims %u slots, its type has %u",
                                    tree, node, end + 1, mt_slots[type]);
        uint64_t lo = it->min;
        for (unsigned i = 0; i <= end; i++) {
                /* The kernel's logical pivot: past the stored ones, or a zero
                 * one past slot 0, the slot runs to the node's maximum. */
                uint64_t p = i < np ? get64(buf, poff + 8 * i) : it->max;
                if (!p && i)
                        p = it->max;
                if (p < lo || p > it->max)
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "maple tree at 0x%" PRIx64 ": node 0x%" PRIx64
                                            " pivot %u is 0x%" PRIx64 ", outside 0x%" PRIx64
                                            "..0x%" PRIx64,
                                            tree, node, i, p, lo, it->max);
                uint64_t e = get64(buf, soff + 8 * i);
                struct bd_error *err = NULL;
                if (e && leaf)
                        err = add_rec(w, lo, p, e);
                else if (e)
                        err = add_node(w, e, lo, p, node);
                if (err)
                        return err;
                if (p == it->max)
                        break;
                lo = p + 1;
        }
        return NULL;
}

struct bd_maple_layout bd_maple_layout_default(void)
{
        return (struct bd_maple_layout){.root = 8,
                                        .parent = 0,
                                        .dense_slot = 8,
                                        .range_pivot = 8,
                                        .range_slot = 128,
                                        .range_meta = 248,
                                        .arange_pivot = 8,
                                        .arange_slot = 80,
                                        .arange_meta = 240};
}

static int layout_fits(const struct bd_maple_layout *l)
{
        const uint32_t n = BD_MAPLE_NODE_SIZE;
        return l->parent <= n - 8 && l->dense_slot <= n - 8 * 31 && l->range_pivot <= n - 8 * 15 &&
               l->range_slot <= n - 8 * 16 && l->range_meta < n && l->arange_pivot <= n - 8 * 9 &&
               l->arange_slot <= n - 8 * 10 && l->arange_meta < n;
}

/* ma_root, encoded as an xarray's head: a node, the one entry of a tree
 * holding only index 0, or an internal entry to skip. */
static struct bd_error *add_root(void *arg, uint64_t root)
{
        struct mtwalk *w = arg;
        if (bd_xa_is_node(root))
                return add_node(w, root, 0, UINT64_MAX, w->walk.root);
        return bd_xa_is_internal(root) ? NULL : add_rec(w, 0, 0, root);
}

struct bd_error *bd_maple_walk(struct bd_kernel *k, uint64_t tree_addr,
                               const struct bd_maple_layout *l, const struct bd_walk_opts *o,
                               bd_maple_cb cb, void *arg)
{
        if (!layout_fits(l))
                return bd_error_new(BD_ERR_INTERNAL, "maple layout does not fit a %d-byte node",
                                    BD_MAPLE_NODE_SIZE);
        const struct bd_walk_tree maple = {l->root,      "maple tree root",   BD_MAPLE_NODE_SIZE,
                                           "maple node", BD_MAPLE_HEIGHT_MAX, add_root,
                                           scan_node};
        struct mtwalk w = {.l = l};
        struct bd_error *err = bd_walk_init(&w.walk, k, "maple tree", tree_addr, 4, o);
        if (!err)
                err = bd_walk_tree(&w.walk, &maple, &w);
        bd_walk_free(&w.walk);
        /* All leaves sit at one depth and each level was appended in
         * order, so the records are already ascending. */
        for (size_t i = 0; i < w.nrecs && !err; i++) {
                struct bd_error *r = cb(arg, w.recs[i].first, w.recs[i].last, w.recs[i].entry);
                if (r == &bd_walk_stop)
                        break;
                err = r;
        }
        free(w.recs);
        return err;
}
