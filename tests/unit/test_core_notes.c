/* The notes of a core file and the xsave conversion, on made-up input:
 * where each field of NT_PRSTATUS and NT_PRPSINFO lands, the standard and
 * the compacted xsave layouts turned into the one gdb reads, components in
 * their init state, and what a buffer or a geometry that does not add up
 * is told. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/bytes.h"
#include "../../monitor/views/core_notes.h"
#include "../../monitor/views/vmas.h"
#include "helpers.h"

static void test_prstatus_layout(void **state)
{
        (void)state;
        struct bd_core_prstatus in = {.pid = 188,
                                      .ppid = 1,
                                      .pgrp = 7,
                                      .sid = 8,
                                      .cursig = 6,
                                      .sigpend = 0x4000,
                                      .sighold = 0x10002,
                                      .utime_ns = 2500000000ull,
                                      .stime_ns = 1000,
                                      .fs_base = 0x7f0011,
                                      .gs_base = 0x22,
                                      .ds = 1,
                                      .es = 2,
                                      .fs = 3,
                                      .gs = 4,
                                      .fpvalid = 1};
        for (int i = 0; i < BD_PT_REGS_SIZE / 8; i++) {
                uint64_t v = 0x1000 + (uint64_t)i;
                memcpy(in.pt_regs + 8 * i, &v, 8);
        }
        uint8_t d[BD_PRSTATUS_SIZE];
        bd_core_prstatus_encode(&in, d);
        assert_int_equal(bd_le32(d), 6);
        assert_int_equal(bd_le64(d + 16), 0x4000);
        assert_int_equal(bd_le64(d + 24), 0x10002);
        assert_int_equal(bd_le32(d + 32), 188);
        assert_int_equal(bd_le32(d + 36), 1);
        assert_int_equal(bd_le64(d + 48), 2);      /* utime seconds */
        assert_int_equal(bd_le64(d + 56), 500000); /* and microseconds */
        assert_int_equal(bd_le64(d + 72), 1);      /* stime: 1 µs */
        /* user_regs_struct: r15 first, rip 17th, ss 21st, then fs_base. */
        assert_int_equal(bd_le64(d + 112), 0x1000);
        assert_int_equal(bd_le64(d + 112 + 16 * 8), 0x1010);
        assert_int_equal(bd_le64(d + 112 + 20 * 8), 0x1014);
        assert_int_equal(bd_le64(d + 112 + 21 * 8), 0x7f0011);
        assert_int_equal(bd_le64(d + 112 + 22 * 8), 0x22);
        assert_int_equal(bd_le64(d + 112 + 26 * 8), 4);
        assert_int_equal(bd_le32(d + 328), 1);
}

static void test_prpsinfo_layout(void **state)
{
        (void)state;
        struct bd_core_prpsinfo in = {
            .state = 'S', .nice = -5, .uid = 1000, .gid = 100, .pid = 188, .ppid = 1};
        memcpy(in.fname, "counterd", 9);
        memset(in.psargs, 'a', sizeof(in.psargs));
        uint8_t d[BD_PRPSINFO_SIZE];
        bd_core_prpsinfo_encode(&in, d);
        assert_int_equal(d[0], 1);
        assert_int_equal(d[1], 'S');
        assert_int_equal((int8_t)d[3], -5);
        assert_int_equal(bd_le32(d + 16), 1000);
        assert_int_equal(bd_le32(d + 24), 188);
        assert_string_equal((const char *)d + 40, "counterd");
        /* psargs is always terminated, even when the input was not. */
        assert_int_equal(d[56 + 79], 0);
        assert_int_equal(d[56 + 78], 'a');
}

/* x87, SSE, AVX at 576, a 40-byte component 3 at 832, a 64-byte one 5 at
 * 1088 that is 64-byte aligned when compacted, PKRU at 1152. */
static struct bd_xstate_geometry geometry(void)
{
        struct bd_xstate_geometry g = {
            .nfeatures = 10, .user_max_features = 0x22f, .user_max_size = 1160};
        g.offset[2] = 576, g.size[2] = 256;
        g.offset[3] = 832, g.size[3] = 40;
        g.offset[5] = 1088, g.size[5] = 64, g.flags[5] = BD_XSTATE_FLAG_ALIGNED64;
        g.offset[9] = 1152, g.size[9] = 8;
        memset(g.sw_bytes, 0x5a, sizeof(g.sw_bytes));
        g.init_legacy[0] = 0x7f, g.init_legacy[1] = 0x03;   /* fcw 0x37f */
        g.init_legacy[24] = 0x80, g.init_legacy[25] = 0x1f; /* mxcsr 0x1f80 */
        return g;
}

static void fill(uint8_t *p, size_t n, uint8_t v)
{
        memset(p, v, n);
}

