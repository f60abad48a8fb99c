#include "walk_list.h"

#include <inttypes.h>

/* How a list_head list and an hlist differ; the walk is the same. */
struct list_kind {
        const char *name, *head, *node; /* in messages */
        const char *back;               /* the back link: "prev", "pprev" */
        size_t head_size;               /* list_head {next, prev}, hlist_head {first} */
        int circular;                   /* ends at its head, not at NULL */
};

static const struct list_kind list_kind = {"list", "list head", "list node", "prev", 16, 1};
static const struct list_kind hlist_kind = {"hlist", "hlist head", "hlist node", "pprev", 8, 0};

/* Follow the first word of each node from the head to the end. A node's
 * second word links back: list prev holds the node before it (or the
 * head), hlist pprev the address of the pointer that led to it, which is
 * the same address, next being the first member. */
static struct bd_error *walk(struct bd_kernel *k, uint64_t head_addr, const struct bd_walk_opts *o,
                             bd_list_cb cb, void *arg, const struct list_kind *kind)
{
        struct bd_walk w;
        uint64_t pair[2] = {0, 0};
        struct bd_error *err = bd_walk_init(&w, k, kind->name, head_addr, 8, o);
        if (!err) {
                struct bd_kernel_iov iov = {head_addr, pair, kind->head_size};
                err = bd_walk_read(k, &iov, 1, kind->head);
        }
        uint64_t end = kind->circular ? head_addr : 0;
        uint64_t prev = head_addr; /* where the pointer to the next node was read */
        int stop = 0;
        while (!err && !stop && pair[0] != end) {
                /* list_head {next, prev} and hlist_node {next, pprev}: one
                 * read serves the step and the back-link check. */
                uint64_t node = pair[0];
                struct bd_kernel_iov iov = {node, pair, sizeof(pair)};
                if ((err = bd_walk_admit(&w, node, 8, node, prev)) ||
                    (err = bd_walk_read(k, &iov, 1, kind->node)))
                        break;
                if (bd_walk_check_prev(o) && pair[1] != prev) {
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           "%s at 0x%" PRIx64 ": node 0x%" PRIx64
                                           " has %s 0x%" PRIx64 ", not 0x%" PRIx64,
                                           kind->name, head_addr, node, kind->back, pair[1], prev);
                        break;
                }
                /* A callback's stop ends the walk with success. */
                err = cb(arg, node);
                if ((stop = err == &bd_walk_stop))
                        err = NULL;
                prev = node;
        }
        bd_walk_free(&w);
        return err;
}

struct bd_error *bd_list_walk(struct bd_kernel *k, uint64_t head_addr, const struct bd_walk_opts *o,
                              bd_list_cb cb, void *arg)
{
        return walk(k, head_addr, o, cb, arg, &list_kind);
}

struct bd_error *bd_hlist_walk(struct bd_kernel *k, uint64_t head_addr,
                               const struct bd_walk_opts *o, bd_list_cb cb, void *arg)
{
        return walk(k, head_addr, o, cb, arg, &hlist_kind);
}
