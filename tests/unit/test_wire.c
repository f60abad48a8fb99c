/* Wire protocol: every message type survives an encode/decode round trip, and
 * the decoder refuses every malformed message a hostile peer could send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/bytes.h"
#include "../../common/wire.h"
#include "helpers.h"

/* Big enough for any message plus slack for "extra byte" cases. */
#define BUFCAP (BD_MSG_MAX + 2 * BD_INLINE_MAX)

static uint8_t buf[BUFCAP];
static uint8_t buf2[BUFCAP];

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)(seed + i * 7);
}

static void put32le(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32le(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Decode must fail and explain why. */
static void expect_reject(const uint8_t *b, size_t len)
{
        struct bd_msg m;
        const char *why = NULL;
        assert_int_equal(bd_wire_decode(b, len, &m, &why), -1);
        assert_non_null(why);
        assert_true(why[0] != '\0');
}

/* Same, and the reason mentions a keyword (so a refusal for the wrong reason,
 * e.g. a length mismatch masking the check under test, is caught). */
static void expect_reject_why(const uint8_t *b, size_t len, const char *keyword)
{
        struct bd_msg m;
        const char *why = NULL;
        assert_int_equal(bd_wire_decode(b, len, &m, &why), -1);
        assert_non_null(why);
        if (!strstr(why, keyword))
                print_error("reason '%s' does not mention '%s'\n", why, keyword);
        assert_non_null(strstr(why, keyword));
}

/* Encode, check the length field, decode into out; returns the length. */
static size_t roundtrip(const struct bd_msg *in, struct bd_msg *out)
{
        size_t n = bd_wire_encode(in, buf, sizeof(buf));
        assert_true(n >= BD_HDR_LEN);
        assert_int_equal(get32le(buf), BD_WIRE_MAGIC);
        assert_int_equal(get32le(buf + 12), n - BD_HDR_LEN);
        const char *why = NULL;
        int rc = bd_wire_decode(buf, n, out, &why);
        if (rc)
                print_error("decode failed: %s\n", why);
        assert_int_equal(rc, 0);
        assert_int_equal(out->type, in->type);
        assert_int_equal(out->id, in->id);
        /* Decoding then encoding again gives the very same bytes. */
        size_t n2 = bd_wire_encode(out, buf2, sizeof(buf2));
        assert_int_equal(n2, n);
        assert_memory_equal(buf, buf2, n);
        return n;
}

/* Every strictly shorter prefix of a valid message is refused. */
static void expect_all_truncations_rejected(const uint8_t *b, size_t len)
{
        for (size_t l = 0; l < len; l++)
                expect_reject(b, l);
}

/* ---- fixtures ---------------------------------------------------------- */

static struct bd_msg hello_msg(void)
{
        struct bd_msg m = {.type = BD_MSG_HELLO, .id = 0x01020304};
        m.u.hello.version = BD_WIRE_VERSION;
        fill(m.u.hello.nonce, BD_NONCE_LEN, 0x10);
        m.u.hello.uc_qpn = 0x00abcdef;
        return m;
}

static struct bd_msg auth_msg(void)
{
        struct bd_msg m = {.type = BD_MSG_AUTH, .id = 7};
        fill(m.u.auth.nonce, BD_NONCE_LEN, 0x20);
        fill(m.u.auth.mac, BD_MAC_LEN, 0x30);
        m.u.auth.uc_qpn = 0x123456;
        return m;
}

static struct bd_window_desc window(unsigned i)
{
        struct bd_window_desc w = {0};
        snprintf(w.name, sizeof(w.name), "win%u", i);
        w.base = 0x100000000ull * i + 0x1000;
        w.length = 0x200000 + i;
        w.remote_addr = 0x7f0000000000ull + i;
        w.rkey = 0xabcd0000u + i;
        w.mode = i % 2 ? BD_MODE_MEDIATED : BD_MODE_DIRECT;
        w.access = i % 3 ? BD_ACCESS_RO : BD_ACCESS_RW;
        return w;
}

static struct bd_msg welcome_msg(uint32_t nwindows)
{
        struct bd_msg m = {.type = BD_MSG_WELCOME, .id = 9};
        fill(m.u.welcome.mac, BD_MAC_LEN, 0x40);
        m.u.welcome.nwindows = nwindows;
        for (uint32_t i = 0; i < nwindows && i < BD_MAX_WINDOWS; i++)
                m.u.welcome.windows[i] = window(i);
        return m;
}

static struct bd_msg request_msg(uint8_t op)
{
        struct bd_msg m = {.type = BD_MSG_REQUEST, .id = 0xdeadbeef};
        m.u.request.op = op;
        m.u.request.window = 3;
        m.u.request.length = op == BD_OP_WRITE ? 0 : 0x1234;
        m.u.request.offset = 0x1122334455667788ull;
        m.u.request.sink_addr = 0x8877665544332211ull;
        m.u.request.sink_rkey = 0x55aa55aau;
        m.u.request.compare = 0x0102030405060708ull;
        m.u.request.swap = 0xf0e0d0c0b0a09080ull;
        return m;
}

static uint8_t payload[BD_INLINE_MAX + 1];

static struct bd_msg reply_msg(uint32_t len)
{
        struct bd_msg m = {.type = BD_MSG_REPLY, .id = 77};
        m.u.reply.status = 6;
        m.u.reply.length = len;
        m.u.reply.old = 0xcafef00dcafef00dull;
        fill(payload, sizeof(payload), 0x55);
        m.u.reply.data = len ? payload : NULL;
        return m;
}

static size_t encode(const struct bd_msg *m, uint8_t *b)
{
        size_t n = bd_wire_encode(m, b, BUFCAP);
        assert_true(n > 0);
        return n;
}

/* ---- round trips ------------------------------------------------------- */

static void test_roundtrip_hello(void **state)
{
        (void)state;
        struct bd_msg in = hello_msg(), out;
        size_t n = roundtrip(&in, &out);
        assert_int_equal(n, BD_HDR_LEN + 4 + BD_NONCE_LEN + 4);
        assert_int_equal(out.u.hello.version, BD_WIRE_VERSION);
        assert_memory_equal(out.u.hello.nonce, in.u.hello.nonce, BD_NONCE_LEN);
        assert_int_equal(out.u.hello.uc_qpn, in.u.hello.uc_qpn);
}

/* Another version's HELLO, of whatever length, decodes to its version
 * alone, so that the monitor can say which versions differ. */
static void test_hello_of_another_version(void **state)
{
        (void)state;
        struct bd_msg in = hello_msg(), out;
        size_t n = bd_wire_encode(&in, buf, sizeof(buf));
        buf[16] = 3; /* version 3's HELLO had no UC queue pair: 4 bytes less */
        put32le(buf + 12, (uint32_t)(n - BD_HDR_LEN - 4));
        const char *why = NULL;
        assert_int_equal(bd_wire_decode(buf, n - 4, &out, &why), 0);
        assert_int_equal(out.type, BD_MSG_HELLO);
        assert_int_equal(out.u.hello.version, 3);
        assert_int_equal(out.u.hello.uc_qpn, 0);
}

/* The documented layout: little-endian fields at fixed offsets. A change here
 * breaks every deployed NIC, so pin it byte by byte. */
static void test_header_layout(void **state)
{
        (void)state;
        struct bd_msg in = hello_msg();
        size_t n = bd_wire_encode(&in, buf, sizeof(buf));
        assert_int_equal(n, 56);
        static const uint8_t hdr[16] = {'B',  'B',  'D',  '1',  1,  0, 0, 0,
                                        0x04, 0x03, 0x02, 0x01, 40, 0, 0, 0};
        assert_memory_equal(buf, hdr, 16);
        assert_int_equal(buf[16], BD_WIRE_VERSION);
        assert_int_equal(buf[17], 0);
        assert_memory_equal(buf + 20, in.u.hello.nonce, BD_NONCE_LEN);
        static const uint8_t uc[4] = {0xef, 0xcd, 0xab, 0};
        assert_memory_equal(buf + 52, uc, 4);
}

static void test_roundtrip_auth(void **state)
{
        (void)state;
        struct bd_msg in = auth_msg(), out;
        size_t n = roundtrip(&in, &out);
        assert_int_equal(n, BD_HDR_LEN + BD_NONCE_LEN + BD_MAC_LEN + 4);
        assert_memory_equal(out.u.auth.nonce, in.u.auth.nonce, BD_NONCE_LEN);
        assert_memory_equal(out.u.auth.mac, in.u.auth.mac, BD_MAC_LEN);
        assert_int_equal(out.u.auth.uc_qpn, in.u.auth.uc_qpn);
}

static void check_welcome(uint32_t nwindows)
{
        struct bd_msg in = welcome_msg(nwindows), out;
        size_t n = roundtrip(&in, &out);
        assert_int_equal(n, BD_HDR_LEN + BD_MAC_LEN + 4 + nwindows * BD_WINDOW_DESC_LEN);
        assert_memory_equal(out.u.welcome.mac, in.u.welcome.mac, BD_MAC_LEN);
        assert_int_equal(out.u.welcome.nwindows, nwindows);
        for (uint32_t i = 0; i < nwindows; i++) {
                const struct bd_window_desc *a = &in.u.welcome.windows[i];
                const struct bd_window_desc *b = &out.u.welcome.windows[i];
                assert_string_equal(b->name, a->name);
                assert_int_equal(b->base, a->base);
                assert_int_equal(b->length, a->length);
                assert_int_equal(b->remote_addr, a->remote_addr);
                assert_int_equal(b->rkey, a->rkey);
                assert_int_equal(b->mode, a->mode);
                assert_int_equal(b->access, a->access);
        }
}

static void test_roundtrip_welcome_0(void **state)
{
        (void)state;
        check_welcome(0);
}

static void test_roundtrip_welcome_1(void **state)
{
        (void)state;
        check_welcome(1);
}

static void test_roundtrip_welcome_max(void **state)
{
        (void)state;
        check_welcome(BD_MAX_WINDOWS);
}

/* A window name of exactly BD_WINDOW_NAME_MAX - 1 characters still fits with
 * its NUL; the full 64-bit range of a window is representable. */
static void test_roundtrip_welcome_extremes(void **state)
{
        (void)state;
        struct bd_msg in = welcome_msg(1), out;
        memset(in.u.welcome.windows[0].name, 'n', BD_WINDOW_NAME_MAX - 1);
        in.u.welcome.windows[0].name[BD_WINDOW_NAME_MAX - 1] = '\0';
        in.u.welcome.windows[0].base = 0;
        in.u.welcome.windows[0].length = UINT64_MAX;
        roundtrip(&in, &out);
        assert_int_equal(strlen(out.u.welcome.windows[0].name), BD_WINDOW_NAME_MAX - 1);
        assert_int_equal(out.u.welcome.windows[0].length, UINT64_MAX);
}

static void test_roundtrip_refused(void **state)
{
        (void)state;
        struct bd_msg in = {.type = BD_MSG_REFUSED, .id = 1}, out;
        in.u.refused.reason = 5;
        size_t n = roundtrip(&in, &out);
        assert_int_equal(n, BD_HDR_LEN + 4);
        assert_int_equal(out.u.refused.reason, 5);
}

static void check_request(const struct bd_msg *in)
{
        struct bd_msg out;
        size_t n = roundtrip(in, &out);
        const struct bd_request *a = &in->u.request, *b = &out.u.request;
        int has_data = a->op == BD_OP_WRITE || a->op == BD_OP_READV || a->op == BD_OP_CASV;
        size_t data = has_data ? a->length : 0;
        assert_int_equal(n, BD_HDR_LEN + BD_REQUEST_FIXED_LEN + data);
        assert_int_equal(b->op, a->op);
        assert_int_equal(b->window, a->window);
        assert_int_equal(b->length, a->length);
        assert_int_equal(b->offset, a->offset);
        assert_int_equal(b->sink_addr, a->sink_addr);
        assert_int_equal(b->sink_rkey, a->sink_rkey);
        assert_int_equal(b->compare, a->compare);
        assert_int_equal(b->swap, a->swap);
        if (has_data) {
                /* The data pointer refers into the received buffer. */
                assert_ptr_equal(b->data, buf + BD_HDR_LEN + BD_REQUEST_FIXED_LEN);
                if (a->length)
                        assert_memory_equal(b->data, a->data, a->length);
        } else {
                assert_null(b->data);
        }
}

static void test_roundtrip_request_each_op(void **state)
{
        (void)state;
        static const uint8_t ops[] = {BD_OP_READ, BD_OP_WRITE, BD_OP_CAS};
        for (size_t i = 0; i < sizeof(ops); i++) {
                struct bd_msg m = request_msg(ops[i]);
                check_request(&m);
        }
}

static void test_roundtrip_request_write_sizes(void **state)
{
        (void)state;
        static const uint32_t sizes[] = {0, 1, BD_INLINE_MAX};
        fill(payload, sizeof(payload), 0x99);
        for (size_t i = 0; i < 3; i++) {
                struct bd_msg m = request_msg(BD_OP_WRITE);
                m.u.request.length = sizes[i];
                m.u.request.data = payload;
                check_request(&m);
        }
}

static void test_roundtrip_reply(void **state)
{
        (void)state;
        static const uint32_t sizes[] = {0, 1, 100, BD_INLINE_MAX};
        for (size_t i = 0; i < 4; i++) {
                struct bd_msg in = reply_msg(sizes[i]), out;
                size_t n = roundtrip(&in, &out);
                assert_int_equal(n, BD_HDR_LEN + BD_REPLY_FIXED_LEN + sizes[i]);
                assert_int_equal(out.u.reply.status, 6);
                assert_int_equal(out.u.reply.length, sizes[i]);
                assert_int_equal(out.u.reply.old, in.u.reply.old);
                if (sizes[i])
                        assert_memory_equal(out.u.reply.data, payload, sizes[i]);
                else
                        assert_null(out.u.reply.data); /* no data: no dangling pointer */
        }
}

/* ---- decode refusals ---------------------------------------------------- */

/* One encoded example of every kind of message, for the generic checks. */
static size_t sample(int i, uint8_t *b)
{
        struct bd_msg m;
        switch (i) {
        case 0:
                m = hello_msg();
                break;
        case 1:
                m = auth_msg();
                break;
        case 2:
                m = welcome_msg(0);
                break;
        case 3:
                m = welcome_msg(2);
                break;
        case 4:
                m = welcome_msg(BD_MAX_WINDOWS);
                break;
        case 5:
                m = (struct bd_msg){.type = BD_MSG_REFUSED, .u.refused.reason = 5};
                break;
        case 6:
                m = request_msg(BD_OP_READ);
                break;
        case 7:
                m = request_msg(BD_OP_CAS);
                break;
        case 8:
                m = request_msg(BD_OP_WRITE);
                m.u.request.length = 10;
                m.u.request.data = payload;
                break;
        case 9:
                m = reply_msg(0);
                break;
        case 10:
                m = reply_msg(33);
                break;
        default:
                return 0;
        }
        return encode(&m, b);
}

#define NSAMPLES 11

/* A peer's message may arrive cut short anywhere: header, fixed part, window
 * table or inline data. Every prefix must be refused. */
static void test_reject_every_truncation(void **state)
{
        (void)state;
        for (int i = 0; i < NSAMPLES; i++) {
                size_t n = sample(i, buf);
                expect_all_truncations_rejected(buf, n);
        }
}

/* The length field is consistent with the received size but shorter than the
 * type's fixed part: the decoder must not read past what it got. */
static void test_reject_consistent_but_short(void **state)
{
        (void)state;
        for (int i = 0; i < NSAMPLES; i++) {
                size_t n = sample(i, buf);
                uint16_t type = (uint16_t)(buf[4] | buf[5] << 8);
                size_t fixed = type == BD_MSG_HELLO     ? 4 + BD_NONCE_LEN + 4
                               : type == BD_MSG_AUTH    ? BD_NONCE_LEN + BD_MAC_LEN + 4
                               : type == BD_MSG_WELCOME ? BD_MAC_LEN + 4
                               : type == BD_MSG_REFUSED ? 4
                               : type == BD_MSG_REQUEST ? BD_REQUEST_FIXED_LEN
                                                        : BD_REPLY_FIXED_LEN;
                for (size_t plen = 0; plen < fixed; plen++) {
                        memcpy(buf2, buf, n);
                        put32le(buf2 + 12, (uint32_t)plen);
                        expect_reject(buf2, BD_HDR_LEN + plen);
                }
        }
}

/* Bytes after a message (one more than the length field says) are refused. */
static void test_reject_extra_bytes(void **state)
{
        (void)state;
        for (int i = 0; i < NSAMPLES; i++) {
                size_t n = sample(i, buf);
                buf[n] = 0;
                expect_reject_why(buf, n + 1, "length");
                buf[n + 1] = 0;
                expect_reject(buf, n + 2);
        }
}

/* Trailing bytes that the length field does cover are still refused: a
 * fixed-size message has no room for them, and for WELCOME/WRITE/REPLY they
 * disagree with the count. */
static void test_reject_trailing_bytes_in_length(void **state)
{
        (void)state;
        for (int i = 0; i < NSAMPLES; i++) {
                size_t n = sample(i, buf);
                for (size_t extra = 1; extra <= 8; extra++) {
                        memcpy(buf2, buf, n);
                        memset(buf2 + n, 0xee, extra);
                        put32le(buf2 + 12, (uint32_t)(n + extra - BD_HDR_LEN));
                        expect_reject(buf2, n + extra);
                }
        }
        /* Fixed-size types say why. */
        size_t n = sample(0, buf);
        buf[n] = 0;
        put32le(buf + 12, (uint32_t)(n + 1 - BD_HDR_LEN));
        expect_reject_why(buf, n + 1, "trailing");
}

static void test_reject_bad_magic(void **state)
{
        (void)state;
        size_t n = sample(0, buf);
        for (int byte = 0; byte < 4; byte++) {
                for (int bit = 0; bit < 8; bit++) {
                        memcpy(buf2, buf, n);
                        buf2[byte] ^= (uint8_t)(1u << bit);
                        expect_reject_why(buf2, n, "magic");
                }
        }
        /* Big-endian magic (a peer with the wrong byte order). */
        memcpy(buf2, buf, n);
        buf2[0] = '1';
        buf2[1] = 'D';
        buf2[2] = 'B';
        buf2[3] = 'B';
        expect_reject(buf2, n);
}

static void test_reject_unknown_type(void **state)
{
        (void)state;
        static const uint16_t types[] = {0, 7, 8, 0x100, 0xffff};
        size_t n = sample(5, buf); /* REFUSED: 4-byte payload */
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                memcpy(buf2, buf, n);
                buf2[4] = (uint8_t)types[i];
                buf2[5] = (uint8_t)(types[i] >> 8);
                expect_reject_why(buf2, n, "type");
        }
}

/* A length field that disagrees with the received size, in either direction
 * or by a huge amount (a decoder trusting it would read out of bounds). */
static void test_reject_length_mismatch(void **state)
{
        (void)state;
        static const uint32_t deltas[] = {1, 2, 72, 0x10000, 0x7fffffff, 0xffffffffu};
        for (int i = 0; i < NSAMPLES; i++) {
                size_t n = sample(i, buf);
                uint32_t plen = (uint32_t)(n - BD_HDR_LEN);
                for (size_t d = 0; d < sizeof(deltas) / sizeof(deltas[0]); d++) {
                        memcpy(buf2, buf, n);
                        put32le(buf2 + 12, plen + deltas[d]);
                        expect_reject(buf2, n);
                        put32le(buf2 + 12, plen - deltas[d]);
                        expect_reject(buf2, n);
                }
        }
}

/* The WELCOME payload starts after the MAC: count at +32, table at +36. */
#define WELCOME_COUNT (BD_HDR_LEN + BD_MAC_LEN)
#define WELCOME_TABLE (BD_HDR_LEN + BD_MAC_LEN + 4)

static void test_reject_welcome_too_many_windows(void **state)
{
        (void)state;
        /* A table of BD_MAX_WINDOWS + 1 windows with a matching count: the
         * sizes agree, only the count is too large. */
        size_t n = sample(4, buf);
        memcpy(buf + n, buf + WELCOME_TABLE, BD_WINDOW_DESC_LEN);
        n += BD_WINDOW_DESC_LEN;
        put32le(buf + WELCOME_COUNT, BD_MAX_WINDOWS + 1);
        put32le(buf + 12, (uint32_t)(n - BD_HDR_LEN));
        expect_reject_why(buf, n, "many");

        /* A huge count must not overflow count * 72 into a "matching" size. */
        static const uint32_t counts[] = {0x7fffffff, 0x80000000u, 0xffffffffu,
                                          0x038e38e4u /* * 72 wraps 32 bits */};
        n = sample(2, buf);
        for (size_t i = 0; i < 4; i++) {
                put32le(buf + WELCOME_COUNT, counts[i]);
                expect_reject(buf, n);
        }
}

static void test_reject_welcome_table_size(void **state)
{
        (void)state;
        /* Count says 2, table holds 1 (and the length field agrees with the
         * size actually sent). */
        size_t n = sample(3, buf);
        n -= BD_WINDOW_DESC_LEN;
        put32le(buf + 12, (uint32_t)(n - BD_HDR_LEN));
        expect_reject_why(buf, n, "disagrees");
        /* Count says 0, one window follows. */
        n = sample(3, buf);
        put32le(buf + WELCOME_COUNT, 0);
        expect_reject_why(buf, n, "disagrees");
        /* Count says 1, table holds one and a half windows. */
        n = sample(3, buf);
        put32le(buf + WELCOME_COUNT, 1);
        n -= BD_WINDOW_DESC_LEN / 2;
        put32le(buf + 12, (uint32_t)(n - BD_HDR_LEN));
        expect_reject(buf, n);
}

/* Corrupt one field of the second window of a valid 2-window WELCOME. */
static size_t welcome_with(uint8_t **w)
{
        size_t n = sample(3, buf);
        *w = buf + WELCOME_TABLE + BD_WINDOW_DESC_LEN;
        return n;
}

static void put64le(uint8_t *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void test_reject_window_name(void **state)
{
        (void)state;
        uint8_t *w;
        /* Not NUL-terminated within its 32 bytes: a peer could make a reader
         * run off the end of the name. */
        size_t n = welcome_with(&w);
        memset(w, 'A', BD_WINDOW_NAME_MAX);
        expect_reject_why(buf, n, "name");
        /* Empty name. */
        n = welcome_with(&w);
        memset(w, 0, BD_WINDOW_NAME_MAX);
        expect_reject_why(buf, n, "name");
        /* The first window bad, the second fine: still refused. */
        n = sample(3, buf);
        memset(buf + WELCOME_TABLE, 'B', BD_WINDOW_NAME_MAX);
        expect_reject(buf, n);
        /* 31 characters and a NUL is the longest valid name. */
        n = welcome_with(&w);
        memset(w, 'C', BD_WINDOW_NAME_MAX - 1);
        w[BD_WINDOW_NAME_MAX - 1] = 0;
        struct bd_msg m;
        const char *why = NULL;
        assert_int_equal(bd_wire_decode(buf, n, &m, &why), 0);
        assert_int_equal(strlen(m.u.welcome.windows[1].name), BD_WINDOW_NAME_MAX - 1);
}

static void test_reject_window_extent(void **state)
{
        (void)state;
        uint8_t *w;
        /* Zero length. */
        size_t n = welcome_with(&w);
        put64le(w + 40, 0);
        expect_reject_why(buf, n, "length");
        /* base + length wraps past 2^64. */
        n = welcome_with(&w);
        put64le(w + 32, UINT64_MAX);
        put64le(w + 40, 2);
        expect_reject_why(buf, n, "wraps");
        n = welcome_with(&w);
        put64le(w + 32, 0x8000000000000000ull);
        put64le(w + 40, 0x8000000000000001ull);
        expect_reject(buf, n);
        /* Largest non-wrapping window: accepted. */
        n = welcome_with(&w);
        put64le(w + 32, 1);
        put64le(w + 40, UINT64_MAX - 1);
        struct bd_msg m;
        const char *why = NULL;
        assert_int_equal(bd_wire_decode(buf, n, &m, &why), 0);
}

static void test_reject_window_mode_access(void **state)
{
        (void)state;
        static const uint8_t bad[] = {0, 3, 0x80, 0xff};
        uint8_t *w;
        for (size_t i = 0; i < sizeof(bad); i++) {
                size_t n = welcome_with(&w);
                w[60] = bad[i];
                expect_reject_why(buf, n, "mode");
                n = welcome_with(&w);
                w[61] = bad[i];
                expect_reject_why(buf, n, "access");
        }
}

/* 4 and 5 were the announced one-sided writes, retired: a peer sending
 * one is as malformed as one sending an op never defined. */
static void test_reject_request_unknown_op(void **state)
{
        (void)state;
        static const uint8_t bad[] = {0, 4, 5, BD_OP_PAGEMATCH + 1, 0x7f, 0xff};
        size_t n = sample(6, buf);
        for (size_t i = 0; i < sizeof(bad); i++) {
                buf[BD_HDR_LEN] = bad[i];
                expect_reject_why(buf, n, "operation");
        }
}

/* A ZEROMAP names whole pages, at least one, at most BD_ZEROMAP_MAX
 * bytes of them, and carries no data. */
static void test_zeromap_lengths(void **state)
{
        (void)state;
        static const uint32_t good[] = {BD_ZEROMAP_PAGE, 3 * BD_ZEROMAP_PAGE, BD_ZEROMAP_MAX};
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                struct bd_msg m = request_msg(BD_OP_ZEROMAP), back;
                m.u.request.length = good[i];
                size_t n = bd_wire_encode(&m, buf, sizeof(buf));
                assert_int_equal(n, BD_HDR_LEN + BD_REQUEST_FIXED_LEN);
                const char *why;
                assert_int_equal(bd_wire_decode(buf, n, &back, &why), 0);
                assert_int_equal(back.u.request.op, BD_OP_ZEROMAP);
                assert_int_equal(back.u.request.length, good[i]);
                assert_null(back.u.request.data);
        }
        static const uint32_t bad[] = {0,
                                       1,
                                       BD_ZEROMAP_PAGE - 1,
                                       BD_ZEROMAP_PAGE + 8,
                                       BD_ZEROMAP_MAX + BD_ZEROMAP_PAGE,
                                       0xfffff000u};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct bd_msg m = request_msg(BD_OP_ZEROMAP);
                m.u.request.length = BD_ZEROMAP_PAGE;
                size_t n = bd_wire_encode(&m, buf, sizeof(buf));
                assert_int_equal(n, BD_HDR_LEN + BD_REQUEST_FIXED_LEN);
                bd_put_le(buf + BD_HDR_LEN + 4, bad[i], 4);
                expect_reject_why(buf, n, "zeromap");
                m.u.request.length = bad[i];
                assert_int_equal(bd_wire_encode(&m, buf, sizeof(buf)), 0);
        }
}

