/* A synthetic kernel with socket hash tables for bdmon net: a BTF with
 * Linux 6.1's socket structures trimmed to what is read (tighter offsets,
 * and an 8-byte ehash_mask so that masks of both sizes are read), the
 * kallsyms naming tcp_hashinfo, udp_table, init_net and socket_file_ops,
 * and builders that lay out sockets, chains and fd tables in a buffer used
 * as kernel memory (physical x at virtual NI_K(x)). Shared by the unit
 * test and the fuzz target's seeds. Header only. */
#ifndef BD_TEST_NET_IMG_H
#define BD_TEST_NET_IMG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <bpf/btf.h>

#include "kallsyms_img.h"

#define NI_K(x) KS_K(x)

/* Where the kernel's variables and tables lie (physical). */
#define NI_HASHINFO     0x3000u /* struct inet_hashinfo tcp_hashinfo */
#define NI_UDP_TABLE    0x3060u /* struct udp_table udp_table */
#define NI_INIT_NET     0x3080u /* struct net init_net */
#define NI_OTHER_NET    0x30c0u /* a second namespace */
#define NI_SOCKET_FOPS  0x3100u /* socket_file_ops */
#define NI_EHASH        0x3200u /* NI_EHASH_N buckets of 8 bytes */
#define NI_LHASH2       0x3280u /* NI_LHASH2_N buckets of 16 */
#define NI_UDP_HASH     0x3300u /* NI_UDP_N buckets of 16 */
#define NI_OBJECTS      0x3400u /* sockets and the rest from here */
#define NI_EHASH_N      16
#define NI_LHASH2_N     8
#define NI_UDP_N        8
#define NI_INIT_INUM    4026531840u
#define NI_OTHER_INUM   4026532000u
#define NI_LISTEN_NULLS (1u << 29) /* LISTENING_NULLS_BASE */

/* The layout ni_btf() declares. */
enum {
        NI_HI_EHASH = 0x00,
        NI_HI_EHASH_MASK = 0x10, /* 8 bytes here, 4 in Linux */
        NI_HI_LHASH2_MASK = 0x40,
        NI_HI_LHASH2 = 0x48,
        NI_UT_HASH = 0x00,
        NI_UT_MASK = 0x10,
        NI_LB_HEAD = 0x08, /* inet_listen_hashbucket.nulls_head */
        NI_SKC_DADDR = 0x00,
        NI_SKC_RCV_SADDR = 0x04,
        NI_SKC_DPORT = 0x0c,
        NI_SKC_NUM = 0x0e,
        NI_SKC_FAMILY = 0x10,
        NI_SKC_STATE = 0x12,
        NI_SKC_NET = 0x30,
        NI_SKC_V6_DADDR = 0x38,
        NI_SKC_V6_RCV_SADDR = 0x48,
        NI_SKC_NODE = 0x68,
        NI_SK_RMEM = 0x90, /* sock.sk_backlog.rmem_alloc */
        NI_SK_WMEM = 0xa0,
        NI_SK_ACK_BACKLOG = 0xb0,
        NI_SK_MAX_ACK_BACKLOG = 0xb4,
        NI_SK_SOCKET = 0xb8,
        NI_TCP_RCV_NXT = 0x180,
        NI_TCP_COPIED_SEQ = 0x184,
        NI_TCP_SND_NXT = 0x188,
        NI_TCP_SND_UNA = 0x18c,
        NI_TCP_WRITE_SEQ = 0x190,
        NI_UDP_DEFICIT = 0x180,
        NI_TW_SUBSTATE = 0x8c,
        NI_SOCKET_INO = 0x80, /* socket_alloc: socket at 0, vfs_inode at 0x40, i_ino at 0x40 */
        NI_NET_INUM = 0x30,   /* net.ns at 0x20, ns_common.inum at 0x10 */
        NI_TASK_FILES = 0x50,
        NI_FILES_FDT = 0x20,
        NI_FDT_MAX_FDS = 0x00,
        NI_FDT_FD = 0x08,
        NI_FILE_OP = 0x28,
        NI_FILE_PRIVATE = 0xc8,
        NI_SOCK_SPAN = 0x200, /* room for a TCP socket */
};

/* The target's numbers. */
#define NI_AF_INET  2
#define NI_AF_INET6 10

