/* libFuzzer target: bd_wire_decode on untrusted bytes from a peer.
 *
 * Invariants checked when a message decodes:
 *  - re-encoding gives a message of the same length, equal to the input
 *    byte for byte except in reserved/padding bytes (which the encoder
 *    writes as zero and the decoder ignores);
 *  - decoding the re-encoded message gives the same fields;
 *  - WRITE/READV/REPLY data pointers lie inside the input;
 *  - no request carries a retired or unknown operation (4 and 5 are retired);
 *  - a READV served from a small window reads only inside it, or nothing;
 *  - a ZEROMAP (PAGEMATCH) served on a window of some zero pages is
 *    refused exactly when its range leaves the window, and otherwise sets
 *    the bit of every zero page (every page holding one of its patterns at
 *    its place) and of no other;
 *  - a WRITE or CAS served on a small read-write window (by this CPU, as
 *    bdnicd does, audited to /dev/null) is refused as out of range exactly
 *    when bd_window_span says so, and otherwise changes exactly the bytes
 *    it names: a CAS reports the word it found and swaps only on a match;
 *  - a CASV on the same window is refused whole when any of its words is
 *    unaligned or outside, and otherwise makes its operations in order,
 *    exactly as one CAS after another would.
 * When decoding fails, a reason is given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../backdoor-nic/window.h"
#include "../../common/audit.h"
#include "../../common/wire.h"
#include "fuzz_check.h"

/* Zero the bytes the decoder ignores, giving the canonical encoding. */
static void canonicalise(uint8_t *b, size_t len, const struct bd_msg *m)
{
        uint8_t *p = b + BD_HDR_LEN;
        b[6] = b[7] = 0; /* header padding after the type */
        switch (m->type) {
        case BD_MSG_HELLO:
                p[2] = p[3] = 0;
                break;
        case BD_MSG_WELCOME:
                for (uint32_t i = 0; i < m->u.welcome.nwindows; i++) {
                        uint8_t *w = p + BD_MAC_LEN + 4 + i * BD_WINDOW_DESC_LEN;
                        size_t nl = strnlen((const char *)w, BD_WINDOW_NAME_MAX);
                        memset(w + nl, 0, BD_WINDOW_NAME_MAX - nl);
                        memset(w + 62, 0, BD_WINDOW_DESC_LEN - 62);
                }
                break;
        case BD_MSG_REQUEST:
                p[2] = p[3] = 0;
                memset(p + 28, 0, 4);
                memset(p + 48, 0, 8);
                break;
        }
        (void)len;
}

static void same_fields(const struct bd_msg *a, const struct bd_msg *b)
{
        CHECK(a->type == b->type && a->id == b->id);
        switch (a->type) {
        case BD_MSG_HELLO:
                CHECK(a->u.hello.version == b->u.hello.version);
                CHECK(!memcmp(a->u.hello.nonce, b->u.hello.nonce, BD_NONCE_LEN));
                break;
        case BD_MSG_AUTH:
                CHECK(!memcmp(&a->u.auth, &b->u.auth, sizeof(a->u.auth)));
                break;
        case BD_MSG_WELCOME:
                CHECK(!memcmp(a->u.welcome.mac, b->u.welcome.mac, BD_MAC_LEN));
                CHECK(a->u.welcome.nwindows == b->u.welcome.nwindows);
                for (uint32_t i = 0; i < a->u.welcome.nwindows; i++) {
                        const struct bd_window_desc *x = &a->u.welcome.windows[i];
                        const struct bd_window_desc *y = &b->u.welcome.windows[i];
                        CHECK(!strcmp(x->name, y->name));
                        CHECK(x->base == y->base && x->length == y->length);
                        CHECK(x->remote_addr == y->remote_addr && x->rkey == y->rkey);
                        CHECK(x->mode == y->mode && x->access == y->access);
                }
                break;
        case BD_MSG_REFUSED:
                CHECK(a->u.refused.reason == b->u.refused.reason);
                break;
        case BD_MSG_REQUEST: {
                const struct bd_request *x = &a->u.request, *y = &b->u.request;
                CHECK(x->op == y->op && x->window == y->window && x->length == y->length);
                CHECK(x->offset == y->offset && x->sink_addr == y->sink_addr);
                CHECK(x->sink_rkey == y->sink_rkey);
                CHECK(x->compare == y->compare && x->swap == y->swap);
                CHECK(!x->data == !y->data);
                if ((x->op == BD_OP_WRITE || x->op == BD_OP_READV || x->op == BD_OP_CASV) &&
                    x->length)
                        CHECK(!memcmp(x->data, y->data, x->length));
                break;
        }
        case BD_MSG_REPLY:
                CHECK(a->u.reply.status == b->u.reply.status);
                CHECK(a->u.reply.length == b->u.reply.length);
                CHECK(a->u.reply.old == b->u.reply.old);
                CHECK(!a->u.reply.data == !b->u.reply.data);
                if (a->u.reply.length)
                        CHECK(!memcmp(a->u.reply.data, b->u.reply.data, a->u.reply.length));
                break;
        default:
                abort(); /* decode accepted an unknown type */
        }
}

