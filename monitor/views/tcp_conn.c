#include "tcp_conn.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/bytes.h"
#include "../walk/walk.h"
#include "../walk/walk_list.h"
#include "../walk/walk_rbtree.h"

/* MAX_SKB_FRAGS' default; and what one fragment may span: a compound page
 * of sk_page_frag()'s (32 KiB) or a huge page's, never more. */
#define FRAGS_MAX     17u
#define FRAG_SPAN     (2u << 20)
#define SKB_END_MAX   (1u << 20)
#define FRAG_LIST_MAX 4096u

/* tcp_sock's fields, as TCP_REPAIR reads them. */
enum {
        T_SND_UNA,
        T_SND_NXT,
        T_WRITE_SEQ,
        T_RCV_NXT,
        T_COPIED_SEQ,
        T_SND_WL1,
        T_SND_WND,
        T_MAX_WINDOW,
        T_RCV_WND,
        T_RCV_WUP,
        T_TSOFFSET,
        T_MSS_CLAMP,
        T_ECN,
        T_LOCK_OWNED,
        T_ALL
};

static const enum bd_layout_id tcp_ids[T_ALL] = {
    BDL_TCP_SND_UNA,  BDL_TCP_SND_NXT,   BDL_TCP_WRITE_SEQ,  BDL_TCP_RCV_NXT,   BDL_TCP_COPIED_SEQ,
    BDL_TCP_SND_WL1,  BDL_TCP_SND_WND,   BDL_TCP_MAX_WINDOW, BDL_TCP_RCV_WND,   BDL_TCP_RCV_WUP,
    BDL_TCP_TSOFFSET, BDL_TCP_MSS_CLAMP, BDL_TCP_ECN_FLAGS,  BDL_SK_LOCK_OWNED,
};
static const uint8_t tcp_size[T_ALL] = {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 2, 1, 4};

enum {
        B_TSTAMP_OK,
        B_SACK_OK,
        B_WSCALE_OK,
        B_SND_WSCALE,
        B_RCV_WSCALE,
        B_NONAGLE,
        B_SYN_DATA_ACKED,
        B_ALL
};

static const enum bd_layout_id bit_ids[B_ALL] = {
    BDL_TCP_TSTAMP_OK,  BDL_TCP_SACK_OK, BDL_TCP_WSCALE_OK,      BDL_TCP_SND_WSCALE,
    BDL_TCP_RCV_WSCALE, BDL_TCP_NONAGLE, BDL_TCP_SYN_DATA_ACKED,
};

/* An skb's fields, and its skb_shared_info's. */
enum { K_CB, K_LEN, K_DATA_LEN, K_HEAD, K_DATA, K_END, K_ALL };
static const enum bd_layout_id skb_ids[K_ALL] = {BDL_SKB_CB,   BDL_SKB_LEN,  BDL_SKB_DATA_LEN,
                                                 BDL_SKB_HEAD, BDL_SKB_DATA, BDL_SKB_END};
static const uint8_t skb_size[K_ALL] = {8, 4, 4, 8, 8, 4};

enum { S_NR_FRAGS, S_FRAG_LIST, S_FRAGS, S_ALL };
static const enum bd_layout_id shinfo_ids[S_ALL] = {BDL_SHINFO_NR_FRAGS, BDL_SHINFO_FRAG_LIST,
                                                    BDL_SHINFO_FRAGS};

enum { F_PAGE, F_LEN, F_OFFSET, F_ALL };
static const enum bd_layout_id frag_ids[F_ALL] = {BDL_FRAG_PAGE, BDL_FRAG_LEN, BDL_FRAG_OFFSET};

struct plan {
        int64_t tcp[T_ALL], skb[K_ALL], shinfo[S_ALL], frag[F_ALL];
        struct bd_bits bits[B_ALL];
        int64_t rcv_queue, write_queue, rtx_queue, rbnode, frag_size, page_size;
        int64_t slock;    /* its first 4 bytes are the lock word, whatever debugging adds */
        uint64_t vmemmap; /* vmemmap_base: struct page i describes frame i */
};

