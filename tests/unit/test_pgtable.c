/* The x86-64 page-table walker and the kernel object's reads, on small RAM
 * files holding hand-built page tables: both paging modes, every page size,
 * flag bits in entries, and the ways a walk must fail cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/kernel/pgtable.h"
#include "../../monitor/source/phys_file.h"
#include "helpers.h"

#define IMG_SIZE (4u << 20)
#define NX       (1ull << 63)
/* Accessed, dirty, global, RW, user, and software bits 52..58: none of them
 * are address bits. */
#define FLAGS (0x1ull | 0x2ull | 0x4ull | 0x20ull | 0x40ull | 0x100ull | (0x7full << 52))

static uint8_t *img;
static char path[64];

static unsigned idx(uint64_t vaddr, int level)
{
        return (unsigned)(vaddr >> (12 + 9 * (level - 1))) & 511;
}

static void set_entry(uint64_t table, unsigned index, uint64_t value)
{
        memcpy(img + table + index * 8, &value, 8);
}

static struct bd_phys *open_img(void)
{
        struct bd_phys *p;
        temp_file(path, img, IMG_SIZE);
        assert_bd_ok(bd_phys_open_file(path, 0, &p));
        unlink(path); /* mapped: every test opens its own, none is left behind */
        snprintf(p->name, sizeof(p->name), "synthetic");
        return p;
}

static int setup(void **state)
{
        (void)state;
        img = calloc(1, IMG_SIZE);
        return img ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        free(img);
        return 0;
}

/* Tables at 0x1000.. (PGD first); the walk follows vaddr down to level
 * stop, where the caller puts the leaf. Returns that table's address. */
static uint64_t chain(uint64_t vaddr, int levels, int stop)
{
        uint64_t table = 0x1000;
        for (int level = levels; level > stop; level--) {
                uint64_t next = table + 0x1000;
                set_entry(table, idx(vaddr, level), next | FLAGS | NX);
                table = next;
        }
        return table;
}

static void expect_translation(int levels, uint64_t vaddr, uint64_t want_pa, uint64_t want_size)
{
        struct bd_phys *p = open_img();
        uint64_t pa = 0, size = 0;
        assert_bd_ok(bd_pgtable_translate(p, 0x1000, levels, vaddr, &pa, &size));
        assert_int_equal(pa, want_pa);
        assert_int_equal(size, want_size);
        bd_phys_close(p);
}

static void test_4level_4k(void **state)
{
        (void)state;
        uint64_t va = 0xffff888000123456ull;
        uint64_t pte = chain(va, 4, 1);
        set_entry(pte, idx(va, 1), 0x0000000abcdef000ull | FLAGS | NX);
        expect_translation(4, va, 0xabcdef456ull, 4096);
}

static void test_4level_2m(void **state)
{
        (void)state;
        uint64_t va = 0xffff888040345678ull;
        uint64_t pmd = chain(va, 4, 2);
        /* Bit 12 of a huge entry is PAT, not an address bit. */
        set_entry(pmd, idx(va, 2), 0x0000000123400000ull | BD_PTE_HUGE | (1ull << 12) | FLAGS | NX);
        expect_translation(4, va, 0x123400000ull + 0x145678, 2u << 20);
}

static void test_4level_1g(void **state)
{
        (void)state;
        uint64_t va = 0xffff8880c1234567ull;
        uint64_t pud = chain(va, 4, 3);
        set_entry(pud, idx(va, 3), 0x0000004040000000ull | BD_PTE_HUGE | (1ull << 12) | FLAGS);
        expect_translation(4, va, 0x4040000000ull + 0x01234567, 1u << 30);
}

static void test_5level_4k(void **state)
{
        (void)state;
        uint64_t va = 0xff11000012345678ull; /* a la57 direct-map address */
        uint64_t pte = chain(va, 5, 1);
        set_entry(pte, idx(va, 1), 0x000ffffffffff000ull | FLAGS | NX);
        expect_translation(5, va, 0xffffffffff678ull, 4096);
}

