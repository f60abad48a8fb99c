#include "shard.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct bd_error *bd_shard_parse(const char *text, struct bd_shard *s)
{
        char *end;
        errno = 0;
        unsigned long i = strtoul(text, &end, 10), n = 0;
        int ok = end != text && *end == '/' && text[0] != '-' && !errno;
        if (ok) {
                const char *at = end + 1;
                n = strtoul(at, &end, 10);
                ok = end != at && !*end && *at != '-' && !errno;
        }
        if (!ok || n < 1 || n > BD_SHARD_MAX || i < 1 || i > n)
                return bd_error_new(BD_ERR_USAGE,
                                    "--shard '%s': give I/N, 1 <= I <= N <= %d (this monitor is "
                                    "shard I of N)",
                                    text, BD_SHARD_MAX);
        *s = (struct bd_shard){(unsigned)i, (unsigned)n, 1};
        return NULL;
}

/* Shard j's weight for a target: the first 8 bytes of BLAKE2b over the
 * name and j, the same on every machine. */
static uint64_t weight(const char *name, unsigned j)
{
        uint8_t in[8 + 256], out[8];
        size_t len = strnlen(name, 256);
        for (int b = 0; b < 8; b++)
                in[b] = (uint8_t)((uint64_t)j >> (8 * b));
        memcpy(in + 8, name, len);
        crypto_generichash(out, sizeof(out), in, 8 + len, NULL, 0);
        uint64_t w = 0;
        for (int b = 0; b < 8; b++)
                w |= (uint64_t)out[b] << (8 * b);
        return w;
}

int bd_shard_owns(const struct bd_shard *s, const char *name)
{
        /* Ours when fewer than replicas shards weigh more (ties go to the
         * lower index, so exactly replicas shards own each target). */
        uint64_t mine = weight(name, s->index);
        unsigned above = 0;
        for (unsigned j = 1; j <= s->count && above < s->replicas; j++) {
                if (j == s->index)
                        continue;
                uint64_t w = weight(name, j);
                if (w > mine || (w == mine && j < s->index))
                        above++;
        }
        return above < s->replicas;
}
