#include "phys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/audit.h"

int bd_phys_window_of(const struct bd_phys *p, uint64_t addr)
{
        for (unsigned i = 0; i < p->nwindows; i++)
                if (addr >= p->windows[i].base && addr - p->windows[i].base < p->windows[i].length)
                        return (int)i;
        return -1;
}

/* Pieces are handed to the source in groups so that a huge request needs
 * no huge allocation; a group travels pipelined and drains before the
 * next, so groups are large. */
#define PIECE_BATCH 16384

static struct bd_error *read_pieces(struct bd_phys *p, const struct bd_phys_iov *iov, size_t n,
                                    struct bd_phys_piece *pieces, size_t cap, int ordered);

/* Read pieces in the order given, each complete before the next begins:
 * the source's own way if it has one, else a piece at a time. */
static struct bd_error *read_in_order(struct bd_phys *p, const struct bd_phys_piece *pieces,
                                      size_t n)
{
        if (p->ops->read_ordered)
                return p->ops->read_ordered(p, pieces, n);
        struct bd_error *err = NULL;
        for (size_t i = 0; !err && i < n; i++)
                err = p->ops->read(p, &pieces[i], 1);
        return err;
}

static struct bd_error *read_iov(struct bd_phys *p, const struct bd_phys_iov *iov, size_t n,
                                 int ordered)
{
        /* A piece per iov, unless one spans windows. */
        struct bd_phys_piece few[8];
        size_t cap = n < PIECE_BATCH / 2 ? n + 8 : PIECE_BATCH;
        struct bd_phys_piece *pieces = cap <= 8 ? few : malloc(cap * sizeof(*pieces));
        if (!pieces)
                return &bd_error_nomem;
        struct bd_error *err = read_pieces(p, iov, n, pieces, cap <= 8 ? 8 : cap, ordered);
        if (pieces != few)
                free(pieces);
        return err;
}

struct bd_error *bd_phys_read_batch(struct bd_phys *p, const struct bd_phys_iov *iov, size_t n)
{
        return read_iov(p, iov, n, 0);
}

struct bd_error *bd_phys_read_ordered(struct bd_phys *p, const struct bd_phys_iov *iov, size_t n)
{
        return read_iov(p, iov, n, 1);
}

static struct bd_error *read_pieces(struct bd_phys *p, const struct bd_phys_iov *iov, size_t n,
                                    struct bd_phys_piece *pieces, size_t cap, int ordered)
{
        size_t np = 0;
        for (size_t i = 0; i < n; i++) {
                uint64_t addr = iov[i].addr;
                uint8_t *buf = iov[i].buf;
                size_t left = iov[i].len;
                if (addr + left < addr)
                        return bd_error_new(BD_ERR_RANGE, "read at 0x%llx wraps",
                                            (unsigned long long)addr);
                while (left) {
                        int w = bd_phys_window_of(p, addr);
                        if (w < 0)
                                return bd_error_fault(BD_ERR_RANGE, addr,
                                                      "physical address 0x%llx is outside "
                                                      "every window",
                                                      (unsigned long long)addr);
                        const struct bd_window_desc *win = &p->windows[w];
                        uint64_t off = addr - win->base;
                        size_t chunk =
                            win->length - off < left ? (size_t)(win->length - off) : left;
                        pieces[np++] = (struct bd_phys_piece){(unsigned)w, off, buf, chunk};
                        if (np == cap) {
                                p->batches++;
                                struct bd_error *err = ordered ? read_in_order(p, pieces, np)
                                                               : p->ops->read(p, pieces, np);
                                if (err)
                                        return err;
                                np = 0;
                        }
                        addr += chunk;
                        buf += chunk;
                        left -= chunk;
                        p->bytes_read += chunk;
                }
        }
        if (!np)
                return NULL;
        p->batches++;
        return ordered ? read_in_order(p, pieces, np) : p->ops->read(p, pieces, np);
}

struct bd_error *bd_phys_read(struct bd_phys *p, uint64_t addr, void *buf, size_t len)
{
        struct bd_phys_iov iov = {addr, buf, len};
        return bd_phys_read_batch(p, &iov, 1);
}

int bd_phys_zeromap_native(const struct bd_phys *p)
{
        return p->ops->pagemap != NULL;
}

int bd_phys_page_zero(const uint8_t *page)
{
        static const uint8_t zero[BD_PHYS_PAGE];
        return !memcmp(page, zero, BD_PHYS_PAGE);
}

