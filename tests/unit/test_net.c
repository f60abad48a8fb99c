/* bdmon net over a synthetic kernel (net_img.h): a listener, an
 * established socket with queues, a time-wait and a request socket on one
 * chain, an IPv6 socket in another namespace, a UDP socket; their owners
 * through fd tables; and hostile tables: a chain cycle, a nulls chain
 * without its end, wild pointers, masks no kernel makes, more sockets than
 * the budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/kernel/program.h"
#include "../../monitor/views/net.h"
#include "helpers.h"
#include "net_img.h"
#include "../fuzz/mem_phys.h"

#define MEM_SIZE (1u << 20)

/* The sockets, and their struct socket_alloc. */
#define S_LISTEN  0x4000u
#define S_EST     0x4200u
#define S_TW      0x4400u
#define S_REQ     0x4600u
#define S_V6      0x4800u
#define S_UDP     0x4a00u
#define SA_LISTEN 0x5000u
#define SA_EST    0x5100u
#define SA_V6     0x5200u
#define SA_UDP    0x5300u
/* Owners: tasks, their files_structs, fdtables, fd arrays and files. */
#define T_BASE     0x6000u /* task i at T_BASE + 0x100 * i */
#define F_SSHD     0x6800u
#define F_DNSD     0x6900u
#define F_HUGE     0x6a00u
#define FDT_SSHD   0x6c00u
#define FDT_DNSD   0x6c40u
#define FDT_HUGE   0x6c80u
#define ARR_SSHD   0x7000u
#define ARR_DNSD   0x7100u
#define FILE_BASE  0x7400u /* file i at FILE_BASE + 0x100 * i */
#define OTHER_FOPS 0x3140u

static uint8_t *mem;
static struct mem_phys m;
static struct bd_program *prog;

static const uint8_t any4[4] = {0}, a1[4] = {10, 0, 0, 1}, a2[4] = {10, 0, 0, 2},
                     a3[4] = {10, 0, 0, 3}, a4[4] = {10, 0, 0, 4};
static const uint8_t lo6[16] = {[15] = 1};

static int setup(void **state)
{
        (void)state;
        if (!(prog = mem_program(&m, MEM_SIZE, &mem)))
                return -1;
        static struct ks_img ks;
        ni_kallsyms(&ks);
        ks_install(&ks, mem, &prog->vi);
        struct bd_kallsyms *kallsyms;
        if (bd_kernel_open(&m.base, &prog->vi, &prog->k) || !(prog->btf = ni_btf()) ||
            bd_program_kallsyms(prog, &kallsyms))
                return -1;
        ni_tables(mem);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        mem_program_free(prog, mem);
        return 0;
}

static void build_sockets(void)
{
        ni_sock(mem, S_LISTEN, NI_AF_INET, BD_TCP_LISTEN, any4, 22, any4, 0, NI_INIT_NET);
        ni_put(mem, S_LISTEN + NI_SK_ACK_BACKLOG, 2, 4);
        ni_put(mem, S_LISTEN + NI_SK_MAX_ACK_BACKLOG, 128, 4);
        ni_socket(mem, S_LISTEN, SA_LISTEN, 1001);
        ni_link(mem, ni_lhash2_head(3), (const uint32_t[]){S_LISTEN}, 1, ni_lhash2_end(3));

        ni_sock(mem, S_EST, NI_AF_INET, BD_TCP_ESTABLISHED, a1, 22, a2, 5555, NI_INIT_NET);
        ni_tcp_seq(mem, S_EST, 1000, 990, 5000, 5010, 5020);
        ni_socket(mem, S_EST, SA_EST, 1002);
        ni_sock(mem, S_TW, NI_AF_INET, BD_TCP_TIME_WAIT, a1, 22, a3, 6000, NI_INIT_NET);
        ni_put(mem, S_TW + NI_TW_SUBSTATE, BD_TCP_TIME_WAIT, 1);
        ni_sock(mem, S_REQ, NI_AF_INET, BD_TCP_NEW_SYN_RECV, a1, 22, a4, 7000, NI_INIT_NET);
        ni_link(mem, ni_ehash_head(5), (const uint32_t[]){S_EST, S_TW, S_REQ}, 3, ni_ehash_end(5));

        ni_sock(mem, S_V6, NI_AF_INET6, BD_TCP_ESTABLISHED, lo6, 443, lo6, 40000, NI_OTHER_NET);
        ni_tcp_seq(mem, S_V6, 77, 77, 88, 88, 88);
        ni_socket(mem, S_V6, SA_V6, 1005);
        ni_link(mem, ni_ehash_head(9), (const uint32_t[]){S_V6}, 1, ni_ehash_end(9));

        ni_sock(mem, S_UDP, NI_AF_INET, BD_TCP_CLOSE, any4, 53, any4, 0, NI_INIT_NET);
        ni_put(mem, S_UDP + NI_SK_RMEM, 768, 4);
        ni_put(mem, S_UDP + NI_SK_WMEM, 1, 4);
        ni_socket(mem, S_UDP, SA_UDP, 1006);
        ni_link(mem, ni_udp_head(53 % NI_UDP_N), (const uint32_t[]){S_UDP}, 1, 0);
}

