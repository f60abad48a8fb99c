#include "walk_hash.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/grow.h"
#include "gather.h"

/* A chain being followed: the node to read next, and the address of the
 * pointer that led to it (the head, or the node before). */
struct chain {
        uint64_t bucket, node, from;
        size_t table;
};

struct walk {
        struct bd_kernel *k;
        const struct bd_hash_table *t;
        struct bd_hash_result *r;
        struct bd_walk w;
        struct chain *cur, *next;
        size_t ncur, nnext, capcur, capnext;
        char what[128]; /* the chain being admitted, for the walk's messages */
};

static uint64_t word(const uint8_t *p)
{
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

static struct bd_error *check_table(const struct bd_kernel *k, const struct bd_hash_table *t)
{
        if (t->stride < 8 || t->stride > BD_HASH_STRIDE_MAX || t->head > t->stride - 8 ||
            t->len < 8 || t->len > BD_HASH_READ_MAX || t->node > t->len - 8 ||
            t->nbuckets > SIZE_MAX / t->stride)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s: %" PRIu64 " buckets of %" PRIu32
                                    " bytes, heads at %" PRIu32 ", nodes at %" PRIu32 " of %" PRIu32
                                    " bytes read: not a hash table's layout",
                                    t->what, t->nbuckets, t->stride, t->head, t->node, t->len);
        if (t->nbuckets && !bd_walk_kptr_ok(k, t->addr, 8))
                return bd_error_new(BD_ERR_PROTOCOL, "%s at 0x%" PRIx64 ": not a kernel address",
                                    t->what, t->addr);
        return NULL;
}

/* Keep why a chain was cut short; only running out of memory, or of the
 * walk's bound, ends the walk. */
static struct bd_error *cut(struct bd_hash_result *r, struct bd_error *err)
{
        if (err == &bd_error_nomem || err->code == BD_ERR_RANGE)
                return err;
        r->broken++;
        if (r->first_broken)
                bd_error_destroy(err);
        else
                r->first_broken = err;
        return NULL;
}

static struct bd_error *follow(struct walk *h, uint64_t bucket, uint64_t node, uint64_t from,
                               size_t table)
{
        /* Each chain has a node at least: more chains than the walk may
         * read need not be read, nor held. */
        if (h->nnext >= h->w.max)
                return bd_error_new(BD_ERR_RANGE,
                                    "%s: more chains than the %zu nodes the walk may read",
                                    h->t[table].what, h->w.max);
        if (bd_grow((void **)&h->next, &h->capnext, h->nnext + 1, sizeof(*h->next), 64))
                return &bd_error_nomem;
        h->next[h->nnext++] = (struct chain){bucket, node, from, table};
        return NULL;
}

/* Where a chain goes after the node that pointed to next (from): on, or
 * to its end. */
static struct bd_error *step(struct walk *h, const struct chain *c, uint64_t next)
{
        const struct bd_hash_table *t = &h->t[c->table];
        if (t->nulls ? next & 1 : !next)
                return NULL;
        if (!next)
                return cut(h->r, bd_error_new(BD_ERR_PROTOCOL,
                                              "%s bucket %" PRIu64 ": NULL in 0x%" PRIx64
                                              " where a nulls marker should end the chain",
                                              t->what, c->bucket, c->from));
        return follow(h, c->bucket, next, c->from, c->table);
}

/* The heads of every bucket of every table, in one batch. */
static struct bd_error *read_heads(struct walk *h, size_t n)
{
        uint8_t **arrays = calloc(n, sizeof(*arrays));
        struct bd_kernel_iov *iov = calloc(n, sizeof(*iov));
        struct bd_error *err = arrays && iov ? NULL : &bd_error_nomem;
        for (size_t i = 0; i < n && !err; i++) {
                size_t size = (size_t)h->t[i].nbuckets * h->t[i].stride;
                if (!(arrays[i] = malloc(size ? size : 1)))
                        err = &bd_error_nomem;
                iov[i] = (struct bd_kernel_iov){h->t[i].addr, arrays[i], size};
        }
        if (!err)
                err = bd_walk_read(h->k, iov, n, "hash bucket array");
        for (size_t i = 0; i < n && !err; i++) {
                const struct bd_hash_table *t = &h->t[i];
                for (uint64_t b = 0; b < t->nbuckets && !err; b++) {
                        uint64_t at = b * t->stride + t->head;
                        struct chain c = {b, 0, t->addr + at, i};
                        err = step(h, &c, word(arrays[i] + at));
                }
        }
        for (size_t i = 0; arrays && i < n; i++)
                free(arrays[i]);
        free(arrays);
        free(iov);
        return err;
}

