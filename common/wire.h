/* The Backdoors wire protocol between bdnicd and a monitor.
 *
 * Messages travel as RDMA SENDs on an RC queue pair. Every field is encoded
 * little-endian at a fixed offset, so the decoder can validate a message from
 * an untrusted peer field by field before any of it is used.
 *
 *   NIC                                   monitor
 *    |--- HELLO (version, nonce_n, uc_n) ---->|
 *    |<-- AUTH (nonce_m, mac_m, uc_m) --------|   mac_m = HMAC(key, "bd-monitor" nonce_n nonce_m
 *    |                                        |                 channel)
 *    |--- WELCOME (mac_n, windows) ---------->|   mac_n = HMAC(key, "bd-nic" nonce_m nonce_n
 *    |    or REFUSED, then disconnect         |                 channel windows)
 *    |<-- REQUEST (op, window, offset, ...) --|   mediated reads, and every write
 *    |--- REPLY (status, data | RDMA WRITE) ->|
 *
 * uc_n and uc_m are each end's second queue pair, unreliable connected
 * (UC), or 0 for none; the channel the MACs cover holds them. When both
 * ends have one, a small mediated read (a READ answered inline, a READV)
 * may go over UC instead, request and reply sealed (auth.h, bd_seal):
 * UC sends no acknowledgements, so such a round trip is two packets, as a
 * one-sided READ is, where RC's SEND and reply are four. UC may lose a
 * message; the monitor then asks again over RC. Nothing that changes the
 * target's memory ever goes over UC.
 *
 * A direct window is read one-sided (RDMA READ with its rkey); its memory
 * key grants remote read only, so every write and compare-and-swap, to any
 * window, is a REQUEST done and audited by the NIC's CPU.
 */
#ifndef BD_WIRE_H
#define BD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define BD_WIRE_MAGIC 0x31444242u /* "BBD1" */
/* 2: every message is sent solicited (bdnicd sleeps until one comes); a
 * version-1 monitor, whose requests are not, would find it asleep.
 * 3: BD_OP_PAGEMATCH, which a version-2 NIC would refuse mid-search.
 * 4: HELLO and AUTH name each end's UC queue pair. */
#define BD_WIRE_VERSION 4
#define BD_DEFAULT_PORT 7471

#define BD_HDR_LEN         16
#define BD_NONCE_LEN       32
#define BD_MAC_LEN         32
#define BD_MAX_WINDOWS     16
#define BD_WINDOW_NAME_MAX 32 /* including the NUL */
#define BD_WINDOW_DESC_LEN 72
/* Data up to this size rides inside a REPLY or a WRITE request; larger
 * mediated reads land in the monitor's buffer by RDMA WRITE. */
#define BD_INLINE_MAX 4096
/* Largest single mediated read; the monitor splits larger ones. */
#define BD_READ_MAX          (256u * 1024u)
#define BD_REQUEST_FIXED_LEN 56
#define BD_REPLY_FIXED_LEN   16
#define BD_MSG_MAX           (BD_HDR_LEN + BD_REQUEST_FIXED_LEN + BD_INLINE_MAX)
/* Outstanding requests per connection: receive slots on each side. */
#define BD_QUEUE_DEPTH 16

enum bd_msg_type {
        BD_MSG_HELLO = 1,
        BD_MSG_AUTH = 2,
        BD_MSG_WELCOME = 3,
        BD_MSG_REFUSED = 4,
        BD_MSG_REQUEST = 5,
        BD_MSG_REPLY = 6,
};

enum bd_window_mode {
        BD_MODE_DIRECT = 1,   /* registered MR: one-sided RDMA READ, no NIC CPU */
        BD_MODE_MEDIATED = 2, /* NIC CPU copies, like the original NIC firmware */
};

enum bd_access {
        BD_ACCESS_RO = 1,
        BD_ACCESS_RW = 2,
};

