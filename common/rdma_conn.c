#include "rdma_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(BD_QUEUE_DEPTH <= 32, "send_busy is a 32-bit bitmap");

struct bd_error *bd_conn_create(struct bd_conn *c, struct rdma_cm_id *id, unsigned extra_wr)
{
        memset(c, 0, sizeof(*c));
        c->id = id;
        const char *what;
        c->pd = ibv_alloc_pd(id->verbs);
        if (!c->pd) {
                what = "ibv_alloc_pd";
                goto fail;
        }
        c->channel = ibv_create_comp_channel(id->verbs);
        if (!c->channel) {
                what = "ibv_create_comp_channel";
                goto fail;
        }
        fcntl(c->channel->fd, F_SETFL, fcntl(c->channel->fd, F_GETFL) | O_NONBLOCK);
        int cqe = 2 * BD_QUEUE_DEPTH + (int)extra_wr;
        c->cq = ibv_create_cq(id->verbs, cqe, NULL, c->channel, 0);
        if (!c->cq) {
                what = "ibv_create_cq";
                goto fail;
        }
        struct ibv_qp_init_attr qa = {
            .send_cq = c->cq,
            .recv_cq = c->cq,
            .qp_type = IBV_QPT_RC,
            .cap =
                {
                    .max_send_wr = 2 * BD_QUEUE_DEPTH + extra_wr,
                    .max_recv_wr = BD_QUEUE_DEPTH,
                    .max_send_sge = 1,
                    .max_recv_sge = 1,
                },
        };
        if (rdma_create_qp(id, c->pd, &qa)) {
                what = "rdma_create_qp";
                goto fail;
        }
        size_t bytes = (size_t)2 * BD_QUEUE_DEPTH * BD_MSG_MAX;
        c->slots = aligned_alloc(4096, (bytes + 4095) & ~(size_t)4095);
        if (!c->slots) {
                what = "allocating message slots";
                goto fail;
        }
        c->slots_mr = ibv_reg_mr(c->pd, c->slots, bytes, IBV_ACCESS_LOCAL_WRITE);
        if (!c->slots_mr) {
                what = "ibv_reg_mr(message slots)";
                goto fail;
        }
        for (uint32_t i = 0; i < BD_QUEUE_DEPTH; i++) {
                struct bd_error *err = bd_conn_post_recv(c, i);
                if (err) {
                        bd_conn_destroy(c);
                        return err;
                }
        }
        if (ibv_req_notify_cq(c->cq, 0)) {
                what = "ibv_req_notify_cq";
                goto fail;
        }
        return NULL;
fail:;
        int saved = errno;
        bd_conn_destroy(c);
        return bd_error_new(BD_ERR_INTERNAL, "%s: %s", what, strerror(saved));
}

void bd_conn_destroy(struct bd_conn *c)
{
        if (c->id && c->id->qp)
                rdma_destroy_qp(c->id);
        if (c->slots_mr)
                ibv_dereg_mr(c->slots_mr);
        free(c->slots);
        if (c->cq)
                ibv_destroy_cq(c->cq);
        if (c->channel)
                ibv_destroy_comp_channel(c->channel);
        if (c->pd)
                ibv_dealloc_pd(c->pd);
        struct rdma_cm_id *id = c->id;
        memset(c, 0, sizeof(*c));
        c->id = id;
}

uint8_t *bd_conn_recv_buf(struct bd_conn *c, uint32_t slot)
{
        return c->slots + (size_t)slot * BD_MSG_MAX;
}

static uint8_t *send_buf(struct bd_conn *c, uint32_t slot)
{
        return c->slots + (size_t)(BD_QUEUE_DEPTH + slot) * BD_MSG_MAX;
}

struct bd_error *bd_conn_post_recv(struct bd_conn *c, uint32_t slot)
{
        struct ibv_sge sge = {
            .addr = (uintptr_t)bd_conn_recv_buf(c, slot),
            .length = BD_MSG_MAX,
            .lkey = c->slots_mr->lkey,
        };
        struct ibv_recv_wr wr = {
            .wr_id = bd_wr_id(BD_WR_RECV, slot), .sg_list = &sge, .num_sge = 1};
        struct ibv_recv_wr *bad;
        int rc = ibv_post_recv(c->id->qp, &wr, &bad);
        if (rc)
                return bd_error_new(BD_ERR_IO, "ibv_post_recv: %s", strerror(rc));
        return NULL;
}

uint32_t bd_conn_next_send_slot(const struct bd_conn *c)
{
        uint32_t slot = 0;
        while (slot < BD_QUEUE_DEPTH && (c->send_busy & (1u << slot)))
                slot++;
        return slot;
}

