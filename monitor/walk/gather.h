/* Reading a few fields of many objects of one type in as few ranges as
 * possible: fields that lie close together share one range, so a task
 * costs a handful of reads rather than one per field or one of its whole
 * 9 KiB. Plan once per type, then add each object's ranges to a batch. */
#ifndef BD_GATHER_H
#define BD_GATHER_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/kernel.h"

#define BD_GATHER_MAX_SPANS  16
#define BD_GATHER_MAX_FIELDS 64

struct bd_gather {
        struct {
                uint32_t off, len; /* within the object */
                uint32_t pos;      /* within the object's copy */
        } span[BD_GATHER_MAX_SPANS];
        unsigned n;
        uint32_t copy_size; /* bytes per object copy */
};

/* Fields at offs[i] of sizes[i] bytes; spans are merged across gaps of up to
 * gap bytes (reading a gap costs less than another operation). Fails with
 * BD_ERR_RANGE when the fields need more spans than it keeps. */
struct bd_error *bd_gather_plan(struct bd_gather *g, const int64_t *offs, const int64_t *sizes,
                                size_t n, uint32_t gap);

/* Append one object's ranges: read from obj_addr into copy (copy_size
 * bytes). iov needs g->n free slots. */
size_t bd_gather_iov(const struct bd_gather *g, uint64_t obj_addr, void *copy,
                     struct bd_kernel_iov *iov);

/* Where the field at object offset off lies in a copy; NULL if the plan
 * did not include it. */
const void *bd_gather_field(const struct bd_gather *g, const void *copy, int64_t off, size_t size);
/* The field's value (size <= 8 bytes, little-endian), 0 if not planned. */
uint64_t bd_gather_value(const struct bd_gather *g, const void *copy, int64_t off, size_t size);

/* Read nobj objects' ranges (per consecutive ranges each) in one batch; if
 * that fails, object by object, so that one wild pointer costs its object
 * only. ok[i] says whether object i read. Fails only when the way to the
 * target is lost or memory runs out. */
struct bd_error *bd_gather_read(struct bd_kernel *k, const struct bd_kernel_iov *iov, size_t nobj,
                                size_t per, uint8_t *ok);
/* The same for objects of different kinds: object i has counts[i] ranges. */
struct bd_error *bd_gather_read_counts(struct bd_kernel *k, const struct bd_kernel_iov *iov,
                                       size_t nobj, const uint8_t *counts, uint8_t *ok);

#endif