static struct bd_error *make_plan(const struct bd_layout *l, struct plan *pl)
{
        struct bd_error *err = bd_layout_need(l, tcp_ids, T_ALL, pl->tcp);
        for (int i = 0; !err && i < T_ALL; i++)
                if (l->e[tcp_ids[i]].size != tcp_size[i])
                        err = bd_layout_get_sized(l, tcp_ids[i], tcp_size[i], &pl->tcp[i]);
        for (int b = 0; !err && b < B_ALL; b++)
                err = bd_layout_bits(l, bit_ids[b], &pl->bits[b]);
        if (!err)
                err = bd_layout_need(l, skb_ids, K_ALL, pl->skb);
        if (!err)
                err = bd_layout_need(l, shinfo_ids, S_ALL, pl->shinfo);
        if (!err)
                err = bd_layout_need(l, frag_ids, F_ALL, pl->frag);
        if (!err)
                err = bd_layout_get(l, BDL_SK_RECEIVE_QUEUE, &pl->rcv_queue);
        if (!err)
                err = bd_layout_get(l, BDL_SK_WRITE_QUEUE, &pl->write_queue);
        if (!err)
                err = bd_layout_get(l, BDL_SK_RTX_QUEUE, &pl->rtx_queue);
        if (!err)
                err = bd_layout_get(l, BDL_SKB_RBNODE, &pl->rbnode);
        if (!err)
                err = bd_layout_get(l, BDL_SKB_FRAG, &pl->frag_size);
        if (!err)
                err = bd_layout_get(l, BDL_STRUCT_PAGE, &pl->page_size);
        if (!err)
                err = bd_layout_get(l, BDL_SK_LOCK_SLOCK, &pl->slock);
        if (!err && l->e[BDL_SK_LOCK_SLOCK].size < 4)
                err = bd_error_new(BD_ERR_PROTOCOL, "%s is %lld bytes, not a lock word",
                                   bd_layout_path(BDL_SK_LOCK_SLOCK),
                                   (long long)l->e[BDL_SK_LOCK_SLOCK].size);
        if (!err && (pl->frag_size < 16 || pl->frag_size > 64 || pl->page_size < 32 ||
                     pl->page_size > 256 || l->e[BDL_SHINFO_NR_FRAGS].size != 1 ||
                     l->e[BDL_SKB_END].size != 4 || l->e[BDL_FRAG_PAGE].size != 8))
                err = bd_error_new(BD_ERR_PROTOCOL,
                                   "skb layout: a fragment of %lld bytes, a struct page of %lld",
                                   (long long)pl->frag_size, (long long)pl->page_size);
        return err;
}

/* A queue's bytes from start, len of them, as its skbs fill them: each
 * byte once. */
struct sink {
        uint32_t start, len;
        uint8_t *buf, *have;
        uint64_t filled;
        const char *what;
};

struct reader {
        struct bd_kernel *k;
        const struct plan *pl;
        size_t skbs;
};

/* n bytes at kernel address src, which are the skb bytes at queue position
 * pos (relative to the sink's start, maybe negative): the part the sink
 * wants. */
static struct bd_error *take(struct reader *rd, struct sink *s, int64_t pos, uint64_t src,
                             uint64_t n)
{
        int64_t lo = pos < 0 ? -pos : 0;
        int64_t hi = pos + (int64_t)n > (int64_t)s->len ? (int64_t)s->len - pos : (int64_t)n;
        if (lo >= hi)
                return NULL;
        for (int64_t i = lo; i < hi; i++)
                if (s->have[pos + i])
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "%s: two skbs hold byte %" PRId64 " of the queue",
                                            s->what, pos + i);
        struct bd_error *err =
            bd_kernel_read(rd->k, src + (uint64_t)lo, s->buf + pos + lo, (size_t)(hi - lo));
        if (err)
                return bd_error_wrap(err, "%s", s->what);
        memset(s->have + pos + lo, 1, (size_t)(hi - lo));
        s->filled += (uint64_t)(hi - lo);
        return NULL;
}

/* A fragment's bytes in the direct map: its struct page's frame. */
static struct bd_error *frag_addr(const struct reader *rd, uint64_t page, uint32_t off,
                                  uint32_t len, uint64_t *addr)
{
        const struct plan *pl = rd->pl;
        uint64_t size = (uint64_t)pl->page_size;
        if (page < pl->vmemmap || (page - pl->vmemmap) % size || !rd->k->direct_base ||
            off > FRAG_SPAN || len > FRAG_SPAN)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "fragment: page 0x%" PRIx64 " (vmemmap at 0x%" PRIx64
                                    "), offset %" PRIu32 ", %" PRIu32 " bytes",
                                    page, pl->vmemmap, off, len);
        uint64_t pfn = (page - pl->vmemmap) / size;
        if (pfn > (1ull << 40))
                return bd_error_new(BD_ERR_PROTOCOL, "fragment: frame %" PRIu64, pfn);
        *addr = rd->k->direct_base + pfn * 4096 + off;
        return NULL;
}

