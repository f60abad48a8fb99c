/* The per-build cache: kallsyms serialized and read back (all three address
 * encodings, relocated to another KASLR slide, sharing another table's
 * names), a build's memo (its files read, its table decoded and its layout
 * computed once per process), every truncation and
 * corruption of a cache file rejected, BUILD-IDs from a hostile target kept
 * from becoming paths, and files stored and loaded through $BDMON_CACHE
 * with no temporary left behind. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <bpf/btf.h>

#include "../../monitor/cache/cache.h"
#include "../../monitor/kernel/build_memo.h"
#include "../../monitor/kernel/kallsyms.h"
#include "../../monitor/kernel/kernel.h"
#include "../../monitor/source/phys_file.h"
#include "../../monitor/kernel/vmcoreinfo.h"
#include "helpers.h"
#include "kallsyms_img.h"

static struct ks_img img;

static const struct ks_sym kernel_syms[] = {
    {'T', "_stext", KS_K(0x0)},
    {'T', "startup_64", KS_K(0x0)},
    {'T', "secondary_startup", KS_K(0x40)},
    {'D', "jiffies_64", KS_K(0x1000)},
    {'D', "init_task", KS_K(0x2000)},
    {'t', "jiffies", KS_K(0x1100)},
    {'R', "__start_BTF", KS_K(0x4000)},
};
#define NK (sizeof(kernel_syms) / sizeof(kernel_syms[0]))

static const struct ks_sym percpu_syms[] = {
    {'D', "fixed_percpu_data", 0x0},
    {'D', "runqueues", 0x2c000},
    {'T', "_stext", KS_K(0x0)},
    {'D', "jiffies_64", KS_K(0x1000)},
};
#define NP (sizeof(percpu_syms) / sizeof(percpu_syms[0]))

static struct bd_kallsyms *decode(void)
{
        struct bd_phys *p;
        struct bd_vmcoreinfo vi;
        struct bd_kernel *k = NULL;
        struct bd_kallsyms *ks = NULL;
        assert_bd_ok(ks_open(&img, &p, &vi, &k));
        assert_bd_ok(bd_kallsyms_load(k, &vi, &ks));
        bd_kernel_close(k);
        bd_phys_close(p);
        return ks;
}

static struct bd_kallsyms *build(enum ks_enc enc)
{
        if (enc == KS_PERCPU)
                ks_build(&img, percpu_syms, NP, enc);
        else
                ks_build(&img, kernel_syms, NK, enc);
        return decode();
}

/* b is a, every image address moved by delta. */
static void expect_same(const struct bd_kallsyms *a, const struct bd_kallsyms *b, uint64_t delta)
{
        assert_int_equal(bd_kallsyms_count(a), bd_kallsyms_count(b));
        assert_int_equal(bd_kallsyms_encoding(a), bd_kallsyms_encoding(b));
        for (size_t i = 0; i < bd_kallsyms_count(a); i++) {
                const char *na, *nb, *sa, *sb;
                uint64_t aa, ab, oa, ob, za, zb;
                char ta, tb, ya, yb;
                bd_kallsyms_at(a, i, &na, &aa, &ta);
                bd_kallsyms_at(b, i, &nb, &ab, &tb);
                assert_string_equal(na, nb);
                assert_int_equal(ta, tb);
                uint64_t d = aa >= 0xffffffff80000000ull && aa < 0xffffffffc0000000ull ? delta : 0;
                assert_int_equal(ab, aa + d);
                uint64_t la, lb;
                assert_bd_ok(bd_kallsyms_lookup(a, na, &la, &ya));
                assert_bd_ok(bd_kallsyms_lookup(b, nb, &lb, &yb));
                assert_int_equal(lb, la + d);
                assert_int_equal(ya, yb);
                /* Symbolize, aliases included, lands where the original did. */
                assert_bd_ok(bd_kallsyms_symbolize(a, aa, &sa, &oa, &za, &ya));
                assert_bd_ok(bd_kallsyms_symbolize(b, ab, &sb, &ob, &zb, &yb));
                assert_string_equal(sa, sb);
                assert_int_equal(oa, ob);
                /* The last per-CPU symbol's size reaches to the kernel image,
                 * which moved. */
                if (!delta)
                        assert_int_equal(za, zb);
                assert_int_equal(ya, yb);
        }
}

