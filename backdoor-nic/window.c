#include "window.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <sys/mman.h>

#include "../common/audit.h"

int bd_window_contains(const struct bd_window_desc *w, uint64_t offset, uint64_t length)
{
        return offset < w->length && length <= w->length - offset;
}

static int parse_u64(const char *s, uint64_t *out)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 0);
        /* strtoull skips blanks and accepts a sign: insist on a digit first. */
        if (!isdigit((unsigned char)*s) || errno || end == s || *end)
                return -1;
        *out = v;
        return 0;
}

struct bd_error *bd_window_open(const char *spec, int writable, int mediated,
                                struct bd_nic_window *w)
{
        memset(w, 0, sizeof(*w));
        const char *eq = strchr(spec, '=');
        if (!eq || eq == spec)
                return bd_error_new(BD_ERR_USAGE,
                                    "window '%s': expected NAME=file:PATH or NAME=pci:SELECTOR",
                                    spec);
        size_t namelen = (size_t)(eq - spec);
        if (namelen >= BD_WINDOW_NAME_MAX)
                return bd_error_new(BD_ERR_USAGE, "window name longer than %d characters",
                                    BD_WINDOW_NAME_MAX - 1);
        memcpy(w->desc.name, spec, namelen);

        char src[sizeof(w->source)];
        if (strlen(eq + 1) >= sizeof(src))
                return bd_error_new(BD_ERR_USAGE, "window '%s': source too long", w->desc.name);
        strcpy(src, eq + 1);
        char *at = strrchr(src, '@');
        if (at) {
                *at = '\0';
                if (parse_u64(at + 1, &w->desc.base))
                        return bd_error_new(BD_ERR_USAGE, "window '%s': bad base address '%s'",
                                            w->desc.name, at + 1);
        }
        snprintf(w->source, sizeof(w->source), "%s", src);

        struct bd_error *err;
        if (!strncmp(src, "file:", 5)) {
                err = bd_window_open_file(src + 5, writable, w);
        } else if (!strncmp(src, "pci:", 4)) {
                int bar = 2;
                char *slash = strchr(src + 4, '/');
                if (slash) {
                        uint64_t b;
                        *slash = '\0';
                        if (parse_u64(slash + 1, &b) || b > 5)
                                return bd_error_new(BD_ERR_USAGE, "window '%s': BAR must be 0 to 5",
                                                    w->desc.name);
                        bar = (int)b;
                }
                err = bd_window_open_pci(src + 4, bar, writable, w);
        } else {
                return bd_error_new(BD_ERR_USAGE,
                                    "window '%s': unknown source '%s' (file: or pci:)",
                                    w->desc.name, src);
        }
        if (err)
                return bd_error_wrap(err, "window '%s'", w->desc.name);
        if (w->desc.base + w->desc.length < w->desc.base) {
                bd_window_close(w);
                return bd_error_new(BD_ERR_USAGE, "window '%s': base + length wraps", w->desc.name);
        }
        w->desc.access = writable ? BD_ACCESS_RW : BD_ACCESS_RO;
        if (mediated)
                w->desc.mode = BD_MODE_MEDIATED;
        return NULL;
}

void bd_window_close(struct bd_nic_window *w)
{
        if (w->map)
                munmap(w->map, w->map_len);
        w->map = NULL;
}

int bd_window_readv(const struct bd_nic_window *w, const uint8_t *segs, unsigned nsegs,
                    uint8_t *out, size_t cap, size_t *len)
{
        size_t total = 0;
        /* Check every segment before copying any: a refused request reads
         * nothing. */
        for (unsigned i = 0; i < nsegs; i++) {
                uint64_t off;
                uint32_t n;
                bd_wire_readv_get(segs, i, &off, &n);
                if (!n || n > cap - total || !bd_window_contains(&w->desc, off, n))
                        return BD_ERR_RANGE;
                total += n;
        }
        /* In order, each segment's loads done before the next one's
         * begin: a monitor reads a generation, what it guards and the
         * generation again in one request (bd_phys_read_ordered). */
        size_t at = 0;
        for (unsigned i = 0; i < nsegs; i++) {
                uint64_t off;
                uint32_t n;
                bd_wire_readv_get(segs, i, &off, &n);
                memcpy(out + at, w->map + off, n);
                __atomic_thread_fence(__ATOMIC_SEQ_CST);
                at += n;
        }
        *len = total;
        return 0;
}

