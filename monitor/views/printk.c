#include "printk.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "output.h"

/* The top two bits of a descriptor's state_var are its state, the rest its
 * id (the same on every 64-bit kernel since 5.10). */
#define SV_STATE_SHIFT 62
#define SV_ID_MASK     ((1ull << SV_STATE_SHIFT) - 1)
enum { DESC_RESERVED, DESC_COMMITTED, DESC_FINALIZED, DESC_REUSABLE };

/* lpos values with bit 0 set mean "no data block": NO_LPOS is a record with
 * empty text, anything else (FAILED_LPOS) one whose text was lost. */
#define LPOS_DATALESS(l) ((l)&1)
#define NO_LPOS          3ull

#define MAX_STRUCT 4096 /* no ring structure comes near a page */

static const struct {
        const char *key;
        size_t at;
} keys[] = {
#define K(key, field)                                                                              \
        {                                                                                          \
                key, offsetof(struct bd_printk_layout, field)                                      \
        }
    K("SIZE(printk_ringbuffer)", rb_size),
    K("OFFSET(printk_ringbuffer.desc_ring)", rb_desc_ring),
    K("OFFSET(printk_ringbuffer.text_data_ring)", rb_text_data_ring),
    K("OFFSET(prb_desc_ring.count_bits)", dr_count_bits),
    K("OFFSET(prb_desc_ring.descs)", dr_descs),
    K("OFFSET(prb_desc_ring.infos)", dr_infos),
    K("OFFSET(prb_desc_ring.head_id)", dr_head_id),
    K("OFFSET(prb_desc_ring.tail_id)", dr_tail_id),
    K("SIZE(prb_desc)", desc_size),
    K("OFFSET(prb_desc.state_var)", desc_state_var),
    K("OFFSET(prb_desc.text_blk_lpos)", desc_text_blk_lpos),
    K("OFFSET(prb_data_blk_lpos.begin)", lpos_begin),
    K("OFFSET(prb_data_blk_lpos.next)", lpos_next),
    K("SIZE(printk_info)", info_size),
    K("OFFSET(printk_info.seq)", info_seq),
    K("OFFSET(printk_info.ts_nsec)", info_ts_nsec),
    K("OFFSET(printk_info.text_len)", info_text_len),
    K("OFFSET(printk_info.caller_id)", info_caller_id),
    K("OFFSET(prb_data_ring.size_bits)", data_size_bits),
    K("OFFSET(prb_data_ring.data)", data_data),
    K("OFFSET(prb_data_ring.head_lpos)", data_head_lpos),
    K("OFFSET(prb_data_ring.tail_lpos)", data_tail_lpos),
    K("OFFSET(atomic_long_t.counter)", atomic_counter),
#undef K
};

/* Does a field of width w at off fit in a structure of size size? */
static int fits(uint64_t off, uint64_t w, uint64_t size)
{
        return size <= MAX_STRUCT && off <= size && w <= size - off;
}

struct bd_error *bd_printk_layout_get(const struct bd_vmcoreinfo *vi, struct bd_printk_layout *lay)
{
        memset(lay, 0, sizeof(*lay));
        if (bd_vmcoreinfo_number(vi, "SYMBOL(prb)", 1, &lay->prb_sym))
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "VMCOREINFO has no SYMBOL(prb): not a kernel with the "
                                    "lockless printk ring buffer (Linux 5.10 or later)");
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                if (bd_vmcoreinfo_number(vi, keys[i].key, 0,
                                         (uint64_t *)(void *)((char *)lay + keys[i].at)))
                        return bd_error_new(BD_ERR_NOT_FOUND,
                                            "VMCOREINFO has no %s: cannot decode the printk "
                                            "ring buffer",
                                            keys[i].key);
        /* Nested structures are checked against the smallest size that
         * holds all their fields, since VMCOREINFO gives only some sizes. */
        uint64_t c = lay->atomic_counter;
        uint64_t lp = lay->desc_text_blk_lpos;
        int ok = fits(lay->rb_desc_ring + lay->dr_count_bits, 4, lay->rb_size) &&
                 fits(lay->rb_desc_ring + lay->dr_descs, 8, lay->rb_size) &&
                 fits(lay->rb_desc_ring + lay->dr_infos, 8, lay->rb_size) &&
                 fits(lay->rb_desc_ring + lay->dr_head_id + c, 8, lay->rb_size) &&
                 fits(lay->rb_desc_ring + lay->dr_tail_id + c, 8, lay->rb_size) &&
                 fits(lay->rb_text_data_ring + lay->data_size_bits, 4, lay->rb_size) &&
                 fits(lay->rb_text_data_ring + lay->data_data, 8, lay->rb_size) &&
                 fits(lay->rb_text_data_ring + lay->data_head_lpos + c, 8, lay->rb_size) &&
                 fits(lay->rb_text_data_ring + lay->data_tail_lpos + c, 8, lay->rb_size) &&
                 fits(lay->desc_state_var + c, 8, lay->desc_size) &&
                 fits(lp + lay->lpos_begin, 8, lay->desc_size) &&
                 fits(lp + lay->lpos_next, 8, lay->desc_size) &&
                 fits(lay->info_seq, 8, lay->info_size) &&
                 fits(lay->info_ts_nsec, 8, lay->info_size) &&
                 fits(lay->info_text_len, 2, lay->info_size) &&
                 fits(lay->info_caller_id, 4, lay->info_size) && c <= MAX_STRUCT;
        if (!ok)
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "VMCOREINFO's printk ring buffer offsets do not fit their "
                                    "structure sizes");
        return NULL;
}