static struct bd_net *read_net(unsigned protos)
{
        struct bd_net *n = NULL;
        assert_bd_ok(bd_net_read(prog, protos, &n));
        return n;
}

static void test_sockets(void **state)
{
        (void)state;
        build_sockets();
        struct bd_net *n = read_net(BD_NET_TCP | BD_NET_UDP);
        assert_int_equal(n->n, 6);
        const struct bd_net_sock *s = n->s;
        assert_int_equal(s[0].addr, NI_K(S_LISTEN));
        assert_int_equal(s[0].proto, BD_NET_TCP);
        assert_int_equal(s[0].family, 4);
        assert_string_equal(bd_net_state_name(s[0].state), "LISTEN");
        assert_int_equal(s[0].recv_q, 2);
        assert_int_equal(s[0].send_q, 128);
        assert_int_equal(s[0].local_port, 22);
        assert_int_equal(s[0].peer_port, 0);
        assert_int_equal(s[0].ino, 1001);
        assert_false(s[0].has_seq);
        assert_true(s[0].init_net);
        assert_int_equal(s[0].netns, NI_INIT_INUM);

        assert_int_equal(s[1].addr, NI_K(S_EST));
        assert_string_equal(bd_net_state_name(s[1].state), "ESTAB");
        assert_int_equal(s[1].recv_q, 10);
        assert_int_equal(s[1].send_q, 20);
        assert_true(s[1].has_seq);
        assert_int_equal(s[1].rcv_nxt, 1000);
        assert_int_equal(s[1].copied_seq, 990);
        assert_int_equal(s[1].snd_una, 5000);
        assert_int_equal(s[1].snd_nxt, 5010);
        assert_int_equal(s[1].write_seq, 5020);
        assert_memory_equal(s[1].local, a1, 4);
        assert_memory_equal(s[1].peer, a2, 4);
        assert_int_equal(s[1].peer_port, 5555);
        assert_int_equal(s[1].ino, 1002);

        assert_int_equal(s[2].addr, NI_K(S_TW));
        assert_string_equal(bd_net_state_name(s[2].state), "TIME-WAIT");
        assert_int_equal(s[2].socket, 0);
        assert_int_equal(s[2].ino, 0);
        assert_int_equal(s[2].recv_q + s[2].send_q, 0);
        assert_int_equal(s[3].addr, NI_K(S_REQ));
        assert_string_equal(bd_net_state_name(s[3].state), "SYN-RECV");
        assert_int_equal(s[3].peer_port, 7000);

        assert_int_equal(s[4].addr, NI_K(S_V6));
        assert_int_equal(s[4].family, 6);
        assert_memory_equal(s[4].local, lo6, 16);
        assert_memory_equal(s[4].peer, lo6, 16);
        assert_int_equal(s[4].local_port, 443);
        assert_int_equal(s[4].peer_port, 40000);
        assert_false(s[4].init_net);
        assert_int_equal(s[4].netns, NI_OTHER_INUM);
        assert_int_equal(s[4].net, NI_K(NI_OTHER_NET));
        assert_int_equal(s[4].recv_q + s[4].send_q, 0);

        assert_int_equal(s[5].addr, NI_K(S_UDP));
        assert_int_equal(s[5].proto, BD_NET_UDP);
        assert_string_equal(bd_net_state_name(s[5].state), "UNCONN");
        assert_int_equal(s[5].recv_q, 768);
        assert_int_equal(s[5].send_q, 0);
        assert_int_equal(s[5].ino, 1006);

        assert_int_equal(n->st.buckets, NI_EHASH_N + NI_LHASH2_N + NI_UDP_N);
        assert_int_equal(n->st.levels, 3);
        assert_int_equal(n->st.broken, 0);
        assert_int_equal(n->st.unreadable, 0);
        /* The variables, the bucket arrays, three levels, the fields, the
         * inodes; the owners need a task layout this kernel lacks. */
        assert_int_equal(n->st.reads.batches, 7);
        assert_null(n->broken_why);
        assert_non_null(n->owners_why);
        assert_int_equal(n->owners_why->code, BD_ERR_NOT_FOUND);
        bd_net_free(n);
}

