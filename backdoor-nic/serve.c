#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/audit.h"
#include "../common/rdma_conn.h"
#include "rejects.h"
#include "session.h"

struct nic_conn {
        struct bd_conn c;
        struct bd_nic *nic;
        struct bd_session s;
        struct ibv_mr *window_mr[BD_MAX_WINDOWS];
        /* One BD_READ_MAX slot per send slot: pinned memory, so only an
         * authenticated peer gets it. */
        uint8_t *bounce;
        struct ibv_mr *bounce_mr;
        uint64_t accepted_ns;
        /* Every state but serving ends by a deadline: authentication, or a
         * disconnect the peer never completes. 0: none. */
        uint64_t deadline;
        int disconnecting; /* rdma_disconnect() called */
        /* Since when received messages wait for a send slot to answer them
         * in (the peer does not take our sends); 0: they do not wait. */
        uint64_t stalled_since;
        char host[64]; /* the peer's address, without the port */
        /* Receives in arrival order, handled while a send slot is free to
         * answer each: a peer that takes no sends stalls only itself. */
        struct ibv_wc deferred[BD_QUEUE_DEPTH];
        unsigned ndeferred;
        struct nic_conn *next;
};

struct bd_nic {
        const struct bd_nic_config *cfg;
        struct rdma_event_channel *ch;
        struct rdma_cm_id *listen_id;
        struct nic_conn *conns;
        unsigned nconns;
        struct bd_rejects rejects;
        /* When the last request came, and how long after the one before. */
        uint64_t last_request_ns, request_gap_ns;
};

/* How long a connection may wait for its peer: to complete a disconnect,
 * to take a REFUSED before it is disconnected, and to take a send (answers
 * to its requests wait meanwhile). */
#define CLOSE_WAIT_NS    2000000000ull
#define REFUSE_LINGER_NS 200000000ull
#define SEND_STALL_NS    2000000000ull
#define LISTEN_BACKLOG   256
/* Connection-manager events handled per turn of the loop, so that a storm of
 * connect requests does not keep authenticated peers waiting. */
#define CM_EVENTS_PER_TURN 32
/* Completion-queue polls between two looks at the clock and the connection
 * manager while awake: a poll of rxe's queue stays in user space, a look
 * at either is a system call. In the lab, a busy bdnicd that looked every
 * 128 polls answered slower than a sleeping one (bdbench's 64-byte median
 * 1.1-6.0 ms, against 0.84-0.94 ms looking every 65,536). Counted per
 * queue polled (and one per turn, so that with no connection the
 * connection manager is still looked at), so that the time between looks
 * does not grow with the connections. */
#define POLLS_PER_CHECK 4096

static void peer_name(struct rdma_cm_id *id, char *host_out, size_t host_cap, char *buf, size_t cap)
{
        struct sockaddr *sa = rdma_get_peer_addr(id);
        char host[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (sa && sa->sa_family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *)sa;
                inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
                port = ntohs(in->sin_port);
        } else if (sa && sa->sa_family == AF_INET6) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
                inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
                port = ntohs(in6->sin6_port);
        }
        snprintf(buf, cap, "%s:%d", host, port);
        snprintf(host_out, host_cap, "%s", host);
}