/* One skb's bytes: linear part, fragments, and (at depth 0) its
 * frag_list's skbs. At depth 0 its place in the queue is its
 * TCP_SKB_CB(skb)->seq; a frag_list's skb is at pos. */
static struct bd_error *skb_bytes(struct reader *rd, struct sink *s, uint64_t skb, int64_t pos,
                                  int depth, uint32_t *len_out)
{
        const struct plan *pl = rd->pl;
        if (++rd->skbs > BD_TCP_SKBS_MAX)
                return bd_error_new(BD_ERR_RANGE, "%s: more than %u skbs", s->what,
                                    BD_TCP_SKBS_MAX);
        uint8_t f[K_ALL][8];
        struct bd_kernel_iov iov[K_ALL];
        for (int i = 0; i < K_ALL; i++)
                iov[i] = (struct bd_kernel_iov){skb + (uint64_t)pl->skb[i], f[i], skb_size[i]};
        struct bd_error *err = bd_walk_read(rd->k, iov, K_ALL, "sk_buff");
        if (err)
                return err;
        uint32_t seq = bd_le32(f[K_CB]), len = bd_le32(f[K_LEN]);
        uint32_t data_len = bd_le32(f[K_DATA_LEN]), end = bd_le32(f[K_END]);
        uint64_t head = bd_le64(f[K_HEAD]), data = bd_le64(f[K_DATA]);
        uint32_t headlen = len - data_len;
        if (len > BD_TCP_QUEUE_MAX || data_len > len || end > SKB_END_MAX ||
            !bd_walk_kptr_ok(rd->k, head, 1) || data < head || data + headlen > head + end)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s: sk_buff at 0x%" PRIx64 ": len %" PRIu32
                                    ", data_len %" PRIu32 ", end %" PRIu32 ", data %" PRId64
                                    " bytes into head",
                                    s->what, skb, len, data_len, end, (int64_t)(data - head));
        *len_out = len;
        if (!depth)
                pos = (int32_t)(seq - s->start);
        if ((err = take(rd, s, pos, data, headlen)))
                return err;
        uint64_t shinfo = head + end;
        uint8_t nr = 0;
        uint64_t frag_list = 0;
        uint8_t frags[FRAGS_MAX * 64];
        struct bd_kernel_iov si[2] = {{shinfo + (uint64_t)pl->shinfo[S_NR_FRAGS], &nr, 1},
                                      {shinfo + (uint64_t)pl->shinfo[S_FRAG_LIST], &frag_list, 8}};
        if ((err = bd_walk_read(rd->k, si, 2, "skb_shared_info")))
                return err;
        if (nr > FRAGS_MAX)
                return bd_error_new(BD_ERR_PROTOCOL, "%s: sk_buff at 0x%" PRIx64 ": %u fragments",
                                    s->what, skb, nr);
        size_t fsz = (size_t)pl->frag_size;
        if (nr &&
            (err = bd_kernel_read(rd->k, shinfo + (uint64_t)pl->shinfo[S_FRAGS], frags, nr * fsz)))
                return err;
        uint64_t off = headlen, in_frags = 0;
        for (unsigned i = 0; i < nr; i++) {
                const uint8_t *fr = frags + i * fsz;
                uint64_t page = bd_le64(fr + pl->frag[F_PAGE]), addr = 0;
                uint32_t flen = bd_le32(fr + pl->frag[F_LEN]);
                uint32_t foff = bd_le32(fr + pl->frag[F_OFFSET]);
                if ((err = frag_addr(rd, page, foff, flen, &addr)))
                        return bd_error_wrap(err, "%s: sk_buff at 0x%" PRIx64, s->what, skb);
                if ((err = take(rd, s, pos + (int64_t)off, addr, flen)))
                        return err;
                off += flen;
                in_frags += flen;
        }
        /* What data_len counts beyond the fragments is in the frag_list. */
        uint64_t rest = data_len - (in_frags < data_len ? in_frags : data_len);
        if (in_frags > data_len || (rest && !frag_list) || (frag_list && depth))
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s: sk_buff at 0x%" PRIx64 ": %" PRIu64
                                    " bytes in fragments of %" PRIu32 ", frag_list 0x%" PRIx64
                                    " at depth %d",
                                    s->what, skb, in_frags, data_len, frag_list, depth);
        for (unsigned n = 0; frag_list && rest; n++) {
                uint32_t l = 0;
                if (n >= FRAG_LIST_MAX || !bd_walk_kptr_ok(rd->k, frag_list, 8))
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "%s: frag_list of sk_buff 0x%" PRIx64 " at 0x%" PRIx64,
                                            s->what, skb, frag_list);
                if ((err = skb_bytes(rd, s, frag_list, pos + (int64_t)off, 1, &l)))
                        return err;
                if (l > rest)
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "%s: frag_list of sk_buff 0x%" PRIx64 " is too long",
                                            s->what, skb);
                off += l, rest -= l;
                /* An skb's next pointer is its first member. */
                if (rest && (err = bd_kernel_read_u64(rd->k, frag_list, &frag_list)))
                        return err;
        }
        return NULL;
}