static void test_xstate_standard(void **state)
{
        (void)state;
        struct bd_xstate_geometry g = geometry();
        uint8_t buf[1160], out[1160], fx[512];
        fill(buf, sizeof(buf), 0xee);
        fill(buf, 512, 0x11);
        uint64_t bv = 0x2f, comp = 0;
        memcpy(buf + 512, &bv, 8);
        memcpy(buf + 520, &comp, 8);
        fill(buf + 576, 256, 0x22);
        fill(buf + 832, 40, 0x33);
        fill(buf + 1088, 64, 0x55);
        assert_bd_ok(bd_xstate_to_user(&g, buf, sizeof(buf), 0x22f, 0xabcd, out, fx));
        assert_int_equal(out[0], 0x11);
        assert_int_equal(out[415], 0x11);
        assert_int_equal(out[416], 0);    /* padding */
        assert_int_equal(out[464], 0x5a); /* the kernel's software bytes */
        assert_memory_equal(fx, out, 464);
        assert_int_equal(fx[464], 0); /* not in NT_FPREGSET */
        assert_int_equal(bd_le64(out + 512), 0x2f);
        assert_int_equal(bd_le64(out + 520), 0); /* XCOMP_BV: standard */
        assert_int_equal(out[576], 0x22);
        assert_int_equal(out[831], 0x22);
        assert_int_equal(out[832], 0x33);
        assert_int_equal(out[872], 0); /* a gap between components is zero */
        assert_int_equal(out[1088], 0x55);
        assert_int_equal(bd_le32(out + 1152), 0xabcd); /* PKRU from the thread */
        /* What user space may not see is left out, its bit too. */
        assert_bd_ok(bd_xstate_to_user(&g, buf, sizeof(buf), 0x207, 0, out, fx));
        assert_int_equal(bd_le64(out + 512), 0x7);
        assert_int_equal(out[1088], 0);
        assert_int_equal(out[832], 0);
}

static void test_xstate_compacted(void **state)
{
        (void)state;
        struct bd_xstate_geometry g = geometry();
        uint8_t buf[1024], out[1160], fx[512];
        fill(buf, sizeof(buf), 0xee);
        fill(buf, 512, 0x11);
        uint64_t bv = 0x2f, comp = (1ull << 63) | 0x22f;
        memcpy(buf + 512, &bv, 8);
        memcpy(buf + 520, &comp, 8);
        /* Packed: AVX at 576, component 3 at 832, component 5 aligned up
         * from 872 to 896, PKRU after it at 960. */
        fill(buf + 576, 256, 0x22);
        fill(buf + 832, 40, 0x33);
        fill(buf + 896, 64, 0x55);
        assert_bd_ok(bd_xstate_to_user(&g, buf, 968, 0x22f, 1, out, fx));
        assert_int_equal(out[576], 0x22);
        assert_int_equal(out[832], 0x33);
        assert_int_equal(out[871], 0x33);
        assert_int_equal(out[1088], 0x55);
        assert_int_equal(out[1151], 0x55);
        assert_int_equal(bd_le64(out + 520), 0);
        /* A buffer cut before component 5 ends. */
        assert_bd_error(bd_xstate_to_user(&g, buf, 950, 0x22f, 1, out, fx), BD_ERR_PROTOCOL);
        /* A component in use that the compacted buffer does not hold. */
        comp = (1ull << 63) | 0x207;
        memcpy(buf + 520, &comp, 8);
        assert_bd_error(bd_xstate_to_user(&g, buf, 968, 0x22f, 1, out, fx), BD_ERR_PROTOCOL);
}

static void test_xstate_init_state(void **state)
{
        (void)state;
        struct bd_xstate_geometry g = geometry();
        uint8_t buf[1160], out[1160], fx[512];
        fill(buf, sizeof(buf), 0xee);
        uint64_t bv = 0, comp = 0;
        memcpy(buf + 512, &bv, 8);
        memcpy(buf + 520, &comp, 8);
        assert_bd_ok(bd_xstate_to_user(&g, buf, sizeof(buf), 0x22f, 0, out, fx));
        /* Nothing in use: the init state, whatever the buffer holds. */
        assert_int_equal(out[0] | out[1] << 8, 0x37f);
        assert_int_equal(out[24] | out[25] << 8, 0x1f80);
        assert_int_equal(out[32], 0);
        assert_int_equal(out[160], 0);
        assert_int_equal(out[576], 0);
        assert_int_equal(bd_le64(out + 512), 0);
        /* AVX in use keeps MXCSR live though SSE is in its init state. */
        bv = 0x4;
        memcpy(buf + 512, &bv, 8);
        assert_bd_ok(bd_xstate_to_user(&g, buf, sizeof(buf), 0x22f, 0, out, fx));
        assert_int_equal(out[24], 0xee);
        assert_int_equal(out[160], 0);
        assert_int_equal(out[576], 0xee);
}

static void test_xstate_bad_geometry(void **state)
{
        (void)state;
        struct bd_xstate_geometry g = geometry();
        g.offset[5] = 1120; /* 1120 + 64 > 1160 */
        assert_bd_error(bd_xstate_check(&g), BD_ERR_PROTOCOL);
        g = geometry();
        g.user_max_size = 100;
        assert_bd_error(bd_xstate_check(&g), BD_ERR_PROTOCOL);
        g = geometry();
        g.user_max_features |= 1ull << 40; /* a component past nfeatures */
        assert_bd_error(bd_xstate_check(&g), BD_ERR_PROTOCOL);
        g = geometry();
        g.nfeatures = 65;
        assert_bd_error(bd_xstate_check(&g), BD_ERR_PROTOCOL);
        g = geometry();
        uint8_t small[100] = {0}, out[1160], fx[512];
        assert_bd_error(bd_xstate_to_user(&g, small, sizeof(small), 1, 0, out, fx),
                        BD_ERR_PROTOCOL);
}

