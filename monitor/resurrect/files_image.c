#include "files_image.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criu/eventpoll.pb-c.h>
#include <criu/fdinfo.pb-c.h>
#include <criu/fs.pb-c.h>
#include <criu/memfd.pb-c.h>
#include <criu/regfile.pb-c.h>
#include <criu/sk-inet.pb-c.h>
#include <criu/tcp-stream.pb-c.h>

#include "../../common/bytes.h"
#include "../views/epoll.h"
#include "../views/files.h"
#include "../views/output.h"
#include "../views/sysinfo.h"
#include "../views/tcp_conn.h"
#include "../views/tasks.h"
#include "../walk/walk.h"

/* The target's constants (include/linux/socket.h, net.h, in.h, fcntl.h). */
#define AF_INET_         2
#define AF_INET6_        10
#define SOCK_STREAM_     1
#define IPPROTO_TCP_     6
#define TCP_LISTEN_      10
#define TCP_ESTABLISHED_ 1
#define FD_CLOEXEC_      1
#define MAX_TIMEOUT      INT64_MAX /* MAX_SCHEDULE_TIMEOUT: no timeout set */
#define NET_NS_ID        2         /* the ids image's net_ns_id (resurrect.c) */
#define CWD_AND_ROOT     2

/* A socket's fields: sock_common's, sock's, tcp_sock's keepalive. */
enum {
        S_FAMILY,
        S_STATE,
        S_NUM,
        S_DPORT,
        S_RCV_SADDR,
        S_DADDR,
        S_TYPE,
        S_PROTOCOL,
        S_SNDBUF,
        S_RCVBUF,
        S_SNDTIMEO,
        S_RCVTIMEO,
        S_PRIORITY,
        S_RCVLOWAT,
        S_MARK,
        S_FLAGS,
        S_BACKLOG,
        S_KA_TIME,
        S_KA_INTVL,
        S_KA_PROBES,
        S_V6_RCV_SADDR, /* optional: no IPv6 */
        S_V6_DADDR,
        S_ALL
};

static const enum bd_layout_id sock_ids[S_ALL] = {
    BDL_SKC_FAMILY,
    BDL_SKC_STATE,
    BDL_SKC_NUM,
    BDL_SKC_DPORT,
    BDL_SKC_RCV_SADDR,
    BDL_SKC_DADDR,
    BDL_SK_TYPE,
    BDL_SK_PROTOCOL,
    BDL_SK_SNDBUF,
    BDL_SK_RCVBUF,
    BDL_SK_SNDTIMEO,
    BDL_SK_RCVTIMEO,
    BDL_SK_PRIORITY,
    BDL_SK_RCVLOWAT,
    BDL_SK_MARK,
    BDL_SK_FLAGS,
    BDL_SK_MAX_ACK_BACKLOG,
    BDL_TCP_KEEPALIVE_TIME,
    BDL_TCP_KEEPALIVE_INTVL,
    BDL_TCP_KEEPALIVE_PROBES,
    BDL_SKC_V6_RCV_SADDR,
    BDL_SKC_V6_DADDR,
};
static const uint8_t sock_size[S_ALL] = {2, 1, 2, 2, 4, 4, 2, 2, 4, 4,  8,
                                         8, 4, 4, 4, 8, 4, 4, 4, 1, 16, 16};
#define S_NEEDED S_V6_RCV_SADDR

/* Options the kernel keeps in bitfields, read as the 8 bytes holding each. */
enum { B_REUSE, B_REUSEPORT, B_USERLOCKS, B_NO_CHECK_TX, B_ALL };

static const enum bd_layout_id bit_ids[B_ALL] = {BDL_SKC_REUSE, BDL_SKC_REUSEPORT, BDL_SK_USERLOCKS,
                                                 BDL_SK_NO_CHECK_TX};

/* Flag bits of sk_flags (SO_KEEPALIVE, SO_BROADCAST, SO_OOBINLINE,
 * SO_DONTROUTE), enumerators the kernel's BTF has. */
enum { E_KEEPOPEN, E_BROADCAST, E_URGINLINE, E_LOCALROUTE, E_ALL };

static const enum bd_layout_id enum_ids[E_ALL] = {BDL_SOCK_KEEPOPEN, BDL_SOCK_BROADCAST,
                                                  BDL_SOCK_URGINLINE, BDL_SOCK_LOCALROUTE};

/* The struct socket's flags for SO_PASSCRED and SO_PASSSEC: #defines in
 * include/linux/net.h, so no BTF names them; the same since Linux 2.6. */
#define SOCKET_PASSCRED 3
#define SOCKET_PASSSEC  4

struct sock {
        uint64_t sk, socket_flags;
        uint8_t f[S_ALL][16];
        uint64_t word[B_ALL];
};

