/* A synthetic printk ring (the lockless ring buffer of Linux 5.10+) in a
 * small physical memory image, with the offsets a 6.1 x86-64 kernel puts in
 * VMCOREINFO. Shared by the unit test and the fuzz target's seeds. The
 * kernel is linked at 0xffffffff81000000 but loaded at physical 0, so
 * phys_base is negative (as under KASLR) and kernel address K(x) is
 * physical x. */
#ifndef BD_TEST_PRINTK_RING_H
#define BD_TEST_PRINTK_RING_H

#include <stdint.h>
#include <string.h>

#define RING_IMG_SIZE   0x3000
#define RING_PRB_VAR    0x0    /* struct printk_ringbuffer *prb */
#define RING_RB         0x100  /* the ring buffer structure */
#define RING_PGD        0x1000 /* init_top_pgt (empty unless a test fills it) */
#define RING_DESCS      0x2000
#define RING_INFOS      0x2400
#define RING_DATA       0x2800
#define RING_COUNT_BITS 3
#define RING_SIZE_BITS  8
#define RING_K(x)       (0xffffffff81000000ull + (uint64_t)(x))

static const char ring_vmcoreinfo[] = "OSRELEASE=6.1.0-test\n"
                                      "PAGESIZE=4096\n"
                                      "SYMBOL(prb)=ffffffff81000000\n"
                                      "SIZE(printk_ringbuffer)=88\n"
                                      "OFFSET(printk_ringbuffer.desc_ring)=0\n"
                                      "OFFSET(printk_ringbuffer.text_data_ring)=48\n"
                                      "OFFSET(printk_ringbuffer.fail)=80\n"
                                      "SIZE(prb_desc_ring)=48\n"
                                      "OFFSET(prb_desc_ring.count_bits)=0\n"
                                      "OFFSET(prb_desc_ring.descs)=8\n"
                                      "OFFSET(prb_desc_ring.infos)=16\n"
                                      "OFFSET(prb_desc_ring.head_id)=24\n"
                                      "OFFSET(prb_desc_ring.tail_id)=32\n"
                                      "SIZE(prb_desc)=24\n"
                                      "OFFSET(prb_desc.state_var)=0\n"
                                      "OFFSET(prb_desc.text_blk_lpos)=8\n"
                                      "SIZE(prb_data_blk_lpos)=16\n"
                                      "OFFSET(prb_data_blk_lpos.begin)=0\n"
                                      "OFFSET(prb_data_blk_lpos.next)=8\n"
                                      "SIZE(printk_info)=88\n"
                                      "OFFSET(printk_info.seq)=0\n"
                                      "OFFSET(printk_info.ts_nsec)=8\n"
                                      "OFFSET(printk_info.text_len)=16\n"
                                      "OFFSET(printk_info.caller_id)=20\n"
                                      "SIZE(prb_data_ring)=32\n"
                                      "OFFSET(prb_data_ring.size_bits)=0\n"
                                      "OFFSET(prb_data_ring.data)=8\n"
                                      "OFFSET(prb_data_ring.head_lpos)=16\n"
                                      "OFFSET(prb_data_ring.tail_lpos)=24\n"
                                      "SIZE(atomic_long_t)=8\n"
                                      "OFFSET(atomic_long_t.counter)=0\n"
                                      "NUMBER(phys_base)=-16777216\n"
                                      "SYMBOL(init_top_pgt)=ffffffff81001000\n"
                                      "NUMBER(pgtable_l5_enabled)=0\n"
                                      "KERNELOFFSET=0\n";

struct ring_img {
        uint8_t mem[RING_IMG_SIZE];
        uint64_t first_id, next_id, seq;
        uint64_t head_lpos, tail_lpos;
};

static inline void ring_put64(struct ring_img *r, uint64_t at, uint64_t v)
{
        memcpy(r->mem + at, &v, 8);
}

static inline uint64_t ring_get64(const struct ring_img *r, uint64_t at)
{
        uint64_t v;
        memcpy(&v, r->mem + at, 8);
        return v;
}

static inline void ring_header(struct ring_img *r)
{
        uint32_t cb = RING_COUNT_BITS, sb = RING_SIZE_BITS;
        ring_put64(r, RING_PRB_VAR, RING_K(RING_RB));
        memcpy(r->mem + RING_RB + 0, &cb, 4);
        ring_put64(r, RING_RB + 8, RING_K(RING_DESCS));
        ring_put64(r, RING_RB + 16, RING_K(RING_INFOS));
        ring_put64(r, RING_RB + 24, r->next_id - 1); /* head_id */
        ring_put64(r, RING_RB + 32, r->first_id);    /* tail_id */
        memcpy(r->mem + RING_RB + 48, &sb, 4);
        ring_put64(r, RING_RB + 56, RING_K(RING_DATA));
        ring_put64(r, RING_RB + 64, r->head_lpos);
        ring_put64(r, RING_RB + 72, r->tail_lpos);
}

/* An empty ring whose first record gets id first_id and data at lpos. */
static inline void ring_init(struct ring_img *r, uint64_t first_id, uint64_t lpos)
{
        memset(r, 0, sizeof(*r));
        r->first_id = r->next_id = first_id;
        r->head_lpos = r->tail_lpos = lpos;
        ring_header(r);
}

static inline uint64_t ring_desc(uint64_t id)
{
        return RING_DESCS + (id & ((1u << RING_COUNT_BITS) - 1)) * 24;
}

static inline uint64_t ring_info(uint64_t id)
{
        return RING_INFOS + (id & ((1u << RING_COUNT_BITS) - 1)) * 88;
}

/* Append a record in the given state (0 reserved, 1 committed, 2 finalized)
 * the way the kernel lays it out: a block of id then text, 8-aligned, moved
 * whole to the ring's start when it would cross the end. Returns its id. */
static inline uint64_t ring_add(struct ring_img *r, unsigned state, const char *text, uint64_t ts,
                                uint32_t caller)
{
        const uint64_t size = 1u << RING_SIZE_BITS;
        uint64_t id = r->next_id++;
        uint16_t len = (uint16_t)strlen(text);
        uint64_t blk = (8 + len + 7) & ~7ull;
        uint64_t begin = r->head_lpos, next = begin + blk, at = begin & (size - 1);
        if (begin / size != next / size) {
                if (size - at >= 8)
                        ring_put64(r, RING_DATA + at, id);
                next = (next & ~(size - 1)) + blk;
                at = 0;
        }
        ring_put64(r, RING_DATA + at, id);
        memcpy(r->mem + RING_DATA + at + 8, text, len);
        r->head_lpos = next;
        uint64_t d = ring_desc(id), in = ring_info(id);
        ring_put64(r, d, (uint64_t)state << 62 | id);
        ring_put64(r, d + 8, begin);
        ring_put64(r, d + 16, next);
        ring_put64(r, in, r->seq++);
        ring_put64(r, in + 8, ts);
        memcpy(r->mem + in + 16, &len, 2);
        memcpy(r->mem + in + 20, &caller, 4);
        ring_header(r);
        return id;
}

#endif