/* The skbs of a queue (bd_walk_nodes), in sequence order. */
static struct bd_error *fill(struct reader *rd, struct sink *s, const struct bd_walk_nodes *l)
{
        for (size_t i = 0; i < l->n; i++) {
                uint32_t len;
                struct bd_error *err = skb_bytes(rd, s, l->a[i], 0, 0, &len);
                if (err)
                        return err;
        }
        return NULL;
}

static struct bd_error *sink_new(struct sink *s, uint32_t start, uint32_t end, const char *what)
{
        *s = (struct sink){.start = start, .len = end - start, .what = what};
        if (s->len > BD_TCP_QUEUE_MAX)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%s: %" PRIu32 " bytes (%" PRIu32 "..%" PRIu32 "), past %u",
                                    what, s->len, start, end, BD_TCP_QUEUE_MAX);
        s->buf = malloc(s->len + 1);
        s->have = calloc(s->len + 1, 1);
        return s->buf && s->have ? NULL : &bd_error_nomem;
}

/* Every byte of the sink was in an skb: else the queue has a hole. */
static struct bd_error *whole(const struct sink *s)
{
        if (s->filled == s->len)
                return NULL;
        uint32_t at = 0;
        while (at < s->len && s->have[at])
                at++;
        return bd_error_new(BD_ERR_PROTOCOL,
                            "%s: %" PRIu64 " of %" PRIu32
                            " bytes in skbs, none at sequence %" PRIu32,
                            s->what, s->filled, s->len, s->start + at);
}

struct bd_error *bd_tcp_conn_read(struct bd_program *prog, uint64_t sk, struct bd_tcp_conn *c)
{
        memset(c, 0, sizeof(*c));
        const struct bd_layout *l;
        uint64_t at, vmemmap = 0;
        struct bd_error *err = bd_program_layout(prog, &l);
        if (!err)
                err = bd_program_symbol(prog, "vmemmap_base", &at);
        if (!err)
                err = bd_kernel_read_u64(prog->k, at, &vmemmap);
        return err ? bd_error_wrap(err, "tcp connection")
                   : bd_tcp_conn_from(prog->k, l, vmemmap, sk, c);
}

