#include "net.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/grow.h"
#include "budget.h"
#include "files.h"
#include "../walk/gather.h"
#include "../walk/walk.h"
#include "../walk/walk_hash.h"

/* The kernel's limits on the tables (alloc_large_system_hash): at most
 * 2^31 buckets of the established hash, and 64 Ki of the listening and
 * UDP hashes (the high limits tcp_init and udp_table_init give it). */
#define EHASH_MAX    (1ull << 31)
#define LHASH2_MAX   (64u << 10)
#define UDP_HASH_MAX (64u << 10)
/* sock_common is 136 bytes in 6.1, and the kernel variables holding the
 * tables under 128: a layout placing what is read of them further is
 * corrupt. */
#define SOCK_COMMON_MAX 512
#define TABLE_VAR_MAX   1024
/* The target's address families (include/linux/socket.h). */
#define LINUX_AF_INET  2
#define LINUX_AF_INET6 10
/* Reading a gap of this many bytes costs less than another operation. */
#define FIELD_GAP 256
/* Held per socket besides its entry, what was read with its node and its
 * fields: the walk's chain and seen-set slots, the batches' ranges. */
#define SOCK_EXTRA 192
/* Held per open file while owners are looked for: its entry and the
 * ranges of its two fields. */
#define FILE_EACH 96

/* sock_common, read with each node of a chain; the last three are
 * optional (no CONFIG_NET_NS: every socket is init_net's; no IPv6). */
enum { C_DADDR, C_RCV_SADDR, C_DPORT, C_NUM, C_FAMILY, C_STATE, C_NODE, C_NEEDED };
enum { C_NET = C_NEEDED, C_V6_DADDR, C_V6_RCV_SADDR, C_ALL };

static const enum bd_layout_id common_ids[C_ALL] = {
    BDL_SKC_DADDR, BDL_SKC_RCV_SADDR, BDL_SKC_DPORT, BDL_SKC_NUM,      BDL_SKC_FAMILY,
    BDL_SKC_STATE, BDL_SKC_NODE,      BDL_SKC_NET,   BDL_SKC_V6_DADDR, BDL_SKC_V6_RCV_SADDR,
};
static const uint8_t common_size[C_ALL] = {4, 4, 2, 2, 2, 1, 8, 8, 16, 16};

/* What each kind of socket has beyond sock_common. */
enum {
        F_SOCKET,
        F_ACK_BACKLOG,
        F_MAX_ACK_BACKLOG,
        F_RCV_NXT,
        F_COPIED_SEQ,
        F_SND_UNA,
        F_SND_NXT,
        F_WRITE_SEQ,
        F_RMEM,
        F_WMEM,
        F_DEFICIT,
        F_SUBSTATE,
        F_ALL
};

static const enum bd_layout_id field_ids[F_ALL] = {
    BDL_SK_SOCKET,      BDL_SK_ACK_BACKLOG, BDL_SK_MAX_ACK_BACKLOG,  BDL_TCP_RCV_NXT,
    BDL_TCP_COPIED_SEQ, BDL_TCP_SND_UNA,    BDL_TCP_SND_NXT,         BDL_TCP_WRITE_SEQ,
    BDL_SK_RMEM_ALLOC,  BDL_SK_WMEM_ALLOC,  BDL_UDP_FORWARD_DEFICIT, BDL_TW_SUBSTATE,
};
static const uint8_t field_size[F_ALL] = {8, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 1};

/* Kinds of socket in the tables: a full TCP socket, a UDP one, a
 * time-wait one and a request (SYN-RECV), which has only sock_common. */
enum kind { K_TCP, K_UDP, K_TW, K_REQ };

static const uint8_t kind_fields[K_REQ][F_ALL + 1] = {
    [K_TCP] = {F_SOCKET, F_ACK_BACKLOG, F_MAX_ACK_BACKLOG, F_RCV_NXT, F_COPIED_SEQ, F_SND_UNA,
               F_SND_NXT, F_WRITE_SEQ, F_ALL},
    [K_UDP] = {F_SOCKET, F_RMEM, F_WMEM, F_DEFICIT, F_ALL},
    [K_TW] = {F_SUBSTATE, F_ALL},
};

/* The variables holding the tables: the buckets' pointer and mask. */
enum { V_EHASH, V_EHASH_MASK, V_LHASH2, V_LHASH2_MASK, V_UDP_HASH, V_UDP_MASK, V_ALL };

static const enum bd_layout_id var_ids[V_ALL] = {
    BDL_HASHINFO_EHASH,       BDL_HASHINFO_EHASH_MASK, BDL_HASHINFO_LHASH2,
    BDL_HASHINFO_LHASH2_MASK, BDL_UDP_TABLE_HASH,      BDL_UDP_TABLE_MASK,
};

/* The buckets: size and where the head lies. */
enum { B_EHASH, B_EHASH_HEAD, B_LHASH, B_LHASH_HEAD, B_UDP, B_UDP_HEAD, B_ALL };

