/* The kernel data-structure walkers on hand-built structures in a buffer
 * used as physical memory (the kernel image mapping, linear, at phys 0):
 * list_head, hlist, rbtree, xarray and maple tree, each well formed, and
 * each corrupted the ways a dying kernel's memory can be: cycles, wild and
 * NULL pointers, too many entries, broken back links, bad shifts and
 * pivots. Every corruption must end in an error, never a crash or a hang. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/grow.h"
#include "../../monitor/walk/addr_set.h"
#include "../../monitor/kernel/kernel.h"
#include "../../monitor/walk/walk.h"
#include "../../monitor/walk/walk_list.h"
#include "../../monitor/walk/walk_maple.h"
#include "../../monitor/walk/walk_rbtree.h"
#include "../../monitor/walk/walk_xarray.h"
#include "helpers.h"
#include "../fuzz/mem_phys.h"

#define MEM_SIZE (1u << 20)
/* In the image mapping but past the end of memory. */
#define WILD K(16u << 20)
/* Outside the image: translated through the (empty) page table at 0. */
#define UNMAPPED 0xffff888000123000ull

static uint8_t *mem;
static struct mem_phys m;
static struct bd_kernel k;
static uint64_t next_free;

static int setup(void **state)
{
        (void)state;
        mem = calloc(1, MEM_SIZE);
        if (!mem)
                return -1;
        mem_phys_init(&m, mem, MEM_SIZE);
        snprintf(m.base.name, sizeof(m.base.name), "synthetic");
        memset(&k, 0, sizeof(k));
        k.phys = &m.base;
        k.levels = 4;
        k.pgd_phys = 0;
        next_free = 0x1000;
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        free(mem);
        return 0;
}

/* A fresh object of size bytes, aligned to align; its kernel address. */
static uint64_t alloc(size_t size, uint64_t align)
{
        next_free = (next_free + align - 1) & ~(align - 1);
        uint64_t off = next_free;
        next_free += size;
        assert_true(next_free <= MEM_SIZE);
        return K(off);
}

static void put(uint64_t vaddr, uint64_t v)
{
        memcpy(mem + (vaddr - K(0)), &v, 8);
}

static void put8(uint64_t vaddr, uint8_t v)
{
        mem[vaddr - K(0)] = v;
}

/* What the callbacks saw. */
#define MAX_SEEN 256
struct seen {
        size_t n;
        uint64_t a[MAX_SEEN], b[MAX_SEEN], c[MAX_SEEN];
        size_t stop_after; /* 0: never */
        struct bd_error *fail_with;
};

static struct bd_error *record(struct seen *s, uint64_t a, uint64_t b, uint64_t c)
{
        assert_true(s->n < MAX_SEEN);
        s->a[s->n] = a;
        s->b[s->n] = b;
        s->c[s->n] = c;
        s->n++;
        if (s->fail_with)
                return s->fail_with;
        if (s->stop_after && s->n == s->stop_after)
                return &bd_walk_stop;
        return NULL;
}

static struct bd_error *node_cb(void *arg, uint64_t node)
{
        return record(arg, node, 0, 0);
}

static struct bd_error *xa_cb(void *arg, uint64_t index, uint64_t entry)
{
        return record(arg, index, entry, 0);
}

static struct bd_error *mt_cb(void *arg, uint64_t first, uint64_t last, uint64_t entry)
{
        return record(arg, first, last, entry);
}

/* Like assert_bd_error, also checking that the message is one line and
 * leaves the target's name to the caller, which says it once. */
static void expect_error(struct bd_error *err, enum bd_err code)
{
        assert_non_null(err);
        assert_null(strstr(err->message, "synthetic"));
        assert_null(strchr(err->message, '\n'));
        assert_bd_error(err, code);
}

/* An error about a node: the message names the structure, its root and
 * the node. */
static void expect_node_error(struct bd_error *err, enum bd_err code, const char *what,
                              uint64_t root, uint64_t node)
{
        char want[64];
        assert_non_null(err);
        snprintf(want, sizeof(want), "%s at 0x%" PRIx64, what, root);
        assert_true(!strncmp(err->message, want, strlen(want)));
        snprintf(want, sizeof(want), "0x%" PRIx64, node);
        assert_non_null(strstr(err->message + strlen(what), want));
        expect_error(err, code);
}

/* A read that faulted: the error carries the address that failed and
 * names what was read there. */
static void expect_fault(struct bd_error *err, enum bd_err code, uint64_t addr, const char *what)
{
        char want[128];
        snprintf(want, sizeof(want), "%s at 0x%" PRIx64 " unreadable: ", what, addr);
        assert_non_null(err);
        assert_true(err->has_address);
        assert_int_equal(err->address, addr);
        assert_true(!strncmp(err->message, want, strlen(want)));
        expect_error(err, code);
}

/* ---- bd_walk_read ---- */

