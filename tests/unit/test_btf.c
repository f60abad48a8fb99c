/* BTF member lookup on a blob built with libbpf's writer, parsed back the
 * way bd_btf_read_end parses the kernel's: offsets through nested structs,
 * anonymous unions and structs, bitfields, typedefs, and type names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../monitor/kernel/btf.h"
#include "helpers.h"

static struct btf *btf;

/* struct inner { int a; unsigned int b:3, c:5; };
 * typedef struct inner inner_t;
 * struct outer {
 *         long x;
 *         union { int u1; struct { char p; int q; }; };
 *         inner_t in;
 *         char name[16];
 *         struct outer *next;
 * };                                                    */
static int setup(void **state)
{
        (void)state;
        struct btf *w = btf__new_empty();
        assert_non_null(w);
        int t_int = btf__add_int(w, "int", 4, BTF_INT_SIGNED);
        int t_uint = btf__add_int(w, "unsigned int", 4, 0);
        int t_long = btf__add_int(w, "long", 8, BTF_INT_SIGNED);
        int t_char = btf__add_int(w, "char", 1, BTF_INT_CHAR);
        int inner = btf__add_struct(w, "inner", 8);
        assert_int_equal(btf__add_field(w, "a", t_int, 0, 0), 0);
        assert_int_equal(btf__add_field(w, "b", t_uint, 32, 3), 0);
        assert_int_equal(btf__add_field(w, "c", t_uint, 35, 5), 0);
        int inner_t = btf__add_typedef(w, "inner_t", inner);
        int anon_s = btf__add_struct(w, NULL, 8);
        assert_int_equal(btf__add_field(w, "p", t_char, 0, 0), 0);
        assert_int_equal(btf__add_field(w, "q", t_int, 32, 0), 0);
        int anon_u = btf__add_union(w, NULL, 8);
        assert_int_equal(btf__add_field(w, "u1", t_int, 0, 0), 0);
        assert_int_equal(btf__add_field(w, NULL, anon_s, 0, 0), 0);
        int arr = btf__add_array(w, t_int, t_char, 16);
        /* Fields follow their struct directly: the pointer to it comes first,
         * by the id the struct is about to get. */
        int ptr = btf__add_ptr(w, arr + 2);
        int outer = btf__add_struct(w, "outer", 48);
        assert_int_equal(outer, arr + 2);
        assert_int_equal(btf__add_field(w, "x", t_long, 0, 0), 0);
        assert_int_equal(btf__add_field(w, NULL, anon_u, 64, 0), 0);
        assert_int_equal(btf__add_field(w, "in", inner_t, 128, 0), 0);
        assert_int_equal(btf__add_field(w, "name", arr, 192, 0), 0);
        assert_int_equal(btf__add_field(w, "next", ptr, 320, 0), 0);
        uint32_t size;
        const void *raw = btf__raw_data(w, &size);
        assert_non_null(raw);
        btf = btf__new(raw, size);
        btf__free(w);
        assert_non_null(btf);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        btf__free(btf);
        return 0;
}

static void expect_member(const char *path, uint64_t bit_offset, uint32_t bits, int64_t size,
                          const char *type)
{
        struct bd_btf_member m;
        assert_bd_ok(bd_btf_member(btf, path, &m));
        assert_int_equal(m.bit_offset, bit_offset);
        assert_int_equal(m.bitfield_bits, bits);
        assert_int_equal(m.size, size);
        char name[128];
        bd_btf_type_name(btf, m.type_id, name, sizeof(name));
        assert_string_equal(name, type);
}

static void test_members(void **state)
{
        (void)state;
        expect_member("outer.x", 0, 0, 8, "long");
        expect_member("outer.name", 192, 0, 16, "char[16]");
        expect_member("outer.next", 320, 0, 8, "struct outer *");
        expect_member("outer.in", 128, 0, 8, "inner_t");
        expect_member("inner.a", 0, 0, 4, "int");
}