static void test_5level_2m_and_1g(void **state)
{
        (void)state;
        uint64_t va = 0xff11000080345678ull;
        uint64_t pmd = chain(va, 5, 2);
        set_entry(pmd, idx(va, 2), 0x200000ull | BD_PTE_HUGE | FLAGS | NX);
        expect_translation(5, va, 0x200000ull + 0x145678, 2u << 20);
        memset(img, 0, IMG_SIZE);
        uint64_t va2 = 0xff22334455667788ull;
        uint64_t pud = chain(va2, 5, 3);
        set_entry(pud, idx(va2, 3), 0x0000008000000000ull | BD_PTE_HUGE | FLAGS);
        expect_translation(5, va2, 0x8000000000ull + (va2 & 0x3fffffff), 1u << 30);
}

/* The same address walks a different path in each mode: bits 48..56 are
 * the PGD index only under la57. */
static void test_modes_differ(void **state)
{
        (void)state;
        uint64_t va = 0xffff888000001000ull;
        uint64_t pte = chain(va, 4, 1);
        set_entry(pte, idx(va, 1), 0x5000 | FLAGS);
        struct bd_phys *p = open_img();
        uint64_t pa;
        assert_bd_ok(bd_pgtable_translate(p, 0x1000, 4, va, &pa, NULL));
        assert_int_equal(pa, 0x5000);
        assert_bd_error(bd_pgtable_translate(p, 0x1000, 5, va, &pa, NULL), BD_ERR_NOT_FOUND);
        assert_bd_error(bd_pgtable_translate(p, 0x1000, 3, va, &pa, NULL), BD_ERR_USAGE);
        bd_phys_close(p);
}

static void test_not_present(void **state)
{
        (void)state;
        uint64_t va = 0xffff888000200000ull;
        uint64_t pmd = chain(va, 4, 2);
        /* Everything but the present bit (and the bit that, without it,
         * means a PROT_NONE page). */
        set_entry(pmd, idx(va, 2),
                  0x400000ull | (FLAGS & ~1ull & ~BD_PTE_PROTNONE) | BD_PTE_HUGE | NX);
        struct bd_phys *p = open_img();
        uint64_t pa;
        struct bd_error *err = bd_pgtable_translate(p, 0x1000, 4, va, &pa, NULL);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_NOT_FOUND);
        assert_non_null(strstr(err->message, "0xffff888000200000"));
        assert_non_null(strstr(err->message, "level-2"));
        assert_non_null(strstr(err->message, "not present"));
        bd_error_destroy(err);
        /* An empty PGD fails at the top. */
        err = bd_pgtable_translate(p, 0x1000, 4, 0xffffc90000000000ull, &pa, NULL);
        assert_non_null(err);
        assert_non_null(strstr(err->message, "level-4 PGD"));
        bd_error_destroy(err);
        bd_phys_close(p);
}

/* A lookup that ends on a non-present entry says where and how much it
 * covers, so a range walk skips it whole; a non-zero PTE without the
 * present bit (a swap entry) is told from an empty one. */
static void test_lookup_not_present(void **state)
{
        (void)state;
        uint64_t va = 0x00007f0000200000ull;
        uint64_t pmd = chain(va, 4, 2);
        set_entry(pmd, idx(va, 2) + 1, 0x5000ull | FLAGS);
        set_entry(0x5000, 3, 0x3e00ull); /* a swap entry: offset bits, no present bit */
        set_entry(0x5000, 4, 0x0000000abcdef000ull | FLAGS);
        /* A page of a PROT_NONE mapping: no present bit, its frame stored
         * inverted; present as pte_present() says. */
        set_entry(0x5000, 5, (~0x0000000abcdef000ull & BD_PTE_ADDR_MASK) | BD_PTE_PROTNONE | 0x60);
        struct bd_phys *p = open_img();
        struct bd_pgtable_leaf leaf;
        assert_bd_ok(bd_pgtable_lookup(p, NULL, 0x1000, 4, va + 0x1234, &leaf));
        assert_false(leaf.present);
        assert_int_equal(leaf.level, 2);
        assert_int_equal(leaf.size, 2u << 20);
        assert_int_equal(leaf.entry, 0);
        assert_int_equal(leaf.entry_phys, pmd + idx(va, 2) * 8);
        uint64_t va2 = va + (2u << 20);
        assert_bd_ok(bd_pgtable_lookup(p, NULL, 0x1000, 4, va2 + 3 * 4096, &leaf));
        assert_false(leaf.present);
        assert_int_equal(leaf.level, 1);
        assert_int_equal(leaf.entry, 0x3e00ull);
        assert_bd_ok(bd_pgtable_lookup(p, NULL, 0x1000, 4, va2 + 4 * 4096 + 5, &leaf));
        assert_true(leaf.present);
        assert_int_equal(leaf.paddr, 0xabcdef005ull);
        assert_int_equal(leaf.size, 4096);
        /* The entries it went through, top first, as read: what a reader
         * checks again later in one request instead of walking again. */
        assert_int_equal(leaf.nchain, 4);
        assert_int_equal(leaf.chain_phys[0], 0x1000 + idx(va2, 4) * 8);
        assert_int_equal(leaf.chain_phys[2], pmd + (idx(va, 2) + 1) * 8);
        assert_int_equal(leaf.chain[2], 0x5000ull | FLAGS);
        assert_int_equal(leaf.chain_phys[3], leaf.entry_phys);
        assert_int_equal(leaf.chain[3], leaf.entry);
        assert_bd_ok(bd_pgtable_lookup(p, NULL, 0x1000, 4, va2 + 5 * 4096 + 8, &leaf));
        assert_true(leaf.present);
        assert_true(leaf.protnone);
        assert_int_equal(leaf.paddr, 0xabcdef008ull);
        /* An empty top-level entry covers 512 GiB. */
        assert_bd_ok(bd_pgtable_lookup(p, NULL, 0x1000, 4, 0x100000000000ull, &leaf));
        assert_false(leaf.present);
        assert_int_equal(leaf.level, 4);
        assert_int_equal(leaf.size, 1ull << 39);
        bd_phys_close(p);
}

