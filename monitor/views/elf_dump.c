#include "elf_dump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../kernel/kernel.h"

#define PAGE BD_DUMP_PAGE
/* e_phnum is 16 bits, its top value reserved (PN_XNUM). */
#define MAX_PHDRS 65000u

void bd_elf_core_header(Elf64_Ehdr *eh, unsigned nph)
{
        memset(eh, 0, sizeof(*eh));
        memcpy(eh->e_ident, ELFMAG, SELFMAG);
        eh->e_ident[EI_CLASS] = ELFCLASS64;
        eh->e_ident[EI_DATA] = ELFDATA2LSB;
        eh->e_ident[EI_VERSION] = EV_CURRENT;
        eh->e_type = ET_CORE;
        eh->e_machine = EM_X86_64;
        eh->e_version = EV_CURRENT;
        eh->e_phoff = sizeof(Elf64_Ehdr);
        eh->e_ehsize = sizeof(Elf64_Ehdr);
        eh->e_phentsize = sizeof(Elf64_Phdr);
        eh->e_phnum = (uint16_t)nph;
}

/* A RAM segment: file_pages stored from pfn on, then zero_pages that
 * read as zeros (in p_memsz only). */
struct seg {
        uint64_t pfn, file_pages, zero_pages;
};

struct plan {
        const struct bd_phys *p;
        uint64_t max_pfn;
        uint8_t *keep;        /* pages in some segment */
        const uint8_t *ztail; /* kept pages to leave as zero tails; NULL: none */
        struct seg *segs;
        size_t nsegs;
};

static int window_start(const struct bd_phys *p, uint64_t pfn)
{
        for (unsigned w = 0; w < p->nwindows; w++)
                if (p->windows[w].base / PAGE == pfn)
                        return 1;
        return 0;
}

/* The segments over keep (counted only, when out is NULL): a run of kept
 * pages within one window, split where a zero tail meets a stored page. */
static size_t segments(const struct plan *pl, struct seg *out)
{
        size_t n = 0;
        struct seg cur = {0};
        int open = 0;
        for (uint64_t pfn = 0; pfn <= pl->max_pfn; pfn++) {
                int in = pfn < pl->max_pfn && bd_pfn_test(pl->keep, pfn);
                int z = in && pl->ztail && bd_pfn_test(pl->ztail, pfn);
                if (open && (!in || window_start(pl->p, pfn) || (!z && cur.zero_pages))) {
                        if (out)
                                out[n] = cur;
                        n++;
                        open = 0;
                }
                if (!in)
                        continue;
                if (!open)
                        cur = (struct seg){.pfn = pfn}, open = 1;
                if (z)
                        cur.zero_pages++;
                else
                        cur.file_pages++;
        }
        return n;
}

/* Fill every gap of at most gap pages between kept pages of one window:
 * fewer segments, for more pages read. */
static void fill_gaps(struct plan *pl, uint64_t gap)
{
        uint64_t last = UINT64_MAX; /* the last kept page */
        for (uint64_t pfn = 0; pfn < pl->max_pfn; pfn++) {
                if (!bd_pfn_test(pl->keep, pfn))
                        continue;
                if (last != UINT64_MAX && pfn - last - 1 <= gap && pfn - last > 1) {
                        int crosses = 0;
                        for (uint64_t k = last + 1; k <= pfn && !crosses; k++)
                                crosses = window_start(pl->p, k);
                        for (uint64_t k = last + 1; k < pfn && !crosses; k++)
                                bd_pfn_set(pl->keep, k);
                }
                last = pfn;
        }
}

