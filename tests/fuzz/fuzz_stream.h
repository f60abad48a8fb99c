/* A fuzz input as a stream of messages, as a peer sends them: each a
 * 2-byte little-endian length and its bytes, the last taking what is left.
 * Header only: each fuzz target is one source file. */
#ifndef BD_FUZZ_STREAM_H
#define BD_FUZZ_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

struct fuzz_stream {
        const uint8_t *data;
        size_t size;
};

/* The next message in an exactly-sized copy (ASan sees a read past it;
 * free() it), its length in *len; NULL when the stream is over. */
static inline uint8_t *fuzz_stream_next(struct fuzz_stream *in, size_t *len)
{
        if (!in->size)
                return NULL;
        *len = in->size;
        if (in->size >= 2) {
                *len = (size_t)in->data[0] | (size_t)in->data[1] << 8;
                in->data += 2, in->size -= 2;
                if (*len > in->size)
                        *len = in->size;
        }
        uint8_t *copy = malloc(*len ? *len : 1);
        CHECK(copy);
        memcpy(copy, in->data, *len);
        in->data += *len, in->size -= *len;
        return copy;
}

#endif
