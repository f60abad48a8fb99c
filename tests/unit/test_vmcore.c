/* The kdump-style vmcore: panic()'s frame found on a made-up stack, and a
 * dump written from a made-up memory read back as the kernel's own
 * /proc/vmcore is read (one PT_NOTE with a PRSTATUS per CPU before
 * VMCOREINFO, the image's alias segment, direct-map addresses), by
 * bdmon's own file source too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../../common/bytes.h"
#include "../../monitor/source/phys_file.h"
#include "../../monitor/views/elf_dump.h"
#include "../../monitor/views/kdump_dump.h"
#include "../../monitor/views/page_filter.h"
#include "../../monitor/views/vmcore.h"
#include "helpers.h"

#define PANIC      0xffffffff9a2c0000ull
#define PANIC_SIZE 0x1f0

static void test_panic_slot(void **state)
{
        (void)state;
        uint8_t stack[256] = {0};
        uint64_t ret = 0, base = 0xffffa00000010000ull;
        /* panic's first byte is a function pointer, not a return address. */
        bd_put_le(stack + 8, PANIC, 8);
        bd_put_le(stack + 16, PANIC + PANIC_SIZE, 8); /* the next function */
        assert_int_equal(bd_vmcore_panic_slot(stack, base, sizeof(stack), PANIC, PANIC_SIZE, &ret),
                         0);
        bd_put_le(stack + 96, PANIC + 0x120, 8);
        bd_put_le(stack + 200, PANIC + 0x40, 8); /* a caller's, further up */
        assert_int_equal(bd_vmcore_panic_slot(stack, base, sizeof(stack), PANIC, PANIC_SIZE, &ret),
                         base + 96);
        assert_int_equal(ret, PANIC + 0x120);
        /* A stack cut short ends the search, never reads past it. */
        assert_int_equal(bd_vmcore_panic_slot(stack, base, 100, PANIC, PANIC_SIZE, &ret), 0);
}

/* The pt_regs a CPU's interrupt entry saved, found above the stack
 * pointer it left: not a user-mode frame, nor one whose ip is outside the
 * text, nor one whose saved sp is not just above it. */
static void test_irq_regs(void **state)
{
        (void)state;
        enum { TEXT = 0xffffffff9a000000u, ETEXT = 0xffffffff9b000000u };
        uint8_t stack[512] = {0};
        uint64_t base = 0xffffb0d0c0010e00ull;
        uint8_t *user = stack + 8, *wild = stack + 8 + BD_PT_REGS_SIZE, *good = stack + 344;
        bd_put_le(user + BD_REG_IP, 0x401000, 8);
        bd_put_le(user + BD_REG_CS, 0x33, 8);
        bd_put_le(user + BD_REG_FLAGS, 0x246, 8);
        bd_put_le(user + BD_REG_SS, 0x2b, 8);
        memcpy(wild, user, BD_PT_REGS_SIZE);
        bd_put_le(wild + BD_REG_IP, TEXT + 0x1234, 8);
        bd_put_le(wild + BD_REG_CS, 0x10, 8);
        bd_put_le(wild + BD_REG_SS, 0x18, 8);
        bd_put_le(wild + BD_REG_SP, base + 4096, 8); /* not this frame's */
        memcpy(good, wild, BD_PT_REGS_SIZE);
        bd_put_le(good + BD_REG_SS, 0, 8);
        bd_put_le(good + BD_REG_SP, base + 344 + BD_PT_REGS_SIZE, 8);
        assert_int_equal(bd_vmcore_irq_regs(stack, base, sizeof(stack), TEXT, ETEXT), base + 344);
        bd_put_le(good + BD_REG_IP, ETEXT, 8);
        assert_int_equal(bd_vmcore_irq_regs(stack, base, sizeof(stack), TEXT, ETEXT), 0);
        /* Cut short, the frame is not there to find. */
        bd_put_le(good + BD_REG_IP, TEXT, 8);
        assert_int_equal(bd_vmcore_irq_regs(stack, base, 344 + 160, TEXT, ETEXT), 0);
}