static void test_walk_read(void **state)
{
        (void)state;
        uint64_t buf[4];
        struct bd_kernel_iov iov[2] = {{alloc(16, 8), buf, 16}, {WILD, buf + 2, 16}};
        assert_bd_ok(bd_walk_read(&k, iov, 1, "thing"));
        expect_fault(bd_walk_read(&k, iov, 2, "thing"), BD_ERR_RANGE, WILD, "thing");
        iov[1].vaddr = UNMAPPED;
        expect_fault(bd_walk_read(&k, iov, 2, "thing"), BD_ERR_NOT_FOUND, UNMAPPED, "thing");
        /* An error about no one address names the batch. */
        iov[1].vaddr = UINT64_MAX - 7;
        struct bd_error *err = bd_walk_read(&k, iov, 2, "thing");
        assert_non_null(err);
        assert_false(err->has_address);
        assert_true(!strncmp(err->message, "reading 2 things: ", 18));
        expect_error(err, BD_ERR_RANGE);
}

static void test_grow(void **state)
{
        (void)state;
        uint32_t *a = NULL;
        size_t cap = 0;
        assert_int_equal(bd_grow((void **)&a, &cap, 1, sizeof(*a), 16), 0);
        assert_int_equal(cap, 16);
        assert_int_equal(bd_grow((void **)&a, &cap, 16, sizeof(*a), 16), 0);
        assert_int_equal(cap, 16);
        assert_int_equal(bd_grow((void **)&a, &cap, 17, sizeof(*a), 16), 0);
        assert_int_equal(cap, 32);
        /* More than twice: just what is needed. */
        assert_int_equal(bd_grow((void **)&a, &cap, 1000, sizeof(*a), 16), 0);
        assert_int_equal(cap, 1000);
        a[999] = 7;
        /* A size that would overflow changes nothing. */
        uint32_t *before = a;
        assert_int_equal(bd_grow((void **)&a, &cap, SIZE_MAX / 2, sizeof(*a), 16), -1);
        assert_ptr_equal(a, before);
        assert_int_equal(cap, 1000);
        assert_int_equal(a[999], 7);
        free(a);
        a = NULL;
        cap = 0;
        assert_int_equal(bd_grow((void **)&a, &cap, SIZE_MAX / 2, sizeof(*a), 16), -1);
        assert_null(a);
        assert_int_equal(cap, 0);
}

/* ---- addr_set ---- */

static void test_addr_set(void **state)
{
        (void)state;
        struct bd_addr_set s;
        bd_addr_set_init(&s, 5000);
        for (uint64_t i = 0; i < 4000; i++)
                assert_int_equal(bd_addr_set_insert(&s, K(i * 64)), 1);
        for (uint64_t i = 0; i < 4000; i++) {
                assert_int_equal(bd_addr_set_insert(&s, K(i * 64)), 0);
                assert_true(bd_addr_set_contains(&s, K(i * 64)));
        }
        assert_false(bd_addr_set_contains(&s, K(8)));
        assert_int_equal(bd_addr_set_insert(&s, 0), 1);
        assert_int_equal(bd_addr_set_insert(&s, 0), 0);
        assert_true(bd_addr_set_contains(&s, 0));
        bd_addr_set_free(&s);

        /* The bound holds however many distinct addresses come. */
        bd_addr_set_init(&s, 10);
        for (uint64_t i = 1; i <= 10; i++)
                assert_int_equal(bd_addr_set_insert(&s, i), 1);
        assert_int_equal(bd_addr_set_insert(&s, 11), -1);
        assert_int_equal(bd_addr_set_insert(&s, 3), 0);
        bd_addr_set_free(&s);
}

/* ---- list_head ---- */

/* head and n nodes linked in order, each 16 bytes plus padding. */
static uint64_t build_list(uint64_t *nodes, size_t n)
{
        uint64_t head = alloc(16, 8);
        for (size_t i = 0; i < n; i++)
                nodes[i] = alloc(48, 8) + 16; /* the member sits inside its object */
        for (size_t i = 0; i <= n; i++) {
                uint64_t cur = i ? nodes[i - 1] : head;
                uint64_t next = i < n ? nodes[i] : head;
                put(cur, next);
                put(next + 8, cur);
        }
        return head;
}

static void test_list_ok(void **state)
{
        (void)state;
        uint64_t nodes[5];
        uint64_t head = build_list(nodes, 5);
        struct seen s = {0};
        struct bd_walk_opts o = {.check_prev = 1};
        assert_bd_ok(bd_list_walk(&k, head, &o, node_cb, &s));
        assert_int_equal(s.n, 5);
        for (size_t i = 0; i < 5; i++)
                assert_int_equal(s.a[i], nodes[i]);

        /* An empty list is its head alone. */
        uint64_t empty = build_list(nodes, 0);
        memset(&s, 0, sizeof(s));
        assert_bd_ok(bd_list_walk(&k, empty, NULL, node_cb, &s));
        assert_int_equal(s.n, 0);
}

