#include "session.h"

#include <stdio.h>
#include <string.h>

#include "../common/audit.h"

void bd_session_init(struct bd_session *s, const struct bd_nic_config *cfg, const char *peer)
{
        memset(s, 0, sizeof(*s));
        s->cfg = cfg;
        s->state = BD_SESSION_ACCEPTED;
        snprintf(s->peer, sizeof(s->peer), "%s", peer);
}

void bd_session_hello(struct bd_session *s, const struct bd_auth_channel *ch, struct bd_msg *hello)
{
        s->ch = *ch;
        bd_auth_nonce(s->nonce);
        *hello = (struct bd_msg){.type = BD_MSG_HELLO};
        hello->u.hello.version = BD_WIRE_VERSION;
        memcpy(hello->u.hello.nonce, s->nonce, BD_NONCE_LEN);
        hello->u.hello.uc_qpn = ch->nic_uc_qpn;
        s->state = BD_SESSION_CHALLENGED;
}

void bd_session_close(struct bd_session *s, const char *why)
{
        if (s->state == BD_SESSION_CLOSING)
                return;
        snprintf(s->close_reason, sizeof(s->close_reason), "%s", why);
        s->state = BD_SESSION_CLOSING;
}

void bd_session_refuse(struct bd_session *s, enum bd_err reason, const char *why,
                       struct bd_msg *refused)
{
        *refused = (struct bd_msg){.type = BD_MSG_REFUSED};
        refused->u.refused.reason = reason;
        bd_audit("auth-refused peer=%s reason=\"%s\"", s->peer, why);
        s->writer = 0;
        bd_session_close(s, "authentication refused");
}

static enum bd_session_step on_auth(struct bd_session *s, const struct bd_auth *auth,
                                    struct bd_msg *out)
{
        const struct bd_nic_config *cfg = s->cfg;
        uint8_t expect[BD_MAC_LEN];
        /* The readers' key, or the writers' when it is another. */
        const struct bd_key *key = &cfg->key;
        s->ch.monitor_uc_qpn = auth->uc_qpn;
        bd_auth_monitor_mac(key, s->nonce, auth->nonce, &s->ch, expect);
        if (!bd_auth_mac_equal(expect, auth->mac) && cfg->has_write_key) {
                key = &cfg->write_key;
                bd_auth_monitor_mac(key, s->nonce, auth->nonce, &s->ch, expect);
        }
        if (!bd_auth_mac_equal(expect, auth->mac)) {
                bd_session_refuse(s, BD_ERR_AUTH,
                                  "wrong key, or a proof made on another connection", out);
                return BD_STEP_REFUSE;
        }
        s->key = key;
        s->writer = cfg->allow_write && (!cfg->has_write_key || key == &cfg->write_key);
        memcpy(s->peer_nonce, auth->nonce, BD_NONCE_LEN);
        s->uc = s->ch.monitor_uc_qpn && s->ch.nic_uc_qpn;
        if (s->uc)
                bd_seal_init(&s->seal, key, s->nonce, auth->nonce, &s->ch, 1);

        *out = (struct bd_msg){.type = BD_MSG_WELCOME};
        struct bd_welcome *w = &out->u.welcome;
        w->nwindows = cfg->nwindows;
        for (unsigned i = 0; i < cfg->nwindows; i++) {
                w->windows[i] = cfg->windows[i].desc;
                if (!s->writer) /* what this peer may do, not what the window could */
                        w->windows[i].access = BD_ACCESS_RO;
        }
        return BD_STEP_GRANT;
}

void bd_session_welcome(struct bd_session *s, struct bd_msg *welcome)
{
        struct bd_welcome *w = &welcome->u.welcome;
        bd_auth_nic_mac(s->key, s->nonce, s->peer_nonce, &s->ch, w->windows, w->nwindows, w->mac);
        s->state = BD_SESSION_SERVING;
        bd_audit("auth-ok peer=%s windows=%u role=%s", s->peer, w->nwindows,
                 s->writer ? "writer" : "reader");
}

/* Why a write is refused: the window, or the peer's key. */
static const char *refusal(const struct bd_session *s, const struct bd_nic_window *win)
{
        return win->desc.access == BD_ACCESS_RW && !s->writer ? "reader" : "read-only";
}