static void test_protocols(void **state)
{
        (void)state;
        build_sockets();
        struct bd_net *n = read_net(BD_NET_TCP);
        assert_int_equal(n->n, 5);
        for (size_t i = 0; i < n->n; i++)
                assert_int_equal(n->s[i].proto, BD_NET_TCP);
        bd_net_free(n);
        /* A UDP table no kernel makes is not even read for TCP... */
        ni_put(mem, NI_UDP_TABLE + NI_UT_MASK, 6, 4);
        n = read_net(BD_NET_TCP);
        assert_int_equal(n->n, 5);
        bd_net_free(n);
        /* ...nor the TCP tables for UDP. */
        ni_put(mem, NI_UDP_TABLE + NI_UT_MASK, NI_UDP_N - 1, 4);
        ni_put(mem, NI_HASHINFO + NI_HI_EHASH_MASK, 5, 8);
        n = read_net(BD_NET_UDP);
        assert_int_equal(n->n, 1);
        assert_int_equal(n->s[0].proto, BD_NET_UDP);
        bd_net_free(n);
}

static struct bd_task task(unsigned i, int32_t pid, const char *comm, uint32_t files)
{
        struct bd_task t = {.addr = NI_K(T_BASE + 0x100 * i), .pid = pid, .tgid = pid};
        snprintf(t.comm, sizeof(t.comm), "%s", comm);
        ni_put(mem, T_BASE + 0x100 * i + NI_TASK_FILES, files ? NI_K(files) : 0, 8);
        return t;
}

static uint32_t file_at(unsigned i)
{
        return FILE_BASE + 0x100 * i;
}

static void expect_owner(const struct bd_net *n, const struct bd_net_sock *s, size_t j, int32_t pid,
                         int32_t fd, const char *comm)
{
        assert_true(j < s->nowners);
        const struct bd_net_owner *o = &n->owners[s->owner + j];
        assert_int_equal(o->pid, pid);
        assert_int_equal(o->fd, fd);
        assert_string_equal(o->comm, comm);
}

/* Two processes share sshd's table (fd 3 the listener, fd 5 the
 * established socket; fd 4 names a socket but is no socket file), dnsd
 * holds the UDP socket, one process has no files, one an fd table of a
 * size no kernel allows. */
