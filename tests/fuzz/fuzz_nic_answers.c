/* libFuzzer target: what the monitor makes of a NIC's messages
 * (monitor/source/nic_answers.h), the NIC played by a byte stream.
 *
 * Input: a byte choosing the part (its low four bits mod 3) and its flags, a byte
 * of set-up, then messages, each a 2-byte little-endian length and its
 * bytes (the last takes what is left).
 *   0  handshake: the first message is the HELLO; the second the answer
 *      to the proof, or, with flag 0x10, a WELCOME this harness seals with
 *      the key over the second message's window table (0x20: sealed over
 *      another connection's channel).
 *   1  reads: the set-up byte chooses which of eight reads in flight (a
 *      plain read inline, one in bulk past the inline limit, a READV, a
 *      zero map...) are mediated; every message is a reply.
 *   2  compare-and-swaps: four requests in flight (one CAS, CASVs of 2, 3
 *      and 10 words) of twenty pieces; every message is a reply.
 *
 * Invariants: the fuzzer's bytes never pass for a NIC that holds the key,
 * a sealed welcome always does (its table taken as it came) and one sealed
 * on another channel never; a reply finishes at most the one read its id
 * names, writing only that read's buffers (each exactly sized, so ASan
 * sees a byte past them), and exactly what the reply carried or the
 * staging slot held; a CAS reply answers or refuses only the pieces of its
 * request, each once, and a refusal is kept; errors are one line with a
 * code a NIC can cause. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/source/nic_answers.h"
#include "fuzz_check.h"
#include "fuzz_stream.h"

#define MAX_MESSAGES 32
#define SLOT_LEN     (64u * 1024u)
#define NREADS       8
#define NPIECES      20
#define NCAS         4

/* The next message that decodes (free() it); NULL when the stream is
 * over. Those that do not decode are skipped: the transport refuses them
 * before this. */
static uint8_t *next_message(struct fuzz_stream *in, struct bd_msg *msg)
{
        size_t len;
        const char *why;
        for (uint8_t *m; (m = fuzz_stream_next(in, &len)); free(m))
                if (!bd_wire_decode(m, len, msg, &why))
                        return m;
        return NULL;
}

static void check_error(const struct bd_error *err, int auth_too)
{
        CHECK(err->message[0] && !strchr(err->message, '\n'));
        CHECK(err->code == BD_ERR_PROTOCOL || err->code == BD_ERR_RANGE ||
              err->code == BD_ERR_READONLY || (auth_too && err->code == BD_ERR_AUTH));
}

static const struct bd_key key = {{1, 2, 3, 4, 5, 6, 7, 8}};
static const struct bd_auth_channel base_channel = {
    .monitor_qpn = 7, .nic_qpn = 9, .monitor_uc_qpn = 11};