static void test_list_cycle(void **state)
{
        (void)state;
        uint64_t nodes[5];
        uint64_t head = build_list(nodes, 5);
        put(nodes[4], nodes[1]);
        struct seen s = {0};
        expect_node_error(bd_list_walk(&k, head, NULL, node_cb, &s), BD_ERR_PROTOCOL, "list", head,
                          nodes[1]);
        assert_int_equal(s.n, 5);

        /* A node pointing to itself. */
        head = build_list(nodes, 3);
        put(nodes[1], nodes[1]);
        memset(&s, 0, sizeof(s));
        expect_error(bd_list_walk(&k, head, NULL, node_cb, &s), BD_ERR_PROTOCOL);
        assert_int_equal(s.n, 2);
}

static void test_list_bad_pointers(void **state)
{
        (void)state;
        uint64_t nodes[3];
        uint64_t head = build_list(nodes, 3);
        struct seen s = {0};
        put(nodes[1], WILD);
        expect_fault(bd_list_walk(&k, head, NULL, node_cb, &s), BD_ERR_RANGE, WILD, "list node");
        put(nodes[1], UNMAPPED);
        expect_fault(bd_list_walk(&k, head, NULL, node_cb, &s), BD_ERR_NOT_FOUND, UNMAPPED,
                     "list node");
        put(nodes[1], 0);
        expect_error(bd_list_walk(&k, head, NULL, node_cb, &s), BD_ERR_PROTOCOL);
        put(nodes[1], 0x7fff12345678ull); /* a user address */
        expect_node_error(bd_list_walk(&k, head, NULL, node_cb, &s), BD_ERR_PROTOCOL, "list", head,
                          0x7fff12345678ull);
        put(nodes[1], nodes[2] + 1); /* misaligned */
        expect_error(bd_list_walk(&k, head, NULL, node_cb, &s), BD_ERR_PROTOCOL);
        expect_fault(bd_list_walk(&k, WILD, NULL, node_cb, &s), BD_ERR_RANGE, WILD, "list head");
        expect_error(bd_list_walk(&k, 0, NULL, node_cb, &s), BD_ERR_RANGE);
        /* The last 8 bytes of memory: half a list_head. */
        expect_error(bd_list_walk(&k, K(MEM_SIZE - 8), NULL, node_cb, &s), BD_ERR_RANGE);
}

static void test_list_too_many(void **state)
{
        (void)state;
        uint64_t nodes[5];
        uint64_t head = build_list(nodes, 5);
        struct seen s = {0};
        struct bd_walk_opts o = {.max = 3};
        struct bd_error *err = bd_list_walk(&k, head, &o, node_cb, &s);
        assert_non_null(err);
        assert_non_null(strstr(err->message, "more than 3 nodes"));
        expect_node_error(err, BD_ERR_RANGE, "list", head, nodes[3]);
        assert_int_equal(s.n, 3);
        o.max = 5;
        memset(&s, 0, sizeof(s));
        assert_bd_ok(bd_list_walk(&k, head, &o, node_cb, &s));
        assert_int_equal(s.n, 5);
}

static void test_list_broken_prev(void **state)
{
        (void)state;
        uint64_t nodes[4];
        uint64_t head = build_list(nodes, 4);
        put(nodes[2] + 8, nodes[0]);
        struct seen s = {0};
        struct bd_walk_opts o = {.check_prev = 1};
        expect_error(bd_list_walk(&k, head, &o, node_cb, &s), BD_ERR_PROTOCOL);
        assert_int_equal(s.n, 2);
        /* Not asked to check: the forward links are fine. */
        memset(&s, 0, sizeof(s));
        assert_bd_ok(bd_list_walk(&k, head, NULL, node_cb, &s));
        assert_int_equal(s.n, 4);
}

static void test_list_stop(void **state)
{
        (void)state;
        uint64_t nodes[5];
        uint64_t head = build_list(nodes, 5);
        struct seen s = {.stop_after = 2};
        assert_bd_ok(bd_list_walk(&k, head, NULL, node_cb, &s));
        assert_int_equal(s.n, 2);
        /* A callback's own error comes back as it is. */
        struct bd_error *mine = bd_error_new(BD_ERR_INTERNAL, "mine");
        memset(&s, 0, sizeof(s));
        s.fail_with = mine;
        assert_ptr_equal(bd_list_walk(&k, head, NULL, node_cb, &s), mine);
        assert_int_equal(s.n, 1);
        bd_error_destroy(mine);
}

/* ---- hlist ---- */

static uint64_t build_hlist(uint64_t *nodes, size_t n)
{
        uint64_t head = alloc(8, 8);
        uint64_t link = head;
        for (size_t i = 0; i < n; i++) {
                nodes[i] = alloc(16, 8);
                put(link, nodes[i]);
                put(nodes[i] + 8, link);
                link = nodes[i];
        }
        put(link, 0);
        return head;
}