static void test_owners(void **state)
{
        (void)state;
        build_sockets();
        struct bd_task t[5] = {
            task(0, 100, "sshd", F_SSHD), task(1, 101, "sshd", F_SSHD),
            task(2, 200, "dnsd", F_DNSD), task(3, 300, "gone", 0),
            task(4, 400, "huge", F_HUGE),
        };
        struct bd_tasks ts = {.t = t, .n = 5};
        ni_fd_table(mem, F_SSHD, FDT_SSHD, ARR_SSHD, 8);
        ni_file(mem, ARR_SSHD, 3, file_at(0), NI_SOCKET_FOPS, SA_LISTEN);
        ni_file(mem, ARR_SSHD, 4, file_at(1), OTHER_FOPS, SA_EST);
        ni_file(mem, ARR_SSHD, 5, file_at(2), NI_SOCKET_FOPS, SA_EST);
        ni_fd_table(mem, F_DNSD, FDT_DNSD, ARR_DNSD, 4);
        ni_file(mem, ARR_DNSD, 0, file_at(3), NI_SOCKET_FOPS, SA_UDP);
        ni_fd_table(mem, F_HUGE, FDT_HUGE, ARR_DNSD, 0xffffffffu);
        struct bd_net *n = read_net(BD_NET_TCP | BD_NET_UDP);
        assert_bd_ok(bd_net_owners(prog, n, &ts));
        assert_int_equal(n->nowners, 5);
        assert_int_equal(n->s[0].nowners, 2);
        expect_owner(n, &n->s[0], 0, 100, 3, "sshd");
        expect_owner(n, &n->s[0], 1, 101, 3, "sshd");
        assert_int_equal(n->s[1].nowners, 2);
        expect_owner(n, &n->s[1], 0, 100, 5, "sshd");
        expect_owner(n, &n->s[1], 1, 101, 5, "sshd");
        for (int i = 2; i < 5; i++)
                assert_int_equal(n->s[i].nowners, 0);
        assert_int_equal(n->s[5].nowners, 1);
        expect_owner(n, &n->s[5], 0, 200, 0, "dnsd");
        assert_int_equal(n->st.fd_tables, 3);
        assert_int_equal(n->st.fd_unreadable, 1);
        bd_net_free(n);
}

static void expect_broken(const struct bd_net *n, uint64_t broken, const char *what)
{
        assert_int_equal(n->st.broken, broken);
        assert_non_null(n->broken_why);
        if (!strstr(n->broken_why->message, what))
                print_error("'%s' lacks '%s'\n", n->broken_why->message, what);
        assert_non_null(strstr(n->broken_why->message, what));
}

/* A cycle ends its chain where it closes; the rest is read. */
static void test_chain_cycle(void **state)
{
        (void)state;
        build_sockets();
        ni_put(mem, S_TW + NI_SKC_NODE, NI_K(S_EST + NI_SKC_NODE), 8);
        struct bd_net *n = read_net(BD_NET_TCP | BD_NET_UDP);
        expect_broken(n, 1, "reached twice");
        assert_non_null(strstr(n->broken_why->message, "tcp established hash bucket 5"));
        assert_int_equal(n->n, 5); /* the request socket is no longer reached */
        bd_net_free(n);
}

/* A nulls chain ended by NULL is cut there; one that never ends is cut by
 * the budget. */
static void test_nulls_without_end(void **state)
{
        (void)state;
        build_sockets();
        ni_put(mem, S_REQ + NI_SKC_NODE, 0, 8);
        struct bd_net *n = read_net(BD_NET_TCP | BD_NET_UDP);
        expect_broken(n, 1, "NULL");
        assert_int_equal(n->n, 6);
        bd_net_free(n);

        enum { N = 400, OBJ = 0x10000, STEP = 0x80 };
        for (uint32_t i = 0; i < N; i++) {
                uint32_t obj = OBJ + i * STEP;
                ni_put(mem, obj + NI_SKC_FAMILY, NI_AF_INET, 2);
                ni_put(mem, obj + NI_SKC_NODE, NI_K(obj + STEP + NI_SKC_NODE), 8);
        }
        ni_put(mem, ni_ehash_head(7), NI_K(OBJ + NI_SKC_NODE), 8);
        prog->opt.max_read = 64u << 10;
        struct bd_error *err = bd_net_read(prog, BD_NET_TCP, &n);
        assert_non_null(err);
        assert_non_null(strstr(err->message, "sockets"));
        assert_non_null(strstr(err->message, "--max-read"));
        assert_bd_error(err, BD_ERR_RANGE);
}

