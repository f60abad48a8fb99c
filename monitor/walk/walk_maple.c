#include "walk_maple.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "addr_set.h"

/* enum maple_type and the encoding of node pointers (lib/maple_tree.c,
 * include/linux/maple_tree.h). */
enum { MT_DENSE, MT_LEAF_64, MT_RANGE_64, MT_ARANGE_64 };
#define NODE_MASK  0xffull
#define TYPE_SHIFT 3
#define TYPE_MASK  0xf

static const unsigned mt_slots[] = {31, 16, 16, 10};
static const unsigned mt_pivots[] = {0, 15, 15, 9};

static int xa_is_internal(uint64_t e)
{
        return (e & 3) == 2;
}

static int xa_is_node(uint64_t e)
{
        return xa_is_internal(e) && e > 4096;
}

struct mt_item {
        uint64_t enode;    /* encoded: node address | type << 3 | flags */
        uint64_t min, max; /* the range the parent gives it */
};

struct mt_rec {
        uint64_t first, last, entry;
};

struct mtwalk {
        struct bd_kernel *k;
        const struct bd_maple_layout *l;
        uint64_t tree;
        size_t max, nodes;
        int depth, leaf_depth;
        struct bd_addr_set seen;
        struct mt_rec *recs;
        size_t nrecs, caprecs;
        struct mt_item *next;
        size_t nnext, capnext;
};

static struct bd_error *add_rec(struct mtwalk *w, uint64_t first, uint64_t last, uint64_t entry)
{
        if (w->nrecs == w->caprecs) {
                size_t cap = w->caprecs ? w->caprecs * 2 : 64;
                struct mt_rec *r = realloc(w->recs, cap * sizeof(*r));
                if (!r)
                        return &bd_error_nomem;
                w->recs = r;
                w->caprecs = cap;
        }
        w->recs[w->nrecs++] = (struct mt_rec){first, last, entry};
        return NULL;
}

static struct bd_error *add_node(struct mtwalk *w, uint64_t enode, uint64_t min, uint64_t max,
                                 uint64_t from)
{
        const char *name = w->k->phys->name;
        uint64_t node = enode & ~NODE_MASK;
        unsigned type = (enode >> TYPE_SHIFT) & TYPE_MASK;
        if (!bd_walk_kptr_ok(w->k, node, BD_MAPLE_NODE_SIZE) || type > MT_ARANGE_64)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s: maple tree at 0x%" PRIx64 ": bad node pointer 0x%" PRIx64
                                    " in 0x%" PRIx64,
                                    name, w->tree, enode, from);
        if (++w->nodes > w->max)
                return bd_error_new(BD_ERR_RANGE,
                                    "%s: maple tree at 0x%" PRIx64 " has more than %zu nodes", name,
                                    w->tree, w->max);
        int fresh = bd_addr_set_insert(&w->seen, node);
        if (fresh < 0)
                return &bd_error_nomem;
        if (!fresh)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s: maple tree at 0x%" PRIx64 ": node 0x%" PRIx64
                                    " reached twice (cycle or shared subtree)",
                                    name, w->tree, node);
        if (w->nnext == w->capnext) {
                size_t cap = w->capnext ? w->capnext * 2 : 16;
                struct mt_item *n = realloc(w->next, cap * sizeof(*n));
                if (!n)
                        return &bd_error_nomem;
                w->next = n;
                w->capnext = cap;
        }
        w->next[w->nnext++] = (struct mt_item){enode, min, max};
        return NULL;
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