static const enum bd_layout_id bucket_ids[B_ALL] = {
    BDL_EHASH_BUCKET,      BDL_EHASH_BUCKET_CHAIN, BDL_LHASH_BUCKET,
    BDL_LHASH_BUCKET_HEAD, BDL_UDP_HSLOT,          BDL_UDP_HSLOT_HEAD,
};

struct plan {
        int64_t c[C_ALL]; /* -1: the kernel has none */
        uint32_t common_len;
        int64_t f[F_ALL];
        struct bd_gather g[K_REQ];
        int64_t var[V_ALL], var_size[V_ALL], bucket[B_ALL];
        int64_t ino;     /* from a struct socket to its inode's i_ino */
        int64_t ns_inum; /* net.ns.inum */
};

static struct bd_error *plan_common(const struct bd_layout *l, struct plan *pl)
{
        struct bd_error *err = bd_layout_need(l, common_ids, C_NEEDED, pl->c);
        if (err)
                return err;
        for (int i = C_NEEDED; i < C_ALL; i++)
                if (!bd_layout_has(l, common_ids[i], &pl->c[i]))
                        pl->c[i] = -1;
        pl->common_len = 0;
        for (int i = 0; i < C_ALL; i++) {
                if (pl->c[i] < 0)
                        continue;
                if (pl->c[i] > SOCK_COMMON_MAX - common_size[i])
                        return bd_error_new(
                            BD_ERR_PROTOCOL, "%s at byte %lld of sock_common: past %d bytes",
                            bd_layout_name(common_ids[i]), (long long)pl->c[i], SOCK_COMMON_MAX);
                if (pl->c[i] + common_size[i] > pl->common_len)
                        pl->common_len = (uint32_t)(pl->c[i] + common_size[i]);
        }
        return NULL;
}

static struct bd_error *make_plan(struct bd_program *prog, struct plan *pl)
{
        const struct bd_layout *l;
        struct bd_error *err = bd_program_layout(prog, &l);
        if (err || (err = plan_common(l, pl)) ||
            (err = bd_layout_need(l, field_ids, F_ALL, pl->f)) ||
            (err = bd_layout_need(l, var_ids, V_ALL, pl->var)) ||
            (err = bd_layout_need(l, bucket_ids, B_ALL, pl->bucket)))
                return err;
        for (int i = 0; i < V_ALL; i++) {
                pl->var_size[i] = l->e[var_ids[i]].size;
                if (pl->var[i] < 0 || pl->var[i] > TABLE_VAR_MAX ||
                    (pl->var_size[i] != 4 && pl->var_size[i] != 8))
                        return bd_error_new(BD_ERR_PROTOCOL, "%s: %lld bytes at %lld",
                                            bd_layout_name(var_ids[i]), (long long)pl->var_size[i],
                                            (long long)pl->var[i]);
        }
        for (int i = 0; i < B_ALL; i++)
                if (pl->bucket[i] < 0 || pl->bucket[i] > BD_HASH_STRIDE_MAX)
                        return bd_error_new(BD_ERR_PROTOCOL, "%s: %lld bytes",
                                            bd_layout_name(bucket_ids[i]),
                                            (long long)pl->bucket[i]);
        for (int k = 0; k < K_REQ; k++) {
                int64_t offs[F_ALL], sizes[F_ALL];
                size_t n = 0;
                for (const uint8_t *f = kind_fields[k]; *f != F_ALL; f++, n++) {
                        offs[n] = pl->f[*f];
                        sizes[n] = field_size[*f];
                }
                if ((err = bd_gather_plan(&pl->g[k], offs, sizes, n, FIELD_GAP)))
                        return err;
        }
        static const enum bd_layout_id more[] = {BDL_SOCKET_ALLOC_SOCKET, BDL_SOCKET_ALLOC_INODE,
                                                 BDL_INODE_INO, BDL_NET_NS_INUM};
        int64_t v[4];
        if ((err = bd_layout_need(l, more, 4, v)))
                return err;
        pl->ino = v[1] - v[0] + v[2];
        pl->ns_inum = v[3];
        return NULL;
}

const char *bd_net_state_name(uint8_t state)
{
        static const char *const names[] = {
            "UNKNOWN",    "ESTAB",     "SYN-SENT", "SYN-RECV",   "FIN-WAIT-1",
            "FIN-WAIT-2", "TIME-WAIT", "UNCONN",   "CLOSE-WAIT", "LAST-ACK",
            "LISTEN",     "CLOSING",   "SYN-RECV",
        };
        return state < sizeof(names) / sizeof(names[0]) ? names[state] : "UNKNOWN";
}

static uint64_t get(const uint8_t *p, size_t size)
{
        uint64_t v = 0;
        memcpy(&v, p, size);
        return v;
}

