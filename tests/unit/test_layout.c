/* Layouts: the manifest resolved against BTF (alternatives, nested members,
 * enumerators, sizes), written to a layout file and parsed back to the same
 * entries, and hostile layout files refused line by line. Also the small
 * pure helpers the views are built on: gather plans, ps state letters,
 * taint letters and load averages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../monitor/walk/gather.h"
#include "../../monitor/kernel/layout.h"
#include "../../monitor/views/sysinfo.h"
#include "../../monitor/views/tasks.h"
#include "helpers.h"

/* struct task_struct { unsigned int state; int pid; struct sched_entity se;
 *                      char comm[16]; };   -- "__state" absent: the
 * alternative "state" must be taken; struct sched_entity { u64 exec_start; };
 * enum pid_type { PIDTYPE_PID, PIDTYPE_TGID }; */
static struct btf *make_btf(void)
{
        struct btf *w = btf__new_empty();
        assert_non_null(w);
        int t_uint = btf__add_int(w, "unsigned int", 4, 0);
        int t_int = btf__add_int(w, "int", 4, BTF_INT_SIGNED);
        int t_u64 = btf__add_int(w, "long long unsigned int", 8, 0);
        int t_char = btf__add_int(w, "char", 1, BTF_INT_CHAR);
        int se = btf__add_struct(w, "sched_entity", 8);
        assert_int_equal(btf__add_field(w, "exec_start", t_u64, 0, 0), 0);
        int comm = btf__add_array(w, t_int, t_char, 16);
        assert_true(btf__add_struct(w, "task_struct", 40) > 0);
        assert_int_equal(btf__add_field(w, "state", t_uint, 0, 0), 0);
        assert_int_equal(btf__add_field(w, "pid", t_int, 32, 0), 0);
        assert_int_equal(btf__add_field(w, "se", se, 64, 0), 0);
        assert_int_equal(btf__add_field(w, "comm", comm, 128, 0), 0);
        assert_true(btf__add_enum(w, "pid_type", 4) > 0);
        assert_int_equal(btf__add_enum_value(w, "PIDTYPE_PID", 0), 0);
        assert_int_equal(btf__add_enum_value(w, "PIDTYPE_TGID", 1), 0);
        uint32_t size;
        const void *raw = btf__raw_data(w, &size);
        struct btf *b = btf__new(raw, size);
        btf__free(w);
        assert_non_null(b);
        return b;
}

static void test_from_btf(void **state)
{
        (void)state;
        struct btf *b = make_btf();
        struct bd_layout *l = calloc(1, sizeof(*l));
        assert_non_null(l);
        bd_layout_from_btf(l, b);
        int64_t v;
        assert_bd_ok(bd_layout_get(l, BDL_TASK_STATE, &v));
        assert_int_equal(v, 0);
        assert_string_equal(l->e[BDL_TASK_STATE].path, "task_struct.state");
        assert_bd_ok(bd_layout_get(l, BDL_TASK_PID, &v));
        assert_int_equal(v, 4);
        assert_bd_ok(bd_layout_get(l, BDL_TASK_SE_EXEC_START, &v));
        assert_int_equal(v, 8);
        assert_int_equal(l->e[BDL_TASK_SE_EXEC_START].size, 8);
        assert_bd_ok(bd_layout_get(l, BDL_TASK_COMM, &v));
        assert_int_equal(v, 16);
        assert_int_equal(l->e[BDL_TASK_COMM].size, 16);
        assert_bd_ok(bd_layout_get(l, BDL_TASK_STRUCT, &v));
        assert_int_equal(v, 40);
        assert_bd_ok(bd_layout_get(l, BDL_PIDTYPE_PID, &v));
        assert_int_equal(v, 0);
        /* What the kernel lacks is absent, and says which entry. */
        struct bd_error *err = bd_layout_get(l, BDL_TASK_MM, &v);
        assert_error_says(err, BD_ERR_NOT_FOUND, "task_struct.mm");
        enum bd_layout_id need[] = {BDL_TASK_PID, BDL_RQ_CURR};
        int64_t out[2];
        assert_error_says(bd_layout_need(l, need, 2, out), BD_ERR_NOT_FOUND, "rq.curr");
        /* Optional entries: present with the same value, absent untouched. */
        v = -1;
        assert_int_equal(bd_layout_has(l, BDL_TASK_PID, &v), 1);
        assert_int_equal(v, 4);
        v = -1;
        assert_int_equal(bd_layout_has(l, BDL_TASK_MM, &v), 0);
        assert_int_equal(bd_layout_has(l, BDL_COUNT, &v), 0);
        assert_int_equal(v, -1);
        free(l);
        btf__free(b);
}

