#include "gather.h"

#include <stdlib.h>
#include <string.h>

struct field {
        int64_t off, end;
};

static int by_off(const void *a, const void *b)
{
        const struct field *x = a, *y = b;
        return x->off < y->off ? -1 : x->off > y->off;
}

struct bd_error *bd_gather_plan(struct bd_gather *g, const int64_t *offs, const int64_t *sizes,
                                size_t n, uint32_t gap)
{
        struct field f[BD_GATHER_MAX_FIELDS];
        if (n > BD_GATHER_MAX_FIELDS)
                return bd_error_new(BD_ERR_RANGE, "gather: %zu fields, at most %d", n,
                                    BD_GATHER_MAX_FIELDS);
        for (size_t i = 0; i < n; i++) {
                if (offs[i] < 0 || sizes[i] <= 0 || offs[i] > (1 << 24) || sizes[i] > (1 << 16))
                        return bd_error_new(BD_ERR_RANGE, "gather: field at %lld of %lld bytes",
                                            (long long)offs[i], (long long)sizes[i]);
                f[i] = (struct field){offs[i], offs[i] + sizes[i]};
        }
        qsort(f, n, sizeof(f[0]), by_off);
        g->n = 0;
        g->copy_size = 0;
        for (size_t i = 0; i < n; i++) {
                if (g->n &&
                    f[i].off <= (int64_t)(g->span[g->n - 1].off + g->span[g->n - 1].len) + gap) {
                        uint32_t *len = &g->span[g->n - 1].len;
                        if (f[i].end > (int64_t)(g->span[g->n - 1].off + *len))
                                *len = (uint32_t)(f[i].end - g->span[g->n - 1].off);
                        continue;
                }
                if (g->n == BD_GATHER_MAX_SPANS)
                        return bd_error_new(BD_ERR_RANGE, "gather: fields too scattered");
                g->span[g->n].off = (uint32_t)f[i].off;
                g->span[g->n].len = (uint32_t)(f[i].end - f[i].off);
                g->n++;
        }
        for (unsigned i = 0; i < g->n; i++) {
                g->span[i].pos = g->copy_size;
                g->copy_size += g->span[i].len;
        }
        return NULL;
}

size_t bd_gather_iov(const struct bd_gather *g, uint64_t obj_addr, void *copy,
                     struct bd_kernel_iov *iov)
{
        for (unsigned i = 0; i < g->n; i++)
                iov[i] = (struct bd_kernel_iov){obj_addr + g->span[i].off,
                                                (uint8_t *)copy + g->span[i].pos, g->span[i].len};
        return g->n;
}

const void *bd_gather_field(const struct bd_gather *g, const void *copy, int64_t off, size_t size)
{
        for (unsigned i = 0; i < g->n; i++)
                if (off >= g->span[i].off && off + (int64_t)size <= g->span[i].off + g->span[i].len)
                        return (const uint8_t *)copy + g->span[i].pos + (off - g->span[i].off);
        return NULL;
}

uint64_t bd_gather_value(const struct bd_gather *g, const void *copy, int64_t off, size_t size)
{
        uint64_t v = 0;
        const void *p = size <= 8 ? bd_gather_field(g, copy, off, size) : NULL;
        if (p)
                memcpy(&v, p, size);
        return v;
}

/* Objects of per ranges each, or of counts[i] when counts is given. */
static struct bd_error *read_each(struct bd_kernel *k, const struct bd_kernel_iov *iov, size_t nobj,
                                  size_t per, const uint8_t *counts, uint8_t *ok)
{
        size_t total = 0;
        for (size_t i = 0; i < nobj; i++)
                total += counts ? counts[i] : per;
        struct bd_error *err = bd_kernel_read_batch(k, iov, total);
        if (!err) {
                memset(ok, 1, nobj);
                return NULL;
        }
        if (bd_err_fatal(err))
                return err;
        bd_error_destroy(err);
        for (size_t i = 0, at = 0; i < nobj; i++) {
                size_t n = counts ? counts[i] : per;
                err = bd_kernel_read_batch(k, iov + at, n);
                at += n;
                ok[i] = !err;
                if (bd_err_fatal(err))
                        return err;
                bd_error_destroy(err);
        }
        return NULL;
}

struct bd_error *bd_gather_read(struct bd_kernel *k, const struct bd_kernel_iov *iov, size_t nobj,
                                size_t per, uint8_t *ok)
{
        return read_each(k, iov, nobj, per, NULL, ok);
}

struct bd_error *bd_gather_read_counts(struct bd_kernel *k, const struct bd_kernel_iov *iov,
                                       size_t nobj, const uint8_t *counts, uint8_t *ok)
{
        return read_each(k, iov, nobj, 0, counts, ok);
}
