#include "walk_list.h"

#include <inttypes.h>

#include "addr_set.h"

/* list_head {next, prev} and hlist_node {next, pprev} share a shape: one
 * 16-byte read serves both walkers and the back-link check. */
static struct bd_error *read_pair(struct bd_kernel *k, uint64_t addr, uint64_t pair[2],
                                  const char *what)
{
        struct bd_kernel_iov iov = {addr, pair, 2 * sizeof(uint64_t)};
        return bd_walk_read(k, &iov, 1, what);
}

/* A callback's answer: stop means success. */
static struct bd_error *callback_result(struct bd_error *err, int *stop)
{
        if (err == &bd_walk_stop) {
                *stop = 1;
                return NULL;
        }
        return err;
}

struct bd_error *bd_list_walk(struct bd_kernel *k, uint64_t head_addr, const struct bd_walk_opts *o,
                              bd_list_cb cb, void *arg)
{
        const char *name = k->phys->name;
        size_t max = bd_walk_max(o);
        if (!bd_walk_kptr_ok(k, head_addr, 8))
                return bd_error_new(BD_ERR_RANGE,
                                    "%s: list head at 0x%" PRIx64 " is not a kernel "
                                    "address",
                                    name, head_addr);
        uint64_t cur[2];
        struct bd_error *err = read_pair(k, head_addr, cur, "list head");
        if (err)
                return err;
        struct bd_addr_set seen;
        bd_addr_set_init(&seen, max + 1);
        uint64_t cur_addr = head_addr;
        size_t count = 0;
        int stop = 0;
        while (!err && !stop) {
                uint64_t next = cur[0];
                if (next == head_addr)
                        break;
                if (!bd_walk_kptr_ok(k, next, 8)) {
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           "%s: list at 0x%" PRIx64 ": node 0x%" PRIx64
                                           " has bad next pointer 0x%" PRIx64,
                                           name, head_addr, cur_addr, next);
                        break;
                }
                if (++count > max) {
                        err = bd_error_new(BD_ERR_RANGE,
                                           "%s: list at 0x%" PRIx64 " has more than %zu entries",
                                           name, head_addr, max);
                        break;
                }
                int fresh = bd_addr_set_insert(&seen, next);
                if (fresh < 0) {
                        err = &bd_error_nomem;
                        break;
                }
                if (!fresh) {
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           "%s: list at 0x%" PRIx64 " loops back to node 0x%" PRIx64
                                           " without returning to its head",
                                           name, head_addr, next);
                        break;
                }
                uint64_t nx[2];
                if ((err = read_pair(k, next, nx, "list node")))
                        break;
                if (bd_walk_check_prev(o) && nx[1] != cur_addr) {
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           "%s: list at 0x%" PRIx64 ": node 0x%" PRIx64
                                           " has prev 0x%" PRIx64 ", not 0x%" PRIx64,
                                           name, head_addr, next, nx[1], cur_addr);
                        break;
                }
                err = callback_result(cb(arg, next), &stop);
                cur_addr = next;
                cur[0] = nx[0];
                cur[1] = nx[1];
        }
        bd_addr_set_free(&seen);
        return err;
}

struct bd_error *bd_hlist_walk(struct bd_kernel *k, uint64_t head_addr,
                               const struct bd_walk_opts *o, bd_list_cb cb, void *arg)
{
        const char *name = k->phys->name;
        size_t max = bd_walk_max(o);
        if (!bd_walk_kptr_ok(k, head_addr, 8))
                return bd_error_new(BD_ERR_RANGE,
                                    "%s: hlist head at 0x%" PRIx64 " is not a kernel "
                                    "address",
                                    name, head_addr);
        uint64_t node;
        struct bd_kernel_iov iov = {head_addr, &node, sizeof(node)};
        struct bd_error *err = bd_walk_read(k, &iov, 1, "hlist head");
        if (err)
                return err;
        struct bd_addr_set seen;
        bd_addr_set_init(&seen, max + 1);
        /* Where the pointer to node was read: what node's pprev must hold. */
        uint64_t link = head_addr;
        size_t count = 0;
        int stop = 0;
        while (node && !err && !stop) {
                if (!bd_walk_kptr_ok(k, node, 8)) {
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           "%s: hlist at 0x%" PRIx64 ": bad node pointer 0x%" PRIx64
                                           " at 0x%" PRIx64,
                                           name, head_addr, node, link);
                        break;
                }
                if (++count > max) {
                        err = bd_error_new(BD_ERR_RANGE,
                                           "%s: hlist at 0x%" PRIx64 " has more than %zu entries",
                                           name, head_addr, max);
                        break;
                }
                int fresh = bd_addr_set_insert(&seen, node);
                if (fresh < 0) {
                        err = &bd_error_nomem;
                        break;
                }
                if (!fresh) {
                        err =
                            bd_error_new(BD_ERR_PROTOCOL,
                                         "%s: hlist at 0x%" PRIx64 " loops back to node 0x%" PRIx64,
                                         name, head_addr, node);
                        break;
                }
                uint64_t nx[2];
                if ((err = read_pair(k, node, nx, "hlist node")))
                        break;
                if (bd_walk_check_prev(o) && nx[1] != link) {
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           "%s: hlist at 0x%" PRIx64 ": node 0x%" PRIx64
                                           " has pprev 0x%" PRIx64 ", not 0x%" PRIx64,
                                           name, head_addr, node, nx[1], link);
                        break;
                }
                err = callback_result(cb(arg, node), &stop);
                link = node; /* next is the node's first member */
                node = nx[0];
        }
        bd_addr_set_free(&seen);
        return err;
}
