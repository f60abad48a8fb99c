#include "nic_answers.h"

#include <string.h>

struct bd_error *bd_nic_answer_hello(const struct bd_msg *hello, const struct bd_key *key,
                                     struct bd_auth_channel *ch, uint8_t nic_nonce[BD_NONCE_LEN],
                                     struct bd_msg *auth)
{
        if (hello->type != BD_MSG_HELLO)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "peer is not a Backdoors NIC (message %u for its HELLO)",
                                    hello->type);
        if (hello->u.hello.version != BD_WIRE_VERSION)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "the NIC speaks protocol version %u, this monitor %d "
                                    "(upgrade the older of the two)",
                                    hello->u.hello.version, BD_WIRE_VERSION);
        memcpy(nic_nonce, hello->u.hello.nonce, BD_NONCE_LEN);
        ch->nic_uc_qpn = hello->u.hello.uc_qpn;
        if (!ch->nic_uc_qpn)
                ch->monitor_uc_qpn = 0;
        *auth = (struct bd_msg){.type = BD_MSG_AUTH};
        auth->u.auth.uc_qpn = ch->monitor_uc_qpn;
        bd_auth_nonce(auth->u.auth.nonce);
        bd_auth_monitor_mac(key, nic_nonce, auth->u.auth.nonce, ch, auth->u.auth.mac);
        return NULL;
}

struct bd_error *bd_nic_check_welcome(const struct bd_msg *msg, const struct bd_key *key,
                                      const uint8_t nic_nonce[BD_NONCE_LEN],
                                      const struct bd_msg *auth, const struct bd_auth_channel *ch,
                                      struct bd_phys *p)
{
        if (msg->type == BD_MSG_REFUSED)
                return bd_error_new(BD_ERR_AUTH, "authentication refused by the NIC "
                                                 "(wrong key)");
        if (msg->type != BD_MSG_WELCOME)
                return bd_error_new(BD_ERR_PROTOCOL, "unexpected message %u during authentication",
                                    msg->type);
        uint8_t expect[BD_MAC_LEN];
        bd_auth_nic_mac(key, nic_nonce, auth->u.auth.nonce, ch, msg->u.welcome.windows,
                        msg->u.welcome.nwindows, expect);
        if (!bd_auth_mac_equal(expect, msg->u.welcome.mac))
                return bd_error_new(BD_ERR_AUTH, "the NIC could not prove it holds the key; "
                                                 "refusing to trust it");
        p->nwindows = msg->u.welcome.nwindows;
        memcpy(p->windows, msg->u.welcome.windows, sizeof(p->windows));
        return NULL;
}

static struct bd_error *reply_error(uint32_t status, const char *what)
{
        switch (status) {
        case BD_ERR_RANGE:
                return bd_error_new(BD_ERR_RANGE, "NIC refused %s: outside its window", what);
        case BD_ERR_READONLY:
                return bd_error_new(BD_ERR_READONLY,
                                    "NIC refused %s: it exports this "
                                    "window read-only (start bdnicd with --allow-write)",
                                    what);
        default:
                return bd_error_new(BD_ERR_PROTOCOL, "NIC failed %s with status %u", what, status);
        }
}

/* A reply's bytes to where the read wanted them; its length has been
 * checked against the read's. */
static void deliver(const struct bd_nic_read_op *op, const uint8_t *staged,
                    const struct bd_reply *r)
{
        if (!op->nvec) {
                memcpy(op->dest, r->length ? r->data : staged, op->len);
                return;
        }
        size_t at = 0;
        for (unsigned i = 0; i < op->nvec; i++) {
                memcpy(op->vec[i].dest, r->data + at, op->vec[i].len);
                at += op->vec[i].len;
        }
}

int bd_nic_read_find(const struct bd_nic_read_op *ops, unsigned nops, uint32_t id)
{
        for (unsigned s = 0; s < nops; s++)
                if (ops[s].busy && ops[s].mediated && ops[s].id == id)
                        return (int)s;
        return -1;
}

uint64_t bd_nic_uc_timeout_ns(uint64_t srtt_ns)
{
        /* Before any answer: long enough for a first round trip on a slow
         * fabric, short against the seconds of a connection's timeout. */
        if (!srtt_ns)
                return 50000000u;
        /* Far out in the tail: an answer asked again is answered over RC
         * (the late one from UC is dropped), so a wait cut short costs a
         * round trip more, where UC's real losses are rare. In the lab
         * (TCG) a round trip's p99 is 5 to 10 times its mean. */
        uint64_t t = 8 * srtt_ns;
        return t < 10000000u ? 10000000u : t > 500000000u ? 500000000u : t;
}

