/* What every kernel data-structure walker shares: its bounds, the way a
 * callback ends a walk early, and the checks on pointers read from memory
 * that may belong to a dying or corrupt kernel. */
#ifndef BD_WALK_H
#define BD_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/error.h"
#include "../kernel/kernel.h"

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

/* bd_kernel_read_batch() of one level of a structure; on failure the error
 * names the structure (what, e.g. "rbtree node") and, when it can be told,
 * the address that could not be read. */
struct bd_error *bd_walk_read(struct bd_kernel *k, const struct bd_kernel_iov *iov, size_t n,
                              const char *what);

#endif