static void test_table_outside_windows(void **state)
{
        (void)state;
        uint64_t va = 0xffff888000300000ull;
        uint64_t pud = chain(va, 4, 3);
        set_entry(pud, idx(va, 3), 0x00000fff00000000ull | FLAGS);
        struct bd_phys *p = open_img();
        uint64_t pa;
        struct bd_error *err = bd_pgtable_translate(p, 0x1000, 4, va, &pa, NULL);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_RANGE);
        assert_non_null(strstr(err->message, "0xffff888000300000"));
        assert_non_null(strstr(err->message, "level-2 PMD table at 0xfff00000000"));
        bd_error_destroy(err);
        /* A root outside memory. */
        assert_bd_error(bd_pgtable_translate(p, 0x7000000000ull, 5, va, &pa, NULL), BD_ERR_RANGE);
        bd_phys_close(p);
}

static void test_non_canonical(void **state)
{
        (void)state;
        struct bd_phys *p = open_img();
        uint64_t pa;
        struct bd_error *err = bd_pgtable_translate(p, 0x1000, 4, 0x0000900000000000ull, &pa, NULL);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_NOT_FOUND);
        assert_non_null(strstr(err->message, "canonical"));
        bd_error_destroy(err);
        assert_bd_error(bd_pgtable_translate(p, 0x1000, 5, 0x8000000000000000ull, &pa, NULL),
                        BD_ERR_NOT_FOUND);
        bd_phys_close(p);
}

/* VMCOREINFO for a kernel whose image sits at physical 0 (phys_base is
 * negative, as under KASLR) with init_top_pgt at physical 0x1000. */
static struct bd_vmcoreinfo vi;

static void make_vi(int l5)
{
        int64_t pb = -0x1000000;
        vi.len = (size_t)snprintf(vi.text, sizeof(vi.text),
                                  "OSRELEASE=6.1.0-test\nPAGESIZE=4096\n"
                                  "SYMBOL(init_top_pgt)=%llx\nNUMBER(pgtable_l5_enabled)=%d\n"
                                  "KERNELOFFSET=0\nNUMBER(phys_base)=%lld\n",
                                  (unsigned long long)(0xffffffff80000000ull + 0x1000 - pb), l5,
                                  (long long)pb);
}

/* A 4-level kernel whose two 4 KiB pages at va are the frames at pa1 and
 * pa2. */
static void two_pages(uint64_t va, uint64_t pa1, uint64_t pa2)
{
        make_vi(0);
        uint64_t pte = chain(va, 4, 1);
        set_entry(pte, idx(va, 1), pa1 | FLAGS | NX);
        set_entry(pte, idx(va, 1) + 1, pa2 | FLAGS | NX);
}