uint64_t bd_nic_uc_srtt(uint64_t srtt_ns, uint64_t rtt_ns)
{
        return srtt_ns ? srtt_ns - srtt_ns / 8 + rtt_ns / 8 : rtt_ns;
}

struct bd_error *bd_nic_read_reply(struct bd_nic_read_op *ops, unsigned nops, const uint8_t *stage,
                                   size_t slot_len, const struct bd_msg *msg, unsigned *done)
{
        int found = bd_nic_read_find(ops, nops, msg->id);
        if (found < 0)
                return bd_error_new(BD_ERR_PROTOCOL, "reply to no request");
        unsigned s = (unsigned)found;
        const struct bd_reply *r = &msg->u.reply;
        struct bd_nic_read_op *op = &ops[s];
        struct bd_error *err = NULL;
        /* Without inline bytes a plain READ's went to its staging slot by
         * the NIC's RDMA WRITE, which only a read past the inline limit
         * asks for; every other read needs them all inline. */
        if (msg->type != BD_MSG_REPLY)
                err = bd_error_new(BD_ERR_PROTOCOL, "message of type %u for a reply", msg->type);
        else if (r->status)
                err = reply_error(r->status, "a read");
        else if ((r->length || op->nvec || op->bitmap || op->len <= BD_INLINE_MAX) &&
                 r->length != op->len)
                err =
                    bd_error_new(BD_ERR_PROTOCOL, "reply of %u bytes for %zu", r->length, op->len);
        else
                deliver(op, stage + (size_t)s * slot_len, r);
        op->busy = 0;
        (*done)++;
        return err;
}

/* A CAS reply's status as an error; NULL when it was made or mismatched. */
static struct bd_error *cas_status(const struct bd_phys *p, unsigned window, uint32_t status)
{
        /* A read-write window refused: the NIC could not audit the write,
         * so it did not make it (fail closed). */
        if (status == BD_ERR_READONLY && p->windows[window].access == BD_ACCESS_RW)
                return bd_error_new(BD_ERR_READONLY,
                                    "NIC refused the compare-and-swap: it could not write its "
                                    "audit line, and writes nothing unaudited");
        return status ? reply_error(status, "the compare-and-swap") : NULL;
}

/* One piece's answer; the first refusal is kept in *refused. */
static void cas_answer(const struct bd_phys *p, struct bd_phys_cas_piece *pc, uint32_t status,
                       uint64_t found, struct bd_error **refused)
{
        struct bd_error *bad = cas_status(p, pc->window, status);
        if (!bad) {
                pc->found = found;
                pc->state = BD_CAS_ANSWERED;
                return;
        }
        pc->state = BD_CAS_REFUSED;
        if (*refused)
                bd_error_destroy(bad);
        else
                *refused = bad;
}

struct bd_error *bd_nic_cas_reply(const struct bd_phys *p, struct bd_phys_cas_piece *pc,
                                  struct bd_nic_cas_msg *inflight, size_t *waiting,
                                  const struct bd_msg *msg, struct bd_error **refused)
{
        size_t m = 0;
        while (m < *waiting && inflight[m].id != msg->id)
                m++;
        if (msg->type != BD_MSG_REPLY || m == *waiting)
                return bd_error_new(BD_ERR_PROTOCOL, "reply to no compare-and-swap");
        const struct bd_reply *r = &msg->u.reply;
        struct bd_nic_cas_msg cm = inflight[m];
        inflight[m] = inflight[--*waiting];
        struct bd_phys_cas_piece *at = pc + cm.first;
        if (cm.count == 1 || r->status) {
                /* A CASV refused whole (a word outside the window, a
                 * read-only one) made none of its operations. */
                for (size_t i = 0; i < cm.count; i++)
                        cas_answer(p, &at[i], r->status, r->old, refused);
                return NULL;
        }
        if (r->length != cm.count * BD_CASV_ANSWER_LEN)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "%u bytes of answers for %zu compare-and-swaps", r->length,
                                    cm.count);
        for (size_t i = 0; i < cm.count; i++) {
                uint64_t found;
                uint32_t status;
                bd_wire_casv_answer_get(r->data, (unsigned)i, &found, &status);
                cas_answer(p, &at[i], status, found, refused);
        }
        return NULL;
}