int bd_window_pagemap(const struct bd_nic_window *w, uint64_t offset, uint32_t length,
                      const struct bd_page_pattern *pats, unsigned npats, uint8_t *out, size_t cap,
                      size_t *len)
{
        uint32_t pages = length / BD_ZEROMAP_PAGE;
        size_t n = (pages + 7) / 8;
        if (!pages || length % BD_ZEROMAP_PAGE || n > cap ||
            !bd_window_contains(&w->desc, offset, length))
                return BD_ERR_RANGE;
        memset(out, 0, n);
        for (uint32_t i = 0; i < pages; i++) {
                const uint8_t *page = w->map + offset + (size_t)i * BD_ZEROMAP_PAGE;
                int set;
                if (npats) {
                        set = bd_page_pattern_match(page, pats, npats);
                } else {
                        /* Stops at the first line with a bit set: a page of
                         * data costs the NIC a cache line, not the page. */
                        uint64_t any = 0, word;
                        for (size_t k = 0; k < BD_ZEROMAP_PAGE && !any; k += 64)
                                for (size_t j = 0; j < 64; j += 8) {
                                        memcpy(&word, page + k + j, 8);
                                        any |= word;
                                }
                        set = !any;
                }
                if (set)
                        out[i / 8] |= (uint8_t)(1u << (i % 8));
        }
        *len = n;
        return 0;
}

uint64_t bd_window_span(const struct bd_window_desc *w, const struct bd_request *rq)
{
        int is_cas = rq->op == BD_OP_CAS;
        uint64_t len = is_cas ? 8 : rq->length;
        if (!len || !bd_window_contains(w, rq->offset, len) || (is_cas && rq->offset % 8))
                return 0;
        return len;
}

/* A write's bytes for its audit line: up to AUDIT_HEX_MAX of them in hex,
 * in memory order; more as a BLAKE2b-128 digest, "blake2b:HEX". */
#define AUDIT_HEX_MAX 32
#define AUDIT_DIGEST  16

static void audit_bytes(char out[2 * AUDIT_HEX_MAX + 1], const uint8_t *p, size_t len)
{
        if (len <= AUDIT_HEX_MAX) {
                sodium_bin2hex(out, 2 * AUDIT_HEX_MAX + 1, p, len);
                return;
        }
        /* Hashing needs no sodium_init() (which bdnicd made, loading its key):
         * without it libsodium uses its portable BLAKE2b. */
        uint8_t digest[AUDIT_DIGEST];
        crypto_generichash(digest, sizeof(digest), p, len, NULL, 0);
        memcpy(out, "blake2b:", 8);
        sodium_bin2hex(out + 8, 2 * AUDIT_HEX_MAX + 1 - 8, digest, sizeof(digest));
}

/* Audit lines, written before the memory is changed:
 *   mediated peer=P window=W op=cas phys=0xA expect=0xE new=0xN found=0xF
 *            result=swapped|mismatch
 *   mediated peer=P window=W op=write phys=0xA len=L new=BYTES found=BYTES
 * where found is what the NIC's CPU read there just before (for a write, the
 * bytes it overwrites). */
static int write_audited(const struct bd_nic_window *w, const char *peer, uint64_t offset,
                         const uint8_t *data, uint32_t len)
{
        uint8_t *at = w->map + offset;
        char now[2 * AUDIT_HEX_MAX + 1], was[2 * AUDIT_HEX_MAX + 1];
        audit_bytes(now, data, len);
        audit_bytes(was, at, len);
        if (bd_audit("mediated peer=%s window=%s op=write phys=0x%llx len=%u new=%s found=%s", peer,
                     w->desc.name, (unsigned long long)(w->desc.base + offset), len, now, was))
                return BD_ERR_READONLY;
        memcpy(at, data, len);
        return 0;
}

/* Compare-and-swaps, each a locked instruction (lock cmpxchg) executed by
 * this CPU on its own mapping of the target's memory. In the lab, host2 and
 * host2-nic are QEMU processes mapping the same RAM file, and QEMU does a
 * guest's atomics with host atomics, so each is atomic against host2's own
 * CPUs. A one-sided RDMA atomic is not: rxe reports IBV_ATOMIC_HCA, atomic
 * only among the device's own operations, which is why direct windows are
 * registered for remote read only and every CAS comes here.
 *
 * Every operation's audit line is written before its word can change, and
 * names the value found: each word is loaded (for a word an earlier
 * operation of the same request changes, the value that one leaves), the
 * lines are written with those values and the outcomes they imply, all in
 * one write, and only then is each swap tried, in order, expecting the very
 * value audited. Should the target's CPU change a word meanwhile, its swap
 * fails and writes nothing; a second line says so (result=mismatch
 * raced=1, found= the value the swap met), and the peer is told mismatch.
 * When the lines cannot be written, nothing is (BD_ERR_READONLY each). */