/* Single ranges in one batch; a range that does not read is zeroed. */
static struct bd_error *read_ranges(struct bd_kernel *k, const struct bd_kernel_iov *iov, size_t n)
{
        uint8_t *ok = calloc(n + 1, 1);
        if (!ok)
                return &bd_error_nomem;
        struct bd_error *err = bd_gather_read(k, iov, n, 1, ok);
        for (size_t i = 0; !err && i < n; i++)
                if (!ok[i])
                        memset(iov[i].buf, 0, iov[i].len);
        free(ok);
        return err;
}

/* What the budget has left for count more of each bytes, taken. */
static struct bd_error *spend(uint64_t *left, uint64_t count, uint64_t each, const char *what)
{
        struct bd_error *err = bd_budget_check(count, each, *left, what);
        if (!err)
                *left -= count * each;
        return err;
}

/* The tables protos asks for, from tcp_hashinfo and udp_table. */
struct tables {
        struct bd_hash_table t[3];
        unsigned proto[3];
        size_t n;
};

/* A table's buckets from its mask, as the kernel sizes it: a power of two
 * up to max. */
static struct bd_error *buckets(const char *what, uint64_t mask, uint64_t max, uint64_t *n)
{
        if (mask > max - 1 || ((mask + 1) & mask))
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s: mask 0x%" PRIx64 ", where Linux makes a power of two "
                                    "of at most %" PRIu64 " buckets",
                                    what, mask, max);
        *n = mask + 1;
        return NULL;
}

/* Each table: the variable and members holding its buckets and mask,
 * the kernel's limit on its size, its buckets' layout and its chains. */
static const struct table_kind {
        unsigned proto;
        const char *var, *what; /* in messages */
        int buckets, mask;      /* V_* */
        uint64_t max;
        int stride, head; /* B_* */
        int nulls;
} table_kinds[] = {
    {BD_NET_TCP, "tcp_hashinfo.lhash2", "tcp listening hash", V_LHASH2, V_LHASH2_MASK, LHASH2_MAX,
     B_LHASH, B_LHASH_HEAD, 1},
    {BD_NET_TCP, "tcp_hashinfo.ehash", "tcp established hash", V_EHASH, V_EHASH_MASK, EHASH_MAX,
     B_EHASH, B_EHASH_HEAD, 1},
    {BD_NET_UDP, "udp_table", "udp hash", V_UDP_HASH, V_UDP_MASK, UDP_HASH_MAX, B_UDP, B_UDP_HEAD,
     0},
};

static struct bd_error *find_tables(struct bd_program *prog, const struct plan *pl, unsigned protos,
                                    uint64_t *left, struct tables *ts)
{
        /* tcp_hashinfo's members, then udp_table's, read in a batch. */
        static const char *const syms[2] = {"tcp_hashinfo", "udp_table"};
        static const unsigned var_proto[2] = {BD_NET_TCP, BD_NET_UDP};
        uint8_t buf[2][TABLE_VAR_MAX + 8] = {{0}};
        size_t end[2] = {0, 0};
        for (int i = 0; i < V_ALL; i++) {
                size_t *e = &end[i < V_UDP_HASH ? 0 : 1];
                if ((size_t)(pl->var[i] + pl->var_size[i]) > *e)
                        *e = (size_t)(pl->var[i] + pl->var_size[i]);
        }
        struct bd_kernel_iov iov[2];
        size_t n = 0;
        for (int i = 0; i < 2; i++) {
                if (!(protos & var_proto[i]))
                        continue;
                uint64_t addr;
                struct bd_error *err = bd_program_symbol(prog, syms[i], &addr);
                if (err)
                        return err;
                iov[n++] = (struct bd_kernel_iov){addr, buf[i], end[i]};
        }
        struct bd_error *err = bd_kernel_read_batch(prog->k, iov, n);
        if (err)
                return bd_error_wrap(err, "reading the socket tables");
        uint64_t v[V_ALL];
        for (int i = 0; i < V_ALL; i++)
                v[i] = get(buf[i < V_UDP_HASH ? 0 : 1] + pl->var[i], (size_t)pl->var_size[i]);
        memset(ts, 0, sizeof(*ts));
        for (size_t i = 0; i < sizeof(table_kinds) / sizeof(table_kinds[0]); i++) {
                const struct table_kind *tk = &table_kinds[i];
                uint64_t nb = 0;
                if (!(protos & tk->proto))
                        continue;
                if ((err = buckets(tk->var, v[tk->mask], tk->max, &nb)))
                        return err;
                struct bd_hash_table t = {tk->what,
                                          v[tk->buckets],
                                          nb,
                                          (uint32_t)pl->bucket[tk->stride],
                                          (uint32_t)pl->bucket[tk->head],
                                          tk->nulls,
                                          (uint32_t)pl->c[C_NODE],
                                          pl->common_len};
                char what[64];
                snprintf(what, sizeof(what), "%s buckets", tk->what);
                if ((err = spend(left, nb, t.stride, what)))
                        return err;
                ts->proto[ts->n] = tk->proto;
                ts->t[ts->n++] = t;
        }
        return NULL;
}

