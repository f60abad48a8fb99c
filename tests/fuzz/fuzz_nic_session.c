/* libFuzzer target: the NIC's side of a conversation (backdoor-nic/session.h)
 * driven by a peer's byte stream, as bdnicd drives it from its receive
 * queue.
 *
 * Input: one byte of flags, then messages, each a 2-byte little-endian
 * length and its bytes (the last one takes what is left).
 *   bit 0  the NIC runs with --allow-write
 *   bit 1  ... and a writers' key apart from the readers'
 *   bit 2  this harness first proves the readers' key, as a monitor would
 *   bit 3  ... the writers' key instead
 *   bit 4  ... but over another connection's channel (a relay)
 *   bit 5  granting fails (bdnicd could not register the peer's memory)
 *   bit 6  both ends have a UC queue pair, and the messages come over UC
 *   bit 7  ... sealed by this harness as the proved monitor would seal them
 * Windows: 0 "ram", 4 KiB read-write, mediated; 1 "rom", 16 KiB read-only,
 * direct (so READs past the inline limit go in bulk).
 *
 * Invariants: the fuzzer's bytes never authenticate, whatever they say;
 * nothing is served before a proof made by the key on this channel, and
 * the role is the key's; the welcome's proof checks out as a monitor
 * checks it; no memory changes unless the peer holds the writers' role
 * and the window is read-write, and the read-only window never changes;
 * every answer is a REPLY to the request's id that encodes, with data in
 * the window or the session's buffer; bulk only from the window, past the
 * inline limit and within BD_READ_MAX; a refusal is a REFUSED; once the
 * session ends, nothing more happens; every end has a one-line reason.
 * Over UC: what the harness did not seal is dropped, always, and changes
 * nothing; what it sealed is answered only if it is a READ answered inline
 * or a READV, and never changes memory or ends the session. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../backdoor-nic/session.h"
#include "../../common/audit.h"
#include "fuzz_check.h"
#include "fuzz_stream.h"

enum {
        F_ALLOW_WRITE = 1,
        F_WRITE_KEY = 2,
        F_PROVE_READER = 4,
        F_PROVE_WRITER = 8,
        F_RELAYED = 16,
        F_GRANT_FAILS = 32,
        F_UC = 64,
        F_SEALED = 128,
};

#define RAM_LEN      4096u
#define ROM_LEN      16384u
#define MAX_MESSAGES 64

static uint64_t ram_words[RAM_LEN / 8], rom_words[ROM_LEN / 8]; /* 8-aligned, as a mapping is */

static void fill(uint8_t *mem, size_t len, uint8_t salt)
{
        for (size_t i = 0; i < len; i++)
                mem[i] = (uint8_t)(i * 7 + salt);
}

static int within(const uint8_t *p, size_t len, const uint8_t *base, size_t cap)
{
        return p >= base && len <= cap && (size_t)(p - base) <= cap - len;
}

static void check_reason(const struct bd_session *s)
{
        CHECK(s->state == BD_SESSION_CLOSING);
        CHECK(s->close_reason[0] && !strchr(s->close_reason, '\n'));
}

static void check_welcome(const struct bd_session *s, const struct bd_msg *w,
                          const struct bd_key *key, const uint8_t mon_nonce[BD_NONCE_LEN],
                          int writer)
{
        CHECK(w->type == BD_MSG_WELCOME && w->u.welcome.nwindows == 2);
        CHECK(w->u.welcome.windows[1].access == BD_ACCESS_RO);
        CHECK(w->u.welcome.windows[0].access == (writer ? BD_ACCESS_RW : BD_ACCESS_RO));
        uint8_t expect[BD_MAC_LEN];
        bd_auth_nic_mac(key, s->nonce, mon_nonce, &s->ch, w->u.welcome.windows,
                        w->u.welcome.nwindows, expect);
        CHECK(bd_auth_mac_equal(expect, w->u.welcome.mac));
        static uint8_t buf[BD_MSG_MAX];
        CHECK(bd_wire_encode(w, buf, sizeof(buf)));
}