static void expect_refused(unsigned protos, enum bd_err code, const char *what)
{
        struct bd_net *n = NULL;
        struct bd_error *err = bd_net_read(prog, protos, &n);
        assert_null(n);
        assert_non_null(err);
        if (!strstr(err->message, what))
                print_error("'%s' lacks '%s'\n", err->message, what);
        assert_non_null(strstr(err->message, what));
        assert_bd_error(err, code);
}

/* Table sizes Linux never makes are refused before anything is read of
 * them; one it can make but past the budget, too. */
static void test_masks(void **state)
{
        (void)state;
        ni_put(mem, NI_HASHINFO + NI_HI_EHASH_MASK, (1ull << 40) - 1, 8);
        expect_refused(BD_NET_TCP, BD_ERR_PROTOCOL, "tcp_hashinfo.ehash: mask 0xffffffffff");
        ni_tables(mem);
        ni_put(mem, NI_HASHINFO + NI_HI_EHASH_MASK, UINT64_MAX, 8);
        expect_refused(BD_NET_TCP, BD_ERR_PROTOCOL, "tcp_hashinfo.ehash");
        ni_tables(mem);
        ni_put(mem, NI_HASHINFO + NI_HI_LHASH2_MASK, 0xffffffffu, 4);
        expect_refused(BD_NET_TCP, BD_ERR_PROTOCOL, "tcp_hashinfo.lhash2");
        ni_tables(mem);
        ni_put(mem, NI_UDP_TABLE + NI_UT_MASK, 6, 4);
        expect_refused(BD_NET_UDP, BD_ERR_PROTOCOL, "udp_table: mask 0x6");
        ni_tables(mem);
        ni_put(mem, NI_HASHINFO + NI_HI_EHASH_MASK, (1u << 20) - 1, 8);
        prog->opt.max_read = 64u << 10;
        expect_refused(BD_NET_TCP, BD_ERR_RANGE, "tcp established hash buckets");
}

/* Wild pointers cut their chains; a socket of no inet family, or whose
 * fields run off memory, is counted and left out. */
static void test_bad_pointers(void **state)
{
        (void)state;
        build_sockets();
        ni_put(mem, ni_ehash_head(10), 0x1234, 8);
        ni_put(mem, ni_ehash_head(11), NI_K(MEM_SIZE + 0x1000), 8);
        ni_sock(mem, 0x8000, 99, BD_TCP_ESTABLISHED, lo6, 1, lo6, 2, NI_INIT_NET);
        ni_link(mem, ni_ehash_head(12), (const uint32_t[]){0x8000}, 1, ni_ehash_end(12));
        uint32_t edge = MEM_SIZE - 0x80; /* sock_common reads, tcp_sock does not */
        ni_put(mem, edge + NI_SKC_FAMILY, NI_AF_INET, 2);
        ni_put(mem, edge + NI_SKC_STATE, BD_TCP_ESTABLISHED, 1);
        ni_link(mem, ni_ehash_head(13), (const uint32_t[]){edge}, 1, ni_ehash_end(13));
        struct bd_net *n = read_net(BD_NET_TCP | BD_NET_UDP);
        expect_broken(n, 2, "bad node pointer 0x1234");
        assert_int_equal(n->st.unreadable, 2);
        assert_int_equal(n->n, 6);
        bd_net_free(n);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_sockets, setup, teardown),
            cmocka_unit_test_setup_teardown(test_protocols, setup, teardown),
            cmocka_unit_test_setup_teardown(test_owners, setup, teardown),
            cmocka_unit_test_setup_teardown(test_chain_cycle, setup, teardown),
            cmocka_unit_test_setup_teardown(test_nulls_without_end, setup, teardown),
            cmocka_unit_test_setup_teardown(test_masks, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bad_pointers, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