/* Where a socket's options are, and the kernel's tick rate. */
struct sock_plan {
        int64_t socket_sk, socket_flags, off[S_ALL];
        struct bd_bits bits[B_ALL];
        int64_t bit[E_ALL];
        unsigned hz;
};

/* SO_SNDTIMEO and SO_RCVTIMEO as getsockopt() gives them (sock_get_timeout). */
static void timeout(uint64_t jiffies, unsigned hz, uint64_t *sec, uint64_t *usec)
{
        if ((int64_t)jiffies == MAX_TIMEOUT) {
                *sec = *usec = 0;
                return;
        }
        *sec = jiffies / hz;
        *usec = jiffies % hz * (1000000 / hz);
}

/* CONFIG_HZ, which socket timeouts and keepalive times count in: from
 * tick_nsec (NSEC_PER_SEC / HZ, rounded; adjtimex may nudge it), one of
 * the rates x86 kernels are built with. */
static struct bd_error *kernel_hz(struct bd_program *prog, unsigned *hz)
{
        static const unsigned rates[] = {100, 250, 300, 1000};
        uint64_t addr, tick = 0;
        struct bd_error *err = bd_program_symbol(prog, "tick_nsec", &addr);
        if (!err)
                err = bd_kernel_read_u64(prog->k, addr, &tick);
        if (err)
                return err;
        for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
                uint64_t want = 1000000000u / rates[i];
                if (tick > want - want / 100 && tick < want + want / 100) {
                        *hz = rates[i];
                        return NULL;
                }
        }
        return bd_error_new(BD_ERR_PROTOCOL, "tick_nsec %" PRIu64 " is no HZ x86 kernels use",
                            tick);
}

static int flag(uint64_t flags, const struct sock_plan *pl, int e)
{
        return (flags >> pl->bit[e]) & 1;
}

static uint32_t bits(const struct sock *s, const struct sock_plan *pl, int b)
{
        return (uint32_t)bd_bits_value(&pl->bits[b], s->word[b]);
}

static uint64_t val(const struct sock *s, int i)
{
        return bd_le(s->f[i], sock_size[i]);
}

int bd_files_image_stateless_dev(const char *path)
{
        static const char *const devs[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                           "/dev/urandom"};
        for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++)
                if (!strcmp(path, devs[i]))
                        return 1;
        return 0;
}

/* Every entry of files.img, the fds', the mapped files' and the paths'. */
struct image {
        FileEntry *fe;
        RegFileEntry *reg;
        InetSkEntry *isk;
        SkOptsEntry *opts;
        IpOptsEntry *ipo;
        EventpollFileEntry *epf;
        MemfdFileEntry *memfd;
        /* An epoll's watches: entries and pointers, one block each. */
        void **blocks;
        size_t nblocks;
        FownEntry fown; /* every file's: no owner (F_SETOWN is refused) */
        uint32_t *addr; /* 8 words per socket: source, then destination */
        size_t n;
};

/* A struct file's id: the mapped files' first, each new file the next. */
struct ids {
        uint64_t *file;
        size_t n;
};

static uint32_t id_of(struct ids *ids, uint64_t file, int *fresh)
{
        for (size_t i = 0; i < ids->n; i++)
                if (ids->file[i] == file) {
                        *fresh = 0;
                        return (uint32_t)i + 1;
                }
        ids->file[ids->n++] = file;
        *fresh = 1;
        return (uint32_t)ids->n;
}

static void reg_entry(struct image *im, uint32_t id, const struct bd_file *f, uint32_t flags,
                      int64_t pos)
{
        FileEntry *fe = &im->fe[im->n];
        RegFileEntry *r = &im->reg[im->n++];
        *r = (RegFileEntry)REG_FILE_ENTRY__INIT;
        r->id = id, r->flags = flags, r->pos = (uint64_t)pos, r->fown = &im->fown;
        r->name = (char *)f->path;
        /* criu checks both against the file it reopens: a file that
         * changed on the restoring machine fails there, by name. */
        r->has_mode = 1, r->mode = f->i_mode;
        if (f->kind == BD_FILE_REGULAR)
                r->has_size = 1, r->size = (uint64_t)f->size;
        *fe = (FileEntry)FILE_ENTRY__INIT;
        fe->type = FD_TYPES__REG, fe->id = id, fe->reg = r;
}

/* libbdagent's memfd, mapped and closed: criu makes it again from memfd
 * inode 1 (agent_image.h), opens it as the mapping asks (the VMA's
 * fdflags), at 0, with no owner. */