/* A PAGEMATCH names pages as a ZEROMAP does and carries its patterns,
 * each whole, inside a page and zero-padded, one to four of them; a page
 * matches when it holds one at its place. */
static void test_pagematch(void **state)
{
        (void)state;
        static const struct bd_page_pattern pats[] = {
            {.at = 12, .len = 11, .bytes = "VMCOREINFO"},
            {.at = 0, .len = 10, .bytes = "OSRELEASE="},
        };
        uint8_t wire[BD_PAGEMATCH_MAX_PATS * BD_PAGEMATCH_PAT_LEN];
        bd_wire_pattern_put(wire, 0, &pats[0]);
        bd_wire_pattern_put(wire, 1, &pats[1]);
        struct bd_msg m = request_msg(BD_OP_PAGEMATCH), back;
        m.u.request.length = 4 * BD_ZEROMAP_PAGE;
        m.u.request.data = wire;
        m.u.request.data_len = 2 * BD_PAGEMATCH_PAT_LEN;
        size_t n = bd_wire_encode(&m, buf, sizeof(buf));
        assert_int_equal(n, BD_HDR_LEN + BD_REQUEST_FIXED_LEN + 2 * BD_PAGEMATCH_PAT_LEN);
        const char *why;
        assert_int_equal(bd_wire_decode(buf, n, &back, &why), 0);
        assert_int_equal(back.u.request.op, BD_OP_PAGEMATCH);
        assert_int_equal(back.u.request.length, 4 * BD_ZEROMAP_PAGE);
        assert_int_equal(back.u.request.data_len, 2 * BD_PAGEMATCH_PAT_LEN);
        struct bd_page_pattern got;
        bd_wire_pattern_get(back.u.request.data, 1, &got);
        assert_int_equal(got.at, 0);
        assert_int_equal(got.len, 10);
        assert_memory_equal(got.bytes, pats[1].bytes, BD_PAGEMATCH_BYTES);

        /* What a page must hold. */
        static uint8_t page[BD_ZEROMAP_PAGE];
        assert_false(bd_page_pattern_match(page, pats, 2));
        memcpy(page + 12, "VMCOREINFO", 11);
        assert_true(bd_page_pattern_match(page, pats, 2));
        assert_false(bd_page_pattern_match(page, pats + 1, 1));

        /* Malformed pattern lists: each refused by the decoder, and not
         * encoded. */
        static const struct {
                size_t at;
                uint8_t value;
        } spoil[] = {
            {2, 0},                      /* length 0 */
            {2, BD_PAGEMATCH_BYTES + 1}, /* longer than a pattern holds */
            {1, 0x10},                   /* at 4096 + 12: past the page */
            {3, 1},                      /* its zero byte */
            {4 + 11, 'x'},               /* padding after the bytes */
        };
        for (size_t i = 0; i < sizeof(spoil) / sizeof(spoil[0]); i++) {
                uint8_t copy[sizeof(buf)];
                memcpy(copy, buf, n);
                copy[BD_HDR_LEN + BD_REQUEST_FIXED_LEN + spoil[i].at] = spoil[i].value;
                expect_reject_why(copy, n, "pagematch pattern");
        }
        /* None, a part of one, more than four. */
        m.u.request.data_len = 0;
        assert_int_equal(bd_wire_encode(&m, buf, sizeof(buf)), 0);
        m.u.request.data_len = BD_PAGEMATCH_PAT_LEN - 1;
        assert_int_equal(bd_wire_encode(&m, buf, sizeof(buf)), 0);
        uint8_t five[5 * BD_PAGEMATCH_PAT_LEN];
        for (unsigned i = 0; i < 5; i++)
                bd_wire_pattern_put(five, i, &pats[0]);
        m.u.request.data = five;
        m.u.request.data_len = sizeof(five);
        assert_int_equal(bd_wire_encode(&m, buf, sizeof(buf)), 0);
        /* Its range as a ZEROMAP's. */
        m.u.request.data_len = BD_PAGEMATCH_PAT_LEN;
        m.u.request.length = BD_ZEROMAP_MAX + BD_ZEROMAP_PAGE;
        assert_int_equal(bd_wire_encode(&m, buf, sizeof(buf)), 0);
}