static inline struct btf *ni_btf(void)
{
        struct btf *w = btf__new_empty();
        if (!w)
                return NULL;
        int u8 = btf__add_int(w, "unsigned char", 1, 0);
        int u16 = btf__add_int(w, "short unsigned int", 2, 0);
        int u32 = btf__add_int(w, "unsigned int", 4, 0);
        int s32 = btf__add_int(w, "int", 4, BTF_INT_SIGNED);
        int u64 = btf__add_int(w, "long long unsigned int", 8, 0);
        int ptr = btf__add_ptr(w, 0);
        int vu8 = btf__add_volatile(w, u8);
        int a16 = btf__add_array(w, u32, u8, 16);
        int nn = btf__add_struct(w, "hlist_nulls_node", 16);
        btf__add_field(w, "next", ptr, 0, 0);
        btf__add_field(w, "pprev", ptr, 64, 0);
        int nh = btf__add_struct(w, "hlist_nulls_head", 8);
        btf__add_field(w, "first", ptr, 0, 0);
        int hh = btf__add_struct(w, "hlist_head", 8);
        btf__add_field(w, "first", ptr, 0, 0);

        btf__add_struct(w, "inet_hashinfo", 0x50);
        btf__add_field(w, "ehash", ptr, NI_HI_EHASH * 8, 0);
        btf__add_field(w, "ehash_mask", u64, NI_HI_EHASH_MASK * 8, 0);
        btf__add_field(w, "lhash2_mask", u32, NI_HI_LHASH2_MASK * 8, 0);
        btf__add_field(w, "lhash2", ptr, NI_HI_LHASH2 * 8, 0);
        btf__add_struct(w, "inet_ehash_bucket", 8);
        btf__add_field(w, "chain", nh, 0, 0);
        btf__add_struct(w, "inet_listen_hashbucket", 16);
        btf__add_field(w, "lock", u32, 0, 0);
        btf__add_field(w, "nulls_head", nh, NI_LB_HEAD * 8, 0);
        btf__add_struct(w, "udp_table", 0x18);
        btf__add_field(w, "hash", ptr, NI_UT_HASH * 8, 0);
        btf__add_field(w, "mask", u32, NI_UT_MASK * 8, 0);
        btf__add_struct(w, "udp_hslot", 16);
        btf__add_field(w, "head", hh, 0, 0);
        btf__add_field(w, "count", s32, 64, 0);

        /* possible_net_t: a typedef of an anonymous struct, as in Linux. */
        int pn = btf__add_struct(w, NULL, 8);
        btf__add_field(w, "net", ptr, 0, 0);
        int pnt = btf__add_typedef(w, "possible_net_t", pn);
        int skc = btf__add_struct(w, "sock_common", 0x78);
        btf__add_field(w, "skc_daddr", u32, NI_SKC_DADDR * 8, 0);
        btf__add_field(w, "skc_rcv_saddr", u32, NI_SKC_RCV_SADDR * 8, 0);
        btf__add_field(w, "skc_dport", u16, NI_SKC_DPORT * 8, 0);
        btf__add_field(w, "skc_num", u16, NI_SKC_NUM * 8, 0);
        btf__add_field(w, "skc_family", u16, NI_SKC_FAMILY * 8, 0);
        btf__add_field(w, "skc_state", u8, NI_SKC_STATE * 8, 0);
        btf__add_field(w, "skc_net", pnt, NI_SKC_NET * 8, 0);
        btf__add_field(w, "skc_v6_daddr", a16, NI_SKC_V6_DADDR * 8, 0);
        btf__add_field(w, "skc_v6_rcv_saddr", a16, NI_SKC_V6_RCV_SADDR * 8, 0);
        btf__add_field(w, "skc_nulls_node", nn, NI_SKC_NODE * 8, 0);
        int backlog = btf__add_struct(w, NULL, 0x10);
        btf__add_field(w, "rmem_alloc", s32, 0, 0);
        int sock = btf__add_struct(w, "sock", 0x180);
        btf__add_field(w, "__sk_common", skc, 0, 0);
        btf__add_field(w, "sk_backlog", backlog, NI_SK_RMEM * 8, 0);
        btf__add_field(w, "sk_wmem_alloc", s32, NI_SK_WMEM * 8, 0);
        btf__add_field(w, "sk_ack_backlog", u32, NI_SK_ACK_BACKLOG * 8, 0);
        btf__add_field(w, "sk_max_ack_backlog", u32, NI_SK_MAX_ACK_BACKLOG * 8, 0);
        btf__add_field(w, "sk_socket", ptr, NI_SK_SOCKET * 8, 0);
        btf__add_struct(w, "tcp_sock", 0x1a0);
        btf__add_field(w, "inet_conn", sock, 0, 0);
        btf__add_field(w, "rcv_nxt", u32, NI_TCP_RCV_NXT * 8, 0);
        btf__add_field(w, "copied_seq", u32, NI_TCP_COPIED_SEQ * 8, 0);
        btf__add_field(w, "snd_nxt", u32, NI_TCP_SND_NXT * 8, 0);
        btf__add_field(w, "snd_una", u32, NI_TCP_SND_UNA * 8, 0);
        btf__add_field(w, "write_seq", u32, NI_TCP_WRITE_SEQ * 8, 0);
        btf__add_struct(w, "udp_sock", 0x188);
        btf__add_field(w, "inet", sock, 0, 0);
        btf__add_field(w, "forward_deficit", s32, NI_UDP_DEFICIT * 8, 0);
        btf__add_struct(w, "inet_timewait_sock", 0x98);
        btf__add_field(w, "__tw_common", skc, 0, 0);
        btf__add_field(w, "tw_substate", vu8, NI_TW_SUBSTATE * 8, 0);

        int socket = btf__add_struct(w, "socket", 0x40);
        btf__add_field(w, "state", u32, 0, 0);
        int inode = btf__add_struct(w, "inode", 0x60);
        btf__add_field(w, "i_ino", u64, 0x40 * 8, 0);
        btf__add_struct(w, "socket_alloc", 0xa0);
        btf__add_field(w, "socket", socket, 0, 0);
        btf__add_field(w, "vfs_inode", inode, 0x40 * 8, 0);
        int ns = btf__add_struct(w, "ns_common", 0x18);
        btf__add_field(w, "inum", u32, 0x10 * 8, 0);
        btf__add_struct(w, "net", 0x40);
        btf__add_field(w, "ns", ns, 0x20 * 8, 0);

        btf__add_struct(w, "task_struct", 0x100);
        btf__add_field(w, "files", ptr, NI_TASK_FILES * 8, 0);
        btf__add_struct(w, "files_struct", 0x100);
        btf__add_field(w, "fdt", ptr, NI_FILES_FDT * 8, 0);
        btf__add_struct(w, "fdtable", 0x30);
        btf__add_field(w, "max_fds", u32, NI_FDT_MAX_FDS * 8, 0);
        btf__add_field(w, "fd", ptr, NI_FDT_FD * 8, 0);
        btf__add_struct(w, "file", 0x100);
        btf__add_field(w, "f_op", ptr, NI_FILE_OP * 8, 0);
        btf__add_field(w, "private_data", ptr, NI_FILE_PRIVATE * 8, 0);

        uint32_t size;
        const void *raw = btf__raw_data(w, &size);
        struct btf *b = raw ? btf__new(raw, size) : NULL;
        btf__free(w);
        return b;
}