static void round_trip(enum ks_enc enc, enum bd_kallsyms_encoding want)
{
        struct bd_kallsyms *ks = build(enc), *back;
        assert_int_equal(bd_kallsyms_encoding(ks), want);
        void *data;
        size_t len;
        assert_bd_ok(bd_kallsyms_serialize(ks, 0, &data, &len));
        assert_bd_ok(bd_kallsyms_deserialize(data, len, 0, &back));
        expect_same(ks, back, 0);
        struct bd_kallsyms_stats st;
        bd_kallsyms_stats(back, &st);
        assert_int_equal(st.bytes_read, 0);
        assert_int_equal(st.reads, 0);
        const char *name;
        uint64_t off, size;
        if (enc != KS_PERCPU) {
                char t;
                assert_bd_ok(bd_kallsyms_symbolize(back, KS_K(0x1010), &name, &off, &size, &t));
                assert_string_equal(name, "jiffies_64");
                assert_int_equal(off, 0x10);
                assert_int_equal(size, 0x100);
                assert_int_equal(t, 'D');
                assert_bd_ok(bd_kallsyms_symbolize(back, KS_K(0x8), &name, &off, &size, &t));
                assert_string_equal(name, "_stext");
                assert_int_equal(size, 0x40);
                assert_bd_error(bd_kallsyms_symbolize(back, KS_K(0x4001), &name, &off, NULL, NULL),
                                BD_ERR_NOT_FOUND);
                assert_bd_error(bd_kallsyms_symbolize(back, KS_K(0) - 1, &name, &off, NULL, NULL),
                                BD_ERR_NOT_FOUND);
        } else {
                assert_bd_ok(bd_kallsyms_symbolize(back, 0x2c008, &name, &off, NULL, NULL));
                assert_string_equal(name, "runqueues");
                assert_int_equal(off, 8);
        }
        assert_bd_error(bd_kallsyms_lookup(back, "jiffies_6", &off, NULL), BD_ERR_NOT_FOUND);
        free(data);
        bd_kallsyms_free(back);
        bd_kallsyms_free(ks);
}

static void test_round_trip_relative(void **state)
{
        (void)state;
        round_trip(KS_RELATIVE, BD_KALLSYMS_RELATIVE);
}

static void test_round_trip_absolute(void **state)
{
        (void)state;
        round_trip(KS_ABSOLUTE, BD_KALLSYMS_ABSOLUTE);
}

static void test_round_trip_percpu(void **state)
{
        (void)state;
        round_trip(KS_PERCPU, BD_KALLSYMS_RELATIVE_PERCPU);
}

static void test_relocation(void **state)
{
        (void)state;
        /* Read on a boot slid by 16 MiB, loaded on one slid by 48 MiB: image
         * symbols move by 32 MiB, per-CPU offsets stay. */
        struct bd_kallsyms *ks = build(KS_PERCPU), *back;
        void *data;
        size_t len;
        assert_bd_ok(bd_kallsyms_serialize(ks, 0x1000000, &data, &len));
        assert_bd_ok(bd_kallsyms_deserialize(data, len, 0x3000000, &back));
        expect_same(ks, back, 0x2000000);
        uint64_t a;
        assert_bd_ok(bd_kallsyms_lookup(back, "runqueues", &a, NULL));
        assert_int_equal(a, 0x2c000);
        assert_bd_ok(bd_kallsyms_lookup(back, "jiffies_64", &a, NULL));
        assert_int_equal(a, KS_K(0x1000) + 0x2000000);
        bd_kallsyms_free(back);
        /* The same bytes whatever the slide they were read under. */
        void *data2;
        size_t len2;
        assert_bd_ok(bd_kallsyms_serialize(ks, 0, &data2, &len2));
        assert_int_equal(len, len2);
        assert_memory_not_equal(data, data2, len);
        free(data2);
        free(data);
        bd_kallsyms_free(ks);
}

/* A table from the same bytes under another slide shares the first one's
 * names and by-name index, answers as a table of its own would, and
 * outlives the table it shares them with. */