enum bd_op {
        BD_OP_READ = 1,
        /* Writes, to any window, done by the NIC's CPU on its own mapping
         * of the target's memory, and audited before they are made. */
        BD_OP_WRITE = 2,
        BD_OP_CAS = 3,
        /* retired: 4, 5 (one-sided writes announced to the NIC, which could
         * neither enforce nor audit their values); never reuse them. */
        /* Several small reads of one window in one request, answered in one
         * inline reply: what a mediated NIC pays for is the request. */
        BD_OP_READV = 6,
        /* Several compare-and-swaps on one window in one request, made and
         * audited one by one, in order, by the NIC's CPU: a repair's wave of
         * a thousand victims costs a few messages, not a thousand. */
        BD_OP_CASV = 7,
        /* Which pages of a range hold only zero bytes, told by the NIC's
         * CPU: a dump leaves them out without carrying them. */
        BD_OP_ZEROMAP = 8,
        /* Which pages of a range hold one of a few short patterns at a
         * given place, told by the NIC's CPU: a search of the target's
         * memory (VMCOREINFO on first contact) moves a bitmap, not the
         * pages. */
        BD_OP_PAGEMATCH = 9,
};

/* A READV request's data is a list of segments, BD_READV_SEG_LEN bytes
 * each (offset u64, length u32); the reply's data is their bytes in order,
 * BD_INLINE_MAX at most in all. The NIC reads the segments in order, each
 * finished before the next begins: a reader of a generation-guarded copy
 * gets generation, data and generation again in one request. */
#define BD_READV_SEG_LEN  12
#define BD_READV_MAX_SEGS 64

/* A CASV request's data is a list of operations, BD_CASV_OP_LEN bytes each
 * (offset u64, compare u64, swap u64); the reply's data is one answer per
 * operation, in order, BD_CASV_ANSWER_LEN bytes each (found u64, status
 * u32: an enum bd_err, 0 when the swap was made or mismatched). */
#define BD_CASV_OP_LEN     24
#define BD_CASV_ANSWER_LEN 12
#define BD_CASV_MAX_OPS    128
_Static_assert((BD_CASV_MAX_OPS * BD_CASV_OP_LEN) <= BD_INLINE_MAX,
               "a CASV request fits a message");

/* A ZEROMAP request names length bytes from offset, whole pages of
 * BD_ZEROMAP_PAGE bytes, at most BD_ZEROMAP_MAX (a bound on the NIC CPU's
 * time per request: 16 MiB scans in milliseconds); the reply's data is a
 * bitmap, bit i (LSB first) set when page i is all zero, in
 * ceil(pages / 8) bytes. */
#define BD_ZEROMAP_PAGE 4096u
#define BD_ZEROMAP_MAX  (16u << 20)
_Static_assert(BD_ZEROMAP_MAX / BD_ZEROMAP_PAGE / 8 <= BD_INLINE_MAX,
               "a ZEROMAP reply fits a message");

/* A PAGEMATCH request names pages as a ZEROMAP does and carries 1 to
 * BD_PAGEMATCH_MAX_PATS patterns, BD_PAGEMATCH_PAT_LEN bytes each (where in
 * the page u16, length u8 of 1 to BD_PAGEMATCH_BYTES, a zero byte, then the
 * bytes, zero-padded); the reply's bitmap sets bit i when page i holds one
 * of them at its place. */
#define BD_PAGEMATCH_BYTES    16
#define BD_PAGEMATCH_PAT_LEN  (4 + BD_PAGEMATCH_BYTES)
#define BD_PAGEMATCH_MAX_PATS 4
struct bd_page_pattern {
        uint16_t at; /* where in the page */
        uint8_t len;
        uint8_t bytes[BD_PAGEMATCH_BYTES];
};

struct bd_window_desc {
        char name[BD_WINDOW_NAME_MAX];
        uint64_t base; /* target-physical address of the first byte */
        uint64_t length;
        uint64_t remote_addr; /* direct windows: address for RDMA READs */
        uint32_t rkey;        /* direct windows: 0 otherwise */
        uint8_t mode;         /* enum bd_window_mode */
        uint8_t access;       /* enum bd_access */
};