struct bd_error *bd_nic_listen(const struct bd_nic_config *cfg, struct bd_nic **out)
{
        struct bd_nic *nic = calloc(1, sizeof(*nic));
        if (!nic)
                return &bd_error_nomem;
        nic->cfg = cfg;
        struct bd_error *err = NULL;
        nic->ch = rdma_create_event_channel();
        if (!nic->ch) {
                err = bd_error_new(BD_ERR_UNREACHABLE,
                                   "rdma_create_event_channel: %s "
                                   "(is rdma_ucm loaded?)",
                                   strerror(errno));
                goto fail;
        }
        fcntl(nic->ch->fd, F_SETFL, fcntl(nic->ch->fd, F_GETFL) | O_NONBLOCK);
        if (rdma_create_id(nic->ch, &nic->listen_id, nic, RDMA_PS_TCP)) {
                err = bd_error_new(BD_ERR_UNREACHABLE, "rdma_create_id: %s", strerror(errno));
                goto fail;
        }
        char port[16];
        snprintf(port, sizeof(port), "%d", cfg->port);
        struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                                 .ai_socktype = SOCK_STREAM};
        struct addrinfo *ai;
        int gai = getaddrinfo(cfg->listen_addr, port, &hints, &ai);
        if (gai) {
                err = bd_error_new(BD_ERR_USAGE, "listen address %s: %s", cfg->listen_addr,
                                   gai_strerror(gai));
                goto fail;
        }
        int rc = rdma_bind_addr(nic->listen_id, ai->ai_addr);
        freeaddrinfo(ai);
        if (rc) {
                err = bd_error_new(BD_ERR_UNREACHABLE,
                                   "cannot bind %s:%d: %s (no RDMA device on that address?)",
                                   cfg->listen_addr, cfg->port, strerror(errno));
                goto fail;
        }
        /* Connect requests beyond the backlog are dropped by the kernel
         * before this process sees them: in a flood from peers without the
         * key, a short backlog would drop a monitor's request as readily as
         * theirs, and refusing costs this loop little. */
        if (rdma_listen(nic->listen_id, LISTEN_BACKLOG)) {
                err = bd_error_new(BD_ERR_UNREACHABLE, "rdma_listen: %s", strerror(errno));
                goto fail;
        }
        *out = nic;
        return NULL;
fail:
        bd_nic_destroy(nic);
        return err;
}

static void conn_free(struct nic_conn *nc)
{
        for (unsigned i = 0; i < BD_MAX_WINDOWS; i++)
                if (nc->window_mr[i])
                        ibv_dereg_mr(nc->window_mr[i]);
        if (nc->bounce_mr)
                ibv_dereg_mr(nc->bounce_mr);
        free(nc->bounce);
        struct rdma_cm_id *id = nc->c.id;
        bd_conn_destroy(&nc->c);
        if (id)
                rdma_destroy_id(id);
        free(nc);
}

static void disconnect(struct nic_conn *nc)
{
        if (nc->disconnecting)
                return;
        nc->disconnecting = 1;
        nc->deadline = bd_now_ns() + CLOSE_WAIT_NS;
        rdma_disconnect(nc->c.id);
}

static void conn_close(struct nic_conn *nc, const char *why)
{
        if (nc->s.state == BD_SESSION_CLOSING)
                return;
        bd_session_close(&nc->s, why);
        disconnect(nc);
}

static void conn_unlink(struct bd_nic *nic, struct nic_conn *nc)
{
        const struct bd_session *s = &nc->s;
        bd_audit("disconnect peer=%s reason=\"%s\" requests=%llu read_bytes=%llu "
                 "scanned_bytes=%llu uc_requests=%llu uc_dropped=%llu",
                 s->peer, s->close_reason[0] ? s->close_reason : "peer disconnected",
                 (unsigned long long)s->requests, (unsigned long long)s->read_bytes,
                 (unsigned long long)s->scanned_bytes, (unsigned long long)s->uc_requests,
                 (unsigned long long)s->uc_dropped);
        for (struct nic_conn **p = &nic->conns; *p; p = &(*p)->next)
                if (*p == nc) {
                        *p = nc->next;
                        nic->nconns--;
                        break;
                }
        conn_free(nc);
}

static int unauthenticated(const struct nic_conn *nc)
{
        return nc->s.state == BD_SESSION_ACCEPTED || nc->s.state == BD_SESSION_CHALLENGED;
}

/* Make room by ending the oldest connection that is not serving (still
 * authenticating, refused, or closing): a flood of connections without the
 * key, from many addresses, then only ever displaces itself, never a
 * monitor that has authenticated. 0 if there is none. */
static int evict_oldest(struct bd_nic *nic)
{
        struct nic_conn *oldest = NULL;
        for (struct nic_conn *nc = nic->conns; nc; nc = nc->next)
                if (nc->s.state != BD_SESSION_SERVING &&
                    (!oldest || nc->accepted_ns < oldest->accepted_ns))
                        oldest = nc;
        if (!oldest)
                return 0;
        bd_session_close(&oldest->s, "evicted unauthenticated (too many connections)");
        rdma_disconnect(oldest->c.id);
        conn_unlink(nic, oldest);
        return 1;
}