static void test_roundtrip_readv(void **state)
{
        (void)state;
        uint8_t segs[BD_READV_MAX_SEGS * BD_READV_SEG_LEN];
        for (unsigned i = 0; i < BD_READV_MAX_SEGS; i++)
                bd_wire_readv_put(segs, i, 0x100000000ull * i + 8 * i, 64 + i);
        static const unsigned counts[] = {1, 2, BD_READV_MAX_SEGS};
        for (size_t c = 0; c < 3; c++) {
                struct bd_msg m = request_msg(BD_OP_READV);
                m.u.request.length = counts[c] * BD_READV_SEG_LEN;
                m.u.request.data = segs;
                check_request(&m);
        }
        uint64_t off;
        uint32_t len;
        bd_wire_readv_get(segs, 63, &off, &len);
        assert_int_equal(off, 0x100000000ull * 63 + 8 * 63);
        assert_int_equal(len, 64 + 63);
        assert_string_equal(bd_op_name(BD_OP_READV), "readv");
}

static void test_roundtrip_casv(void **state)
{
        (void)state;
        uint8_t ops[BD_CASV_MAX_OPS * BD_CASV_OP_LEN];
        for (unsigned i = 0; i < BD_CASV_MAX_OPS; i++)
                bd_wire_casv_put(ops, i, 8ull * i, 0x1000 + i, ~0ull - i);
        static const unsigned counts[] = {1, 2, BD_CASV_MAX_OPS};
        for (size_t c = 0; c < 3; c++) {
                struct bd_msg m = request_msg(BD_OP_CASV);
                m.u.request.length = counts[c] * BD_CASV_OP_LEN;
                m.u.request.data = ops;
                check_request(&m);
        }
        uint64_t off, compare, swap;
        bd_wire_casv_get(ops, BD_CASV_MAX_OPS - 1, &off, &compare, &swap);
        assert_int_equal(off, 8ull * (BD_CASV_MAX_OPS - 1));
        assert_int_equal(compare, 0x1000 + BD_CASV_MAX_OPS - 1);
        assert_int_equal(swap, ~0ull - (BD_CASV_MAX_OPS - 1));
        uint8_t answers[2 * BD_CASV_ANSWER_LEN];
        bd_wire_casv_answer_put(answers, 1, 0xfedcba9876543210ull, BD_ERR_READONLY);
        uint64_t found;
        uint32_t status;
        bd_wire_casv_answer_get(answers, 1, &found, &status);
        assert_int_equal(found, 0xfedcba9876543210ull);
        assert_int_equal(status, BD_ERR_READONLY);
        assert_string_equal(bd_op_name(BD_OP_CASV), "casv");
}

