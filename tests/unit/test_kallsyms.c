/* kallsyms decoding on synthetic kernel images: lookup and symbolize in the
 * three address encodings (absolute, base-relative, base-relative with
 * absolute per-CPU values), a name long enough for the two-byte length,
 * and corrupt counts, token indexes and lengths rejected with an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../monitor/kernel/kallsyms.h"
#include "../../monitor/kernel/kernel.h"
#include "../../monitor/source/phys_file.h"
#include "../../monitor/kernel/vmcoreinfo.h"
#include "helpers.h"
#include "kallsyms_img.h"

static struct ks_img img;
static char long_name[301];

static const struct ks_sym kernel_syms[] = {
    {'T', "_stext", KS_K(0x0)},
    {'T', "startup_64", KS_K(0x0)},
    {'T', "secondary_startup", KS_K(0x40)},
    {'D', "jiffies_64", KS_K(0x1000)},
    {'D', "init_task", KS_K(0x2000)},
    {'t', "jiffies", KS_K(0x1100)},
    {'B', long_name, KS_K(0x3000)},
    {'R', "__start_BTF", KS_K(0x4000)},
};
#define NK (sizeof(kernel_syms) / sizeof(kernel_syms[0]))

static const struct ks_sym percpu_syms[] = {
    {'D', "fixed_percpu_data", 0x0},
    {'D', "runqueues", 0x2c000},
    {'T', "_stext", KS_K(0x0)},
    {'D', "jiffies_64", KS_K(0x1000)},
};

static struct bd_error *decode(struct bd_kallsyms **ks, uint64_t *waits)
{
        struct bd_phys *p;
        struct bd_vmcoreinfo vi;
        struct bd_kernel *k = NULL;
        assert_bd_ok(ks_open(&img, &p, &vi, &k));
        uint64_t b0 = p->batches;
        struct bd_error *err = bd_kallsyms_load(k, &vi, ks);
        if (waits)
                *waits = p->batches - b0;
        bd_kernel_close(k);
        bd_phys_close(p);
        return err;
}

static void build_kernel(enum ks_enc enc)
{
        memset(long_name, 'x', 300);
        long_name[300] = '\0';
        ks_build(&img, kernel_syms, NK, enc);
}

static void expect_sym(struct bd_kallsyms *ks, const char *name, uint64_t addr, char type)
{
        uint64_t a;
        char t;
        assert_bd_ok(bd_kallsyms_lookup(ks, name, &a, &t));
        assert_int_equal(a, addr);
        assert_int_equal(t, type);
}

static void expect_at(struct bd_kallsyms *ks, uint64_t addr, const char *name, uint64_t off,
                      uint64_t size, char type)
{
        const char *n;
        uint64_t o, sz;
        char t;
        assert_bd_ok(bd_kallsyms_symbolize(ks, addr, &n, &o, &sz, &t));
        assert_string_equal(n, name);
        assert_int_equal(o, off);
        assert_int_equal(sz, size);
        assert_int_equal(t, type);
}

static void check_kernel_syms(enum ks_enc enc, enum bd_kallsyms_encoding want)
{
        build_kernel(enc);
        struct bd_kallsyms *ks;
        uint64_t waits;
        assert_bd_ok(decode(&ks, &waits));
        assert_int_equal(bd_kallsyms_count(ks), NK);
        assert_int_equal(bd_kallsyms_encoding(ks), want);
        /* The tables are fetched whole, not symbol by symbol: in one batch
         * where each one ends where the next begins, the kernel's layout;
         * the synthetic absolute image puts its addresses after the token
         * index, so they wait for the count, in a second. */
        assert_int_equal(waits, enc == KS_ABSOLUTE ? 2 : 1);
        for (size_t i = 0; i < NK; i++) {
                const char *name;
                uint64_t a;
                char t;
                bd_kallsyms_at(ks, i, &name, &a, &t);
                assert_string_equal(name, kernel_syms[i].name);
                expect_sym(ks, kernel_syms[i].name, kernel_syms[i].addr, kernel_syms[i].type);
        }
        expect_at(ks, KS_K(0x1010), "jiffies_64", 0x10, 0x100, 'D');
        /* Aliases: the first the kernel lists. */
        expect_at(ks, KS_K(0x8), "_stext", 8, 0x40, 'T');
        expect_at(ks, KS_K(0x4000), "__start_BTF", 0, 0, 'R');
        const char *name;
        uint64_t off, size;
        char t;
        assert_bd_error(bd_kallsyms_symbolize(ks, KS_K(0x4001), &name, &off, &size, &t),
                        BD_ERR_NOT_FOUND);
        assert_bd_error(bd_kallsyms_symbolize(ks, KS_K(0) - 1, &name, &off, &size, &t),
                        BD_ERR_NOT_FOUND);
        assert_bd_error(bd_kallsyms_lookup(ks, "jiffies_6", &off, &t), BD_ERR_NOT_FOUND);
        bd_kallsyms_free(ks);
}