#define RAM     (1u << 20)
#define TEXT_PA 0x40000ull
#define TEXT_VA 0xffffffff9a000000ull
#define DIRECT  0xffff9c0000000000ull

static struct bd_phys *ram(char *path)
{
        uint8_t *m = malloc(RAM);
        assert_non_null(m);
        for (size_t i = 0; i < RAM; i++)
                m[i] = (uint8_t)(i * 7 + (i >> 12));
        temp_file(path, m, RAM);
        free(m);
        struct bd_phys *p;
        assert_bd_ok(bd_phys_open_file(path, 0, &p));
        return p;
}

static void test_dump_reads_back_as_kdump(void **state)
{
        (void)state;
        char raw[32], core[64];
        struct bd_phys *p = ram(raw);
        struct bd_vmcoreinfo vi = {.len = 25};
        memcpy(vi.text, "OSRELEASE=6.1\nPAGESIZE=4\n", vi.len);
        struct bd_vmcore_desc d = {.vi = &vi,
                                   .text_vaddr = TEXT_VA,
                                   .text_paddr = TEXT_PA,
                                   .text_size = 0x20000,
                                   .direct_base = DIRECT,
                                   .ncpus = 2,
                                   .panic_cpu = 1};
        for (int c = 0; c < 2; c++) {
                struct bd_core_prstatus st = {.pid = c ? 42 : 0};
                uint8_t desc[BD_PRSTATUS_SIZE];
                bd_core_prstatus_encode(&st, desc);
                assert_bd_ok(
                    bd_core_note_add(&d.cpu_notes, "CORE", NT_PRSTATUS, desc, sizeof(desc)));
        }
        snprintf(core, sizeof(core), "%s.vmcore", raw);
        struct bd_dump_stats st;
        struct bd_dump_options o = {.path = core};
        assert_bd_ok(bd_elf_dump(p, &d, &o, &st));
        assert_int_equal(st.stored, RAM / 4096);
        bd_vmcore_desc_free(&d);

        size_t len;
        uint8_t *img = (uint8_t *)slurp(core, &len);
        Elf64_Ehdr eh;
        memcpy(&eh, img, sizeof(eh));
        assert_int_equal(eh.e_phnum, 3);
        Elf64_Phdr ph[3];
        memcpy(ph, img + eh.e_phoff, sizeof(ph));
        /* The notes: CORE/PRSTATUS twice (pids 0 and 42), then VMCOREINFO. */
        assert_int_equal(ph[0].p_type, PT_NOTE);
        const uint8_t *n = img + ph[0].p_offset, *end = n + ph[0].p_filesz;
        int seen = 0;
        while (n < end) {
                uint32_t nsz = bd_le32(n), dsz = bd_le32(n + 4), type = bd_le32(n + 8);
                const char *name = (const char *)n + 12;
                const uint8_t *desc = n + 12 + ((nsz + 3) & ~3u);
                if (seen < 2) {
                        assert_string_equal(name, "CORE");
                        assert_int_equal(type, NT_PRSTATUS);
                        assert_int_equal(dsz, BD_PRSTATUS_SIZE);
                        assert_int_equal(bd_le32(desc + 32), seen ? 42 : 0);
                } else {
                        assert_string_equal(name, "VMCOREINFO");
                        assert_int_equal(dsz, vi.len);
                        assert_memory_equal(desc, vi.text, vi.len);
                }
                seen++;
                n = desc + ((dsz + 3) & ~3u);
        }
        assert_int_equal(seen, 3);
        /* The image at its own address, over the RAM segment's bytes. */
        assert_int_equal(ph[1].p_type, PT_LOAD);
        assert_int_equal(ph[1].p_vaddr, TEXT_VA);
        assert_int_equal(ph[1].p_paddr, TEXT_PA);
        assert_int_equal(ph[1].p_filesz, 0x20000);
        assert_int_equal(ph[2].p_vaddr, DIRECT);
        assert_int_equal(ph[2].p_paddr, 0);
        assert_int_equal(ph[2].p_filesz, RAM);
        assert_int_equal(ph[1].p_offset, ph[2].p_offset + TEXT_PA);
        assert_int_equal(ph[2].p_offset % 4096, 0);
        assert_true(ph[2].p_offset + RAM <= len);
        for (uint64_t a = 0; a < RAM; a += 4093)
                assert_int_equal(img[ph[2].p_offset + a], (uint8_t)(a * 7 + (a >> 12)));
        free(img);

        /* bdmon reads it as the memory it was, the alias not counted. */
        struct bd_phys *back;
        assert_bd_ok(bd_phys_open_file(core, 0, &back));
        assert_int_equal(back->nwindows, 1);
        assert_int_equal(back->windows[0].base, 0);
        assert_int_equal(back->windows[0].length, RAM);
        uint8_t b[64];
        assert_bd_ok(bd_phys_read(back, TEXT_PA + 5, b, sizeof(b)));
        for (size_t i = 0; i < sizeof(b); i++)
                assert_int_equal(b[i],
                                 (uint8_t)((TEXT_PA + 5 + i) * 7 + ((TEXT_PA + 5 + i) >> 12)));
        bd_phys_close(back);
        bd_phys_close(p);
        unlink(core);
        unlink(raw);
}

