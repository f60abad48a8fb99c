/* A Backdoors NIC as a physical-memory source, over an RDMA RC connection.
 * Direct windows are read one-sided (RDMA READ into a registered staging
 * buffer); mediated windows by REQUEST/REPLY, with large replies landing in
 * the same staging buffer by the NIC's RDMA WRITE. Up to STAGE_SLOTS
 * operations are in flight at once. Every compare-and-swap, direct window
 * or not, is a CAS request that the NIC's CPU makes and audits.
 *
 * A small mediated read goes, sealed, over the UC queue pair when both
 * ends have one (wire.h): half the packets of RC's. Its answer is inline,
 * so one that comes late or never can land nowhere but in a UC receive
 * slot; one not come in bd_nic_uc_timeout_ns() is asked again over RC, and
 * UC is left alone after UC_MISSES_MAX such in a row. */
#include "phys_nic.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/auth.h"
#include "../../common/rdma_conn.h"
#include "nic_answers.h"

#define STAGE_SLOTS BD_QUEUE_DEPTH
#define STAGE_SLOT  BD_READ_MAX

struct nic_phys {
        struct bd_phys base;
        struct rdma_event_channel *ch;
        struct bd_conn c;
        uint8_t *stage;
        struct ibv_mr *stage_mr;
        unsigned rd_depth; /* RDMA READs the NIC accepts in flight */
        int busy;
        int timeout_ms;
        uint32_t next_id;
        /* Operations a failed batch left in flight that never came back:
         * their answers could land in a later batch's buffers, so the
         * connection is used no more. */
        unsigned lost;
        char lost_why[128]; /* what failed that batch */
        int uc;             /* small reads go over UC */
        struct bd_seal seal;
        uint64_t uc_srtt_ns;
        unsigned uc_misses; /* asked again over RC since UC last answered */
};

#define UC_MISSES_MAX 8

/* A mediated piece this small travels in a READV with its neighbours. */
#define VEC_PIECE_MAX 1024

static struct bd_error *conn_error(const char *what)
{
        return bd_error_new(BD_ERR_IO, "%s failed (NIC connection lost?)", what);
}

static int is_uc(const struct ibv_wc *wc)
{
        enum bd_wr_kind kind = bd_wr_kind_of(wc->wr_id);
        return kind == BD_WR_UC_SEND || kind == BD_WR_UC_RECV;
}

/* A UC completion that brings no answer to wait for: a send's, a failure
 * (UC is then left alone), or a receive that is not for one of ops (none:
 * none is), which is dropped. Returns 0 for any other completion, and for
 * a UC answer to one of ops, opened into *msg. */
static int uc_completion(struct nic_phys *n, const struct ibv_wc *wc)
{
        if (!is_uc(wc))
                return 0;
        uint32_t slot = bd_wr_slot_of(wc->wr_id);
        if (bd_wr_kind_of(wc->wr_id) == BD_WR_UC_SEND)
                bd_conn_uc_send_done(&n->c, slot);
        if (wc->status != IBV_WC_SUCCESS)
                n->uc = 0;
        else if (bd_wr_kind_of(wc->wr_id) == BD_WR_UC_RECV) {
                struct bd_error *err = bd_conn_uc_post_recv(&n->c, slot);
                if (err)
                        n->uc = 0;
                bd_error_destroy(err);
        }
        return 1;
}

/* Wait for the RECV of the next message and decode it into msg. */
static struct bd_error *recv_msg(struct nic_phys *n, struct bd_msg *msg)
{
        struct ibv_wc wc;
        for (;;) {
                int got = bd_conn_wait(&n->c, &wc, 1, n->timeout_ms, n->busy);
                if (got <= 0)
                        return bd_error_new(got ? BD_ERR_IO : BD_ERR_UNREACHABLE,
                                            "no answer from the NIC within %d ms", n->timeout_ms);
                if (wc.status != IBV_WC_SUCCESS && !is_uc(&wc))
                        return bd_error_new(BD_ERR_IO, "connection failed: %s",
                                            ibv_wc_status_str(wc.status));
                if (bd_wr_kind_of(wc.wr_id) == BD_WR_SEND) {
                        bd_conn_send_done(&n->c, bd_wr_slot_of(wc.wr_id));
                        continue;
                }
                if (uc_completion(n, &wc))
                        continue; /* a late answer to a read asked again over RC */
                uint32_t slot = bd_wr_slot_of(wc.wr_id);
                const char *why;
                if (bd_wire_decode(bd_conn_recv_buf(&n->c, slot), wc.byte_len, msg, &why))
                        return bd_error_new(BD_ERR_PROTOCOL, "malformed message from NIC: %s", why);
                /* The decoded message may point into the slot: callers copy
                 * what they keep before the next receive reuses it. */
                return bd_conn_post_recv(&n->c, slot);
        }
}