static void memfd_entry(struct image *im, uint32_t id)
{
        FileEntry *fe = &im->fe[im->n];
        MemfdFileEntry *m = &im->memfd[im->n++];
        *m = (MemfdFileEntry)MEMFD_FILE_ENTRY__INIT;
        m->id = id, m->fown = &im->fown, m->inode_id = 1;
        *fe = (FileEntry)FILE_ENTRY__INIT;
        fe->type = FD_TYPES__MEMFD, fe->id = id, fe->memfd = m;
}

/* Why a file cannot be in the images as a regular file, or NULL. */
static const char *not_reopenable(const struct bd_file *f)
{
        if (f->error || !f->path || !f->have_inode)
                return f->error ? f->error : "its memory did not read";
        size_t len = strlen(f->path);
        if (len >= 10 && !strcmp(f->path + len - 10, " (deleted)"))
                return "a deleted file (not supported yet)";
        if (f->path[0] != '/')
                return "not a file in the file tree";
        if (f->kind == BD_FILE_CHAR && !bd_files_image_stateless_dev(f->path))
                return "a device with state of its own (not supported)";
        if (f->kind != BD_FILE_REGULAR && f->kind != BD_FILE_DIR && f->kind != BD_FILE_CHAR)
                return "of a kind not supported yet";
        return NULL;
}

/* Each socket fd's struct sock, then their fields: two batches. */
static struct bd_error *plan_socks(struct bd_program *prog, struct sock_plan *pl)
{
        const struct bd_layout *l;
        struct bd_error *err = bd_program_layout(prog, &l);
        if (!err)
                err = bd_layout_get_sized(l, BDL_SOCKET_SK, 8, &pl->socket_sk);
        if (!err)
                err = bd_layout_get_sized(l, BDL_SOCKET_FLAGS, 8, &pl->socket_flags);
        if (!err)
                err = bd_layout_need(l, enum_ids, E_ALL, pl->bit);
        for (int e = 0; !err && e < E_ALL; e++)
                if (pl->bit[e] < 0 || pl->bit[e] > 63)
                        err = bd_error_new(BD_ERR_PROTOCOL, "%s is %lld: not a bit of a long",
                                           bd_layout_path(enum_ids[e]), (long long)pl->bit[e]);
        for (int b = 0; !err && b < B_ALL; b++)
                err = bd_layout_bits(l, bit_ids[b], &pl->bits[b]);
        if (!err)
                err = bd_layout_need(l, sock_ids, S_NEEDED, pl->off);
        for (int i = S_NEEDED; !err && i < S_ALL; i++)
                if (!bd_layout_has(l, sock_ids[i], &pl->off[i]))
                        pl->off[i] = -1;
        return err ? err : kernel_hz(prog, &pl->hz);
}

static struct bd_error *read_socks(struct bd_program *prog, const struct bd_files *fs,
                                   struct sock *sk, size_t n, struct sock_plan *pl)
{
        struct bd_error *err = plan_socks(prog, pl);
        if (err)
                return err;
        const int64_t *off = pl->off;
        struct bd_kernel_iov *iov = calloc(n * (S_ALL + B_ALL + 2) + 1, sizeof(*iov));
        if (!iov)
                return &bd_error_nomem;
        size_t m = 0;
        for (size_t i = 0, j = 0; i < fs->n; i++) {
                const struct bd_file *f = &fs->f[i];
                if (f->kind != BD_FILE_SOCKET)
                        continue;
                if (!bd_walk_kptr_ok(prog->k, f->private_data, 8)) {
                        free(iov);
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "fd %d: struct socket pointer 0x%" PRIx64, f->fd,
                                            f->private_data);
                }
                iov[m++] =
                    (struct bd_kernel_iov){f->private_data + (uint64_t)pl->socket_sk, &sk[j].sk, 8};
                iov[m++] = (struct bd_kernel_iov){f->private_data + (uint64_t)pl->socket_flags,
                                                  &sk[j].socket_flags, 8};
                j++;
        }
        err = bd_walk_read(prog->k, iov, m, "struct socket");
        m = 0;
        for (size_t j = 0; !err && j < n; j++) {
                if (!bd_walk_kptr_ok(prog->k, sk[j].sk, 8))
                        err = bd_error_new(BD_ERR_PROTOCOL, "struct sock pointer 0x%" PRIx64,
                                           sk[j].sk);
                for (int i = 0; !err && i < S_ALL; i++)
                        if (off[i] >= 0)
                                iov[m++] = (struct bd_kernel_iov){sk[j].sk + (uint64_t)off[i],
                                                                  sk[j].f[i], sock_size[i]};
                for (int b = 0; !err && b < B_ALL; b++)
                        iov[m++] = (struct bd_kernel_iov){sk[j].sk + (uint64_t)pl->bits[b].byte,
                                                          &sk[j].word[b], 8};
        }
        if (!err)
                err = bd_walk_read(prog->k, iov, m, "struct sock");
        free(iov);
        return err;
}