/* A READV's segment list, or a CASV's operation list: whole items, at
 * least one, at most the most. */
static void reject_lists(uint8_t op, uint32_t item, uint32_t most, const char *why)
{
        uint8_t list[4096] = {0};
        const uint32_t bad[] = {0, 1, item - 1, item + item / 2, (most + 1) * item};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct bd_msg m = request_msg(op);
                m.u.request.length = bad[i];
                m.u.request.data = list;
                size_t n = encode(&m, buf);
                expect_reject_why(buf, n, why);
        }
}

static void test_reject_readv_segments(void **state)
{
        (void)state;
        reject_lists(BD_OP_READV, BD_READV_SEG_LEN, BD_READV_MAX_SEGS, "readv");
}

static void test_reject_casv_ops(void **state)
{
        (void)state;
        reject_lists(BD_OP_CASV, BD_CASV_OP_LEN, BD_CASV_MAX_OPS, "casv");
}

/* WRITE data must be exactly as long as the request says. */
static void test_reject_write_length(void **state)
{
        (void)state;
        const size_t fixed = BD_HDR_LEN + BD_REQUEST_FIXED_LEN;
        struct bd_msg m = request_msg(BD_OP_WRITE);
        m.u.request.length = 5;
        m.u.request.data = payload;
        size_t n = encode(&m, buf);
        assert_int_equal(n, fixed + 5);
        /* One byte short, with a consistent length field. */
        memcpy(buf2, buf, n);
        put32le(buf2 + 12, (uint32_t)(n - 1 - BD_HDR_LEN));
        expect_reject_why(buf2, n - 1, "write");
        /* One byte long. */
        memcpy(buf2, buf, n);
        buf2[n] = 0;
        put32le(buf2 + 12, (uint32_t)(n + 1 - BD_HDR_LEN));
        expect_reject_why(buf2, n + 1, "write");
        /* Length field of the request says 6. */
        memcpy(buf2, buf, n);
        put32le(buf2 + BD_HDR_LEN + 4, 6);
        expect_reject(buf2, n);
        /* BD_INLINE_MAX + 1 bytes, all present: too much to carry inline. */
        memcpy(buf2, buf, fixed);
        memset(buf2 + fixed, 0x11, BD_INLINE_MAX + 1);
        put32le(buf2 + BD_HDR_LEN + 4, BD_INLINE_MAX + 1);
        put32le(buf2 + 12, BD_REQUEST_FIXED_LEN + BD_INLINE_MAX + 1);
        expect_reject(buf2, fixed + BD_INLINE_MAX + 1);
        /* Huge length with no data at all. */
        memcpy(buf2, buf, fixed);
        put32le(buf2 + BD_HDR_LEN + 4, 0xffffffffu);
        put32le(buf2 + 12, BD_REQUEST_FIXED_LEN);
        expect_reject(buf2, fixed);
}