static void handshake(struct fuzz_stream *in, uint8_t flags)
{
        struct bd_msg hello, auth, welcome;
        uint8_t *m = next_message(in, &hello);
        if (!m)
                return;
        uint8_t nic_nonce[BD_NONCE_LEN];
        struct bd_auth_channel channel = base_channel;
        struct bd_error *err = bd_nic_answer_hello(&hello, &key, &channel, nic_nonce, &auth);
        free(m);
        if (err) {
                CHECK(hello.type != BD_MSG_HELLO || hello.u.hello.version != BD_WIRE_VERSION);
                check_error(err, 0);
                bd_error_destroy(err);
                return;
        }
        CHECK(auth.type == BD_MSG_AUTH);
        /* The NIC's UC queue pair as its HELLO named it; ours only if it
         * has one. */
        CHECK(channel.nic_uc_qpn == hello.u.hello.uc_qpn);
        CHECK(auth.u.auth.uc_qpn == (hello.u.hello.uc_qpn ? base_channel.monitor_uc_qpn : 0));
        CHECK(channel.monitor_uc_qpn == auth.u.auth.uc_qpn);
        m = next_message(in, &welcome);
        if (!m)
                return;
        int sealed = flags & 0x10 && welcome.type == BD_MSG_WELCOME;
        if (sealed) {
                struct bd_auth_channel on = channel;
                on.monitor_qpn += !!(flags & 0x20);
                bd_auth_nic_mac(&key, nic_nonce, auth.u.auth.nonce, &on, welcome.u.welcome.windows,
                                welcome.u.welcome.nwindows, welcome.u.welcome.mac);
        }
        struct bd_phys p;
        memset(&p, 0, sizeof(p));
        err = bd_nic_check_welcome(&welcome, &key, nic_nonce, &auth, &channel, &p);
        free(m);
        if (sealed && !(flags & 0x20)) {
                CHECK(!err && p.nwindows == welcome.u.welcome.nwindows);
                CHECK(!memcmp(p.windows, welcome.u.welcome.windows, sizeof(p.windows)));
                return;
        }
        CHECK(err && !p.nwindows);
        CHECK(err->code == (welcome.type == BD_MSG_WELCOME || welcome.type == BD_MSG_REFUSED
                                ? BD_ERR_AUTH
                                : BD_ERR_PROTOCOL));
        check_error(err, 1);
        bd_error_destroy(err);
}

/* Reads in flight: each buffer exactly its length, filled with a byte
 * that no answer is made of here. */
static void reads(struct fuzz_stream *in, uint8_t setup)
{
        static const size_t lens[NREADS] = {
            8, BD_INLINE_MAX, BD_INLINE_MAX + 1, SLOT_LEN, 100, 0, 3, 1};
        static uint8_t stage[NREADS * SLOT_LEN];
        struct bd_nic_read_op ops[NREADS];
        uint8_t *bufs[NREADS][3] = {{0}};
        memset(ops, 0, sizeof(ops));
        for (unsigned i = 0; i < NREADS; i++) {
                ops[i] = (struct bd_nic_read_op){
                    .busy = 1, .mediated = setup >> i & 1, .id = i * 3, .len = lens[i]};
                if (i == 4) { /* a READV of three segments */
                        ops[i].nvec = 3;
                        for (unsigned k = 0; k < 3; k++) {
                                ops[i].vec[k].len = 10 * (k + 1) + (k == 2 ? 40 : 0);
                                bufs[i][k] = malloc(ops[i].vec[k].len);
                                CHECK(bufs[i][k]);
                                memset(bufs[i][k], 0xee, ops[i].vec[k].len);
                                ops[i].vec[k].dest = bufs[i][k];
                        }
                        continue;
                }
                ops[i].bitmap = i == 6;
                bufs[i][0] = malloc(lens[i] ? lens[i] : 1);
                CHECK(bufs[i][0]);
                memset(bufs[i][0], 0xee, lens[i]);
                ops[i].dest = bufs[i][0];
                memset(stage + i * SLOT_LEN, (int)(0x40 + i), SLOT_LEN);
        }
        unsigned done = 0;
        for (unsigned k = 0; k < MAX_MESSAGES; k++) {
                struct bd_msg msg;
                uint8_t *m = next_message(in, &msg);
                if (!m)
                        break;
                int match = -1;
                for (unsigned i = 0; i < NREADS; i++)
                        if (ops[i].busy && ops[i].mediated && ops[i].id == msg.id)
                                match = (int)i;
                unsigned before = done;
                struct bd_error *err = bd_nic_read_reply(ops, NREADS, stage, SLOT_LEN, &msg, &done);
                CHECK(done == before + (match >= 0));
                if (match >= 0)
                        CHECK(!ops[match].busy);
                if (err) {
                        check_error(err, 0);
                        bd_error_destroy(err);
                } else {
                        CHECK(match >= 0 && msg.type == BD_MSG_REPLY && !msg.u.reply.status);
                        const struct bd_nic_read_op *op = &ops[match];
                        if (op->nvec) {
                                size_t at = 0;
                                for (unsigned v = 0; v < op->nvec; v++) {
                                        CHECK(!memcmp(op->vec[v].dest, msg.u.reply.data + at,
                                                      op->vec[v].len));
                                        at += op->vec[v].len;
                                }
                        } else if (msg.u.reply.length) {
                                CHECK(!memcmp(op->dest, msg.u.reply.data, op->len));
                        } else {
                                CHECK(!op->len || (op->len > BD_INLINE_MAX && !op->bitmap));
                                CHECK(!memcmp(op->dest, stage + (size_t)match * SLOT_LEN, op->len));
                        }
                }
                free(m);
        }
        for (unsigned i = 0; i < NREADS; i++)
                for (unsigned k = 0; k < 3; k++)
                        free(bufs[i][k]);
}

