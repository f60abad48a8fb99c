#include "wire.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
        uint32_t v = 0;
        for (int i = 3; i >= 0; i--)
                v = v << 8 | p[i];
        return v;
}

static uint64_t get64(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
                v = v << 8 | p[i];
        return v;
}

/* The operations a request may carry; 4 and 5 are retired. */
static int known_op(uint8_t op)
{
        return op == BD_OP_READ || op == BD_OP_WRITE || op == BD_OP_CAS || op == BD_OP_READV ||
               op == BD_OP_CASV || op == BD_OP_ZEROMAP || op == BD_OP_PAGEMATCH;
}

void bd_wire_pattern_get(const uint8_t *pats, unsigned i, struct bd_page_pattern *out)
{
        const uint8_t *p = pats + (size_t)i * BD_PAGEMATCH_PAT_LEN;
        out->at = get16(p);
        out->len = p[2];
        memcpy(out->bytes, p + 4, BD_PAGEMATCH_BYTES);
}

void bd_wire_pattern_put(uint8_t *pats, unsigned i, const struct bd_page_pattern *pat)
{
        uint8_t *p = pats + (size_t)i * BD_PAGEMATCH_PAT_LEN;
        memset(p, 0, BD_PAGEMATCH_PAT_LEN);
        put16(p, pat->at);
        p[2] = pat->len;
        memcpy(p + 4, pat->bytes, pat->len <= BD_PAGEMATCH_BYTES ? pat->len : BD_PAGEMATCH_BYTES);
}

int bd_page_pattern_match(const uint8_t *page, const struct bd_page_pattern *pats, unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                if (pats[i].len && pats[i].len <= BD_PAGEMATCH_BYTES &&
                    (size_t)pats[i].at + pats[i].len <= BD_ZEROMAP_PAGE &&
                    !memcmp(page + pats[i].at, pats[i].bytes, pats[i].len))
                        return 1;
        return 0;
}

/* A PAGEMATCH's patterns: whole, 1 to the most, each within a page, its
 * padding zero (one encoding per request). */
static int patterns_ok(const uint8_t *pats, uint32_t len)
{
        if (!len || len % BD_PAGEMATCH_PAT_LEN ||
            len / BD_PAGEMATCH_PAT_LEN > BD_PAGEMATCH_MAX_PATS)
                return 0;
        for (unsigned i = 0; i < len / BD_PAGEMATCH_PAT_LEN; i++) {
                const uint8_t *p = pats + (size_t)i * BD_PAGEMATCH_PAT_LEN;
                struct bd_page_pattern pat;
                bd_wire_pattern_get(pats, i, &pat);
                if (!pat.len || pat.len > BD_PAGEMATCH_BYTES ||
                    pat.at + pat.len > BD_ZEROMAP_PAGE || p[3])
                        return 0;
                for (unsigned k = pat.len; k < BD_PAGEMATCH_BYTES; k++)
                        if (pat.bytes[k])
                                return 0;
        }
        return 1;
}

static int zeromap_length(uint32_t length)
{
        return length && length % BD_ZEROMAP_PAGE == 0 && length <= BD_ZEROMAP_MAX;
}

/* Operations whose request carries length bytes of data. */
static int carries_data(uint8_t op)
{
        return op == BD_OP_WRITE || op == BD_OP_READV || op == BD_OP_CASV;
}

/* Payload length of each fixed-size message; requests and replies add data. */
static size_t fixed_len(uint16_t type)
{
        switch (type) {
        case BD_MSG_HELLO:
                return 4 + BD_NONCE_LEN + 4;
        case BD_MSG_AUTH:
                return BD_NONCE_LEN + BD_MAC_LEN + 4;
        case BD_MSG_WELCOME:
                return BD_MAC_LEN + 4;
        case BD_MSG_REFUSED:
                return 4;
        case BD_MSG_REQUEST:
                return BD_REQUEST_FIXED_LEN;
        case BD_MSG_REPLY:
                return BD_REPLY_FIXED_LEN;
        }
        return 0;
}

static void encode_window(uint8_t *p, const struct bd_window_desc *w)
{
        memset(p, 0, BD_WINDOW_DESC_LEN);
        memcpy(p, w->name, strnlen(w->name, BD_WINDOW_NAME_MAX - 1));
        put64(p + 32, w->base);
        put64(p + 40, w->length);
        put64(p + 48, w->remote_addr);
        put32(p + 56, w->rkey);
        p[60] = w->mode;
        p[61] = w->access;
}