static void test_hlist(void **state)
{
        (void)state;
        uint64_t nodes[4];
        uint64_t head = build_hlist(nodes, 4);
        struct seen s = {0};
        struct bd_walk_opts o = {.check_prev = 1};
        assert_bd_ok(bd_hlist_walk(&k, head, &o, node_cb, &s));
        assert_int_equal(s.n, 4);
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(s.a[i], nodes[i]);

        uint64_t empty = build_hlist(nodes, 0);
        memset(&s, 0, sizeof(s));
        assert_bd_ok(bd_hlist_walk(&k, empty, &o, node_cb, &s));
        assert_int_equal(s.n, 0);

        head = build_hlist(nodes, 4);
        o.max = 3;
        expect_error(bd_hlist_walk(&k, head, &o, node_cb, &s), BD_ERR_RANGE);
        o.max = 0;
        memset(&s, 0, sizeof(s));
        s.stop_after = 1;
        assert_bd_ok(bd_hlist_walk(&k, head, &o, node_cb, &s));
        assert_int_equal(s.n, 1);

        put(nodes[2] + 8, head); /* pprev pointing elsewhere */
        expect_error(bd_hlist_walk(&k, head, &o, node_cb, &s), BD_ERR_PROTOCOL);
        put(nodes[2] + 8, nodes[1]);
        put(nodes[3], nodes[0]); /* cycle */
        memset(&s, 0, sizeof(s));
        expect_node_error(bd_hlist_walk(&k, head, NULL, node_cb, &s), BD_ERR_PROTOCOL, "hlist",
                          head, nodes[0]);
        assert_int_equal(s.n, 4);
        put(nodes[3], nodes[3]); /* self-loop */
        expect_error(bd_hlist_walk(&k, head, NULL, node_cb, &s), BD_ERR_PROTOCOL);
        put(nodes[3], WILD);
        expect_error(bd_hlist_walk(&k, head, NULL, node_cb, &s), BD_ERR_RANGE);
        put(nodes[3], 0x1000);
        expect_error(bd_hlist_walk(&k, head, NULL, node_cb, &s), BD_ERR_PROTOCOL);
}

/* ---- rbtree ---- */

/* A balanced tree over nodes[lo, hi), each rb_node 8 bytes into its
 * object; returns the subtree's root. */
static uint64_t build_rb(const uint64_t *nodes, int lo, int hi, uint64_t parent)
{
        if (lo >= hi)
                return 0;
        int mid = (lo + hi) / 2;
        uint64_t n = nodes[mid];
        put(n + BD_RB_PARENT_COLOR, parent | (mid & 1)); /* colour bit */
        put(n + BD_RB_LEFT, build_rb(nodes, lo, mid, n));
        put(n + BD_RB_RIGHT, build_rb(nodes, mid + 1, hi, n));
        return n;
}

#define RB_N 50

static uint64_t rb_nodes[RB_N];

static uint64_t build_rbtree(void)
{
        uint64_t root = alloc(16, 8); /* an rb_root_cached */
        for (int i = 0; i < RB_N; i++)
                rb_nodes[i] = alloc(64, 8) + 8;
        put(root, build_rb(rb_nodes, 0, RB_N, 0));
        put(root + 8, rb_nodes[0]);
        return root;
}

static void test_rbtree_ok(void **state)
{
        (void)state;
        uint64_t root = build_rbtree();
        struct seen s = {0};
        struct bd_walk_opts o = {.check_prev = 1};
        uint64_t rt0 = m.base.round_trips;
        assert_bd_ok(bd_rbtree_walk(&k, root, &o, node_cb, &s));
        /* The root pointer, then one read per level: 50 nodes, 6 levels. */
        assert_int_equal(m.base.round_trips - rt0, 1 + 6);
        assert_int_equal(s.n, RB_N);
        for (int i = 0; i < RB_N; i++)
                assert_int_equal(s.a[i], rb_nodes[i]);

        memset(&s, 0, sizeof(s));
        s.stop_after = 7;
        assert_bd_ok(bd_rbtree_walk(&k, root, NULL, node_cb, &s));
        assert_int_equal(s.n, 7);

        uint64_t empty = alloc(8, 8);
        memset(&s, 0, sizeof(s));
        assert_bd_ok(bd_rbtree_walk(&k, empty, NULL, node_cb, &s));
        assert_int_equal(s.n, 0);
}