/* The image's pieces: where segments' memory meets [text_paddr, +size). */
static size_t image_pieces(const struct plan *pl, const struct bd_vmcore_desc *d, Elf64_Phdr *out,
                           const Elf64_Phdr *ram)
{
        size_t n = 0;
        if (!d || !d->text_size)
                return 0;
        uint64_t lo = d->text_paddr, hi = d->text_paddr + d->text_size;
        for (size_t i = 0; i < pl->nsegs; i++) {
                const struct seg *s = &pl->segs[i];
                uint64_t a = s->pfn * PAGE, b = a + (s->file_pages + s->zero_pages) * PAGE;
                uint64_t from = a > lo ? a : lo, to = b < hi ? b : hi;
                if (from >= to)
                        continue;
                if (out) {
                        uint64_t file_end = a + s->file_pages * PAGE;
                        Elf64_Phdr *q = &out[n];
                        *q = ram[i];
                        q->p_offset += from - a;
                        q->p_paddr = from;
                        q->p_vaddr = d->text_vaddr + (from - lo);
                        q->p_memsz = to - from;
                        q->p_filesz = file_end <= from ? 0 : (file_end < to ? file_end : to) - from;
                }
                n++;
        }
        return n;
}

static void ram_phdrs(const struct plan *pl, const struct bd_vmcore_desc *d, uint64_t data_at,
                      Elf64_Phdr *out)
{
        uint64_t direct = d ? d->direct_base : 0;
        for (size_t i = 0; i < pl->nsegs; i++) {
                const struct seg *s = &pl->segs[i];
                out[i] = (Elf64_Phdr){
                    .p_type = PT_LOAD,
                    .p_flags = PF_R | PF_W | PF_X,
                    .p_offset = data_at,
                    .p_paddr = s->pfn * PAGE,
                    .p_vaddr = direct ? direct + s->pfn * PAGE : 0,
                    .p_filesz = s->file_pages * PAGE,
                    .p_memsz = (s->file_pages + s->zero_pages) * PAGE,
                    /* 0, as the kernel writes it: crash tells a kdump
                     * (whose VMCOREINFO it trusts for KASLR) from a
                     * netdump by it. */
                    .p_align = 0,
                };
                data_at += s->file_pages * PAGE;
        }
}

/* Segments for keep (and zero tails), within MAX_PHDRS headers: when
 * there are too many, zero pages are stored rather than left as tails,
 * then ever larger gaps between kept pages are filled. */
static struct bd_error *plan_segments(struct plan *pl, const struct bd_vmcore_desc *d)
{
        for (uint64_t gap = 0;; gap = gap ? gap * 2 : 1) {
                pl->nsegs = segments(pl, NULL);
                free(pl->segs);
                pl->segs = malloc((pl->nsegs + 1) * sizeof(*pl->segs));
                if (!pl->segs)
                        return &bd_error_nomem;
                segments(pl, pl->segs);
                if (pl->nsegs + image_pieces(pl, d, NULL, NULL) + 1 <= MAX_PHDRS)
                        return NULL;
                if (pl->ztail)
                        pl->ztail = NULL;
                else
                        fill_gaps(pl, gap ? gap * 2 : 1);
        }
}

struct writer {
        FILE *f;
        struct bd_dump_stats *st;
        int bad;
};

static int page(void *ctx, uint64_t pfn, const uint8_t *bytes)
{
        static const uint8_t zero[PAGE]; /* what a known-zero page writes */
        struct writer *w = ctx;
        (void)pfn;
        if (!bytes || bd_phys_page_zero(bytes)) {
                w->st->zero++;
                bytes = zero;
        }
        w->bad |= fwrite(bytes, 1, PAGE, w->f) != PAGE;
        return w->bad;
}

