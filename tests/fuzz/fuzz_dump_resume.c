/* libFuzzer target: bdmon dump --resume on a partial file it did not
 * write as given. The input picks a format, where a whole dump of a small
 * memory is cut, and bytes of it to change; the result is the partial file
 * a resume starts from.
 *
 * Invariants: resuming never crashes, leaks or loops, and fails only as
 * refused (the partial file is not one it can continue) or not writable;
 * when nothing but the cut was changed, the resumed file is the whole
 * dump, byte for byte, wherever the cut fell (the cut is what a killed
 * writer or a full disk leaves). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/bytes.h"
#include "../../monitor/views/elf_dump.h"
#include "../../monitor/views/kdump_dump.h"
#include "fuzz_check.h"
#include "mem_phys.h"

enum { PAGES = 64, EDITS_MAX = 16 };

static uint8_t memory[PAGES * 4096];
static uint8_t *whole[2];
static size_t whole_len[2], first_data[2]; /* where the pages begin */
static char path[2][64];
static struct bd_vmcoreinfo vi = {.len = 38};
static struct bd_vmcore_desc desc = {
    .vi = &vi, .ncpus = 1, .panic_cpu = -1, .direct_base = 0xffff888000000000ull, .wall_sec = 1};

typedef struct bd_error *dump_fn(struct bd_phys *, const struct bd_vmcore_desc *,
                                 const struct bd_dump_options *, struct bd_dump_stats *);
static dump_fn *const dumpers[2] = {bd_elf_dump, bd_kdump_dump};

static uint8_t *slurp(const char *p, size_t *len)
{
        FILE *f = fopen(p, "rb");
        CHECK(f);
        CHECK(!fseek(f, 0, SEEK_END));
        long n = ftell(f);
        CHECK(n >= 0 && !fseek(f, 0, SEEK_SET));
        uint8_t *b = malloc((size_t)n + 1);
        CHECK(b && fread(b, 1, (size_t)n, f) == (size_t)n);
        fclose(f);
        *len = (size_t)n;
        return b;
}

static struct bd_error *dump(struct mem_phys *m, int kdump, int resume)
{
        struct bd_dump_stats st;
        struct bd_dump_options o = {
            .path = path[kdump], .level = 1, .compression = BD_KDUMP_ZLIB, .resume = resume};
        return dumpers[kdump](&m->base, &desc, &o, &st);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc, (void)argv;
        for (size_t i = 0; i < sizeof(memory); i++)
                memory[i] = (i / 4096) % 5 == 2 ? 0 : (uint8_t)(i * 31 + (i >> 12));
        memcpy(vi.text, "OSRELEASE=6.1.0-57-amd64\nPAGESIZE=4096\n", vi.len);
        snprintf(desc.uts[2], 65, "6.1.0-57-amd64");
        struct mem_phys m;
        mem_phys_init(&m, memory, sizeof(memory));
        for (int k = 0; k < 2; k++) {
                snprintf(path[k], sizeof(path[k]), "/tmp/fuzz-resume.%d.%d", (int)getpid(), k);
                CHECK(!dump(&m, k, 0));
                whole[k] = slurp(path[k], &whole_len[k]);
                unlink(path[k]);
        }
        /* ELF: the first RAM segment's offset (the image's share it). */
        const uint8_t *e = whole[0];
        for (unsigned i = 0; i < (unsigned)bd_le(e + 56, 2); i++) {
                const uint8_t *ph = e + 64 + i * 56;
                if (bd_le32(ph) == 1 && bd_le64(ph + 32) && !first_data[0])
                        first_data[0] = bd_le64(ph + 8);
        }
        /* kdump: after the descriptors (24 bytes per stored page) and the
         * zero block, each rounded to a block. */
        const uint8_t *h = whole[1];
        uint64_t desc = (1 + (uint64_t)bd_le32(h + 432) + bd_le32(h + 436)) * 4096, stored = 0;
        for (uint64_t pfn = 0; pfn < PAGES; pfn++)
                stored += h[desc - (uint64_t)bd_le32(h + 436) * 2048 + pfn / 8] >> (pfn % 8) & 1;
        first_data[1] = (desc + stored * 24 + 4095) / 4096 * 4096 + 4096;
        for (int k = 0; k < 2; k++) {
                CHECK(first_data[k] && first_data[k] < whole_len[k]);
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 5)
                return 0;
        int k = data[0] & 1;
        size_t cut = bd_le32(data + 1) % (whole_len[k] + 1);
        unsigned edits = 0;
        char part[80];
        bd_dump_part_name(path[k], part, sizeof(part));
        uint8_t *file = malloc(cut + 1);
        CHECK(file);
        memcpy(file, whole[k], cut);
        for (size_t at = 5; at + 5 <= size && edits < EDITS_MAX && cut; at += 5, edits++)
                file[bd_le32(data + at) % cut] ^= data[at + 4] | 1;
        FILE *f = fopen(part, "wb");
        CHECK(f && fwrite(file, 1, cut, f) == cut && !fclose(f));
        free(file);
        struct mem_phys m;
        mem_phys_init(&m, memory, sizeof(memory));
        struct bd_error *err = dump(&m, k, 1);
        if (err) {
                CHECK(err->code == BD_ERR_USAGE || err->code == BD_ERR_IO);
                /* Refused untouched only when cut before its first page. */
                CHECK(edits || (err->code == BD_ERR_USAGE && cut < first_data[k]));
                bd_error_destroy(err);
        } else if (!edits) {
                size_t len;
                uint8_t *got = slurp(path[k], &len);
                CHECK(len == whole_len[k] && !memcmp(got, whole[k], len));
                free(got);
        }
        unlink(part);
        unlink(path[k]);
        return 0;
}
