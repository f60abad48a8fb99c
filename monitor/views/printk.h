/* The kernel log (printk's lockless ring buffer, Linux 5.10+), read from raw
 * memory with nothing but VMCOREINFO's offsets: no BTF, no symbols beyond
 * SYMBOL(prb). The ring is hostile input: every id, lpos and length is
 * checked, every loop is bounded by the descriptor count, and a record that
 * is not whole is skipped and counted, never trusted. What is read of it is
 * bounded by a byte budget (budget.h): of a larger ring, only the newest
 * descriptors and text. */
#ifndef BD_PRINTK_H
#define BD_PRINTK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../../common/error.h"
#include "../kernel/kernel.h"
#include "../kernel/vmcoreinfo.h"

/* The kernel's own limits: log_buf_len is at most 2 GiB (LOG_BUF_LEN_MAX),
 * with a descriptor per 32 bytes of it (PRB_AVGBITS). A header claiming
 * more is corrupt; within them the budget, not the header, sizes the work. */
#define BD_PRINTK_MAX_COUNT_BITS 26
#define BD_PRINTK_MAX_SIZE_BITS  31

/* What dmesg and an incident read of the ring by default: descriptors cost
 * about 4.5 times the text they describe (a 24-byte descriptor, an 88-byte
 * info and the record kept, per 32 bytes), so rings of up to 2 MiB of text
 * (log_buf_len: distributions default to a few hundred KiB) are read
 * whole, and of a larger one about the newest 2.9 MiB of text. */
#define BD_PRINTK_BUDGET (16u << 20)

/* Where the fields live, from VMCOREINFO's OFFSET()/SIZE() lines. */
struct bd_printk_layout {
        uint64_t prb_sym; /* SYMBOL(prb): the address of the pointer */
        uint64_t rb_size, rb_desc_ring, rb_text_data_ring;
        uint64_t dr_count_bits, dr_descs, dr_infos, dr_head_id, dr_tail_id;
        uint64_t desc_size, desc_state_var, desc_text_blk_lpos;
        uint64_t lpos_begin, lpos_next;
        uint64_t info_size, info_seq, info_ts_nsec, info_text_len, info_caller_id;
        uint64_t data_size_bits, data_data, data_head_lpos, data_tail_lpos;
        uint64_t atomic_counter;
};

struct bd_printk_record {
        uint64_t seq;
        uint64_t ts_nsec;
        uint32_t caller_id; /* bit 31: a CPU number, else a thread id */
        uint16_t text_len;
        const char *text; /* not NUL-terminated; lives in the log */
};

struct bd_printk_log {
        struct bd_printk_record *records; /* in sequence order */
        size_t n;
        uint64_t descriptors;      /* the ring's descriptor count */
        uint64_t data_size;        /* bytes of the text data ring */
        uint64_t budget;           /* the bytes it was read within */
        uint64_t ring_cost;        /* what reading all of it would take */
        uint64_t read_descriptors; /* the newest this many were read... */
        uint64_t read_text;        /* ... and the newest this many bytes of text */
        uint64_t reusable;         /* freed by the kernel: not records */
        uint64_t skipped_state;    /* reserved (being written) or overwritten */
        uint64_t skipped_corrupt;  /* inconsistent lpos, block id or length */
        uint64_t bytes_read;
        char *text; /* private: the copied text, read_text bytes */
};

/* BD_ERR_NOT_FOUND naming the first missing key. */
struct bd_error *bd_printk_layout_get(const struct bd_vmcoreinfo *vi, struct bd_printk_layout *lay);

/* Read and decode the log: the ring header, then the descriptor and info
 * arrays and the text data ring in one batch of large reads. All of them
 * when that takes at most budget bytes (read and held: descriptors, infos,
 * text and the records kept); else the newest part of each in proportion,
 * so that it does, and the records whose text lies before the text read
 * are left out with the older ones. */
struct bd_error *bd_printk_read_within(struct bd_kernel *k, const struct bd_printk_layout *lay,
                                       uint64_t budget, struct bd_printk_log **out);
/* The same within BD_PRINTK_BUDGET. */
struct bd_error *bd_printk_read(struct bd_kernel *k, const struct bd_printk_layout *lay,
                                struct bd_printk_log **out);
void bd_printk_log_free(struct bd_printk_log *log);

/* When the ring did not fit its budget: one line saying what reading it
 * whole would take, what was read of it, and the option that raises the
 * budget. "" when it was read whole. */
void bd_printk_budget_note(const struct bd_printk_log *log, char *buf, size_t cap);

/* A record as dmesg prints it, "[seconds] text", every line of a multi-line
 * record with the record's timestamp; control bytes become \xNN so that
 * memory cannot drive a terminal. */
void bd_printk_write_text(FILE *f, const struct bd_printk_record *r);

#endif