struct bd_error *bd_tcp_conn_from(struct bd_kernel *k, const struct bd_layout *l, uint64_t vmemmap,
                                  uint64_t sk, struct bd_tcp_conn *c)
{
        memset(c, 0, sizeof(*c));
        struct plan pl;
        struct bd_error *err = make_plan(l, &pl);
        if (err)
                return bd_error_wrap(err, "tcp connection");
        pl.vmemmap = vmemmap;
        uint8_t f[T_ALL][4] = {{0}};
        uint64_t word[B_ALL];
        uint8_t slock[4];
        struct bd_kernel_iov iov[T_ALL + B_ALL + 1];
        for (int i = 0; i < T_ALL; i++)
                iov[i] = (struct bd_kernel_iov){sk + (uint64_t)pl.tcp[i], f[i], tcp_size[i]};
        for (int b = 0; b < B_ALL; b++)
                iov[T_ALL + b] =
                    (struct bd_kernel_iov){sk + (uint64_t)pl.bits[b].byte, &word[b], 8};
        iov[T_ALL + B_ALL] = (struct bd_kernel_iov){sk + (uint64_t)pl.slock, slock, 4};
        if ((err = bd_walk_read(k, iov, T_ALL + B_ALL + 1, "tcp_sock")))
                return err;
        /* A socket held, by a task (lock_sock) or by softirq (its
         * spinlock), was being changed when the kernel stopped: its queues
         * and sequence numbers need not agree. */
        if (bd_le32(f[T_LOCK_OWNED]) || bd_le32(slock))
                return bd_error_new(BD_ERR_RANGE,
                                    "tcp_sock at 0x%" PRIx64 ": its lock was held (%s) when the "
                                    "kernel stopped, so its state may be half-changed",
                                    sk, bd_le32(f[T_LOCK_OWNED]) ? "by a task" : "its spinlock");
        uint32_t *u[] = {&c->snd_una,    &c->snd_nxt, &c->write_seq, &c->rcv_nxt,
                         &c->copied_seq, &c->snd_wl1, &c->snd_wnd,   &c->max_window,
                         &c->rcv_wnd,    &c->rcv_wup, &c->tsoffset};
        for (int i = 0; i <= T_TSOFFSET; i++)
                *u[i] = bd_le32(f[i]);
        c->mss_clamp = (uint32_t)bd_le(f[T_MSS_CLAMP], 2);
        uint8_t ecn = f[T_ECN][0];
        uint32_t bit[B_ALL];
        for (int b = 0; b < B_ALL; b++)
                bit[b] = (uint32_t)bd_bits_value(&pl.bits[b], word[b]);
        /* As tcp_get_info() fills tcpi_options. */
        c->options = (bit[B_TSTAMP_OK] ? BD_TCPI_OPT_TIMESTAMPS : 0) |
                     (bit[B_SACK_OK] ? BD_TCPI_OPT_SACK : 0) |
                     (bit[B_WSCALE_OK] ? BD_TCPI_OPT_WSCALE : 0) | (ecn & 1 ? BD_TCPI_OPT_ECN : 0) |
                     (ecn & 8 ? BD_TCPI_OPT_ECN_SEEN : 0) |
                     (bit[B_SYN_DATA_ACKED] ? BD_TCPI_OPT_SYN_DATA : 0);
        if (bit[B_WSCALE_OK])
                c->snd_wscale = bit[B_SND_WSCALE], c->rcv_wscale = bit[B_RCV_WSCALE];
        c->nodelay = (bit[B_NONAGLE] & 1) != 0, c->cork = (bit[B_NONAGLE] & 2) != 0;
        /* The send queue: sent and unacknowledged, then unsent. */
        if ((int32_t)(c->snd_nxt - c->snd_una) < 0 || (int32_t)(c->write_seq - c->snd_nxt) < 0 ||
            (int32_t)(c->rcv_nxt - c->copied_seq) < 0)
                return bd_error_new(
                    BD_ERR_PROTOCOL,
                    "tcp_sock at 0x%" PRIx64 ": snd_una %" PRIu32 " snd_nxt %" PRIu32
                    " write_seq %" PRIu32 ", copied_seq %" PRIu32 " rcv_nxt %" PRIu32,
                    sk, c->snd_una, c->snd_nxt, c->write_seq, c->copied_seq, c->rcv_nxt);
        c->unsent = c->write_seq - c->snd_nxt;
        struct reader rd = {.k = k, .pl = &pl};
        struct sink in = {0}, out = {0};
        struct bd_walk_nodes rx = {.minus = 0}, tx = {.minus = pl.rbnode};
        struct bd_walk_opts o = {.max = BD_TCP_SKBS_MAX, .check_prev = 1};
        err = sink_new(&in, c->copied_seq, c->rcv_nxt, "receive queue");
        if (!err)
                err = sink_new(&out, c->snd_una, c->write_seq, "send queue");
        if (!err && in.len)
                err = bd_list_walk(k, sk + (uint64_t)pl.rcv_queue, &o, bd_walk_gather_node, &rx);
        if (!err && in.len)
                err = fill(&rd, &in, &rx);
        if (!err && out.len)
                err = bd_rbtree_walk(k, sk + (uint64_t)pl.rtx_queue, &o, bd_walk_gather_node, &tx);
        if (!err && out.len) {
                tx.minus = 0;
                err = bd_list_walk(k, sk + (uint64_t)pl.write_queue, &o, bd_walk_gather_node, &tx);
        }
        if (!err && out.len)
                err = fill(&rd, &out, &tx);
        if (!err)
                err = whole(&in);
        if (!err)
                err = whole(&out);
        free(rx.a), free(tx.a), free(in.have), free(out.have);
        c->skbs = rd.skbs;
        if (err) {
                free(in.buf), free(out.buf);
                return bd_error_wrap(err, "tcp_sock at 0x%" PRIx64, sk);
        }
        c->inq = in.buf, c->inq_len = in.len;
        c->outq = out.buf, c->outq_len = out.len;
        return NULL;
}

void bd_tcp_conn_free(struct bd_tcp_conn *c)
{
        free(c->inq), free(c->outq);
        c->inq = c->outq = NULL;
}