static void compare_and_swaps(struct fuzz_stream *in, uint8_t setup)
{
        struct bd_phys p;
        memset(&p, 0, sizeof(p));
        p.nwindows = 2;
        p.windows[0].access = BD_ACCESS_RW;
        p.windows[1].access = setup & 1 ? BD_ACCESS_RW : BD_ACCESS_RO;
        struct bd_phys_cas_piece pc[NPIECES];
        memset(pc, 0, sizeof(pc));
        static const size_t counts[NCAS] = {1, 2, 3, 10};
        struct bd_nic_cas_msg inflight[NCAS];
        size_t waiting = 0, first = 0;
        for (unsigned i = 0; i < NCAS; i++) {
                inflight[waiting++] = (struct bd_nic_cas_msg){100 + i, first, counts[i]};
                for (size_t k = 0; k < counts[i]; k++)
                        pc[first + k] =
                            (struct bd_phys_cas_piece){.window = (setup >> 1 & 1) ^ (i & 1),
                                                       .offset = 8 * (first + k),
                                                       .state = BD_CAS_SENT};
                first += counts[i];
        }
        struct bd_error *refused = NULL;
        for (unsigned k = 0; k < MAX_MESSAGES; k++) {
                struct bd_msg msg;
                uint8_t *m = next_message(in, &msg);
                if (!m)
                        break;
                struct bd_phys_cas_piece before[NPIECES];
                memcpy(before, pc, sizeof(pc));
                size_t was = waiting;
                struct bd_nic_cas_msg match = {0};
                for (size_t i = 0; i < waiting; i++)
                        if (inflight[i].id == msg.id)
                                match = inflight[i];
                struct bd_error *err = bd_nic_cas_reply(&p, pc, inflight, &waiting, &msg, &refused);
                if (!match.count || msg.type != BD_MSG_REPLY)
                        CHECK(err && waiting == was);
                else
                        CHECK(waiting == was - 1);
                for (size_t i = 0; i < NPIECES; i++) {
                        int mine = match.count && i >= match.first && i < match.first + match.count;
                        if (!mine || err)
                                CHECK(!memcmp(&pc[i], &before[i], sizeof(pc[i])));
                        else
                                CHECK(before[i].state == BD_CAS_SENT &&
                                      (pc[i].state == BD_CAS_ANSWERED ||
                                       pc[i].state == BD_CAS_REFUSED));
                        if (pc[i].state == BD_CAS_REFUSED)
                                CHECK(refused);
                }
                if (err) {
                        check_error(err, 0);
                        bd_error_destroy(err);
                }
                free(m);
        }
        if (refused)
                check_error(refused, 0);
        bd_error_destroy(refused);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        struct fuzz_stream in = {data + 2, size - 2};
        switch ((data[0] & 0x0f) % 3) {
        case 0:
                handshake(&in, data[0]);
                break;
        case 1:
                reads(&in, data[1]);
                break;
        case 2:
                compare_and_swaps(&in, data[1]);
                break;
        }
        return 0;
}