static void on_connect_request(struct bd_nic *nic, struct rdma_cm_event *ev)
{
        struct rdma_cm_id *id = ev->id;
        char peer[64], host[64];
        peer_name(id, host, sizeof(host), peer, sizeof(peer));
        /* Refusing costs no queue pair: a flooding address is turned away
         * cheaply, and only it. */
        unsigned from_host = 0;
        for (struct nic_conn *nc = nic->conns; nc; nc = nc->next)
                from_host += nc->s.state != BD_SESSION_SERVING && !strcmp(nc->host, host);
        const char *refused = NULL;
        if (from_host >= nic->cfg->max_unauth_per_source)
                refused = "too many unauthenticated from its address";
        else if (nic->nconns >= nic->cfg->max_connections && !evict_oldest(nic))
                refused = "too many connections";
        if (refused) {
                bd_rejects_note(&nic->rejects, peer, host, refused, bd_now_ns());
                rdma_reject(id, NULL, 0);
                rdma_destroy_id(id);
                return;
        }
        struct nic_conn *nc = calloc(1, sizeof(*nc));
        if (!nc) {
                rdma_reject(id, NULL, 0);
                rdma_destroy_id(id);
                return;
        }
        nc->nic = nic;
        bd_session_init(&nc->s, nic->cfg, peer);
        snprintf(nc->host, sizeof(nc->host), "%s", host);
        id->context = nc;
        struct bd_error *err = bd_conn_create(&nc->c, id, BD_QUEUE_DEPTH);
        if (err) {
                bd_audit("reject peer=%s reason=\"%s\"", peer, err->message);
                bd_error_destroy(err);
                rdma_reject(id, NULL, 0);
                conn_free(nc);
                return;
        }
        if ((err = bd_conn_uc_create(&nc->c))) {
                bd_audit("uc-unavailable peer=%s reason=\"%s\"", peer, err->message);
                bd_error_destroy(err);
        }
        struct ibv_device_attr attr;
        uint8_t rd = 16;
        if (!ibv_query_device(id->verbs, &attr) && attr.max_qp_rd_atom < rd)
                rd = (uint8_t)attr.max_qp_rd_atom;
        /* rdma_cm reports the peer's initiator depth, from our side, as the
         * responder resources it asks of us. */
        if (ev->param.conn.responder_resources < rd)
                rd = ev->param.conn.responder_resources;
        struct rdma_conn_param param = {
            .responder_resources = rd,
            .initiator_depth = 0,
            .rnr_retry_count = 7,
        };
        if (rdma_accept(id, &param)) {
                bd_audit("reject peer=%s reason=\"rdma_accept: %s\"", peer, strerror(errno));
                conn_free(nc);
                return;
        }
        nc->accepted_ns = bd_now_ns();
        nc->deadline = nc->accepted_ns + (uint64_t)nic->cfg->auth_timeout_ms * 1000000u;
        nc->next = nic->conns;
        nic->conns = nc;
        nic->nconns++;
        bd_audit("connect peer=%s", peer);
}

/* A send that fails ends the connection at once, a REFUSED's included. */
static void send_or_close(struct nic_conn *nc, const struct bd_msg *msg, struct ibv_send_wr *first)
{
        struct bd_error *err = bd_conn_send(&nc->c, msg, first);
        if (err) {
                conn_close(nc, err->message);
                disconnect(nc);
                bd_error_destroy(err);
        }
}

static void on_established(struct nic_conn *nc)
{
        struct bd_auth_channel ch;
        struct bd_error *err = bd_conn_channel(nc->c.id, 1, &ch);
        if (err) {
                char why[96];
                snprintf(why, sizeof(why), "cannot bind the handshake: %s", err->message);
                bd_error_destroy(err);
                conn_close(nc, why);
                return;
        }
        ch.nic_uc_qpn = nc->c.uc ? nc->c.uc->qp_num : 0;
        struct bd_msg hello;
        bd_session_hello(&nc->s, &ch, &hello);
        send_or_close(nc, &hello, NULL);
}