static void test_kernel_read(void **state)
{
        (void)state;
        /* A 3-page virtual range over two 4 KiB frames (contiguous: one
         * run) and the start of a 2 MiB page, so the read crosses mappings
         * of different sizes. */
        uint64_t va = 0xffffc90000001000ull;
        two_pages(va, 0x20000, 0x21000);
        uint64_t va2 = 0xffffc90000200000ull; /* next PMD entry */
        set_entry(0x3000, idx(va2, 2), 0x200000 | BD_PTE_HUGE | FLAGS);
        for (unsigned i = 0; i < 0x2000; i++)
                img[0x20000 + i] = (uint8_t)(i * 7);
        memcpy(img + 0x200000, "HUGEPAGE", 8);
        memcpy(img + 0x300000, "IMAGE", 5);

        struct bd_phys *p = open_img();
        struct bd_kernel *k;
        assert_bd_ok(bd_kernel_open(p, &vi, &k));
        assert_int_equal(k->levels, 4);
        assert_int_equal(k->pgd_phys, 0x1000);
        uint8_t buf[0x2000];
        uint64_t rt = p->round_trips;
        assert_bd_ok(bd_kernel_read(k, va, buf, sizeof(buf)));
        /* A 4 KiB leaf covers one page: two walks, the second through
         * tables the first cached, then the two contiguous frames as one
         * read. */
        assert_int_equal(k->walks, 2);
        assert_int_equal(k->tables.misses, 4);
        assert_int_equal(k->tables.hits, 4);
        assert_int_equal(p->round_trips - rt, 4 + 1);
        for (unsigned i = 0; i < sizeof(buf); i++)
                assert_int_equal(buf[i], (uint8_t)(i * 7));
        char hp[9] = {0};
        assert_bd_ok(bd_kernel_read(k, va2, hp, 8));
        assert_string_equal(hp, "HUGEPAGE");
        /* Kernel image addresses need no walk. */
        uint64_t walks = k->walks;
        char im[6] = {0};
        assert_bd_ok(bd_kernel_read(k, 0xffffffff81000000ull + 0x300000, im, 5));
        assert_string_equal(im, "IMAGE");
        assert_int_equal(k->walks, walks);
        uint64_t pa, size;
        assert_bd_ok(bd_kernel_translate(k, va2 + 5, &pa, &size));
        assert_int_equal(pa, 0x200005);
        assert_int_equal(size, 2u << 20);
        /* An unmapped page in the middle fails the whole read. */
        assert_bd_error(bd_kernel_read(k, va + 0x1000, buf, 0x2000), BD_ERR_NOT_FOUND);
        assert_bd_error(bd_kernel_read(k, ~0ull - 4, buf, 16), BD_ERR_RANGE);
        bd_kernel_close(k);
        bd_phys_close(p);
}

/* Under a memo, what a batch read is kept: reading it again costs
 * nothing. A single read elsewhere takes its whole page, and the page then
 * serves every read within it. What the memo cannot serve (across pages,
 * unmapped) meets its own error. */
static void test_memo(void **state)
{
        (void)state;
        uint64_t va = 0xffffc90000001000ull;
        two_pages(va, 0x20000, 0x30000); /* not contiguous */
        for (unsigned i = 0; i < 0x1000; i++) {
                img[0x20000 + i] = (uint8_t)i;
                img[0x30000 + i] = (uint8_t)(i ^ 0x55);
        }
        struct bd_phys *p = open_img();
        struct bd_kernel *k;
        assert_bd_ok(bd_kernel_open(p, &vi, &k));
        uint8_t a[4], b[8], c[8];
        struct bd_kernel_iov iov[] = {
            {va + 0x10, a, sizeof(a)}, {va + 0x1008, b, sizeof(b)}, {va + 0xffc, c, sizeof(c)}};
        /* The page tables cached first: only data is counted. */
        assert_bd_ok(bd_kernel_read(k, va + 0xffc, c, sizeof(c)));
        bd_kernel_memo_start(k);
        uint64_t batches = p->batches, bytes = p->bytes_read;
        assert_bd_ok(bd_kernel_read_batch(k, iov, 3));
        assert_int_equal(a[0], 0x10);
        assert_int_equal(b[0], 0x08 ^ 0x55);
        assert_int_equal(c[0], 0xfc);
        assert_int_equal(c[4], 0x00 ^ 0x55);
        assert_int_equal(p->batches - batches, 1);
        assert_int_equal(p->bytes_read - bytes, sizeof(a) + sizeof(b) + sizeof(c));
        /* Kept: within what was read, again, in a batch or alone. */
        batches = p->batches;
        uint8_t d[2];
        assert_bd_ok(bd_kernel_read(k, va + 0x11, d, 2));
        assert_int_equal(d[0], 0x11);
        assert_bd_ok(bd_kernel_read_batch(k, iov, 2));
        assert_int_equal(p->batches, batches);
        /* Elsewhere in the page: the page, once. */
        assert_bd_ok(bd_kernel_read(k, va + 0x40, d, 1));
        assert_bd_ok(bd_kernel_read(k, va + 0x80, d + 1, 1));
        assert_int_equal(d[0], 0x40);
        assert_int_equal(d[1], 0x80);
        assert_int_equal(p->batches - batches, 1);
        /* An unmapped page in a batch fails it with its error. */
        struct bd_kernel_iov bad[] = {{va + 0x20, a, 1}, {va + 0x5000, b, 8}};
        assert_bd_error(bd_kernel_read_batch(k, bad, 2), BD_ERR_NOT_FOUND);
        assert_bd_error(bd_kernel_read(k, va + 0x5000, b, 8), BD_ERR_NOT_FOUND);
        bd_kernel_memo_stop(k);
        bd_kernel_close(k);
        bd_phys_close(p);
}