static uint64_t u64_at(const uint8_t *b, uint64_t off)
{
        uint64_t v;
        memcpy(&v, b + off, 8);
        return v;
}

static uint32_t u32_at(const uint8_t *b, uint64_t off)
{
        uint32_t v;
        memcpy(&v, b + off, 4);
        return v;
}

static uint16_t u16_at(const uint8_t *b, uint64_t off)
{
        uint16_t v;
        memcpy(&v, b + off, 2);
        return v;
}

/* The ring header's values, as read once at the start. */
struct ring {
        unsigned count_bits, size_bits;
        uint64_t descs, infos, data;
        uint64_t head_id, tail_id, head_lpos, tail_lpos;
};

/* What is read of the ring: ndesc descriptors and infos from slot
 * first_slot on, and ntext bytes of text from offset text_off on, both
 * going round the end of their array. The whole ring, or its newest part. */
struct window {
        uint64_t first_slot, ndesc;
        uint64_t text_off, ntext;
};

/* lpos arithmetic is modulo 2^64 like the kernel's unsigned long: "a lies
 * in [lo, hi]" is "a - lo <= hi - lo". */
static int lpos_within(uint64_t a, uint64_t lo, uint64_t hi)
{
        return a - lo <= hi - lo;
}

/* Locate the text of the block [begin, next) for descriptor id in the
 * text read (w): 0 with its offset there and its length, -1 when the
 * block is inconsistent, 1 when it lies before the text read. */
static int data_block(const struct ring *r, const struct window *w, const uint8_t *text,
                      uint64_t id, uint64_t begin, uint64_t next, uint64_t *at, uint64_t *len)
{
        uint64_t size = 1ull << r->size_bits, mask = size - 1, off;
        if (!lpos_within(begin, r->tail_lpos, r->head_lpos) ||
            !lpos_within(next, r->tail_lpos, r->head_lpos) || next - begin > size || next == begin)
                return -1;
        uint64_t wb = begin >> r->size_bits, wn = next >> r->size_bits;
        if (wb == wn) {
                off = begin & mask;
                *len = next - begin;
        } else if (wb + 1 == wn) {
                /* A block that would cross the end is stored whole at the
                 * start of the ring; its begin still marks the old end. */
                off = 0;
                *len = next & mask;
        } else {
                return -1;
        }
        if (*len < 8 || off + *len > size)
                return -1;
        /* Every block lies within the newest ring-full, which the text read
         * ends: one starting before that text straddles or precedes it. */
        uint64_t pos = (off - w->text_off) & mask;
        if (pos + *len > w->ntext)
                return 1;
        if (u64_at(text, pos) != id)
                return -1;
        *at = pos + 8;
        *len -= 8;
        return 0;
}

