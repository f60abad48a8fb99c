/* Little-endian fields and a cheap checksum, for formats the monitor reads
 * from target memory or writes into its own cache. */
#ifndef BD_BYTES_H
#define BD_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t bd_le32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t bd_le64(const uint8_t *p)
{
        return (uint64_t)bd_le32(p) | (uint64_t)bd_le32(p + 4) << 32;
}

/* n (up to 8) little-endian bytes at p. */
static inline uint64_t bd_le(const uint8_t *p, unsigned n)
{
        uint64_t v = 0;
        for (unsigned i = n; i-- > 0;)
                v = v << 8 | p[i];
        return v;
}

/* The low n bytes of v at p. */
static inline void bd_put_le(uint8_t *p, uint64_t v, unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

#define BD_FNV1A_INIT 0xcbf29ce484222325ull

/* 64-bit FNV-1a over n bytes, continuing from h (BD_FNV1A_INIT to start):
 * catches corruption and tells apart states, never an adversary. */
static inline uint64_t bd_fnv1a(uint64_t h, const void *p, size_t n)
{
        const uint8_t *b = p;
        for (size_t i = 0; i < n; i++)
                h = (h ^ b[i]) * 0x100000001b3ull;
        return h;
}

#endif
