/* Lab peers of bdnicd: see lab_peer.h. */
#include "lab_peer.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/source/nic_answers.h"

const char *lab_wc_status_name(enum ibv_wc_status st)
{
#define NAME(s) [IBV_WC_##s] = "IBV_WC_" #s
        static const char *const names[] = {
            NAME(SUCCESS),           NAME(LOC_LEN_ERR),
            NAME(LOC_QP_OP_ERR),     NAME(LOC_EEC_OP_ERR),
            NAME(LOC_PROT_ERR),      NAME(WR_FLUSH_ERR),
            NAME(MW_BIND_ERR),       NAME(BAD_RESP_ERR),
            NAME(LOC_ACCESS_ERR),    NAME(REM_INV_REQ_ERR),
            NAME(REM_ACCESS_ERR),    NAME(REM_OP_ERR),
            NAME(RETRY_EXC_ERR),     NAME(RNR_RETRY_EXC_ERR),
            NAME(LOC_RDD_VIOL_ERR),  NAME(REM_INV_RD_REQ_ERR),
            NAME(REM_ABORT_ERR),     NAME(INV_EECN_ERR),
            NAME(INV_EEC_STATE_ERR), NAME(FATAL_ERR),
            NAME(RESP_TIMEOUT_ERR),  NAME(GENERAL_ERR),
        };
#undef NAME
        if ((unsigned)st < sizeof(names) / sizeof(names[0]) && names[st])
                return names[st];
        return ibv_wc_status_str(st);
}

static struct bd_error *cm_expect(struct lab_session *s, int want, int timeout_ms, const char *what)
{
        int ev = bd_cm_wait(s->ch, timeout_ms, NULL, NULL);
        if (ev == want)
                return NULL;
        return bd_error_new(BD_ERR_UNREACHABLE, "%s: %s", what,
                            ev < 0 ? "no answer in time" : rdma_event_str(ev));
}

/* The next message from the NIC; it points into its receive slot, which
 * is not posted again. */
static struct bd_error *next_msg(struct lab_session *s, int timeout_ms, struct bd_msg *msg)
{
        for (;;) {
                struct ibv_wc wc;
                if (bd_conn_wait(&s->c, &wc, 1, timeout_ms, 0) <= 0)
                        return bd_error_new(BD_ERR_UNREACHABLE, "no message from the NIC in %d ms",
                                            timeout_ms);
                if (wc.status != IBV_WC_SUCCESS)
                        return bd_error_new(BD_ERR_IO, "connection failed: %s",
                                            lab_wc_status_name(wc.status));
                if (bd_wr_kind_of(wc.wr_id) == BD_WR_SEND) {
                        bd_conn_send_done(&s->c, bd_wr_slot_of(wc.wr_id));
                        continue;
                }
                const char *why;
                if (bd_wire_decode(bd_conn_recv_buf(&s->c, bd_wr_slot_of(wc.wr_id)), wc.byte_len,
                                   msg, &why))
                        return bd_error_new(BD_ERR_PROTOCOL, "malformed message: %s", why);
                return NULL;
        }
}

/* HELLO, AUTH, WELCOME; the NIC's proof is checked too, so that what the
 * test concludes is about the real NIC. */
static struct bd_error *authenticate(struct lab_session *s, const struct bd_key *key,
                                     int timeout_ms)
{
        struct bd_msg hello, reply, auth;
        struct bd_auth_channel ch; /* a lab peer has no UC queue pair */
        uint8_t nic_nonce[BD_NONCE_LEN];
        struct bd_error *err = next_msg(s, timeout_ms, &hello);
        if (err || (err = bd_conn_channel(s->c.id, 0, &ch)) ||
            (err = bd_nic_answer_hello(&hello, key, &ch, nic_nonce, &auth)))
                return err;
        if ((err = bd_conn_send(&s->c, &auth, NULL)) || (err = next_msg(s, timeout_ms, &reply)))
                return err;
        if (reply.type != BD_MSG_WELCOME)
                return bd_error_new(BD_ERR_AUTH, "refused by the NIC (message %u): wrong key?",
                                    reply.type);
        uint8_t expect[BD_MAC_LEN];
        bd_auth_nic_mac(key, nic_nonce, auth.u.auth.nonce, &ch, reply.u.welcome.windows,
                        reply.u.welcome.nwindows, expect);
        if (!bd_auth_mac_equal(expect, reply.u.welcome.mac))
                return bd_error_new(BD_ERR_AUTH, "the NIC could not prove it holds the key");
        s->welcome = reply.u.welcome;
        return NULL;
}

void lab_session_close(struct lab_session *s)
{
        if (s->c.id && s->c.id->qp)
                rdma_disconnect(s->c.id);
        struct rdma_cm_id *id = s->c.id;
        bd_conn_destroy(&s->c);
        if (id)
                rdma_destroy_id(id);
        if (s->ch)
                rdma_destroy_event_channel(s->ch);
        memset(s, 0, sizeof(*s));
}

struct bd_error *lab_session_open(struct lab_session *s, const struct bd_target *t,
                                  const struct bd_key *key, int timeout_ms, unsigned depth,
                                  unsigned initiator_depth)
{
        memset(s, 0, sizeof(*s));
        char port[16];
        snprintf(port, sizeof(port), "%d", t->port);
        struct addrinfo hints = {.ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *ai;
        int gai = getaddrinfo(t->host, port, &hints, &ai);
        if (gai)
                return bd_error_new(BD_ERR_UNREACHABLE, "%s: %s", t->host, gai_strerror(gai));
        struct bd_error *err = NULL;
        if (!(s->ch = rdma_create_event_channel()) ||
            rdma_create_id(s->ch, &s->c.id, NULL, RDMA_PS_TCP))
                err = bd_error_new(BD_ERR_UNREACHABLE, "no RDMA on this machine");
        else if (rdma_resolve_addr(s->c.id, NULL, ai->ai_addr, timeout_ms))
                err = bd_error_new(BD_ERR_UNREACHABLE, "no RDMA device reaches %s", t->host);
        else
                err = cm_expect(s, RDMA_CM_EVENT_ADDR_RESOLVED, timeout_ms, "address");
        freeaddrinfo(ai);
        if (!err && rdma_resolve_route(s->c.id, timeout_ms))
                err = bd_error_new(BD_ERR_UNREACHABLE, "no route to %s", t->host);
        if (!err)
                err = cm_expect(s, RDMA_CM_EVENT_ROUTE_RESOLVED, timeout_ms, "route");
        if (!err)
                err = bd_conn_create(&s->c, s->c.id, depth);
        /* The NIC grants as many READs in flight as we ask. */
        struct rdma_conn_param param = {
            .initiator_depth = (uint8_t)initiator_depth, .retry_count = 7, .rnr_retry_count = 7};
        if (!err && rdma_connect(s->c.id, &param))
                err = bd_error_new(BD_ERR_UNREACHABLE, "rdma_connect to %s failed", t->host);
        if (!err)
                err = cm_expect(s, RDMA_CM_EVENT_ESTABLISHED, timeout_ms, "connection");
        if (!err)
                err = authenticate(s, key, timeout_ms);
        if (err)
                lab_session_close(s);
        return err;
}
