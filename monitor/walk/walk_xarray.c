#include "walk_xarray.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/grow.h"

/* What the level reader queues: the node to read and what it must be. */
struct xa_item {
        uint64_t node; /* address of the struct xa_node */
        uint64_t base; /* first index it covers */
        int shift;     /* what it must hold; -1 for the root, any */
};

struct xa_rec {
        uint64_t index, entry;
};

struct xawalk {
        struct bd_walk walk;
        const struct bd_xa_layout *l;
        struct xa_rec *recs;
        size_t nrecs, caprecs;
};

static struct bd_error *add_rec(struct xawalk *w, uint64_t index, uint64_t entry)
{
        if (bd_grow((void **)&w->recs, &w->caprecs, w->nrecs + 1, sizeof(*w->recs), 64))
                return &bd_error_nomem;
        w->recs[w->nrecs++] = (struct xa_rec){index, entry};
        return NULL;
}

static struct bd_error *add_node(struct xawalk *w, uint64_t entry, uint64_t base, int shift,
                                 uint64_t from)
{
        struct xa_item it = {entry - 2, base, shift};
        struct bd_error *err = bd_walk_admit(&w->walk, it.node, 8, entry, from);
        return err ? err : bd_walk_push(&w->walk, &it, sizeof(it));
}

/* The slots of one node that has been read into buf. */
static struct bd_error *scan_node(void *arg, const void *item, const uint8_t *buf)
{
        struct xawalk *w = arg;
        const struct xa_item *it = item;
        uint64_t xa = w->walk.root;
        int shift = buf[w->l->shift];
        if (shift % BD_XA_CHUNK_SHIFT || shift >= 64 || (it->shift >= 0 && shift != it->shift))
                return bd_error_new(
                    BD_ERR_PROTOCOL,
                    "xarray at 0x%" PRIx64 ": node 0x%" PRIx64 " has shift %d, expected %s%d", xa,
                    it->node, shift, it->shift < 0 ? "0 to " : "", it->shift < 0 ? 60 : it->shift);
        for (unsigned i = 0; i < BD_XA_CHUNK_SIZE; i++) {
                uint64_t e;
                memcpy(&e, buf + w->l->slots + 8 * i, sizeof(e));
                if (!e || (bd_xa_is_internal(e) && !bd_xa_is_node(e)))
                        continue; /* empty, sibling, retry, zero */
                uint64_t off = (uint64_t)i << shift;
                if (off >> shift != i || it->base + off < it->base)
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "xarray at 0x%" PRIx64 ": node 0x%" PRIx64
                                            " slot %u is beyond 64 bits of index",
                                            xa, it->node, i);
                struct bd_error *err;
                if (!bd_xa_is_node(e))
                        err = add_rec(w, it->base + off, e);
                else if (!shift)
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           "xarray at 0x%" PRIx64 ": leaf node 0x%" PRIx64
                                           " slot %u points to another node",
                                           xa, it->node, i);
                else
                        err = add_node(w, e, it->base + off, shift - BD_XA_CHUNK_SHIFT, it->node);
                if (err)
                        return err;
        }
        return NULL;
}

static int rec_cmp(const void *a, const void *b)
{
        uint64_t x = ((const struct xa_rec *)a)->index, y = ((const struct xa_rec *)b)->index;
        return (x > y) - (x < y);
}

struct bd_xa_layout bd_xa_layout_default(void)
{
        return (struct bd_xa_layout){.head = 8, .shift = 0, .slots = 40, .size = 576};
}

/* xa_head: a node, a lone entry at index 0, or an internal entry the
 * kernel skips. */
static struct bd_error *add_head(void *arg, uint64_t head)
{
        struct xawalk *w = arg;
        if (bd_xa_is_node(head))
                return add_node(w, head, 0, -1, w->walk.root);
        return bd_xa_is_internal(head) ? NULL : add_rec(w, 0, head);
}

struct bd_error *bd_xa_walk(struct bd_kernel *k, uint64_t xa_addr, const struct bd_xa_layout *l,
                            const struct bd_walk_opts *o, bd_xa_cb cb, void *arg)
{
        if (l->size > BD_XA_NODE_MAX || l->shift >= l->size ||
            l->slots > l->size - 8 * BD_XA_CHUNK_SIZE || l->size < 8 * BD_XA_CHUNK_SIZE)
                return bd_error_new(BD_ERR_INTERNAL,
                                    "xarray layout (shift %u, slots %u, size %u) does not fit",
                                    l->shift, l->slots, l->size);
        /* Shifts fall by 6 a level from at most 60: never deeper than 11. */
        const struct bd_walk_tree xarray = {
            l->head,  "xarray head", l->size, "xarray node", 64 / BD_XA_CHUNK_SHIFT + 1,
            add_head, scan_node};
        struct xawalk w = {.l = l};
        struct bd_error *err = bd_walk_init(&w.walk, k, "xarray", xa_addr, 4, o);
        if (!err)
                err = bd_walk_tree(&w.walk, &xarray, &w);
        bd_walk_free(&w.walk);
        if (!err && w.nrecs) {
                qsort(w.recs, w.nrecs, sizeof(*w.recs), rec_cmp);
                for (size_t i = 0; i < w.nrecs && !err; i++) {
                        struct bd_error *r = cb(arg, w.recs[i].index, w.recs[i].entry);
                        if (r == &bd_walk_stop)
                                break;
                        err = r;
                }
        }
        free(w.recs);
        return err;
}