static void test_shared_names(void **state)
{
        (void)state;
        struct bd_kallsyms *ks = build(KS_PERCPU), *base, *own, *copy, *copy2;
        void *data;
        size_t len;
        assert_bd_ok(bd_kallsyms_serialize(ks, 0x1000000, &data, &len));
        assert_bd_ok(bd_kallsyms_deserialize(data, len, 0, &base));
        assert_bd_ok(bd_kallsyms_deserialize(data, len, 0x3000000, &own));
        assert_bd_ok(bd_kallsyms_deserialize_from(base, data, len, 0x3000000, &copy));
        const char *nb, *nc;
        uint64_t a;
        char t;
        bd_kallsyms_at(base, 0, &nb, &a, &t);
        bd_kallsyms_at(copy, 0, &nc, &a, &t);
        assert_ptr_equal(nb, nc);
        bd_kallsyms_free(base);
        expect_same(own, copy, 0);
        expect_same(ks, copy, 0x2000000);
        /* From a table that shares already: the same names, one owner. */
        assert_bd_ok(bd_kallsyms_deserialize_from(copy, data, len, 0x1000000, &copy2));
        bd_kallsyms_free(copy);
        expect_same(ks, copy2, 0);
        /* Bytes that cannot be the table's, or that it would not load. */
        struct bd_kallsyms *bad = (struct bd_kallsyms *)1;
        assert_bd_error(bd_kallsyms_deserialize_from(copy2, data, 31, 0, &bad), BD_ERR_PROTOCOL);
        assert_null(bad);
        uint8_t *p = data;
        p[12] ^= 1;
        assert_bd_error(bd_kallsyms_deserialize_from(copy2, data, len, 0, &bad), BD_ERR_PROTOCOL);
        p[12] ^= 1;
        assert_bd_error(bd_kallsyms_deserialize_from(copy2, data, 32 + 10 * NP - 1, 0, &bad),
                        BD_ERR_PROTOCOL);
        p[32 + 8 * NP] = 2; /* the first symbol's relocation flag */
        assert_bd_error(bd_kallsyms_deserialize_from(copy2, data, len, 0, &bad), BD_ERR_PROTOCOL);
        assert_null(bad);
        bd_kallsyms_free(copy2);
        bd_kallsyms_free(own);
        bd_kallsyms_free(ks);
        free(data);
}

static void expect_rejected(const void *data, size_t len)
{
        struct bd_kallsyms *ks = (struct bd_kallsyms *)1;
        struct bd_error *err = bd_kallsyms_deserialize(data, len, 0, &ks);
        assert_non_null(err);
        assert_true(err->code == BD_ERR_PROTOCOL || err->code == BD_ERR_NOT_FOUND);
        assert_true(err->message[0]);
        assert_null(ks);
        bd_error_destroy(err);
}

static void test_truncated(void **state)
{
        (void)state;
        struct bd_kallsyms *ks = build(KS_PERCPU);
        uint8_t *data;
        size_t len;
        assert_bd_ok(bd_kallsyms_serialize(ks, 0, (void **)&data, &len));
        bd_kallsyms_free(ks);
        /* A copy of just the prefix, so ASan sees any read past it. */
        for (size_t n = 0; n < len; n++) {
                uint8_t *cut = malloc(n ? n : 1);
                assert_non_null(cut);
                memcpy(cut, data, n);
                expect_rejected(cut, n);
                free(cut);
        }
        /* And one byte too many. */
        uint8_t *more = malloc(len + 1);
        assert_non_null(more);
        memcpy(more, data, len);
        more[len] = 0;
        expect_rejected(more, len + 1);
        free(more);
        free(data);
}

static void test_corrupted(void **state)
{
        (void)state;
        struct bd_kallsyms *ks = build(KS_RELATIVE);
        uint8_t *data;
        size_t len;
        assert_bd_ok(bd_kallsyms_serialize(ks, 0, (void **)&data, &len));
        bd_kallsyms_free(ks);
        for (size_t i = 0; i < len; i++)
                for (unsigned bit = 0; bit < 8; bit += 3) {
                        data[i] ^= (uint8_t)(1u << bit);
                        expect_rejected(data, len);
                        data[i] ^= (uint8_t)(1u << bit);
                }
        free(data);
}

/* The checksum, recomputed so that the structural checks behind it are
 * reached: FNV-1a over the header's first 24 bytes and the body. */