static void test_relative(void **state)
{
        (void)state;
        check_kernel_syms(KS_RELATIVE, BD_KALLSYMS_RELATIVE);
}

static void test_absolute(void **state)
{
        (void)state;
        check_kernel_syms(KS_ABSOLUTE, BD_KALLSYMS_ABSOLUTE);
}

static void test_relative_percpu(void **state)
{
        (void)state;
        ks_build(&img, percpu_syms, 4, KS_PERCPU);
        struct bd_kallsyms *ks;
        assert_bd_ok(decode(&ks, NULL));
        assert_int_equal(bd_kallsyms_encoding(ks), BD_KALLSYMS_RELATIVE_PERCPU);
        expect_sym(ks, "fixed_percpu_data", 0, 'D');
        expect_sym(ks, "runqueues", 0x2c000, 'D');
        expect_sym(ks, "_stext", KS_K(0), 'T');
        expect_sym(ks, "jiffies_64", KS_K(0x1000), 'D');
        const char *name;
        uint64_t off, size;
        assert_bd_ok(bd_kallsyms_symbolize(ks, 0x2c008, &name, &off, &size, NULL));
        assert_string_equal(name, "runqueues");
        assert_int_equal(off, 8);
        bd_kallsyms_free(ks);
}

static void test_missing_vmcoreinfo(void **state)
{
        (void)state;
        build_kernel(KS_RELATIVE);
        char *s = strstr(img.vmcoreinfo, "SYMBOL(kallsyms_token_index)");
        s[0] = 'X';
        struct bd_kallsyms *ks;
        assert_bd_error(decode(&ks, NULL), BD_ERR_NOT_FOUND);
        assert_null(ks);
        build_kernel(KS_RELATIVE);
        s = strstr(img.vmcoreinfo, "SYMBOL(kallsyms_relative_base)");
        s[0] = 'X';
        assert_bd_error(decode(&ks, NULL), BD_ERR_NOT_FOUND);
}

static void test_corrupt_counts(void **state)
{
        (void)state;
        struct bd_kallsyms *ks;
        const uint32_t bad[] = {0, BD_KALLSYMS_MAX_SYMS + 1, 0xffffffffu, NK + 1};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                build_kernel(KS_RELATIVE);
                ks_put(img.mem + KS_NUM, bad[i], 4);
                assert_bd_error(decode(&ks, NULL), BD_ERR_NOT_FOUND);
                assert_null(ks);
        }
}

static void test_corrupt_tokens(void **state)
{
        (void)state;
        struct bd_kallsyms *ks;
        build_kernel(KS_RELATIVE);
        ks_put(img.mem + KS_INDEX + 2 * 'j', 0xffff, 2);
        assert_bd_error(decode(&ks, NULL), BD_ERR_NOT_FOUND);
        /* The last token's string runs into the index with no NUL. */
        build_kernel(KS_RELATIVE);
        memset(img.mem + KS_TABLE, 'a', KS_INDEX - KS_TABLE);
        assert_bd_error(decode(&ks, NULL), BD_ERR_NOT_FOUND);
}

static void test_corrupt_names(void **state)
{
        (void)state;
        struct bd_kallsyms *ks;
        /* The last name's two-byte length runs past the token table. */
        build_kernel(KS_RELATIVE);
        img.mem[img.name_at[NK - 1]] = 0xff;
        img.mem[img.name_at[NK - 1] + 1] = 0x7f;
        assert_bd_error(decode(&ks, NULL), BD_ERR_NOT_FOUND);
        /* A zero length. */
        build_kernel(KS_RELATIVE);
        img.mem[img.name_at[2]] = 0;
        assert_bd_error(decode(&ks, NULL), BD_ERR_NOT_FOUND);
        /* Expands past KSYM_NAME_LEN: 127 "jiffies" tokens. */
        build_kernel(KS_RELATIVE);
        img.mem[img.name_at[0]] = 127;
        memset(img.mem + img.name_at[0] + 1, 0x80, 127);
        assert_bd_error(decode(&ks, NULL), BD_ERR_NOT_FOUND);
        /* Names pointing outside memory. */
        build_kernel(KS_RELATIVE);
        char *s = strstr(img.vmcoreinfo, "SYMBOL(kallsyms_names)=");
        memcpy(s + strlen("SYMBOL(kallsyms_names)="), "ffffffff8f", 10);
        assert_bd_error(decode(&ks, NULL), BD_ERR_RANGE);
}