/* No kernel found: the physical segments alone, no note. */
static void test_dump_without_kernel(void **state)
{
        (void)state;
        char raw[32], core[64];
        struct bd_phys *p = ram(raw);
        snprintf(core, sizeof(core), "%s.vmcore", raw);
        struct bd_dump_stats st;
        struct bd_dump_options o = {.path = core};
        assert_bd_ok(bd_elf_dump(p, NULL, &o, &st));
        size_t len;
        uint8_t *img = (uint8_t *)slurp(core, &len);
        Elf64_Ehdr eh;
        memcpy(&eh, img, sizeof(eh));
        assert_int_equal(eh.e_phnum, 1);
        Elf64_Phdr ph;
        memcpy(&ph, img + eh.e_phoff, sizeof(ph));
        assert_int_equal(ph.p_type, PT_LOAD);
        assert_int_equal(ph.p_vaddr, 0);
        free(img);
        bd_phys_close(p);
        unlink(core);
        unlink(raw);
}

/* A memory whose every fourth page is zero, as the kdump format, read
 * back by libkdumpfile (an independent reader): every page as it was,
 * at dump level 1 too (zero pages share one block, and read as zeros). */
static void kdump_round_trip(unsigned level, unsigned compression)
{
        char raw[32], dump[64], back[64], cmd[512];
        uint8_t *m = malloc(RAM);
        assert_non_null(m);
        for (size_t i = 0; i < RAM; i++)
                m[i] = (i / 4096) % 4 == 3 ? 0 : (uint8_t)(i * 7 + (i >> 12));
        temp_file(raw, m, RAM);
        struct bd_phys *p;
        assert_bd_ok(bd_phys_open_file(raw, 0, &p));
        struct bd_vmcoreinfo vi = {.len = 38};
        memcpy(vi.text, "OSRELEASE=6.1.0-57-amd64\nPAGESIZE=4096\n", vi.len);
        struct bd_vmcore_desc d = {.vi = &vi, .ncpus = 1, .panic_cpu = -1};
        snprintf(d.uts[0], 65, "Linux");
        snprintf(d.uts[2], 65, "6.1.0-57-amd64");
        snprintf(d.uts[4], 65, "x86_64");
        snprintf(dump, sizeof(dump), "%s.kdump", raw);
        snprintf(back, sizeof(back), "%s.back", raw);
        struct bd_dump_stats st;
        struct bd_dump_options o = {.path = dump, .level = level, .compression = compression};
        assert_bd_ok(bd_kdump_dump(p, &d, &o, &st));
        assert_int_equal(st.pages, RAM / 4096);
        assert_int_equal(st.zero, RAM / 4096 / 4);
        assert_int_equal(st.stored, RAM / 4096); /* zero pages too, sharing a block */
        assert_true(st.file_bytes < RAM);
        snprintf(cmd, sizeof(cmd), "/usr/bin/python3 tests/unit/kdump_read.py %s %s %u", dump, back,
                 RAM / 4096);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        char out[512] = "";
        size_t n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = '\0';
        char want[32];
        snprintf(want, sizeof(want), "missing 0\n");
        int rc = pclose(f);
        if (rc || !strstr(out, "format diskdump\n") || !strstr(out, want))
                print_error("libkdumpfile on bdmon's dump (exit %d) said:\n%s\n", rc, out);
        assert_int_equal(rc, 0);
        assert_non_null(strstr(out, "format diskdump\n"));
        assert_non_null(strstr(out, "release 6.1.0-57-amd64\n"));
        assert_non_null(strstr(out, want));
        size_t len;
        char *got = slurp(back, &len);
        assert_int_equal(len, RAM);
        assert_memory_equal(got, m, RAM);
        free(got);
        free(m);
        bd_phys_close(p);
        unlink(raw), unlink(dump), unlink(back);
}

