#include "walk_rbtree.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "addr_set.h"

#define NONE UINT32_MAX

struct rbn {
        uint64_t addr, parent;
        uint64_t raw[3]; /* parent_color, right, left as read */
        uint32_t left, right;
};

struct rbwalk {
        struct bd_kernel *k;
        uint64_t root;
        size_t max;
        struct rbn *nodes;
        size_t n, cap;
        struct bd_addr_set seen;
};

static struct bd_error *add_node(struct rbwalk *w, uint64_t addr, uint64_t parent, uint32_t *idx)
{
        const char *name = w->k->phys->name;
        if (!bd_walk_kptr_ok(w->k, addr, 8))
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s: rbtree at 0x%" PRIx64 ": node 0x%" PRIx64
                                    " has bad child pointer 0x%" PRIx64,
                                    name, w->root, parent, addr);
        if (w->n >= w->max)
                return bd_error_new(BD_ERR_RANGE,
                                    "%s: rbtree at 0x%" PRIx64 " has more than %zu nodes", name,
                                    w->root, w->max);
        int fresh = bd_addr_set_insert(&w->seen, addr);
        if (fresh < 0)
                return &bd_error_nomem;
        if (!fresh)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s: rbtree at 0x%" PRIx64 ": node 0x%" PRIx64
                                    " reached twice (cycle or shared subtree)",
                                    name, w->root, addr);
        if (w->n == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 64;
                struct rbn *nodes = realloc(w->nodes, cap * sizeof(*nodes));
                if (!nodes)
                        return &bd_error_nomem;
                w->nodes = nodes;
                w->cap = cap;
        }
        w->nodes[w->n] = (struct rbn){.addr = addr, .parent = parent, .left = NONE, .right = NONE};
        *idx = (uint32_t)w->n++;
        return NULL;
}

/* Read the tree breadth-first: nodes[lo, hi) is one level. */
static struct bd_error *read_tree(struct rbwalk *w, int check_parent)
{
        struct bd_kernel_iov *iov = NULL;
        struct bd_error *err = NULL;
        size_t lo = 0, depth = 0;
        while (lo < w->n && !err) {
                size_t hi = w->n;
                if (++depth > BD_RB_MAX_DEPTH) {
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           "%s: rbtree at 0x%" PRIx64 " is deeper than %d levels",
                                           w->k->phys->name, w->root, BD_RB_MAX_DEPTH);
                        break;
                }
                struct bd_kernel_iov *more = realloc(iov, (hi - lo) * sizeof(*iov));
                if (!more) {
                        err = &bd_error_nomem;
                        break;
                }
                iov = more;
                for (size_t i = lo; i < hi; i++)
                        iov[i - lo] = (struct bd_kernel_iov){w->nodes[i].addr, w->nodes[i].raw,
                                                             BD_RB_NODE_SIZE};
                if ((err = bd_walk_read(w->k, iov, hi - lo, "rbtree node")))
                        break;
                for (size_t i = lo; i < hi && !err; i++) {
                        /* nodes may move as add_node grows the array. */
                        uint64_t addr = w->nodes[i].addr, parent = w->nodes[i].parent;
                        uint64_t pc = w->nodes[i].raw[BD_RB_PARENT_COLOR / 8];
                        uint64_t right = w->nodes[i].raw[BD_RB_RIGHT / 8];
                        uint64_t left = w->nodes[i].raw[BD_RB_LEFT / 8];
                        if (check_parent && (pc & ~(uint64_t)3) != parent) {
                                err = bd_error_new(BD_ERR_PROTOCOL,
                                                   "%s: rbtree at 0x%" PRIx64 ": node 0x%" PRIx64
                                                   " has parent 0x%" PRIx64 ", not 0x%" PRIx64,
                                                   w->k->phys->name, w->root, addr,
                                                   pc & ~(uint64_t)3, parent);
                                break;
                        }
                        uint32_t idx;
                        if (left && !(err = add_node(w, left, addr, &idx)))
                                w->nodes[i].left = idx;
                        if (!err && right && !(err = add_node(w, right, addr, &idx)))
                                w->nodes[i].right = idx;
                }
                lo = hi;
        }
        free(iov);
        return err;
}

struct bd_error *bd_rbtree_walk(struct bd_kernel *k, uint64_t root_addr,
                                const struct bd_walk_opts *o, bd_rb_cb cb, void *arg)
{
        if (!bd_walk_kptr_ok(k, root_addr, 8))
                return bd_error_new(BD_ERR_RANGE,
                                    "%s: rbtree root at 0x%" PRIx64 " is not a kernel address",
                                    k->phys->name, root_addr);
        uint64_t top;
        struct bd_kernel_iov riov = {root_addr, &top, sizeof(top)};
        struct bd_error *err = bd_walk_read(k, &riov, 1, "rbtree root");
        if (err || !top)
                return err;
        struct rbwalk w = {.k = k, .root = root_addr, .max = bd_walk_max(o)};
        if (w.max > NONE - 1)
                w.max = NONE - 1;
        bd_addr_set_init(&w.seen, w.max + 1);
        uint32_t idx;
        /* The root's parent is NULL: its __rb_parent_color holds only the
         * colour (black). */
        err = add_node(&w, top, 0, &idx);
        if (!err)
                err = read_tree(&w, bd_walk_check_prev(o));
        bd_addr_set_free(&w.seen);
        /* In order, with a stack as deep as the tree may be. */
        uint32_t stack[BD_RB_MAX_DEPTH + 1];
        size_t sp = 0;
        uint32_t cur = 0;
        while (!err && (cur != NONE || sp)) {
                while (cur != NONE) {
                        stack[sp++] = cur;
                        cur = w.nodes[cur].left;
                }
                cur = stack[--sp];
                struct bd_error *r = cb(arg, w.nodes[cur].addr);
                if (r == &bd_walk_stop)
                        break;
                err = r;
                cur = w.nodes[cur].right;
        }
        free(w.nodes);
        return err;
}