/* Let this level's nodes into the walk, keeping the chains whose node
 * checks out. */
static struct bd_error *admit_level(struct walk *h)
{
        size_t m = 0;
        for (size_t i = 0; i < h->ncur; i++) {
                const struct chain *c = &h->cur[i];
                const struct bd_hash_table *t = &h->t[c->table];
                /* Its errors name the chain: the bucket, and its head. */
                snprintf(h->what, sizeof(h->what), "%s bucket %" PRIu64, t->what, c->bucket);
                h->w.what = h->what;
                h->w.root = t->addr + c->bucket * t->stride + t->head;
                struct bd_error *err = bd_walk_admit(&h->w, c->node, 8, c->node, c->from);
                if (!err)
                        h->cur[m++] = *c;
                else if ((err = cut(h->r, err)))
                        return err;
        }
        h->ncur = m;
        return NULL;
}

/* Read a level of nodes with their objects and pass them on. */
static struct bd_error *read_level(struct walk *h, uint8_t *bufs, size_t len,
                                   struct bd_kernel_iov *iov, uint8_t *ok, bd_hash_cb cb, void *arg)
{
        for (size_t i = 0; i < h->ncur; i++) {
                const struct bd_hash_table *t = &h->t[h->cur[i].table];
                iov[i] = (struct bd_kernel_iov){h->cur[i].node - t->node, bufs + i * len, t->len};
        }
        struct bd_error *err = bd_gather_read(h->k, iov, h->ncur, 1, ok);
        for (size_t i = 0; i < h->ncur && !err; i++) {
                const struct chain *c = &h->cur[i];
                const struct bd_hash_table *t = &h->t[c->table];
                if (!ok[i]) {
                        err = cut(h->r, bd_error_fault(BD_ERR_PROTOCOL, c->node,
                                                       "%s bucket %" PRIu64 ": node 0x%" PRIx64
                                                       " does not read",
                                                       t->what, c->bucket, c->node));
                        continue;
                }
                const uint8_t *obj = bufs + i * len;
                if (!(err = cb(arg, c->table, c->node - t->node, obj)))
                        err = step(h, &(struct chain){c->bucket, c->node, c->node, c->table},
                                   word(obj + t->node));
        }
        return err;
}

static struct bd_error *walk_levels(struct walk *h, size_t n, bd_hash_cb cb, void *arg)
{
        size_t len = 8;
        for (size_t i = 0; i < n; i++)
                len = h->t[i].len > len ? h->t[i].len : len;
        uint8_t *bufs = NULL, *ok = NULL;
        struct bd_kernel_iov *iov = NULL;
        size_t capbufs = 0, capok = 0, capiov = 0;
        struct bd_error *err = NULL;
        while (h->nnext && !err) {
                struct chain *tc = h->cur;
                size_t cap = h->capcur;
                h->cur = h->next;
                h->capcur = h->capnext;
                h->ncur = h->nnext;
                h->next = tc;
                h->capnext = cap;
                h->nnext = 0;
                h->r->levels++;
                if ((err = admit_level(h)))
                        break;
                if (!h->ncur) /* every chain of the level was cut */
                        break;
                if (bd_grow((void **)&bufs, &capbufs, h->ncur, len, 64) ||
                    bd_grow((void **)&ok, &capok, h->ncur, 1, 64) ||
                    bd_grow((void **)&iov, &capiov, h->ncur, sizeof(*iov), 64)) {
                        err = &bd_error_nomem;
                        break;
                }
                err = read_level(h, bufs, len, iov, ok, cb, arg);
        }
        free(bufs);
        free(ok);
        free(iov);
        return err;
}

struct bd_error *bd_hash_walk(struct bd_kernel *k, const struct bd_hash_table *t, size_t n,
                              const struct bd_walk_opts *o, bd_hash_cb cb, void *arg,
                              struct bd_hash_result *r)
{
        memset(r, 0, sizeof(*r));
        struct bd_error *err = NULL;
        for (size_t i = 0; i < n && !err; i++)
                err = check_table(k, &t[i]);
        if (err || !n)
                return err;
        struct walk h = {.k = k, .t = t, .r = r};
        if (!(err = bd_walk_init(&h.w, k, t[0].what, t[0].addr, 8, o)) &&
            !(err = read_heads(&h, n)))
                err = walk_levels(&h, n, cb, arg);
        bd_walk_free(&h.w);
        free(h.cur);
        free(h.next);
        return err;
}