/* Why a socket cannot be in the images, or NULL: TCP, listening or
 * connected, are. */
static const char *sock_refusal(const struct sock *s)
{
        uint64_t family = val(s, S_FAMILY), state = val(s, S_STATE);
        if ((family != AF_INET_ && family != AF_INET6_) || val(s, S_TYPE) != SOCK_STREAM_ ||
            val(s, S_PROTOCOL) != IPPROTO_TCP_)
                return "a socket other than TCP (not supported yet)";
        if (state != TCP_LISTEN_ && state != TCP_ESTABLISHED_)
                return "a TCP socket neither listening nor established (not supported yet)";
        return NULL;
}

/* A TCP socket as criu's InetSkEntry; conn is an established one's. */
static void sock_entry(struct image *im, uint32_t id, const struct bd_file *f, const struct sock *s,
                       const struct sock_plan *pl, const struct bd_tcp_conn *conn)
{
        uint64_t family = val(s, S_FAMILY);
        uint64_t flags = val(s, S_FLAGS);
        FileEntry *fe = &im->fe[im->n];
        InetSkEntry *k = &im->isk[im->n];
        SkOptsEntry *o = &im->opts[im->n];
        IpOptsEntry *ip = &im->ipo[im->n];
        uint32_t *addr = im->addr + 8 * im->n;
        im->n++;
        *k = (InetSkEntry)INET_SK_ENTRY__INIT;
        *o = (SkOptsEntry)SK_OPTS_ENTRY__INIT;
        *ip = (IpOptsEntry)IP_OPTS_ENTRY__INIT;
        k->id = id, k->ino = (uint32_t)f->ino;
        k->family = (uint32_t)family, k->type = SOCK_STREAM_, k->proto = IPPROTO_TCP_;
        k->state = (uint32_t)val(s, S_STATE);
        k->src_port = (uint32_t)val(s, S_NUM);
        k->dst_port = (uint32_t)(uint16_t)((val(s, S_DPORT) >> 8) | (val(s, S_DPORT) << 8));
        k->flags = f->flags & ~BD_O_CLOEXEC;
        /* What inet_diag calls the write queue, which criu's dump takes:
         * a listener's backlog, a connection's bytes not acknowledged. */
        k->backlog = conn ? conn->write_seq - conn->snd_una : (uint32_t)val(s, S_BACKLOG);
        if (family == AF_INET_) {
                memcpy(addr, s->f[S_RCV_SADDR], 4);
                memcpy(addr + 4, s->f[S_DADDR], 4);
                k->n_src_addr = k->n_dst_addr = 1;
        } else {
                memcpy(addr, s->f[S_V6_RCV_SADDR], 16);
                memcpy(addr + 4, s->f[S_V6_DADDR], 16);
                k->n_src_addr = k->n_dst_addr = 4;
        }
        k->src_addr = addr, k->dst_addr = addr + 4;
        k->fown = &im->fown, k->opts = o, k->ip_opts = ip;
        k->has_ns_id = 1, k->ns_id = NET_NS_ID;
        o->so_sndbuf = (uint32_t)val(s, S_SNDBUF), o->so_rcvbuf = (uint32_t)val(s, S_RCVBUF);
        o->has_so_priority = 1, o->so_priority = (uint32_t)val(s, S_PRIORITY);
        o->has_so_rcvlowat = 1, o->so_rcvlowat = (uint32_t)val(s, S_RCVLOWAT);
        o->has_so_mark = 1, o->so_mark = (uint32_t)val(s, S_MARK);
        timeout(val(s, S_SNDTIMEO), pl->hz, &o->so_snd_tmo_sec, &o->so_snd_tmo_usec);
        timeout(val(s, S_RCVTIMEO), pl->hz, &o->so_rcv_tmo_sec, &o->so_rcv_tmo_usec);
        /* 0: the socket follows the sysctls, as one opened on the
         * restoring machine does; criu sets only what is in the image. */
        if (val(s, S_KA_TIME))
                o->has_tcp_keepidle = 1, o->tcp_keepidle = (uint32_t)(val(s, S_KA_TIME) / pl->hz);
        if (val(s, S_KA_INTVL))
                o->has_tcp_keepintvl = 1,
                o->tcp_keepintvl = (uint32_t)(val(s, S_KA_INTVL) / pl->hz);
        if (val(s, S_KA_PROBES))
                o->has_tcp_keepcnt = 1, o->tcp_keepcnt = (uint32_t)val(s, S_KA_PROBES);
        o->has_so_keepalive = 1, o->so_keepalive = flag(flags, pl, E_KEEPOPEN);
        o->has_so_broadcast = 1, o->so_broadcast = flag(flags, pl, E_BROADCAST);
        o->has_so_oobinline = 1, o->so_oobinline = flag(flags, pl, E_URGINLINE);
        o->has_so_dontroute = 1, o->so_dontroute = flag(flags, pl, E_LOCALROUTE);
        o->has_so_passcred = 1, o->so_passcred = (s->socket_flags >> SOCKET_PASSCRED) & 1;
        o->has_so_passsec = 1, o->so_passsec = (s->socket_flags >> SOCKET_PASSSEC) & 1;
        o->has_reuseaddr = 1, o->reuseaddr = bits(s, pl, B_REUSE) != 0;
        o->has_so_reuseport = 1, o->so_reuseport = bits(s, pl, B_REUSEPORT) != 0;
        o->has_so_no_check = 1, o->so_no_check = bits(s, pl, B_NO_CHECK_TX) != 0;
        /* SO_BUF_LOCK: SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK of sk_userlocks. */
        o->has_so_buf_lock = 1, o->so_buf_lock = bits(s, pl, B_USERLOCKS) & 3;
        *fe = (FileEntry)FILE_ENTRY__INIT;
        fe->type = FD_TYPES__INETSK, fe->id = id, fe->isk = k;
}