static struct bd_error *start(FILE *f, struct plan *pl, const struct bd_vmcore_desc *d)
{
        struct bd_core_notes notes = {0};
        struct bd_error *err = d ? bd_vmcore_notes(d, &notes) : NULL;
        if (err)
                return err;
        size_t nimage = image_pieces(pl, d, NULL, NULL);
        unsigned first = (notes.len > 0) + (unsigned)nimage;
        unsigned nph = first + (unsigned)pl->nsegs;
        uint64_t off = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr) + notes.len;
        off = (off + PAGE - 1) & ~(uint64_t)(PAGE - 1); /* page-aligned data, as kdump writes it */
        Elf64_Phdr *ph = calloc(nph, sizeof(*ph));
        if (!ph) {
                bd_core_notes_free(&notes);
                return &bd_error_nomem;
        }
        if (notes.len) {
                ph[0].p_type = PT_NOTE;
                ph[0].p_offset = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
                ph[0].p_filesz = notes.len;
        }
        ram_phdrs(pl, d, off, ph + first);
        image_pieces(pl, d, ph + (notes.len > 0), ph + first);
        Elf64_Ehdr eh;
        bd_elf_core_header(&eh, nph);
        /* Up to the data, padding written: a partial file at least that
         * long has its headers whole (resume() counts on it). */
        static const uint8_t pad[PAGE];
        size_t at = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr) + notes.len;
        int bad = fwrite(&eh, sizeof(eh), 1, f) != 1 || fwrite(ph, sizeof(*ph), nph, f) != nph ||
                  (notes.len && fwrite(notes.buf, notes.len, 1, f) != 1) ||
                  fwrite(pad, 1, off - at, f) != off - at;
        free(ph);
        bd_core_notes_free(&notes);
        return bad ? bd_error_new(BD_ERR_IO, "dump: writing its headers: %s", strerror(errno))
                   : NULL;
}

/* A partial file: the pages to store, set in store, from its RAM segments (checked to
 * lie in this target's memory, in order, back to back in the file),
 * how far its data got, the rest cut. */
static struct bd_error *resume(FILE *f, const struct plan *pl, const uint8_t *present,
                               uint8_t *store, uint64_t *from_pfn, uint64_t *done)
{
        Elf64_Ehdr eh;
        struct stat sb;
        if (fstat(fileno(f), &sb) || fread(&eh, sizeof(eh), 1, f) != 1 ||
            memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_type != ET_CORE ||
            eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff != sizeof(eh) ||
            eh.e_phnum > MAX_PHDRS)
                return bd_dump_not_resumable("is not an ELF vmcore of this writer's kind");
        Elf64_Phdr *ph = calloc(eh.e_phnum ? eh.e_phnum : 1, sizeof(*ph));
        if (!ph)
                return &bd_error_nomem;
        int bad = fread(ph, sizeof(*ph), eh.e_phnum, f) != eh.e_phnum;
        uint64_t data_at = 0, at = 0, stored = 0, last_end = 0;
        for (unsigned i = 0; !bad && i < eh.e_phnum; i++) {
                const Elf64_Phdr *q = &ph[i];
                if (q->p_type != PT_LOAD || q->p_vaddr >= BD_KERNEL_IMAGE_START)
                        continue; /* the notes, the image's pieces */
                uint64_t pfn = q->p_paddr / PAGE, n = q->p_filesz / PAGE;
                bad = q->p_paddr % PAGE || q->p_filesz % PAGE || q->p_memsz % PAGE ||
                      q->p_memsz < q->p_filesz || pfn < last_end || pfn > pl->max_pfn ||
                      q->p_memsz / PAGE > pl->max_pfn - pfn || (at && q->p_offset != at);
                if (!at)
                        data_at = at = q->p_offset;
                for (uint64_t k = 0; !bad && k < q->p_memsz / PAGE; k++)
                        bad = !bd_pfn_test(present, pfn + k);
                for (uint64_t k = 0; !bad && k < n; k++)
                        bd_pfn_set(store, pfn + k);
                at += q->p_filesz;
                stored += n;
                last_end = pfn + q->p_memsz / PAGE;
        }
        free(ph);
        if (!bad && (uint64_t)sb.st_size < data_at)
                return bd_dump_not_resumable("stops before its first page");
        if (bad || !data_at || data_at % PAGE)
                return bd_dump_not_resumable("covers other memory than this target's");
        uint64_t have = ((uint64_t)sb.st_size - data_at) / PAGE;
        *done = have < stored ? have : stored;
        /* The first page not yet written. */
        uint64_t pfn = 0, seen = 0;
        for (; pfn < pl->max_pfn; pfn++)
                if (bd_pfn_test(store, pfn) && seen++ == *done)
                        break;
        *from_pfn = pfn;
        uint64_t end = data_at + *done * PAGE;
        if (fflush(f) || ftruncate(fileno(f), (off_t)end) || fseeko(f, (off_t)end, SEEK_SET))
                return bd_error_new(BD_ERR_IO, "dump: cutting the partial file: %s",
                                    strerror(errno));
        return NULL;
}