static void test_kernel_open_needs_vmcoreinfo(void **state)
{
        (void)state;
        struct bd_phys *p = open_img();
        struct bd_kernel *k;
        make_vi(1);
        assert_bd_ok(bd_kernel_open(p, &vi, &k));
        assert_int_equal(k->levels, 5);
        bd_kernel_close(k);
        vi.len = (size_t)snprintf(vi.text, sizeof(vi.text), "OSRELEASE=x\nPAGESIZE=4096\n");
        assert_bd_error(bd_kernel_open(p, &vi, &k), BD_ERR_NOT_FOUND);
        vi.len = (size_t)snprintf(vi.text, sizeof(vi.text),
                                  "OSRELEASE=x\nPAGESIZE=4096\nNUMBER(phys_base)=0\n");
        assert_bd_error(bd_kernel_open(p, &vi, &k), BD_ERR_NOT_FOUND);
        vi.len = (size_t)snprintf(vi.text, sizeof(vi.text),
                                  "OSRELEASE=x\nPAGESIZE=4096\nNUMBER(phys_base)=0\n"
                                  "SYMBOL(init_top_pgt)=ffff888000001000\n");
        assert_bd_error(bd_kernel_open(p, &vi, &k), BD_ERR_NOT_FOUND);
        bd_phys_close(p);
}

/* The cache gives the same answers as plain walks, evicts the least
 * recently used table, and keeps errors as precise. */
static void test_cache(void **state)
{
        (void)state;
        uint64_t va = 0xffff888000000000ull;
        uint64_t pte = chain(va, 4, 1);
        for (unsigned i = 0; i < 512; i++)
                set_entry(pte, i, (0x100000ull + i * 0x1000) | FLAGS | NX);
        /* More PTE tables than slots, one per 2 MiB of a second range. */
        uint64_t va2 = 0xffff888040000000ull;
        uint64_t pmd2 = 0x20000;
        set_entry(0x2000, idx(va2, 3), pmd2 | FLAGS);
        for (unsigned t = 0; t < 2 * BD_PGTABLE_CACHE_SLOTS; t++) {
                uint64_t tbl = 0x21000 + t * 0x1000;
                set_entry(pmd2, t, tbl | FLAGS);
                for (unsigned i = 0; i < 512; i++)
                        set_entry(tbl, i, (0x400000ull + t * 0x200000 + i * 0x1000) | FLAGS);
        }
        struct bd_phys *p = open_img();
        struct bd_pgtable_cache *c = calloc(1, sizeof(*c));
        assert_non_null(c);
        for (int round = 0; round < 2; round++) {
                for (uint64_t off = 0; off < (2u << 20); off += 0x1000) {
                        uint64_t pa1, pa2, s1, s2;
                        assert_bd_ok(bd_pgtable_translate(p, 0x1000, 4, va + off, &pa1, &s1));
                        assert_bd_ok(
                            bd_pgtable_translate_cached(p, c, 0x1000, 4, va + off, &pa2, &s2));
                        assert_int_equal(pa1, pa2);
                        assert_int_equal(s1, s2);
                }
                for (uint64_t off = 0; off < 2 * BD_PGTABLE_CACHE_SLOTS * (2u << 20);
                     off += 0x7000) {
                        uint64_t pa;
                        assert_bd_ok(
                            bd_pgtable_translate_cached(p, c, 0x1000, 4, va2 + off, &pa, NULL));
                        assert_int_equal(pa, 0x400000ull + off);
                }
        }
        assert_true(c->hits > 10 * c->misses);
        uint64_t pa;
        struct bd_error *err =
            bd_pgtable_translate_cached(p, c, 0x1000, 4, va2 + (64ull << 20), &pa, NULL);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_NOT_FOUND);
        assert_non_null(strstr(err->message, "level-2 PMD"));
        bd_error_destroy(err);
        set_entry(0x2000, idx(va2, 3), 0x00000fff00000000ull | FLAGS);
        bd_phys_close(p);
        p = open_img();
        memset(c, 0, sizeof(*c));
        assert_bd_error(bd_pgtable_translate_cached(p, c, 0x1000, 4, va2, &pa, NULL), BD_ERR_RANGE);
        free(c);
        bd_phys_close(p);
}

