#include "kdump_dump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <elf.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "../../common/bytes.h"

#define BLOCK          BD_DUMP_PAGE
#define HEADER_VERSION 6
/* struct disk_dump_header on x86-64: offsets of what is written. */
#define H_VERSION    8
#define H_UTSNAME    12
#define H_TIMESTAMP  408
#define H_STATUS     424
#define H_BLOCK_SIZE 428
#define H_SUB_BLOCKS 432
#define H_BITMAP     436
#define H_MAX_MAPNR  440
#define H_NR_CPUS    460
/* struct kdump_sub_header (version 6). */
#define S_PHYS_BASE   0
#define S_DUMP_LEVEL  8
#define S_OFF_VMCI    32
#define S_SIZE_VMCI   40
#define S_OFF_NOTE    48
#define S_SIZE_NOTE   56
#define S_MAX_MAPNR64 96
#define S_SIZE        104
#define DESC_SIZE     24

/* Where things are in the file, fixed before the first page is read. */
struct layout {
        uint32_t sub_blocks, bitmap_blocks;
        uint64_t max_mapnr, bitmap_len, bitmap_at;
        uint64_t desc_at;           /* the first page's descriptor */
        uint64_t zero_at;           /* the zero pages' shared block */
        uint64_t stored;            /* descriptors */
        uint8_t *bitmap1, *bitmap2; /* pages that exist, pages stored */
};

/* Descriptors wait in memory until this many pile up (or the run ends),
 * then go to the file after the data they name: one write, not one per
 * page, and still never a descriptor on disk before its data. */
#define DESC_BATCH 1024

struct writer {
        FILE *f;
        uint64_t desc_at, data_at, zero_at; /* desc_at: the first held back */
        uint8_t desc[DESC_BATCH * DESC_SIZE];
        unsigned ndesc;
        struct bd_dump_stats *st;
        int bad;         /* a write failed */
        unsigned method; /* enum bd_kdump_compression */
        size_t bound;
        uint8_t *z;
        ZSTD_CCtx *zstd;
};

static uint64_t round_up(uint64_t n, uint64_t to)
{
        return (n + to - 1) / to * to;
}

static int put_at(FILE *f, uint64_t at, const void *buf, size_t n)
{
        return fseeko(f, (off_t)at, SEEK_SET) || fwrite(buf, 1, n, f) != n;
}

static int get_at(FILE *f, uint64_t at, void *buf, size_t n)
{
        return fseeko(f, (off_t)at, SEEK_SET) || fread(buf, 1, n, f) != n;
}

/* The held-back descriptors to the file, the file left at the data's end
 * for the next page's. */
static int descriptors(struct writer *w)
{
        if (w->ndesc)
                w->bad |= put_at(w->f, w->desc_at, w->desc, (size_t)w->ndesc * DESC_SIZE) ||
                          fseeko(w->f, (off_t)w->data_at, SEEK_SET);
        w->desc_at += (uint64_t)w->ndesc * DESC_SIZE;
        w->ndesc = 0;
        return w->bad;
}

static int descriptor(struct writer *w, uint64_t offset, uint32_t size, uint32_t flags)
{
        uint8_t *d = w->desc + (size_t)w->ndesc++ * DESC_SIZE;
        memset(d, 0, DESC_SIZE);
        bd_put_le(d, offset, 8);
        bd_put_le(d + 8, size, 4);
        bd_put_le(d + 12, flags, 4);
        return w->ndesc == DESC_BATCH ? descriptors(w) : w->bad;
}

/* One page: pointed at the shared zero block, or its data (compressed
 * when that saves room) appended, then its descriptor. */