/* tcp-stream-INO.img: the connection's state as TCP_REPAIR restores it,
 * then the receive queue's bytes, then the send queue's. now_ms: the
 * kernel's millisecond clock (TCP_TIMESTAMP is it plus tsoffset). */
static struct bd_error *tcp_stream(struct bd_criu_dir *dir, uint64_t ino,
                                   const struct bd_tcp_conn *c, uint64_t now_ms)
{
        TcpStreamEntry e = TCP_STREAM_ENTRY__INIT;
        e.inq_len = c->inq_len, e.inq_seq = c->rcv_nxt;
        e.outq_len = c->outq_len, e.outq_seq = c->write_seq;
        e.opt_mask = c->options, e.snd_wscale = c->snd_wscale, e.mss_clamp = c->mss_clamp;
        e.has_rcv_wscale = 1, e.rcv_wscale = c->rcv_wscale;
        e.has_timestamp = 1, e.timestamp = (uint32_t)(now_ms + c->tsoffset);
        e.has_cork = e.cork = c->cork != 0;
        e.has_nodelay = e.nodelay = c->nodelay != 0;
        e.has_unsq_len = 1, e.unsq_len = c->unsent;
        e.has_snd_wl1 = 1, e.snd_wl1 = c->snd_wl1;
        e.has_snd_wnd = 1, e.snd_wnd = c->snd_wnd;
        e.has_max_window = 1, e.max_window = c->max_window;
        e.has_rcv_wnd = 1, e.rcv_wnd = c->rcv_wnd;
        e.has_rcv_wup = 1, e.rcv_wup = c->rcv_wup;
        char name[64];
        snprintf(name, sizeof(name), "tcp-stream-%" PRIx64 ".img", ino);
        const ProtobufCMessage *msg = &e.base;
        struct bd_criu_raw raw[2] = {{c->inq, c->inq_len}, {c->outq, c->outq_len}};
        return bd_criu_img_write_raw(dir, name, BD_CRIU_MAGIC_TCP_STREAM, &msg, 1, raw, 2);
}

/* An address as text: numbers only, nothing from the target's strings. */
static void addr_text(const InetSkEntry *k, const uint32_t *a, char *buf, size_t cap)
{
        if (!inet_ntop(k->family == AF_INET_ ? AF_INET : AF_INET6, a, buf, (socklen_t)cap))
                snprintf(buf, cap, "?");
}

static int unspecified(const InetSkEntry *k, const uint32_t *a)
{
        return k->family == AF_INET_ ? !a[0] : !(a[0] | a[1] | a[2] | a[3]);
}

/* What the standby takes over (standby/bd-standby-restore): each address
 * a socket is bound to, and each connection, to hold its peer's packets
 * off while the address moves and criu restores it. */
static struct bd_error *takeover_lines(const struct image *im, struct bd_files_image_stats *st)
{
        size_t cap = 256 * (im->n + 1); /* two lines of two IPv6 addresses at most */
        char *out = malloc(cap), local[64], peer[64];
        if (!out)
                return &bd_error_nomem;
        size_t len = 0;
        for (size_t i = 0; i < im->n; i++) {
                const InetSkEntry *k = im->fe[i].isk;
                if (im->fe[i].type != FD_TYPES__INETSK || unspecified(k, k->src_addr))
                        continue;
                addr_text(k, k->src_addr, local, sizeof(local));
                len += (size_t)snprintf(out + len, cap - len, "address %s\n", local);
                if (k->state != TCP_ESTABLISHED_)
                        continue;
                addr_text(k, k->dst_addr, peer, sizeof(peer));
                len += (size_t)snprintf(out + len, cap - len, "tcp %s %u %s %u\n", local,
                                        k->src_port, peer, k->dst_port);
        }
        st->takeover = out;
        st->takeover_len = len;
        return NULL;
}