static void reseal(uint8_t *p, size_t len)
{
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < len; i++)
                if (i < 24 || i >= 32)
                        h = (h ^ p[i]) * 0x100000001b3ull;
        ks_put(p + 24, h, 8);
}

static void test_inconsistent(void **state)
{
        (void)state;
        struct bd_kallsyms *ks = build(KS_PERCPU), *back;
        uint8_t *data, *copy;
        size_t len;
        assert_bd_ok(bd_kallsyms_serialize(ks, 0, (void **)&data, &len));
        bd_kallsyms_free(ks);
        copy = malloc(len);
        assert_non_null(copy);
        uint8_t *reloc = copy + 32 + 8 * NP, *types = reloc + NP;
        char *names = (char *)types + NP;
        struct {
                size_t at, width;
                uint64_t value;
        } edits[] = {
            {8, 4, 3},       /* encoding */
            {12, 4, 0},      /* count */
            {12, 4, NP + 1}, /* count past the data */
            {12, 4, BD_KALLSYMS_MAX_SYMS + 1},
            {12, 4, 0xffffffffu},
            {16, 8, 0xffffffffffffffffull},            /* names length */
            {(size_t)(reloc - copy), 1, 2},            /* relocation flag */
            {(size_t)(types - copy), 1, 0},            /* type */
            {(size_t)((uint8_t *)names - copy), 1, 0}, /* an empty name */
            {len - 1, 1, 'x'},                         /* the last name unterminated */
        };
        for (size_t e = 0; e < sizeof(edits) / sizeof(edits[0]); e++) {
                memcpy(copy, data, len);
                ks_put(copy + edits[e].at, edits[e].value, (unsigned)edits[e].width);
                reseal(copy, len);
                expect_rejected(copy, len);
        }
        /* The last name ("jiffies_64") replaced by one of KSYM_NAME_LEN - 1
         * characters, the longest allowed, then by one a character longer. */
        size_t keep = len - sizeof("jiffies_64");
        for (size_t l = BD_KALLSYMS_NAME_MAX; l <= BD_KALLSYMS_NAME_MAX + 1; l++) {
                size_t big = keep + l + 1;
                uint8_t *longer = malloc(big);
                assert_non_null(longer);
                memcpy(longer, data, keep);
                memset(longer + keep, 'y', l);
                longer[big - 1] = 0;
                ks_put(longer + 16, (uint64_t)(big - 32 - 10 * NP), 8);
                reseal(longer, big);
                if (l == BD_KALLSYMS_NAME_MAX) {
                        assert_bd_ok(bd_kallsyms_deserialize(longer, big, 0, &back));
                        uint64_t a;
                        assert_bd_ok(bd_kallsyms_lookup(back, (char *)longer + keep, &a, NULL));
                        bd_kallsyms_free(back);
                } else {
                        expect_rejected(longer, big);
                }
                free(longer);
        }
        /* Another version's file is not this one's to judge corrupt. */
        memcpy(copy, data, len);
        copy[6] = 2;
        reseal(copy, len);
        assert_bd_error(bd_kallsyms_deserialize(copy, len, 0, &back), BD_ERR_NOT_FOUND);
        assert_bd_error(bd_kallsyms_deserialize("BDKSYM\1", 8, 0, &back), BD_ERR_PROTOCOL);
        free(copy);
        free(data);
}

static void test_build_id(void **state)
{
        (void)state;
        char longest[BD_BUILD_ID_MAX + 2];
        memset(longest, 'a', BD_BUILD_ID_MAX);
        longest[BD_BUILD_ID_MAX] = '\0';
        assert_true(bd_build_id_valid("0f"));
        assert_true(bd_build_id_valid("0123456789abcdef0123456789abcdef01234567"));
        assert_true(bd_build_id_valid(longest));
        longest[BD_BUILD_ID_MAX] = 'a';
        longest[BD_BUILD_ID_MAX + 1] = '\0';
        assert_false(bd_build_id_valid(longest));
        const char *bad[] = {"",       "a",      "../x",  "..",     "ab/cd", "ABCDEF",
                             "abcdeF", "abcdeg", "ab cd", "ab\ncd", "-ab",   "0x12"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_false(bd_build_id_valid(bad[i]));
}

static char dir[64];

static int setup_dir(void **state)
{
        (void)state;
        strcpy(dir, "/tmp/bdcache.XXXXXX");
        assert_non_null(mkdtemp(dir));
        setenv("BDMON_CACHE", dir, 1);
        return 0;
}

/* rm -r of the cache, and the names it held, no "." or "..". */
static size_t remove_tree(const char *path, char names[][64], size_t max)
{
        size_t n = 0;
        DIR *d = opendir(path);
        if (!d)
                return 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                char sub[512];
                snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
                if (names && n < max)
                        snprintf(names[n], 64, "%s", e->d_name);
                n++;
                struct stat st;
                if (!lstat(sub, &st) && S_ISDIR(st.st_mode)) {
                        remove_tree(sub, NULL, 0);
                        rmdir(sub);
                } else {
                        unlink(sub);
                }
        }
        closedir(d);
        return n;
}

