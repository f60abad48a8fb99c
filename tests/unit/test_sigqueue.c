/* Pending signals read out of synthetic kernel memory: a set whose queue
 * holds a signal sent with sigqueue() and a real-time one, and a legacy
 * signal with no queue entry; each must come out as the siginfo_t the
 * process would have received. Then what a dying or hostile kernel's
 * memory does to a queue: an entry for a signal not in the set, a cycle,
 * more entries than the bound, a siginfo of an impossible size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/bytes.h"
#include "../../monitor/kernel/kernel.h"
#include "../../monitor/views/sigqueue.h"
#include "../fuzz/mem_phys.h"
#include "helpers.h"
#include "modsyms_img.h"
#include "sigqueue_img.h"

#define MEM_SIZE (64u << 10)
#define PENDING  K(0x1000)

static uint8_t mem[MEM_SIZE];
static struct mem_phys m;
static struct bd_kernel k;
static struct bd_layout l;
static struct ms_img im;

static void reset(void)
{
        memset(mem, 0, sizeof(mem));
        mem_phys_init(&m, mem, sizeof(mem));
        mem_phys_kernel(&m, &k);
        memset(&l, 0, sizeof(l));
        sq_layout(&l);
        im = (struct ms_img){mem, sizeof(mem), 0x2000, K(0)};
}

/* A queue entry: signal sig, si_code code, si_pid pid. */
static uint64_t entry(int sig, int code, uint32_t pid)
{
        uint64_t q = ms_alloc(&im, SQ_SIZE, 8);
        ms_put32(&im, q + SQ_INFO, (uint32_t)sig);
        ms_put32(&im, q + SQ_INFO + 8, (uint32_t)code);
        ms_put32(&im, q + SQ_INFO + 16, pid);
        return q;
}

static void pending(uint64_t mask, const uint64_t *q, size_t n)
{
        ms_put64(&im, PENDING + SP_SIGNAL, mask);
        ms_link(&im, PENDING + SP_LIST, q, n);
}

static void test_queued_and_legacy(void **state)
{
        (void)state;
        reset();
        /* SIGUSR1 from sigqueue() by pid 77, SIGRTMIN+1 twice; SIGINT has
         * its bit only. */
        uint64_t q[] = {entry(10, -1, 77), entry(35, -1, 78), entry(35, -1, 79)};
        pending(1ull << 9 | 1ull << 34 | 1ull << 1, q, 3);
        struct bd_sigqueue sq;
        assert_bd_ok(bd_sigqueue_from(&k, &l, PENDING, 16, &sq));
        assert_int_equal(sq.n, 4);
        assert_int_equal(bd_siginfo_signo(&sq.info[0]), 10);
        assert_int_equal(bd_le32(sq.info[0].b + 16), 77);
        assert_int_equal((int32_t)bd_le32(sq.info[0].b + 8), -1);
        assert_int_equal(bd_siginfo_signo(&sq.info[2]), 35);
        assert_int_equal(bd_le32(sq.info[2].b + 16), 79);
        /* The legacy one as collect_signal() makes it: SI_USER, no sender. */
        assert_int_equal(bd_siginfo_signo(&sq.info[3]), 2);
        static const uint8_t zero[BD_SIGINFO_SIZE - 4];
        assert_memory_equal(sq.info[3].b + 4, zero, sizeof(zero));
        /* Past kernel_siginfo, siginfo_t is zeros. */
        assert_memory_equal(sq.info[0].b + SQ_INFO_SIZE, zero, BD_SIGINFO_SIZE - SQ_INFO_SIZE);
        bd_sigqueue_free(&sq);
}

/* Nothing pending: the list is not even read (its words are garbage). */
static void test_nothing_pending(void **state)
{
        (void)state;
        reset();
        ms_put64(&im, PENDING + SP_LIST, 0x1234);
        struct bd_sigqueue sq;
        assert_bd_ok(bd_sigqueue_from(&k, &l, PENDING, 16, &sq));
        assert_int_equal(sq.n, 0);
        assert_null(sq.info);
}

static void test_entry_not_pending(void **state)
{
        (void)state;
        reset();
        uint64_t q[] = {entry(12, 0, 1)};
        pending(1ull << 9, q, 1);
        struct bd_sigqueue sq;
        struct bd_error *err = bd_sigqueue_from(&k, &l, PENDING, 16, &sq);
        assert_error_says(err, BD_ERR_PROTOCOL, "signal 12, which is not pending");
        assert_int_equal(sq.n, 0);
        /* Signal numbers past _NSIG are no signals. */
        reset();
        uint64_t r[] = {entry(65, 0, 1)};
        pending(~0ull, r, 1);
        err = bd_sigqueue_from(&k, &l, PENDING, 16, &sq);
        assert_error_says(err, BD_ERR_PROTOCOL, "signal 65");
}

static void test_cycle_and_bound(void **state)
{
        (void)state;
        reset();
        uint64_t q[] = {entry(10, 0, 1), entry(10, 0, 2)};
        pending(1ull << 9, q, 2);
        /* The second entry's next leads back to the first. */
        ms_put64(&im, q[1], q[0]);
        struct bd_sigqueue sq;
        struct bd_error *err = bd_sigqueue_from(&k, &l, PENDING, 16, &sq);
        assert_non_null(err);
        assert_int_equal(sq.n, 0);
        bd_error_destroy(err);
        reset();
        uint64_t many[8];
        for (int i = 0; i < 8; i++)
                many[i] = entry(34, -1, (uint32_t)i);
        pending(1ull << 33, many, 8);
        err = bd_sigqueue_from(&k, &l, PENDING, 7, &sq);
        assert_bd_error(err, BD_ERR_RANGE);
        assert_bd_ok(bd_sigqueue_from(&k, &l, PENDING, 8, &sq));
        assert_int_equal(sq.n, 8);
        bd_sigqueue_free(&sq);
}

static void test_bad_siginfo_size(void **state)
{
        (void)state;
        reset();
        pending(1ull << 9, NULL, 0);
        l.e[BDL_SIGQUEUE_INFO].size = 136;
        struct bd_sigqueue sq;
        struct bd_error *err = bd_sigqueue_from(&k, &l, PENDING, 16, &sq);
        assert_error_says(err, BD_ERR_PROTOCOL, "sigqueue.info of 136 bytes");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_queued_and_legacy), cmocka_unit_test(test_nothing_pending),
            cmocka_unit_test(test_entry_not_pending), cmocka_unit_test(test_cycle_and_bound),
            cmocka_unit_test(test_bad_siginfo_size),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
