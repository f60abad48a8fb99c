/* A TCP connection read out of synthetic kernel memory: a tcp_sock whose
 * receive queue holds an skb partly read and one with its bytes in a
 * linear part, a page fragment and a frag_list skb; whose retransmit tree
 * holds an skb partly acknowledged and whose write queue an unsent one.
 * The queues' bytes must come out whole and in order, the options as
 * tcp_info reports them; then the ways a dying or hostile kernel's memory
 * breaks a queue: a hole, two skbs over one byte, a cycle, too many
 * fragments, a fragment's page outside vmemmap. */
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
#include "../../monitor/views/tcp_conn.h"
#include "helpers.h"
#include "kallsyms_img.h"
#include "tcp_conn_img.h"
#include "modsyms_img.h"
#include "../fuzz/mem_phys.h"

#define MEM_SIZE (2u << 20)
#define VMEMMAP  0x2000u /* the symbol vmemmap_base: where it points */
#define OBJECTS  0x3000u
/* Fragment pages: frames 256.. (physical 1 MiB up), and their struct
 * pages in a vmemmap of 64-byte entries at VMEMMAP_AT. */
#define FRAME0     256u
#define VMEMMAP_AT KS_K(0x100000u - 0x8000u)

static uint8_t *mem;
static struct mem_phys m;
static struct bd_program *prog;
static struct ms_img im;
static unsigned next_frame;

static int setup(void **state)
{
        (void)state;
        if (!(prog = mem_program(&m, MEM_SIZE, &mem)))
                return -1;
        static const struct ks_sym syms[] = {
            {'T', "_stext", KS_K(0)},
            {'D', "vmemmap_base", KS_K(VMEMMAP)},
        };
        if (ks_kernel(prog, &m.base, mem, syms, sizeof(syms) / sizeof(syms[0])))
                return -1;
        /* The direct map over the same bytes as the image mapping. */
        bd_kernel_set_direct_map(prog->k, KS_K(0));
        struct bd_layout *l = calloc(1, sizeof(*l));
        if (!l)
                return -1;
        tc_layout(l);
        prog->layout = l;
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        mem_program_free(prog, mem);
        return 0;
}

/* Fresh objects for each test. */
static void reset(void)
{
        memset(mem + OBJECTS, 0, 0x100000u - 0x8000u - OBJECTS);
        im = (struct ms_img){mem, 0x100000u - 0x8000u, OBJECTS, KS_K(0)};
        ms_put64(&im, KS_K(VMEMMAP), VMEMMAP_AT);
        next_frame = FRAME0;
}

/* A page of bytes: its struct page's address, the bytes at offset off. */
static uint64_t frag_page(const char *bytes, uint32_t off)
{
        unsigned frame = next_frame++;
        memcpy(mem + (size_t)frame * 4096 + off, bytes, strlen(bytes));
        return VMEMMAP_AT + (uint64_t)frame * 64;
}

struct frag {
        uint64_t page;
        uint32_t off, len;
};

/* An skb of seq with linear bytes, fragments and a frag_list. */
static uint64_t skb(uint32_t seq, const char *linear, const struct frag *frags, unsigned nfrags,
                    uint64_t frag_list, uint32_t list_len)
{
        uint32_t headlen = (uint32_t)strlen(linear), data_len = list_len;
        for (unsigned i = 0; i < nfrags; i++)
                data_len += frags[i].len;
        uint64_t s = ms_alloc(&im, SKB_SIZE, 64);
        uint64_t head = ms_alloc(&im, 64 + headlen + SH_SIZE, 64);
        uint32_t end = (64 + headlen + 63) & ~63u;
        ms_put(&im, head + 32, linear, headlen);
        ms_put32(&im, s + SKB_CB, seq);
        ms_put32(&im, s + SKB_LEN, headlen + data_len);
        ms_put32(&im, s + SKB_DATA_LEN, data_len);
        ms_put32(&im, s + SKB_END, end);
        ms_put64(&im, s + SKB_HEAD, head);
        ms_put64(&im, s + SKB_DATA, head + 32);
        uint8_t nr = (uint8_t)nfrags;
        ms_put(&im, head + end + SH_NR_FRAGS, &nr, 1);
        ms_put64(&im, head + end + SH_FRAG_LIST, frag_list);
        for (unsigned i = 0; i < nfrags; i++) {
                uint64_t f = head + end + SH_FRAGS + 16 * i;
                ms_put64(&im, f, frags[i].page);
                ms_put32(&im, f + 8, frags[i].len);
                ms_put32(&im, f + 12, frags[i].off);
        }
        return s;
}

