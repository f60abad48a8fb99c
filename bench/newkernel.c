#include "newkernel.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/clock.h"
#include "../monitor/kernel/vmcoreinfo.h"

#define CHUNK (4u << 20)
#define PAGE  4096u
/* Copies a machine's memory holds at once: the kernel's two, and those
 * of the kernels before it that were not overwritten yet. */
#define MAX_KNOWN 4096

struct copy {
        uint64_t phys, hash;
};

/* FNV-1a: only tells one text from another at one place. */
static uint64_t text_hash(const struct bd_vmcoreinfo *vi)
{
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < vi->len; i++)
                h = (h ^ (uint8_t)vi->text[i]) * 0x100000001b3ull;
        return h;
}

static int known(const struct copy *set, unsigned n, struct copy c)
{
        for (unsigned i = 0; i < n; i++)
                if (set[i].phys == c.phys && set[i].hash == c.hash)
                        return 1;
        return 0;
}

int bench_new_kernel(struct bd_phys *p, unsigned seconds)
{
        uint64_t total = 0;
        for (unsigned w = 0; w < p->nwindows; w++)
                total += p->windows[w].length;
        size_t nchunks = (size_t)((total + CHUNK - 1) / CHUNK) + p->nwindows;
        uint8_t *buf = malloc(CHUNK);
        uint64_t *read_at = calloc(nchunks, sizeof(*read_at));
        struct copy *set = malloc(MAX_KNOWN * sizeof(*set));
        struct bd_vmcoreinfo *vi = malloc(sizeof(*vi));
        int rc = 1;
        if (!buf || !read_at || !set || !vi) {
                fprintf(stderr, "bdbench: out of memory\n");
                goto out;
        }
        unsigned nset = 0;
        uint64_t until = bd_now_ns() + (uint64_t)seconds * 1000000000ull;
        for (unsigned pass = 0; bd_now_ns() < until; pass++) {
                size_t chunk = 0;
                for (unsigned w = 0; w < p->nwindows; w++) {
                        const struct bd_window_desc *win = &p->windows[w];
                        for (uint64_t at = win->base; at + PAGE <= win->base + win->length;
                             at += CHUNK, chunk++) {
                                uint64_t end = win->base + win->length;
                                size_t len = end - at < CHUNK ? (size_t)(end - at) : CHUNK;
                                len &= ~(size_t)(PAGE - 1);
                                uint64_t before = bd_wall_ns();
                                struct bd_error *err = bd_phys_read(p, at, buf, len);
                                if (err) {
                                        fprintf(stderr, "bdbench: %s\n", err->message);
                                        bd_error_destroy(err);
                                        goto out;
                                }
                                uint64_t prev = read_at[chunk];
                                read_at[chunk] = before;
                                for (size_t off = 0; off < len; off += PAGE) {
                                        if (!bd_vmcoreinfo_match(buf + off, PAGE, vi))
                                                continue;
                                        struct copy c = {at + off, text_hash(vi)};
                                        if (known(set, nset, c))
                                                continue;
                                        if (pass) {
                                                /* Written after this chunk's last read
                                                 * before: the earliest it can have been. */
                                                printf("{\"written_after_unix_ns\":%" PRIu64
                                                       ",\"seen_unix_ns\":%" PRIu64
                                                       ",\"phys\":%" PRIu64 "}\n",
                                                       prev, bd_wall_ns(), c.phys);
                                                rc = 0;
                                                goto out;
                                        }
                                        if (nset < MAX_KNOWN)
                                                set[nset++] = c;
                                }
                        }
                }
        }
        fprintf(stderr, "bdbench: no new VMCOREINFO within %u s\n", seconds);
out:
        free(buf);
        free(read_at);
        free(set);
        free(vi);
        return rc;
}