static void test_rbtree_corrupt(void **state)
{
        (void)state;
        uint64_t root = build_rbtree();
        struct seen s = {0};
        uint64_t leaf = rb_nodes[0];
        /* A leaf whose left child is the root: a cycle. */
        put(leaf + BD_RB_LEFT, rb_nodes[RB_N / 2]);
        expect_node_error(bd_rbtree_walk(&k, root, NULL, node_cb, &s), BD_ERR_PROTOCOL, "rbtree",
                          root, rb_nodes[RB_N / 2]);
        put(leaf + BD_RB_LEFT, leaf);
        expect_error(bd_rbtree_walk(&k, root, NULL, node_cb, &s), BD_ERR_PROTOCOL);
        put(leaf + BD_RB_LEFT, WILD);
        expect_error(bd_rbtree_walk(&k, root, NULL, node_cb, &s), BD_ERR_RANGE);
        put(leaf + BD_RB_LEFT, UNMAPPED);
        expect_fault(bd_rbtree_walk(&k, root, NULL, node_cb, &s), BD_ERR_NOT_FOUND, UNMAPPED,
                     "rbtree node");
        put(leaf + BD_RB_LEFT, 0x4242);
        expect_error(bd_rbtree_walk(&k, root, NULL, node_cb, &s), BD_ERR_PROTOCOL);
        put(leaf + BD_RB_LEFT, 0);
        /* Nothing is emitted from a tree that fails. */
        assert_int_equal(s.n, 0);

        struct bd_walk_opts o = {.max = RB_N - 1};
        expect_error(bd_rbtree_walk(&k, root, &o, node_cb, &s), BD_ERR_RANGE);
        o.max = RB_N;
        assert_bd_ok(bd_rbtree_walk(&k, root, &o, node_cb, &s));

        /* A wrong parent is caught only when asked for. */
        memset(&s, 0, sizeof(s));
        put(rb_nodes[3] + BD_RB_PARENT_COLOR, rb_nodes[40]);
        o.check_prev = 1;
        expect_error(bd_rbtree_walk(&k, root, &o, node_cb, &s), BD_ERR_PROTOCOL);
        assert_bd_ok(bd_rbtree_walk(&k, root, NULL, node_cb, &s));
        assert_int_equal(s.n, RB_N);
}

static void test_rbtree_too_deep(void **state)
{
        (void)state;
        /* A chain of 200 left children: no red-black tree is that deep. */
        uint64_t root = alloc(8, 8);
        uint64_t prev = 0;
        for (int i = 0; i < 200; i++) {
                uint64_t n = alloc(24, 8);
                put(n + BD_RB_PARENT_COLOR, prev);
                if (prev)
                        put(prev + BD_RB_LEFT, n);
                else
                        put(root, n);
                prev = n;
        }
        struct seen s = {0};
        expect_error(bd_rbtree_walk(&k, root, NULL, node_cb, &s), BD_ERR_PROTOCOL);
        assert_int_equal(s.n, 0);
}

/* ---- xarray ---- */

#define XA_INTERNAL(v) (((uint64_t)(v) << 2) | 2)
#define XA_RETRY       XA_INTERNAL(256)
#define XA_ZERO        XA_INTERNAL(257)
#define XA_VALUE(v)    (((uint64_t)(v) << 1) | 1)

static struct bd_xa_layout xl;

static uint64_t xa_node(int shift)
{
        uint64_t n = alloc(xl.size, 8);
        put8(n + xl.shift, (uint8_t)shift);
        return n;
}

static void xa_slot(uint64_t node, unsigned i, uint64_t e)
{
        put(node + xl.slots + 8 * i, e);
}

static uint64_t xa_ptr(uint64_t node)
{
        return node + 2;
}

/* A two-level array: root (shift 6) -> leaves 0 and 2 (shift 0). */
static uint64_t xa, xa_root, xa_leaf0, xa_leaf2;

static void build_xarray(void)
{
        xl = bd_xa_layout_default();
        xa = alloc(16, 8);
        xa_root = xa_node(6);
        xa_leaf0 = xa_node(0);
        xa_leaf2 = xa_node(0);
        put(xa + xl.head, xa_ptr(xa_root));
        xa_slot(xa_root, 0, xa_ptr(xa_leaf0));
        xa_slot(xa_root, 2, xa_ptr(xa_leaf2));
        xa_slot(xa_root, 5, K(0x5000));      /* an order-6 entry at 320 */
        xa_slot(xa_root, 6, XA_INTERNAL(5)); /* its sibling */
        xa_slot(xa_leaf0, 0, K(0x1000));
        xa_slot(xa_leaf0, 5, XA_VALUE(77));
        xa_slot(xa_leaf0, 6, XA_RETRY);
        xa_slot(xa_leaf0, 7, XA_ZERO);
        xa_slot(xa_leaf2, 63, K(0x2000));
        xa_slot(xa_leaf2, 3, K(0x3000));
}