static int by_seq(const void *a, const void *b)
{
        const struct bd_printk_record *x = a, *y = b;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Decode the records between tail_id and head_id that w holds from the
 * copied arrays. */
static void decode(const struct bd_printk_layout *lay, const struct ring *r, const struct window *w,
                   const uint8_t *descs, const uint8_t *infos, const uint8_t *text,
                   struct bd_printk_log *log)
{
        uint64_t count = 1ull << r->count_bits;
        uint64_t span = ((r->head_id - r->tail_id) & SV_ID_MASK) + 1;
        if (span > count) {
                /* A tail further back than the ring holds is corrupt or
                 * torn; only the newest count ids can still be there. */
                log->skipped_corrupt += 1;
                span = count;
        }
        /* Over the budget, only the newest ndesc descriptors were read. */
        if (span > w->ndesc)
                span = w->ndesc;
        uint64_t first = (r->head_id - span + 1) & SV_ID_MASK;
        for (uint64_t i = 0; i < span; i++) {
                uint64_t id = (first + i) & SV_ID_MASK;
                uint64_t slot = ((id & (count - 1)) - w->first_slot) & (count - 1);
                const uint8_t *d = descs + slot * lay->desc_size;
                const uint8_t *info = infos + slot * lay->info_size;
                uint64_t sv = u64_at(d, lay->desc_state_var + lay->atomic_counter);
                unsigned state = (unsigned)(sv >> SV_STATE_SHIFT);
                /* Reusable descriptors are normal: the kernel starts its
                 * ring with one and frees them from the tail. */
                if ((sv & SV_ID_MASK) == id && state == DESC_REUSABLE) {
                        log->reusable++;
                        continue;
                }
                if ((sv & SV_ID_MASK) != id ||
                    (state != DESC_COMMITTED && state != DESC_FINALIZED)) {
                        log->skipped_state++;
                        continue;
                }
                uint64_t begin = u64_at(d, lay->desc_text_blk_lpos + lay->lpos_begin);
                uint64_t next = u64_at(d, lay->desc_text_blk_lpos + lay->lpos_next);
                uint16_t text_len = u16_at(info, lay->info_text_len);
                uint64_t off = 0, len = 0;
                int found = 0;
                if (LPOS_DATALESS(begin) || LPOS_DATALESS(next)) {
                        if (begin != NO_LPOS || next != NO_LPOS) {
                                log->skipped_corrupt++;
                                continue;
                        }
                        text_len = 0;
                } else if ((found = data_block(r, w, text, id, begin, next, &off, &len)) > 0) {
                        continue; /* older than the text the budget allowed */
                } else if (found || text_len > len) {
                        log->skipped_corrupt++;
                        continue;
                }
                struct bd_printk_record *rec = &log->records[log->n++];
                rec->seq = u64_at(info, lay->info_seq);
                rec->ts_nsec = u64_at(info, lay->info_ts_nsec);
                rec->caller_id = u32_at(info, lay->info_caller_id);
                rec->text_len = text_len;
                rec->text = (const char *)text + off;
        }
        qsort(log->records, log->n, sizeof(log->records[0]), by_seq);
}

/* x * num / den rounded down, for num < den: den is first brought under
 * 2^32, rounded up, so that the product cannot overflow and the result
 * never exceeds the exact one. */
static uint64_t scale(uint64_t x, uint64_t num, uint64_t den)
{
        while (den >> 32) {
                num >>= 1;
                den = (den >> 1) + 1;
        }
        return x * num / den;
}

/* The part of the ring that fits the budget, and what all of it costs:
 * each descriptor its desc, its info and the record kept, plus the text. */
static struct window fit(const struct bd_printk_layout *lay, const struct ring *r, uint64_t budget,
                         uint64_t *cost)
{
        uint64_t count = 1ull << r->count_bits, size = 1ull << r->size_bits;
        uint64_t each = lay->desc_size + lay->info_size + sizeof(struct bd_printk_record);
        *cost = count * each + size;
        if (*cost <= budget)
                return (struct window){0, count, 0, size};
        /* The newest of both in the same proportion: the text of the
         * newest records is the newest text. */
        struct window w = {0, scale(count, budget, *cost), 0, scale(size, budget, *cost)};
        w.first_slot = (r->head_id - w.ndesc + 1) & (count - 1);
        w.text_off = (r->head_lpos - w.ntext) & (size - 1);
        return w;
}

/* The ranges of n elements of elem bytes from first on, in the array of
 * count at base, into buf: none, one, or two when they go round its end.
 * Returns how many. */
static size_t ring_iov(uint64_t base, uint64_t count, uint64_t elem, uint64_t first, uint64_t n,
                       uint8_t *buf, struct bd_kernel_iov *iov)
{
        if (!n)
                return 0;
        uint64_t part = count - first < n ? count - first : n;
        iov[0] = (struct bd_kernel_iov){base + first * elem, buf, part * elem};
        iov[1] = (struct bd_kernel_iov){base, buf + part * elem, (n - part) * elem};
        return part < n ? 2 : 1;
}

struct bd_error *bd_printk_read_within(struct bd_kernel *k, const struct bd_printk_layout *lay,
                                       uint64_t budget, struct bd_printk_log **out)
{
        uint64_t prb;
        uint8_t hdr[MAX_STRUCT];
        struct bd_error *err = bd_kernel_read_u64(k, lay->prb_sym, &prb);
        if (!err)
                err = bd_kernel_read(k, prb, hdr, lay->rb_size);
        if (err)
                return bd_error_wrap(err, "reading the printk ring buffer header");
        uint64_t dr = lay->rb_desc_ring, tr = lay->rb_text_data_ring, c = lay->atomic_counter;
        struct ring r = {
            .count_bits = u32_at(hdr, dr + lay->dr_count_bits),
            .size_bits = u32_at(hdr, tr + lay->data_size_bits),
            .descs = u64_at(hdr, dr + lay->dr_descs),
            .infos = u64_at(hdr, dr + lay->dr_infos),
            .data = u64_at(hdr, tr + lay->data_data),
            .head_id = u64_at(hdr, dr + lay->dr_head_id + c),
            .tail_id = u64_at(hdr, dr + lay->dr_tail_id + c),
            .head_lpos = u64_at(hdr, tr + lay->data_head_lpos + c),
            .tail_lpos = u64_at(hdr, tr + lay->data_tail_lpos + c),
        };
        /* A data ring smaller than one block header cannot hold text. */
        if (r.count_bits > BD_PRINTK_MAX_COUNT_BITS || r.size_bits > BD_PRINTK_MAX_SIZE_BITS ||
            r.size_bits < 4)
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "implausible printk ring at 0x%" PRIx64
                                    ": 2^%u descriptors, 2^%u bytes of text",
                                    prb, r.count_bits, r.size_bits);
        uint64_t count = 1ull << r.count_bits, size = 1ull << r.size_bits;
        /* Only the newest ring-full of text can be valid: a tail further
         * back (or ahead of the head) is torn or corrupt. */
        if (r.head_lpos - r.tail_lpos > size)
                r.tail_lpos = r.head_lpos - size;
        uint64_t cost;
        struct window w = fit(lay, &r, budget, &cost);
        struct bd_printk_log *log = calloc(1, sizeof(*log));
        uint8_t *descs = malloc(w.ndesc * lay->desc_size + 1);
        uint8_t *infos = malloc(w.ndesc * lay->info_size + 1);
        if (log) {
                log->text = malloc(w.ntext + 1);
                log->records = malloc((w.ndesc + 1) * sizeof(log->records[0]));
        }
        if (!log || !descs || !infos || !log->text || !log->records) {
                free(descs);
                free(infos);
                bd_printk_log_free(log);
                return &bd_error_nomem;
        }
        log->descriptors = count;
        log->data_size = size;
        log->budget = budget;
        log->ring_cost = cost;
        log->read_descriptors = w.ndesc;
        log->read_text = w.ntext;
        struct bd_kernel_iov iov[6];
        size_t n = ring_iov(r.descs, count, lay->desc_size, w.first_slot, w.ndesc, descs, iov);
        n += ring_iov(r.infos, count, lay->info_size, w.first_slot, w.ndesc, infos, iov + n);
        n += ring_iov(r.data, size, 1, w.text_off, w.ntext, (uint8_t *)log->text, iov + n);
        uint64_t before = k->phys->bytes_read;
        if ((err = bd_kernel_read_batch(k, iov, n)))
                err = bd_error_wrap(
                    err, "reading %" PRIu64 " printk descriptors and %" PRIu64 " bytes of text",
                    w.ndesc, w.ntext);
        else
                decode(lay, &r, &w, descs, infos, (const uint8_t *)log->text, log);
        log->bytes_read = k->phys->bytes_read - before;
        free(descs);
        free(infos);
        if (err) {
                bd_printk_log_free(log);
                return err;
        }
        *out = log;
        return NULL;
}