static void test_anonymous(void **state)
{
        (void)state;
        expect_member("outer.u1", 64, 0, 4, "int");
        expect_member("outer.p", 64, 0, 1, "char");
        expect_member("outer.q", 96, 0, 4, "int");
}

static void test_nested_and_bitfields(void **state)
{
        (void)state;
        expect_member("inner.b", 32, 3, 4, "unsigned int");
        expect_member("inner.c", 35, 5, 4, "unsigned int");
        /* Through the typedef'd member, offsets add up. */
        expect_member("outer.in.a", 128, 0, 4, "int");
        expect_member("outer.in.c", 163, 5, 4, "unsigned int");
}

static void test_not_found(void **state)
{
        (void)state;
        struct bd_btf_member m;
        uint32_t id;
        assert_bd_ok(bd_btf_find_struct(btf, "outer", &id));
        assert_bd_error(bd_btf_find_struct(btf, "nosuch", &id), BD_ERR_NOT_FOUND);
        assert_bd_error(bd_btf_member(btf, "outer.nosuch", &m), BD_ERR_NOT_FOUND);
        assert_bd_error(bd_btf_member(btf, "nosuch.x", &m), BD_ERR_NOT_FOUND);
        /* x is a long: it has no members. */
        assert_bd_error(bd_btf_member(btf, "outer.x.y", &m), BD_ERR_NOT_FOUND);
        assert_bd_error(bd_btf_member(btf, "outer.", &m), BD_ERR_USAGE);
        assert_bd_error(bd_btf_member(btf, "outer", &m), BD_ERR_USAGE);
        assert_bd_error(bd_btf_member(btf, "outer..x", &m), BD_ERR_NOT_FOUND);
}

/* The index answers as libbpf's walk does where names repeat: the first
 * struct, else the first union; the first enumerator in type order, of an
 * enum or an enum64, signed or not. */
static void test_index(void **state)
{
        (void)state;
        struct btf *w = btf__new_empty();
        int t_int = btf__add_int(w, "int", 4, BTF_INT_SIGNED);
        assert_true(btf__add_union(w, "both", 4) > 0);
        assert_int_equal(btf__add_field(w, "u", t_int, 0, 0), 0);
        int both = btf__add_struct(w, "both", 8);
        assert_int_equal(btf__add_field(w, "s", t_int, 32, 0), 0);
        assert_true(btf__add_struct(w, "both", 16) > 0);
        int only_union = btf__add_union(w, "only_union", 4);
        assert_true(btf__add_enum(w, "e", 4) > 0);
        assert_int_equal(btf__add_enum_value(w, "ONE", 1), 0);
        assert_int_equal(btf__add_enum_value(w, "MINUS", -1), 0);
        assert_true(btf__add_enum64(w, "e64", 8, false) > 0);
        assert_int_equal(btf__add_enum64_value(w, "ONE", 2), 0);
        assert_int_equal(btf__add_enum64_value(w, "BIG", 1ull << 40), 0);
        assert_true(btf__add_struct(w, NULL, 4) > 0);
        uint32_t size;
        const void *raw = btf__raw_data(w, &size);
        struct btf *b = btf__new(raw, size);
        btf__free(w);
        assert_non_null(b);
        struct bd_btf_index index, *ix = &index;
        assert_bd_ok(bd_btf_index_init(ix, b));
        static const char *const names[] = {"both", "only_union", "int", "e", "nosuch"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                uint32_t walk = 0, hashed = 0;
                struct bd_error *we = bd_btf_find_struct(b, names[i], &walk);
                struct bd_error *he = bd_btf_index_struct(ix, names[i], &hashed);
                assert_int_equal(we ? we->code : 0, he ? he->code : 0);
                assert_int_equal(walk, hashed);
                bd_error_destroy(we);
                bd_error_destroy(he);
        }
        uint32_t id;
        assert_bd_ok(bd_btf_index_struct(ix, "both", &id));
        assert_int_equal(id, both);
        assert_bd_ok(bd_btf_index_struct(ix, "only_union", &id));
        assert_int_equal(id, only_union);
        struct bd_btf_member m;
        assert_bd_ok(bd_btf_index_member(ix, "both.s", &m));
        assert_int_equal(m.bit_offset, 32);
        assert_bd_error(bd_btf_index_member(ix, "both.u", &m), BD_ERR_NOT_FOUND);
        static const struct {
                const char *name;
                int64_t value;
        } enums[] = {{"ONE", 1}, {"MINUS", -1}, {"BIG", 1ll << 40}};
        for (size_t i = 0; i < sizeof(enums) / sizeof(enums[0]); i++) {
                int64_t walk = 0, hashed = 0;
                assert_bd_ok(bd_btf_enum_value(b, enums[i].name, &walk));
                assert_bd_ok(bd_btf_index_enum(ix, enums[i].name, &hashed));
                assert_int_equal(walk, enums[i].value);
                assert_int_equal(hashed, enums[i].value);
        }
        int64_t v;
        assert_bd_error(bd_btf_index_enum(ix, "both", &v), BD_ERR_NOT_FOUND);
        assert_bd_error(bd_btf_index_enum(ix, "", &v), BD_ERR_NOT_FOUND);
        bd_btf_index_release(ix);
        btf__free(b);
}

