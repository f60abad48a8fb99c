#include "kdump_dump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <elf.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../../common/bytes.h"
#include "elf_dump.h"

#define BLOCK          4096u
#define CHUNK_PAGES    1024u /* 4 MiB a read */
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
/* A page's data is zlib's (in the header's status and the descriptor). */
#define COMPRESSED_ZLIB 0x1u
#define DESC_SIZE       24

struct writer {
        FILE *f;
        uint64_t desc_at, data_at, zero_at; /* file offsets; zero_at 0: none yet */
        uint8_t *bitmap2;
        struct bd_kdump_stats *st;
        uLong bound;
        uint8_t *z;
};

static uint64_t round_up(uint64_t n, uint64_t to)
{
        return (n + to - 1) / to * to;
}

static int put_at(FILE *f, uint64_t at, const void *buf, size_t n)
{
        return fseeko(f, (off_t)at, SEEK_SET) || fwrite(buf, 1, n, f) != n;
}

static int zero_page(const uint8_t *p)
{
        static const uint8_t zero[BLOCK];
        return !memcmp(p, zero, BLOCK);
}

static int descriptor(struct writer *w, uint64_t offset, uint32_t size, uint32_t flags)
{
        uint8_t d[DESC_SIZE] = {0};
        bd_put_le(d, offset, 8);
        bd_put_le(d + 8, size, 4);
        bd_put_le(d + 12, flags, 4);
        int bad = put_at(w->f, w->desc_at, d, sizeof(d));
        w->desc_at += DESC_SIZE;
        w->st->stored++;
        return bad;
}

/* One page read from the target: pointed at the shared zero block, or
 * stored (compressed when that saves room). */
static int page(struct writer *w, const uint8_t *p)
{
        if (zero_page(p)) {
                w->st->zero++;
                if (!w->zero_at) {
                        w->zero_at = w->data_at;
                        if (put_at(w->f, w->data_at, p, BLOCK))
                                return 1;
                        w->data_at += BLOCK;
                        w->st->file_bytes += BLOCK;
                }
                return descriptor(w, w->zero_at, BLOCK, 0);
        }
        uLongf n = w->bound;
        const uint8_t *data = p;
        uint32_t flags = 0, size = BLOCK;
        if (compress2(w->z, &n, p, BLOCK, Z_BEST_SPEED) == Z_OK && n < BLOCK) {
                data = w->z, size = (uint32_t)n, flags = COMPRESSED_ZLIB;
                w->st->compressed++;
        }
        if (descriptor(w, w->data_at, size, flags) || put_at(w->f, w->data_at, data, size))
                return 1;
        w->data_at += size;
        w->st->file_bytes += size;
        return 0;
}

static void header(uint8_t *h, const struct bd_vmcore_desc *d, uint32_t sub_blocks,
                   uint32_t bitmap_blocks, uint64_t max_mapnr)
{
        memcpy(h, "KDUMP   ", 8);
        bd_put_le(h + H_VERSION, HEADER_VERSION, 4);
        for (int i = 0; i < 6; i++)
                memcpy(h + H_UTSNAME + 65 * i, d->uts[i], 65);
        /* Whole seconds, as makedumpfile writes them: libkdumpfile tries
         * the 32-bit layout first, where tv_usec lies on block_size. */
        bd_put_le(h + H_TIMESTAMP, (uint64_t)time(NULL), 8);
        bd_put_le(h + H_STATUS, COMPRESSED_ZLIB, 4);
        bd_put_le(h + H_BLOCK_SIZE, BLOCK, 4);
        bd_put_le(h + H_SUB_BLOCKS, sub_blocks, 4);
        bd_put_le(h + H_BITMAP, bitmap_blocks, 4);
        /* The 32-bit fields saturate; the sub-header's 64-bit ones do not. */
        bd_put_le(h + H_MAX_MAPNR, max_mapnr > UINT32_MAX ? UINT32_MAX : max_mapnr, 4);
        /* total_ram_blocks, device_blocks, written_blocks, current_cpu:
         * 0, as makedumpfile leaves them. */
        bd_put_le(h + H_NR_CPUS, d->ncpus, 4);
}

uint8_t *bd_kdump_pages(const struct bd_phys *p, uint64_t *max_pfn)
{
        uint64_t max = 0;
        for (unsigned i = 0; i < p->nwindows; i++) {
                uint64_t end = (p->windows[i].base + p->windows[i].length) / BLOCK;
                max = end > max ? end : max;
        }
        uint8_t *map = calloc(1, round_up((max + 7) / 8, BLOCK));
        if (!map)
                return NULL;
        for (unsigned i = 0; i < p->nwindows; i++)
                for (uint64_t pfn = (p->windows[i].base + BLOCK - 1) / BLOCK;
                     pfn < (p->windows[i].base + p->windows[i].length) / BLOCK; pfn++)
                        map[pfn / 8] |= (uint8_t)(1u << (pfn % 8));
        *max_pfn = max;
        return map;
}