static struct bd_error *scan_node(struct mtwalk *w, const struct mt_item *it, const uint8_t *buf)
{
        const char *name = w->k->phys->name;
        uint64_t node = it->enode & ~NODE_MASK;
        unsigned type = (it->enode >> TYPE_SHIFT) & TYPE_MASK;
        /* A freed node points to itself (ma_dead_node()): the tree changed
         * under the walk, or it is garbage. */
        if ((get64(buf, w->l->parent) & ~NODE_MASK) == node)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s: maple tree at 0x%" PRIx64 ": node 0x%" PRIx64 " is dead",
                                    name, w->tree, node);
        int leaf = type < MT_RANGE_64;
        if (leaf) {
                if (w->leaf_depth && w->leaf_depth != w->depth)
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "%s: maple tree at 0x%" PRIx64 ": leaf 0x%" PRIx64
                                            " at depth %d, others at %d",
                                            name, w->tree, node, w->depth, w->leaf_depth);
                w->leaf_depth = w->depth;
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
                                    "%s: maple tree at 0x%" PRIx64 ": node 0x%" PRIx64
                                    " claims %u slots, its type has %u",
                                    name, w->tree, node, end + 1, mt_slots[type]);
        uint64_t lo = it->min;
        for (unsigned i = 0; i <= end; i++) {
                /* The kernel's logical pivot: past the stored ones, or a zero
                 * one past slot 0, the slot runs to the node's maximum. */
                uint64_t p = i < np ? get64(buf, poff + 8 * i) : it->max;
                if (!p && i)
                        p = it->max;
                if (p < lo || p > it->max)
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "%s: maple tree at 0x%" PRIx64 ": node 0x%" PRIx64
                                            " pivot %u is 0x%" PRIx64 ", outside 0x%" PRIx64
                                            "..0x%" PRIx64,
                                            name, w->tree, node, i, p, lo, it->max);
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

/* Breadth-first, a level at a time: w->next holds the level to read. */
static struct bd_error *read_tree(struct mtwalk *w)
{
        struct mt_item *level = NULL;
        size_t caplevel = 0;
        uint8_t *bufs = NULL;
        struct bd_kernel_iov *iov = NULL;
        struct bd_error *err = NULL;
        while (w->nnext && !err) {
                if (++w->depth > BD_MAPLE_HEIGHT_MAX) {
                        err =
                            bd_error_new(BD_ERR_PROTOCOL,
                                         "%s: maple tree at 0x%" PRIx64 " is deeper than %d levels",
                                         w->k->phys->name, w->tree, BD_MAPLE_HEIGHT_MAX);
                        break;
                }
                struct mt_item *t = level;
                size_t n = w->nnext, tc = caplevel;
                level = w->next;
                caplevel = w->capnext;
                w->next = t;
                w->capnext = tc;
                w->nnext = 0;
                free(bufs);
                free(iov);
                bufs = malloc(n * BD_MAPLE_NODE_SIZE);
                iov = malloc(n * sizeof(*iov));
                if (!bufs || !iov) {
                        err = &bd_error_nomem;
                        break;
                }
                for (size_t i = 0; i < n; i++)
                        iov[i] = (struct bd_kernel_iov){level[i].enode & ~NODE_MASK,
                                                        bufs + i * BD_MAPLE_NODE_SIZE,
                                                        BD_MAPLE_NODE_SIZE};
                if ((err = bd_walk_read(w->k, iov, n, "maple node")))
                        break;
                for (size_t i = 0; i < n && !err; i++)
                        err = scan_node(w, &level[i], bufs + i * BD_MAPLE_NODE_SIZE);
        }
        free(level);
        free(bufs);
        free(iov);
        return err;
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

struct bd_error *bd_maple_walk(struct bd_kernel *k, uint64_t tree_addr,
                               const struct bd_maple_layout *l, const struct bd_walk_opts *o,
                               bd_maple_cb cb, void *arg)
{
        const char *name = k->phys->name;
        if (!layout_fits(l))
                return bd_error_new(BD_ERR_INTERNAL, "%s: maple layout does not fit a %d-byte node",
                                    name, BD_MAPLE_NODE_SIZE);
        if (!bd_walk_kptr_ok(k, tree_addr, 4))
                return bd_error_new(BD_ERR_RANGE,
                                    "%s: maple tree at 0x%" PRIx64 " is not a kernel address", name,
                                    tree_addr);
        uint64_t root;
        struct bd_kernel_iov riov = {tree_addr + l->root, &root, sizeof(root)};
        struct bd_error *err = bd_walk_read(k, &riov, 1, "maple tree root");
        if (err)
                return err;
        struct mtwalk w = {.k = k, .l = l, .tree = tree_addr, .max = bd_walk_max(o)};
        bd_addr_set_init(&w.seen, w.max + 1);
        if (xa_is_node(root))
                err = add_node(&w, root, 0, UINT64_MAX, tree_addr);
        else if (root && !xa_is_internal(root))
                err = add_rec(&w, 0, 0, root); /* a lone entry at index 0 */
        if (!err)
                err = read_tree(&w);
        bd_addr_set_free(&w.seen);
        free(w.next);
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