static int teardown_dir(void **state)
{
        (void)state;
        remove_tree(dir, NULL, 0);
        rmdir(dir);
        unsetenv("BDMON_CACHE");
        return 0;
}

static void list_dir(const char *path, char names[][64], size_t *n, size_t max)
{
        *n = 0;
        DIR *d = opendir(path);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && *n < max)
                        snprintf(names[(*n)++], 64, "%s", e->d_name);
        closedir(d);
}

static void test_store_load(void **state)
{
        (void)state;
        const char *id = "5d1c2a9e0b7f4e3a";
        struct bd_kallsyms *ks = build(KS_RELATIVE), *back;
        void *data, *got;
        size_t len, glen;
        assert_bd_ok(bd_kallsyms_serialize(ks, 0, &data, &len));
        assert_bd_error(bd_cache_build_load(id, "kallsyms", 1 << 20, &got, &glen),
                        BD_ERR_NOT_FOUND);
        assert_int_equal(bd_cache_build_store(id, "kallsyms", data, len), 0);
        /* Overwrite, as a second contact would. */
        assert_int_equal(bd_cache_build_store(id, "kallsyms", data, len), 0);
        assert_int_equal(bd_cache_build_store(id, "btf", "BTF", 3), 0);
        assert_bd_ok(bd_cache_build_load(id, "kallsyms", 1 << 20, &got, &glen));
        assert_int_equal(glen, len);
        assert_memory_equal(got, data, len);
        assert_bd_ok(bd_kallsyms_deserialize(got, glen, 0, &back));
        expect_same(ks, back, 0);
        bd_kallsyms_free(back);
        free(got);
        assert_bd_error(bd_cache_build_load(id, "kallsyms", len - 1, &got, &glen), BD_ERR_RANGE);
        assert_null(got);
        assert_bd_error(bd_cache_build_load("5d1c2a9e0b7f4e3b", "kallsyms", 1 << 20, &got, &glen),
                        BD_ERR_NOT_FOUND);
        /* Hostile names store nothing and load nothing. */
        assert_int_equal(bd_cache_build_store("../x", "kallsyms", data, len), -1);
        assert_int_equal(bd_cache_build_store("ABCD", "kallsyms", data, len), -1);
        assert_int_equal(bd_cache_build_store(id, "../kallsyms", data, len), -1);
        assert_int_equal(bd_cache_build_store(id, "a/b", data, len), -1);
        assert_bd_error(bd_cache_build_load("../x", "kallsyms", 1 << 20, &got, &glen),
                        BD_ERR_PROTOCOL);
        /* Only the build's directory, and in it only the two files: the
         * temporaries were renamed or removed. */
        char names[8][64];
        size_t n;
        list_dir(dir, names, &n, 8);
        assert_int_equal(n, 1);
        assert_string_equal(names[0], "build-5d1c2a9e0b7f4e3a");
        char sub[128];
        snprintf(sub, sizeof(sub), "%s/%s", dir, names[0]);
        list_dir(sub, names, &n, 8);
        assert_int_equal(n, 2);
        for (size_t i = 0; i < n; i++)
                assert_true(!strcmp(names[i], "kallsyms") || !strcmp(names[i], "btf"));
        free(data);
        bd_kallsyms_free(ks);
}

/* A build's memo: its files read once and shared by every user, the table
 * decoded once; a file that was absent is looked for again; a store
 * retires the memo, whose bytes stay for whoever still holds it. */