/* Send a REFUSED, then disconnect once it has gone out (its send
 * completes) or REFUSE_LINGER_NS has passed, whichever comes first: a peer
 * that takes no sends does not keep the connection. */
static void send_refused(struct nic_conn *nc, const struct bd_msg *refused)
{
        send_or_close(nc, refused, NULL);
        if (!nc->disconnecting)
                nc->deadline = bd_now_ns() + REFUSE_LINGER_NS;
}

/* UC fails this connection: its small reads then go unanswered there and
 * are asked again over RC; the connection itself is not ended. */
static void uc_off(struct nic_conn *nc, struct bd_error *err)
{
        if (nc->s.uc)
                bd_audit("uc-degraded peer=%s reason=\"%s\"", nc->s.peer, err->message);
        nc->s.uc = 0;
        bd_error_destroy(err);
}

/* The peer proved a key: its bounce buffer, and its own registration of
 * each direct window, made only now, in its own PD, so that an
 * unauthenticated QP has no memory key it could use, guessed or not. */
static void grant(struct nic_conn *nc, struct bd_msg *welcome)
{
        const struct bd_nic_config *cfg = nc->nic->cfg;
        size_t bytes = (size_t)BD_QUEUE_DEPTH * BD_READ_MAX;
        nc->bounce = aligned_alloc(4096, bytes);
        nc->bounce_mr = nc->bounce ? ibv_reg_mr(nc->c.pd, nc->bounce, bytes, 0) : NULL;
        if (!nc->bounce_mr) {
                char why[96];
                snprintf(why, sizeof(why), "cannot register a bounce buffer: %s", strerror(errno));
                struct bd_msg refused;
                bd_session_refuse(&nc->s, BD_ERR_INTERNAL, why, &refused);
                send_refused(nc, &refused);
                return;
        }
        struct bd_window_desc *desc = welcome->u.welcome.windows;
        for (unsigned i = 0; i < cfg->nwindows; i++) {
                const struct bd_nic_window *win = &cfg->windows[i];
                if (win->desc.mode != BD_MODE_DIRECT)
                        continue;
                /* Remote read only, read-write window or not: the RDMA
                 * device itself refuses a one-sided WRITE or atomic from any
                 * peer (a remote access error), so every write is a request
                 * that this CPU checks, audits and makes (bd_window_write). */
                nc->window_mr[i] =
                    ibv_reg_mr(nc->c.pd, win->map, win->map_len, IBV_ACCESS_REMOTE_READ);
                if (!nc->window_mr[i]) {
                        bd_audit("window-degraded peer=%s window=%s reason=\"ibv_reg_mr: %s\" "
                                 "mode=mediated",
                                 nc->s.peer, win->desc.name, strerror(errno));
                        desc[i].mode = BD_MODE_MEDIATED;
                        continue;
                }
                desc[i].remote_addr = (uintptr_t)win->map;
                desc[i].rkey = nc->window_mr[i]->rkey;
        }
        struct bd_error *err =
            nc->s.uc ? bd_conn_uc_connect(&nc->c, nc->s.ch.monitor_uc_qpn) : NULL;
        if (err) /* the monitor asks again over RC what UC leaves unanswered */
                uc_off(nc, err);
        bd_session_welcome(&nc->s, welcome);
        nc->deadline = 0;
        send_or_close(nc, welcome, NULL);
}

/* A READ too large to answer inline: its bytes go by RDMA WRITE into the
 * peer's sink, from this send slot's part of the bounce buffer. */
static void send_bulk(struct nic_conn *nc, const struct bd_session_out *out)
{
        uint32_t slot = bd_conn_next_send_slot(&nc->c);
        if (slot == BD_QUEUE_DEPTH) {
                conn_close(nc, "peer exceeded the queue depth");
                return;
        }
        uint8_t *bounce = nc->bounce + (size_t)slot * BD_READ_MAX;
        memcpy(bounce, out->bulk, out->bulk_len);
        struct ibv_sge sge = {(uintptr_t)bounce, out->bulk_len, nc->bounce_mr->lkey};
        struct ibv_send_wr write_wr = {
            .wr_id = bd_wr_id(BD_WR_RDMA, slot),
            .sg_list = &sge,
            .num_sge = 1,
            .opcode = IBV_WR_RDMA_WRITE,
            .wr.rdma = {out->sink_addr, out->sink_rkey},
        };
        send_or_close(nc, &out->msg, &write_wr);
}

