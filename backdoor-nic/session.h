/* One peer's conversation with the NIC, apart from its transport: the
 * challenge, the peer's proof of a key, the welcome, then requests served
 * on the windows. serve.c owns the queues, the memory registrations and
 * the deadlines, and feeds this each message it receives; nothing here
 * touches verbs, so that a byte stream can drive the whole conversation
 * (tests/fuzz/fuzz_nic_session.c) as a hostile peer would. */
#ifndef BD_NIC_SESSION_H
#define BD_NIC_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "../common/auth.h"
#include "../common/wire.h"
#include "serve.h"

enum bd_session_state {
        BD_SESSION_ACCEPTED,   /* the transport is not connected yet */
        BD_SESSION_CHALLENGED, /* HELLO sent, waiting for AUTH */
        BD_SESSION_SERVING,
        BD_SESSION_CLOSING, /* refused or failed: nothing more is served */
};

struct bd_session {
        const struct bd_nic_config *cfg;
        enum bd_session_state state;
        struct bd_auth_channel ch;
        uint8_t nonce[BD_NONCE_LEN], peer_nonce[BD_NONCE_LEN];
        const struct bd_key *key; /* the key the peer proved */
        int writer;               /* it may write (the writers' key, --allow-write) */
        char peer[64];
        char close_reason[96]; /* audited once, when the connection ends */
        /* What the peer had served, audited when it leaves: the bytes of
         * target memory that crossed the fabric, and those only scanned. */
        uint64_t requests, read_bytes, scanned_bytes;
        /* Small reads over UC (wire.h): when both ends have a UC queue
         * pair, sealed under seal; those asked so, and those dropped. */
        int uc;
        struct bd_seal seal;
        uint64_t uc_requests, uc_dropped;
        uint8_t reply[BD_INLINE_MAX]; /* a READV, ZEROMAP or CASV reply's bytes, until encoded */
};

/* What the transport is to do after a message. */
enum bd_session_step {
        BD_STEP_NONE,   /* nothing: the session is closing already */
        BD_STEP_SEND,   /* send out->msg */
        BD_STEP_BULK,   /* write out->bulk to the peer's sink (RDMA WRITE), then send out->msg */
        BD_STEP_GRANT,  /* the peer proved a key: give it its memory, then bd_session_welcome() */
        BD_STEP_REFUSE, /* send out->msg, a REFUSED, then disconnect */
        BD_STEP_CLOSE,  /* disconnect; close_reason says why */
};

struct bd_session_out {
        struct bd_msg msg; /* may point into the window's memory or the session */
        const uint8_t *bulk;
        uint32_t bulk_len;
        uint64_t sink_addr;
        uint32_t sink_rkey;
};

void bd_session_init(struct bd_session *s, const struct bd_nic_config *cfg, const char *peer);
/* The transport is connected on ch (its nic_uc_qpn this end's UC queue
 * pair, or 0): challenge the peer with *hello. */
void bd_session_hello(struct bd_session *s, const struct bd_auth_channel *ch, struct bd_msg *hello);
/* One message as received, len bytes: hostile until proven otherwise. */
enum bd_session_step bd_session_receive(struct bd_session *s, const uint8_t *buf, size_t len,
                                        struct bd_session_out *out);
/* One message as received on the UC queue pair, len bytes: a sealed
 * READ to answer inline or READV, answered by BD_STEP_SEND (out->msg, to
 * seal and send over UC); anything else is dropped (BD_STEP_NONE) and
 * counted, for no one but the peer could have asked it over RC, and the
 * connection is not to be ended by a stranger's forgery. */
enum bd_session_step bd_session_receive_uc(struct bd_session *s, const uint8_t *buf, size_t len,
                                           struct bd_session_out *out);
/* After BD_STEP_GRANT, *welcome (out->msg) holds the windows as this peer
 * may use them; the transport has set each direct window's address and key
 * (or made it mediated). Seal the table with the key's proof and serve. */
void bd_session_welcome(struct bd_session *s, struct bd_msg *welcome);
/* Refuse the peer (reason goes on the wire, why into the audit log). */
void bd_session_refuse(struct bd_session *s, enum bd_err reason, const char *why,
                       struct bd_msg *refused);
/* End the session for why, unless it is ending already. */
void bd_session_close(struct bd_session *s, const char *why);

#endif
