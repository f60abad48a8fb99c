#include "dump_pages.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A batch: the pages handed over together, and the reads that fetch the
 * non-zero ones, merged where they are contiguous. 4 MiB of reads keeps
 * the NIC's 16 slots of 256 KiB full. */
#define BATCH_PAGES 1024u
#define BATCH_RUNS  256u

uint64_t bd_dump_bitmap_bytes(uint64_t max_pfn)
{
        return ((max_pfn + 7) / 8 + BD_DUMP_PAGE - 1) / BD_DUMP_PAGE * BD_DUMP_PAGE;
}

uint64_t bd_pfn_count(const uint8_t *map, uint64_t max_pfn)
{
        uint64_t n = 0;
        for (uint64_t i = 0; i < max_pfn / 8; i++)
                n += (uint64_t)__builtin_popcount(map[i]);
        for (uint64_t pfn = max_pfn / 8 * 8; pfn < max_pfn; pfn++)
                n += bd_pfn_test(map, pfn);
        return n;
}

uint8_t *bd_dump_present(const struct bd_phys *p, uint64_t *max_pfn)
{
        uint64_t max = 0;
        for (unsigned i = 0; i < p->nwindows; i++) {
                uint64_t end = (p->windows[i].base + p->windows[i].length) / BD_DUMP_PAGE;
                max = end > max ? end : max;
        }
        uint8_t *map = calloc(1, bd_dump_bitmap_bytes(max));
        if (!map)
                return NULL;
        for (unsigned i = 0; i < p->nwindows; i++)
                for (uint64_t pfn = (p->windows[i].base + BD_DUMP_PAGE - 1) / BD_DUMP_PAGE;
                     pfn < (p->windows[i].base + p->windows[i].length) / BD_DUMP_PAGE; pfn++)
                        bd_pfn_set(map, pfn);
        *max_pfn = max;
        return map;
}

uint8_t *bd_dump_zero_pages(struct bd_phys *p, const uint8_t *map, uint64_t max_pfn, int read_them,
                            struct bd_error **err)
{
        *err = NULL;
        if (!bd_phys_zeromap_native(p) && !read_them)
                return NULL;
        uint8_t *zero = calloc(1, bd_dump_bitmap_bytes(max_pfn));
        uint8_t *run = malloc(BATCH_PAGES * 64 / 8);
        if (!zero || !run) {
                free(zero), free(run);
                *err = &bd_error_nomem;
                return NULL;
        }
        /* Runs of pages in map, 64 Ki pages (256 MiB) a call at most. */
        for (uint64_t pfn = 0; pfn < max_pfn && !*err;) {
                if (!bd_pfn_test(map, pfn)) {
                        pfn++;
                        continue;
                }
                uint64_t n = 0;
                while (pfn + n < max_pfn && n < BATCH_PAGES * 64 && bd_pfn_test(map, pfn + n))
                        n++;
                *err = bd_phys_zeromap(p, pfn * BD_DUMP_PAGE, n, run);
                for (uint64_t k = 0; !*err && k < n; k++)
                        if (bd_pfn_test(run, k))
                                bd_pfn_set(zero, pfn + k);
                pfn += n;
        }
        free(run);
        if (*err) {
                free(zero);
                return NULL;
        }
        return zero;
}

struct batch {
        uint64_t pfn[BATCH_PAGES];
        uint8_t *bytes[BATCH_PAGES]; /* NULL: known zero */
        unsigned npages;
        struct bd_phys_iov run[BATCH_RUNS];
        unsigned nruns, nread;
};

/* Add pfn to the batch; 0 when it is full and pfn was not taken. */
static int batch_add(struct batch *b, uint8_t *buf, uint64_t pfn, int zero)
{
        if (b->npages == BATCH_PAGES)
                return 0;
        uint8_t *at = buf + (size_t)b->nread * BD_DUMP_PAGE;
        struct bd_phys_iov *last = b->nruns ? &b->run[b->nruns - 1] : NULL;
        if (!zero) {
                if (last && last->addr + last->len == pfn * BD_DUMP_PAGE) {
                        last->len += BD_DUMP_PAGE;
                } else if (b->nruns == BATCH_RUNS) {
                        return 0;
                } else {
                        b->run[b->nruns++] =
                            (struct bd_phys_iov){pfn * BD_DUMP_PAGE, at, BD_DUMP_PAGE};
                }
                b->nread++;
        }
        b->pfn[b->npages] = pfn;
        b->bytes[b->npages++] = zero ? NULL : at;
        return 1;
}