static void test_kdump_read_by_libkdumpfile(void **state)
{
        (void)state;
        kdump_round_trip(0, BD_KDUMP_ZLIB);
}

static void test_kdump_zstd_read_by_libkdumpfile(void **state)
{
        (void)state;
        kdump_round_trip(BD_DUMP_EXCLUDE_ZERO, BD_KDUMP_ZSTD);
}

static void test_kdump_zero_pages_shared(void **state)
{
        (void)state;
        kdump_round_trip(BD_DUMP_EXCLUDE_ZERO, BD_KDUMP_ZLIB);
}

/* A 16 MiB memory (four batches of pages), every fourth page zero. */
#define BIG (16u << 20)
static uint8_t *big_memory(char *path)
{
        uint8_t *m = malloc(BIG);
        assert_non_null(m);
        for (size_t i = 0; i < BIG; i++)
                m[i] = (i / 4096) % 4 == 3 ? 0 : (uint8_t)(i * 13 + (i >> 12));
        temp_file(path, m, BIG);
        return m;
}

/* Level 1 as ELF: every page is in a segment, its bytes in the file, or
 * past p_filesz (read as zeros) when it is zero; a page the filter left
 * out is in none. */
static void test_elf_zero_tails(void **state)
{
        (void)state;
        char raw[32], core[64];
        uint8_t *m = big_memory(raw);
        struct bd_phys *p;
        assert_bd_ok(bd_phys_open_file(raw, 0, &p));
        uint64_t max_pfn;
        uint8_t *keep = bd_dump_present(p, &max_pfn);
        assert_int_equal(max_pfn, BIG / 4096);
        bd_pfn_clear(keep, 100);
        bd_pfn_clear(keep, 101);
        snprintf(core, sizeof(core), "%s.vmcore", raw);
        struct bd_vmcore_desc d = {.direct_base = DIRECT, .panic_cpu = -1};
        struct bd_dump_stats st;
        struct bd_dump_options o = {.path = core, .level = BD_DUMP_EXCLUDE_ZERO, .keep = keep};
        assert_bd_ok(bd_elf_dump(p, &d, &o, &st));
        assert_int_equal(st.stored, BIG / 4096 / 4 * 3 - 2);
        size_t len;
        uint8_t *img = (uint8_t *)slurp(core, &len);
        assert_true(len < BIG);
        Elf64_Ehdr eh;
        memcpy(&eh, img, sizeof(eh));
        for (uint64_t pfn = 0; pfn < max_pfn; pfn++) {
                int found = 0;
                for (unsigned i = 0; i < eh.e_phnum; i++) {
                        Elf64_Phdr ph;
                        memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
                        uint64_t at = pfn * 4096;
                        if (ph.p_type != PT_LOAD || at < ph.p_paddr ||
                            at >= ph.p_paddr + ph.p_memsz)
                                continue;
                        assert_int_equal(ph.p_vaddr, DIRECT + ph.p_paddr);
                        found++;
                        if (at < ph.p_paddr + ph.p_filesz)
                                assert_memory_equal(img + ph.p_offset + (at - ph.p_paddr), m + at,
                                                    4096);
                        else
                                assert_int_equal(pfn % 4, 3);
                }
                assert_int_equal(found, pfn == 100 || pfn == 101 ? 0 : 1);
        }
        free(img), free(keep), free(m);
        bd_phys_close(p);
        unlink(core), unlink(raw);
}

