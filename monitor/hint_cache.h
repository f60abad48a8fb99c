/* Remembered locations (where a target's VMCOREINFO was found), so the
 * second contact, or the first one after the target died, needs no scan. */
#ifndef BD_HINT_CACHE_H
#define BD_HINT_CACHE_H

#include <stdint.h>

/* 0 when nothing is cached. */
uint64_t bd_hint_load(const char *target);
/* Best effort and atomic (write then rename): a cache never blocks a view. */
void bd_hint_store(const char *target, uint64_t addr);

#endif
