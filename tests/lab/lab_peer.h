/* A peer of bdnicd for lab tools that must do what bdmon never does (a
 * one-sided write, requests it never takes answers to): an authenticated
 * session on the library's transport, with its queue pair in the tool's
 * hands. */
#ifndef BD_LAB_PEER_H
#define BD_LAB_PEER_H

#include "../../common/auth.h"
#include "../../common/rdma_conn.h"
#include "../../common/wire.h"
#include "../../monitor/source/target.h"

struct lab_session {
        struct rdma_event_channel *ch;
        struct bd_conn c;
        struct bd_welcome welcome;
};

/* IBV_WC_* by name ("IBV_WC_REM_ACCESS_ERR"), for messages a test greps. */
const char *lab_wc_status_name(enum ibv_wc_status st);

/* Connect to the NIC t names, with depth receive slots and initiator_depth
 * one-sided READs in flight, and authenticate with key (the NIC's proof
 * checked too). The handshake's two receives are not posted again. */
struct bd_error *lab_session_open(struct lab_session *s, const struct bd_target *t,
                                  const struct bd_key *key, int timeout_ms, unsigned depth,
                                  unsigned initiator_depth);
void lab_session_close(struct lab_session *s);

#endif