static enum bd_session_step on_request(struct bd_session *s, uint32_t id,
                                       const struct bd_request *rq, struct bd_session_out *out)
{
        const struct bd_nic_config *cfg = s->cfg;
        out->msg = (struct bd_msg){.type = BD_MSG_REPLY, .id = id};
        struct bd_reply *rp = &out->msg.u.reply;

        if (rq->window >= cfg->nwindows) {
                rp->status = BD_ERR_RANGE;
                return BD_STEP_SEND;
        }
        const struct bd_nic_window *win = &cfg->windows[rq->window];
        s->requests++;
        size_t got;
        if (rq->op == BD_OP_READV) {
                rp->status = (uint32_t)bd_window_readv(win, rq->data, rq->length / BD_READV_SEG_LEN,
                                                       s->reply, sizeof(s->reply), &got);
                if (!rp->status) {
                        rp->length = (uint32_t)got;
                        rp->data = s->reply; /* copied into the send buffer by encoding */
                        s->read_bytes += got;
                }
                return BD_STEP_SEND;
        }
        if (rq->op == BD_OP_ZEROMAP || rq->op == BD_OP_PAGEMATCH) {
                struct bd_page_pattern pats[BD_PAGEMATCH_MAX_PATS];
                unsigned npats =
                    rq->op == BD_OP_PAGEMATCH ? rq->data_len / BD_PAGEMATCH_PAT_LEN : 0;
                if (npats > BD_PAGEMATCH_MAX_PATS) /* bd_wire_decode allows none */
                        npats = BD_PAGEMATCH_MAX_PATS;
                for (unsigned i = 0; i < npats; i++)
                        bd_wire_pattern_get(rq->data, i, &pats[i]);
                rp->status = (uint32_t)bd_window_pagemap(win, rq->offset, rq->length, pats, npats,
                                                         s->reply, sizeof(s->reply), &got);
                if (!rp->status) {
                        rp->length = (uint32_t)got;
                        rp->data = s->reply;
                        s->scanned_bytes += rq->length;
                }
                return BD_STEP_SEND;
        }
        int writable = s->writer && win->desc.access == BD_ACCESS_RW;
        if (rq->op == BD_OP_CASV) {
                unsigned nops = rq->length / BD_CASV_OP_LEN;
                if (!writable) {
                        rp->status = BD_ERR_READONLY;
                        bd_audit("write-refused peer=%s window=%s op=casv ops=%u reason=%s",
                                 s->peer, win->desc.name, nops, refusal(s, win));
                        return BD_STEP_SEND;
                }
                rp->status = (uint32_t)bd_window_casv(win, s->peer, rq->data, nops, s->reply);
                if (!rp->status) {
                        rp->length = nops * BD_CASV_ANSWER_LEN;
                        rp->data = s->reply;
                }
                return BD_STEP_SEND;
        }
        uint64_t len = bd_window_span(&win->desc, rq);
        if (!len || (rq->op == BD_OP_READ && len > BD_READ_MAX)) {
                rp->status = BD_ERR_RANGE;
                return BD_STEP_SEND;
        }
        const uint8_t *at = win->map + rq->offset;
        if (rq->op == BD_OP_READ) {
                s->read_bytes += len;
                if (len <= BD_INLINE_MAX) {
                        rp->length = (uint32_t)len;
                        rp->data = at; /* encoding copies straight from the source */
                        return BD_STEP_SEND;
                }
                out->bulk = at;
                out->bulk_len = (uint32_t)len;
                out->sink_addr = rq->sink_addr;
                out->sink_rkey = rq->sink_rkey;
                return BD_STEP_BULK;
        }

        /* WRITE or CAS, to a direct window as to a mediated one: made by
         * this CPU, audited before the memory changes, or not at all. */
        if (!writable) {
                rp->status = BD_ERR_READONLY;
                bd_audit("write-refused peer=%s window=%s op=%s offset=0x%llx len=%llu "
                         "reason=%s",
                         s->peer, win->desc.name, bd_op_name(rq->op),
                         (unsigned long long)rq->offset, (unsigned long long)len, refusal(s, win));
                return BD_STEP_SEND;
        }
        rp->status = (uint32_t)bd_window_write(win, s->peer, rq, &rp->old);
        return BD_STEP_SEND;
}

enum bd_session_step bd_session_receive(struct bd_session *s, const uint8_t *buf, size_t len,
                                        struct bd_session_out *out)
{
        memset(out, 0, sizeof(*out));
        if (s->state == BD_SESSION_CLOSING)
                return BD_STEP_NONE;
        struct bd_msg msg;
        const char *why;
        char reason[96];
        if (bd_wire_decode(buf, len, &msg, &why)) {
                snprintf(reason, sizeof(reason), "malformed message: %s", why);
                bd_session_close(s, reason);
                return BD_STEP_CLOSE;
        }
        if (s->state == BD_SESSION_CHALLENGED && msg.type == BD_MSG_AUTH)
                return on_auth(s, &msg.u.auth, &out->msg);
        if (s->state == BD_SESSION_SERVING && msg.type == BD_MSG_REQUEST)
                return on_request(s, msg.id, &msg.u.request, out);
        snprintf(reason, sizeof(reason), "unexpected message of type %u%s", msg.type,
                 s->state == BD_SESSION_SERVING ? "" : " before authentication");
        bd_session_close(s, reason);
        return BD_STEP_CLOSE;
}

enum bd_session_step bd_session_receive_uc(struct bd_session *s, const uint8_t *buf, size_t len,
                                           struct bd_session_out *out)
{
        memset(out, 0, sizeof(*out));
        struct bd_msg msg;
        const char *why;
        size_t body =
            s->state == BD_SESSION_SERVING && s->uc ? bd_seal_open(&s->seal, buf, len) : 0;
        /* Only what needs no acknowledgement: a read whose answer fits the
         * reply. Writes, and reads whose bytes go by RDMA WRITE, take RC. */
        if (!body || bd_wire_decode(buf, body, &msg, &why) || msg.type != BD_MSG_REQUEST ||
            !(msg.u.request.op == BD_OP_READV ||
              (msg.u.request.op == BD_OP_READ && msg.u.request.length <= BD_INLINE_MAX))) {
                s->uc_dropped++;
                return BD_STEP_NONE;
        }
        s->uc_requests++;
        return on_request(s, msg.id, &msg.u.request, out);
}
