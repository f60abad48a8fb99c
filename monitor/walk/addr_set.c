#include "addr_set.h"

#include <stdlib.h>

#define DEFAULT_MAX (1u << 22)
#define INITIAL_CAP 64

/* Node addresses share their low bits (alignment) and often their high
 * ones: mix every bit into the probe start. */
static uint64_t mix(uint64_t x)
{
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ull;
        x ^= x >> 33;
        return x;
}

void bd_addr_set_init(struct bd_addr_set *s, size_t max)
{
        s->slots = NULL;
        s->cap = 0;
        s->count = 0;
        s->max = max ? max : DEFAULT_MAX;
        s->has_zero = 0;
}

static size_t probe(const uint64_t *slots, size_t cap, uint64_t addr)
{
        size_t i = (size_t)mix(addr) & (cap - 1);
        while (slots[i] && slots[i] != addr)
                i = (i + 1) & (cap - 1);
        return i;
}

static int grow(struct bd_addr_set *s)
{
        size_t cap = s->cap ? s->cap * 2 : INITIAL_CAP;
        if (cap < s->cap || cap > SIZE_MAX / sizeof(uint64_t))
                return -1;
        uint64_t *slots = calloc(cap, sizeof(uint64_t));
        if (!slots)
                return -1;
        for (size_t i = 0; i < s->cap; i++)
                if (s->slots[i])
                        slots[probe(slots, cap, s->slots[i])] = s->slots[i];
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
        return 0;
}

int bd_addr_set_contains(const struct bd_addr_set *s, uint64_t addr)
{
        if (!addr)
                return s->has_zero;
        if (!s->cap)
                return 0;
        return s->slots[probe(s->slots, s->cap, addr)] == addr;
}

int bd_addr_set_insert(struct bd_addr_set *s, uint64_t addr)
{
        if (bd_addr_set_contains(s, addr))
                return 0;
        if (s->count + s->has_zero >= s->max)
                return -1;
        if (!addr) {
                s->has_zero = 1;
                return 1;
        }
        /* Keep the load at most one half so probes stay short. */
        if ((s->count + 1) * 2 > s->cap && grow(s))
                return -1;
        s->slots[probe(s->slots, s->cap, addr)] = addr;
        s->count++;
        return 1;
}

void bd_addr_set_free(struct bd_addr_set *s)
{
        free(s->slots);
        s->slots = NULL;
        s->cap = 0;
        s->count = 0;
        s->has_zero = 0;
}