static void test_notes_and_nt_file(void **state)
{
        (void)state;
        struct bd_core_notes n = {0};
        assert_bd_ok(bd_core_note_add(&n, "CORE", 1, "abc", 3));
        assert_int_equal(n.len, 12 + 8 + 4);
        assert_int_equal(bd_le32(n.buf), 5);
        assert_int_equal(bd_le32(n.buf + 4), 3);
        assert_int_equal(bd_le32(n.buf + 8), 1);
        assert_string_equal((const char *)n.buf + 12, "CORE");
        assert_memory_equal(n.buf + 20, "abc", 3);
        struct bd_core_file_map m[] = {{0x400000, 0x401000, 0, "/bin/x"},
                                       {0x7f0000, 0x7f2000, 3, "/lib/y.so"}};
        size_t at = n.len;
        assert_bd_ok(bd_core_nt_file(m, 2, &n));
        const uint8_t *d = n.buf + at + 20;
        assert_int_equal(bd_le32(n.buf + at + 8), 0x46494c45u);
        assert_int_equal(bd_le64(d), 2);
        assert_int_equal(bd_le64(d + 8), 4096);
        assert_int_equal(bd_le64(d + 16), 0x400000);
        assert_int_equal(bd_le64(d + 40), 0x7f0000);
        assert_int_equal(bd_le64(d + 56), 3);
        assert_string_equal((const char *)d + 64, "/bin/x");
        assert_string_equal((const char *)d + 71, "/lib/y.so");
        struct bd_core_notes more = {0};
        assert_bd_ok(bd_core_note_add(&more, "LINUX", 0x202, NULL, 0));
        size_t before = n.len;
        assert_bd_ok(bd_core_notes_append(&n, &more));
        assert_int_equal(n.len, before + 12 + 8);
        bd_core_notes_free(&more);
        bd_core_notes_free(&n);
}

static void test_vma_dump(void **state)
{
        (void)state;
        struct {
                struct bd_core_vma_facts f;
                enum bd_core_dump want;
        } cases[] = {
            /* heap, stack, thread stacks: anonymous and written */
            {{.flags = BD_VM_READ | BD_VM_WRITE, .has_anon_vma = 1}, BD_CORE_WHOLE},
            /* never written anonymous memory, guard pages: nothing */
            {{.flags = BD_VM_READ | BD_VM_WRITE}, BD_CORE_SKIP},
            /* a library's text at offset 0: its ELF header */
            {{.flags = BD_VM_READ | BD_VM_EXEC, .has_file = 1}, BD_CORE_ELF_HEADER},
            /* its text further in: in the file */
            {{.flags = BD_VM_READ | BD_VM_EXEC, .has_file = 1, .pgoff = 1}, BD_CORE_SKIP},
            /* its .data, written (copy-on-write): whole */
            {{.flags = BD_VM_READ | BD_VM_WRITE, .has_file = 1, .pgoff = 3, .has_anon_vma = 1},
             BD_CORE_WHOLE},
            /* shared memory of an unlinked file (memfd, MAP_SHARED|MAP_ANONYMOUS) */
            {{.flags = BD_VM_READ | BD_VM_SHARED, .has_file = 1, .file_unlinked = 1},
             BD_CORE_WHOLE},
            /* a shared mapping of a file on disk */
            {{.flags = BD_VM_READ | BD_VM_SHARED, .has_file = 1}, BD_CORE_SKIP},
            /* vvar is VM_IO|VM_DONTDUMP; the vDSO is always dumped */
            {{.flags = BD_VM_READ | BD_VM_IO | BD_VM_DONTDUMP, .has_anon_vma = 1}, BD_CORE_SKIP},
            {{.flags = BD_VM_READ | BD_VM_EXEC, .is_vdso = 1}, BD_CORE_WHOLE},
            /* MADV_DONTDUMP wins over having been written */
            {{.flags = BD_VM_READ | BD_VM_DONTDUMP, .has_anon_vma = 1}, BD_CORE_SKIP},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                assert_int_equal(bd_core_vma_dump(&cases[i].f), cases[i].want);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_prstatus_layout),   cmocka_unit_test(test_prpsinfo_layout),
            cmocka_unit_test(test_xstate_standard),   cmocka_unit_test(test_xstate_compacted),
            cmocka_unit_test(test_xstate_init_state), cmocka_unit_test(test_xstate_bad_geometry),
            cmocka_unit_test(test_notes_and_nt_file), cmocka_unit_test(test_vma_dump),
        };
        return cmocka_run_group_tests_name("core_notes", tests, NULL, NULL);
}