static void test_xarray_ok(void **state)
{
        (void)state;
        build_xarray();
        struct seen s = {0};
        uint64_t rt0 = m.base.round_trips;
        assert_bd_ok(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s));
        assert_int_equal(m.base.round_trips - rt0, 1 + 2);
        const uint64_t idx[] = {0, 5, 131, 191, 320};
        const uint64_t ent[] = {K(0x1000), XA_VALUE(77), K(0x3000), K(0x2000), K(0x5000)};
        assert_int_equal(s.n, 5);
        for (size_t i = 0; i < 5; i++) {
                assert_int_equal(s.a[i], idx[i]);
                assert_int_equal(s.b[i], ent[i]);
        }
        memset(&s, 0, sizeof(s));
        s.stop_after = 2;
        assert_bd_ok(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s));
        assert_int_equal(s.n, 2);

        /* A lone entry at index 0 lives in xa_head itself. */
        put(xa + xl.head, K(0x1234));
        memset(&s, 0, sizeof(s));
        assert_bd_ok(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s));
        assert_int_equal(s.n, 1);
        assert_int_equal(s.a[0], 0);
        assert_int_equal(s.b[0], K(0x1234));
        put(xa + xl.head, 0);
        memset(&s, 0, sizeof(s));
        assert_bd_ok(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s));
        assert_int_equal(s.n, 0);
}

static void test_xarray_corrupt(void **state)
{
        (void)state;
        build_xarray();
        struct seen s = {0};
        /* A leaf claiming shift 12 under a shift-6 node. */
        put8(xa_leaf2 + xl.shift, 12);
        expect_error(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s), BD_ERR_PROTOCOL);
        put8(xa_leaf2 + xl.shift, 3);
        expect_error(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s), BD_ERR_PROTOCOL);
        put8(xa_leaf2 + xl.shift, 0);
        /* A leaf pointing back at the root. */
        xa_slot(xa_leaf2, 9, xa_ptr(xa_root));
        expect_error(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s), BD_ERR_PROTOCOL);
        /* Two slots sharing one node. */
        xa_slot(xa_leaf2, 9, 0);
        xa_slot(xa_root, 3, xa_ptr(xa_leaf2));
        expect_node_error(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s), BD_ERR_PROTOCOL, "xarray", xa,
                          xa_leaf2);
        xa_slot(xa_root, 3, xa_ptr(WILD));
        expect_error(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s), BD_ERR_RANGE);
        xa_slot(xa_root, 3, 0x7f0000000002ull);
        expect_error(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s), BD_ERR_PROTOCOL);
        xa_slot(xa_root, 3, 0);
        struct bd_walk_opts o = {.max = 2};
        expect_error(bd_xa_walk(&k, xa, &xl, &o, xa_cb, &s), BD_ERR_RANGE);
        o.max = 3;
        assert_bd_ok(bd_xa_walk(&k, xa, &xl, &o, xa_cb, &s));
        assert_int_equal(s.n, 5);

        /* A shift-60 root has room for 16 slots of 64-bit index only. */
        memset(&s, 0, sizeof(s));
        uint64_t top = xa_node(60);
        put(xa + xl.head, xa_ptr(top));
        xa_slot(top, 15, K(0x100));
        assert_bd_ok(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s));
        assert_int_equal(s.n, 1);
        assert_int_equal(s.a[0], 15ull << 60);
        xa_slot(top, 16, K(0x100));
        expect_error(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s), BD_ERR_PROTOCOL);
        put8(top + xl.shift, 66);
        expect_error(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s), BD_ERR_PROTOCOL);
        assert_int_equal(s.n, 1);

        /* A layout's node far larger than the kernel's 576 bytes: refused
         * before it sizes a level's read. */
        xl.size = BD_XA_NODE_MAX + 8;
        expect_error(bd_xa_walk(&k, xa, &xl, NULL, xa_cb, &s), BD_ERR_INTERNAL);
}

/* ---- maple tree ---- */

enum { MT_DENSE, MT_LEAF_64, MT_RANGE_64, MT_ARANGE_64 };
#define MAX64 UINT64_MAX

static struct bd_maple_layout ml;

static uint64_t mt_enode(uint64_t node, int type)
{
        return node | (uint64_t)type << 3 | 4;
}

static uint64_t mt_node(uint64_t parent)
{
        uint64_t n = alloc(BD_MAPLE_NODE_SIZE, BD_MAPLE_NODE_SIZE);
        put(n + ml.parent, parent);
        return n;
}

static void mt_set(uint64_t node, int type, unsigned i, uint64_t pivot, uint64_t slot)
{
        uint32_t p = type == MT_ARANGE_64 ? ml.arange_pivot : ml.range_pivot;
        uint32_t s = type == MT_ARANGE_64 ? ml.arange_slot : ml.range_slot;
        if (i < (type == MT_ARANGE_64 ? 9u : 15u))
                put(node + p + 8 * i, pivot);
        put(node + s + 8 * i, slot);
}

static void mt_end(uint64_t node, int type, uint8_t end)
{
        put8(node + (type == MT_ARANGE_64 ? ml.arange_meta : ml.range_meta), end);
}

/* root (arange_64) -> leaf1 [0, 0x1fff], leaf2 [0x2000, max], as an mm's
 * VMAs: allocation-range internal nodes, leaf_64 leaves. */
