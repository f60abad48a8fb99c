#include "walk.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/grow.h"

struct bd_error bd_walk_stop = {.code = BD_OK, .message = "walk stopped by its callback"};

size_t bd_walk_max(const struct bd_walk_opts *o)
{
        /* Beyond 2^32 no bound is meant, and max + 1 must not wrap. */
        if (!o || !o->max)
                return BD_WALK_DEFAULT_MAX;
        return o->max < (size_t)1 << 32 ? o->max : (size_t)1 << 32;
}

int bd_walk_check_prev(const struct bd_walk_opts *o)
{
        return o && o->check_prev;
}

int bd_walk_kptr_ok(const struct bd_kernel *k, uint64_t addr, uint64_t align)
{
        /* Kernel objects live in the upper canonical half; anything else
         * read where a kernel pointer belongs is corruption. */
        uint64_t low = k->levels == 5 ? 0xff00000000000000ull : 0xffff800000000000ull;
        return addr >= low && !(addr & (align - 1));
}

struct bd_error *bd_walk_gather_node(void *arg, uint64_t node)
{
        struct bd_walk_nodes *l = arg;
        if (bd_grow((void **)&l->a, &l->cap, l->n + 1, sizeof(*l->a), 64))
                return &bd_error_nomem;
        l->a[l->n++] = node - (uint64_t)l->minus;
        return NULL;
}

struct bd_error *bd_walk_read(struct bd_kernel *k, const struct bd_kernel_iov *iov, size_t n,
                              const char *what)
{
        struct bd_error *err = bd_kernel_read_batch(k, iov, n);
        /* The inner error keeps its code and, for a fault, its address. */
        if (err && err->has_address)
                return bd_error_wrap(err, "%s at 0x%" PRIx64 " unreadable", what, err->address);
        return bd_error_wrap(err, "reading %zu %s%s", n, what, n == 1 ? "" : "s");
}

struct bd_error *bd_walk_init(struct bd_walk *w, struct bd_kernel *k, const char *what,
                              uint64_t root, uint64_t root_align, const struct bd_walk_opts *o)
{
        memset(w, 0, sizeof(*w));
        w->k = k;
        w->what = what;
        w->root = root;
        w->max = bd_walk_max(o);
        bd_addr_set_init(&w->seen, w->max + 1);
        if (!bd_walk_kptr_ok(k, root, root_align))
                return bd_error_new(BD_ERR_RANGE, "%s at 0x%" PRIx64 " is not a kernel address",
                                    what, root);
        return NULL;
}

void bd_walk_free(struct bd_walk *w)
{
        bd_addr_set_free(&w->seen);
        free(w->next);
        w->next = NULL;
        w->nnext = w->capnext = 0;
}

struct bd_error *bd_walk_bad_pointer(const struct bd_walk *w, uint64_t ptr, uint64_t from)
{
        return bd_error_new(BD_ERR_PROTOCOL,
                            "%s at 0x%" PRIx64 ": bad node pointer 0x%" PRIx64 " in 0x%" PRIx64,
                            w->what, w->root, ptr, from);
}

struct bd_error *bd_walk_admit(struct bd_walk *w, uint64_t node, uint64_t align, uint64_t ptr,
                               uint64_t from)
{
        if (!bd_walk_kptr_ok(w->k, node, align))
                return bd_walk_bad_pointer(w, ptr, from);
        if (++w->count > w->max)
                return bd_error_new(BD_ERR_RANGE,
                                    "%s at 0x%" PRIx64
                                    " has more than %zu nodes: stopped at 0x%" PRIx64,
                                    w->what, w->root, w->max, node);
        int fresh = bd_addr_set_insert(&w->seen, node);
        if (fresh < 0)
                return &bd_error_nomem;
        if (!fresh)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s at 0x%" PRIx64 ": node 0x%" PRIx64
                                    " reached twice (a cycle, or a node linked from two places)",
                                    w->what, w->root, node);
        return NULL;
}

struct bd_error *bd_walk_push(struct bd_walk *w, const void *item, size_t size)
{
        w->item_size = size;
        if (bd_grow((void **)&w->next, &w->capnext, w->nnext + 1, size, 16))
                return &bd_error_nomem;
        memcpy(w->next + w->nnext++ * size, item, size);
        return NULL;
}

/* Read the queued nodes a level at a time and scan them, which queues
 * the next level. */
static struct bd_error *read_levels(struct bd_walk *w, const struct bd_walk_tree *t, void *arg)
{
        uint8_t *level = NULL, *bufs = NULL;
        struct bd_kernel_iov *iov = NULL;
        size_t caplevel = 0, capbufs = 0, capiov = 0, size = t->node_size;
        struct bd_error *err = NULL;
        while (w->nnext && !err) {
                if (++w->depth > t->max_depth) {
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           "%s at 0x%" PRIx64 " is deeper than %u levels", w->what,
                                           w->root, t->max_depth);
                        break;
                }
                /* Swap: the queued level becomes this one, and the next
                 * level is queued in what held the one before. */
                uint8_t *tl = level;
                size_t n = w->nnext, tc = caplevel;
                level = w->next;
                caplevel = w->capnext;
                w->next = tl;
                w->capnext = tc;
                w->nnext = 0;
                if (bd_grow((void **)&bufs, &capbufs, n, size, 16) ||
                    bd_grow((void **)&iov, &capiov, n, sizeof(*iov), 16)) {
                        err = &bd_error_nomem;
                        break;
                }
                for (size_t i = 0; i < n; i++) {
                        uint64_t addr;
                        memcpy(&addr, level + i * w->item_size, sizeof(addr));
                        iov[i] = (struct bd_kernel_iov){addr, bufs + i * size, size};
                }
                if ((err = bd_walk_read(w->k, iov, n, t->node_what)))
                        break;
                for (size_t i = 0; i < n && !err; i++)
                        err = t->scan(arg, level + i * w->item_size, bufs + i * size);
        }
        free(level);
        free(bufs);
        free(iov);
        return err;
}

struct bd_error *bd_walk_tree(struct bd_walk *w, const struct bd_walk_tree *t, void *arg)
{
        uint64_t top;
        struct bd_kernel_iov iov = {w->root + t->top_off, &top, sizeof(top)};
        struct bd_error *err = bd_walk_read(w->k, &iov, 1, t->top_what);
        if (!err && top)
                err = t->top(arg, top);
        return err ? err : read_levels(w, t, arg);
}