/* A READ request carries no data: bytes after it are refused. */
static void test_reject_read_with_data(void **state)
{
        (void)state;
        size_t n = sample(6, buf);
        memset(buf + n, 0, 4);
        put32le(buf + 12, (uint32_t)(n + 4 - BD_HDR_LEN));
        expect_reject_why(buf, n + 4, "trailing");
}

static void test_reject_reply_length(void **state)
{
        (void)state;
        const size_t fixed = BD_HDR_LEN + BD_REPLY_FIXED_LEN;
        /* length > BD_INLINE_MAX, with that much data really present. */
        size_t n = sample(9, buf);
        assert_int_equal(n, fixed);
        memset(buf + fixed, 0x22, BD_INLINE_MAX + 1);
        put32le(buf + BD_HDR_LEN + 4, BD_INLINE_MAX + 1);
        put32le(buf + 12, BD_REPLY_FIXED_LEN + BD_INLINE_MAX + 1);
        expect_reject_why(buf, fixed + BD_INLINE_MAX + 1, "reply");
        /* length says 33 but only 32 bytes follow. */
        n = sample(10, buf);
        put32le(buf + 12, (uint32_t)(n - 1 - BD_HDR_LEN));
        expect_reject(buf, n - 1);
        /* Huge length, no data. */
        n = sample(9, buf);
        put32le(buf + BD_HDR_LEN + 4, 0xffffffffu);
        expect_reject(buf, n);
}

