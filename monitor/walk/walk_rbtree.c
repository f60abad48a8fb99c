#include "walk_rbtree.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/grow.h"

#define NONE UINT32_MAX

struct rbn {
        uint64_t addr, parent;
        uint32_t left, right;
};

/* What the level reader queues: the node to read and its place in nodes. */
struct rb_item {
        uint64_t addr;
        uint64_t idx;
};

struct rbwalk {
        struct bd_walk walk;
        int check_parent;
        struct rbn *nodes; /* every node read, in breadth-first order */
        size_t n, cap;
};

/* parent: the node that points to addr, 0 for the top (the root points
 * to it). */
static struct bd_error *add_node(struct rbwalk *w, uint64_t addr, uint64_t parent, uint32_t *idx)
{
        struct bd_error *err =
            bd_walk_admit(&w->walk, addr, 8, addr, parent ? parent : w->walk.root);
        if (err)
                return err;
        if (bd_grow((void **)&w->nodes, &w->cap, w->n + 1, sizeof(*w->nodes), 64))
                return &bd_error_nomem;
        struct rb_item it = {addr, w->n};
        if ((err = bd_walk_push(&w->walk, &it, sizeof(it))))
                return err;
        w->nodes[w->n] = (struct rbn){.addr = addr, .parent = parent, .left = NONE, .right = NONE};
        *idx = (uint32_t)w->n++;
        return NULL;
}

static uint64_t field(const uint8_t *node, size_t off)
{
        uint64_t v;
        memcpy(&v, node + off, sizeof(v));
        return v;
}

/* One rb_node as read: check its parent, queue its children. */
static struct bd_error *scan_node(void *arg, const void *item, const uint8_t *node)
{
        struct rbwalk *w = arg;
        const struct rb_item *it = item;
        uint64_t parent = field(node, BD_RB_PARENT_COLOR) & ~(uint64_t)3;
        uint64_t left = field(node, BD_RB_LEFT), right = field(node, BD_RB_RIGHT);
        if (w->check_parent && parent != w->nodes[it->idx].parent)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "rbtree at 0x%" PRIx64 ": node 0x%" PRIx64
                                    " has parent 0x%" PRIx64 ", not 0x%" PRIx64,
                                    w->walk.root, it->addr, parent, w->nodes[it->idx].parent);
        uint32_t idx;
        struct bd_error *err = NULL;
        /* nodes may move as add_node grows the array: index it anew. */
        if (left && !(err = add_node(w, left, it->addr, &idx)))
                w->nodes[it->idx].left = idx;
        if (!err && right && !(err = add_node(w, right, it->addr, &idx)))
                w->nodes[it->idx].right = idx;
        return err;
}

/* The rb_root's rb_node: the root's parent is NULL, its
 * __rb_parent_color holding only the colour (black). */
static struct bd_error *add_top(void *arg, uint64_t top)
{
        struct rbwalk *w = arg;
        uint32_t idx;
        return add_node(w, top, 0, &idx);
}

static const struct bd_walk_tree rbtree = {
    0, "rbtree root", BD_RB_NODE_SIZE, "rbtree node", BD_RB_MAX_DEPTH, add_top, scan_node};

struct bd_error *bd_rbtree_walk(struct bd_kernel *k, uint64_t root_addr,
                                const struct bd_walk_opts *o, bd_rb_cb cb, void *arg)
{
        struct rbwalk w = {.check_parent = bd_walk_check_prev(o)};
        struct bd_error *err = bd_walk_init(&w.walk, k, "rbtree", root_addr, 8, o);
        /* Indexes are 32-bit, NONE excluded. */
        if (w.walk.max > NONE - 1)
                w.walk.max = NONE - 1;
        if (!err)
                err = bd_walk_tree(&w.walk, &rbtree, &w);
        bd_walk_free(&w.walk);
        /* In order, with a stack as deep as the tree may be. */
        uint32_t stack[BD_RB_MAX_DEPTH + 1];
        size_t sp = 0;
        uint32_t cur = w.n ? 0 : NONE;
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