static void test_memo(void **state)
{
        (void)state;
        const char *id = "77aa01";
        struct bd_kallsyms *ks = build(KS_PERCPU), *copy, *base, *base2;
        void *data, *data2;
        size_t len, len2, glen;
        assert_bd_ok(bd_kallsyms_serialize(ks, 0x1000000, &data, &len));
        assert_bd_ok(bd_kallsyms_serialize(ks, 0, &data2, &len2));
        struct bd_build_memo *m = bd_build_memo_get(id), *m2;
        assert_non_null(m);
        const void *got, *got2;
        assert_bd_error(bd_build_memo_kallsyms(m, &got, &glen, &base), BD_ERR_NOT_FOUND);
        /* Stored by another process. */
        assert_int_equal(bd_cache_build_store(id, "kallsyms", data, len), 0);
        assert_bd_ok(bd_build_memo_kallsyms(m, &got, &glen, &base));
        assert_int_equal(glen, len);
        assert_memory_equal(got, data, len);
        assert_bd_ok(bd_kallsyms_deserialize_from(base, got, glen, 0x3000000, &copy));
        expect_same(ks, copy, 0x2000000);
        bd_kallsyms_free(copy);
        m2 = bd_build_memo_get(id);
        assert_ptr_equal(m2, m);
        assert_bd_ok(bd_build_memo_kallsyms(m2, &got2, &glen, &base2));
        assert_ptr_equal(got2, got);
        assert_ptr_equal(base2, base);
        bd_build_memo_put(m2);
        assert_int_equal(bd_build_memo_store(id, "kallsyms", data2, len2), 0);
        m2 = bd_build_memo_get(id);
        assert_ptr_not_equal(m2, m);
        assert_bd_ok(bd_build_memo_kallsyms(m2, &got2, &glen, &base2));
        assert_int_equal(glen, len2);
        assert_memory_equal(got2, data2, len2);
        assert_memory_equal(got, data, len);
        expect_same(base, base2, 0x1000000);
        bd_build_memo_put(m);
        bd_build_memo_put(m2);
        assert_null(bd_build_memo_get("../x"));
        free(data);
        free(data2);
        bd_kallsyms_free(ks);
}

/* The layout, computed once from the cached BTF (struct task_struct { int
 * x; int pid; }), the same however the file changes until a store retires
 * the memo; BTF that does not parse gives none. */
static void test_memo_layout(void **state)
{
        (void)state;
        const char *id = "77aa02";
        struct btf *w = btf__new_empty();
        assert_non_null(w);
        int t_int = btf__add_int(w, "int", 4, BTF_INT_SIGNED);
        assert_true(btf__add_struct(w, "task_struct", 8) > 0);
        assert_int_equal(btf__add_field(w, "x", t_int, 0, 0), 0);
        assert_int_equal(btf__add_field(w, "pid", t_int, 32, 0), 0);
        uint32_t size;
        const void *raw = btf__raw_data(w, &size);
        assert_non_null(raw);
        struct bd_build_memo *m = bd_build_memo_get(id);
        struct bd_layout l;
        assert_bd_error(bd_build_memo_layout(m, &l), BD_ERR_NOT_FOUND);
        assert_int_equal(bd_cache_build_store(id, "btf", raw, size), 0);
        for (int i = 0; i < 2; i++) {
                memset(&l, 0, sizeof(l));
                assert_bd_ok(bd_build_memo_layout(m, &l));
                assert_true(l.e[BDL_TASK_PID].present);
                assert_int_equal(l.e[BDL_TASK_PID].value, 4);
                assert_int_equal(bd_cache_build_store(id, "btf", "junk", 4), 0);
        }
        const void *b;
        size_t blen;
        assert_bd_ok(bd_build_memo_btf(m, &b, &blen));
        assert_int_equal(blen, size);
        assert_memory_equal(b, raw, size);
        bd_build_memo_put(m);
        assert_int_equal(bd_build_memo_store(id, "btf", "junk", 4), 0);
        m = bd_build_memo_get(id);
        assert_bd_error(bd_build_memo_layout(m, &l), BD_ERR_NOT_FOUND);
        bd_build_memo_put(m);
        btf__free(w);
}