struct bd_error *bd_kdump_dump(struct bd_phys *p, const struct bd_vmcore_desc *d, unsigned level,
                               const uint8_t *keep, const char *path,
                               void (*progress)(uint64_t done, uint64_t total),
                               struct bd_kdump_stats *st)
{
        memset(st, 0, sizeof(*st));
        uint64_t total = 0;
        for (unsigned i = 0; i < p->nwindows; i++) {
                const struct bd_window_desc *win = &p->windows[i];
                if (win->base % BLOCK || win->length % BLOCK)
                        return bd_error_new(BD_ERR_RANGE,
                                            "dump: window %s (0x%llx+0x%llx) is not whole pages",
                                            win->name, (unsigned long long)win->base,
                                            (unsigned long long)win->length);
                total += win->length;
        }
        st->pages = total / BLOCK;
        struct bd_core_notes notes = {0};
        struct bd_error *err = bd_vmcore_notes(d, &notes);
        if (err)
                return err;
        /* The sub-header block(s): the sub-header, then the notes, whose
         * VMCOREINFO note (the last, its name 12 bytes with padding)
         * crash reads as text by offset and libkdumpfile as a note. */
        uint64_t note_at = BLOCK + S_SIZE;
        uint64_t vmci_at = note_at + d->cpu_notes.len + sizeof(Elf64_Nhdr) + 12;
        uint32_t sub_blocks = (uint32_t)(round_up(note_at + notes.len, BLOCK) / BLOCK - 1);
        uint64_t max_mapnr = 0;
        uint8_t *bitmap1 = bd_kdump_pages(p, &max_mapnr),
                *buf = malloc((size_t)CHUNK_PAGES * BLOCK);
        uint64_t bitmap_len = round_up((max_mapnr + 7) / 8, BLOCK);
        uint32_t bitmap_blocks = (uint32_t)(2 * bitmap_len / BLOCK);
        uint64_t bitmap_at = (uint64_t)(1 + sub_blocks) * BLOCK;
        struct writer w = {.st = st, .bound = compressBound(BLOCK)};
        w.desc_at = bitmap_at + 2 * bitmap_len;
        w.data_at = round_up(w.desc_at + st->pages * DESC_SIZE, BLOCK);
        w.bitmap2 = calloc(1, bitmap_len);
        w.z = malloc(w.bound);
        uint8_t *head = calloc(1, BLOCK), *sub = calloc(1, S_SIZE);
        char tmp[4200];
        snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
        if (!bitmap1 || !buf || !w.bitmap2 || !w.z || !head || !sub) {
                err = &bd_error_nomem;
                goto out;
        }
        for (uint64_t i = 0; i < bitmap_len; i++)
                w.bitmap2[i] = bitmap1[i] & (keep ? keep[i] : 0xff);
        if (!(w.f = fopen(tmp, "wb"))) {
                err = bd_error_new(BD_ERR_IO, "dump: %s: %s", tmp, strerror(errno));
                goto out;
        }
        int bad = 0;
        uint64_t done = 0;
        /* Runs of pages to store, read a chunk at a time: what a filter
         * left out is never read. */
        for (unsigned i = 0; i < p->nwindows && !err && !bad; i++) {
                const struct bd_window_desc *win = &p->windows[i];
                uint64_t end = (win->base + win->length) / BLOCK;
                for (uint64_t pfn = win->base / BLOCK; pfn < end && !err && !bad;) {
                        uint64_t n = 0;
                        while (pfn + n < end && n < CHUNK_PAGES && bd_pfn_test(w.bitmap2, pfn + n))
                                n++;
                        if (!n) {
                                pfn++;
                                done += BLOCK;
                                continue;
                        }
                        if ((err = bd_phys_read(p, pfn * BLOCK, buf, n * BLOCK)))
                                break;
                        for (uint64_t k = 0; k < n && !bad; k++)
                                bad = page(&w, buf + k * BLOCK);
                        pfn += n;
                        done += n * BLOCK;
                        st->read_bytes += n * BLOCK;
                        if (progress)
                                progress(done, total);
                }
        }
        if (!err && !bad) {
                header(head, d, sub_blocks, bitmap_blocks, max_mapnr);
                bd_put_le(sub + S_PHYS_BASE, (uint64_t)d->phys_base, 8);
                bd_put_le(sub + S_DUMP_LEVEL, level, 4);
                bd_put_le(sub + S_OFF_VMCI, d->vi ? vmci_at : 0, 8);
                bd_put_le(sub + S_SIZE_VMCI, d->vi ? d->vi->len : 0, 8);
                bd_put_le(sub + S_OFF_NOTE, notes.len ? note_at : 0, 8);
                bd_put_le(sub + S_SIZE_NOTE, notes.len, 8);
                bd_put_le(sub + S_MAX_MAPNR64, max_mapnr, 8);
                bad = put_at(w.f, 0, head, BLOCK) || put_at(w.f, BLOCK, sub, S_SIZE) ||
                      (notes.len && put_at(w.f, note_at, notes.buf, notes.len)) ||
                      put_at(w.f, bitmap_at, bitmap1, bitmap_len) ||
                      put_at(w.f, bitmap_at + bitmap_len, w.bitmap2, bitmap_len);
                st->file_bytes += w.desc_at;
        }
        err = bd_dump_file_finish(w.f, tmp, path, err, bad);
out:
        bd_core_notes_free(&notes);
        free(bitmap1), free(buf), free(w.bitmap2), free(w.z), free(head), free(sub);
        return err;
}