static int is_epoll(const struct bd_file *f)
{
        return f->kind == BD_FILE_ANON && f->anon == BD_ANON_EVENTPOLL && f->have_file && !f->error;
}

static struct bd_error *refuse(int32_t pid, const struct bd_file *f, const char *why);

/* An epoll fd's entry: each watch by the fd number it was added under,
 * which must still hold the file watched (criu adds the watch again by
 * that number, once the fd is restored). */
static struct bd_error *epoll_entry(struct bd_program *prog, int32_t pid, const struct bd_files *fs,
                                    const struct bd_file *f, uint32_t id, struct image *im,
                                    struct bd_files_image_stats *st)
{
        struct bd_epoll ep;
        struct bd_error *err = bd_epoll_read(prog, f->private_data, &ep);
        if (err)
                return bd_error_wrap(err, "pid %d: epoll fd %d", pid, f->fd);
        EventpollTfdEntry *tfd = calloc(ep.n + 1, sizeof(*tfd));
        EventpollTfdEntry **tfdp = calloc(ep.n + 1, sizeof(*tfdp));
        if (tfd)
                im->blocks[im->nblocks++] = tfd;
        if (tfdp)
                im->blocks[im->nblocks++] = tfdp;
        if (!tfd || !tfdp)
                err = &bd_error_nomem;
        for (size_t i = 0; !err && i < ep.n; i++) {
                const struct bd_epoll_item *it = &ep.item[i];
                const struct bd_file *t = NULL;
                for (size_t j = 0; j < fs->n && !t; j++)
                        if (fs->f[j].fd == it->fd)
                                t = &fs->f[j];
                char why[96];
                if (!t || t->file != it->file) {
                        snprintf(why, sizeof(why),
                                 "it watches a file once at fd %d, since closed or replaced "
                                 "(not supported yet)",
                                 it->fd);
                        err = refuse(pid, f, why);
                } else if (is_epoll(t)) {
                        snprintf(why, sizeof(why),
                                 "it watches epoll fd %d (nested epoll, not supported yet)",
                                 it->fd);
                        err = refuse(pid, f, why);
                } else {
                        tfd[i] = (EventpollTfdEntry)EVENTPOLL_TFD_ENTRY__INIT;
                        tfd[i].id = id, tfd[i].tfd = (uint32_t)it->fd;
                        tfd[i].events = it->events, tfd[i].data = it->data;
                        tfdp[i] = &tfd[i];
                }
        }
        if (!err) {
                EventpollFileEntry *e = &im->epf[im->n];
                *e = (EventpollFileEntry)EVENTPOLL_FILE_ENTRY__INIT;
                e->id = id, e->flags = f->flags & ~BD_O_CLOEXEC, e->fown = &im->fown;
                e->n_tfd = ep.n, e->tfd = tfdp;
                st->epolls++, st->watches += ep.n;
                FileEntry *fe = &im->fe[im->n++];
                *fe = (FileEntry)FILE_ENTRY__INIT;
                fe->type = FD_TYPES__EVENTPOLL, fe->id = id, fe->epfd = e;
        }
        bd_epoll_free(&ep);
        return err;
}

/* files.img's entries of the fds, fdinfo-ID.img's, the sockets'. */
struct fds {
        FdinfoEntry *fi;
        size_t n;
};

static struct bd_error *refuse(int32_t pid, const struct bd_file *f, const char *why)
{
        char path[160];
        bd_text_escape(path, sizeof(path), f->path ? f->path : "?");
        return bd_error_new(BD_ERR_RANGE, "pid %d: fd %d (%s, %s) cannot be restored: %s", pid,
                            f->fd, path, bd_file_kind_name(f->kind), why);
}

