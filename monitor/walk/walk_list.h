/* list_head and hlist_head walkers. The callback gets the address of each
 * embedded node; the caller subtracts the member's offset (from BTF or a
 * stored layout) to reach the containing object. Lists cannot be batched:
 * each step costs one read of the node's two pointers. */
#ifndef BD_WALK_LIST_H
#define BD_WALK_LIST_H

#include <stdint.h>

#include "walk.h"

/* Return NULL to go on, &bd_walk_stop to end the walk without an error, or
 * an error, which the walk returns as it is. */
typedef struct bd_error *(*bd_list_cb)(void *arg, uint64_t node_addr);

/* Every node of the circular list whose head (struct list_head, {next,
 * prev}) is at head_addr, in next order, the head excluded. Fails on a
 * NULL or non-kernel pointer, a cycle that misses the head, more than
 * o->max entries, and with o->check_prev a node whose prev is not the node
 * before it. Entries visited before the failure have been passed to cb. o
 * may be NULL. */
struct bd_error *bd_list_walk(struct bd_kernel *k, uint64_t head_addr, const struct bd_walk_opts *o,
                              bd_list_cb cb, void *arg);

/* Every node of the NULL-terminated hlist whose head (struct hlist_head,
 * {first}) is at head_addr; hlist_node is {next, pprev}, and check_prev
 * checks pprev against the address of the pointer that led to the node. */
struct bd_error *bd_hlist_walk(struct bd_kernel *k, uint64_t head_addr,
                               const struct bd_walk_opts *o, bd_list_cb cb, void *arg);

#endif