static struct bd_error *handshake(struct nic_phys *n, const struct bd_key *key)
{
        struct bd_msg msg, auth;
        struct bd_auth_channel ch;
        uint8_t nic_nonce[BD_NONCE_LEN];
        struct bd_error *err = recv_msg(n, &msg);
        if (err || (err = bd_conn_channel(n->c.id, 0, &ch)))
                return err;
        ch.monitor_uc_qpn = n->c.uc ? n->c.uc->qp_num : 0;
        if ((err = bd_nic_answer_hello(&msg, key, &ch, nic_nonce, &auth)) ||
            (err = bd_conn_send(&n->c, &auth, NULL)))
                return err;
        if ((err = recv_msg(n, &msg))) {
                /* A NIC that refuses may just drop us (an older bdnicd did,
                 * saying nothing); silence is not a refusal but a NIC too
                 * slow or gone, and is told as such. */
                if (err->code == BD_ERR_IO) {
                        struct bd_error *e =
                            bd_error_new(BD_ERR_AUTH,
                                         "NIC closed the connection during authentication "
                                         "(wrong key?): %s",
                                         err->message);
                        bd_error_destroy(err);
                        return e;
                }
                if (err->code == BD_ERR_UNREACHABLE) {
                        struct bd_error *e = bd_error_new(
                            BD_ERR_UNREACHABLE,
                            "the NIC did not answer the key's proof within %d ms (NIC overloaded? "
                            "--timeout raises the wait)",
                            n->timeout_ms);
                        bd_error_destroy(err);
                        return e;
                }
                return err;
        }
        if ((err = bd_nic_check_welcome(&msg, key, nic_nonce, &auth, &ch, &n->base)))
                return err;
        /* Without UC on either end, or if it cannot be connected, every
         * read goes over RC. */
        struct bd_error *uc_err =
            ch.monitor_uc_qpn ? bd_conn_uc_connect(&n->c, ch.nic_uc_qpn) : NULL;
        n->uc = ch.monitor_uc_qpn && !uc_err;
        bd_error_destroy(uc_err);
        if (n->uc)
                bd_seal_init(&n->seal, key, nic_nonce, auth.u.auth.nonce, &ch, 0);
        return NULL;
}

static struct bd_error *cm_step(struct nic_phys *n, int expect, const char *what, const char *where)
{
        int status = 0;
        int ev = bd_cm_wait(n->ch, n->timeout_ms, &status, NULL);
        if (ev == expect)
                return NULL;
        if (ev < 0)
                return bd_error_new(BD_ERR_UNREACHABLE,
                                    "no answer from NIC at %s "
                                    "within %d ms (%s)",
                                    where, n->timeout_ms, what);
        if (ev == RDMA_CM_EVENT_REJECTED)
                return bd_error_new(BD_ERR_UNREACHABLE,
                                    "connection refused by %s "
                                    "(is bdnicd running there?)",
                                    where);
        return bd_error_new(BD_ERR_UNREACHABLE, "cannot reach NIC at %s: %s (%s)", where,
                            rdma_event_str(ev), what);
}

static struct bd_error *nic_read(struct bd_phys *p, const struct bd_phys_piece *pieces, size_t n);
static struct bd_error *nic_read_ordered(struct bd_phys *p, const struct bd_phys_piece *pieces,
                                         size_t n);
static struct bd_error *nic_cas(struct bd_phys *p, struct bd_phys_cas_piece *pc, size_t n);
static void nic_close(struct bd_phys *p);
static struct bd_error *nic_pagemap(struct bd_phys *p, const struct bd_phys_piece *pieces,
                                    size_t np, const struct bd_page_pattern *pats, unsigned npats);
static const struct bd_phys_ops nic_ops = {.read = nic_read,
                                           .read_ordered = nic_read_ordered,
                                           .cas = nic_cas,
                                           .close = nic_close,
                                           .pagemap = nic_pagemap};

/* A window's memory key allows remote read only (bdnicd registers it so),
 * so the NIC's CPU does every CAS, and so it should: see backdoor-nic's
 * bd_window_write. */