static struct bd_error *fd_entries(struct bd_program *prog, struct bd_criu_dir *dir,
                                   const struct bd_files_image *in, const struct bd_files *fs,
                                   struct ids *ids, struct image *im, struct fds *out,
                                   struct bd_files_image_stats *st)
{
        struct bd_sysinfo si;
        size_t nsock = 0;
        for (size_t i = 0; i < fs->n; i++) {
                const struct bd_file *f = &fs->f[i];
                if (f->owner_pid)
                        return refuse(in->pid, f,
                                      "an owner for SIGIO set by F_SETOWN "
                                      "(not supported yet)");
                if (f->kind == BD_FILE_SOCKET && f->have_file)
                        nsock++;
                else if (!is_epoll(f) && not_reopenable(f))
                        return refuse(in->pid, f, not_reopenable(f));
        }
        struct sock *sk = calloc(nsock + 1, sizeof(*sk));
        struct sock_plan plan;
        struct bd_error *err = sk ? NULL : &bd_error_nomem;
        if (!err && nsock)
                err = read_socks(prog, fs, sk, nsock, &plan);
        if (!err && nsock && !(err = bd_sysinfo_read(prog, &si)) && !si.have_uptime)
                err = bd_error_new(BD_ERR_NOT_FOUND, "the kernel's clock (tk_core) did not read");
        for (size_t i = 0, j = 0; !err && i < fs->n; i++) {
                const struct bd_file *f = &fs->f[i];
                int fresh;
                uint32_t id = id_of(ids, f->file, &fresh);
                FdinfoEntry *e = &out->fi[out->n++];
                *e = (FdinfoEntry)FDINFO_ENTRY__INIT;
                e->id = id, e->fd = (uint32_t)f->fd;
                e->flags = f->flags & BD_O_CLOEXEC ? FD_CLOEXEC_ : 0;
                e->type = f->kind == BD_FILE_SOCKET ? FD_TYPES__INETSK
                          : is_epoll(f)             ? FD_TYPES__EVENTPOLL
                                                    : FD_TYPES__REG;
                if (is_epoll(f)) {
                        if (fresh)
                                err = epoll_entry(prog, in->pid, fs, f, id, im, st);
                } else if (f->kind == BD_FILE_SOCKET) {
                        const struct sock *s = &sk[j++];
                        const char *why = fresh ? sock_refusal(s) : NULL;
                        struct bd_tcp_conn c = {0};
                        int conn = fresh && !why && val(s, S_STATE) == TCP_ESTABLISHED_;
                        if (why)
                                err = refuse(in->pid, f, why);
                        if (!err && conn && (err = bd_tcp_conn_read(prog, s->sk, &c)))
                                err = bd_error_wrap(err, "pid %d: fd %d", in->pid, f->fd);
                        if (!err && fresh)
                                sock_entry(im, id, f, s, &plan, conn ? &c : NULL);
                        if (!err && conn)
                                err = tcp_stream(dir, f->ino, &c, si.mono_ns / 1000000u);
                        if (!err && conn)
                                st->connections++, st->queued += c.inq_len + c.outq_len;
                        bd_tcp_conn_free(&c);
                } else if (fresh) {
                        reg_entry(im, id, f, f->flags & ~BD_O_CLOEXEC, f->pos);
                }
        }
        free(sk);
        return err;
}