/* As many builds' memos as the process keeps, all held: one more build's
 * memo is the caller's own; once one is let go, its room is taken. */
static void test_memo_full(void **state)
{
        (void)state;
        struct bd_build_memo *held[BD_BUILD_MEMO_MAX];
        char id[16];
        for (unsigned i = 0; i < BD_BUILD_MEMO_MAX; i++) {
                snprintf(id, sizeof(id), "88%02x", i);
                assert_non_null(held[i] = bd_build_memo_get(id));
        }
        assert_int_equal(bd_cache_build_store("99ff", "btf", "one", 3), 0);
        struct bd_build_memo *a = bd_build_memo_get("99ff"), *b = bd_build_memo_get("99ff");
        assert_non_null(a);
        assert_ptr_not_equal(a, b);
        const void *got;
        size_t len;
        assert_bd_ok(bd_build_memo_btf(b, &got, &len));
        assert_memory_equal(got, "one", 3);
        bd_build_memo_put(a);
        bd_build_memo_put(b);
        bd_build_memo_put(held[0]);
        a = bd_build_memo_get("99ff");
        b = bd_build_memo_get("99ff");
        assert_ptr_equal(a, b);
        bd_build_memo_put(a);
        bd_build_memo_put(b);
        for (unsigned i = 1; i < BD_BUILD_MEMO_MAX; i++)
                bd_build_memo_put(held[i]);
}

static void test_atomic_write(void **state)
{
        (void)state;
        char path[256];
        assert_int_equal(bd_cache_path("sub/dir/file", path, sizeof(path), 1), 0);
        assert_int_equal(bd_cache_write_atomic(path, "one", 3), 0);
        assert_int_equal(bd_cache_write_atomic(path, "second", 6), 0);
        void *got;
        size_t len;
        assert_bd_ok(bd_cache_read(path, 6, &got, &len));
        assert_int_equal(len, 6);
        assert_string_equal(got, "second");
        free(got);
        assert_bd_error(bd_cache_read(path, 5, &got, &len), BD_ERR_RANGE);
        /* A directory that is not there: nothing written, nothing left. */
        char missing[300];
        snprintf(missing, sizeof(missing), "%s/none/file", dir);
        assert_int_equal(bd_cache_write_atomic(missing, "x", 1), -1);
        char names[8][64];
        size_t n;
        snprintf(missing, sizeof(missing), "%s/sub/dir", dir);
        list_dir(missing, names, &n, 8);
        assert_int_equal(n, 1);
        assert_string_equal(names[0], "file");
        /* Paths too long for the buffer are refused, not cut. */
        char small[8];
        assert_int_equal(bd_cache_path("file", small, sizeof(small), 0), -1);
}

static void test_hint(void **state)
{
        (void)state;
        assert_int_equal(bd_cache_hint_load("host/1"), 0);
        bd_cache_hint_store("host/1", 0x7ffd1234000ull);
        assert_int_equal(bd_cache_hint_load("host/1"), 0x7ffd1234000ull);
        char names[8][64];
        size_t n;
        list_dir(dir, names, &n, 8);
        assert_int_equal(n, 1);
        assert_string_equal(names[0], "vmcoreinfo-host_1");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_round_trip_relative),
            cmocka_unit_test(test_round_trip_absolute),
            cmocka_unit_test(test_round_trip_percpu),
            cmocka_unit_test(test_relocation),
            cmocka_unit_test(test_shared_names),
            cmocka_unit_test(test_truncated),
            cmocka_unit_test(test_corrupted),
            cmocka_unit_test(test_inconsistent),
            cmocka_unit_test(test_build_id),
            cmocka_unit_test_setup_teardown(test_store_load, setup_dir, teardown_dir),
            cmocka_unit_test_setup_teardown(test_memo, setup_dir, teardown_dir),
            cmocka_unit_test_setup_teardown(test_memo_layout, setup_dir, teardown_dir),
            cmocka_unit_test_setup_teardown(test_memo_full, setup_dir, teardown_dir),
            cmocka_unit_test_setup_teardown(test_atomic_write, setup_dir, teardown_dir),
            cmocka_unit_test_setup_teardown(test_hint, setup_dir, teardown_dir),
        };
        return cmocka_run_group_tests_name("build_cache", tests, NULL, NULL);
}
