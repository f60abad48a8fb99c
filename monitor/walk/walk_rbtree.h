/* In-order walk of a red-black tree (struct rb_root, or the rb_root at the
 * start of an rb_root_cached). The tree is read breadth-first, one batched
 * read per level, and emitted only once all of it has been read and
 * checked: a corrupt tree yields an error and no nodes. */
#ifndef BD_WALK_RBTREE_H
#define BD_WALK_RBTREE_H

#include <stdint.h>

#include "walk.h"

/* The kernel's struct rb_node, whose layout has not changed since 2.6:
 * __rb_parent_color, rb_right, rb_left. */
#define BD_RB_PARENT_COLOR 0
#define BD_RB_RIGHT        8
#define BD_RB_LEFT         16
#define BD_RB_NODE_SIZE    24
/* Deeper than any red-black tree of 2^64 nodes can be. */
#define BD_RB_MAX_DEPTH 128

/* Return NULL to go on, &bd_walk_stop to end early, or an error. node_addr
 * is the rb_node's address: the caller subtracts its offset in the
 * containing struct. */
typedef struct bd_error *(*bd_rb_cb)(void *arg, uint64_t node_addr);

/* Fails on a bad or repeated node pointer, more than o->max nodes, a tree
 * deeper than BD_RB_MAX_DEPTH, and with o->check_prev a node whose parent
 * is not the node that points to it. o may be NULL. */
struct bd_error *bd_rbtree_walk(struct bd_kernel *k, uint64_t root_addr,
                                const struct bd_walk_opts *o, bd_rb_cb cb, void *arg);

#endif
