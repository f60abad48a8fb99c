/* What every kernel data-structure walker shares: its bounds, the way a
 * callback ends a walk early, the checks on pointers read from memory that
 * may belong to a dying or corrupt kernel, and the reading of a tree a
 * level at a time. */
#ifndef BD_WALK_H
#define BD_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/error.h"
#include "../kernel/kernel.h"
#include "addr_set.h"

#define BD_WALK_DEFAULT_MAX (1u << 20)

struct bd_walk_opts {
        /* Most list entries, or tree nodes, a walk visits before giving
         * up with BD_ERR_RANGE; 0 means BD_WALK_DEFAULT_MAX, and more
         * than 2^32 means 2^32. Trees hold what they read until the walk
         * ends: memory grows with this bound, not with what memory says. */
        size_t max;
        /* Check back links too: list prev, hlist pprev, rb_node parent. */
        int check_prev;
};

/* A callback returns this to end a walk early; the walk then returns
 * NULL. Static: never pass it to bd_error_destroy(). */
extern struct bd_error bd_walk_stop;

size_t bd_walk_max(const struct bd_walk_opts *o);
int bd_walk_check_prev(const struct bd_walk_opts *o);

/* A plausible pointer to a kernel object: non-NULL, in the kernel half of
 * the address space for k's paging mode, aligned to align (a power of
 * two). */
int bd_walk_kptr_ok(const struct bd_kernel *k, uint64_t addr, uint64_t align);

/* The objects a walk visits, gathered: a walk callback (arg: the struct)
 * that keeps each node's address less minus (the node's offset in its
 * object), for a caller that reads their fields in one batch afterwards. */
struct bd_walk_nodes {
        uint64_t *a;
        size_t n, cap;
        int64_t minus;
};
struct bd_error *bd_walk_gather_node(void *arg, uint64_t node);

/* bd_kernel_read_batch() of one level of a structure (what, e.g. "rbtree
 * node"). A fault comes back as a fault at the same address, "<what> at
 * <address> unreadable: ..."; any other error as "reading <n> <what>s:
 * ...". The code is the inner error's. */
struct bd_error *bd_walk_read(struct bd_kernel *k, const struct bd_kernel_iov *iov, size_t n,
                              const char *what);

/* One walk of one structure: what every walker checks before it reads a
 * node, and for trees the queue of nodes the next level reads. Errors name
 * the structure and its root; the caller adds the target's name. */
struct bd_walk {
        struct bd_kernel *k;
        const char *what; /* the structure, for messages: "list", "xarray" */
        uint64_t root;    /* its head or root */
        size_t max;       /* nodes it may have */
        size_t count;     /* nodes admitted */
        struct bd_addr_set seen;
        /* Trees: items of the nodes queued for the next level, item_size
         * bytes each, starting with the address to read (a uint64_t). */
        uint8_t *next;
        size_t nnext, capnext, item_size;
        unsigned depth; /* levels read so far */
};

/* Set w up for the structure what whose head or root is at root, with
 * o's bound (o may be NULL). Fails with BD_ERR_RANGE if root is not a
 * kernel address aligned to root_align; w needs bd_walk_free() either
 * way. */
struct bd_error *bd_walk_init(struct bd_walk *w, struct bd_kernel *k, const char *what,
                              uint64_t root, uint64_t root_align, const struct bd_walk_opts *o);
void bd_walk_free(struct bd_walk *w);

/* Let the node at node into the walk: ptr is the pointer to it as read
 * (node with any tag bits), from the address of what held it. Fails with
 * BD_ERR_PROTOCOL if node is not a kernel address aligned to align, with
 * BD_ERR_RANGE if the walk already has max nodes, with BD_ERR_PROTOCOL if
 * node was let in before (a cycle, or a node shared), and with
 * &bd_error_nomem. */
struct bd_error *bd_walk_admit(struct bd_walk *w, uint64_t node, uint64_t align, uint64_t ptr,
                               uint64_t from);
/* The error bd_walk_admit() gives a bad pointer, for checks of its own. */
struct bd_error *bd_walk_bad_pointer(const struct bd_walk *w, uint64_t ptr, uint64_t from);

/* Queue an admitted node's item (size bytes, the same for every item of
 * a walk, starting with the address to read) for the next level. */
struct bd_error *bd_walk_push(struct bd_walk *w, const void *item, size_t size);

/* Gets each node of a level: the item it was queued with and node_size
 * bytes read from its address. It pushes the nodes of the next level. */
typedef struct bd_error *(*bd_walk_scan)(void *arg, const void *item, const uint8_t *node);

/* A kind of tree, read breadth-first, one batched read per level. */
struct bd_walk_tree {
        uint64_t top_off;      /* where in the root its pointer to the top lies */
        const char *top_what;  /* that pointer, in read errors: "xarray head" */
        size_t node_size;      /* bytes read per node */
        const char *node_what; /* a node, in read errors: "xarray node" */
        unsigned max_depth;    /* levels a tree of the kind can have */
        /* Gets the top pointer unless it is NULL: pushes the node (or
         * keeps what the pointer holds, when it is no node). */
        struct bd_error *(*top)(void *arg, uint64_t top);
        bd_walk_scan scan;
};

/* Read w's tree: the root's pointer to the top, then the queued nodes a
 * level at a time, each scanned once its level has been read. Fails with
 * BD_ERR_PROTOCOL past t->max_depth levels. */
struct bd_error *bd_walk_tree(struct bd_walk *w, const struct bd_walk_tree *t, void *arg);

#endif