/* ---- encode refusals ---------------------------------------------------- */

static void test_encode_small_buffers(void **state)
{
        (void)state;
        for (int i = 0; i < NSAMPLES; i++) {
                size_t n = sample(i, buf);
                /* Rebuild the message so that we can encode it again. */
                struct bd_msg m;
                const char *why = NULL;
                assert_int_equal(bd_wire_decode(buf, n, &m, &why), 0);
                /* Every capacity below the size is refused without writing
                 * past it (ASan would see an overflow of the heap copy). */
                for (size_t cap = 0; cap < n; cap++) {
                        uint8_t *small = malloc(cap ? cap : 1);
                        assert_non_null(small);
                        assert_int_equal(bd_wire_encode(&m, small, cap), 0);
                        free(small);
                }
                uint8_t *exact = malloc(n);
                assert_non_null(exact);
                assert_int_equal(bd_wire_encode(&m, exact, n), n);
                assert_memory_equal(exact, buf, n);
                free(exact);
        }
}

static void test_encode_refuses_invalid(void **state)
{
        (void)state;
        /* WRITE and REPLY larger than BD_INLINE_MAX. */
        struct bd_msg m = request_msg(BD_OP_WRITE);
        m.u.request.length = BD_INLINE_MAX + 1;
        m.u.request.data = payload;
        assert_int_equal(bd_wire_encode(&m, buf, sizeof(buf)), 0);
        m.u.request.length = 0xffffffffu;
        assert_int_equal(bd_wire_encode(&m, buf, sizeof(buf)), 0);
        m = reply_msg(BD_INLINE_MAX + 1);
        assert_int_equal(bd_wire_encode(&m, buf, sizeof(buf)), 0);
        /* Too many windows. */
        m = welcome_msg(BD_MAX_WINDOWS);
        m.u.welcome.nwindows = BD_MAX_WINDOWS + 1;
        assert_int_equal(bd_wire_encode(&m, buf, sizeof(buf)), 0);
        m.u.welcome.nwindows = 0xffffffffu;
        assert_int_equal(bd_wire_encode(&m, buf, sizeof(buf)), 0);
        /* Unknown or retired operations. */
        static const uint8_t ops[] = {0, 4, 5, BD_OP_PAGEMATCH + 1, 0xff};
        for (size_t i = 0; i < sizeof(ops); i++) {
                m = request_msg(ops[i]);
                assert_int_equal(bd_wire_encode(&m, buf, sizeof(buf)), 0);
        }
        /* Unknown type. */
        m = (struct bd_msg){.type = 0};
        assert_int_equal(bd_wire_encode(&m, buf, sizeof(buf)), 0);
        m.type = 7;
        assert_int_equal(bd_wire_encode(&m, buf, sizeof(buf)), 0);
}