static int decode_window(const uint8_t *p, struct bd_window_desc *w, const char **why)
{
        memcpy(w->name, p, BD_WINDOW_NAME_MAX);
        if (!memchr(w->name, '\0', BD_WINDOW_NAME_MAX) || !w->name[0]) {
                *why = "window name empty or not terminated";
                return -1;
        }
        w->base = get64(p + 32);
        w->length = get64(p + 40);
        w->remote_addr = get64(p + 48);
        w->rkey = get32(p + 56);
        w->mode = p[60];
        w->access = p[61];
        if (w->length == 0 || w->base + w->length < w->base) {
                *why = "window length zero or wraps the address space";
                return -1;
        }
        if (w->mode != BD_MODE_DIRECT && w->mode != BD_MODE_MEDIATED) {
                *why = "unknown window mode";
                return -1;
        }
        if (w->access != BD_ACCESS_RO && w->access != BD_ACCESS_RW) {
                *why = "unknown window access";
                return -1;
        }
        return 0;
}

size_t bd_wire_encode(const struct bd_msg *msg, uint8_t *buf, size_t cap)
{
        size_t len = fixed_len(msg->type);
        if (!len)
                return 0;
        if (msg->type == BD_MSG_WELCOME) {
                if (msg->u.welcome.nwindows > BD_MAX_WINDOWS)
                        return 0;
                len += (size_t)msg->u.welcome.nwindows * BD_WINDOW_DESC_LEN;
        } else if (msg->type == BD_MSG_REQUEST) {
                if (!known_op(msg->u.request.op))
                        return 0;
                const struct bd_request *r = &msg->u.request;
                if ((r->op == BD_OP_ZEROMAP || r->op == BD_OP_PAGEMATCH) &&
                    !zeromap_length(r->length))
                        return 0;
                if (r->op == BD_OP_PAGEMATCH) {
                        if (!patterns_ok(r->data, r->data_len))
                                return 0;
                        len += r->data_len;
                }
                if (carries_data(msg->u.request.op)) {
                        if (msg->u.request.length > BD_INLINE_MAX)
                                return 0;
                        len += msg->u.request.length;
                }
        } else if (msg->type == BD_MSG_REPLY) {
                if (msg->u.reply.length > BD_INLINE_MAX)
                        return 0;
                len += msg->u.reply.length;
        }
        if (BD_HDR_LEN + len > cap)
                return 0;

        uint8_t *p = buf + BD_HDR_LEN;
        memset(buf, 0, BD_HDR_LEN + fixed_len(msg->type));
        put32(buf, BD_WIRE_MAGIC);
        put16(buf + 4, msg->type);
        put32(buf + 8, msg->id);
        put32(buf + 12, (uint32_t)len);

        switch (msg->type) {
        case BD_MSG_HELLO:
                put16(p, msg->u.hello.version);
                memcpy(p + 4, msg->u.hello.nonce, BD_NONCE_LEN);
                put32(p + 4 + BD_NONCE_LEN, msg->u.hello.uc_qpn);
                break;
        case BD_MSG_AUTH:
                memcpy(p, msg->u.auth.nonce, BD_NONCE_LEN);
                memcpy(p + BD_NONCE_LEN, msg->u.auth.mac, BD_MAC_LEN);
                put32(p + BD_NONCE_LEN + BD_MAC_LEN, msg->u.auth.uc_qpn);
                break;
        case BD_MSG_WELCOME:
                memcpy(p, msg->u.welcome.mac, BD_MAC_LEN);
                put32(p + BD_MAC_LEN, msg->u.welcome.nwindows);
                for (uint32_t i = 0; i < msg->u.welcome.nwindows; i++)
                        encode_window(p + BD_MAC_LEN + 4 + i * BD_WINDOW_DESC_LEN,
                                      &msg->u.welcome.windows[i]);
                break;
        case BD_MSG_REFUSED:
                put32(p, msg->u.refused.reason);
                break;
        case BD_MSG_REQUEST: {
                const struct bd_request *r = &msg->u.request;
                p[0] = r->op;
                p[1] = r->window;
                put32(p + 4, r->length);
                put64(p + 8, r->offset);
                put64(p + 16, r->sink_addr);
                put32(p + 24, r->sink_rkey);
                put64(p + 32, r->compare);
                put64(p + 40, r->swap);
                if (carries_data(r->op) && r->length)
                        memcpy(p + BD_REQUEST_FIXED_LEN, r->data, r->length);
                if (r->op == BD_OP_PAGEMATCH)
                        memcpy(p + BD_REQUEST_FIXED_LEN, r->data, r->data_len);
                break;
        }
        case BD_MSG_REPLY: {
                const struct bd_reply *r = &msg->u.reply;
                put32(p, r->status);
                put32(p + 4, r->length);
                put64(p + 8, r->old);
                if (r->length)
                        memcpy(p + BD_REPLY_FIXED_LEN, r->data, r->length);
                break;
        }
        }
        return BD_HDR_LEN + len;
}