/* What the chains' walk collects. */
struct collect {
        const struct plan *pl;
        const struct tables *ts;
        struct bd_net *n;
        size_t cap;
        uint64_t each, budget;
};

static struct bd_error *collect_sock(void *arg, size_t table, uint64_t obj, const uint8_t *b)
{
        struct collect *c = arg;
        const int64_t *o = c->pl->c;
        struct bd_net *n = c->n;
        struct bd_error *err = bd_budget_check(n->n + 1, c->each, c->budget, "sockets");
        if (err)
                return err;
        if (bd_grow((void **)&n->s, &c->cap, n->n + 1, sizeof(*n->s), 256))
                return &bd_error_nomem;
        struct bd_net_sock *s = &n->s[n->n];
        memset(s, 0, sizeof(*s));
        uint64_t family = get(b + o[C_FAMILY], 2);
        if (family == LINUX_AF_INET) {
                s->family = 4;
                memcpy(s->local, b + o[C_RCV_SADDR], 4);
                memcpy(s->peer, b + o[C_DADDR], 4);
        } else if (family == LINUX_AF_INET6 && o[C_V6_DADDR] >= 0 && o[C_V6_RCV_SADDR] >= 0) {
                s->family = 6;
                memcpy(s->local, b + o[C_V6_RCV_SADDR], 16);
                memcpy(s->peer, b + o[C_V6_DADDR], 16);
        } else {
                /* No inet socket: freed and reused, or corrupt. */
                n->st.unreadable++;
                return NULL;
        }
        s->addr = obj;
        s->proto = c->ts->proto[table];
        s->state = (uint8_t)get(b + o[C_STATE], 1);
        s->local_port = (uint16_t)get(b + o[C_NUM], 2);
        /* skc_dport is in network order. */
        s->peer_port = (uint16_t)((b[o[C_DPORT]] << 8) | b[o[C_DPORT] + 1]);
        s->net = o[C_NET] >= 0 ? get(b + o[C_NET], 8) : 0;
        n->n++;
        return NULL;
}

static enum kind kind_of(const struct bd_net_sock *s)
{
        if (s->proto == BD_NET_UDP)
                return K_UDP;
        return s->state == BD_TCP_TIME_WAIT      ? K_TW
               : s->state == BD_TCP_NEW_SYN_RECV ? K_REQ
                                                 : K_TCP;
}

static uint32_t not_below_zero(int64_t v)
{
        return v < 0 ? 0 : (uint32_t)v;
}

/* Field i of a socket's copy, as read by its kind's plan g. */
static uint32_t field(const struct plan *pl, const struct bd_gather *g, const uint8_t *copy, int i)
{
        return (uint32_t)bd_gather_value(g, copy, pl->f[i], field_size[i]);
}

static void decode(const struct plan *pl, enum kind k, const uint8_t *copy, struct bd_net_sock *s)
{
        const struct bd_gather *g = &pl->g[k];
        if (k == K_TW) {
                s->state = (uint8_t)field(pl, g, copy, F_SUBSTATE);
                return;
        }
        s->socket = bd_gather_value(g, copy, pl->f[F_SOCKET], 8);
        if (k == K_UDP) {
                int32_t rmem = (int32_t)field(pl, g, copy, F_RMEM);
                int32_t deficit = (int32_t)field(pl, g, copy, F_DEFICIT);
                s->recv_q = not_below_zero((int64_t)rmem - deficit);
                /* sk_wmem_alloc starts at 1 for the socket itself. */
                s->send_q = not_below_zero((int64_t)(int32_t)field(pl, g, copy, F_WMEM) - 1);
        } else if (s->state == BD_TCP_LISTEN) {
                s->recv_q = field(pl, g, copy, F_ACK_BACKLOG);
                s->send_q = field(pl, g, copy, F_MAX_ACK_BACKLOG);
        } else {
                s->has_seq = 1;
                s->snd_una = field(pl, g, copy, F_SND_UNA);
                s->snd_nxt = field(pl, g, copy, F_SND_NXT);
                s->write_seq = field(pl, g, copy, F_WRITE_SEQ);
                s->rcv_nxt = field(pl, g, copy, F_RCV_NXT);
                s->copied_seq = field(pl, g, copy, F_COPIED_SEQ);
                s->recv_q = not_below_zero((int32_t)(s->rcv_nxt - s->copied_seq));
                s->send_q = s->write_seq - s->snd_una;
        }
}

/* Every socket's fields but sock_common's, in one batch; the sockets that
 * do not read are dropped. */