/* A table from the per-build cache is held against the kernel's memory:
 * the right one matches in every encoding; one whose symbol moved, or
 * whose count differs (another kernel claiming this build id), does not. */
static struct bd_error *matches_image(const struct bd_kallsyms *cached)
{
        struct bd_phys *p;
        struct bd_vmcoreinfo vi;
        struct bd_kernel *k = NULL;
        assert_bd_ok(ks_open(&img, &p, &vi, &k));
        struct bd_error *err = bd_kallsyms_matches(cached, k, &vi, BD_KALLSYMS_MAX_SAMPLES);
        bd_kernel_close(k);
        bd_phys_close(p);
        return err;
}

static void test_cache_matches(void **state)
{
        (void)state;
        static const enum ks_enc encs[] = {KS_ABSOLUTE, KS_RELATIVE, KS_PERCPU};
        for (size_t e = 0; e < 3; e++) {
                const struct ks_sym *syms = encs[e] == KS_PERCPU ? percpu_syms : kernel_syms;
                unsigned n = encs[e] == KS_PERCPU ? 4 : NK;
                struct ks_sym moved[NK];
                memcpy(moved, syms, n * sizeof(*syms));
                moved[n - 1].addr += 0x800;
                memset(long_name, 'x', 300);
                ks_build(&img, syms, n, encs[e]);
                struct bd_kallsyms *ks, *cached;
                void *data;
                size_t len;
                assert_bd_ok(decode(&ks, NULL));
                assert_int_equal(bd_kallsyms_serialize(ks, 0, &data, &len), 0);
                assert_bd_ok(bd_kallsyms_deserialize(data, len, 0, &cached));
                free(data);
                assert_bd_ok(matches_image(cached));

                ks_build(&img, moved, n, encs[e]);
                struct bd_error *err = matches_image(cached);
                assert_non_null(err);
                assert_int_equal(err->code, BD_ERR_NOT_FOUND);
                assert_non_null(strstr(err->message, moved[n - 1].name));
                bd_error_destroy(err);

                ks_build(&img, syms, n - 1, encs[e]);
                err = matches_image(cached);
                assert_non_null(err);
                assert_non_null(strstr(err->message, "symbols, the kernel has"));
                bd_error_destroy(err);
                bd_kallsyms_free(ks);
                bd_kallsyms_free(cached);
        }
}

/* A table in address order (the kernel's way: no sort) with one name twice:
 * a lookup by name finds the first the kernel lists, every other name its
 * own symbol. */
static void test_same_names(void **state)
{
        (void)state;
        static char gen[20][8];
        struct ks_sym syms[3 + 20] = {
            {'T', "_stext", KS_K(0x0)},
            {'t', "dup", KS_K(0x10)},
            {'T', "dup", KS_K(0x20)},
        };
        for (int i = 0; i < 20; i++) {
                snprintf(gen[i], sizeof(gen[i]), "n%02d", i);
                syms[3 + i] = (struct ks_sym){'D', gen[i], KS_K(0x100 + 0x10 * (uint64_t)i)};
        }
        ks_build(&img, syms, 23, KS_RELATIVE);
        struct bd_kallsyms *ks;
        assert_bd_ok(decode(&ks, NULL));
        expect_sym(ks, "dup", KS_K(0x10), 't');
        for (int i = 0; i < 20; i++)
                expect_sym(ks, gen[i], KS_K(0x100 + 0x10 * (uint64_t)i), 'D');
        expect_at(ks, KS_K(0x25), "dup", 5, 0xe0, 'T');
        uint64_t a;
        char t;
        assert_bd_error(bd_kallsyms_lookup(ks, "du", &a, &t), BD_ERR_NOT_FOUND);
        bd_kallsyms_free(ks);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_relative),        cmocka_unit_test(test_absolute),
            cmocka_unit_test(test_relative_percpu), cmocka_unit_test(test_missing_vmcoreinfo),
            cmocka_unit_test(test_corrupt_counts),  cmocka_unit_test(test_corrupt_tokens),
            cmocka_unit_test(test_corrupt_names),   cmocka_unit_test(test_cache_matches),
            cmocka_unit_test(test_same_names),
        };
        return cmocka_run_group_tests_name("kallsyms", tests, NULL, NULL);
}
