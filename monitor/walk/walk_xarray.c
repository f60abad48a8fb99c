#include "walk_xarray.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "addr_set.h"

/* The kernel's encodings (include/linux/xarray.h). */
static int xa_is_internal(uint64_t e)
{
        return (e & 3) == 2;
}

static int xa_is_node(uint64_t e)
{
        return xa_is_internal(e) && e > 4096;
}

struct xa_item {
        uint64_t node; /* address of the struct xa_node */
        uint64_t base; /* first index it covers */
        int shift;     /* what it must hold; -1 for the root, any */
};

struct xa_rec {
        uint64_t index, entry;
};

struct xawalk {
        struct bd_kernel *k;
        const struct bd_xa_layout *l;
        uint64_t xa;
        size_t max, nodes;
        struct bd_addr_set seen;
        struct xa_rec *recs;
        size_t nrecs, caprecs;
        struct xa_item *next;
        size_t nnext, capnext;
};

static struct bd_error *add_rec(struct xawalk *w, uint64_t index, uint64_t entry)
{
        if (w->nrecs == w->caprecs) {
                size_t cap = w->caprecs ? w->caprecs * 2 : 64;
                struct xa_rec *r = realloc(w->recs, cap * sizeof(*r));
                if (!r)
                        return &bd_error_nomem;
                w->recs = r;
                w->caprecs = cap;
        }
        w->recs[w->nrecs++] = (struct xa_rec){index, entry};
        return NULL;
}

static struct bd_error *add_node(struct xawalk *w, uint64_t entry, uint64_t base, int shift,
                                 uint64_t from)
{
        const char *name = w->k->phys->name;
        uint64_t node = entry - 2;
        if (!bd_walk_kptr_ok(w->k, node, 8))
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s: xarray at 0x%" PRIx64 ": bad node pointer 0x%" PRIx64
                                    " in 0x%" PRIx64,
                                    name, w->xa, entry, from);
        if (++w->nodes > w->max)
                return bd_error_new(BD_ERR_RANGE,
                                    "%s: xarray at 0x%" PRIx64 " has more than %zu nodes", name,
                                    w->xa, w->max);
        int fresh = bd_addr_set_insert(&w->seen, node);
        if (fresh < 0)
                return &bd_error_nomem;
        if (!fresh)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s: xarray at 0x%" PRIx64 ": node 0x%" PRIx64
                                    " reached twice (cycle or shared subtree)",
                                    name, w->xa, node);
        if (w->nnext == w->capnext) {
                size_t cap = w->capnext ? w->capnext * 2 : 16;
                struct xa_item *n = realloc(w->next, cap * sizeof(*n));
                if (!n)
                        return &bd_error_nomem;
                w->next = n;
                w->capnext = cap;
        }
        w->next[w->nnext++] = (struct xa_item){node, base, shift};
        return NULL;
}

/* The slots of one node that has been read into buf. */
static struct bd_error *scan_node(struct xawalk *w, const struct xa_item *it, const uint8_t *buf)
{
        const char *name = w->k->phys->name;
        int shift = buf[w->l->shift];
        if (shift % BD_XA_CHUNK_SHIFT || shift >= 64 || (it->shift >= 0 && shift != it->shift))
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s: xarray at 0x%" PRIx64 ": node 0x%" PRIx64
                                    " has shift %d, expected %s%d",
                                    name, w->xa, it->node, shift, it->shift < 0 ? "0 to " : "",
                                    it->shift < 0 ? 60 : it->shift);
        for (unsigned i = 0; i < BD_XA_CHUNK_SIZE; i++) {
                uint64_t e;
                memcpy(&e, buf + w->l->slots + 8 * i, sizeof(e));
                if (!e || (xa_is_internal(e) && !xa_is_node(e)))
                        continue; /* empty, sibling, retry, zero */
                uint64_t off = (uint64_t)i << shift;
                if (off >> shift != i || it->base + off < it->base)
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "%s: xarray at 0x%" PRIx64 ": node 0x%" PRIx64
                                            " slot %u is beyond 64 bits of index",
                                            name, w->xa, it->node, i);
                struct bd_error *err;
                if (!xa_is_node(e))
                        err = add_rec(w, it->base + off, e);
                else if (!shift)
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           "%s: xarray at 0x%" PRIx64 ": leaf node 0x%" PRIx64
                                           " slot %u points to another node",
                                           name, w->xa, it->node, i);
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

/* Breadth-first, a level at a time: w->next holds the level to read. */
static struct bd_error *read_tree(struct xawalk *w)
{
        struct xa_item *level = NULL;
        size_t caplevel = 0;
        uint8_t *bufs = NULL;
        struct bd_kernel_iov *iov = NULL;
        struct bd_error *err = NULL;
        while (w->nnext && !err) {
                /* Swap: the next level becomes this one. */
                struct xa_item *t = level;
                size_t n = w->nnext, tc = caplevel;
                level = w->next;
                caplevel = w->capnext;
                w->next = t;
                w->capnext = tc;
                w->nnext = 0;
                free(bufs);
                free(iov);
                bufs = malloc(n * w->l->size);
                iov = malloc(n * sizeof(*iov));
                if (!bufs || !iov) {
                        err = &bd_error_nomem;
                        break;
                }
                for (size_t i = 0; i < n; i++)
                        iov[i] = (struct bd_kernel_iov){level[i].node, bufs + i * w->l->size,
                                                        w->l->size};
                if ((err = bd_walk_read(w->k, iov, n, "xarray node")))
                        break;
                for (size_t i = 0; i < n && !err; i++)
                        err = scan_node(w, &level[i], bufs + i * w->l->size);
        }
        free(level);
        free(bufs);
        free(iov);
        return err;
}

struct bd_xa_layout bd_xa_layout_default(void)
{
        return (struct bd_xa_layout){.head = 8, .shift = 0, .slots = 40, .size = 576};
}

struct bd_error *bd_xa_walk(struct bd_kernel *k, uint64_t xa_addr, const struct bd_xa_layout *l,
                            const struct bd_walk_opts *o, bd_xa_cb cb, void *arg)
{
        const char *name = k->phys->name;
        if (l->size > 1u << 16 || l->shift >= l->size ||
            l->slots > l->size - 8 * BD_XA_CHUNK_SIZE || l->size < 8 * BD_XA_CHUNK_SIZE)
                return bd_error_new(BD_ERR_INTERNAL,
                                    "%s: xarray layout (shift %u, slots %u, size %u) does not fit",
                                    name, l->shift, l->slots, l->size);
        if (!bd_walk_kptr_ok(k, xa_addr, 4))
                return bd_error_new(BD_ERR_RANGE,
                                    "%s: xarray at 0x%" PRIx64 " is not a kernel address", name,
                                    xa_addr);
        uint64_t head;
        struct bd_kernel_iov hiov = {xa_addr + l->head, &head, sizeof(head)};
        struct bd_error *err = bd_walk_read(k, &hiov, 1, "xarray head");
        if (err)
                return err;
        struct xawalk w = {.k = k, .l = l, .xa = xa_addr, .max = bd_walk_max(o)};
        bd_addr_set_init(&w.seen, w.max + 1);
        if (xa_is_node(head))
                err = add_node(&w, head, 0, -1, xa_addr);
        else if (head && !xa_is_internal(head))
                err = add_rec(&w, 0, head); /* a lone entry at index 0 */
        if (!err)
                err = read_tree(&w);
        bd_addr_set_free(&w.seen);
        free(w.next);
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