static struct bd_error *read_fields(struct bd_kernel *k, const struct plan *pl, struct bd_net *n)
{
        uint8_t *kinds = calloc(n->n + 1, 1), *counts = calloc(n->n + 1, 1);
        uint8_t *ok = calloc(n->n + 1, 1), *keep = calloc(n->n + 1, 1);
        size_t *at = calloc(n->n + 1, sizeof(*at)), *who = calloc(n->n + 1, sizeof(*who));
        size_t copy = 0, niov = 0, m = 0;
        for (size_t i = 0; kinds && i < n->n; i++) {
                kinds[i] = (uint8_t)kind_of(&n->s[i]);
                if (kinds[i] != K_REQ) {
                        copy += pl->g[kinds[i]].copy_size;
                        niov += pl->g[kinds[i]].n;
                }
        }
        uint8_t *copies = calloc(copy + 1, 1);
        struct bd_kernel_iov *iov = calloc(niov + 1, sizeof(*iov));
        struct bd_error *err = NULL;
        if (!kinds || !counts || !ok || !keep || !at || !who || !copies || !iov) {
                err = &bd_error_nomem;
                goto out;
        }
        copy = niov = 0;
        for (size_t i = 0; i < n->n; i++) {
                if (kinds[i] == K_REQ)
                        continue;
                const struct bd_gather *g = &pl->g[kinds[i]];
                who[m] = i;
                at[m] = copy;
                counts[m++] = (uint8_t)g->n;
                niov += bd_gather_iov(g, n->s[i].addr, copies + copy, iov + niov);
                copy += g->copy_size;
        }
        if ((err = bd_gather_read_counts(k, iov, m, counts, ok)))
                goto out;
        memset(keep, 1, n->n);
        for (size_t j = 0; j < m; j++) {
                if (ok[j])
                        decode(pl, kinds[who[j]], copies + at[j], &n->s[who[j]]);
                else
                        keep[who[j]] = 0;
        }
        size_t kept = 0;
        for (size_t i = 0; i < n->n; i++)
                if (keep[i])
                        n->s[kept++] = n->s[i];
        n->st.unreadable += n->n - kept;
        n->n = kept;
out:
        free(kinds), free(counts), free(ok), free(keep), free(at), free(who), free(copies),
            free(iov);
        return err;
}