/* Hostile BTF, as a compromised target could serve it. */

/* The index's hash (FNV-1a), as an attacker would compute it. */
static uint64_t fnv1a(const char *s)
{
        uint64_t h = 14695981039346656037ull;
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ull;
        return h;
}

/* Names chosen to land on one slot: the index is not built (its probes
 * are bounded), and the walk, its own too, still finds them. */
static void test_index_collisions(void **state)
{
        (void)state;
        enum { N = 65 }; /* one past the probes; 256 slots for 65 names */
        struct btf *w = btf__new_empty();
        char name[32], last[32] = "";
        for (unsigned i = 0, got = 0; got < N; i++) {
                snprintf(name, sizeof(name), "s%u", i);
                if (fnv1a(name) % 256)
                        continue;
                assert_true(btf__add_struct(w, name, 4) > 0);
                memcpy(last, name, sizeof(name));
                got++;
        }
        uint32_t size;
        const void *raw = btf__raw_data(w, &size);
        struct btf *b = btf__new(raw, size);
        btf__free(w);
        assert_non_null(b);
        struct bd_btf_index ix;
        assert_bd_error(bd_btf_index_init(&ix, b), BD_ERR_TARGET);
        uint32_t id;
        assert_bd_ok(bd_btf_find_struct(b, last, &id));
        assert_int_equal(id, N);
        /* Not built, the index answers by the walk. */
        id = 0;
        assert_bd_ok(bd_btf_index_struct(&ix, last, &id));
        assert_int_equal(id, N);
        bd_btf_index_release(&ix);
        btf__free(b);
}

/* struct loop { struct loop; struct loop; ... int x; }: each lookup of a
 * missing member would visit 12^32 members without a budget. */
static void test_self_nesting(void **state)
{
        (void)state;
        struct btf *w = btf__new_empty();
        int t_int = btf__add_int(w, "int", 4, BTF_INT_SIGNED);
        int loop = btf__add_struct(w, "loop", 64);
        for (int i = 0; i < 12; i++)
                assert_int_equal(btf__add_field(w, NULL, loop, 0, 0), 0);
        assert_int_equal(btf__add_field(w, "x", t_int, 32, 0), 0);
        uint32_t size;
        const void *raw = btf__raw_data(w, &size);
        struct btf *b = btf__new(raw, size);
        btf__free(w);
        assert_non_null(b);
        struct bd_btf_member m;
        assert_bd_error(bd_btf_member(b, "loop.nope", &m), BD_ERR_NOT_FOUND);
        assert_bd_ok(bd_btf_member(b, "loop.x", &m));
        btf__free(b);
}

