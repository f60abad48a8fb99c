/* The kernel log (printk's lockless ring buffer, Linux 5.10+), read from raw
 * memory with nothing but VMCOREINFO's offsets: no BTF, no symbols beyond
 * SYMBOL(prb). The ring is hostile input: every id, lpos and length is
 * checked, every loop is bounded by the descriptor count, and a record that
 * is not whole is skipped and counted, never trusted. */
#ifndef BD_PRINTK_H
#define BD_PRINTK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../../common/error.h"
#include "../kernel/kernel.h"
#include "../kernel/vmcoreinfo.h"

/* Caps on what a ring header may claim, so a corrupt header costs an error
 * rather than gigabytes: the kernel's largest log (log_buf_len) is far below. */
#define BD_PRINTK_MAX_COUNT_BITS 22
#define BD_PRINTK_MAX_SIZE_BITS  28

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
        uint64_t descriptors;     /* the ring's descriptor count */
        uint64_t data_size;       /* bytes of the text data ring */
        uint64_t reusable;        /* freed by the kernel: not records */
        uint64_t skipped_state;   /* reserved (being written) or overwritten */
        uint64_t skipped_corrupt; /* inconsistent lpos, block id or length */
        uint64_t bytes_read;
        char *text; /* private: the copied data ring */
};

/* BD_ERR_NOT_FOUND naming the first missing key. */
struct bd_error *bd_printk_layout_get(const struct bd_vmcoreinfo *vi, struct bd_printk_layout *lay);

/* Read and decode the whole log: the ring header, then the descriptor and
 * info arrays and the text data ring in a few large reads. */
struct bd_error *bd_printk_read(struct bd_kernel *k, const struct bd_printk_layout *lay,
                                struct bd_printk_log **out);
void bd_printk_log_free(struct bd_printk_log *log);

/* A record as dmesg prints it, "[seconds] text", every line of a multi-line
 * record with the record's timestamp; control bytes become \xNN so that
 * memory cannot drive a terminal. */
void bd_printk_write_text(FILE *f, const struct bd_printk_record *r);

#endif