/* A non-WRITE request's length is an amount to read, not inline data: a READ
 * of BD_READ_MAX encodes to the fixed size only. */
static void test_encode_read_length_is_not_data(void **state)
{
        (void)state;
        struct bd_msg m = request_msg(BD_OP_READ), out;
        m.u.request.length = BD_READ_MAX;
        size_t n = roundtrip(&m, &out);
        assert_int_equal(n, BD_HDR_LEN + BD_REQUEST_FIXED_LEN);
        assert_int_equal(out.u.request.length, BD_READ_MAX);
}

static void test_names(void **state)
{
        (void)state;
        assert_string_equal(bd_op_name(BD_OP_READ), "read");
        assert_string_equal(bd_op_name(BD_OP_WRITE), "write");
        assert_string_equal(bd_op_name(BD_OP_CAS), "cas");
        assert_string_equal(bd_op_name(0), "unknown");
        assert_string_equal(bd_op_name(4), "unknown"); /* retired */
        assert_string_equal(bd_op_name(5), "unknown");
        assert_string_equal(bd_mode_name(BD_MODE_DIRECT), "direct");
        assert_string_equal(bd_mode_name(BD_MODE_MEDIATED), "mediated");
        assert_string_equal(bd_mode_name(9), "?");
        assert_string_equal(bd_access_name(BD_ACCESS_RO), "read-only");
        assert_string_equal(bd_access_name(BD_ACCESS_RW), "read-write");
        assert_string_equal(bd_access_name(0), "?");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_roundtrip_hello),
            cmocka_unit_test(test_hello_of_another_version),
            cmocka_unit_test(test_header_layout),
            cmocka_unit_test(test_roundtrip_auth),
            cmocka_unit_test(test_roundtrip_welcome_0),
            cmocka_unit_test(test_roundtrip_welcome_1),
            cmocka_unit_test(test_roundtrip_welcome_max),
            cmocka_unit_test(test_roundtrip_welcome_extremes),
            cmocka_unit_test(test_roundtrip_refused),
            cmocka_unit_test(test_roundtrip_request_each_op),
            cmocka_unit_test(test_roundtrip_request_write_sizes),
            cmocka_unit_test(test_roundtrip_readv),
            cmocka_unit_test(test_reject_readv_segments),
            cmocka_unit_test(test_roundtrip_casv),
            cmocka_unit_test(test_reject_casv_ops),
            cmocka_unit_test(test_roundtrip_reply),
            cmocka_unit_test(test_reject_every_truncation),
            cmocka_unit_test(test_reject_consistent_but_short),
            cmocka_unit_test(test_reject_extra_bytes),
            cmocka_unit_test(test_reject_trailing_bytes_in_length),
            cmocka_unit_test(test_reject_bad_magic),
            cmocka_unit_test(test_reject_unknown_type),
            cmocka_unit_test(test_reject_length_mismatch),
            cmocka_unit_test(test_reject_welcome_too_many_windows),
            cmocka_unit_test(test_reject_welcome_table_size),
            cmocka_unit_test(test_reject_window_name),
            cmocka_unit_test(test_reject_window_extent),
            cmocka_unit_test(test_reject_window_mode_access),
            cmocka_unit_test(test_reject_request_unknown_op),
            cmocka_unit_test(test_zeromap_lengths),
            cmocka_unit_test(test_pagematch),
            cmocka_unit_test(test_reject_write_length),
            cmocka_unit_test(test_reject_read_with_data),
            cmocka_unit_test(test_reject_reply_length),
            cmocka_unit_test(test_encode_small_buffers),
            cmocka_unit_test(test_encode_refuses_invalid),
            cmocka_unit_test(test_encode_read_length_is_not_data),
            cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