static void on_recv(struct nic_conn *nc, uint32_t slot, uint32_t len)
{
        struct bd_session_out out;
        switch (bd_session_receive(&nc->s, bd_conn_recv_buf(&nc->c, slot), len, &out)) {
        case BD_STEP_NONE:
                break;
        case BD_STEP_SEND:
                send_or_close(nc, &out.msg, NULL);
                break;
        case BD_STEP_BULK:
                send_bulk(nc, &out);
                break;
        case BD_STEP_GRANT:
                grant(nc, &out.msg);
                break;
        case BD_STEP_REFUSE:
                send_refused(nc, &out.msg);
                break;
        case BD_STEP_CLOSE:
                disconnect(nc);
                break;
        }
        if (nc->s.state != BD_SESSION_CLOSING) {
                struct bd_error *err = bd_conn_post_recv(&nc->c, slot);
                if (err) {
                        conn_close(nc, err->message);
                        bd_error_destroy(err);
                }
        }
}

/* A sealed small read over UC, answered over UC (session.h). */
static void on_uc_recv(struct nic_conn *nc, uint32_t slot, uint32_t len)
{
        struct bd_session_out out;
        struct bd_error *err = NULL;
        if (bd_session_receive_uc(&nc->s, bd_conn_uc_recv_buf(&nc->c, slot), len, &out) ==
                BD_STEP_SEND &&
            (err = bd_conn_uc_send(&nc->c, &out.msg, &nc->s.seal))) {
                nc->s.uc_dropped++; /* no free UC send slot: as if lost */
                bd_error_destroy(err);
        }
        if ((err = bd_conn_uc_post_recv(&nc->c, slot)))
                uc_off(nc, err);
}

uint64_t bd_nic_spin_window(int spin_us, uint64_t request_gap_ns)
{
        if (spin_us != BD_SPIN_AUTO)
                return (uint64_t)spin_us * 1000u;
        if (request_gap_ns > BD_SPIN_AUTO_MAX_NS)
                return 0;
        return request_gap_ns < BD_SPIN_AUTO_MAX_NS / 2 ? 2 * request_gap_ns : BD_SPIN_AUTO_MAX_NS;
}

static void note_request(struct bd_nic *nic)
{
        uint64_t now = bd_now_ns();
        nic->request_gap_ns = nic->last_request_ns ? now - nic->last_request_ns : UINT64_MAX;
        nic->last_request_ns = now;
}

/* Drain one connection's completions, then answer the receives waiting
 * while a send slot is free; returns how many completions were handled. */