/* Read ahead, the tables of user ranges come a level at a time, one batch
 * each, and the lookups then read nothing; a huge leaf has no table below,
 * an entry that points back up is not read twice, and a range in the
 * kernel half is left to the lookups. */
static void test_prefetch(void **state)
{
        (void)state;
        for (int levels = 4; levels <= 5; levels++) {
                memset(img, 0, IMG_SIZE);
                uint64_t va = 0x7f0000000000ull;
                uint64_t pmd = chain(va, levels, 2);
                /* 16 PTE tables, then a 2 MiB leaf, then the PGD again. */
                for (unsigned t = 0; t < 16; t++) {
                        uint64_t tbl = 0x40000 + t * 0x1000;
                        set_entry(pmd, idx(va, 2) + t, tbl | FLAGS);
                        for (unsigned i = 0; i < 512; i++)
                                set_entry(tbl, i, (0x10000000ull + (t << 21) + i * 0x1000) | FLAGS);
                }
                set_entry(pmd, idx(va, 2) + 16, 0x200000ull | 0x80 | FLAGS);
                set_entry(pmd, idx(va, 2) + 17, 0x1000 | FLAGS);
                struct bd_phys *p = open_img();
                struct bd_pgtable_cache *c = calloc(1, sizeof(*c));
                assert_non_null(c);
                const struct bd_pgtable_range rg[] = {
                    {va, va + (18ull << 21)},
                    {va + 0x3000, va + 0x5000}, /* inside the first: nothing new */
                    {0xffff888000000000ull, 0xffff888000200000ull},
                };
                uint64_t batches = p->batches;
                assert_bd_ok(bd_pgtable_prefetch(p, c, 0x1000, levels, rg, 3));
                /* PGD, (P4D,) PUD, PMD, the PTE tables and the PGD once. */
                assert_int_equal(c->nahead, (size_t)(levels - 1) + 16);
                assert_int_equal(p->batches - batches, (uint64_t)levels);
                for (uint64_t off = 0; off < (16ull << 21); off += 0x7000) {
                        uint64_t pa;
                        assert_bd_ok(
                            bd_pgtable_translate_cached(p, c, 0x1000, levels, va + off, &pa, NULL));
                        assert_int_equal(pa, 0x10000000ull + off);
                }
                uint64_t pa, size;
                assert_bd_ok(bd_pgtable_translate_cached(p, c, 0x1000, levels, va + (16ull << 21),
                                                         &pa, &size));
                assert_int_equal(size, 2u << 20);
                assert_int_equal(c->misses, 0);
                bd_pgtable_cache_release(c);
                assert_null(c->ahead);
                free(c);
                bd_phys_close(p);
        }
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            T(test_4level_4k),
            T(test_4level_2m),
            T(test_4level_1g),
            T(test_5level_4k),
            T(test_5level_2m_and_1g),
            T(test_modes_differ),
            T(test_not_present),
            T(test_lookup_not_present),
            T(test_table_outside_windows),
            T(test_non_canonical),
            T(test_cache),
            T(test_prefetch),
            T(test_kernel_read),
            T(test_memo),
            T(test_kernel_open_needs_vmcoreinfo),
        };
        return cmocka_run_group_tests_name("pgtable", tests, NULL, NULL);
}
