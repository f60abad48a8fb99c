/* Module symbol tables on synthetic loaded modules (tests/unit/modsyms_img.h)
 * behind a synthetic kernel whose kallsyms names the modules list: lookup by
 * NAME and MODULE:NAME, what is not a variable left out, vmlinux first and
 * modules loaded once, kernel.sym in a repair script, and the ways a dying
 * kernel's memory can be wrong: a cycle in the list, too many modules, a
 * huge num_symtab, a name offset out of range, a name without its NUL or
 * with control characters, a table that ends at unmapped memory. A corrupt
 * list fails the reading; a corrupt module is skipped, never half kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../monitor/kernel/kallsyms.h"
#include "../../monitor/kernel/kernel.h"
#include "../../monitor/kernel/modsyms.h"
#include "../../monitor/kernel/program.h"
#include "../../monitor/repair/plan.h"
#include "../../monitor/repair/script.h"
#include "../../monitor/views/symbols.h"
#include "helpers.h"
#include "kallsyms_img.h"
#include "modsyms_img.h"
#include "../fuzz/mem_phys.h"

#define MEM_SIZE (2u << 20)
#define MS_HEAD  0x2000u /* the kernel's `modules` list_head */
#define LEAK     0x2100u /* where bdfault_leak's lock word lies */
#define FIRE     0xffffffffc0a00000ull
#define SHARED_A 0xffffffffc0a01000ull
#define SHARED_B 0xffffffffc0b01000ull

static uint8_t *mem;
static struct mem_phys m;
static struct bd_program *prog;
static struct ms_img im;
static struct bd_modsyms_layout lay;

static const struct ms_sym bdfault_syms[] = {
    {"bdfault_leak", STB_LOCAL, STT_OBJECT, 3, KS_K(LEAK), 'd'},
    {"bdfault_fire", STB_GLOBAL, STT_FUNC, 2, FIRE, 'T'},
    {"printk", STB_GLOBAL, STT_NOTYPE, SHN_UNDEF, 0, 'U'},
    {"undefined_obj", STB_GLOBAL, STT_OBJECT, SHN_UNDEF, 0x1234, 'U'},
    {"bdfault.c", STB_LOCAL, STT_FILE, SHN_ABS, 0, 'a'},
    {"a_section", STB_LOCAL, STT_SECTION, 3, SHARED_A, 'd'},
    {"zero_value", STB_LOCAL, STT_OBJECT, 3, 0, 'd'},
    {"shared", STB_GLOBAL, STT_OBJECT, 3, SHARED_A, '\x7f'},
};
#define NBDFAULT (sizeof(bdfault_syms) / sizeof(bdfault_syms[0]))

static const struct ms_sym other_syms[] = {
    {"shared", STB_GLOBAL, STT_OBJECT, 4, SHARED_B, 'B'},
    {"other_fn", STB_LOCAL, STT_FUNC, 2, 0xffffffffc0b00000ull, 't'},
};

static void kernel_with(const struct ks_sym *syms, unsigned n)
{
        assert_int_equal(ks_kernel(prog, &m.base, mem, syms, n), 0);
}

static int setup(void **state)
{
        (void)state;
        if (!(prog = mem_program(&m, MEM_SIZE, &mem)))
                return -1;
        static const struct ks_sym syms[] = {
            {'T', "_stext", KS_K(0)},
            {'D', "jiffies_64", KS_K(0x1f00)},
            {'b', "modules", KS_K(MS_HEAD)},
        };
        kernel_with(syms, 3);
        prog->btf = ms_btf();
        if (!prog->btf || bd_modsyms_layout_from_btf(prog->btf, &lay))
                return -1;
        im = (struct ms_img){mem, MEM_SIZE, 0x3000, KS_K(0)};
        mem[LEAK] = 1;
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        mem_program_free(prog, mem);
        return 0;
}

static uint64_t module(const char *name, const struct ms_sym *syms, uint32_t n)
{
        return ms_module(&im, name, 0, ms_table(&im, syms, n));
}

/* The modules list: head, then each module's list_head. */
static void link_modules(const uint64_t *mods, size_t n)
{
        uint64_t nodes[8];
        assert_true(n <= 8);
        for (size_t i = 0; i < n; i++)
                nodes[i] = mods[i] + MS_MOD_LIST;
        ms_link(&im, KS_K(MS_HEAD), nodes, n);
}

static struct bd_modsyms *read_modules(void)
{
        struct bd_modsyms *ms = NULL;
        assert_bd_ok(bd_symbols_read_modules(prog->k, &lay, KS_K(MS_HEAD), &ms));
        return ms;
}

