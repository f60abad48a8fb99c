/* Walk of an XArray: also what an IDR and a radix tree are since 4.20. The
 * tree is read one batched read per level and its entries emitted in index
 * order once all of it has been read and checked. */
#ifndef BD_WALK_XARRAY_H
#define BD_WALK_XARRAY_H

#include <stdint.h>

#include "walk.h"

#define BD_XA_CHUNK_SHIFT 6
#define BD_XA_CHUNK_SIZE  64

/* The kernel's encodings of an entry (include/linux/xarray.h), which the
 * maple tree shares. */
static inline int bd_xa_is_internal(uint64_t e)
{
        return (e & 3) == 2;
}

static inline int bd_xa_is_node(uint64_t e)
{
        return bd_xa_is_internal(e) && e > 4096;
}

/* Where the walker finds what it needs; callers take it from BTF. */
struct bd_xa_layout {
        uint32_t head;  /* xa_head in struct xarray */
        uint32_t shift; /* shift (a byte) in struct xa_node */
        uint32_t slots; /* slots[XA_CHUNK_SIZE] in struct xa_node */
        uint32_t size;  /* sizeof(struct xa_node) */
};

/* struct xa_node with its 64 slots is 576 bytes on every 64-bit kernel: a
 * layout claiming much more is corrupt, and would size every level's read. */
#define BD_XA_NODE_MAX 1024

/* Linux 6.1 x86-64 without lockdep: head 8, shift 0, slots 40, size 576. */
struct bd_xa_layout bd_xa_layout_default(void);

/* Return NULL to go on, &bd_walk_stop to end early, or an error. entry is
 * the raw slot value: a pointer, or a value entry ((entry & 1) == 1). */
typedef struct bd_error *(*bd_xa_cb)(void *arg, uint64_t index, uint64_t entry);

/* Every entry of the xarray at xa_addr, except the internal ones the
 * kernel skips too (retry, zero, sibling). A multi-index entry is emitted
 * once, at its first index. Fails on a bad or repeated node pointer, a
 * node whose shift is not its parent's minus 6, an entry beyond 64 bits of
 * index, more than o->max nodes. o may be NULL. */
struct bd_error *bd_xa_walk(struct bd_kernel *k, uint64_t xa_addr, const struct bd_xa_layout *l,
                            const struct bd_walk_opts *o, bd_xa_cb cb, void *arg);

#endif