struct bd_error *bd_dump_read(struct bd_phys *p, const uint8_t *store, const uint8_t *zero,
                              uint64_t max_pfn, uint64_t from_pfn,
                              int (*page)(void *ctx, uint64_t pfn, const uint8_t *bytes), void *ctx,
                              void (*progress)(const struct bd_dump_progress *pr, void *pctx),
                              void *pctx)
{
        struct bd_dump_progress pr = {.total = bd_pfn_count(store, max_pfn),
                                      .pages = bd_pfn_count(store, from_pfn)};
        struct batch *b = malloc(sizeof(*b));
        uint8_t *buf = malloc((size_t)BATCH_PAGES * BD_DUMP_PAGE);
        struct bd_error *err = b && buf ? NULL : &bd_error_nomem;
        for (uint64_t pfn = from_pfn; pfn < max_pfn && !err;) {
                b->npages = b->nruns = b->nread = 0;
                for (; pfn < max_pfn; pfn++)
                        if (bd_pfn_test(store, pfn) &&
                            !batch_add(b, buf, pfn, zero && bd_pfn_test(zero, pfn)))
                                break;
                if (b->nruns && (err = bd_phys_read_batch(p, b->run, b->nruns)))
                        break;
                for (unsigned i = 0; i < b->npages && !err; i++)
                        if (page(ctx, b->pfn[i], b->bytes[i]))
                                err = bd_error_new(BD_ERR_IO, "writing page 0x%llx failed",
                                                   (unsigned long long)b->pfn[i]);
                pr.pages += b->npages;
                pr.read_bytes += (uint64_t)b->nread * BD_DUMP_PAGE;
                pr.zero += b->npages - b->nread;
                if (progress && !err)
                        progress(&pr, pctx);
        }
        free(b), free(buf);
        return err;
}

struct bd_error *bd_dump_windows(const struct bd_phys *p, uint64_t *pages)
{
        *pages = 0;
        for (unsigned i = 0; i < p->nwindows; i++) {
                const struct bd_window_desc *win = &p->windows[i];
                if (win->base % BD_DUMP_PAGE || win->length % BD_DUMP_PAGE)
                        return bd_error_new(BD_ERR_RANGE,
                                            "dump: window %s (0x%llx+0x%llx) is not whole pages",
                                            win->name, (unsigned long long)win->base,
                                            (unsigned long long)win->length);
                *pages += win->length / BD_DUMP_PAGE;
        }
        return NULL;
}

struct bd_error *bd_dump_not_resumable(const char *why)
{
        return bd_error_new(BD_ERR_USAGE,
                            "cannot resume: the partial dump %s; remove it, or run without "
                            "--resume",
                            why);
}

void bd_dump_part_name(const char *path, char *buf, size_t cap)
{
        snprintf(buf, cap, "%s.part", path);
}

FILE *bd_dump_open(const char *part, int again)
{
        FILE *f = fopen(part, again ? "r+b" : "w+b");
        if (f)
                setvbuf(f, NULL, _IOFBF, 1u << 20);
        return f;
}

struct bd_error *bd_dump_file_finish(FILE *f, const char *part, const char *path,
                                     struct bd_error *err, int bad)
{
        if (fclose(f))
                bad = 1;
        if (!err && !bad && rename(part, path))
                bad = 1;
        if (!err && !bad)
                return NULL;
        if (!bad)
                return bd_error_wrap(err,
                                     "dump stopped; %s keeps what was written, and the "
                                     "same command with --resume goes on from there",
                                     part);
        int e = errno;
        unlink(part);
        bd_error_destroy(err);
        return bd_error_new(BD_ERR_IO, "dump: writing %s: %s", part, strerror(e));
}