static int page(void *ctx, uint64_t pfn, const uint8_t *p)
{
        struct writer *w = ctx;
        (void)pfn;
        if (!p || bd_phys_page_zero(p)) {
                w->st->zero++;
                return descriptor(w, w->zero_at, BLOCK, 0);
        }
        const uint8_t *data = p;
        uint32_t flags = 0, size = BLOCK;
        size_t n = BLOCK;
        if (w->method == BD_KDUMP_ZSTD) {
                size_t got = ZSTD_compressCCtx(w->zstd, w->z, w->bound, p, BLOCK, 1);
                n = ZSTD_isError(got) ? BLOCK : got;
        } else {
                uLongf got = (uLongf)w->bound;
                n = compress2(w->z, &got, p, BLOCK, Z_BEST_SPEED) == Z_OK ? got : BLOCK;
        }
        if (n < BLOCK) {
                data = w->z, size = (uint32_t)n, flags = w->method;
                w->st->compressed++;
        }
        /* The file stands at data_at: appended, no seek. */
        if ((w->bad = fwrite(data, 1, size, w->f) != size))
                return 1;
        w->data_at += size;
        return descriptor(w, w->data_at - size, size, flags);
}

static void header(uint8_t *h, const struct bd_vmcore_desc *d, const struct layout *l,
                   unsigned method)
{
        memcpy(h, "KDUMP   ", 8);
        bd_put_le(h + H_VERSION, HEADER_VERSION, 4);
        for (int i = 0; i < 6; i++)
                memcpy(h + H_UTSNAME + 65 * i, d->uts[i], 65);
        /* Whole seconds, as makedumpfile writes them: libkdumpfile tries
         * the 32-bit layout first, where tv_usec lies on block_size. */
        bd_put_le(h + H_TIMESTAMP, d->wall_sec ? d->wall_sec : (uint64_t)time(NULL), 8);
        bd_put_le(h + H_STATUS, method, 4);
        bd_put_le(h + H_BLOCK_SIZE, BLOCK, 4);
        bd_put_le(h + H_SUB_BLOCKS, l->sub_blocks, 4);
        bd_put_le(h + H_BITMAP, l->bitmap_blocks, 4);
        /* The 32-bit fields saturate; the sub-header's 64-bit ones do not. */
        bd_put_le(h + H_MAX_MAPNR, l->max_mapnr > UINT32_MAX ? UINT32_MAX : l->max_mapnr, 4);
        /* total_ram_blocks, device_blocks, written_blocks, current_cpu:
         * 0, as makedumpfile leaves them. */
        bd_put_le(h + H_NR_CPUS, d->ncpus, 4);
}

static void place(struct layout *l)
{
        l->bitmap_len = bd_dump_bitmap_bytes(l->max_mapnr);
        l->bitmap_blocks = (uint32_t)(2 * l->bitmap_len / BLOCK);
        l->bitmap_at = (uint64_t)(1 + l->sub_blocks) * BLOCK;
        l->desc_at = l->bitmap_at + 2 * l->bitmap_len;
        l->stored = bd_pfn_count(l->bitmap2, l->max_mapnr);
        l->zero_at = round_up(l->desc_at + l->stored * DESC_SIZE, BLOCK);
}

/* Where the first descriptor and the first page's data go: after the
 * descriptors' room and the zero block. */
static void first_positions(struct writer *w, const struct layout *l)
{
        w->desc_at = l->desc_at;
        w->zero_at = l->zero_at;
        w->data_at = l->zero_at + BLOCK;
}