static void expect_symbol(const struct bd_modsyms *ms, const char *name, const char *module,
                          uint64_t addr, char type)
{
        struct bd_symbol s;
        assert_bd_ok(bd_modsyms_lookup(ms, name, &s));
        assert_string_equal(s.module, module);
        assert_int_equal(s.addr, addr);
        assert_int_equal(s.type, type);
}

static void expect_missing(const struct bd_modsyms *ms, const char *name)
{
        struct bd_symbol s;
        assert_bd_error(bd_modsyms_lookup(ms, name, &s), BD_ERR_NOT_FOUND);
}

static void test_layout_from_btf(void **state)
{
        (void)state;
        assert_int_equal(lay.list, MS_MOD_LIST);
        assert_int_equal(lay.name, MS_MOD_NAME);
        assert_int_equal(lay.name_size, MS_NAME_LEN);
        assert_int_equal(lay.state, MS_MOD_STATE);
        assert_int_equal(lay.kallsyms, MS_MOD_KALLSYMS);
        assert_int_equal(lay.num_symtab, MS_MK_NUM);
        assert_int_equal(lay.typetab, MS_MK_TYPETAB);
        assert_int_equal(lay.mk_size, MS_MK_SIZE);
        assert_int_equal(lay.unformed, MS_UNFORMED);
        struct btf *bare = btf__new_empty();
        assert_non_null(bare);
        btf__add_int(bare, "int", 4, BTF_INT_SIGNED);
        struct bd_modsyms_layout l;
        assert_bd_error(bd_modsyms_layout_from_btf(bare, &l), BD_ERR_NOT_FOUND);
        btf__free(bare);
}

static void test_lookup(void **state)
{
        (void)state;
        /* Being loaded: its kallsyms pointer is not yet set up. */
        uint64_t forming = ms_module(&im, "forming", MS_UNFORMED, 0xdead);
        uint64_t mods[] = {module("bdfault", bdfault_syms, NBDFAULT), forming,
                           module("other", other_syms, 2)};
        link_modules(mods, 3);
        struct bd_modsyms *ms = read_modules();
        const char *why;
        assert_int_equal(bd_modsyms_skipped(ms, &why), 0);
        assert_string_equal(why, "");
        assert_int_equal(bd_modsyms_modules(ms), 2);
        assert_int_equal(bd_modsyms_count(ms), 5);
        expect_symbol(ms, "bdfault_leak", "bdfault", KS_K(LEAK), 'd');
        expect_symbol(ms, "bdfault:bdfault_leak", "bdfault", KS_K(LEAK), 'd');
        expect_symbol(ms, "bdfault_fire", "bdfault", FIRE, 'T');
        expect_symbol(ms, "other_fn", "other", 0xffffffffc0b00000ull, 't');
        /* A type letter that is no letter is shown as unknown. */
        expect_symbol(ms, "bdfault:shared", "bdfault", SHARED_A, '?');
        expect_symbol(ms, "other:shared", "other", SHARED_B, 'B');
        struct bd_symbol s;
        struct bd_error *err = bd_modsyms_lookup(ms, "shared", &s);
        assert_non_null(err);
        assert_non_null(strstr(err->message, "bdfault"));
        assert_non_null(strstr(err->message, "other"));
        assert_bd_error(err, BD_ERR_USAGE);
        expect_missing(ms, "other:bdfault_leak");
        expect_missing(ms, "nosuch:bdfault_leak");
        expect_missing(ms, "bdfault:");
        expect_missing(ms, ":bdfault_leak");
        /* Undefined, files, sections and zero addresses name no variable. */
        expect_missing(ms, "printk");
        expect_missing(ms, "undefined_obj");
        expect_missing(ms, "bdfault.c");
        expect_missing(ms, "a_section");
        expect_missing(ms, "zero_value");
        for (size_t i = 0; i < bd_modsyms_count(ms); i++) {
                bd_modsyms_at(ms, i, &s);
                assert_true(strlen(s.name) > 0 && s.addr);
        }
        bd_modsyms_free(ms);
}

static void test_empty_list(void **state)
{
        (void)state;
        link_modules(NULL, 0);
        struct bd_modsyms *ms = read_modules();
        assert_int_equal(bd_modsyms_modules(ms), 0);
        expect_missing(ms, "anything");
        bd_modsyms_free(ms);
}