static uint64_t words[512]; /* 8-aligned, as a mapping is */

/* A 4 KiB read-write window whose bytes are their offsets' low byte,
 * audited to /dev/null. */
static struct bd_nic_window fresh_window(void)
{
        static int audit_ready;
        uint8_t *mem = (uint8_t *)words;
        if (!audit_ready) {
                CHECK(!bd_audit_open("/dev/null"));
                audit_ready = 1;
        }
        for (size_t i = 0; i < sizeof(words); i++)
                mem[i] = (uint8_t)i;
        return (struct bd_nic_window){
            .desc = {.name = "fuzz", .length = sizeof(words), .access = BD_ACCESS_RW},
            .map = mem,
            .map_len = sizeof(words)};
}

/* Serve a decoded CASV on the window, and check it against one CAS after
 * another on a copy. */
static void serve_casv(const struct bd_request *rq)
{
        struct bd_nic_window w = fresh_window();
        uint64_t model[512];
        memcpy(model, words, sizeof(model));
        unsigned nops = rq->length / BD_CASV_OP_LEN;
        int bad = 0;
        for (unsigned i = 0; i < nops; i++) {
                uint64_t off, compare, swap;
                bd_wire_casv_get(rq->data, i, &off, &compare, &swap);
                bad |= off % 8 || off >= sizeof(words);
        }
        static uint8_t answers[BD_CASV_MAX_OPS * BD_CASV_ANSWER_LEN];
        int status = bd_window_casv(&w, "fuzz-peer", rq->data, nops, answers);
        CHECK(status == (bad ? BD_ERR_RANGE : 0));
        for (unsigned i = 0; !bad && i < nops; i++) {
                uint64_t off, compare, swap, found;
                uint32_t st;
                bd_wire_casv_get(rq->data, i, &off, &compare, &swap);
                bd_wire_casv_answer_get(answers, i, &found, &st);
                CHECK(st == 0 && found == model[off / 8]);
                if (model[off / 8] == compare)
                        model[off / 8] = swap;
        }
        CHECK(!memcmp(model, words, sizeof(model)));
}

/* Serve a decoded WRITE or CAS on the window, and check what changed. */
static void serve_write(const struct bd_request *rq)
{
        uint8_t *mem = (uint8_t *)words;
        struct bd_nic_window w = fresh_window();
        uint64_t span = bd_window_span(&w.desc, rq), found = 0;
        int status = bd_window_write(&w, "fuzz-peer", rq, &found);
        if (!span) {
                CHECK(status == BD_ERR_RANGE);
        } else {
                CHECK(status == 0 && rq->offset + span <= sizeof(words));
        }
        uint64_t before = 0, after = 0;
        if (!status && rq->op == BD_OP_CAS) {
                for (int k = 7; k >= 0; k--)
                        before = before << 8 | (uint8_t)(rq->offset + (unsigned)k);
                memcpy(&after, mem + rq->offset, 8);
                CHECK(found == before);
                CHECK(after == (before == rq->compare ? rq->swap : before));
        }
        for (size_t i = 0; i < sizeof(words); i++) {
                int inside = !status && i >= rq->offset && i - rq->offset < span;
                if (!inside)
                        CHECK(mem[i] == (uint8_t)i);
                else if (rq->op == BD_OP_WRITE)
                        CHECK(mem[i] == rq->data[i - rq->offset]);
        }
}

/* Serve a decoded ZEROMAP or PAGEMATCH on a 64 KiB window whose odd pages
 * are zero but for page 5's last byte. */