/* A new file: everything but the pages, and the zero block. */
static struct bd_error *start(FILE *f, const struct bd_vmcore_desc *d,
                              const struct bd_dump_options *o, struct layout *l)
{
        struct bd_core_notes notes = {0};
        struct bd_error *err = bd_vmcore_notes(d, &notes);
        if (err)
                return err;
        /* The sub-header block(s): the sub-header, then the notes, whose
         * VMCOREINFO note (the last, its name 12 bytes with padding)
         * crash reads as text by offset and libkdumpfile as a note. */
        uint64_t note_at = BLOCK + S_SIZE;
        uint64_t vmci_at = note_at + d->cpu_notes.len + sizeof(Elf64_Nhdr) + 12;
        l->sub_blocks = (uint32_t)(round_up(note_at + notes.len, BLOCK) / BLOCK - 1);
        size_t bytes = bd_dump_bitmap_bytes(l->max_mapnr);
        for (size_t i = 0; i < bytes; i++)
                l->bitmap2[i] = l->bitmap1[i] & (o->keep ? o->keep[i] : 0xff);
        place(l);
        uint8_t *head = calloc(1, BLOCK), sub[S_SIZE] = {0};
        if (!head) {
                bd_core_notes_free(&notes);
                return &bd_error_nomem;
        }
        header(head, d, l, o->compression);
        bd_put_le(sub + S_PHYS_BASE, (uint64_t)d->phys_base, 8);
        bd_put_le(sub + S_DUMP_LEVEL, o->level, 4);
        bd_put_le(sub + S_OFF_VMCI, d->vi ? vmci_at : 0, 8);
        bd_put_le(sub + S_SIZE_VMCI, d->vi ? d->vi->len : 0, 8);
        bd_put_le(sub + S_OFF_NOTE, notes.len ? note_at : 0, 8);
        bd_put_le(sub + S_SIZE_NOTE, notes.len, 8);
        bd_put_le(sub + S_MAX_MAPNR64, l->max_mapnr, 8);
        static const uint8_t zero[BLOCK];
        int bad = put_at(f, 0, head, BLOCK) || put_at(f, BLOCK, sub, S_SIZE) ||
                  (notes.len && put_at(f, note_at, notes.buf, notes.len)) ||
                  put_at(f, l->bitmap_at, l->bitmap1, l->bitmap_len) ||
                  put_at(f, l->bitmap_at + l->bitmap_len, l->bitmap2, l->bitmap_len) ||
                  put_at(f, l->zero_at, zero, BLOCK);
        free(head);
        bd_core_notes_free(&notes);
        return bad ? bd_error_new(BD_ERR_IO, "dump: writing its header: %s", strerror(errno))
                   : NULL;
}

/* A partial file: its layout from its own header, checked against this
 * target's memory; the pages whose descriptors check out are kept, the
 * rest of the file cut. Sets w's positions and *from_pfn. */
static struct bd_error *resume(struct writer *w, struct layout *l, uint64_t *from_pfn)
{
        uint8_t head[BLOCK];
        struct stat sb;
        if (get_at(w->f, 0, head, BLOCK) || fstat(fileno(w->f), &sb))
                return bd_dump_not_resumable("has no whole header");
        uint32_t method = bd_le32(head + H_STATUS);
        if (memcmp(head, "KDUMP   ", 8) || bd_le32(head + H_VERSION) != HEADER_VERSION ||
            bd_le32(head + H_BLOCK_SIZE) != BLOCK ||
            (method != BD_KDUMP_ZLIB && method != BD_KDUMP_ZSTD))
                return bd_dump_not_resumable(
                    "is not a kdump-compressed dump of this writer's kind");
        w->method = method; /* the first run's, whatever this one asks */
        uint8_t sub[S_SIZE];
        l->sub_blocks = bd_le32(head + H_SUB_BLOCKS);
        if (l->sub_blocks > 1024 || get_at(w->f, BLOCK, sub, S_SIZE) ||
            bd_le64(sub + S_MAX_MAPNR64) != l->max_mapnr)
                return bd_dump_not_resumable("covers other memory than this target's");
        place(l); /* with bitmap2 still empty: only the bitmaps' places */
        uint8_t *b1 = malloc(l->bitmap_len);
        int bad = !b1 || get_at(w->f, l->bitmap_at, b1, l->bitmap_len) ||
                  memcmp(b1, l->bitmap1, l->bitmap_len) ||
                  get_at(w->f, l->bitmap_at + l->bitmap_len, l->bitmap2, l->bitmap_len) ||
                  bd_le32(head + H_BITMAP) != l->bitmap_blocks;
        free(b1);
        for (uint64_t i = 0; !bad && i < l->bitmap_len; i++)
                bad = (l->bitmap2[i] & ~l->bitmap1[i]) != 0;
        if (bad)
                return bd_dump_not_resumable("covers other memory than this target's");
        place(l);
        first_positions(w, l);
        if ((uint64_t)sb.st_size < w->data_at)
                return bd_dump_not_resumable("stops before its first page");
        /* The descriptors written, in pfn order, each naming either the
         * zero block or the data right after the previous one's. */
        uint8_t d[DESC_SIZE];
        uint64_t pfn = 0, done = 0;
        for (; pfn < l->max_mapnr; pfn++) {
                if (!bd_pfn_test(l->bitmap2, pfn))
                        continue;
                if (get_at(w->f, w->desc_at, d, DESC_SIZE))
                        break;
                uint64_t off = bd_le64(d);
                uint32_t size = bd_le32(d + 8), flags = bd_le32(d + 12);
                if (off == w->zero_at && size == BLOCK && !flags) {
                        w->st->zero++;
                } else if (off == w->data_at && size && size <= BLOCK &&
                           (flags == 0 || flags == w->method) &&
                           off + size <= (uint64_t)sb.st_size) {
                        w->data_at += size;
                        w->st->compressed += flags != 0;
                } else {
                        break;
                }
                w->desc_at += DESC_SIZE;
                done++;
        }
        w->st->resumed = done;
        *from_pfn = pfn;
        if (fflush(w->f) || ftruncate(fileno(w->f), (off_t)w->data_at))
                return bd_error_new(BD_ERR_IO, "dump: cutting the partial file: %s",
                                    strerror(errno));
        return NULL;
}