struct bd_error *bd_files_image_write(struct bd_program *prog, struct bd_criu_dir *dir,
                                      const struct bd_files_image *in,
                                      struct bd_files_image_stats *st)
{
        memset(st, 0, sizeof(*st));
        struct bd_files *fs = NULL, *mapped = NULL, *paths = NULL;
        uint64_t task_fs = 0;
        int64_t off[5];
        static const enum bd_layout_id fs_ids[5] = {
            BDL_FS_UMASK, BDL_FS_ROOT_MNT, BDL_FS_ROOT_DENTRY, BDL_FS_PWD_MNT, BDL_FS_PWD_DENTRY};
        uint32_t umask = 0;
        struct bd_path_ref ref[CWD_AND_ROOT]; /* cwd, root */
        const struct bd_layout *l;
        struct bd_error *err = bd_program_layout(prog, &l);
        if (!err)
                err = bd_layout_need(l, fs_ids, 5, off);
        if (!err)
                err = bd_files_read(prog, in->pid, &fs);
        if (!err)
                err = bd_files_of(prog, in->mapped, in->nmapped, &mapped);
        if (!err)
                err = bd_task_pointer(prog, in->pid, BDL_TASK_FS, &task_fs);
        if (!err && !bd_walk_kptr_ok(prog->k, task_fs, 8))
                err = bd_error_new(BD_ERR_PROTOCOL, "pid %d: fs_struct pointer 0x%" PRIx64, in->pid,
                                   task_fs);
        if (!err) {
                struct bd_kernel_iov iov[5] = {
                    {task_fs + (uint64_t)off[0], &umask, 4},
                    {task_fs + (uint64_t)off[1], &ref[1].mnt, 8},
                    {task_fs + (uint64_t)off[2], &ref[1].dentry, 8},
                    {task_fs + (uint64_t)off[3], &ref[0].mnt, 8},
                    {task_fs + (uint64_t)off[4], &ref[0].dentry, 8},
                };
                err = bd_walk_read(prog->k, iov, 5, "fs_struct");
        }
        if (!err)
                err = bd_paths_of(prog, ref, CWD_AND_ROOT, &paths);
        size_t cap = in->nmapped + (fs ? fs->n : 0) + CWD_AND_ROOT + 1;
        struct image im = {.fe = calloc(cap, sizeof(*im.fe)),
                           .reg = calloc(cap, sizeof(*im.reg)),
                           .isk = calloc(cap, sizeof(*im.isk)),
                           .opts = calloc(cap, sizeof(*im.opts)),
                           .ipo = calloc(cap, sizeof(*im.ipo)),
                           .addr = calloc(8 * cap, sizeof(*im.addr)),
                           .epf = calloc(cap, sizeof(*im.epf)),
                           .memfd = calloc(cap, sizeof(*im.memfd)),
                           .blocks = calloc(2 * cap, sizeof(*im.blocks)),
                           .fown = FOWN_ENTRY__INIT};
        struct ids ids = {.file = calloc(cap, sizeof(*ids.file))};
        struct fds fds = {.fi = calloc(cap, sizeof(*fds.fi))};
        if (!err && (!im.fe || !im.reg || !im.isk || !im.opts || !im.ipo || !im.addr || !im.epf ||
                     !im.memfd || !im.blocks || !ids.file || !fds.fi))
                err = &bd_error_nomem;
        /* The mapped files are opened read-only, or read-write for a
         * shared writable mapping, at offset 0 (criu's dump as well). */
        for (size_t i = 0; !err && i < in->nmapped; i++) {
                const struct bd_file *f = &mapped->f[i];
                int fresh;
                if (in->mapped[i] == in->agent_memfd) {
                        memfd_entry(&im, id_of(&ids, in->mapped[i], &fresh));
                        continue;
                }
                const char *why = not_reopenable(f);
                if (why) {
                        char path[160];
                        bd_text_escape(path, sizeof(path), f->path ? f->path : "?");
                        err = bd_error_new(BD_ERR_RANGE,
                                           "pid %d: mapped file %s cannot be restored: %s", in->pid,
                                           path, why);
                } else {
                        reg_entry(&im, id_of(&ids, in->mapped[i], &fresh), f,
                                  in->mapped_rw[i] ? 2 /* O_RDWR */ : 0, 0);
                }
        }
        if (!err)
                err = fd_entries(prog, dir, in, fs, &ids, &im, &fds, st);
        uint32_t path_id[CWD_AND_ROOT];
        for (int i = 0; !err && i < CWD_AND_ROOT; i++) {
                const struct bd_file *f = &paths->f[i];
                const char *why = not_reopenable(f);
                if (why || f->kind != BD_FILE_DIR) {
                        err = bd_error_new(BD_ERR_RANGE, "pid %d: its %s cannot be restored: %s",
                                           in->pid, i ? "root" : "working directory",
                                           why ? why : "not a directory");
                        break;
                }
                /* Never an fd's: criu gives cwd and root ids of their own. */
                ids.file[ids.n++] = 0;
                path_id[i] = (uint32_t)ids.n;
                reg_entry(&im, path_id[i], f, 0, 0);
        }
        const ProtobufCMessage **msgs = calloc(cap, sizeof(*msgs));
        if (!err && !msgs)
                err = &bd_error_nomem;
        char name[64];
        if (!err) {
                for (size_t i = 0; i < im.n; i++)
                        msgs[i] = &im.fe[i].base;
                err = bd_criu_img_write(dir, "files.img", BD_CRIU_MAGIC_FILES, msgs, im.n);
        }
        if (!err) {
                for (size_t i = 0; i < fds.n; i++)
                        msgs[i] = &fds.fi[i].base;
                snprintf(name, sizeof(name), "fdinfo-%u.img", in->table_id);
                err = bd_criu_img_write(dir, name, BD_CRIU_MAGIC_FDINFO, msgs, fds.n);
        }
        if (!err) {
                FsEntry fe = FS_ENTRY__INIT;
                fe.cwd_id = path_id[0], fe.root_id = path_id[1];
                fe.has_umask = 1, fe.umask = umask;
                msgs[0] = &fe.base;
                snprintf(name, sizeof(name), "fs-%d.img", in->pid);
                err = bd_criu_img_write(dir, name, BD_CRIU_MAGIC_FS, msgs, 1);
        }
        if (!err) {
                st->fds = fds.n, st->files = im.n;
                for (size_t i = 0; i < im.n; i++)
                        st->sockets += im.fe[i].type == FD_TYPES__INETSK;
                err = takeover_lines(&im, st);
        }
        free(msgs);
        for (size_t i = 0; i < im.nblocks; i++)
                free(im.blocks[i]);
        free(im.fe), free(im.reg), free(im.isk), free(im.opts), free(im.ipo), free(im.addr);
        free(im.epf), free(im.memfd), free(im.blocks);
        free(ids.file), free(fds.fi);
        bd_files_free(fs), bd_files_free(mapped), bd_files_free(paths);
        return err;
}