static int by_addr(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/* Sorted, without repeats; the new count. */
static size_t distinct(uint64_t *v, size_t n)
{
        qsort(v, n, sizeof(*v), by_addr);
        size_t u = 0;
        for (size_t i = 0; i < n; i++)
                if (!u || v[i] != v[u - 1])
                        v[u++] = v[i];
        return u;
}

/* Each socket's inode number and its namespace's, in one batch. */
static struct bd_error *read_inodes(struct bd_program *prog, const struct plan *pl,
                                    struct bd_net *n)
{
        struct bd_kernel *k = prog->k;
        uint64_t init_net;
        struct bd_error *err = bd_program_symbol(prog, "init_net", &init_net);
        if (err)
                return err;
        uint64_t *nets = calloc(n->n + 1, sizeof(*nets));
        uint32_t *inum = calloc(n->n + 1, sizeof(*inum));
        struct bd_kernel_iov *iov = calloc(2 * n->n + 1, sizeof(*iov));
        if (!nets || !inum || !iov) {
                err = &bd_error_nomem;
                goto out;
        }
        size_t m = 0;
        for (size_t i = 0; i < n->n; i++) {
                struct bd_net_sock *s = &n->s[i];
                if (pl->c[C_NET] < 0)
                        s->net = init_net;
                s->init_net = s->net == init_net;
                nets[i] = s->net;
                if (bd_walk_kptr_ok(k, s->socket, 8))
                        iov[m++] =
                            (struct bd_kernel_iov){s->socket + (uint64_t)pl->ino, &s->ino, 8};
        }
        size_t u = distinct(nets, n->n);
        for (size_t j = 0; j < u; j++)
                if (bd_walk_kptr_ok(k, nets[j], 8))
                        iov[m++] =
                            (struct bd_kernel_iov){nets[j] + (uint64_t)pl->ns_inum, &inum[j], 4};
        if ((err = read_ranges(k, iov, m)))
                goto out;
        for (size_t i = 0; i < n->n; i++) {
                const uint64_t *at = bsearch(&n->s[i].net, nets, u, sizeof(*nets), by_addr);
                n->s[i].netns = inum[at - nets];
        }
out:
        free(nets), free(inum), free(iov);
        return err;
}

static int by_socket_order(const void *a, const void *b)
{
        const struct bd_net_sock *x = a, *y = b;
        int lx = x->state == BD_TCP_LISTEN, ly = y->state == BD_TCP_LISTEN;
        if (x->proto != y->proto)
                return x->proto < y->proto ? -1 : 1;
        if (lx != ly)
                return ly - lx;
        if (x->local_port != y->local_port)
                return x->local_port < y->local_port ? -1 : 1;
        if (x->family != y->family)
                return x->family - y->family;
        int c = memcmp(x->local, y->local, sizeof(x->local));
        if (!c && x->peer_port != y->peer_port)
                c = x->peer_port < y->peer_port ? -1 : 1;
        if (!c)
                c = memcmp(x->peer, y->peer, sizeof(x->peer));
        return c ? c : (x->addr > y->addr) - (x->addr < y->addr);
}

static struct bd_error *read_sockets(struct bd_program *prog, const struct plan *pl,
                                     unsigned protos, struct bd_net *n)
{
        uint64_t left = bd_budget(prog, BD_NET_BUDGET);
        struct tables ts;
        struct bd_error *err = find_tables(prog, pl, protos, &left, &ts);
        if (err)
                return err;
        uint64_t copy = 0;
        for (int k = 0; k < K_REQ; k++)
                copy = pl->g[k].copy_size > copy ? pl->g[k].copy_size : copy;
        struct collect c = {
            .pl = pl,
            .ts = &ts,
            .n = n,
            .each = sizeof(struct bd_net_sock) + pl->common_len + copy + SOCK_EXTRA,
            .budget = left,
        };
        /* One past what the budget holds: the budget's error, which names
         * the option that raises it, comes first. */
        struct bd_walk_opts o = {.max = left / c.each + 1};
        struct bd_hash_result r;
        err = bd_hash_walk(prog->k, ts.t, ts.n, &o, collect_sock, &c, &r);
        n->broken_why = r.first_broken;
        n->st.broken = r.broken;
        n->st.levels = r.levels;
        for (size_t i = 0; i < ts.n; i++)
                n->st.buckets += ts.t[i].nbuckets;
        n->st.held = bd_budget(prog, BD_NET_BUDGET) - left + n->n * c.each;
        if (err || (err = read_fields(prog->k, pl, n)) || (err = read_inodes(prog, pl, n)))
                return err;
        if (n->n) /* no sockets, no array: qsort wants one */
                qsort(n->s, n->n, sizeof(*n->s), by_socket_order);
        return NULL;
}

/* The owners' search: processes by files_struct, the distinct fd tables,
 * their open files, and the owners found. */
struct proc {
        uint64_t files;
        const struct bd_task *t;
};

struct fd_table {
        uint64_t files, fdt, fd;
        uint32_t max_fds;
        size_t proc, nprocs; /* procs[proc, proc + nprocs) share it */
        uint64_t *slots;     /* fd[0, max_fds) as read */
};

struct open_file {
        size_t table;
        int32_t fd;
        uint64_t file, f_op, private_data;
};

struct owner {
        size_t sock;
        struct bd_net_owner o;
};

struct sock_key {
        uint64_t socket;
        size_t sock;
};

enum { O_TASK_FILES, O_FILES_FDT, O_MAX_FDS, O_FD, O_F_OP, O_PRIVATE_DATA, O_ALL };

struct search {
        struct bd_kernel *k;
        int64_t off[O_ALL];
        uint64_t left; /* of the budget */
        struct proc *procs;
        size_t nprocs;
        struct fd_table *tables;
        size_t ntables;
        struct open_file *files;
        size_t nfiles;
        struct sock_key *keys;
        size_t nkeys;
        struct owner *owners;
        size_t nowners, capowners;
        uint64_t unreadable; /* processes whose fd table did not read */
};

static int by_files(const void *a, const void *b)
{
        const struct proc *x = a, *y = b;
        return x->files < y->files ? -1 : x->files > y->files;
}

static int by_key(const void *a, const void *b)
{
        const struct sock_key *x = a, *y = b;
        return x->socket < y->socket ? -1 : x->socket > y->socket;
}

static int by_owner(const void *a, const void *b)
{
        const struct owner *x = a, *y = b;
        if (x->sock != y->sock)
                return x->sock < y->sock ? -1 : 1;
        if (x->o.pid != y->o.pid)
                return x->o.pid < y->o.pid ? -1 : 1;
        return (x->o.fd > y->o.fd) - (x->o.fd < y->o.fd);
}

/* Every process's files_struct, in one batch, and the distinct ones. */
static struct bd_error *find_fd_tables(struct search *w, const struct bd_tasks *ts)
{
        w->procs = calloc(ts->n + 1, sizeof(*w->procs));
        w->tables = calloc(ts->n + 1, sizeof(*w->tables));
        struct bd_kernel_iov *iov = calloc(ts->n + 1, sizeof(*iov));
        struct bd_error *err = w->procs && w->tables && iov ? NULL : &bd_error_nomem;
        size_t m = 0;
        for (size_t i = 0; !err && i < ts->n; i++)
                if (bd_walk_kptr_ok(w->k, ts->t[i].addr, 8)) {
                        w->procs[m].t = &ts->t[i];
                        iov[m] = (struct bd_kernel_iov){
                            ts->t[i].addr + (uint64_t)w->off[O_TASK_FILES], &w->procs[m].files, 8};
                        m++;
                }
        if (!err)
                err = read_ranges(w->k, iov, m);
        free(iov);
        if (err)
                return err;
        /* Processes without files (exited, or unreadable) drop out. */
        for (size_t i = 0; i < m; i++)
                if (bd_walk_kptr_ok(w->k, w->procs[i].files, 8))
                        w->procs[w->nprocs++] = w->procs[i];
        qsort(w->procs, w->nprocs, sizeof(*w->procs), by_files);
        for (size_t i = 0; i < w->nprocs; i++) {
                if (i && w->procs[i].files == w->procs[i - 1].files)
                        w->tables[w->ntables - 1].nprocs++;
                else
                        w->tables[w->ntables++] =
                            (struct fd_table){.files = w->procs[i].files, .proc = i, .nprocs = 1};
        }
        return NULL;
}

/* Each table's fdtable, then its max_fds and fd array pointer: a batch
 * each. A table that does not check out drops its processes' owners. */
static struct bd_error *read_fdtables(struct search *w)
{
        struct bd_kernel_iov *iov = calloc(2 * w->ntables + 1, sizeof(*iov));
        if (!iov)
                return &bd_error_nomem;
        for (size_t i = 0; i < w->ntables; i++)
                iov[i] = (struct bd_kernel_iov){w->tables[i].files + (uint64_t)w->off[O_FILES_FDT],
                                                &w->tables[i].fdt, 8};
        struct bd_error *err = read_ranges(w->k, iov, w->ntables);
        size_t m = 0;
        for (size_t i = 0; !err && i < w->ntables; i++) {
                struct fd_table *t = &w->tables[i];
                if (!bd_walk_kptr_ok(w->k, t->fdt, 8))
                        continue;
                iov[m++] =
                    (struct bd_kernel_iov){t->fdt + (uint64_t)w->off[O_MAX_FDS], &t->max_fds, 4};
                iov[m++] = (struct bd_kernel_iov){t->fdt + (uint64_t)w->off[O_FD], &t->fd, 8};
        }
        if (!err)
                err = read_ranges(w->k, iov, m);
        free(iov);
        return err;
}

/* Every fd array that checks out, in one batch, within the budget. */
static struct bd_error *read_fd_arrays(struct search *w)
{
        struct bd_kernel_iov *iov = calloc(w->ntables + 1, sizeof(*iov));
        if (!iov)
                return &bd_error_nomem;
        struct bd_error *err = NULL;
        size_t m = 0;
        for (size_t i = 0; !err && i < w->ntables; i++) {
                struct fd_table *t = &w->tables[i];
                if (!t->max_fds || t->max_fds > BD_NR_OPEN_MAX ||
                    !bd_walk_kptr_ok(w->k, t->fd, 8)) {
                        w->unreadable += t->nprocs;
                        t->max_fds = 0;
                        continue;
                }
                if ((err = spend(&w->left, t->max_fds, 8, "fd slots")))
                        break;
                if (!(t->slots = malloc((size_t)t->max_fds * 8))) {
                        err = &bd_error_nomem;
                        break;
                }
                iov[m++] = (struct bd_kernel_iov){t->fd, t->slots, (size_t)t->max_fds * 8};
        }
        if (!err)
                err = read_ranges(w->k, iov, m);
        free(iov);
        return err;
}

/* The open files of every table, and their f_op and private_data in one
 * batch. */
static struct bd_error *read_files(struct search *w)
{
        size_t n = 0;
        for (size_t i = 0; i < w->ntables; i++)
                for (uint32_t fd = 0; fd < w->tables[i].max_fds; fd++)
                        n += bd_walk_kptr_ok(w->k, w->tables[i].slots[fd], 8);
        struct bd_error *err = spend(&w->left, n, FILE_EACH, "open files");
        if (err)
                return err;
        w->files = calloc(n + 1, sizeof(*w->files));
        struct bd_kernel_iov *iov = calloc(2 * n + 1, sizeof(*iov));
        if (!w->files || !iov) {
                free(iov);
                return &bd_error_nomem;
        }
        for (size_t i = 0; i < w->ntables; i++)
                for (uint32_t fd = 0; fd < w->tables[i].max_fds; fd++) {
                        uint64_t p = w->tables[i].slots[fd];
                        if (!bd_walk_kptr_ok(w->k, p, 8))
                                continue;
                        struct open_file *f = &w->files[w->nfiles];
                        *f = (struct open_file){i, (int32_t)fd, p, 0, 0};
                        iov[2 * w->nfiles] =
                            (struct bd_kernel_iov){p + (uint64_t)w->off[O_F_OP], &f->f_op, 8};
                        iov[2 * w->nfiles + 1] = (struct bd_kernel_iov){
                            p + (uint64_t)w->off[O_PRIVATE_DATA], &f->private_data, 8};
                        w->nfiles++;
                }
        err = read_ranges(w->k, iov, 2 * w->nfiles);
        free(iov);
        return err;
}

/* Socket files whose socket is one of n's: an owner per process holding
 * the table. */
static struct bd_error *match(struct search *w, uint64_t socket_fops)
{
        for (size_t i = 0; i < w->nfiles; i++) {
                const struct open_file *f = &w->files[i];
                struct sock_key key = {f->private_data, 0};
                const struct sock_key *k =
                    f->f_op == socket_fops
                        ? bsearch(&key, w->keys, w->nkeys, sizeof(*w->keys), by_key)
                        : NULL;
                if (!k)
                        continue;
                const struct fd_table *t = &w->tables[f->table];
                struct bd_error *err = spend(&w->left, t->nprocs, sizeof(struct owner), "owners");
                if (err)
                        return err;
                if (bd_grow((void **)&w->owners, &w->capowners, w->nowners + t->nprocs,
                            sizeof(*w->owners), 64))
                        return &bd_error_nomem;
                for (size_t p = t->proc; p < t->proc + t->nprocs; p++) {
                        struct owner *o = &w->owners[w->nowners++];
                        o->sock = k->sock;
                        o->o.pid = w->procs[p].t->pid;
                        o->o.fd = f->fd;
                        memcpy(o->o.comm, w->procs[p].t->comm, sizeof(o->o.comm));
                }
        }
        return NULL;
}

/* The owners found, by socket, into n. */
static struct bd_error *give_owners(struct search *w, struct bd_net *n)
{
        if (w->nowners)
                qsort(w->owners, w->nowners, sizeof(*w->owners), by_owner);
        n->owners = calloc(w->nowners + 1, sizeof(*n->owners));
        if (!n->owners)
                return &bd_error_nomem;
        for (size_t i = 0; i < w->nowners; i++) {
                struct bd_net_sock *s = &n->s[w->owners[i].sock];
                if (!s->nowners)
                        s->owner = i;
                s->nowners++;
                n->owners[i] = w->owners[i].o;
        }
        n->nowners = w->nowners;
        return NULL;
}

struct bd_error *bd_net_owners(struct bd_program *prog, struct bd_net *n, const struct bd_tasks *ts)
{
        static const enum bd_layout_id ids[O_ALL] = {BDL_TASK_FILES,      BDL_FILES_FDT,
                                                     BDL_FDTABLE_MAX_FDS, BDL_FDTABLE_FD,
                                                     BDL_FILE_OP,         BDL_FILE_PRIVATE_DATA};
        uint64_t budget = bd_budget(prog, BD_NET_BUDGET);
        struct search w = {.k = prog->k, .left = budget > n->st.held ? budget - n->st.held : 0};
        const struct bd_layout *l;
        uint64_t socket_fops;
        struct bd_error *err = bd_program_layout(prog, &l);
        if (err || (err = bd_layout_need(l, ids, O_ALL, w.off)) ||
            (err = bd_program_symbol(prog, "socket_file_ops", &socket_fops)))
                return err;
        if (!(w.keys = calloc(n->n + 1, sizeof(*w.keys))))
                return &bd_error_nomem;
        for (size_t i = 0; i < n->n; i++)
                if (n->s[i].socket)
                        w.keys[w.nkeys++] = (struct sock_key){n->s[i].socket, i};
        qsort(w.keys, w.nkeys, sizeof(*w.keys), by_key);
        if (w.nkeys && !(err = find_fd_tables(&w, ts)) && !(err = read_fdtables(&w)) &&
            !(err = read_fd_arrays(&w)) && !(err = read_files(&w)) &&
            !(err = match(&w, socket_fops)))
                err = give_owners(&w, n);
        n->st.fd_tables = w.ntables;
        n->st.fd_unreadable = w.unreadable;
        for (size_t i = 0; i < w.ntables; i++)
                free(w.tables[i].slots);
        free(w.procs), free(w.tables), free(w.files), free(w.keys), free(w.owners);
        return err;
}

/* No struct socket, no owner: no need to read every process. */
static int any_socket(const struct bd_net *n)
{
        for (size_t i = 0; i < n->n; i++)
                if (n->s[i].socket)
                        return 1;
        return 0;
}

struct bd_error *bd_net_read(struct bd_program *prog, unsigned protos, struct bd_net **out)
{
        /* The plan may load BTF on first use: the figures are the walk's. */
        struct plan pl;
        struct bd_error *err = make_plan(prog, &pl);
        if (err)
                return bd_error_wrap(err, "net");
        struct bd_phys *p = prog->phys;
        struct bd_net *n = calloc(1, sizeof(*n));
        if (!n)
                return &bd_error_nomem;
        bd_reads_start(&n->st.reads, p);
        if (!(err = read_sockets(prog, &pl, protos, n)) && any_socket(n)) {
                struct bd_tasks *ts = NULL;
                struct bd_error *e = bd_tasks_read(prog, 0, &ts);
                if (!e)
                        e = bd_net_owners(prog, n, ts);
                bd_tasks_free(ts);
                /* Sockets without owners are still worth showing. */
                if (bd_err_fatal(e))
                        err = e;
                else
                        n->owners_why = e;
        }
        if (err) {
                bd_net_free(n);
                return bd_error_wrap(err, "net");
        }
        bd_reads_stop(&n->st.reads, p);
        *out = n;
        return NULL;
}

void bd_net_free(struct bd_net *n)
{
        if (!n)
                return;
        bd_error_destroy(n->broken_why);
        bd_error_destroy(n->owners_why);
        free(n->s);
        free(n->owners);
        free(n);
}