static uint64_t mt, mt_root, mt_leaf1, mt_leaf2;

static void build_maple(void)
{
        ml = bd_maple_layout_default();
        mt = alloc(16, 8);
        mt_root = mt_node(mt | 1);
        mt_leaf1 = mt_node(mt_root);
        mt_leaf2 = mt_node(mt_root);
        put(mt + ml.root, mt_enode(mt_root, MT_ARANGE_64) | 2);
        mt_set(mt_root, MT_ARANGE_64, 0, 0x1fff, mt_enode(mt_leaf1, MT_LEAF_64));
        /* The last slot's pivot left 0: it runs to the node's maximum. */
        mt_set(mt_root, MT_ARANGE_64, 1, 0, mt_enode(mt_leaf2, MT_LEAF_64));
        mt_end(mt_root, MT_ARANGE_64, 1);
        mt_set(mt_leaf1, MT_LEAF_64, 0, 0xfff, 0);
        mt_set(mt_leaf1, MT_LEAF_64, 1, 0x1fff, K(0x100));
        mt_end(mt_leaf1, MT_LEAF_64, 1);
        mt_set(mt_leaf2, MT_LEAF_64, 0, 0x2fff, K(0x200));
        mt_set(mt_leaf2, MT_LEAF_64, 1, 0x4fff, K(0x300));
        mt_set(mt_leaf2, MT_LEAF_64, 2, MAX64, 0);
        mt_end(mt_leaf2, MT_LEAF_64, 2);
}

static void expect_maple(const struct seen *s)
{
        const uint64_t first[] = {0x1000, 0x2000, 0x3000};
        const uint64_t last[] = {0x1fff, 0x2fff, 0x4fff};
        const uint64_t ent[] = {K(0x100), K(0x200), K(0x300)};
        assert_int_equal(s->n, 3);
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(s->a[i], first[i]);
                assert_int_equal(s->b[i], last[i]);
                assert_int_equal(s->c[i], ent[i]);
        }
}

static void test_maple_ok(void **state)
{
        (void)state;
        build_maple();
        struct seen s = {0};
        uint64_t rt0 = m.base.round_trips;
        assert_bd_ok(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s));
        assert_int_equal(m.base.round_trips - rt0, 1 + 2);
        expect_maple(&s);

        /* Without metadata the first zero pivot past slot 0 ends a node. */
        struct bd_maple_layout nometa = ml;
        nometa.range_meta = nometa.arange_meta = 0;
        mt_set(mt_leaf2, MT_LEAF_64, 2, 0, 0);
        memset(&s, 0, sizeof(s));
        assert_bd_ok(bd_maple_walk(&k, mt, &nometa, NULL, mt_cb, &s));
        expect_maple(&s);

        memset(&s, 0, sizeof(s));
        s.stop_after = 1;
        assert_bd_ok(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s));
        assert_int_equal(s.n, 1);

        /* A lone entry at index 0 lives in ma_root itself. */
        put(mt + ml.root, K(0x400));
        memset(&s, 0, sizeof(s));
        assert_bd_ok(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s));
        assert_int_equal(s.n, 1);
        assert_int_equal(s.a[0], 0);
        assert_int_equal(s.b[0], 0);
        put(mt + ml.root, 0);
        memset(&s, 0, sizeof(s));
        assert_bd_ok(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s));
        assert_int_equal(s.n, 0);
}

static void test_maple_full_and_dense(void **state)
{
        (void)state;
        ml = bd_maple_layout_default();
        mt = alloc(16, 8);
        /* A full leaf_64 root: no room for metadata, and the last slot
         * runs to the tree's maximum. */
        uint64_t leaf = mt_node(mt | 1);
        put(mt + ml.root, mt_enode(leaf, MT_LEAF_64) | 2);
        for (unsigned i = 0; i < 16; i++)
                mt_set(leaf, MT_LEAF_64, i, 0x10 * i + 0xf, K(0x1000 + 8 * i));
        struct seen s = {0};
        assert_bd_ok(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s));
        assert_int_equal(s.n, 16);
        assert_int_equal(s.a[15], 0xf0);
        assert_int_equal(s.b[15], MAX64);

        /* A range_64 root over a dense leaf: one index per slot. */
        uint64_t root = mt_node(mt | 1);
        uint64_t dense = mt_node(root);
        put(mt + ml.root, mt_enode(root, MT_RANGE_64) | 2);
        mt_set(root, MT_RANGE_64, 0, 99, 0);
        mt_set(root, MT_RANGE_64, 1, 102, mt_enode(dense, MT_DENSE));
        mt_set(root, MT_RANGE_64, 2, MAX64, 0);
        mt_end(root, MT_RANGE_64, 2);
        put(dense + ml.dense_slot, K(0x10));
        put(dense + ml.dense_slot + 16, K(0x20));
        put(dense + ml.dense_slot + 24, K(0x30)); /* past the range: ignored */
        memset(&s, 0, sizeof(s));
        assert_bd_ok(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s));
        assert_int_equal(s.n, 2);
        assert_int_equal(s.a[0], 100);
        assert_int_equal(s.b[0], 100);
        assert_int_equal(s.a[1], 102);
        assert_int_equal(s.c[1], K(0x20));
}