struct bd_error *bd_conn_send(struct bd_conn *c, const struct bd_msg *msg,
                              struct ibv_send_wr *first)
{
        uint32_t slot = bd_conn_next_send_slot(c);
        if (slot == BD_QUEUE_DEPTH)
                return bd_error_new(BD_ERR_INTERNAL, "no free send slot");
        size_t len = bd_wire_encode(msg, send_buf(c, slot), BD_MSG_MAX);
        if (!len)
                return bd_error_new(BD_ERR_INTERNAL, "message of type %u does not encode",
                                    msg->type);
        struct ibv_sge sge = {
            .addr = (uintptr_t)send_buf(c, slot),
            .length = (uint32_t)len,
            .lkey = c->slots_mr->lkey,
        };
        struct ibv_send_wr wr = {
            .wr_id = bd_wr_id(BD_WR_SEND, slot),
            .sg_list = &sge,
            .num_sge = 1,
            .opcode = IBV_WR_SEND,
            /* Solicited: the peer may sleep until a message comes, not be
             * woken by the completions of its own sends (bdnicd). */
            .send_flags = IBV_SEND_SIGNALED | IBV_SEND_SOLICITED,
        };
        struct ibv_send_wr *head = &wr, *bad;
        if (first) {
                first->next = &wr;
                head = first;
        }
        int rc = ibv_post_send(c->id->qp, head, &bad);
        if (rc)
                return bd_error_new(BD_ERR_IO, "ibv_post_send: %s", strerror(rc));
        c->send_busy |= 1u << slot;
        return NULL;
}

void bd_conn_send_done(struct bd_conn *c, uint32_t slot)
{
        if (slot < BD_QUEUE_DEPTH)
                c->send_busy &= ~(1u << slot);
}

int bd_conn_wait(struct bd_conn *c, struct ibv_wc *wc, int max, int timeout_ms, int busy)
{
        uint64_t deadline =
            timeout_ms < 0 ? UINT64_MAX : bd_now_ns() + (uint64_t)timeout_ms * 1000000u;
        for (unsigned spins = 0;; spins++) {
                int n = ibv_poll_cq(c->cq, max, wc);
                if (n)
                        return n;
                /* Spinning reads the clock only now and then: under
                 * emulation a clock read costs more than a poll. */
                if (busy && spins % 256)
                        continue;
                uint64_t now = bd_now_ns();
                if (now >= deadline)
                        return 0;
                if (busy)
                        continue;
                /* Re-poll after arming: a completion may have landed between
                 * the empty poll and the request for notification. */
                if (ibv_req_notify_cq(c->cq, 0))
                        return -1;
                n = ibv_poll_cq(c->cq, max, wc);
                if (n)
                        return n;
                struct pollfd pfd = {.fd = c->channel->fd, .events = POLLIN};
                int ms = timeout_ms < 0 ? -1 : (int)((deadline - now + 999999) / 1000000);
                int rc = poll(&pfd, 1, ms);
                if (rc < 0 && errno != EINTR)
                        return -1;
                if (rc > 0) {
                        struct ibv_cq *ev_cq;
                        void *ev_ctx;
                        if (ibv_get_cq_event(c->channel, &ev_cq, &ev_ctx) == 0)
                                ibv_ack_cq_events(ev_cq, 1);
                }
        }
}

int bd_cm_wait(struct rdma_event_channel *ch, int timeout_ms, int *status,
               struct rdma_cm_id **id_out)
{
        struct pollfd pfd = {.fd = ch->fd, .events = POLLIN};
        int rc;
        do
                rc = poll(&pfd, 1, timeout_ms);
        while (rc < 0 && errno == EINTR);
        if (rc == 0) {
                errno = ETIMEDOUT;
                return -1;
        }
        if (rc < 0)
                return -1;
        struct rdma_cm_event *ev;
        if (rdma_get_cm_event(ch, &ev))
                return -1;
        int type = ev->event;
        if (status)
                *status = ev->status;
        if (id_out)
                *id_out = ev->id;
        rdma_ack_cm_event(ev);
        return type;
}

/* An address as 16 bytes: IPv6 as it is, IPv4 mapped (::ffff:a.b.c.d). */
static void addr16(const struct sockaddr *sa, uint8_t out[16])
{
        memset(out, 0, 16);
        if (sa && sa->sa_family == AF_INET6) {
                memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        } else if (sa && sa->sa_family == AF_INET) {
                out[10] = out[11] = 0xff;
                memcpy(out + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        }
}

struct bd_error *bd_conn_channel(struct rdma_cm_id *id, int nic_side, struct bd_auth_channel *ch)
{
        struct ibv_qp_attr attr;
        struct ibv_qp_init_attr init;
        memset(ch, 0, sizeof(*ch));
        if (!id || !id->qp || ibv_query_qp(id->qp, &attr, IBV_QP_DEST_QPN, &init))
                return bd_error_new(BD_ERR_IO, "cannot query the queue pair: %s", strerror(errno));
        uint8_t local[16], peer[16];
        addr16(rdma_get_local_addr(id), local);
        addr16(rdma_get_peer_addr(id), peer);
        ch->monitor_qpn = nic_side ? attr.dest_qp_num : id->qp->qp_num;
        ch->nic_qpn = nic_side ? id->qp->qp_num : attr.dest_qp_num;
        memcpy(ch->monitor_addr, nic_side ? peer : local, 16);
        memcpy(ch->nic_addr, nic_side ? local : peer, 16);
        return NULL;
}