/* typedef a b; typedef b a;  and a name outside the string section. */
static void test_cycles_and_bad_names(void **state)
{
        (void)state;
        struct btf *w = btf__new_empty();
        int a = btf__add_typedef(w, "a", 2);
        int b = btf__add_typedef(w, "b", a);
        assert_int_equal(a, 1);
        assert_int_equal(b, 2);
        int s = btf__add_struct(w, "named", 4);
        assert_int_equal(btf__add_field(w, "f", a, 0, 0), 0);
        uint32_t size;
        const void *raw = btf__raw_data(w, &size);
        uint8_t *copy = malloc(size);
        memcpy(copy, raw, size);
        btf__free(w);
        /* The struct's name offset, past every string. */
        const struct btf_header *h = (const void *)copy;
        struct btf_type *t = (void *)(copy + h->hdr_len + h->type_off);
        t = (void *)((uint8_t *)t + 2 * sizeof(*t)); /* after the two typedefs */
        t->name_off = 0x7fffff00;
        struct btf *bad = btf__new(copy, size);
        free(copy);
        print_message("hostile BTF %s by libbpf\n", bad ? "accepted" : "refused");
        if (!bad) /* a libbpf that checks offsets: nothing left to test for names */
                return;
        uint32_t id = (uint32_t)a;
        assert_null(bd_btf_strip(bad, &id));
        char name[64];
        bd_btf_type_name(bad, (uint32_t)a, name, sizeof(name));
        bd_btf_type_name(bad, (uint32_t)s, name, sizeof(name));
        assert_string_equal(bd_btf_name(bad, 0x7fffff00), "");
        struct bd_btf_member m;
        uint32_t sid;
        assert_bd_error(bd_btf_find_struct(bad, "named", &sid), BD_ERR_NOT_FOUND);
        assert_bd_error(bd_btf_member_in(bad, (uint32_t)s, "g", &m), BD_ERR_NOT_FOUND);
        int64_t v;
        assert_bd_error(bd_btf_enum_value(bad, "X", &v), BD_ERR_NOT_FOUND);
        btf__free(bad);
}

static void expect_refused(const void *data, size_t len, const char *why)
{
        struct bd_error *err = NULL;
        assert_null(bd_btf_parse(data, len, &err));
        assert_non_null(err);
        assert_non_null(strstr(err->message, why));
        bd_error_destroy(err);
}

/* Headers libbpf would take and then read types at misaligned addresses
 * (found by fuzz_btf: a 25-byte header), or in the other byte order. */
static void test_bad_headers(void **state)
{
        (void)state;
        struct btf *w = btf__new_empty();
        assert_true(btf__add_int(w, "int", 4, BTF_INT_SIGNED) > 0);
        uint32_t size;
        const uint8_t *raw = btf__raw_data(w, &size);
        struct bd_error *err = NULL;
        struct btf *good = bd_btf_parse(raw, size, &err);
        assert_non_null(good);
        btf__free(good);
        /* The same blob with one byte more in its header. */
        uint8_t *odd = calloc(1, size + 1);
        struct btf_header h;
        memcpy(&h, raw, sizeof(h));
        memcpy(odd + h.hdr_len + 1, raw + h.hdr_len, size - h.hdr_len);
        h.hdr_len++;
        memcpy(odd, &h, sizeof(h));
        expect_refused(odd, size + 1, "header length not a multiple of 4");
        /* The other byte order. */
        memcpy(odd, raw, size);
        uint16_t swapped = (uint16_t)(BTF_MAGIC >> 8 | (BTF_MAGIC & 0xff) << 8);
        memcpy(odd, &swapped, 2);
        expect_refused(odd, size, "no BTF magic in this byte order");
        expect_refused(raw, 10, "shorter than a header");
        free(odd);
        btf__free(w);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_members),
            cmocka_unit_test(test_anonymous),
            cmocka_unit_test(test_nested_and_bitfields),
            cmocka_unit_test(test_not_found),
            cmocka_unit_test(test_index),
            cmocka_unit_test(test_index_collisions),
            cmocka_unit_test(test_self_nesting),
            cmocka_unit_test(test_cycles_and_bad_names),
            cmocka_unit_test(test_bad_headers),
        };
        return cmocka_run_group_tests_name("btf", tests, setup, teardown);
}
