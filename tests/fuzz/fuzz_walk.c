/* libFuzzer target: the kernel data-structure walkers with the input as
 * kernel memory (the image mapping, physical 0 upwards, and page tables at
 * physical 0 for every other address). Each walker starts from a fixed
 * root near the start of the input:
 *
 *   0x00  flags: bit 0 check back links, bit 1 direct map at
 *         0xffff888000000000, bit 2 maple layout without metadata
 *   0x10  list_head    0x20  hlist_head    0x28  rb_root
 *   0x30  xarray       0x40  maple_tree
 *
 * Invariants: no crash, hang or leak; callbacks see at most the node bound
 * and xarray indexes and maple ranges strictly ascending; failures are
 * one-line errors that leave the target's name to the caller, with a code
 * hostile memory can cause.
 * Every third callback of a walk may stop it early. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/walk/walk.h"
#include "../../monitor/walk/walk_list.h"
#include "../../monitor/walk/walk_maple.h"
#include "../../monitor/walk/walk_rbtree.h"
#include "../../monitor/walk/walk_xarray.h"
#include "fuzz_check.h"
#include "mem_phys.h"

#define MAX_NODES 512

static void check_error(struct bd_error *err)
{
        if (!err)
                return;
        CHECK(err != &bd_walk_stop);
        check_memory_error(err);
        bd_error_destroy(err);
}

struct state {
        size_t n;
        int stop_every;
        uint64_t last_index, last_end;
};

static struct bd_error *step(struct state *s)
{
        s->n++;
        CHECK(s->n <= MAX_NODES * 64);
        return s->stop_every && s->n % s->stop_every == 0 ? &bd_walk_stop : NULL;
}

static struct bd_error *node_cb(void *arg, uint64_t node)
{
        struct state *s = arg;
        CHECK(node);
        return step(s);
}

static struct bd_error *xa_cb(void *arg, uint64_t index, uint64_t entry)
{
        struct state *s = arg;
        CHECK(entry && (entry & 3) != 2);
        CHECK(!s->n || index > s->last_index);
        s->last_index = index;
        return step(s);
}

static struct bd_error *mt_cb(void *arg, uint64_t first, uint64_t last, uint64_t entry)
{
        struct state *s = arg;
        CHECK(entry && first <= last);
        CHECK(!s->n || first > s->last_end);
        s->last_end = last;
        return step(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct mem_phys m;
        struct bd_kernel k;
        uint8_t *mem = mem_kernel_copy(&m, &k, data, size);
        CHECK(mem);
        uint8_t flags = size ? data[0] : 0;
        if (flags & 2)
                bd_kernel_set_direct_map(&k, 0xffff888000000000ull);
        struct bd_walk_opts o = {.max = MAX_NODES, .check_prev = flags & 1};
        struct bd_xa_layout xl = bd_xa_layout_default();
        struct bd_maple_layout ml = bd_maple_layout_default();
        if (flags & 4)
                ml.range_meta = ml.arange_meta = 0;
        for (int stop = 0; stop <= 3; stop += 3) {
                struct state s = {.stop_every = stop};
                check_error(bd_list_walk(&k, K(0x10), &o, node_cb, &s));
                CHECK(s.n <= MAX_NODES);
                s = (struct state){.stop_every = stop};
                check_error(bd_hlist_walk(&k, K(0x20), &o, node_cb, &s));
                CHECK(s.n <= MAX_NODES);
                s = (struct state){.stop_every = stop};
                check_error(bd_rbtree_walk(&k, K(0x28), &o, node_cb, &s));
                CHECK(s.n <= MAX_NODES);
                s = (struct state){.stop_every = stop};
                check_error(bd_xa_walk(&k, K(0x30), &xl, &o, xa_cb, &s));
                s = (struct state){.stop_every = stop};
                check_error(bd_maple_walk(&k, K(0x40), &ml, &o, mt_cb, &s));
        }
        free(mem);
        return 0;
}
