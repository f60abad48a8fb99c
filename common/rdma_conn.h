/* One RC connection's verbs resources, shared by bdnicd and the monitor:
 * a protection domain of its own (so nothing registered for one peer is
 * reachable from another), one CQ, and fixed message slots for SEND/RECV.
 * Beside the RC queue pair, optionally, a UC one on the same PD and CQ for
 * sealed small reads (wire.h). */
#ifndef BD_RDMA_CONN_H
#define BD_RDMA_CONN_H

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <stdint.h>

#include "auth.h"
#include "clock.h"
#include "error.h"
#include "wire.h"

enum bd_wr_kind {
        BD_WR_RECV = 1,
        BD_WR_SEND = 2,
        BD_WR_RDMA = 3, /* one-sided op; the slot is the caller's */
        BD_WR_UC_RECV = 4,
        BD_WR_UC_SEND = 5,
};

static inline uint64_t bd_wr_id(enum bd_wr_kind kind, uint32_t slot)
{
        return (uint64_t)kind << 32 | slot;
}

static inline enum bd_wr_kind bd_wr_kind_of(uint64_t wr_id)
{
        return (enum bd_wr_kind)(wr_id >> 32);
}

static inline uint32_t bd_wr_slot_of(uint64_t wr_id)
{
        return (uint32_t)wr_id;
}

struct bd_conn {
        struct rdma_cm_id *id;
        struct ibv_pd *pd;
        struct ibv_comp_channel *channel;
        struct ibv_cq *cq;
        uint8_t *slots; /* BD_QUEUE_DEPTH receive slots, then as many send slots */
        struct ibv_mr *slots_mr;
        uint32_t send_busy; /* bitmap of send slots in flight */
        struct ibv_qp *uc;  /* NULL: none */
        uint8_t *uc_slots;  /* as slots, each BD_SEAL_LEN longer */
        struct ibv_mr *uc_mr;
        uint32_t uc_send_busy;
};

/* The channel a handshake on this connected id binds to (auth.h): its
 * queue pair numbers and addresses, this end being the NIC (nic_side) or
 * the monitor. */
struct bd_error *bd_conn_channel(struct rdma_cm_id *id, int nic_side, struct bd_auth_channel *ch);

/* Create PD, CQ and QP on id and post every receive slot. extra_wr is room
 * for one-sided work requests beyond the message slots. */
struct bd_error *bd_conn_create(struct bd_conn *c, struct rdma_cm_id *id, unsigned extra_wr);
void bd_conn_destroy(struct bd_conn *c);

uint8_t *bd_conn_recv_buf(struct bd_conn *c, uint32_t slot);
struct bd_error *bd_conn_post_recv(struct bd_conn *c, uint32_t slot);

/* The slot the next bd_conn_send() will use (the lowest free one), or
 * BD_QUEUE_DEPTH if all are in flight; lets a caller stage data beside it. */
uint32_t bd_conn_next_send_slot(const struct bd_conn *c);
/* Encode msg into the next send slot and post it signaled. If first is not
 * NULL it is posted ahead of the SEND in one chain (an RDMA WRITE whose data
 * the SEND then vouches for: RC delivers them in order). The slot stays busy
 * until bd_conn_send_done(). */
struct bd_error *bd_conn_send(struct bd_conn *c, const struct bd_msg *msg,
                              struct ibv_send_wr *first);
void bd_conn_send_done(struct bd_conn *c, uint32_t slot);

/* The UC queue pair, ready to be connected, its receives posted. A device
 * without UC fails here and leaves none; the RC connection carries on. */
struct bd_error *bd_conn_uc_create(struct bd_conn *c);
/* Connect it to the peer's UC queue pair over the RC one's path. */
struct bd_error *bd_conn_uc_connect(struct bd_conn *c, uint32_t peer_qpn);
uint8_t *bd_conn_uc_recv_buf(struct bd_conn *c, uint32_t slot);
struct bd_error *bd_conn_uc_post_recv(struct bd_conn *c, uint32_t slot);
/* Encode msg, seal it and post it on the UC queue pair, signaled and
 * solicited; the slot stays busy until its completion. */
struct bd_error *bd_conn_uc_send(struct bd_conn *c, const struct bd_msg *msg, struct bd_seal *seal);
/* Whether bd_conn_uc_send() has a free slot now. */
int bd_conn_uc_can_send(const struct bd_conn *c);
void bd_conn_uc_send_done(struct bd_conn *c, uint32_t slot);
/* Open and decode the sealed message of len bytes in UC receive slot: 0,
 * or -1 with a static reason in *why (forged, replayed, malformed). */
int bd_conn_uc_take(struct bd_conn *c, uint32_t slot, uint32_t len, struct bd_seal *seal,
                    struct bd_msg *msg, const char **why);

/* Wait for up to max completions. busy: spin (lowest latency, burns a core);
 * otherwise sleep on the completion channel. Returns the number of
 * completions, 0 on timeout, or -1 on error. timeout_ms < 0 waits forever. */
int bd_conn_wait(struct bd_conn *c, struct ibv_wc *wc, int max, int timeout_ms, int busy);

/* Wait for one rdma_cm event on ch; returns its type, or -1 on timeout (errno
 * ETIMEDOUT) or error. The event is acknowledged; its status is in *status. */
int bd_cm_wait(struct rdma_event_channel *ch, int timeout_ms, int *status,
               struct rdma_cm_id **id_out);

#endif