#define ZEROMAP_READ_PAGES 256u /* 1 MiB a read, where the source cannot tell */

static struct bd_error *pagemap(struct bd_phys *p, uint64_t addr, uint64_t npages,
                                const struct bd_page_pattern *pats, unsigned npats, uint8_t *bits)
{
        if (addr % BD_PHYS_PAGE || npages > (UINT64_MAX - addr) / BD_PHYS_PAGE ||
            npats > BD_PAGEMATCH_MAX_PATS)
                return bd_error_new(BD_ERR_RANGE, "%s map of 0x%llx + %llu pages",
                                    npats ? "pattern" : "zero", (unsigned long long)addr,
                                    (unsigned long long)npages);
        memset(bits, 0, (size_t)((npages + 7) / 8));
        /* The source's bitmap, or the pages read to be told. */
        uint8_t *buf = malloc(p->ops->pagemap ? (size_t)((npages + 7) / 8)
                                              : ZEROMAP_READ_PAGES * BD_PHYS_PAGE);
        if (!buf)
                return &bd_error_nomem;
        struct bd_error *err = NULL;
        for (uint64_t i = 0; i < npages && !err;) {
                uint64_t at = addr + i * BD_PHYS_PAGE;
                int w = bd_phys_window_of(p, at);
                if (w < 0) {
                        err = bd_error_fault(BD_ERR_RANGE, at,
                                             "physical address 0x%llx is outside every window",
                                             (unsigned long long)at);
                        break;
                }
                const struct bd_window_desc *win = &p->windows[w];
                uint64_t n = (win->length - (at - win->base)) / BD_PHYS_PAGE;
                n = n < npages - i ? n : npages - i;
                if (!n) {
                        err = bd_error_new(BD_ERR_RANGE, "page at 0x%llx straddles windows",
                                           (unsigned long long)at);
                        break;
                }
                if (!p->ops->pagemap) {
                        n = n < ZEROMAP_READ_PAGES ? n : ZEROMAP_READ_PAGES;
                        err = bd_phys_read(p, at, buf, (size_t)n * BD_PHYS_PAGE);
                        for (uint64_t k = 0; !err && k < n; k++)
                                if (npats
                                        ? bd_page_pattern_match(buf + k * BD_PHYS_PAGE, pats, npats)
                                        : bd_phys_page_zero(buf + k * BD_PHYS_PAGE))
                                        bits[(i + k) / 8] |= (uint8_t)(1u << ((i + k) % 8));
                } else {
                        /* The source fills a bitmap of its own from bit 0;
                         * it lands at bit i of the caller's. */
                        memset(buf, 0, (size_t)((n + 7) / 8));
                        struct bd_phys_piece pc = {(unsigned)w, at - win->base, buf,
                                                   (size_t)n * BD_PHYS_PAGE};
                        p->batches++;
                        p->bytes_scanned += pc.len;
                        err = p->ops->pagemap(p, &pc, 1, pats, npats);
                        for (uint64_t k = 0; !err && k < n; k++)
                                if (buf[k / 8] >> (k % 8) & 1)
                                        bits[(i + k) / 8] |= (uint8_t)(1u << ((i + k) % 8));
                }
                i += n;
        }
        free(buf);
        return err;
}

struct bd_error *bd_phys_zeromap(struct bd_phys *p, uint64_t addr, uint64_t npages, uint8_t *zero)
{
        return pagemap(p, addr, npages, NULL, 0, zero);
}

struct bd_error *bd_phys_pagematch(struct bd_phys *p, uint64_t addr, uint64_t npages,
                                   const struct bd_page_pattern *pats, unsigned npats,
                                   uint8_t *match)
{
        if (!npats)
                return bd_error_new(BD_ERR_USAGE, "a page match needs a pattern");
        return pagemap(p, addr, npages, pats, npats, match);
}

/* Pieces per call of the source's cas, which pipelines them. */
#define CAS_BATCH 2048

static void audit_cas(struct bd_audit_batch *b, struct bd_phys *p, const struct bd_phys_cas_op *op,
                      const char *result)
{
        char found_text[24] = "unknown"; /* a source that failed found nothing */
        if (op->status == BD_OK || op->status == BD_ERR_CAS_FAILED)
                snprintf(found_text, sizeof(found_text), "0x%llx", (unsigned long long)op->found);
        /* Written once the source has answered, to record the value found,
         * so it cannot hold the write back: a NIC audits before it writes,
         * and refuses to write when it cannot. */
        bd_audit_add(b,
                     "cas target=%s source=\"%s\" phys=0x%llx expect=0x%llx new=0x%llx found=%s "
                     "result=%s",
                     p->name, p->describe, (unsigned long long)op->addr,
                     (unsigned long long)op->expect, (unsigned long long)op->desired, found_text,
                     result);
}

