/* An epoll instance's watches read out of synthetic kernel memory: three
 * epitems in a red-black tree must come out in the tree's order with
 * their fd, file, events and data; then what a dying or hostile kernel's
 * memory does to the tree: an item's negative fd, a file pointer that is
 * no kernel pointer, a child that points back at the root, more items
 * than the bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/views/epoll.h"
#include "../../monitor/walk/walk_rbtree.h"
#include "../fuzz/mem_phys.h"
#include "epoll_img.h"
#include "helpers.h"
#include "modsyms_img.h"

#define MEM_SIZE (64u << 10)
#define EP       K(0x1000)

static uint8_t mem[MEM_SIZE];
static struct mem_phys m;
static struct bd_kernel k;
static struct bd_layout l;
static struct ms_img im;
static uint64_t item[3];

/* Items for fds 3, 5 and 7 (files F(fd)), 5 at the root, 3 left, 7 right. */
#define F(fd) K(0x8000 + 0x100 * (fd))

static uint64_t epitem(int32_t fd, uint32_t events, uint64_t data)
{
        uint64_t e = ms_alloc(&im, EPI_SIZE, 8);
        ms_put64(&im, e + EPI_FILE, F(fd));
        ms_put32(&im, e + EPI_FD, (uint32_t)fd);
        ms_put32(&im, e + EPI_EVENTS, events);
        ms_put64(&im, e + EPI_DATA, data);
        return e;
}

static void reset(void)
{
        memset(mem, 0, sizeof(mem));
        mem_phys_init(&m, mem, sizeof(mem));
        mem_phys_kernel(&m, &k);
        memset(&l, 0, sizeof(l));
        ep_layout(&l);
        im = (struct ms_img){mem, 0x8000, 0x2000, K(0)};
        item[0] = epitem(3, 0x1, 0x1111);                  /* EPOLLIN */
        item[1] = epitem(5, 0x80000004u, 0x5555555555ull); /* EPOLLOUT|EPOLLET */
        item[2] = epitem(7, 0x40000019u, 7);               /* EPOLLONESHOT... */
        ms_put64(&im, EP + EP_RBR, item[1]);
        ms_put64(&im, item[1] + BD_RB_PARENT_COLOR, 1); /* black, no parent */
        ms_put64(&im, item[1] + BD_RB_LEFT, item[0]);
        ms_put64(&im, item[1] + BD_RB_RIGHT, item[2]);
        ms_put64(&im, item[0] + BD_RB_PARENT_COLOR, item[1]); /* red */
        ms_put64(&im, item[2] + BD_RB_PARENT_COLOR, item[1]);
}

static void test_watches(void **state)
{
        (void)state;
        reset();
        struct bd_epoll ep;
        assert_bd_ok(bd_epoll_from(&k, &l, EP, 16, &ep));
        assert_int_equal(ep.n, 3);
        static const int32_t fd[3] = {3, 5, 7};
        for (int i = 0; i < 3; i++) {
                assert_int_equal(ep.item[i].fd, fd[i]);
                assert_int_equal(ep.item[i].file, F(fd[i]));
        }
        assert_int_equal(ep.item[1].events, 0x80000004u);
        assert_int_equal(ep.item[1].data, 0x5555555555ull);
        assert_int_equal(ep.item[2].events, 0x40000019u);
        bd_epoll_free(&ep);
}

static void test_empty(void **state)
{
        (void)state;
        reset();
        ms_put64(&im, EP + EP_RBR, 0);
        struct bd_epoll ep;
        assert_bd_ok(bd_epoll_from(&k, &l, EP, 16, &ep));
        assert_int_equal(ep.n, 0);
}

static void test_hostile_items(void **state)
{
        (void)state;
        reset();
        ms_put32(&im, item[2] + EPI_FD, (uint32_t)-4);
        struct bd_epoll ep;
        assert_error_says(bd_epoll_from(&k, &l, EP, 16, &ep), BD_ERR_PROTOCOL, "fd -4");
        assert_int_equal(ep.n, 0);
        reset();
        ms_put64(&im, item[0] + EPI_FILE, 0x1000);
        assert_error_says(bd_epoll_from(&k, &l, EP, 16, &ep), BD_ERR_PROTOCOL, "file 0x1000");
        /* A leaf whose child is the root: a cycle, not an endless walk. */
        reset();
        ms_put64(&im, item[2] + BD_RB_LEFT, item[1]);
        struct bd_error *err = bd_epoll_from(&k, &l, EP, 16, &ep);
        assert_non_null(err);
        assert_int_equal(ep.n, 0);
        bd_error_destroy(err);
        reset();
        assert_bd_error(bd_epoll_from(&k, &l, EP, 2, &ep), BD_ERR_RANGE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_watches),
            cmocka_unit_test(test_empty),
            cmocka_unit_test(test_hostile_items),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
