/* What the monitor makes of what a NIC says, apart from the transport
 * (phys_nic.c): the challenge and the welcome of the handshake, and the
 * replies to reads and to compare-and-swaps. A NIC is not trusted until it
 * has proved the key, and even then its replies are checked against what
 * was asked: nothing here writes outside the buffers a request named. No
 * verbs, so that a byte stream can play the NIC
 * (tests/fuzz/fuzz_nic_answers.c). */
#ifndef BD_NIC_ANSWERS_H
#define BD_NIC_ANSWERS_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/auth.h"
#include "../../common/wire.h"
#include "phys.h"

/* The NIC's HELLO: its nonce, and the proof of key over it and over this
 * connection's channel, in *auth, to send. ch comes with this end's UC
 * queue pair (0: none) and leaves with the NIC's as the HELLO names it;
 * a NIC without one gets none named. */
struct bd_error *bd_nic_answer_hello(const struct bd_msg *hello, const struct bd_key *key,
                                     struct bd_auth_channel *ch, uint8_t nic_nonce[BD_NONCE_LEN],
                                     struct bd_msg *auth);
/* The NIC's answer to *auth: a WELCOME whose proof checks out gives p its
 * window table; a REFUSED, anything else, or a wrong proof is an error. */
struct bd_error *bd_nic_check_welcome(const struct bd_msg *msg, const struct bd_key *key,
                                      const uint8_t nic_nonce[BD_NONCE_LEN],
                                      const struct bd_msg *auth, const struct bd_auth_channel *ch,
                                      struct bd_phys *p);

/* A read in flight in one staging slot. */
struct bd_nic_read_op {
        int busy;
        int mediated;
        int bitmap;       /* ZEROMAP, PAGEMATCH: dest gets the reply's bitmap, len bytes */
        int uc;           /* asked over UC: its answer may never come */
        uint64_t sent_ns; /* UC: when it was asked */
        void *dest;
        size_t len; /* READV: the sum of the segments */
        uint32_t id;
        uint8_t window;  /* mediated READ, READV: what to ask again */
        uint64_t offset; /* READ */
        unsigned nvec;   /* READV: segments, else 0 */
        struct {
                void *dest;
                uint32_t len;
                uint64_t offset;
        } vec[BD_READV_MAX_SEGS];
};

/* The op of ops[0..nops) waiting for the answer with id, or -1. */
int bd_nic_read_find(const struct bd_nic_read_op *ops, unsigned nops, uint32_t id);

/* How long a read asked over UC waits for its answer before it is asked
 * again over RC, from the smoothed round trip of those answered (0: none
 * yet). */
uint64_t bd_nic_uc_timeout_ns(uint64_t srtt_ns);
/* The smoothed round trip after one more of rtt_ns (the first sets it). */
uint64_t bd_nic_uc_srtt(uint64_t srtt_ns, uint64_t rtt_ns);

/* A REPLY (msg) to one of the mediated reads in ops[0..nops): its bytes go
 * where the read wanted them, from the reply or (a READ past the inline
 * limit) from the op's staging slot, stage + slot * slot_len, where the
 * NIC wrote them. The op is done whether or not the reply is good; a reply
 * to no read in flight is an error and finishes none. *done counts the ops
 * finished. */
struct bd_error *bd_nic_read_reply(struct bd_nic_read_op *ops, unsigned nops, const uint8_t *stage,
                                   size_t slot_len, const struct bd_msg *msg, unsigned *done);

/* A CAS request in flight: the pieces [first, first + count) it carries,
 * one (BD_OP_CAS) or several (BD_OP_CASV). */
struct bd_nic_cas_msg {
        uint32_t id;
        size_t first, count;
};

/* A REPLY (msg) to one of the *waiting requests of inflight, which it
 * leaves: its pieces of pc (of p's windows) answered or refused, the first
 * refusal kept in *refused. A reply to no request, or answers that do not
 * match its pieces, is an error (the connection is no more to be used). */
struct bd_error *bd_nic_cas_reply(const struct bd_phys *p, struct bd_phys_cas_piece *pc,
                                  struct bd_nic_cas_msg *inflight, size_t *waiting,
                                  const struct bd_msg *msg, struct bd_error **refused);

#endif