/* A tcp_sock with the sequence numbers given, its queues empty. */
static uint64_t tcp_sock(uint32_t snd_una, uint32_t snd_nxt, uint32_t write_seq, uint32_t copied,
                         uint32_t rcv_nxt)
{
        uint64_t sk = ms_alloc(&im, TCP_SIZE, 64);
        ms_put32(&im, sk + SND_UNA, snd_una);
        ms_put32(&im, sk + SND_NXT, snd_nxt);
        ms_put32(&im, sk + WRITE_SEQ, write_seq);
        ms_put32(&im, sk + COPIED_SEQ, copied);
        ms_put32(&im, sk + RCV_NXT, rcv_nxt);
        ms_link(&im, sk + RX_QUEUE, NULL, 0);
        ms_link(&im, sk + TX_QUEUE, NULL, 0);
        return sk;
}

static void test_queues_and_options(void **state)
{
        (void)state;
        reset();
        /* Received: 990..1005 (the first 10 bytes read already), then
         * 1005..1030: 5 linear, 10 in a fragment, 10 in a frag_list skb
         * (5 linear, 5 in a fragment). */
        uint64_t list = skb(0, "KLMNO", (struct frag[]){{frag_page("PQRST", 2), 2, 5}}, 1, 0, 0);
        uint64_t a = skb(990, "0123456789ABCDE", NULL, 0, 0, 0);
        uint64_t b =
            skb(1005, "abcde", (struct frag[]){{frag_page("fghijklmno", 0), 0, 10}}, 1, list, 10);
        /* Sent 4995..5010, acknowledged to 5000; 5010..5016 not sent. */
        uint64_t d =
            skb(4995, "", (struct frag[]){{frag_page("xxxxxSENT-UNACK", 0), 0, 15}}, 1, 0, 0);
        uint64_t e = skb(5010, "unsent", NULL, 0, 0, 0);
        uint64_t sk = tcp_sock(5000, 5010, 5016, 1000, 1030);
        uint64_t rx[] = {a, b}, tx[] = {e};
        ms_link(&im, sk + RX_QUEUE, rx, 2);
        ms_link(&im, sk + TX_QUEUE, tx, 1);
        ms_put64(&im, sk + RTX_QUEUE, d); /* a one-node tree: d's rbnode at 0 */
        ms_put32(&im, sk + 44, 1460);
        uint8_t opts[3] = {1 | 1 << 1 | 1 << 4, 7 | 9 << 4,
                           1}; /* ts, sack, wscale; 7, 9; nodelay */
        ms_put(&im, sk + OPTS, opts, 3);
        struct bd_tcp_conn c;
        assert_bd_ok(bd_tcp_conn_read(prog, sk, &c));
        assert_int_equal(c.inq_len, 30);
        assert_memory_equal(c.inq, "ABCDEabcdefghijklmnoKLMNOPQRST", 30);
        assert_int_equal(c.outq_len, 16);
        assert_memory_equal(c.outq, "SENT-UNACKunsent", 16);
        assert_int_equal(c.unsent, 6);
        assert_int_equal(c.options, BD_TCPI_OPT_TIMESTAMPS | BD_TCPI_OPT_SACK | BD_TCPI_OPT_WSCALE);
        assert_int_equal(c.snd_wscale, 7);
        assert_int_equal(c.rcv_wscale, 9);
        assert_int_equal(c.mss_clamp, 1460);
        assert_true(c.nodelay);
        assert_false(c.cork);
        assert_int_equal(c.skbs, 5);
        bd_tcp_conn_free(&c);
}