int bd_wire_decode(const uint8_t *buf, size_t len, struct bd_msg *msg, const char **why)
{
        if (len < BD_HDR_LEN) {
                *why = "message shorter than its header";
                return -1;
        }
        if (get32(buf) != BD_WIRE_MAGIC) {
                *why = "bad magic";
                return -1;
        }
        memset(msg, 0, sizeof(*msg));
        msg->type = get16(buf + 4);
        msg->id = get32(buf + 8);
        uint32_t plen = get32(buf + 12);
        size_t fixed = fixed_len(msg->type);
        if (!fixed) {
                *why = "unknown message type";
                return -1;
        }
        if (plen != len - BD_HDR_LEN) {
                *why = "length field disagrees with the received size";
                return -1;
        }
        const uint8_t *p = buf + BD_HDR_LEN;
        /* Another version's HELLO, whatever its length, is told as such
         * (bd_nic_answer_hello), not as a malformed message. */
        if (msg->type == BD_MSG_HELLO && plen >= 2 && get16(p) != BD_WIRE_VERSION) {
                msg->u.hello.version = get16(p);
                return 0;
        }
        if (plen < fixed) {
                *why = "message truncated";
                return -1;
        }
        size_t extra = plen - fixed;

        switch (msg->type) {
        case BD_MSG_HELLO:
                msg->u.hello.version = get16(p);
                memcpy(msg->u.hello.nonce, p + 4, BD_NONCE_LEN);
                msg->u.hello.uc_qpn = get32(p + 4 + BD_NONCE_LEN);
                break;
        case BD_MSG_AUTH:
                memcpy(msg->u.auth.nonce, p, BD_NONCE_LEN);
                memcpy(msg->u.auth.mac, p + BD_NONCE_LEN, BD_MAC_LEN);
                msg->u.auth.uc_qpn = get32(p + BD_NONCE_LEN + BD_MAC_LEN);
                break;
        case BD_MSG_WELCOME: {
                struct bd_welcome *w = &msg->u.welcome;
                memcpy(w->mac, p, BD_MAC_LEN);
                w->nwindows = get32(p + BD_MAC_LEN);
                if (w->nwindows > BD_MAX_WINDOWS) {
                        *why = "too many windows";
                        return -1;
                }
                if (extra != (size_t)w->nwindows * BD_WINDOW_DESC_LEN) {
                        *why = "window table size disagrees with its count";
                        return -1;
                }
                for (uint32_t i = 0; i < w->nwindows; i++)
                        if (decode_window(p + fixed + i * BD_WINDOW_DESC_LEN, &w->windows[i], why))
                                return -1;
                extra = 0;
                break;
        }
        case BD_MSG_REFUSED:
                msg->u.refused.reason = get32(p);
                break;
        case BD_MSG_REQUEST: {
                struct bd_request *r = &msg->u.request;
                r->op = p[0];
                r->window = p[1];
                r->length = get32(p + 4);
                r->offset = get64(p + 8);
                r->sink_addr = get64(p + 16);
                r->sink_rkey = get32(p + 24);
                r->compare = get64(p + 32);
                r->swap = get64(p + 40);
                if (!known_op(r->op)) {
                        *why = "unknown operation";
                        return -1;
                }
                if (r->op == BD_OP_READV || r->op == BD_OP_CASV) {
                        /* Whole items, at least one, at most the most, and
                         * nothing after them. */
                        int v = r->op == BD_OP_READV;
                        uint32_t item = v ? BD_READV_SEG_LEN : BD_CASV_OP_LEN;
                        uint32_t most = v ? BD_READV_MAX_SEGS : BD_CASV_MAX_OPS;
                        if (extra != r->length || !r->length || r->length % item ||
                            r->length / item > most) {
                                *why = v ? "readv segment list malformed"
                                         : "casv operation list malformed";
                                return -1;
                        }
                        r->data = p + fixed;
                        extra = 0;
                }
                if ((r->op == BD_OP_ZEROMAP || r->op == BD_OP_PAGEMATCH) &&
                    !zeromap_length(r->length)) {
                        *why = r->op == BD_OP_ZEROMAP
                                   ? "zeromap length is not whole pages within the bound"
                                   : "pagematch length is not whole pages within the bound";
                        return -1;
                }
                if (r->op == BD_OP_PAGEMATCH) {
                        if (!patterns_ok(p + fixed, (uint32_t)extra)) {
                                *why = "pagematch pattern list malformed";
                                return -1;
                        }
                        r->data = p + fixed;
                        r->data_len = (uint32_t)extra;
                        extra = 0;
                }
                if (r->op == BD_OP_WRITE) {
                        if (r->length > BD_INLINE_MAX || extra != r->length) {
                                *why = "write data size disagrees with its length";
                                return -1;
                        }
                        r->data = p + fixed;
                        extra = 0;
                }
                break;
        }
        case BD_MSG_REPLY: {
                struct bd_reply *r = &msg->u.reply;
                r->status = get32(p);
                r->length = get32(p + 4);
                r->old = get64(p + 8);
                if (r->length > BD_INLINE_MAX || extra != r->length) {
                        *why = "reply data size disagrees with its length";
                        return -1;
                }
                r->data = r->length ? p + fixed : NULL;
                extra = 0;
                break;
        }
        }
        if (extra) {
                *why = "trailing bytes after message";
                return -1;
        }
        return 0;
}