/* The kallsyms image, at physical 0 of mem. */
static inline void ni_kallsyms(struct ks_img *ks)
{
        static const struct ks_sym syms[] = {
            {'T', "_stext", KS_K(0)},
            {'D', "tcp_hashinfo", KS_K(NI_HASHINFO)},
            {'D', "udp_table", KS_K(NI_UDP_TABLE)},
            {'D', "init_net", KS_K(NI_INIT_NET)},
            {'r', "socket_file_ops", KS_K(NI_SOCKET_FOPS)},
        };
        ks_build(ks, syms, sizeof(syms) / sizeof(syms[0]), KS_RELATIVE);
}

static inline void ni_put(uint8_t *mem, uint32_t at, uint64_t v, unsigned n)
{
        memcpy(mem + at, &v, n);
}

/* A chain from the head at head through the objects' nodes, ended by end
 * (a nulls marker, or 0). */
static inline void ni_link(uint8_t *mem, uint32_t head, const uint32_t *objs, size_t n,
                           uint64_t end)
{
        uint32_t prev = head;
        for (size_t i = 0; i < n; i++) {
                uint32_t node = objs[i] + NI_SKC_NODE;
                ni_put(mem, prev, NI_K(node), 8);
                ni_put(mem, node + 8, NI_K(prev), 8);
                prev = node;
        }
        ni_put(mem, prev, end, 8);
}

static inline uint32_t ni_ehash_head(unsigned b)
{
        return NI_EHASH + 8 * b;
}

static inline uint32_t ni_lhash2_head(unsigned b)
{
        return NI_LHASH2 + 16 * b + NI_LB_HEAD;
}

static inline uint32_t ni_udp_head(unsigned b)
{
        return NI_UDP_HASH + 16 * b;
}

/* Nulls markers: the bucket number, as Linux ends its chains. */
static inline uint64_t ni_ehash_end(unsigned b)
{
        return ((uint64_t)b << 1) | 1;
}

static inline uint64_t ni_lhash2_end(unsigned b)
{
        return ((uint64_t)(b + NI_LISTEN_NULLS) << 1) | 1;
}