/* A source that fails after some reads, as a NIC that goes away. */
struct flaky {
        struct bd_phys base;
        struct bd_phys *real;
        int reads_left;
};
static struct bd_error *flaky_read(struct bd_phys *p, const struct bd_phys_piece *pc, size_t n)
{
        struct flaky *f = (struct flaky *)p;
        if (f->reads_left-- <= 0)
                return bd_error_new(BD_ERR_IO, "RDMA operation failed (NIC gone?)");
        return f->real->ops->read(f->real, pc, n);
}
static void flaky_close(struct bd_phys *p)
{
        (void)p;
}
static const struct bd_phys_ops flaky_ops = {.read = flaky_read, .close = flaky_close};

/* Stopped mid-way (and the partial file torn as a killed writer leaves
 * it), then --resume: the same bytes as a dump that never stopped. */
static void resume_round_trip(int kdump, long tear)
{
        char raw[32], whole[64], cut[64], part[80];
        uint8_t *m = big_memory(raw);
        struct bd_phys *p;
        assert_bd_ok(bd_phys_open_file(raw, 0, &p));
        struct bd_vmcoreinfo vi = {.len = 38};
        memcpy(vi.text, "OSRELEASE=6.1.0-57-amd64\nPAGESIZE=4096\n", vi.len);
        struct bd_vmcore_desc d = {
            .vi = &vi, .ncpus = 1, .panic_cpu = -1, .direct_base = DIRECT, .wall_sec = 1764000000};
        snprintf(d.uts[2], 65, "6.1.0-57-amd64");
        snprintf(whole, sizeof(whole), "%s.whole", raw);
        snprintf(cut, sizeof(cut), "%s.cut", raw);
        bd_dump_part_name(cut, part, sizeof(part));
        struct bd_dump_stats st;
        struct bd_dump_options o = {.path = whole, .level = 31, .compression = BD_KDUMP_ZSTD};
        struct bd_error *(*dump)(struct bd_phys *, const struct bd_vmcore_desc *,
                                 const struct bd_dump_options *, struct bd_dump_stats *) =
            kdump ? bd_kdump_dump : bd_elf_dump;
        assert_bd_ok(dump(p, &d, &o, &st));

        /* ELF tells zero pages first, by reading them (1 MiB a read). */
        struct flaky f = {.real = p, .reads_left = kdump ? 2 : 18};
        f.base = *p;
        f.base.ops = &flaky_ops;
        o.path = cut;
        struct bd_error *err = dump(&f.base, &d, &o, &st);
        assert_non_null(err);
        assert_non_null(strstr(err->message, "--resume"));
        bd_error_destroy(err);
        assert_int_equal(access(cut, F_OK), -1);
        size_t len;
        free(slurp(part, &len));
        if (tear)
                assert_int_equal(truncate(part, (off_t)len - tear), 0);
        o.resume = 1;
        o.compression = BD_KDUMP_ZLIB; /* the partial file's own is kept */
        assert_bd_ok(dump(p, &d, &o, &st));
        assert_true(st.resumed > 0 && st.resumed < st.stored);
        if (kdump) /* the partial file's compression, not this run's option */
                assert_int_equal(st.compression, BD_KDUMP_ZSTD);
        /* Not a page read twice: what the first run kept is not read. */
        assert_true(st.read_bytes <= (st.stored - st.resumed) * 4096);
        size_t a_len, b_len;
        char *a = slurp(whole, &a_len), *b = slurp(cut, &b_len);
        assert_int_equal(a_len, b_len);
        assert_memory_equal(a, b, a_len);
        free(a), free(b), free(m);

        /* A partial dump of other memory is refused, and left alone. */
        assert_int_equal(rename(cut, part), 0);
        struct bd_phys *small;
        char other[32];
        uint8_t one[4096] = {1};
        temp_file(other, one, sizeof(one));
        assert_bd_ok(bd_phys_open_file(other, 0, &small));
        err = dump(small, &d, &o, &st);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_USAGE);
        bd_error_destroy(err);
        assert_int_equal(access(part, F_OK), 0);
        bd_phys_close(small);
        bd_phys_close(p);
        unlink(raw), unlink(whole), unlink(part), unlink(other);
}