struct bd_hello {
        uint16_t version;
        uint8_t nonce[BD_NONCE_LEN];
        uint32_t uc_qpn; /* the NIC's UC queue pair; 0: none */
};

struct bd_auth {
        uint8_t nonce[BD_NONCE_LEN];
        uint8_t mac[BD_MAC_LEN];
        uint32_t uc_qpn; /* the monitor's UC queue pair; 0: none, or not wanted */
};

struct bd_welcome {
        uint8_t mac[BD_MAC_LEN];
        uint32_t nwindows;
        struct bd_window_desc windows[BD_MAX_WINDOWS];
};

struct bd_refused {
        uint32_t reason; /* enum bd_err */
};

struct bd_request {
        uint8_t op;
        uint8_t window;
        uint32_t length;
        uint64_t offset;
        uint64_t sink_addr; /* READ larger than BD_INLINE_MAX: monitor buffer */
        uint32_t sink_rkey;
        uint64_t compare;    /* CAS */
        uint64_t swap;       /* CAS */
        const uint8_t *data; /* WRITE: the bytes; READV: the segment list; CASV:
                                the operations (length bytes); PAGEMATCH: the
                                patterns (data_len bytes); points into the
                                decoded buffer */
        uint32_t data_len;   /* PAGEMATCH's patterns (its length is the range's) */
};

struct bd_reply {
        /* enum bd_err. A write or CAS gets BD_ERR_READONLY when the window is
         * read-only, and also when the NIC could not write its audit line:
         * then it writes nothing (fail closed). */
        uint32_t status;
        uint32_t length; /* bytes of inline data that follow */
        uint64_t old;    /* CAS: the value found */
        const uint8_t *data;
};

struct bd_msg {
        uint16_t type;
        uint32_t id; /* matches a REPLY to its REQUEST */
        union {
                struct bd_hello hello;
                struct bd_auth auth;
                struct bd_welcome welcome;
                struct bd_refused refused;
                struct bd_request request;
                struct bd_reply reply;
        } u;
};

/* The i-th segment of a READV segment list, and writing one. */
void bd_wire_readv_get(const uint8_t *segs, unsigned i, uint64_t *offset, uint32_t *length);
void bd_wire_readv_put(uint8_t *segs, unsigned i, uint64_t offset, uint32_t length);
/* The i-th operation of a CASV request, and of its reply's answers. */
void bd_wire_casv_get(const uint8_t *ops, unsigned i, uint64_t *offset, uint64_t *compare,
                      uint64_t *swap);
void bd_wire_casv_put(uint8_t *ops, unsigned i, uint64_t offset, uint64_t compare, uint64_t swap);
void bd_wire_casv_answer_get(const uint8_t *answers, unsigned i, uint64_t *found, uint32_t *status);
void bd_wire_casv_answer_put(uint8_t *answers, unsigned i, uint64_t found, uint32_t status);

/* The i-th pattern of a PAGEMATCH request, and writing one. */
void bd_wire_pattern_get(const uint8_t *pats, unsigned i, struct bd_page_pattern *out);
void bd_wire_pattern_put(uint8_t *pats, unsigned i, const struct bd_page_pattern *pat);
/* 1 when the BD_ZEROMAP_PAGE bytes of page hold one of the n patterns at
 * its place. */
int bd_page_pattern_match(const uint8_t *page, const struct bd_page_pattern *pats, unsigned n);

/* Encode into buf; returns the encoded length, or 0 if it does not fit or the
 * message is invalid (a sender bug, not a peer's). */
size_t bd_wire_encode(const struct bd_msg *msg, uint8_t *buf, size_t cap);

/* Decode a message from an untrusted peer. Returns 0, or -1 with a static
 * reason in *why. Pointers in the result refer into buf. */
int bd_wire_decode(const uint8_t *buf, size_t len, struct bd_msg *msg, const char **why);

const char *bd_op_name(uint8_t op);
const char *bd_mode_name(uint8_t mode);
const char *bd_access_name(uint8_t access);

#endif