static void test_cycle(void **state)
{
        (void)state;
        uint64_t a = module("a", other_syms, 2), b = module("b", other_syms, 2);
        uint64_t mods[] = {a, b};
        link_modules(mods, 2);
        /* b leads back to a, never to the head. */
        ms_put64(&im, b + MS_MOD_LIST, a + MS_MOD_LIST);
        struct bd_modsyms *ms = NULL;
        assert_bd_error(bd_symbols_read_modules(prog->k, &lay, KS_K(MS_HEAD), &ms),
                        BD_ERR_PROTOCOL);
        assert_null(ms);
        /* A module that is its own successor. */
        ms_put64(&im, a + MS_MOD_LIST, a + MS_MOD_LIST);
        assert_bd_error(bd_symbols_read_modules(prog->k, &lay, KS_K(MS_HEAD), &ms),
                        BD_ERR_PROTOCOL);
        /* A wild next pointer. */
        ms_put64(&im, KS_K(MS_HEAD), 0x4141414141414141ull);
        assert_bd_error(bd_symbols_read_modules(prog->k, &lay, KS_K(MS_HEAD), &ms),
                        BD_ERR_PROTOCOL);
}

static void test_too_many_modules(void **state)
{
        (void)state;
        uint64_t empty = ms_kallsyms(&im, 0, 0, 0, 0);
        uint64_t head = KS_K(MS_HEAD), prev = head;
        for (unsigned i = 0; i < BD_MODSYMS_MAX_MODULES; i++) {
                uint64_t node = ms_module(&im, "many", 0, empty) + MS_MOD_LIST;
                ms_put64(&im, prev, node);
                prev = node;
        }
        ms_put64(&im, prev, head);
        struct bd_modsyms *ms = read_modules();
        assert_int_equal(bd_modsyms_modules(ms), BD_MODSYMS_MAX_MODULES);
        bd_modsyms_free(ms);
        uint64_t one_more = ms_module(&im, "many", 0, empty) + MS_MOD_LIST;
        ms_put64(&im, prev, one_more);
        ms_put64(&im, one_more, head);
        assert_bd_error(bd_symbols_read_modules(prog->k, &lay, head, &ms), BD_ERR_RANGE);
}

/* The bad module first, then a good one whose symbols must still be
 * found; why must be in the reason kept. */
static void expect_bad_module(uint64_t bad, const char *why)
{
        uint64_t mods[] = {bad, module("other", other_syms, 2)};
        link_modules(mods, 2);
        struct bd_modsyms *ms = read_modules();
        const char *reason;
        assert_int_equal(bd_modsyms_skipped(ms, &reason), 1);
        if (!strstr(reason, why))
                print_error("reason '%s' lacks '%s'\n", reason, why);
        assert_non_null(strstr(reason, why));
        assert_int_equal(bd_modsyms_modules(ms), 1);
        assert_int_equal(bd_modsyms_count(ms), 2);
        expect_symbol(ms, "other:shared", "other", SHARED_B, 'B');
        /* A miss says that a module could not be read, and why. */
        struct bd_symbol s;
        struct bd_error *err = bd_modsyms_lookup(ms, "bdfault_leak", &s);
        assert_non_null(err);
        assert_non_null(strstr(err->message, "unreadable"));
        assert_bd_error(err, BD_ERR_NOT_FOUND);
        bd_modsyms_free(ms);
}

static uint64_t table_of(uint64_t mod)
{
        uint64_t mk;
        memcpy(&mk, mem + (mod + MS_MOD_KALLSYMS - im.base), 8);
        return mk;
}

static uint64_t field(uint64_t va)
{
        uint64_t v;
        memcpy(&v, mem + (va - im.base), 8);
        return v;
}

static void test_huge_num_symtab(void **state)
{
        (void)state;
        uint64_t bad = module("bdfault", bdfault_syms, NBDFAULT);
        ms_put32(&im, table_of(bad) + MS_MK_NUM, 0xffffffffu);
        expect_bad_module(bad, "num_symtab");
}

static void test_limit_num_symtab(void **state)
{
        (void)state;
        uint64_t bad = module("bdfault", bdfault_syms, NBDFAULT);
        ms_put32(&im, table_of(bad) + MS_MK_NUM, BD_MODSYMS_MAX_SYMS + 1);
        expect_bad_module(bad, "num_symtab");
}

static void test_strtab_offset_out_of_range(void **state)
{
        (void)state;
        uint64_t bad = module("bdfault", bdfault_syms, NBDFAULT);
        uint64_t symtab = field(table_of(bad) + MS_MK_SYMTAB);
        /* Past what num_symtab names of at most KSYM_NAME_LEN could fill. */
        uint32_t off = (uint32_t)(NBDFAULT + 1) * BD_KALLSYMS_NAME_MAX;
        ms_put32(&im, symtab + sizeof(Elf64_Sym) + offsetof(Elf64_Sym, st_name), off);
        expect_bad_module(bad, "strtab+");
}

