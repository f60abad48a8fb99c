/* A set of 64-bit addresses: how a walker over hostile memory knows it has
 * been somewhere before. Open addressing, grown by doubling up to a bound
 * fixed at init, so a corrupt structure cannot make it eat the heap. */
#ifndef BD_ADDR_SET_H
#define BD_ADDR_SET_H

#include <stddef.h>
#include <stdint.h>

struct bd_addr_set {
        uint64_t *slots; /* 0 marks an empty slot */
        size_t cap;      /* power of two, or 0 before the first insert */
        size_t count;
        size_t max; /* most addresses it will ever hold */
        int has_zero;
};

/* max: the most addresses the set may hold (0: 1 << 22). Allocates nothing
 * until the first insert. */
void bd_addr_set_init(struct bd_addr_set *s, size_t max);
/* 1 if addr was added, 0 if it was already there, -1 if memory ran out or
 * the set already holds max addresses. */
int bd_addr_set_insert(struct bd_addr_set *s, uint64_t addr);
int bd_addr_set_contains(const struct bd_addr_set *s, uint64_t addr);
void bd_addr_set_free(struct bd_addr_set *s);

#endif