static void serve_pagemap(const struct bd_request *rq)
{
        enum { PAGES = 16 };
        static uint8_t mem[PAGES * BD_ZEROMAP_PAGE];
        static uint8_t out[BD_INLINE_MAX];
        for (size_t i = 0; i < sizeof(mem); i++)
                mem[i] = (i / BD_ZEROMAP_PAGE) % 2 ? 0 : (uint8_t)(i | 1);
        mem[6 * BD_ZEROMAP_PAGE - 1] = 1;
        struct bd_page_pattern pats[BD_PAGEMATCH_MAX_PATS];
        unsigned npats = rq->op == BD_OP_PAGEMATCH ? rq->data_len / BD_PAGEMATCH_PAT_LEN : 0;
        CHECK(npats <= BD_PAGEMATCH_MAX_PATS);
        for (unsigned i = 0; i < npats; i++) {
                bd_wire_pattern_get(rq->data, i, &pats[i]);
                CHECK(pats[i].len && pats[i].len <= BD_PAGEMATCH_BYTES &&
                      pats[i].at + pats[i].len <= BD_ZEROMAP_PAGE);
        }
        struct bd_nic_window w = {.desc = {.length = sizeof(mem)}, .map = mem};
        size_t len = 0;
        int status =
            bd_window_pagemap(&w, rq->offset, rq->length, pats, npats, out, sizeof(out), &len);
        int inside = rq->offset <= sizeof(mem) && rq->length <= sizeof(mem) - rq->offset;
        CHECK(status == (inside ? 0 : BD_ERR_RANGE));
        if (status)
                return;
        uint32_t pages = rq->length / BD_ZEROMAP_PAGE;
        CHECK(len == (pages + 7) / 8);
        for (uint32_t i = 0; i < pages; i++) {
                const uint8_t *page = mem + rq->offset + (size_t)i * BD_ZEROMAP_PAGE;
                int want = !npats;
                for (size_t k = 0; !npats && k < BD_ZEROMAP_PAGE; k++)
                        want &= !page[k];
                for (unsigned k = 0; k < npats && !want; k++) {
                        want = 1;
                        for (unsigned j = 0; j < pats[k].len; j++)
                                want &= page[pats[k].at + j] == pats[k].bytes[j];
                }
                CHECK((out[i / 8] >> (i % 8) & 1) == want);
        }
        for (uint32_t i = pages; i < len * 8; i++)
                CHECK(!(out[i / 8] >> (i % 8) & 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct bd_msg m;
        const char *why = NULL;
        if (bd_wire_decode(data, size, &m, &why)) {
                CHECK(why && why[0]);
                return 0;
        }
        CHECK(size >= BD_HDR_LEN && size <= BD_MSG_MAX);
        /* Another version's HELLO is its version and nothing else: it
         * is not re-encoded (this version's layout is another). */
        if (m.type == BD_MSG_HELLO && m.u.hello.version != BD_WIRE_VERSION) {
                CHECK(!m.u.hello.uc_qpn && size >= BD_HDR_LEN + 2);
                return 0;
        }
        if (m.type == BD_MSG_WELCOME) {
                CHECK(m.u.welcome.nwindows <= BD_MAX_WINDOWS);
                for (uint32_t i = 0; i < m.u.welcome.nwindows; i++) {
                        const struct bd_window_desc *w = &m.u.welcome.windows[i];
                        CHECK(memchr(w->name, '\0', BD_WINDOW_NAME_MAX) && w->name[0]);
                        CHECK(w->length && w->base + w->length > w->base);
                }
        }
        if (m.type == BD_MSG_REQUEST && m.u.request.data)
                CHECK(m.u.request.data >= data &&
                      m.u.request.data + (m.u.request.op == BD_OP_PAGEMATCH ? m.u.request.data_len
                                                                            : m.u.request.length) <=
                          data + size);
        if (m.type == BD_MSG_REPLY && m.u.reply.data)
                CHECK(m.u.reply.data >= data && m.u.reply.data + m.u.reply.length <= data + size);

        if (m.type == BD_MSG_REQUEST)
                CHECK(m.u.request.op == BD_OP_READ || m.u.request.op == BD_OP_WRITE ||
                      m.u.request.op == BD_OP_CAS || m.u.request.op == BD_OP_READV ||
                      m.u.request.op == BD_OP_CASV || m.u.request.op == BD_OP_ZEROMAP ||
                      m.u.request.op == BD_OP_PAGEMATCH);
        if (m.type == BD_MSG_REQUEST &&
            (m.u.request.op == BD_OP_ZEROMAP || m.u.request.op == BD_OP_PAGEMATCH))
                serve_pagemap(&m.u.request);
        if (m.type == BD_MSG_REQUEST && m.u.request.op == BD_OP_CASV)
                serve_casv(&m.u.request);
        if (m.type == BD_MSG_REQUEST &&
            (m.u.request.op == BD_OP_WRITE || m.u.request.op == BD_OP_CAS))
                serve_write(&m.u.request);

        if (m.type == BD_MSG_REQUEST && m.u.request.op == BD_OP_READV) {
                /* A 4 KiB window whose bytes are their own offsets' low byte:
                 * what comes back must be those bytes, segment by segment. */
                static uint8_t mem[4096], got[BD_INLINE_MAX];
                for (size_t i = 0; i < sizeof(mem); i++)
                        mem[i] = (uint8_t)i;
                struct bd_nic_window w = {.desc = {.length = sizeof(mem)}, .map = mem};
                unsigned nsegs = m.u.request.length / BD_READV_SEG_LEN;
                size_t len = 0;
                if (!bd_window_readv(&w, m.u.request.data, nsegs, got, sizeof(got), &len)) {
                        size_t at = 0;
                        for (unsigned i = 0; i < nsegs; i++) {
                                uint64_t off;
                                uint32_t l;
                                bd_wire_readv_get(m.u.request.data, i, &off, &l);
                                CHECK(l && off + l <= sizeof(mem));
                                for (uint32_t k = 0; k < l; k++)
                                        CHECK(got[at + k] == (uint8_t)(off + k));
                                at += l;
                        }
                        CHECK(at == len && len <= sizeof(got));
                }
        }

        static uint8_t out[BD_MSG_MAX], canon[BD_MSG_MAX];
        size_t n = bd_wire_encode(&m, out, sizeof(out));
        CHECK(n == size);
        memcpy(canon, data, size);
        canonicalise(canon, size, &m);
        CHECK(!memcmp(canon, out, size));

        struct bd_msg again;
        CHECK(bd_wire_decode(out, n, &again, &why) == 0);
        same_fields(&m, &again);
        return 0;
}