static void test_name_past_memory(void **state)
{
        (void)state;
        uint64_t bad = module("bdfault", bdfault_syms, NBDFAULT);
        /* Within the bound, but the string table there is not memory. */
        ms_put64(&im, table_of(bad) + MS_MK_STRTAB, KS_K(MEM_SIZE - 16));
        expect_bad_module(bad, "outside every window");
}

static void test_name_without_nul(void **state)
{
        (void)state;
        char longname[BD_KALLSYMS_NAME_MAX + 8];
        memset(longname, 'x', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        const struct ms_sym s[] = {{"fine", STB_LOCAL, STT_OBJECT, 3, SHARED_A, 'd'},
                                   {longname, STB_LOCAL, STT_OBJECT, 3, SHARED_A + 8, 'd'}};
        expect_bad_module(module("bdfault", s, 2), "has no end");
}

static void test_name_not_printable(void **state)
{
        (void)state;
        const struct ms_sym s[] = {{"evil\x1b[2Jname", STB_LOCAL, STT_OBJECT, 3, SHARED_A, 'd'}};
        expect_bad_module(module("bdfault", s, 1), "no printable name");
}

static void test_module_name_bad(void **state)
{
        (void)state;
        uint64_t bad = module("x", other_syms, 2);
        char name[MS_NAME_LEN];
        memset(name, 'm', sizeof(name));
        ms_put(&im, bad + MS_MOD_NAME, name, sizeof(name));
        expect_bad_module(bad, "name");
}

static void test_module_name_control(void **state)
{
        (void)state;
        expect_bad_module(ms_module(&im, "bd\nfault", 0, ms_table(&im, other_syms, 2)), "name");
}

/* MODULE:NAME must mean one thing: no ':' in either. */
static void test_colon_in_module_name(void **state)
{
        (void)state;
        expect_bad_module(ms_module(&im, "bd:fault", 0, ms_table(&im, other_syms, 2)),
                          "no printable name");
}

static void test_colon_in_symbol_name(void **state)
{
        (void)state;
        const struct ms_sym s[] = {{"bdfault:leak", STB_LOCAL, STT_OBJECT, 3, SHARED_A, 'd'}};
        expect_bad_module(module("bdfault", s, 1), "no printable name");
}

static void test_wild_kallsyms_pointer(void **state)
{
        (void)state;
        expect_bad_module(ms_module(&im, "bdfault", 0, 0xffffc90000001000ull), "mod_kallsyms");
}

/* A string table that ends where memory does (before a guard page) is
 * read up to there, not refused because a name could have been longer. */
static void test_strtab_at_end_of_memory(void **state)
{
        (void)state;
        static const char names[] = "\0bdfault_leak\0bdfault_end";
        uint64_t strtab = KS_K(MEM_SIZE - sizeof(names));
        memcpy(mem + MEM_SIZE - sizeof(names), names, sizeof(names));
        uint64_t symtab = ms_alloc(&im, 3 * sizeof(Elf64_Sym), 8);
        uint64_t typetab = ms_alloc(&im, 3, 1);
        for (unsigned i = 1; i < 3; i++) {
                Elf64_Sym e = {.st_name = i == 1 ? 1 : 14,
                               .st_info = ELF64_ST_INFO(STB_LOCAL, STT_OBJECT),
                               .st_shndx = 3,
                               .st_value = SHARED_A + i};
                ms_put(&im, symtab + i * sizeof(e), &e, sizeof(e));
                ms_put(&im, typetab + i, "d", 1);
        }
        uint64_t good = ms_module(&im, "bdfault", 0, ms_kallsyms(&im, symtab, 3, strtab, typetab));
        link_modules(&good, 1);
        struct bd_modsyms *ms = read_modules();
        expect_symbol(ms, "bdfault_end", "bdfault", SHARED_A + 2, 'd');
        bd_modsyms_free(ms);
        /* The same, but the last name runs into the end of memory. */
        mem[MEM_SIZE - 1] = 'x';
        expect_bad_module(good, "has no end");
}

static void test_find_vmlinux_then_modules(void **state)
{
        (void)state;
        uint64_t mods[] = {module("bdfault", bdfault_syms, NBDFAULT),
                           module("other", other_syms, 2)};
        link_modules(mods, 2);
        struct bd_symbol s;
        assert_bd_ok(bd_symbols_find(prog, "jiffies_64", &s));
        assert_null(s.module);
        assert_int_equal(s.addr, KS_K(0x1f00));
        assert_int_equal(s.type, 'D');
        assert_null(prog->modsyms); /* a vmlinux name reads no module */
        assert_bd_ok(bd_symbols_find(prog, "bdfault_leak", &s));
        assert_string_equal(s.module, "bdfault");
        assert_string_equal(s.name, "bdfault_leak");
        assert_int_equal(s.addr, KS_K(LEAK));
        /* Read once: later lookups cost no round trip. */
        uint64_t rt = m.base.round_trips;
        assert_bd_ok(bd_symbols_find(prog, "other:shared", &s));
        assert_int_equal(s.addr, SHARED_B);
        struct bd_error *err = bd_symbols_find(prog, "nosuch", &s);
        assert_non_null(err);
        assert_non_null(strstr(err->message, "kallsyms"));
        assert_non_null(strstr(err->message, "2 modules"));
        assert_bd_error(err, BD_ERR_NOT_FOUND);
        /* MODULE:NAME never means vmlinux's. */
        assert_bd_error(bd_symbols_find(prog, "bdfault:jiffies_64", &s), BD_ERR_NOT_FOUND);
        assert_int_equal(m.base.round_trips, rt);
}

static void test_find_without_modules_list(void **state)
{
        (void)state;
        bd_kernel_close(prog->k);
        static const struct ks_sym syms[] = {{'T', "_stext", KS_K(0)}};
        kernel_with(syms, 1);
        struct bd_symbol s;
        struct bd_error *err = bd_symbols_find(prog, "bdfault_leak", &s);
        assert_non_null(err);
        assert_non_null(strstr(err->message, "'modules'"));
        assert_bd_error(err, BD_ERR_NOT_FOUND);
        assert_null(prog->modsyms);
}

static struct bd_error *plan_script(const char *text)
{
        struct bd_repair_script *s;
        struct bd_repair_plan plan;
        bd_repair_plan_init(&plan);
        struct bd_error *err = bd_repair_script_load(prog, "test.lua", text, NULL, &s);
        if (err)
                return err;
        err = bd_repair_script_plan(s, NULL, 0, &plan);
        bd_repair_script_close(s);
        return err;
}

static void test_script_sym(void **state)
{
        (void)state;
        uint64_t mods[] = {module("bdfault", bdfault_syms, NBDFAULT)};
        link_modules(mods, 1);
        assert_bd_ok(
            plan_script("needs = { 'qspinlock.locked' }\n"
                        "function plan()\n"
                        "  local l = kernel.sym('bdfault_leak', 'qspinlock')\n"
                        "  assert(l.locked == 1, 'locked ' .. tostring(l.locked))\n"
                        "  local q = kernel.sym('bdfault:bdfault_leak', 'qspinlock')\n"
                        "  assert(kernel.addr(q) == kernel.addr(l))\n"
                        "  local ok, err = pcall(kernel.sym, 'bdfault_leak')\n"
                        "  assert(not ok and err:find('TYPE') and err:find('bdfault'), err)\n"
                        "  ok, err = pcall(kernel.sym, 'nosuch', 'qspinlock')\n"
                        "  assert(not ok and err:find('nosuch'), err)\n"
                        "end\n"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_layout_from_btf, setup, teardown),
            cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
            cmocka_unit_test_setup_teardown(test_empty_list, setup, teardown),
            cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
            cmocka_unit_test_setup_teardown(test_too_many_modules, setup, teardown),
            cmocka_unit_test_setup_teardown(test_huge_num_symtab, setup, teardown),
            cmocka_unit_test_setup_teardown(test_limit_num_symtab, setup, teardown),
            cmocka_unit_test_setup_teardown(test_strtab_offset_out_of_range, setup, teardown),
            cmocka_unit_test_setup_teardown(test_name_past_memory, setup, teardown),
            cmocka_unit_test_setup_teardown(test_name_without_nul, setup, teardown),
            cmocka_unit_test_setup_teardown(test_name_not_printable, setup, teardown),
            cmocka_unit_test_setup_teardown(test_module_name_bad, setup, teardown),
            cmocka_unit_test_setup_teardown(test_module_name_control, setup, teardown),
            cmocka_unit_test_setup_teardown(test_colon_in_module_name, setup, teardown),
            cmocka_unit_test_setup_teardown(test_colon_in_symbol_name, setup, teardown),
            cmocka_unit_test_setup_teardown(test_wild_kallsyms_pointer, setup, teardown),
            cmocka_unit_test_setup_teardown(test_strtab_at_end_of_memory, setup, teardown),
            cmocka_unit_test_setup_teardown(test_find_vmlinux_then_modules, setup, teardown),
            cmocka_unit_test_setup_teardown(test_find_without_modules_list, setup, teardown),
            cmocka_unit_test_setup_teardown(test_script_sym, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