struct bd_error *bd_kdump_dump(struct bd_phys *p, const struct bd_vmcore_desc *d,
                               const struct bd_dump_options *o, struct bd_dump_stats *st)
{
        memset(st, 0, sizeof(*st));
        struct bd_error *err = bd_dump_windows(p, &st->pages);
        if (err)
                return err;
        struct layout l = {0};
        size_t zb = ZSTD_compressBound(BLOCK), gb = compressBound(BLOCK);
        struct writer w = {.st = st, .method = o->compression, .bound = zb > gb ? zb : gb};
        char part[4200];
        bd_dump_part_name(o->path, part, sizeof(part));
        l.bitmap1 = bd_dump_present(p, &l.max_mapnr);
        l.bitmap2 = l.bitmap1 ? calloc(1, bd_dump_bitmap_bytes(l.max_mapnr)) : NULL;
        w.z = malloc(w.bound);
        w.zstd = ZSTD_createCCtx();
        uint8_t *zero = NULL;
        if (!l.bitmap1 || !l.bitmap2 || !w.z || !w.zstd) {
                err = &bd_error_nomem;
                goto out;
        }
        int again = o->resume;
        if (!(w.f = bd_dump_open(part, again))) {
                err = bd_error_new(BD_ERR_IO, "dump: %s: %s", part, strerror(errno));
                goto out;
        }
        uint64_t from_pfn = 0;
        if (again) {
                err = resume(&w, &l, &from_pfn);
        } else if (!(err = start(w.f, d, o, &l))) {
                first_positions(&w, &l);
        }
        if (!err && fseeko(w.f, (off_t)w.data_at, SEEK_SET))
                err = bd_error_new(BD_ERR_IO, "dump: %s: %s", part, strerror(errno));
        if (err) { /* the partial file, if any, is left as it was */
                fclose(w.f);
                goto out;
        }
        st->stored = l.stored;
        uint64_t read0 = p->bytes_read;
        zero = bd_dump_zero_pages(p, l.bitmap2, l.max_mapnr, 0, &err);
        if (!err)
                err = bd_dump_read(p, l.bitmap2, zero, l.max_mapnr, from_pfn, page, &w, o->progress,
                                   o->progress_ctx);
        descriptors(&w); /* also after a failed read: what was written stays */
        st->read_bytes = p->bytes_read - read0;
        st->file_bytes = w.data_at;
        st->compression = w.method;
        err = bd_dump_file_finish(w.f, part, o->path, err, w.bad);
out:
        free(zero), free(l.bitmap1), free(l.bitmap2), free(w.z);
        ZSTD_freeCCtx(w.zstd);
        return err;
}