static void test_kdump_resume(void **state)
{
        (void)state;
        resume_round_trip(1, 0);
        resume_round_trip(1, 3000); /* a descriptor's data cut short */
}

static void test_elf_resume(void **state)
{
        (void)state;
        resume_round_trip(0, 0);
        resume_round_trip(0, 1000);
}

/* makedumpfile's rules on made-up struct pages (6.1's flag numbers). */
static void test_page_classes(void **state)
{
        (void)state;
        const struct bd_page_rules r = {.lru = 1u << 4,
                                        .private_ = 1u << 13,
                                        .swapcache = 1u << 10,
                                        .slab = 1u << 9,
                                        .head = 1u << 16,
                                        .buddy = 0xffffff7fu};
        unsigned order;
        struct bd_page_facts f = {.mapcount = 0xffffff7fu, .private_ = 3};
        assert_int_equal(bd_page_classify(&r, &f, &order), BD_PAGE_FREE);
        assert_int_equal(order, 3);
        f.private_ = 11; /* past the buddy allocator's largest order */
        assert_int_equal(bd_page_classify(&r, &f, &order), BD_PAGE_KEEP);
        f = (struct bd_page_facts){.mapping = 0xffff888000001001ull, .mapcount = 0};
        assert_int_equal(bd_page_classify(&r, &f, &order), BD_PAGE_USER);
        f.mapping |= 2; /* KSM: anon and movable */
        assert_int_equal(bd_page_classify(&r, &f, &order), BD_PAGE_KEEP);
        f = (struct bd_page_facts){
            .mapping = 0xffff888000002000ull, .flags = 1u << 4, .mapcount = 0xffffffffu};
        assert_int_equal(bd_page_classify(&r, &f, &order), BD_PAGE_CACHE);
        f.flags |= 1u << 13;
        assert_int_equal(bd_page_classify(&r, &f, &order), BD_PAGE_CACHE_PRIVATE);
        f.flags = 1u << 9 | 1u << 4; /* slab: kernel data, whatever else */
        assert_int_equal(bd_page_classify(&r, &f, &order), BD_PAGE_KEEP);
        f = (struct bd_page_facts){.flags = 1u << 4, .mapcount = 0xffffffffu};
        assert_int_equal(bd_page_classify(&r, &f, &order), BD_PAGE_KEEP); /* no mapping */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_panic_slot),
            cmocka_unit_test(test_irq_regs),
            cmocka_unit_test(test_page_classes),
            cmocka_unit_test(test_dump_reads_back_as_kdump),
            cmocka_unit_test(test_dump_without_kernel),
            cmocka_unit_test(test_kdump_read_by_libkdumpfile),
            cmocka_unit_test(test_kdump_zero_pages_shared),
            cmocka_unit_test(test_kdump_zstd_read_by_libkdumpfile),
            cmocka_unit_test(test_elf_zero_tails),
            cmocka_unit_test(test_kdump_resume),
            cmocka_unit_test(test_elf_resume),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
