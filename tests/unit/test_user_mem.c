/* The page reader of a process's memory (views/user_mem.h) over the
 * synthetic kernel of tasks_img.h, pid 10's mm given 4-level page tables
 * of its own: each page read once, and a frame the process maps at two
 * addresses counted when it is read again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../monitor/kernel/kallsyms.h"
#include "../../monitor/views/tasks.h"
#include "../../monitor/views/user_mem.h"
#include "../fuzz/tasks_prog.h"

/* Physical pages after what ti_build() fills: the tables, then frames. */
#define PGD    (TI_BASE + TI_IMG_SIZE)
#define PUD    (PGD + 0x1000u)
#define PMD    (PUD + 0x1000u)
#define PTE    (PMD + 0x1000u)
#define FRAME1 (PTE + 0x1000u)
#define FRAME2 (FRAME1 + 0x1000u)
#define SIZE   (FRAME2 + 0x1000u)
#define VA     0x600000ull /* pgd, pud 0; pmd 3; ptes 0 and 1 */

static uint8_t mem[SIZE];

/* pid 10's memory: VA to FRAME1, VA + 4 KiB to second. */
static struct bd_program *open_process(struct tasks_prog *tp, uint32_t second,
                                       struct bd_user_mm *um)
{
        ti_build(mem, SIZE);
        const uint64_t table = 0x67; /* present, writable, user, accessed, dirty */
        ti_put(mem, PGD, PUD | table, 8);
        ti_put(mem, PUD, PMD | table, 8);
        ti_put(mem, PMD + 8 * 3, PTE | table, 8);
        ti_put(mem, PTE, FRAME1 | table, 8);
        ti_put(mem, PTE + 8, second | table, 8);
        memset(mem + FRAME1, 0x11, 0x1000);
        memset(mem + FRAME2, 0x22, 0x1000);
        struct bd_program *prog = tasks_prog_open(tp, mem + TI_BASE, SIZE - TI_BASE, 1u << 20);
        uint64_t mm;
        assert_null(bd_task_pointer(prog, 10, BDL_TASK_MM, &mm));
        uint64_t pgd = TI_D(PGD);
        memcpy(tp->mem + (mm - TI_D(0)) + TI_MM_PGD, &pgd, 8);
        assert_null(bd_user_mm_of_pid(prog, 10, um));
        assert_int_equal(um->pgd_phys, PGD);
        return prog;
}

struct seen {
        uint64_t pages;
        uint8_t first[2]; /* the first byte of each page */
};

static struct bd_error *on_pages(void *arg, uint64_t va, const void *data, uint64_t len,
                                 enum bd_page_kind kind)
{
        struct seen *s = arg;
        assert_int_equal(kind, BD_PAGE_DATA);
        for (uint64_t off = 0; off < len; off += 4096) {
                assert_true(va + off >= VA && va + off < VA + 0x2000);
                s->first[(va + off - VA) >> 12] = ((const uint8_t *)data)[off];
                s->pages++;
        }
        return NULL;
}

static void read_twice_mapped(uint32_t second, uint64_t want_again, uint8_t want_second)
{
        struct tasks_prog tp = {0};
        struct bd_user_mm um;
        struct bd_program *prog = open_process(&tp, second, &um);
        struct bd_user_pages *w;
        assert_null(bd_user_pages_new(prog, &um, &w));
        struct seen s = {0};
        assert_null(bd_user_pages_read(w, VA, VA + 0x2000, on_pages, &s));
        assert_null(bd_user_pages_flush(w));
        uint64_t read, again;
        bd_user_pages_counts(w, &read, &again);
        assert_int_equal(s.pages, 2);
        assert_int_equal(read, 2);
        assert_int_equal(again, want_again);
        assert_int_equal(s.first[0], 0x11);
        assert_int_equal(s.first[1], want_second);
        bd_user_pages_free(w);
        tasks_prog_close(&tp);
        bd_kallsyms_free(tp.prog.ks);
        free(tp.prog.cpu_offset);
        free(tp.prog.layout);
}

static void test_each_page_once(void **state)
{
        (void)state;
        read_twice_mapped(FRAME2, 0, 0x22);
}

static void test_frame_mapped_twice_counted(void **state)
{
        (void)state;
        read_twice_mapped(FRAME1, 1, 0x11);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_each_page_once),
            cmocka_unit_test(test_frame_mapped_twice_counted),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