static const struct bd_cas_method nic_cas_method = {
    .how = "nic-cpu",
    .why = "a locked compare-and-swap by the NIC's CPU on its mapping of the target's memory: "
           "one-sided RDMA atomics are atomic only among the device's own operations "
           "(IBV_ATOMIC_HCA)",
    .refused_why = "read-only window (bdnicd without --allow-write)",
};

struct bd_error *bd_phys_open_nic(const struct bd_nic_options *opt, struct bd_phys **out)
{
        struct bd_key key;
        struct bd_error *err = bd_key_load(opt->key_path, &key);
        if (err)
                return err;
        struct nic_phys *n = calloc(1, sizeof(*n));
        if (!n)
                return &bd_error_nomem;
        n->base.ops = &nic_ops;
        n->base.cas_method = &nic_cas_method;
        n->busy = opt->busy_poll;
        n->timeout_ms = opt->timeout_ms;
        char where[128];
        snprintf(where, sizeof(where), "%s:%d", opt->host, opt->port);
        snprintf(n->base.describe, sizeof(n->base.describe), "rdma %s", where);
        snprintf(n->base.name, sizeof(n->base.name), "%s", where);

        struct rdma_cm_id *id = NULL;
        char port[16];
        snprintf(port, sizeof(port), "%d", opt->port);
        struct addrinfo hints = {.ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
        struct addrinfo *ai = NULL;
        int gai = getaddrinfo(opt->host, port, &hints, &ai);
        if (gai) {
                err = bd_error_new(BD_ERR_UNREACHABLE, "cannot resolve NIC address %s: %s",
                                   opt->host, gai_strerror(gai));
                goto fail;
        }
        n->ch = rdma_create_event_channel();
        if (!n->ch || rdma_create_id(n->ch, &id, n, RDMA_PS_TCP)) {
                err = bd_error_new(BD_ERR_UNREACHABLE,
                                   "no RDMA on this machine: %s "
                                   "(rdma_ucm not loaded, or no RDMA device?)",
                                   strerror(errno));
                goto fail;
        }
        n->c.id = id;
        if (rdma_resolve_addr(id, NULL, ai->ai_addr, n->timeout_ms)) {
                err = bd_error_new(BD_ERR_UNREACHABLE, "no RDMA device can reach %s: %s", where,
                                   strerror(errno));
                goto fail;
        }
        if ((err = cm_step(n, RDMA_CM_EVENT_ADDR_RESOLVED, "address resolution", where)))
                goto fail;
        if (rdma_resolve_route(id, n->timeout_ms)) {
                err =
                    bd_error_new(BD_ERR_UNREACHABLE, "no route to %s: %s", where, strerror(errno));
                goto fail;
        }
        if ((err = cm_step(n, RDMA_CM_EVENT_ROUTE_RESOLVED, "route resolution", where)))
                goto fail;
        if ((err = bd_conn_create(&n->c, id, STAGE_SLOTS)))
                goto fail;
        if (!opt->rc_only)
                bd_error_destroy(bd_conn_uc_create(&n->c)); /* none: RC only */
        size_t bytes = (size_t)STAGE_SLOTS * STAGE_SLOT;
        n->stage = aligned_alloc(4096, bytes);
        n->stage_mr = n->stage ? ibv_reg_mr(n->c.pd, n->stage, bytes,
                                            IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE)
                               : NULL;
        if (!n->stage_mr) {
                err = bd_error_new(BD_ERR_INTERNAL, "cannot register staging buffer: %s",
                                   strerror(errno));
                goto fail;
        }
        struct ibv_device_attr attr;
        n->rd_depth = STAGE_SLOTS;
        if (!ibv_query_device(id->verbs, &attr) && (unsigned)attr.max_qp_init_rd_atom < n->rd_depth)
                n->rd_depth = (unsigned)attr.max_qp_init_rd_atom;
        struct rdma_conn_param param = {
            .initiator_depth = (uint8_t)n->rd_depth,
            .responder_resources = 0,
            .retry_count = 7,
            .rnr_retry_count = 7,
        };
        if (rdma_connect(id, &param)) {
                err = bd_error_new(BD_ERR_UNREACHABLE, "rdma_connect to %s: %s", where,
                                   strerror(errno));
                goto fail;
        }
        if ((err = cm_step(n, RDMA_CM_EVENT_ESTABLISHED, "connection", where)))
                goto fail;
        if ((err = handshake(n, &key)))
                goto fail;
        freeaddrinfo(ai);
        *out = &n->base;
        return NULL;
fail:
        if (ai)
                freeaddrinfo(ai);
        nic_close(&n->base);
        return err;
}

static void nic_close(struct bd_phys *p)
{
        struct nic_phys *n = (struct nic_phys *)p;
        if (n->c.id && n->c.id->qp)
                rdma_disconnect(n->c.id);
        if (n->stage_mr)
                ibv_dereg_mr(n->stage_mr);
        free(n->stage);
        struct rdma_cm_id *id = n->c.id;
        bd_conn_destroy(&n->c);
        if (id)
                rdma_destroy_id(id);
        if (n->ch)
                rdma_destroy_event_channel(n->ch);
        free(n);
}

static uint8_t *stage_slot(struct nic_phys *n, unsigned slot)
{
        return n->stage + (size_t)slot * STAGE_SLOT;
}

static struct bd_error *send_request(struct nic_phys *n, uint32_t id, const struct bd_request *rq)
{
        struct bd_msg msg = {.type = BD_MSG_REQUEST, .id = id};
        msg.u.request = *rq;
        return bd_conn_send(&n->c, &msg, NULL);
}

/* Ask (or ask again) the NIC for the mediated read op in staging slot: a
 * READ or, with segments, a READV; over UC if may_uc and it can. */
static struct bd_error *ask(struct nic_phys *n, struct bd_nic_read_op *op, unsigned slot,
                            int may_uc)
{
        uint8_t segs[BD_READV_MAX_SEGS * BD_READV_SEG_LEN];
        struct bd_msg msg = {.type = BD_MSG_REQUEST, .id = n->next_id++};
        if (op->nvec) {
                for (unsigned i = 0; i < op->nvec; i++)
                        bd_wire_readv_put(segs, i, op->vec[i].offset, op->vec[i].len);
                msg.u.request = (struct bd_request){.op = BD_OP_READV,
                                                    .window = op->window,
                                                    .length = op->nvec * BD_READV_SEG_LEN,
                                                    .data = segs};
        } else {
                msg.u.request = (struct bd_request){.op = BD_OP_READ,
                                                    .window = op->window,
                                                    .length = (uint32_t)op->len,
                                                    .offset = op->offset,
                                                    .sink_addr = (uintptr_t)stage_slot(n, slot),
                                                    .sink_rkey = n->stage_mr->rkey};
        }
        op->id = msg.id;
        op->uc =
            may_uc && n->uc && (op->nvec || op->len <= BD_INLINE_MAX) && bd_conn_uc_can_send(&n->c);
        if (!op->uc)
                return bd_conn_send(&n->c, &msg, NULL);
        op->sent_ns = bd_now_ns();
        return bd_conn_uc_send(&n->c, &msg, &n->seal);
}

/* Start one chunk (at most STAGE_SLOT bytes) in a free staging slot. */
static struct bd_error *start_chunk(struct nic_phys *n, struct bd_nic_read_op *op, unsigned slot,
                                    const struct bd_window_desc *win, unsigned window,
                                    uint64_t offset, void *dest, size_t len)
{
        *op = (struct bd_nic_read_op){.busy = 1, .dest = dest, .len = len};
        if (win->mode == BD_MODE_DIRECT) {
                struct ibv_sge sge = {(uintptr_t)stage_slot(n, slot), (uint32_t)len,
                                      n->stage_mr->lkey};
                struct ibv_send_wr wr =
                                       {
                                           .wr_id = bd_wr_id(BD_WR_RDMA, slot),
                                           .sg_list = &sge,
                                           .num_sge = 1,
                                           .opcode = IBV_WR_RDMA_READ,
                                           .send_flags = IBV_SEND_SIGNALED,
                                           .wr.rdma = {win->remote_addr + offset, win->rkey},
                                       },
                                   *bad;
                int rc = ibv_post_send(n->c.id->qp, &wr, &bad);
                return rc ? bd_error_new(BD_ERR_IO, "posting RDMA READ: %s", strerror(rc)) : NULL;
        }
        op->mediated = 1;
        op->window = (uint8_t)window;
        op->offset = offset;
        return ask(n, op, slot, 1);
}

/* A ZEROMAP, or with patterns a PAGEMATCH: its reply is a bitmap. */
struct pagemap_req {
        const struct bd_page_pattern *pats;
        unsigned npats;
};

static struct bd_error *start_pagemap(struct nic_phys *n, struct bd_nic_read_op *op,
                                      const struct pagemap_req *pm, unsigned window,
                                      uint64_t offset, void *dest, size_t len)
{
        uint8_t pats[BD_PAGEMATCH_MAX_PATS * BD_PAGEMATCH_PAT_LEN];
        for (unsigned i = 0; i < pm->npats; i++)
                bd_wire_pattern_put(pats, i, &pm->pats[i]);
        *op = (struct bd_nic_read_op){.busy = 1,
                                      .mediated = 1,
                                      .bitmap = 1,
                                      .id = n->next_id++,
                                      .dest = dest,
                                      .len = (len / BD_ZEROMAP_PAGE + 7) / 8};
        return send_request(n, op->id,
                            &(struct bd_request){
                                .op = pm->npats ? BD_OP_PAGEMATCH : BD_OP_ZEROMAP,
                                .window = (uint8_t)window,
                                .length = (uint32_t)len,
                                .offset = offset,
                                .data = pats,
                                .data_len = pm->npats * BD_PAGEMATCH_PAT_LEN,
                            });
}

/* How many pieces from pieces[0] go together in one READV: mediated, at
 * most piece_max bytes each, of one window, and fitting one inline reply.
 * Below 2, a plain READ. */
static size_t vec_run(const struct bd_phys *p, const struct bd_phys_piece *pieces, size_t n,
                      size_t piece_max)
{
        size_t k = 0, total = 0;
        while (k < n && k < BD_READV_MAX_SEGS &&
               p->windows[pieces[k].window].mode != BD_MODE_DIRECT && pieces[k].len <= piece_max &&
               pieces[k].window == pieces[0].window && total + pieces[k].len <= BD_INLINE_MAX)
                total += pieces[k++].len;
        return k;
}

static struct bd_error *start_vec(struct nic_phys *n, struct bd_nic_read_op *op, unsigned slot,
                                  const struct bd_phys_piece *pieces, size_t k)
{
        *op = (struct bd_nic_read_op){
            .busy = 1, .mediated = 1, .window = (uint8_t)pieces[0].window, .nvec = (unsigned)k};
        for (size_t i = 0; i < k; i++) {
                op->vec[i].dest = pieces[i].buf;
                op->vec[i].len = (uint32_t)pieces[i].len;
                op->vec[i].offset = pieces[i].offset;
                op->len += pieces[i].len;
        }
        return ask(n, op, slot, 1);
}

/* An answer over UC to one of ops, unless it is forged or late (its read
 * asked again over RC): then it is dropped. */
static struct bd_error *uc_answer(struct nic_phys *n, struct bd_nic_read_op *ops,
                                  const struct ibv_wc *wc, unsigned *done)
{
        struct bd_msg msg;
        const char *why;
        if (bd_conn_uc_take(&n->c, bd_wr_slot_of(wc->wr_id), wc->byte_len, &n->seal, &msg, &why))
                return NULL;
        int s = bd_nic_read_find(ops, STAGE_SLOTS, msg.id);
        if (s < 0 || !ops[s].uc)
                return NULL;
        n->uc_srtt_ns = bd_nic_uc_srtt(n->uc_srtt_ns, bd_now_ns() - ops[s].sent_ns);
        n->uc_misses = 0;
        return bd_nic_read_reply(ops, STAGE_SLOTS, n->stage, STAGE_SLOT, &msg, done);
}

/* Handle one completion of the read pipeline; *done counts finished slots. */
static struct bd_error *complete(struct nic_phys *n, struct bd_nic_read_op *ops,
                                 const struct ibv_wc *wc, unsigned *done)
{
        if (wc->status != IBV_WC_SUCCESS && !is_uc(wc))
                return bd_error_new(BD_ERR_IO, "RDMA operation failed: %s (NIC gone?)",
                                    ibv_wc_status_str(wc->status));
        uint32_t slot = bd_wr_slot_of(wc->wr_id);
        switch (bd_wr_kind_of(wc->wr_id)) {
        case BD_WR_UC_SEND:
        case BD_WR_UC_RECV: {
                struct bd_error *err =
                    bd_wr_kind_of(wc->wr_id) == BD_WR_UC_RECV && wc->status == IBV_WC_SUCCESS
                        ? uc_answer(n, ops, wc, done)
                        : NULL;
                uc_completion(n, wc); /* after the answer: its slot is posted again */
                return err;
        }
        case BD_WR_SEND:
                bd_conn_send_done(&n->c, slot);
                return NULL;
        case BD_WR_RDMA:
                if (slot >= STAGE_SLOTS || !ops[slot].busy)
                        return bd_error_new(BD_ERR_PROTOCOL, "stray completion");
                memcpy(ops[slot].dest, stage_slot(n, slot), ops[slot].len);
                ops[slot].busy = 0;
                (*done)++;
                return NULL;
        case BD_WR_RECV: {
                struct bd_msg msg;
                const char *why;
                struct bd_error *err =
                    bd_wire_decode(bd_conn_recv_buf(&n->c, slot), wc->byte_len, &msg, &why)
                        ? bd_error_new(BD_ERR_PROTOCOL, "malformed reply: %s", why)
                        : bd_nic_read_reply(ops, STAGE_SLOTS, n->stage, STAGE_SLOT, &msg, done);
                struct bd_error *rerr = bd_conn_post_recv(&n->c, slot);
                if (err) {
                        bd_error_destroy(rerr);
                        return err;
                }
                return rerr;
        }
        }
        return bd_error_new(BD_ERR_PROTOCOL, "unknown completion");
}

/* After a failed batch, what is still in flight must not complete into a
 * later one: wait (one timeout) for each of the pending answers and drop
 * it. A connection that does not give them all back, or whose queue pair
 * failed, is marked lost; why names what failed the batch, which the
 * caller may have taken for a hole in memory and gone on from. */
static void drain(struct nic_phys *n, unsigned pending, const char *why)
{
        unsigned lost = 0;
        while (pending && !lost) {
                struct ibv_wc wc[STAGE_SLOTS];
                int got = bd_conn_wait(&n->c, wc, STAGE_SLOTS, n->timeout_ms, n->busy);
                if (got <= 0) {
                        lost = pending;
                        break;
                }
                for (int i = 0; i < got && !lost; i++) {
                        uint32_t slot = bd_wr_slot_of(wc[i].wr_id);
                        if (uc_completion(n, &wc[i])) {
                                continue;
                        } else if (wc[i].status != IBV_WC_SUCCESS) {
                                lost = pending;
                        } else if (bd_wr_kind_of(wc[i].wr_id) == BD_WR_SEND) {
                                bd_conn_send_done(&n->c, slot);
                        } else if (bd_wr_kind_of(wc[i].wr_id) == BD_WR_RDMA) {
                                pending--;
                        } else {
                                struct bd_error *err = bd_conn_post_recv(&n->c, slot);
                                if (err)
                                        lost = pending;
                                bd_error_destroy(err);
                                pending--;
                        }
                }
        }
        if (lost && !n->lost) {
                n->lost = lost;
                snprintf(n->lost_why, sizeof(n->lost_why), "%s", why);
        }
}

/* A batch's failure, once its operations still in flight are drained. */
static struct bd_error *fail(struct nic_phys *n, const struct bd_nic_read_op *ops,
                             struct bd_error *err)
{
        unsigned pending = 0;
        for (unsigned s = 0; s < STAGE_SLOTS; s++)
                pending += ops[s].busy && !ops[s].uc; /* UC may never answer */
        drain(n, pending, err->message);
        return err;
}

static struct bd_error *usable(const struct nic_phys *n)
{
        return n->lost ? bd_error_new(BD_ERR_IO,
                                      "the NIC never answered %u operations of a batch that "
                                      "failed (%s); this connection is no longer used "
                                      "(connect again)",
                                      n->lost, n->lost_why)
                       : NULL;
}

/* Ask again over RC each read whose UC answer is overdue; returns when
 * the next one falls due, or UINT64_MAX. One overdue while every RC send
 * slot is taken waits for an RC completion (which frees one), as RC's
 * own do. */
static uint64_t ask_again(struct nic_phys *n, struct bd_nic_read_op *ops, struct bd_error **err)
{
        uint64_t now = bd_now_ns(), tmo = bd_nic_uc_timeout_ns(n->uc_srtt_ns), next = UINT64_MAX;
        for (unsigned s = 0; s < STAGE_SLOTS && !*err; s++) {
                if (!ops[s].busy || !ops[s].uc)
                        continue;
                if (now - ops[s].sent_ns < tmo) {
                        uint64_t due = ops[s].sent_ns + tmo;
                        next = due < next ? due : next;
                        continue;
                }
                if (bd_conn_next_send_slot(&n->c) == BD_QUEUE_DEPTH)
                        continue;
                if (++n->uc_misses >= UC_MISSES_MAX)
                        n->uc = 0;
                *err = ask(n, &ops[s], s, 0);
                n->base.round_trips++;
                n->base.retries++;
        }
        return next;
}

static struct bd_error *wait_some(struct nic_phys *n, struct bd_nic_read_op *ops, unsigned *done)
{
        struct ibv_wc wc[STAGE_SLOTS];
        struct bd_error *err = NULL;
        uint64_t due = ask_again(n, ops, &err), now = bd_now_ns();
        if (err)
                return err;
        int ms = n->timeout_ms, uc_wait = 0;
        if (due != UINT64_MAX && (due <= now || (due - now) / 1000000 < (uint64_t)ms)) {
                ms = due <= now ? 0 : (int)((due - now + 999999) / 1000000);
                uc_wait = 1;
        }
        int got = bd_conn_wait(&n->c, wc, STAGE_SLOTS, ms, n->busy);
        if (got < 0)
                return conn_error("waiting for completions");
        if (got == 0 && uc_wait)
                return NULL; /* the next turn asks again what is overdue */
        if (got == 0)
                return bd_error_new(BD_ERR_IO, "NIC did not complete a read within %d ms",
                                    n->timeout_ms);
        struct bd_error *first = NULL;
        for (int i = 0; i < got; i++) {
                struct bd_error *err = complete(n, ops, &wc[i], done);
                if (err && !first)
                        first = err;
                else
                        bd_error_destroy(err);
        }
        return first;
}

/* Reads, or (pm) zero or pattern maps, of every piece, as many in flight
 * as the NIC takes. */
static struct bd_error *pipeline(struct bd_phys *p, const struct bd_phys_piece *pieces, size_t np,
                                 const struct pagemap_req *pm, size_t vec_piece_max)
{
        struct nic_phys *n = (struct nic_phys *)p;
        struct bd_nic_read_op ops[STAGE_SLOTS] = {{0}};
        unsigned started = 0, done = 0, inflight_direct = 0;
        size_t pi = 0, off = 0;
        struct bd_error *err = usable(n);
        if (err)
                return err;
        while (pi < np || done < started) {
                /* Fill free slots while there is work and the NIC accepts it. */
                while (pi < np && !err) {
                        const struct bd_phys_piece *pc = &pieces[pi];
                        const struct bd_window_desc *win = &p->windows[pc->window];
                        int direct = win->mode == BD_MODE_DIRECT && !pm;
                        if (direct && inflight_direct >= n->rd_depth)
                                break;
                        if (!direct && bd_conn_next_send_slot(&n->c) == BD_QUEUE_DEPTH)
                                break;
                        unsigned slot = 0;
                        while (slot < STAGE_SLOTS && ops[slot].busy)
                                slot++;
                        if (slot == STAGE_SLOTS)
                                break;
                        size_t k = pm || off ? 0 : vec_run(p, pc, np - pi, vec_piece_max);
                        if (k >= 2) {
                                err = start_vec(n, &ops[slot], slot, pc, k);
                                pi += k;
                        } else {
                                size_t max = pm ? BD_ZEROMAP_MAX : STAGE_SLOT;
                                size_t len = pc->len - off < max ? pc->len - off : max;
                                /* A zero map's off stays a multiple of 8
                                 * pages: the bitmap's bytes split with it. */
                                err = pm ? start_pagemap(
                                               n, &ops[slot], pm, pc->window, pc->offset + off,
                                               (uint8_t *)pc->buf + off / BD_ZEROMAP_PAGE / 8, len)
                                         : start_chunk(n, &ops[slot], slot, win, pc->window,
                                                       pc->offset + off, (uint8_t *)pc->buf + off,
                                                       len);
                                off += len;
                                if (off == pc->len) {
                                        pi++;
                                        off = 0;
                                }
                        }
                        ops[slot].busy = !err; /* one not sent is not in flight */
                        started++;
                        p->round_trips++;
                }
                if (err)
                        return fail(n, ops, err);
                if (done == started && pi == np)
                        break;
                err = wait_some(n, ops, &done);
                if (err)
                        return fail(n, ops, err);
                inflight_direct = 0;
                for (unsigned s = 0; s < STAGE_SLOTS; s++)
                        inflight_direct += ops[s].busy && !ops[s].mediated;
        }
        return NULL;
}

static struct bd_error *nic_read(struct bd_phys *p, const struct bd_phys_piece *pieces, size_t np)
{
        return pipeline(p, pieces, np, NULL, VEC_PIECE_MAX);
}

static struct bd_error *nic_pagemap(struct bd_phys *p, const struct bd_phys_piece *pieces,
                                    size_t np, const struct bd_page_pattern *pats, unsigned npats)
{
        return pipeline(p, pieces, np, &(struct pagemap_req){pats, npats}, 0);
}

/* A run of mediated pieces that fits one reply in one READV (bdnicd reads
 * its segments in order), anything else a piece at a time; each waited
 * for before the next is sent. */
static struct bd_error *nic_read_ordered(struct bd_phys *p, const struct bd_phys_piece *pieces,
                                         size_t np)
{
        struct bd_error *err = NULL;
        for (size_t i = 0, k; !err && i < np; i += k) {
                k = vec_run(p, &pieces[i], np - i, BD_INLINE_MAX);
                if (k < 2)
                        k = 1;
                err = pipeline(p, &pieces[i], k, NULL, BD_INLINE_MAX);
        }
        return err;
}

/* How many pieces from pc[0] go in one request: of one window, at most
 * BD_CASV_MAX_OPS. */
static size_t cas_run(const struct bd_phys_cas_piece *pc, size_t n)
{
        size_t k = 1;
        while (k < n && k < BD_CASV_MAX_OPS && pc[k].window == pc[0].window)
                k++;
        return k;
}

static struct bd_error *send_cas(struct nic_phys *nic, struct bd_phys_cas_piece *pc, size_t k,
                                 uint32_t id)
{
        uint8_t ops[BD_CASV_MAX_OPS * BD_CASV_OP_LEN];
        struct bd_msg msg = {.type = BD_MSG_REQUEST, .id = id};
        msg.u.request = (struct bd_request){
            .op = k > 1 ? BD_OP_CASV : BD_OP_CAS,
            .window = (uint8_t)pc[0].window,
            .length = k > 1 ? (uint32_t)(k * BD_CASV_OP_LEN) : 8,
            .offset = pc[0].offset,
            .compare = pc[0].expect,
            .swap = pc[0].desired,
            .data = ops,
        };
        for (size_t i = 0; i < k; i++) {
                bd_wire_casv_put(ops, (unsigned)i, pc[i].offset, pc[i].expect, pc[i].desired);
                pc[i].state = BD_CAS_SENT;
        }
        return bd_conn_send(&nic->c, &msg, NULL);
}

/* Requests, each of up to BD_CASV_MAX_OPS pieces of one window, go out
 * while a send slot is free and fewer than STAGE_SLOTS wait for their
 * answers (the NIC posts as many receives); answers are matched by id. The
 * NIC's CPU makes each CAS in the order sent. */
static struct bd_error *nic_cas(struct bd_phys *p, struct bd_phys_cas_piece *pc, size_t n)
{
        struct nic_phys *nic = (struct nic_phys *)p;
        struct bd_nic_cas_msg inflight[STAGE_SLOTS];
        size_t sent = 0, waiting = 0;
        struct bd_error *err = usable(nic);
        if (err)
                return err;
        while (waiting || (sent < n && !err)) {
                while (!err && sent < n && waiting < STAGE_SLOTS &&
                       bd_conn_next_send_slot(&nic->c) != BD_QUEUE_DEPTH) {
                        size_t k = cas_run(pc + sent, n - sent);
                        inflight[waiting] = (struct bd_nic_cas_msg){nic->next_id++, sent, k};
                        if ((err = send_cas(nic, pc + sent, k, inflight[waiting].id)))
                                return err;
                        sent += k;
                        waiting++;
                }
                struct bd_msg reply;
                struct bd_error *rerr = recv_msg(nic, &reply);
                if (rerr) {
                        bd_error_destroy(err);
                        drain(nic, (unsigned)waiting, rerr->message);
                        return rerr;
                }
                struct bd_error *perr = bd_nic_cas_reply(p, pc, inflight, &waiting, &reply, &err);
                if (perr) {
                        bd_error_destroy(err);
                        drain(nic, (unsigned)waiting, perr->message);
                        return perr;
                }
                p->round_trips++;
        }
        return err;
}