static int poll_conn(struct nic_conn *nc)
{
        struct ibv_wc wc[BD_QUEUE_DEPTH];
        int n = ibv_poll_cq(nc->c.cq, BD_QUEUE_DEPTH, wc), requests = 0;
        if (n < 0) {
                conn_close(nc, "polling its completion queue failed");
                return 0;
        }
        for (int i = 0; i < n; i++) {
                enum bd_wr_kind kind = bd_wr_kind_of(wc[i].wr_id);
                if (kind == BD_WR_UC_SEND || kind == BD_WR_UC_RECV) {
                        if (kind == BD_WR_UC_SEND)
                                bd_conn_uc_send_done(&nc->c, bd_wr_slot_of(wc[i].wr_id));
                        if (wc[i].status != IBV_WC_SUCCESS)
                                uc_off(nc, bd_error_new(BD_ERR_IO, "UC completion: %s",
                                                        ibv_wc_status_str(wc[i].status)));
                        else if (kind == BD_WR_UC_RECV) {
                                requests++;
                                on_uc_recv(nc, bd_wr_slot_of(wc[i].wr_id), wc[i].byte_len);
                        }
                        continue;
                }
                if (wc[i].status != IBV_WC_SUCCESS) {
                        char reason[96];
                        snprintf(reason, sizeof(reason), "completion error: %s",
                                 ibv_wc_status_str(wc[i].status));
                        conn_close(nc, reason);
                        /* A REFUSED that failed to go out ends the wait for it. */
                        disconnect(nc);
                        continue;
                }
                if (kind == BD_WR_SEND) {
                        bd_conn_send_done(&nc->c, bd_wr_slot_of(wc[i].wr_id));
                        if (nc->s.state == BD_SESSION_CLOSING && !nc->c.send_busy)
                                disconnect(nc);
                } else if (kind == BD_WR_RECV) {
                        requests++;
                        /* At most one per posted receive: the queue holds them. */
                        if (nc->ndeferred == BD_QUEUE_DEPTH)
                                conn_close(nc, "more receives than were posted");
                        else
                                nc->deferred[nc->ndeferred++] = wc[i];
                }
        }
        while (nc->ndeferred && nc->s.state != BD_SESSION_CLOSING) {
                if (bd_conn_next_send_slot(&nc->c) == BD_QUEUE_DEPTH) {
                        if (!nc->stalled_since)
                                nc->stalled_since = bd_now_ns();
                        break;
                }
                nc->stalled_since = 0;
                struct ibv_wc next = nc->deferred[0];
                memmove(nc->deferred, nc->deferred + 1, --nc->ndeferred * sizeof(next));
                on_recv(nc, bd_wr_slot_of(next.wr_id), next.byte_len);
        }
        /* After the answers: the clock is no part of a request's wait. */
        if (requests)
                note_request(nc->nic);
        return n;
}

/* Returns how many events were handled. */
static int on_cm_event(struct bd_nic *nic)
{
        struct rdma_cm_event *ev;
        int turn = 0;
        for (; turn < CM_EVENTS_PER_TURN && rdma_get_cm_event(nic->ch, &ev) == 0; turn++) {
                /* Acked before it is handled: an id is destroyed only once
                 * its events are acked (a refused request's, at once). */
                struct rdma_cm_event copy = *ev;
                struct nic_conn *nc = ev->id->context == nic ? NULL : ev->id->context;
                rdma_ack_cm_event(ev);
                if (copy.event == RDMA_CM_EVENT_CONNECT_REQUEST) {
                        on_connect_request(nic, &copy);
                        continue;
                }
                if (!nc)
                        continue;
                switch (copy.event) {
                case RDMA_CM_EVENT_ESTABLISHED:
                        on_established(nc);
                        break;
                case RDMA_CM_EVENT_DISCONNECTED:
                case RDMA_CM_EVENT_REJECTED:
                case RDMA_CM_EVENT_UNREACHABLE:
                case RDMA_CM_EVENT_CONNECT_ERROR:
                case RDMA_CM_EVENT_DEVICE_REMOVAL:
                        if (nc->s.state != BD_SESSION_CLOSING &&
                            copy.event != RDMA_CM_EVENT_DISCONNECTED)
                                bd_session_close(&nc->s, rdma_event_str(copy.event));
                        rdma_disconnect(nc->c.id);
                        conn_unlink(nic, nc);
                        break;
                default:
                        break;
                }
        }
        return turn;
}

/* Ends what has waited too long; returns the nanoseconds until the next
 * deadline (at most max_ns). */
static uint64_t check_deadlines(struct bd_nic *nic, uint64_t max_ns)
{
        uint64_t now = bd_now_ns(), next = now + max_ns;
        for (struct nic_conn *nc = nic->conns, *after; nc; nc = after) {
                after = nc->next;
                if (nc->s.state == BD_SESSION_SERVING && nc->stalled_since &&
                    now - nc->stalled_since > SEND_STALL_NS)
                        conn_close(nc, "the peer takes no sends (its receive queue is empty)");
                if (nc->deadline && now >= nc->deadline) {
                        if (unauthenticated(nc))
                                conn_close(nc, "no authentication in time");
                        else if (nc->s.state == BD_SESSION_CLOSING && !nc->disconnecting)
                                disconnect(nc); /* the REFUSED did not go out */
                        else if (nc->s.state == BD_SESSION_CLOSING) {
                                /* The peer never completed the disconnect. */
                                conn_unlink(nic, nc);
                                continue;
                        }
                }
                if (nc->deadline && nc->deadline < next)
                        next = nc->deadline;
                if (nc->s.state == BD_SESSION_SERVING && nc->stalled_since &&
                    nc->stalled_since + SEND_STALL_NS < next)
                        next = nc->stalled_since + SEND_STALL_NS;
        }
        now = bd_now_ns();
        uint64_t wait = next > now ? next - now : 0,
                 summary = bd_rejects_flush(&nic->rejects, now, 0);
        return summary < wait ? summary : wait;
}