static void check_reply(const struct bd_session *s, const struct bd_session_out *out, uint32_t id,
                        int bulk)
{
        CHECK(s->state == BD_SESSION_SERVING);
        CHECK(out->msg.type == BD_MSG_REPLY && out->msg.id == id);
        const struct bd_reply *r = &out->msg.u.reply;
        CHECK(r->length <= BD_INLINE_MAX);
        if (r->length)
                CHECK(r->data);
        if (r->length)
                CHECK(!r->status);
        if (r->data)
                CHECK(within(r->data, r->length, (const uint8_t *)ram_words, RAM_LEN) ||
                      within(r->data, r->length, (const uint8_t *)rom_words, ROM_LEN) ||
                      within(r->data, r->length, s->reply, sizeof(s->reply)));
        if (bulk) {
                CHECK(!r->status && !r->length);
                CHECK(out->bulk_len > BD_INLINE_MAX && out->bulk_len <= BD_READ_MAX);
                CHECK(within(out->bulk, out->bulk_len, (const uint8_t *)rom_words, ROM_LEN));
        }
        static uint8_t buf[BD_MSG_MAX];
        CHECK(bd_wire_encode(&out->msg, buf, sizeof(buf)));
}

/* One message over UC, sealed first when seal is given. */
static void over_uc(struct bd_session *s, const uint8_t *msg, size_t len, struct bd_seal *seal,
                    struct bd_session_out *out)
{
        static uint8_t buf[BD_MSG_MAX + BD_SEAL_LEN];
        size_t n = len < BD_MSG_MAX ? len : BD_MSG_MAX;
        memcpy(buf, msg, n);
        struct bd_msg in;
        const char *why;
        int request = !bd_wire_decode(buf, n, &in, &why) && in.type == BD_MSG_REQUEST;
        uint64_t dropped = s->uc_dropped;
        if (seal)
                n = bd_seal_close(seal, buf, n);
        enum bd_session_step step = bd_session_receive_uc(s, buf, n, out);
        if (step == BD_STEP_NONE) {
                CHECK(s->uc_dropped == dropped + 1);
                return;
        }
        CHECK(step == BD_STEP_SEND && seal && request && s->state == BD_SESSION_SERVING);
        CHECK(in.u.request.op == BD_OP_READV ||
              (in.u.request.op == BD_OP_READ && in.u.request.length <= BD_INLINE_MAX));
        check_reply(s, out, in.id, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct bd_nic_config cfg;
        static uint8_t ram_before[RAM_LEN], rom_before[ROM_LEN];
        if (!cfg.nwindows) {
                CHECK(!bd_audit_open("/dev/null"));
                memset(cfg.key.bytes, 0x11, BD_KEY_LEN);
                memset(cfg.write_key.bytes, 0x22, BD_KEY_LEN);
                cfg.windows[0] = (struct bd_nic_window){.desc = {.name = "ram",
                                                                 .length = RAM_LEN,
                                                                 .access = BD_ACCESS_RW,
                                                                 .mode = BD_MODE_MEDIATED},
                                                        .map = (uint8_t *)ram_words,
                                                        .map_len = RAM_LEN};
                cfg.windows[1] = (struct bd_nic_window){.desc = {.name = "rom",
                                                                 .base = 1u << 20,
                                                                 .length = ROM_LEN,
                                                                 .access = BD_ACCESS_RO,
                                                                 .mode = BD_MODE_DIRECT},
                                                        .map = (uint8_t *)rom_words,
                                                        .map_len = ROM_LEN};
                cfg.nwindows = 2;
        }
        if (!size)
                return 0;
        uint8_t flags = data[0];
        data++, size--;
        cfg.allow_write = flags & F_ALLOW_WRITE;
        cfg.has_write_key = !!(flags & F_WRITE_KEY);
        fill((uint8_t *)ram_words, RAM_LEN, 1);
        fill((uint8_t *)rom_words, ROM_LEN, 2);

        struct bd_session s;
        bd_session_init(&s, &cfg, "fuzz-peer:1");
        struct bd_auth_channel ch = {.monitor_qpn = 17, .nic_qpn = 18};
        memset(ch.monitor_addr, 0xaa, sizeof(ch.monitor_addr));
        memset(ch.nic_addr, 0xbb, sizeof(ch.nic_addr));
        if (flags & F_UC)
                ch.nic_uc_qpn = 19;
        struct bd_msg hello;
        bd_session_hello(&s, &ch, &hello);
        CHECK(hello.type == BD_MSG_HELLO && s.state == BD_SESSION_CHALLENGED);

        /* This harness's own proof, when the flags ask for one: the only
         * way in, since the fuzzer cannot know the nonce's MAC. */
        const struct bd_key *proved = NULL;
        int writer = 0;
        static struct bd_session_out out;
        uint8_t mon_nonce[BD_NONCE_LEN];
        memset(mon_nonce, 0x5a, sizeof(mon_nonce));
        static struct bd_seal seal; /* the proved monitor's */
        memset(&seal, 0, sizeof(seal));
        if (flags & (F_PROVE_READER | F_PROVE_WRITER)) {
                const struct bd_key *key =
                    flags & F_PROVE_WRITER && cfg.has_write_key ? &cfg.write_key : &cfg.key;
                struct bd_auth_channel on = ch;
                if (flags & F_RELAYED)
                        on.nic_qpn++;
                on.monitor_uc_qpn = flags & F_UC ? 20 : 0;
                struct bd_msg auth = {.type = BD_MSG_AUTH};
                auth.u.auth.uc_qpn = on.monitor_uc_qpn;
                memcpy(auth.u.auth.nonce, mon_nonce, BD_NONCE_LEN);
                bd_auth_monitor_mac(key, s.nonce, mon_nonce, &on, auth.u.auth.mac);
                uint8_t buf[BD_MSG_MAX];
                size_t n = bd_wire_encode(&auth, buf, sizeof(buf));
                CHECK(n);
                enum bd_session_step step = bd_session_receive(&s, buf, n, &out);
                if (flags & F_RELAYED) {
                        CHECK(step == BD_STEP_REFUSE && out.msg.type == BD_MSG_REFUSED);
                        check_reason(&s);
                } else {
                        CHECK(step == BD_STEP_GRANT);
                        CHECK(s.uc == !!(flags & F_UC));
                        bd_seal_init(&seal, key, s.nonce, mon_nonce, &on, 0);
                        proved = key;
                        writer = cfg.allow_write && (!cfg.has_write_key || key == &cfg.write_key);
                        CHECK(s.writer == writer);
                        if (flags & F_GRANT_FAILS) {
                                bd_session_refuse(&s, BD_ERR_INTERNAL, "no memory", &out.msg);
                                CHECK(out.msg.type == BD_MSG_REFUSED && !s.writer);
                                check_reason(&s);
                        } else {
                                bd_session_welcome(&s, &out.msg);
                                check_welcome(&s, &out.msg, proved, mon_nonce, writer);
                        }
                }
        }

        struct fuzz_stream stream = {data, size};
        size_t len;
        uint8_t *msg;
        for (unsigned k = 0; k < MAX_MESSAGES && (msg = fuzz_stream_next(&stream, &len)); k++) {

                memcpy(ram_before, ram_words, RAM_LEN);
                memcpy(rom_before, rom_words, ROM_LEN);
                enum bd_session_state was = s.state;
                if (flags & F_UC) {
                        over_uc(&s, msg, len, flags & F_SEALED && proved ? &seal : NULL, &out);
                        CHECK(s.state == was);
                        CHECK(!memcmp(rom_before, rom_words, ROM_LEN));
                        CHECK(!memcmp(ram_before, ram_words, RAM_LEN));
                        free(msg);
                        continue;
                }
                struct bd_msg in;
                const char *why;
                int decoded = !bd_wire_decode(msg, len, &in, &why);
                enum bd_session_step step = bd_session_receive(&s, msg, len, &out);
                switch (step) {
                case BD_STEP_NONE:
                        CHECK(was == BD_SESSION_CLOSING);
                        break;
                case BD_STEP_SEND:
                case BD_STEP_BULK:
                        CHECK(was == BD_SESSION_SERVING && decoded);
                        check_reply(&s, &out, in.id, step == BD_STEP_BULK);
                        break;
                case BD_STEP_GRANT:
                case BD_STEP_REFUSE:
                        /* A proof in the fuzzer's bytes: refused, always. */
                        CHECK(step == BD_STEP_REFUSE && was == BD_SESSION_CHALLENGED);
                        CHECK(out.msg.type == BD_MSG_REFUSED);
                        check_reason(&s);
                        break;
                case BD_STEP_CLOSE:
                        CHECK(was != BD_SESSION_CLOSING);
                        check_reason(&s);
                        break;
                }
                CHECK(!memcmp(rom_before, rom_words, ROM_LEN));
                if (!s.writer || step != BD_STEP_SEND)
                        CHECK(!memcmp(ram_before, ram_words, RAM_LEN));
                free(msg);
        }
        return 0;
}