struct cas_op {
        uint64_t offset, expect, desired;
        uint64_t found;  /* out */
        uint32_t status; /* out */
};

static void cas_run(const struct bd_nic_window *w, const char *peer, struct cas_op *op, unsigned n)
{
        struct bd_audit_batch lines = {0};
        for (unsigned i = 0; i < n; i++) {
                uint64_t *word = (uint64_t *)(void *)(w->map + op[i].offset);
                unsigned k = i;
                while (k-- > 0 && op[k].offset != op[i].offset)
                        ;
                op[i].found = k < i ? (op[k].found == op[k].expect ? op[k].desired : op[k].found)
                                    : __atomic_load_n(word, __ATOMIC_SEQ_CST);
                bd_audit_add(&lines,
                             "mediated peer=%s window=%s op=cas phys=0x%llx expect=0x%llx "
                             "new=0x%llx found=0x%llx result=%s",
                             peer, w->desc.name, (unsigned long long)(w->desc.base + op[i].offset),
                             (unsigned long long)op[i].expect, (unsigned long long)op[i].desired,
                             (unsigned long long)op[i].found,
                             op[i].found == op[i].expect ? "swapped" : "mismatch");
        }
        uint32_t status = bd_audit_flush(&lines) ? BD_ERR_READONLY : 0;
        for (unsigned i = 0; i < n; i++) {
                op[i].status = status;
                uint64_t *word = (uint64_t *)(void *)(w->map + op[i].offset), met = op[i].found;
                if (status || op[i].found != op[i].expect ||
                    __atomic_compare_exchange_n(word, &met, op[i].desired, 0, __ATOMIC_SEQ_CST,
                                                __ATOMIC_SEQ_CST))
                        continue;
                /* The failed swap put the value it met in met and wrote
                 * nothing, so losing this line loses no write. */
                (void)bd_audit("mediated peer=%s window=%s op=cas phys=0x%llx expect=0x%llx "
                               "new=0x%llx found=0x%llx result=mismatch raced=1",
                               peer, w->desc.name,
                               (unsigned long long)(w->desc.base + op[i].offset),
                               (unsigned long long)op[i].expect, (unsigned long long)op[i].desired,
                               (unsigned long long)met);
                op[i].found = met;
        }
}

int bd_window_casv(const struct bd_nic_window *w, const char *peer, const uint8_t *ops,
                   unsigned nops, uint8_t *answers)
{
        struct cas_op op[BD_CASV_MAX_OPS];
        if (nops > BD_CASV_MAX_OPS)
                return BD_ERR_RANGE;
        /* Every operation is checked before any is made: a refused request
         * writes nothing. */
        for (unsigned i = 0; i < nops; i++) {
                bd_wire_casv_get(ops, i, &op[i].offset, &op[i].expect, &op[i].desired);
                if (op[i].offset % 8 || !bd_window_contains(&w->desc, op[i].offset, 8))
                        return BD_ERR_RANGE;
        }
        cas_run(w, peer, op, nops);
        for (unsigned i = 0; i < nops; i++)
                bd_wire_casv_answer_put(answers, i, op[i].found, op[i].status);
        return 0;
}

int bd_window_write(const struct bd_nic_window *w, const char *peer, const struct bd_request *rq,
                    uint64_t *found)
{
        if (rq->op != BD_OP_CAS && rq->op != BD_OP_WRITE)
                return BD_ERR_PROTOCOL;
        uint64_t len = bd_window_span(&w->desc, rq);
        if (!len)
                return BD_ERR_RANGE;
        if (rq->op == BD_OP_CAS) {
                struct cas_op op = {rq->offset, rq->compare, rq->swap, 0, 0};
                cas_run(w, peer, &op, 1);
                *found = op.found;
                return (int)op.status;
        }
        return write_audited(w, peer, rq->offset, rq->data, (uint32_t)len);
}
