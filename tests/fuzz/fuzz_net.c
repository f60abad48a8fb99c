/* libFuzzer target: bdmon net's sockets and their owners with the input as
 * kernel memory from physical 0x3000 (virtual NI_K(0x3000)), after the
 * kallsyms of tests/unit/net_img.h, laid out as its BTF says:
 *
 *   0x3000 tcp_hashinfo   0x3060 udp_table   0x3080 init_net
 *   0x3100 socket_file_ops   0x3140, 0x3180 two tasks (owners)
 *   then the tables, sockets, fd tables wherever the input points.
 *
 * Invariants: no crash, hang, leak or out-of-bounds read; on success
 * sockets of TCP or UDP, IPv4 or IPv6, within the budget, owners within
 * their array, a first broken chain exactly when chains broke; on failure
 * a one-line error with a code hostile memory can cause. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/program.h"
#include "../../monitor/views/net.h"
#include "../unit/net_img.h"
#include "fuzz_check.h"
#include "ks_prog.h"

#define BUDGET (256u << 10)

static void check_error(const struct bd_error *err)
{
        CHECK(err->message[0] && !strchr(err->message, '\n'));
        CHECK(err->code == BD_ERR_PROTOCOL || err->code == BD_ERR_RANGE ||
              err->code == BD_ERR_NOT_FOUND || err->code == BD_ERR_NOMEM);
}

static void check_net(const struct bd_net *n)
{
        CHECK(n->n <= BUDGET / sizeof(struct bd_net_sock));
        CHECK(!n->st.broken == !n->broken_why);
        if (n->broken_why)
                check_error(n->broken_why);
        for (size_t i = 0; i < n->n; i++) {
                const struct bd_net_sock *s = &n->s[i];
                CHECK(s->proto == BD_NET_TCP || s->proto == BD_NET_UDP);
                CHECK(s->family == 4 || s->family == 6);
                CHECK(bd_net_state_name(s->state)[0]);
                CHECK(s->owner + s->nowners <= n->nowners || !s->nowners);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct ks_img ks;
        static struct mem_phys m;
        static struct bd_program prog;
        if (!prog.btf) {
                ni_kallsyms(&ks);
                prog.opt.no_cache = 1;
                prog.opt.max_read = BUDGET;
                prog.phys = &m.base;
                CHECK((prog.btf = ni_btf()));
        }
        uint8_t *mem = ks_prog_load(&prog, &m, &ks, NI_HASHINFO, data, size);
        struct bd_net *n = NULL;
        struct bd_error *err = bd_net_read(&prog, BD_NET_TCP | BD_NET_UDP, &n);
        if (err) {
                CHECK(!n);
                check_error(err);
                bd_error_destroy(err);
        } else {
                check_net(n);
                struct bd_task t[2] = {{.addr = NI_K(0x3140), .pid = 1, .tgid = 1},
                                       {.addr = NI_K(0x3180), .pid = 2, .tgid = 2}};
                struct bd_tasks ts = {.t = t, .n = 2};
                if ((err = bd_net_owners(&prog, n, &ts)))
                        check_error(err);
                bd_error_destroy(err);
                check_net(n);
                bd_net_free(n);
        }
        ks_prog_unload(&prog, mem);
        return 0;
}
