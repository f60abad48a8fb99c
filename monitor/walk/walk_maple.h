/* Walk of a maple tree (Linux 6.1+: mm->mm_mt, the VMAs of a process). The
 * tree is read one batched read per level and its entries emitted in
 * ascending order once all of it has been read and checked. */
#ifndef BD_WALK_MAPLE_H
#define BD_WALK_MAPLE_H

#include <stdint.h>

#include "walk.h"

/* Every maple node is 256 bytes and 256-aligned: the encoded pointer keeps
 * the node type in the low byte. */
#define BD_MAPLE_NODE_SIZE  256
#define BD_MAPLE_HEIGHT_MAX 31

/* Offsets within the tree and its nodes; callers take them from BTF. */
struct bd_maple_layout {
        uint32_t root;         /* ma_root in struct maple_tree */
        uint32_t parent;       /* parent in struct maple_node */
        uint32_t dense_slot;   /* slot[31] of a maple_dense node */
        uint32_t range_pivot;  /* pivot[15] in struct maple_range_64 */
        uint32_t range_slot;   /* slot[16] in struct maple_range_64 */
        uint32_t range_meta;   /* meta.end in maple_range_64; 0: none */
        uint32_t arange_pivot; /* pivot[9] in struct maple_arange_64 */
        uint32_t arange_slot;  /* slot[10] in struct maple_arange_64 */
        uint32_t arange_meta;  /* meta.end in maple_arange_64; 0: none */
};

/* Linux 6.1 x86-64 without lockdep: root 8, parent 0, dense_slot 8,
 * range_pivot 8, range_slot 128, range_meta 248, arange_pivot 8,
 * arange_slot 80, arange_meta 240. */
struct bd_maple_layout bd_maple_layout_default(void);

/* Return NULL to go on, &bd_walk_stop to end early, or an error. The entry
 * covers the indexes first..last. */
typedef struct bd_error *(*bd_maple_cb)(void *arg, uint64_t first, uint64_t last, uint64_t entry);

/* Every non-NULL leaf entry of the maple tree at tree_addr. Fails on a bad
 * node pointer or type, a node reached twice, a dead node, pivots not
 * ascending or outside the range the parent gives the node, leaves at
 * different depths, a tree deeper than BD_MAPLE_HEIGHT_MAX or with more
 * than o->max nodes. o may be NULL. */
struct bd_error *bd_maple_walk(struct bd_kernel *k, uint64_t tree_addr,
                               const struct bd_maple_layout *l, const struct bd_walk_opts *o,
                               bd_maple_cb cb, void *arg);

#endif