static void expect_refused(uint64_t sk, enum bd_err code, const char *phrase)
{
        struct bd_tcp_conn c;
        assert_error_says(bd_tcp_conn_read(prog, sk, &c), code, phrase);
        assert_null(c.inq);
        assert_null(c.outq);
}

static void test_broken_queues(void **state)
{
        (void)state;
        /* A hole: rcv_nxt past the last skb. */
        reset();
        uint64_t sk = tcp_sock(1, 1, 1, 100, 120);
        uint64_t one[] = {skb(100, "0123456789", NULL, 0, 0, 0)};
        ms_link(&im, sk + RX_QUEUE, one, 1);
        expect_refused(sk, BD_ERR_PROTOCOL, "none at sequence 110");
        /* Two skbs over the same bytes. */
        reset();
        sk = tcp_sock(1, 1, 1, 100, 110);
        uint64_t two[] = {skb(100, "0123456789", NULL, 0, 0, 0), skb(105, "56789", NULL, 0, 0, 0)};
        ms_link(&im, sk + RX_QUEUE, two, 2);
        expect_refused(sk, BD_ERR_PROTOCOL, "two skbs hold byte 5");
        /* A list that comes back on itself before its head. */
        reset();
        sk = tcp_sock(1, 1, 1, 100, 110);
        uint64_t x = skb(100, "01234", NULL, 0, 0, 0), y = skb(105, "56789", NULL, 0, 0, 0);
        ms_put64(&im, sk + RX_QUEUE, x);
        ms_put64(&im, x, y);
        ms_put64(&im, y, x);
        expect_refused(sk, BD_ERR_PROTOCOL, "");
        /* More fragments than an skb can have. */
        reset();
        sk = tcp_sock(1, 1, 1, 100, 110);
        uint64_t f = skb(100, "", (struct frag[]){{frag_page("0123456789", 0), 0, 10}}, 1, 0, 0);
        uint64_t head;
        memcpy(&head, mem + (f + SKB_HEAD - KS_K(0)), 8);
        uint32_t end;
        memcpy(&end, mem + (f + SKB_END - KS_K(0)), 4);
        mem[head + end + SH_NR_FRAGS - KS_K(0)] = 18;
        ms_link(&im, sk + RX_QUEUE, &f, 1);
        expect_refused(sk, BD_ERR_PROTOCOL, "18 fragments");
        /* A fragment whose page is no struct page of vmemmap. */
        reset();
        sk = tcp_sock(1, 1, 1, 100, 110);
        f = skb(100, "", (struct frag[]){{VMEMMAP_AT + 13, 0, 10}}, 1, 0, 0);
        ms_link(&im, sk + RX_QUEUE, &f, 1);
        expect_refused(sk, BD_ERR_PROTOCOL, "fragment: page");
        /* Sequence numbers no connection has. */
        reset();
        sk = tcp_sock(100, 90, 100, 1, 1);
        expect_refused(sk, BD_ERR_PROTOCOL, "snd_una 100 snd_nxt 90");
}

/* A socket held when the kernel stopped, by a task or by softirq: its
 * queues may be half-changed, so it is refused, whatever they hold. */
static void test_held_socket(void **state)
{
        (void)state;
        reset();
        uint64_t sk = tcp_sock(1, 1, 1, 100, 110);
        uint64_t one[] = {skb(100, "0123456789", NULL, 0, 0, 0)};
        ms_link(&im, sk + RX_QUEUE, one, 1);
        ms_put32(&im, sk + LOCK_OWNED, 1);
        expect_refused(sk, BD_ERR_RANGE, "lock was held (by a task)");
        ms_put32(&im, sk + LOCK_OWNED, 0);
        ms_put32(&im, sk + SLOCK, 1);
        expect_refused(sk, BD_ERR_RANGE, "lock was held (its spinlock)");
        ms_put32(&im, sk + SLOCK, 0);
        struct bd_tcp_conn c;
        assert_null(bd_tcp_conn_read(prog, sk, &c));
        assert_int_equal(c.inq_len, 10);
        bd_tcp_conn_free(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_queues_and_options),
            cmocka_unit_test(test_broken_queues),
            cmocka_unit_test(test_held_socket),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