static struct bd_error *cas_check(struct bd_phys *p, uint64_t addr, int *window)
{
        if (!p->write_enabled)
                return bd_error_new(BD_ERR_READONLY,
                                    "the monitor is read-only; writes need --write");
        if (addr % 8)
                return bd_error_new(BD_ERR_USAGE,
                                    "compare-and-swap needs an 8-byte "
                                    "aligned address, not 0x%llx",
                                    (unsigned long long)addr);
        int w = bd_phys_window_of(p, addr);
        if (w < 0 || p->windows[w].length - (addr - p->windows[w].base) < 8)
                return bd_error_new(BD_ERR_RANGE,
                                    "the 8 bytes at physical 0x%llx are not inside one window",
                                    (unsigned long long)addr);
        *window = w;
        return NULL;
}

static struct bd_error *cas_group(struct bd_phys *p, struct bd_phys_cas_op *ops, size_t n)
{
        struct bd_phys_cas_piece *pieces = calloc(n, sizeof(*pieces));
        if (!pieces)
                return &bd_error_nomem;
        for (size_t i = 0; i < n; i++) {
                int w = 0;
                struct bd_error *err = cas_check(p, ops[i].addr, &w);
                if (err) {
                        free(pieces);
                        return err;
                }
                pieces[i] = (struct bd_phys_cas_piece){
                    .window = (unsigned)w,
                    .offset = ops[i].addr - p->windows[w].base,
                    .expect = ops[i].expect,
                    .desired = ops[i].desired,
                };
        }
        struct bd_error *err = p->ops->cas(p, pieces, n);
        struct bd_audit_batch audit = {0};
        for (size_t i = 0; i < n; i++) {
                struct bd_phys_cas_op *op = &ops[i];
                if (pieces[i].state != BD_CAS_ANSWERED) {
                        op->status = err ? err->code : BD_ERR_INTERNAL;
                        /* What was never sent was never tried. */
                        if (pieces[i].state != BD_CAS_UNTRIED)
                                audit_cas(&audit, p, op, bd_err_name(op->status));
                        continue;
                }
                op->found = pieces[i].found;
                op->status = op->found == op->expect ? BD_OK : BD_ERR_CAS_FAILED;
                audit_cas(&audit, p, op, op->status == BD_OK ? "swapped" : "mismatch");
        }
        (void)bd_audit_flush(&audit);
        free(pieces);
        return err;
}

struct bd_error *bd_phys_cas_batch(struct bd_phys *p, struct bd_phys_cas_op *ops, size_t n)
{
        for (size_t i = 0; i < n; i++)
                ops[i].status = BD_ERR_INTERNAL;
        for (size_t at = 0; at < n; at += CAS_BATCH) {
                struct bd_error *err =
                    cas_group(p, ops + at, n - at < CAS_BATCH ? n - at : CAS_BATCH);
                if (err)
                        return err;
        }
        return NULL;
}

struct bd_error *bd_phys_cas(struct bd_phys *p, uint64_t addr, uint64_t expect, uint64_t desired,
                             uint64_t *old)
{
        struct bd_phys_cas_op op = {.addr = addr, .expect = expect, .desired = desired};
        struct bd_error *err = bd_phys_cas_batch(p, &op, 1);
        if (err)
                return err;
        if (old)
                *old = op.found;
        if (op.status == BD_ERR_CAS_FAILED)
                return bd_error_new(BD_ERR_CAS_FAILED,
                                    "0x%llx held 0x%llx, not the expected 0x%llx; "
                                    "nothing written",
                                    (unsigned long long)addr, (unsigned long long)op.found,
                                    (unsigned long long)expect);
        return NULL;
}

const char *bd_phys_cas_how(const struct bd_phys *p, unsigned window, const char **why)
{
        const struct bd_cas_method *m = p->cas_method;
        if (!m) {
                *why = "the source cannot compare-and-swap";
                return "refused";
        }
        if (window >= p->nwindows || p->windows[window].access != BD_ACCESS_RW) {
                *why = m->refused_why;
                return "refused";
        }
        *why = m->why;
        return m->how;
}

void bd_phys_close(struct bd_phys *p)
{
        if (p)
                p->ops->close(p);
}