struct bd_error *bd_elf_dump(struct bd_phys *p, const struct bd_vmcore_desc *d,
                             const struct bd_dump_options *o, struct bd_dump_stats *st)
{
        memset(st, 0, sizeof(*st));
        struct bd_error *err = bd_dump_windows(p, &st->pages);
        if (err)
                return err;
        struct plan pl = {.p = p};
        uint8_t *present = bd_dump_present(p, &pl.max_pfn), *zero = NULL, *store = NULL;
        size_t bytes = present ? bd_dump_bitmap_bytes(pl.max_pfn) : 0;
        pl.keep = present ? calloc(1, bytes) : NULL;
        store = present ? calloc(1, bytes) : NULL;
        struct writer w = {.st = st};
        char part[4200];
        bd_dump_part_name(o->path, part, sizeof(part));
        if (!pl.keep || !store) {
                err = &bd_error_nomem;
                goto out;
        }
        int again = o->resume;
        uint64_t from_pfn = 0, read0 = p->bytes_read;
        if (!again) {
                for (size_t i = 0; i < bytes; i++)
                        pl.keep[i] = present[i] & (o->keep ? o->keep[i] : 0xff);
                /* Zero pages left out need telling first, by reading them
                 * if the source cannot say; else only a NIC's word saves
                 * their reads. */
                int tails = (o->level & BD_DUMP_EXCLUDE_ZERO) != 0;
                zero = bd_dump_zero_pages(p, pl.keep, pl.max_pfn, tails, &err);
                pl.ztail = tails ? zero : NULL;
                if (err || (err = plan_segments(&pl, d)))
                        goto out;
                for (uint64_t pfn = 0; pfn < pl.max_pfn; pfn++) {
                        int tail = pl.ztail && bd_pfn_test(pl.ztail, pfn);
                        if (bd_pfn_test(pl.keep, pfn) && !tail)
                                bd_pfn_set(store, pfn);
                        st->zero += bd_pfn_test(pl.keep, pfn) && tail;
                }
        }
        if (!(w.f = bd_dump_open(part, again))) {
                err = bd_error_new(BD_ERR_IO, "dump: %s: %s", part, strerror(errno));
                goto out;
        }
        if (again) {
                err = resume(w.f, &pl, present, store, &from_pfn, &st->resumed);
                if (!err)
                        zero = bd_dump_zero_pages(p, store, pl.max_pfn, 0, &err);
        } else {
                err = start(w.f, &pl, d);
        }
        if (err) { /* the partial file, if any, is left as it was */
                fclose(w.f);
                goto out;
        }
        st->stored = bd_pfn_count(store, pl.max_pfn);
        err = bd_dump_read(p, store, zero, pl.max_pfn, from_pfn, page, &w, o->progress,
                           o->progress_ctx);
        st->read_bytes = p->bytes_read - read0;
        off_t end = ftello(w.f);
        st->file_bytes = end > 0 ? (uint64_t)end : 0;
        err = bd_dump_file_finish(w.f, part, o->path, err, w.bad);
out:
        free(present), free(zero), free(store), free(pl.keep), free(pl.segs);
        return err;
}