static void test_write_parse_round_trip(void **state)
{
        (void)state;
        struct btf *b = make_btf();
        struct bd_layout *l = calloc(1, sizeof(*l)), *back = calloc(1, sizeof(*back));
        assert_true(l && back);
        bd_layout_from_btf(l, b);
        snprintf(l->release, sizeof(l->release), "6.1.0-test");
        snprintf(l->build_id, sizeof(l->build_id), "00aabb");
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        bd_layout_write(l, f);
        fclose(f);
        assert_bd_ok(bd_layout_parse(back, text, len, "mem"));
        assert_string_equal(back->release, "6.1.0-test");
        assert_string_equal(back->build_id, "00aabb");
        for (int id = 0; id < BDL_COUNT; id++) {
                assert_int_equal(back->e[id].present, l->e[id].present);
                if (l->e[id].present) {
                        assert_int_equal(back->e[id].value, l->e[id].value);
                        assert_int_equal(back->e[id].size, l->e[id].size);
                        assert_string_equal(back->e[id].path, l->e[id].path);
                }
        }
        free(text);
        free(l);
        free(back);
        btf__free(b);
}

static void test_parse_rejects(void **state)
{
        (void)state;
        struct bd_layout *l = calloc(1, sizeof(*l));
        assert_non_null(l);
        static const struct {
                const char *text, *phrase;
        } bad[] = {
            {"member TASK_PID task_struct.pid 4\n", "expected"},
            {"bogus TASK_PID task_struct.pid 4 4\n", "unknown kind"},
            {"member TASK_PID task_struct.pid x4 4\n", "bad value"},
            {"member TASK_PID task_struct.pid -4 4\n", "out of range"},
            {"member TASK_PID task_struct.pid 4 99999999999\n", "out of range"},
            {"size TASK_PID task_struct.pid 4 4\n", "is a member"},
            {"a b c d e f g\n", "too many"},
            {"bits SKC_REUSE sock_common.skc_reuse 144 0\n", "out of range"},
            {"bits SKC_REUSE sock_common.skc_reuse 144 65\n", "out of range"},
            {"member SKC_REUSE sock_common.skc_reuse 18 1\n", "is a bits"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_error_says(bd_layout_parse(l, bad[i].text, strlen(bad[i].text), "t"),
                                  BD_ERR_PROTOCOL, bad[i].phrase);
        const char nul[] = "release x\0y\n";
        assert_error_says(bd_layout_parse(l, nul, sizeof(nul) - 1, "t"), BD_ERR_PROTOCOL, "NUL");
        char *longline = malloc(2000);
        memset(longline, 'a', 1999);
        longline[1999] = '\0';
        assert_error_says(bd_layout_parse(l, longline, 1999, "t"), BD_ERR_PROTOCOL, "too long");
        free(longline);
        /* Unknown entries (from a newer bdmon) and comments are fine. */
        const char ok[] = "# c\nmember NOT_AN_ENTRY a.b 1 1\nenum PIDTYPE_PID PIDTYPE_PID -0 0\n";
        assert_bd_ok(bd_layout_parse(l, ok, sizeof(ok) - 1, "t"));
        assert_true(l->e[BDL_PIDTYPE_PID].present);
        free(l);
}

/* A bitfield: its first bit and width, and the 8 bytes that hold it; one
 * those 8 bytes cannot hold is refused where it is read. */
static void test_bits(void **state)
{
        (void)state;
        struct bd_layout *l = calloc(1, sizeof(*l));
        assert_non_null(l);
        const char text[] = "bits SKC_REUSE sock_common.skc_reuse 147 4\n"
                            "bits SKC_REUSEPORT sock_common.skc_reuseport 60 64\n";
        assert_bd_ok(bd_layout_parse(l, text, sizeof(text) - 1, "t"));
        struct bd_bits b;
        assert_bd_ok(bd_layout_bits(l, BDL_SKC_REUSE, &b));
        assert_int_equal(b.byte, 18);
        assert_int_equal(b.shift, 3);
        assert_int_equal(b.width, 4);
        assert_int_equal(bd_bits_value(&b, 0xffull << 1), 0xf);
        assert_int_equal(bd_bits_value(&b, 0x5ull << 3 | 0x87), 0x5);
        assert_error_says(bd_layout_bits(l, BDL_SKC_REUSEPORT, &b), BD_ERR_PROTOCOL, "fit");
        assert_error_says(bd_layout_bits(l, BDL_SK_USERLOCKS, &b), BD_ERR_NOT_FOUND, "no bits");
        free(l);
}

static void test_find_stored(void **state)
{
        (void)state;
        char dir[] = "/tmp/bdlayout.XXXXXX";
        assert_non_null(mkdtemp(dir));
        char path[256];
        snprintf(path, sizeof(path), "%s/6.1-00aabb.layout", dir);
        FILE *f = fopen(path, "w");
        fprintf(f, "release 6.1\nbuild-id 00aabb\nmember TASK_PID task_struct.pid 4 4\n");
        fclose(f);
        setenv("BDMON_LAYOUTS", dir, 1);
        setenv("BDMON_CACHE", dir, 1);
        struct bd_layout *l = calloc(1, sizeof(*l));
        assert_bd_ok(bd_layout_find_stored(l, "00aabb"));
        int64_t v;
        assert_bd_ok(bd_layout_get(l, BDL_TASK_PID, &v));
        assert_int_equal(v, 4);
        assert_error_says(bd_layout_find_stored(l, "00aabc"), BD_ERR_NOT_FOUND, "no stored layout");
        assert_error_says(bd_layout_find_stored(l, "../x"), BD_ERR_NOT_FOUND, "not hex");
        unlink(path);
        rmdir(dir);
        unsetenv("BDMON_LAYOUTS");
        unsetenv("BDMON_CACHE");
        free(l);
}

static void test_gather_plan(void **state)
{
        (void)state;
        struct bd_gather g;
        int64_t offs[] = {2000, 8, 0, 24, 3000, 2016};
        int64_t sizes[] = {8, 4, 4, 16, 16, 8};
        assert_bd_ok(bd_gather_plan(&g, offs, sizes, 6, 64));
        /* 0..40 merge, 2000..2024 merge, 3000 alone. */
        assert_int_equal(g.n, 3);
        assert_int_equal(g.span[0].off, 0);
        assert_int_equal(g.span[0].len, 40);
        assert_int_equal(g.span[1].off, 2000);
        assert_int_equal(g.span[1].len, 24);
        assert_int_equal(g.copy_size, 40 + 24 + 16);
        uint8_t copy[80];
        for (unsigned i = 0; i < sizeof(copy); i++)
                copy[i] = (uint8_t)i;
        const uint8_t *p = bd_gather_field(&g, copy, 2016, 8);
        assert_non_null(p);
        assert_int_equal(*p, 40 + 16);
        assert_null(bd_gather_field(&g, copy, 1000, 4));
        assert_null(bd_gather_field(&g, copy, 2020, 8)); /* runs past its span */
        struct bd_kernel_iov iov[BD_GATHER_MAX_SPANS];
        assert_int_equal(bd_gather_iov(&g, 0x1000, copy, iov), 3);
        assert_int_equal(iov[2].vaddr, 0x1000 + 3000);
        assert_ptr_equal(iov[2].buf, copy + 64);
        int64_t bad_off[] = {-1};
        int64_t bad_size[] = {4};
        assert_error_says(bd_gather_plan(&g, bad_off, bad_size, 1, 0), BD_ERR_RANGE, "field");
        int64_t many[BD_GATHER_MAX_SPANS + 1], four[BD_GATHER_MAX_SPANS + 1];
        for (int i = 0; i <= BD_GATHER_MAX_SPANS; i++)
                many[i] = i * 1000, four[i] = 4;
        assert_error_says(bd_gather_plan(&g, many, four, BD_GATHER_MAX_SPANS + 1, 8), BD_ERR_RANGE,
                          "scattered");
}

static void test_state_letters(void **state)
{
        (void)state;
        assert_int_equal(bd_task_state_char(0, 0), 'R');
        assert_int_equal(bd_task_state_char(1, 0), 'S');
        assert_int_equal(bd_task_state_char(2, 0), 'D');
        assert_int_equal(bd_task_state_char(4, 0), 'T');
        assert_int_equal(bd_task_state_char(8, 0), 't');
        assert_int_equal(bd_task_state_char(0x402, 0), 'I');  /* TASK_IDLE */
        assert_int_equal(bd_task_state_char(0, 0x20), 'Z');   /* EXIT_ZOMBIE */
        assert_int_equal(bd_task_state_char(0, 0x10), 'X');   /* EXIT_DEAD */
        assert_int_equal(bd_task_state_char(0x40, 0), 'P');   /* TASK_PARKED */
        assert_int_equal(bd_task_state_char(0x1000, 0), 'D'); /* RTLOCK_WAIT */
        assert_string_equal(bd_task_policy_name(1), "FF");
        assert_string_equal(bd_task_policy_name(99), "?");
}

static void test_taint_and_load(void **state)
{
        (void)state;
        char buf[32];
        bd_sysinfo_taint_letters(0, buf, sizeof(buf));
        assert_string_equal(buf, "G");
        bd_sysinfo_taint_letters((1u << 0) | (1u << 9) | (1u << 12), buf, sizeof(buf));
        assert_string_equal(buf, "PWO");
        bd_sysinfo_taint_letters(1u << 14, buf, sizeof(buf));
        assert_string_equal(buf, "L");
        bd_sysinfo_load_text(0, buf, sizeof(buf));
        assert_string_equal(buf, "0.00");
        bd_sysinfo_load_text(2048 + 1024, buf, sizeof(buf)); /* 1.5 */
        assert_string_equal(buf, "1.50");
        bd_sysinfo_load_text(2048 * 3 + 205, buf, sizeof(buf)); /* 3.1001 */
        assert_string_equal(buf, "3.10");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_from_btf),       cmocka_unit_test(test_write_parse_round_trip),
            cmocka_unit_test(test_parse_rejects),  cmocka_unit_test(test_find_stored),
            cmocka_unit_test(test_gather_plan),    cmocka_unit_test(test_state_letters),
            cmocka_unit_test(test_taint_and_load), cmocka_unit_test(test_bits),
        };
        return cmocka_run_group_tests_name("layout", tests, NULL, NULL);
}