const char *bd_op_name(uint8_t op)
{
        switch (op) {
        case BD_OP_READ:
                return "read";
        case BD_OP_WRITE:
                return "write";
        case BD_OP_CAS:
                return "cas";
        case BD_OP_READV:
                return "readv";
        case BD_OP_CASV:
                return "casv";
        case BD_OP_ZEROMAP:
                return "zeromap";
        case BD_OP_PAGEMATCH:
                return "pagematch";
        }
        return "unknown";
}

const char *bd_mode_name(uint8_t mode)
{
        return mode == BD_MODE_DIRECT ? "direct" : mode == BD_MODE_MEDIATED ? "mediated" : "?";
}

const char *bd_access_name(uint8_t access)
{
        return access == BD_ACCESS_RW ? "read-write" : access == BD_ACCESS_RO ? "read-only" : "?";
}

void bd_wire_readv_get(const uint8_t *segs, unsigned i, uint64_t *offset, uint32_t *length)
{
        *offset = get64(segs + (size_t)i * BD_READV_SEG_LEN);
        *length = get32(segs + (size_t)i * BD_READV_SEG_LEN + 8);
}

void bd_wire_readv_put(uint8_t *segs, unsigned i, uint64_t offset, uint32_t length)
{
        put64(segs + (size_t)i * BD_READV_SEG_LEN, offset);
        put32(segs + (size_t)i * BD_READV_SEG_LEN + 8, length);
}

void bd_wire_casv_get(const uint8_t *ops, unsigned i, uint64_t *offset, uint64_t *compare,
                      uint64_t *swap)
{
        const uint8_t *at = ops + (size_t)i * BD_CASV_OP_LEN;
        *offset = get64(at);
        *compare = get64(at + 8);
        *swap = get64(at + 16);
}

void bd_wire_casv_put(uint8_t *ops, unsigned i, uint64_t offset, uint64_t compare, uint64_t swap)
{
        uint8_t *at = ops + (size_t)i * BD_CASV_OP_LEN;
        put64(at, offset);
        put64(at + 8, compare);
        put64(at + 16, swap);
}

void bd_wire_casv_answer_get(const uint8_t *answers, unsigned i, uint64_t *found, uint32_t *status)
{
        *found = get64(answers + (size_t)i * BD_CASV_ANSWER_LEN);
        *status = get32(answers + (size_t)i * BD_CASV_ANSWER_LEN + 8);
}

void bd_wire_casv_answer_put(uint8_t *answers, unsigned i, uint64_t found, uint32_t status)
{
        put64(answers + (size_t)i * BD_CASV_ANSWER_LEN, found);
        put32(answers + (size_t)i * BD_CASV_ANSWER_LEN + 8, status);
}
