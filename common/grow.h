/* Growing an array by doubling, for every layer: the one place that
 * computes a new capacity, so that none of them can overflow a size. Header
 * only, like bytes.h. */
#ifndef BD_GROW_H
#define BD_GROW_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Make room for need elements of elem bytes in *arr, which has room for
 * *cap: an empty array gets first (or need, if more), a full one twice
 * its capacity (or need, if more). 0 on success, with *arr and *cap
 * updated; -1 when the size would overflow or memory runs out, with both
 * left as they were. arr is the address of any object pointer, passed as
 * (void **)&p. */
static inline int bd_grow(void **arr, size_t *cap, size_t need, size_t elem, size_t first)
{
        if (need <= *cap)
                return 0;
        size_t c;
        if (!*cap)
                c = first > need ? first : need;
        else
                c = *cap <= SIZE_MAX / 2 && *cap * 2 > need ? *cap * 2 : need;
        if (!elem || c > SIZE_MAX / elem)
                return -1;
        /* *arr has the caller's pointer type: copy its bytes rather than
         * read or write it as a void *. */
        void *old, *p;
        memcpy(&old, arr, sizeof(old));
        p = realloc(old, c * elem);
        if (!p)
                return -1;
        memcpy(arr, &p, sizeof(p));
        *cap = c;
        return 0;
}

#endif