/* tcp_hashinfo and udp_table with empty chains, and two namespaces. */
static inline void ni_tables(uint8_t *mem)
{
        memset(mem + NI_HASHINFO, 0, NI_OBJECTS - NI_HASHINFO);
        ni_put(mem, NI_HASHINFO + NI_HI_EHASH, NI_K(NI_EHASH), 8);
        ni_put(mem, NI_HASHINFO + NI_HI_EHASH_MASK, NI_EHASH_N - 1, 8);
        ni_put(mem, NI_HASHINFO + NI_HI_LHASH2, NI_K(NI_LHASH2), 8);
        ni_put(mem, NI_HASHINFO + NI_HI_LHASH2_MASK, NI_LHASH2_N - 1, 4);
        ni_put(mem, NI_UDP_TABLE + NI_UT_HASH, NI_K(NI_UDP_HASH), 8);
        ni_put(mem, NI_UDP_TABLE + NI_UT_MASK, NI_UDP_N - 1, 4);
        for (unsigned b = 0; b < NI_EHASH_N; b++)
                ni_put(mem, ni_ehash_head(b), ni_ehash_end(b), 8);
        for (unsigned b = 0; b < NI_LHASH2_N; b++)
                ni_put(mem, ni_lhash2_head(b), ni_lhash2_end(b), 8);
        ni_put(mem, NI_INIT_NET + NI_NET_INUM, NI_INIT_INUM, 4);
        ni_put(mem, NI_OTHER_NET + NI_NET_INUM, NI_OTHER_INUM, 4);
}

/* A socket's sock_common: family, state, addresses (network order, 4 or
 * 16 bytes), ports, namespace. */
static inline void ni_sock(uint8_t *mem, uint32_t at, unsigned family, uint8_t state,
                           const uint8_t *local, uint16_t lport, const uint8_t *peer,
                           uint16_t pport, uint32_t net)
{
        memset(mem + at, 0, NI_SOCK_SPAN);
        ni_put(mem, at + NI_SKC_FAMILY, family, 2);
        ni_put(mem, at + NI_SKC_STATE, state, 1);
        ni_put(mem, at + NI_SKC_NUM, lport, 2);
        mem[at + NI_SKC_DPORT] = (uint8_t)(pport >> 8);
        mem[at + NI_SKC_DPORT + 1] = (uint8_t)pport;
        ni_put(mem, at + NI_SKC_NET, NI_K(net), 8);
        if (family == NI_AF_INET) {
                memcpy(mem + at + NI_SKC_RCV_SADDR, local, 4);
                memcpy(mem + at + NI_SKC_DADDR, peer, 4);
        } else {
                memcpy(mem + at + NI_SKC_V6_RCV_SADDR, local, 16);
                memcpy(mem + at + NI_SKC_V6_DADDR, peer, 16);
        }
}

static inline void ni_tcp_seq(uint8_t *mem, uint32_t at, uint32_t rcv_nxt, uint32_t copied,
                              uint32_t snd_una, uint32_t snd_nxt, uint32_t write_seq)
{
        ni_put(mem, at + NI_TCP_RCV_NXT, rcv_nxt, 4);
        ni_put(mem, at + NI_TCP_COPIED_SEQ, copied, 4);
        ni_put(mem, at + NI_TCP_SND_UNA, snd_una, 4);
        ni_put(mem, at + NI_TCP_SND_NXT, snd_nxt, 4);
        ni_put(mem, at + NI_TCP_WRITE_SEQ, write_seq, 4);
}

/* The socket's struct socket (a socket_alloc at sa) with inode ino. */
static inline void ni_socket(uint8_t *mem, uint32_t sk, uint32_t sa, uint64_t ino)
{
        ni_put(mem, sk + NI_SK_SOCKET, NI_K(sa), 8);
        ni_put(mem, sa + NI_SOCKET_INO, ino, 8);
}

/* A files_struct at files whose fdtable at fdt has max_fds slots in the
 * array at arr. */
static inline void ni_fd_table(uint8_t *mem, uint32_t files, uint32_t fdt, uint32_t arr,
                               uint32_t max_fds)
{
        ni_put(mem, files + NI_FILES_FDT, NI_K(fdt), 8);
        ni_put(mem, fdt + NI_FDT_MAX_FDS, max_fds, 4);
        ni_put(mem, fdt + NI_FDT_FD, NI_K(arr), 8);
}

/* fd in the array at arr: a struct file at file with f_op and
 * private_data (physical; 0 for none). */
static inline void ni_file(uint8_t *mem, uint32_t arr, uint32_t fd, uint32_t file, uint32_t f_op,
                           uint32_t private_data)
{
        ni_put(mem, arr + 8 * fd, NI_K(file), 8);
        ni_put(mem, file + NI_FILE_OP, NI_K(f_op), 8);
        ni_put(mem, file + NI_FILE_PRIVATE, private_data ? NI_K(private_data) : 0, 8);
}

#endif
