#include "rdma_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
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
        /* Every work request both queue pairs can hold: RC's sends (with
         * the RDMA WRITE a bulk reply chains) and one-sided work, its
         * receives, UC's sends and receives. */
        int cqe = 5 * BD_QUEUE_DEPTH + (int)extra_wr;
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

static void uc_destroy(struct bd_conn *c)
{
        if (c->uc)
                ibv_destroy_qp(c->uc);
        if (c->uc_mr)
                ibv_dereg_mr(c->uc_mr);
        free(c->uc_slots);
        c->uc = NULL;
        c->uc_mr = NULL;
        c->uc_slots = NULL;
        c->uc_send_busy = 0;
}

void bd_conn_destroy(struct bd_conn *c)
{
        uc_destroy(c);
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

/* Post len bytes of buf as one receive on qp. */
static struct bd_error *post_receive(struct ibv_qp *qp, struct ibv_mr *mr, uint64_t wr_id,
                                     uint8_t *buf, uint32_t len)
{
        struct ibv_sge sge = {.addr = (uintptr_t)buf, .length = len, .lkey = mr->lkey};
        struct ibv_recv_wr wr = {.wr_id = wr_id, .sg_list = &sge, .num_sge = 1}, *bad;
        int rc = ibv_post_recv(qp, &wr, &bad);
        return rc ? bd_error_new(BD_ERR_IO, "ibv_post_recv: %s", strerror(rc)) : NULL;
}

struct bd_error *bd_conn_post_recv(struct bd_conn *c, uint32_t slot)
{
        return post_receive(c->id->qp, c->slots_mr, bd_wr_id(BD_WR_RECV, slot),
                            bd_conn_recv_buf(c, slot), BD_MSG_MAX);
}

static uint32_t free_slot(uint32_t busy)
{
        uint32_t slot = 0;
        while (slot < BD_QUEUE_DEPTH && (busy & (1u << slot)))
                slot++;
        return slot;
}

uint32_t bd_conn_next_send_slot(const struct bd_conn *c)
{
        return free_slot(c->send_busy);
}

/* Post len bytes of buf as one SEND on qp, after first if not NULL. */
static struct bd_error *post_message(struct ibv_qp *qp, struct ibv_mr *mr, uint64_t wr_id,
                                     uint8_t *buf, size_t len, struct ibv_send_wr *first)
{
        struct ibv_sge sge = {.addr = (uintptr_t)buf, .length = (uint32_t)len, .lkey = mr->lkey};
        struct ibv_send_wr wr = {
            .wr_id = wr_id,
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
        int rc = ibv_post_send(qp, head, &bad);
        return rc ? bd_error_new(BD_ERR_IO, "ibv_post_send: %s", strerror(rc)) : NULL;
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
        struct bd_error *err = post_message(c->id->qp, c->slots_mr, bd_wr_id(BD_WR_SEND, slot),
                                            send_buf(c, slot), len, first);
        if (!err)
                c->send_busy |= 1u << slot;
        return err;
}

#define UC_SLOT (BD_MSG_MAX + BD_SEAL_LEN)

struct bd_error *bd_conn_uc_create(struct bd_conn *c)
{
        struct ibv_qp_init_attr qa = {
            .send_cq = c->cq,
            .recv_cq = c->cq,
            .qp_type = IBV_QPT_UC,
            .cap = {.max_send_wr = BD_QUEUE_DEPTH,
                    .max_recv_wr = BD_QUEUE_DEPTH,
                    .max_send_sge = 1,
                    .max_recv_sge = 1},
        };
        const char *what = "ibv_create_qp(UC)";
        c->uc = ibv_create_qp(c->pd, &qa);
        if (!c->uc)
                goto fail;
        struct ibv_qp_attr a = {.qp_state = IBV_QPS_INIT, .port_num = c->id->port_num};
        what = "UC queue pair to INIT";
        if (ibv_modify_qp(c->uc, &a,
                          IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
                goto fail;
        size_t bytes = (size_t)2 * BD_QUEUE_DEPTH * UC_SLOT;
        what = "registering UC message slots";
        c->uc_slots = aligned_alloc(4096, (bytes + 4095) & ~(size_t)4095);
        c->uc_mr =
            c->uc_slots ? ibv_reg_mr(c->pd, c->uc_slots, bytes, IBV_ACCESS_LOCAL_WRITE) : NULL;
        if (!c->uc_mr)
                goto fail;
        for (uint32_t i = 0; i < BD_QUEUE_DEPTH; i++) {
                struct bd_error *err = bd_conn_uc_post_recv(c, i);
                if (err) {
                        uc_destroy(c);
                        return err;
                }
        }
        return NULL;
fail:;
        int saved = errno;
        uc_destroy(c);
        return bd_error_new(BD_ERR_INTERNAL, "%s: %s", what, strerror(saved));
}

struct bd_error *bd_conn_uc_connect(struct bd_conn *c, uint32_t peer_qpn)
{
        /* librdmacm connects no UC queue pair: this one takes the path the
         * RC one was given (its address vector and MTU). */
        struct ibv_qp_attr rc;
        struct ibv_qp_init_attr init;
        if (ibv_query_qp(c->id->qp, &rc, IBV_QP_AV | IBV_QP_PATH_MTU, &init))
                return bd_error_new(BD_ERR_INTERNAL, "querying the RC path: %s", strerror(errno));
        struct ibv_qp_attr rtr = {.qp_state = IBV_QPS_RTR,
                                  .path_mtu = rc.path_mtu,
                                  .dest_qp_num = peer_qpn,
                                  .ah_attr = rc.ah_attr};
        if (ibv_modify_qp(c->uc, &rtr,
                          IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
                              IBV_QP_RQ_PSN))
                return bd_error_new(BD_ERR_INTERNAL, "UC queue pair to RTR: %s", strerror(errno));
        struct ibv_qp_attr rts = {.qp_state = IBV_QPS_RTS};
        if (ibv_modify_qp(c->uc, &rts, IBV_QP_STATE | IBV_QP_SQ_PSN))
                return bd_error_new(BD_ERR_INTERNAL, "UC queue pair to RTS: %s", strerror(errno));
        return NULL;
}

uint8_t *bd_conn_uc_recv_buf(struct bd_conn *c, uint32_t slot)
{
        return c->uc_slots + (size_t)slot * UC_SLOT;
}

struct bd_error *bd_conn_uc_post_recv(struct bd_conn *c, uint32_t slot)
{
        return post_receive(c->uc, c->uc_mr, bd_wr_id(BD_WR_UC_RECV, slot),
                            bd_conn_uc_recv_buf(c, slot), UC_SLOT);
}

int bd_conn_uc_can_send(const struct bd_conn *c)
{
        return free_slot(c->uc_send_busy) < BD_QUEUE_DEPTH;
}

struct bd_error *bd_conn_uc_send(struct bd_conn *c, const struct bd_msg *msg, struct bd_seal *seal)
{
        uint32_t slot = free_slot(c->uc_send_busy);
        if (slot == BD_QUEUE_DEPTH)
                return bd_error_new(BD_ERR_INTERNAL, "no free UC send slot");
        uint8_t *buf = c->uc_slots + (size_t)(BD_QUEUE_DEPTH + slot) * UC_SLOT;
        size_t len = bd_wire_encode(msg, buf, BD_MSG_MAX);
        if (!len)
                return bd_error_new(BD_ERR_INTERNAL, "message of type %u does not encode",
                                    msg->type);
        len = bd_seal_close(seal, buf, len);
        struct bd_error *err =
            post_message(c->uc, c->uc_mr, bd_wr_id(BD_WR_UC_SEND, slot), buf, len, NULL);
        if (!err)
                c->uc_send_busy |= 1u << slot;
        return err;
}

void bd_conn_uc_send_done(struct bd_conn *c, uint32_t slot)
{
        if (slot < BD_QUEUE_DEPTH)
                c->uc_send_busy &= ~(1u << slot);
}

int bd_conn_uc_take(struct bd_conn *c, uint32_t slot, uint32_t len, struct bd_seal *seal,
                    struct bd_msg *msg, const char **why)
{
        const uint8_t *buf = bd_conn_uc_recv_buf(c, slot);
        size_t body = len <= UC_SLOT ? bd_seal_open(seal, buf, len) : 0;
        if (!body) {
                *why = "forged, replayed or cut short";
                return -1;
        }
        return bd_wire_decode(buf, body, msg, why);
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
                 * emulation a clock read costs more than a poll. An empty
                 * poll yields to the kernel work that brings the
                 * completion (rxe's, in the lab: 64-byte reads over UC
                 * took 763-911 us yielding, 810-1151 not). */
                if (busy && spins % 256) {
                        sched_yield();
                        continue;
                }
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