struct bd_error *bd_printk_read(struct bd_kernel *k, const struct bd_printk_layout *lay,
                                struct bd_printk_log **out)
{
        return bd_printk_read_within(k, lay, BD_PRINTK_BUDGET, out);
}

void bd_printk_budget_note(const struct bd_printk_log *log, char *buf, size_t cap)
{
        if (log->read_descriptors == log->descriptors && log->read_text == log->data_size) {
                if (cap)
                        buf[0] = '\0';
                return;
        }
        char cost[32], budget[32], size[32], text[32];
        bd_size_text(log->ring_cost, cost, sizeof(cost));
        bd_size_text(log->budget, budget, sizeof(budget));
        bd_size_text(log->data_size, size, sizeof(size));
        bd_size_text(log->read_text, text, sizeof(text));
        snprintf(buf, cap,
                 "the printk ring (%" PRIu64 " descriptors, %s of text) takes %s to read, over "
                 "the %s budget: read its newest %" PRIu64 " descriptors and %s of text "
                 "only (" BD_BUDGET_OPTION " raises the budget)",
                 log->descriptors, size, cost, budget, log->read_descriptors, text);
}

void bd_printk_log_free(struct bd_printk_log *log)
{
        if (!log)
                return;
        free(log->records);
        free(log->text);
        free(log);
}

void bd_printk_write_text(FILE *f, const struct bd_printk_record *r)
{
        const char *s = r->text, *end = r->text + r->text_len;
        do {
                const char *nl = memchr(s, '\n', (size_t)(end - s));
                const char *stop = nl ? nl : end;
                fprintf(f, "[%5" PRIu64 ".%06" PRIu64 "] ", r->ts_nsec / 1000000000u,
                        r->ts_nsec % 1000000000u / 1000u);
                bd_put_text(f, s, (size_t)(stop - s));
                fputc('\n', f);
                s = nl ? nl + 1 : end;
        } while (s < end);
}