struct bd_error *bd_nic_run(struct bd_nic *nic, volatile int *stop)
{
        struct pollfd pfd[1 + 64];
        int awake = 0;
        nic->request_gap_ns = UINT64_MAX;
        for (unsigned polls = 0; !*stop;) {
                int handled = 0;
                for (struct nic_conn *nc = nic->conns; nc; nc = nc->next, polls++)
                        handled += poll_conn(nc);
                /* An empty poll yields: the kernel work that moves this
                 * NIC's messages (rxe's, in the lab) may wait for this CPU.
                 * Without it, a polling bdnicd's RC reads took 2.8-3.3 ms
                 * in the lab, against 1.1-1.2 with it and 2.0-2.4 asleep. */
                if (++polls < POLLS_PER_CHECK && (handled || awake)) {
                        if (!handled)
                                sched_yield();
                        continue;
                }
                polls = 0;
                handled += on_cm_event(nic);
                uint64_t until = check_deadlines(nic, 500000000ull);
                /* A monitor's requests come in bursts: sleeping between two of
                 * them costs a wake-up each (an interrupt and a reschedule),
                 * so stay awake while the requests' pace says the next is
                 * near, and sleep when idle. */
                awake = handled || nic->cfg->busy_poll ||
                        bd_now_ns() - nic->last_request_ns <
                            bd_nic_spin_window(nic->cfg->spin_us, nic->request_gap_ns);
                if (awake)
                        continue;

                /* Arm every CQ, then poll once more before sleeping so that a
                 * completion racing the arming is not slept through. Only a
                 * message wakes a serving connection (a monitor sends them
                 * solicited): its send completions, the ACKs of answers
                 * given, wait for the next turn, unless answers wait for a
                 * send slot or a closing waits for its last send. */
                unsigned n = 0;
                pfd[n++] = (struct pollfd){.fd = nic->ch->fd, .events = POLLIN};
                for (struct nic_conn *nc = nic->conns; nc && n < 65; nc = nc->next) {
                        ibv_req_notify_cq(nc->c.cq,
                                          nc->s.state == BD_SESSION_SERVING && !nc->ndeferred);
                        handled += poll_conn(nc);
                        pfd[n++] = (struct pollfd){.fd = nc->c.channel->fd, .events = POLLIN};
                }
                if (handled)
                        continue;
                int rc = poll(pfd, n, (int)(until / 1000000u) + 1);
                if (rc < 0 && errno != EINTR)
                        return bd_error_new(BD_ERR_INTERNAL, "poll: %s", strerror(errno));
                unsigned i = 1;
                for (struct nic_conn *nc = nic->conns; nc && i < n; nc = nc->next, i++) {
                        if (!(pfd[i].revents & POLLIN))
                                continue;
                        struct ibv_cq *cq;
                        void *ctx;
                        if (ibv_get_cq_event(nc->c.channel, &cq, &ctx) == 0)
                                ibv_ack_cq_events(cq, 1);
                }
        }
        return NULL;
}

void bd_nic_destroy(struct bd_nic *nic)
{
        if (!nic)
                return;
        while (nic->conns) {
                struct nic_conn *nc = nic->conns;
                bd_session_close(&nc->s, "nic stopping");
                rdma_disconnect(nc->c.id);
                conn_unlink(nic, nc);
        }
        bd_rejects_flush(&nic->rejects, bd_now_ns(), 1);
        if (nic->listen_id)
                rdma_destroy_id(nic->listen_id);
        if (nic->ch)
                rdma_destroy_event_channel(nic->ch);
        free(nic);
}