static void test_maple_corrupt(void **state)
{
        (void)state;
        build_maple();
        struct seen s = {0};
        /* Pivots out of order within a node. */
        mt_set(mt_leaf2, MT_LEAF_64, 1, 0x2800, K(0x300));
        expect_error(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s), BD_ERR_PROTOCOL);
        mt_set(mt_leaf2, MT_LEAF_64, 1, 0x4fff, K(0x300));
        /* A pivot past the range its parent gives the node. */
        mt_set(mt_leaf1, MT_LEAF_64, 0, 0x2fff, 0);
        expect_error(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s), BD_ERR_PROTOCOL);
        mt_set(mt_leaf1, MT_LEAF_64, 0, 0xfff, 0);
        /* Metadata claiming more slots than the type has. */
        mt_end(mt_leaf1, MT_LEAF_64, 16);
        expect_error(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s), BD_ERR_PROTOCOL);
        mt_end(mt_leaf1, MT_LEAF_64, 1);
        /* A dead node: its parent is itself. */
        put(mt_leaf2 + ml.parent, mt_leaf2);
        expect_error(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s), BD_ERR_PROTOCOL);
        put(mt_leaf2 + ml.parent, mt_root);
        /* A child that is the root again, as an internal node. */
        mt_set(mt_root, MT_ARANGE_64, 1, 0, mt_enode(mt_root, MT_ARANGE_64));
        expect_error(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s), BD_ERR_PROTOCOL);
        /* Unknown node type. */
        mt_set(mt_root, MT_ARANGE_64, 1, 0, mt_enode(mt_leaf2, 5));
        expect_node_error(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s), BD_ERR_PROTOCOL,
                          "maple tree", mt, mt_enode(mt_leaf2, 5));
        mt_set(mt_root, MT_ARANGE_64, 1, 0, mt_enode(WILD, MT_LEAF_64));
        expect_fault(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s), BD_ERR_RANGE, WILD, "maple node");
        mt_set(mt_root, MT_ARANGE_64, 1, 0, mt_enode(UNMAPPED, MT_LEAF_64));
        expect_error(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s), BD_ERR_NOT_FOUND);
        /* A leaf one level deeper than its sibling. */
        uint64_t mid = mt_node(mt_root);
        mt_set(mid, MT_RANGE_64, 0, MAX64, mt_enode(mt_leaf2, MT_LEAF_64));
        mt_end(mid, MT_RANGE_64, 0);
        mt_set(mt_root, MT_ARANGE_64, 1, 0, mt_enode(mid, MT_RANGE_64));
        expect_error(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s), BD_ERR_PROTOCOL);
        mt_set(mt_root, MT_ARANGE_64, 1, 0, mt_enode(mt_leaf2, MT_LEAF_64));
        struct bd_walk_opts o = {.max = 2};
        expect_error(bd_maple_walk(&k, mt, &ml, &o, mt_cb, &s), BD_ERR_RANGE);
        assert_int_equal(s.n, 0);
        o.max = 3;
        assert_bd_ok(bd_maple_walk(&k, mt, &ml, &o, mt_cb, &s));
        expect_maple(&s);
}

static void test_maple_too_deep(void **state)
{
        (void)state;
        ml = bd_maple_layout_default();
        mt = alloc(16, 8);
        uint64_t parent = mt_node(mt | 1);
        put(mt + ml.root, mt_enode(parent, MT_RANGE_64) | 2);
        for (int i = 0; i < 40; i++) {
                uint64_t child = mt_node(parent);
                mt_set(parent, MT_RANGE_64, 0, MAX64, mt_enode(child, MT_RANGE_64));
                mt_end(parent, MT_RANGE_64, 0);
                parent = child;
        }
        struct seen s = {0};
        expect_error(bd_maple_walk(&k, mt, &ml, NULL, mt_cb, &s), BD_ERR_PROTOCOL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        const struct CMUnitTest tests[] = {
            T(test_addr_set),
            T(test_list_ok),
            T(test_list_cycle),
            T(test_list_bad_pointers),
            T(test_list_too_many),
            T(test_list_broken_prev),
            T(test_list_stop),
            T(test_hlist),
            T(test_rbtree_ok),
            T(test_rbtree_corrupt),
            T(test_rbtree_too_deep),
            T(test_xarray_ok),
            T(test_xarray_corrupt),
            T(test_maple_ok),
            T(test_maple_full_and_dense),
            T(test_maple_corrupt),
            T(test_maple_too_deep),
            T(test_walk_read),
            T(test_grow),
        };
        return cmocka_run_group_tests_name("walk", tests, NULL, NULL);
}
