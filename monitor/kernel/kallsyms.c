/* kallsyms decoding, as kernel/kallsyms.c and scripts/kallsyms.c lay it out
 * in Linux 6.1: kallsyms_names holds one entry per symbol, a length (one
 * byte, or two little-endian base-128 bytes when the first has bit 7 set)
 * and that many token numbers; kallsyms_token_index[256] gives each token's
 * NUL-terminated string in kallsyms_token_table; the first character of the
 * expansion is the symbol's type. Addresses come from kallsyms_offsets and
 * kallsyms_relative_base (or kallsyms_addresses on kernels without
 * CONFIG_KALLSYMS_BASE_RELATIVE).
 *
 * Every table is hostile input: counts, lengths and token numbers are
 * checked against what was actually fetched before they are used. */
#include "kallsyms_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../common/bytes.h"
#include "../../common/grow.h"

/* Bounds for tables whose size the kernel does not record. */
#define NAMES_MAX       (64u << 20)
#define TOKEN_TABLE_MAX (64u << 10)
#define TOKEN_SLACK     256u /* past the highest token index, when sizing by it */

static struct bd_error *corrupt(const char *fmt, unsigned long long v)
{
        struct bd_error *err = bd_error_new(BD_ERR_NOT_FOUND, fmt, v);
        return bd_error_wrap(err, "kallsyms");
}

static struct bd_error *kread(struct bd_kallsyms *ks, struct bd_kernel *k,
                              const struct bd_kernel_iov *iov, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                ks->stats.reads++;
                ks->stats.bytes_read += iov[i].len;
        }
        struct bd_error *err = bd_kernel_read_batch(k, iov, n);
        return err ? bd_error_wrap(err, "kallsyms: reading %zu table%s", n, n == 1 ? "" : "s")
                   : NULL;
}

static int symbol(const struct bd_vmcoreinfo *vi, const char *name, uint64_t *out)
{
        char key[96];
        snprintf(key, sizeof(key), "SYMBOL(%s)", name);
        return bd_vmcoreinfo_number(vi, key, 1, out);
}

struct tokens {
        uint8_t *table;
        size_t len;
        uint16_t off[256];
        uint16_t tlen[256];
};

/* The token index's 256 offsets into the table; the table itself read
 * already (t->table, t->len). */
static struct bd_error *parse_tokens(const uint8_t raw[512], struct tokens *t)
{
        for (unsigned i = 0; i < 256; i++) {
                t->off[i] = (uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8);
                if (t->off[i] >= t->len)
                        return corrupt("token index %llu past the token table", t->off[i]);
        }
        for (unsigned i = 0; i < 256; i++) {
                const uint8_t *s = t->table + t->off[i];
                const uint8_t *nul = memchr(s, 0, t->len - t->off[i]);
                if (!nul)
                        return corrupt("token %llu is not terminated", i);
                t->tlen[i] = (uint16_t)(nul - s);
        }
        return NULL;
}

static unsigned max_token(const uint8_t raw[512])
{
        unsigned max = 0;
        for (unsigned i = 0; i < 256; i++) {
                unsigned off = raw[2 * i] | (unsigned)raw[2 * i + 1] << 8;
                max = off > max ? off : max;
        }
        return max;
}

static struct bd_error *decode_names(struct bd_kallsyms *ks, const uint8_t *names, size_t len,
                                     const struct tokens *t)
{
        size_t cap = ks->n * 16 + 64, used = 0, pos = 0;
        ks->names = malloc(cap);
        if (!ks->names)
                return &bd_error_nomem;
        char name[BD_KALLSYMS_NAME_MAX + 2];
        for (size_t i = 0; i < ks->n; i++) {
                if (pos >= len)
                        return corrupt("names end before symbol %llu", i);
                size_t n = names[pos++];
                if (n & 0x80) {
                        if (pos >= len)
                                return corrupt("names end inside symbol %llu's length", i);
                        n = (n & 0x7f) | (size_t)names[pos++] << 7;
                }
                if (!n || n > len - pos)
                        return corrupt("symbol %llu's length runs off the names", i);
                size_t out = 0;
                for (size_t j = 0; j < n; j++) {
                        uint8_t tok = names[pos + j];
                        size_t tl = t->tlen[tok];
                        if (out + tl > BD_KALLSYMS_NAME_MAX + 1)
                                return corrupt("symbol %llu expands past KSYM_NAME_LEN", i);
                        memcpy(name + out, t->table + t->off[tok], tl);
                        out += tl;
                }
                pos += n;
                if (out < 2)
                        return corrupt("symbol %llu has no name", i);
                if (bd_grow((void **)&ks->names, &cap, used + out, 1, 0))
                        return &bd_error_nomem;
                ks->types[i] = name[0];
                ks->name_off[i] = used;
                memcpy(ks->names + used, name + 1, out - 1);
                ks->names[used + out - 1] = '\0';
                used += out;
        }
        return NULL;
}

static void decode_addresses(struct bd_kallsyms *ks, const uint8_t *raw, uint64_t base)
{
        if (ks->enc == BD_KALLSYMS_ABSOLUTE) {
                for (size_t i = 0; i < ks->n; i++)
                        ks->addrs[i] = bd_le64(raw + 8 * i);
                return;
        }
        /* VMCOREINFO does not say whether CONFIG_KALLSYMS_ABSOLUTE_PERCPU is
         * set. With it, every kernel text symbol is a negative offset; without
         * it, offsets are unsigned and never reach 2 GiB (the kernel image is
         * one 1 GiB mapping). */
        int percpu = 0;
        for (size_t i = 0; i < ks->n && !percpu; i++)
                percpu = (int32_t)bd_le32(raw + 4 * i) < 0;
        ks->enc = percpu ? BD_KALLSYMS_RELATIVE_PERCPU : BD_KALLSYMS_RELATIVE;
        for (size_t i = 0; i < ks->n; i++) {
                uint32_t u = bd_le32(raw + 4 * i);
                int32_t s = (int32_t)u;
                if (!percpu)
                        ks->addrs[i] = base + u;
                else if (s >= 0)
                        ks->addrs[i] = (uint64_t)s;
                else
                        ks->addrs[i] = base - 1 - (uint64_t)(int64_t)s;
        }
}

static int by_addr(const void *a, const void *b)
{
        const struct sym_sorted *x = a, *y = b;
        if (x->addr != y->addr)
                return x->addr < y->addr ? -1 : 1;
        return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Everything but names, for ks->n symbols. */
struct bd_error *bd_kallsyms_alloc_tables(struct bd_kallsyms *ks)
{
        ks->addrs = malloc(ks->n * sizeof(*ks->addrs));
        ks->name_off = malloc(ks->n * sizeof(*ks->name_off));
        ks->types = malloc(ks->n);
        ks->sorted = malloc(ks->n * sizeof(*ks->sorted));
        return ks->addrs && ks->name_off && ks->types && ks->sorted ? NULL : &bd_error_nomem;
}

_Static_assert(sizeof(((struct bd_kallsyms *)0)->by_name_key) == crypto_shorthash_KEYBYTES,
               "the by-name key is a shorthash key");

static size_t name_slot(const struct bd_kallsyms *ks, const char *name)
{
        uint8_t h[crypto_shorthash_BYTES];
        crypto_shorthash(h, (const uint8_t *)name, strlen(name), ks->by_name_key);
        return (size_t)bd_le64(h) & ks->by_name_mask;
}

/* Inserted in the kernel's order, so that of several symbols with one name
 * a lookup meets the first (as the scan it replaces did) before the rest. */
static struct bd_error *build_by_name(struct bd_kallsyms *ks)
{
        /* At most two thirds full: a few probes a lookup, 4 bytes a slot. */
        size_t slots = 4;
        while (slots < ks->n + ks->n / 2)
                slots *= 2;
        if (sodium_init() < 0)
                return bd_error_new(BD_ERR_INTERNAL, "libsodium does not start");
        if (!(ks->by_name = calloc(slots, sizeof(*ks->by_name))))
                return &bd_error_nomem;
        ks->by_name_mask = slots - 1;
        crypto_shorthash_keygen(ks->by_name_key);
        for (size_t i = 0; i < ks->n; i++) {
                size_t at = name_slot(ks, ks->names + ks->name_off[i]);
                while (ks->by_name[at])
                        at = (at + 1) & ks->by_name_mask;
                ks->by_name[at] = (uint32_t)i + 1;
        }
        return NULL;
}

/* By address for symbolize, ties in the kernel's order so the first alias
 * wins, whichever way the table was obtained. The kernel's table is
 * already in address order (scripts/kallsyms sorts it), which is checked
 * rather than sorted again. */
void bd_kallsyms_build_by_addr(struct bd_kallsyms *ks)
{
        int in_order = 1;
        for (size_t i = 0; i < ks->n; i++) {
                ks->sorted[i] = (struct sym_sorted){ks->addrs[i], (uint32_t)i};
                in_order = in_order && (!i || ks->addrs[i - 1] <= ks->addrs[i]);
        }
        if (!in_order)
                qsort(ks->sorted, ks->n, sizeof(*ks->sorted), by_addr);
}

struct bd_error *bd_kallsyms_build_index(struct bd_kallsyms *ks)
{
        bd_kallsyms_build_by_addr(ks);
        return build_by_name(ks);
}

/* A table's length from where the next one starts (scripts/kallsyms
 * emits addresses or offsets, relative_base, num_syms, names, markers,
 * token_table, token_index in that order), 0 when that is not plausible:
 * then the table is read once the count or the token index sizes it. */
static size_t gap(uint64_t from, uint64_t to, uint64_t max)
{
        return to > from && to - from <= max ? (size_t)(to - from) : 0;
}

/* A buffer of len bytes and its place in a batch read. */
static uint8_t *want(struct bd_kernel_iov *iov, size_t *n, uint64_t va, size_t len)
{
        uint8_t *buf = malloc(len);
        if (buf)
                iov[(*n)++] = (struct bd_kernel_iov){va, buf, len};
        return buf;
}

static struct bd_error *load(struct bd_kallsyms *ks, struct bd_kernel *k,
                             const struct bd_vmcoreinfo *vi)
{
        uint64_t names_va, num_va, table_va, index_va, addrs_va, base_va = 0;
        if (symbol(vi, "kallsyms_names", &names_va) || symbol(vi, "kallsyms_num_syms", &num_va) ||
            symbol(vi, "kallsyms_token_table", &table_va) ||
            symbol(vi, "kallsyms_token_index", &index_va))
                return corrupt("VMCOREINFO lacks SYMBOL(kallsyms_names, _num_syms, _token_table "
                               "or _token_index)%.0llu",
                               0);
        int relative = !symbol(vi, "kallsyms_offsets", &addrs_va);
        if (!relative && symbol(vi, "kallsyms_addresses", &addrs_va))
                return corrupt("VMCOREINFO has neither SYMBOL(kallsyms_offsets) nor "
                               "SYMBOL(kallsyms_addresses)%.0llu",
                               0);
        if (relative && symbol(vi, "kallsyms_relative_base", &base_va))
                return corrupt("VMCOREINFO has kallsyms_offsets but no "
                               "SYMBOL(kallsyms_relative_base)%.0llu",
                               0);
        ks->enc = relative ? BD_KALLSYMS_RELATIVE : BD_KALLSYMS_ABSOLUTE;
        size_t width = relative ? 4 : 8;

        /* One batch for all the tables where their neighbours size them,
         * a second for the rest. 6.1 declares num_syms unsigned int; older
         * kernels unsigned long, whose low half (little-endian) is the
         * same four bytes. */
        uint8_t num[4], base[8] = {0}, index[512];
        struct tokens t = {0};
        uint8_t *names = NULL, *addrs = NULL;
        struct bd_kernel_iov iov[6];
        size_t n = 0;
        iov[n++] = (struct bd_kernel_iov){num_va, num, 4};
        iov[n++] = (struct bd_kernel_iov){index_va, index, sizeof(index)};
        if (relative)
                iov[n++] = (struct bd_kernel_iov){base_va, base, 8};
        size_t names_len = gap(names_va, table_va, NAMES_MAX);
        size_t addrs_len =
            gap(addrs_va, relative ? base_va : num_va, (uint64_t)BD_KALLSYMS_MAX_SYMS * width);
        struct bd_error *err = NULL;
        if ((t.len = gap(table_va, index_va, TOKEN_TABLE_MAX)) &&
            !(t.table = want(iov, &n, table_va, t.len)))
                err = &bd_error_nomem;
        if (!err && names_len && !(names = want(iov, &n, names_va, names_len)))
                err = &bd_error_nomem;
        if (!err && addrs_len && !(addrs = want(iov, &n, addrs_va, addrs_len)))
                err = &bd_error_nomem;
        if (!err)
                err = kread(ks, k, iov, n);
        if (!err) {
                ks->n = bd_le32(num);
                if (!ks->n || ks->n > BD_KALLSYMS_MAX_SYMS)
                        err = corrupt("implausible kallsyms_num_syms %llu", ks->n);
        }
        if (!err)
                err = bd_kallsyms_alloc_tables(ks);
        n = 0;
        /* The highest token index plus room for one token. */
        if (!err && !t.table &&
            !(t.table = want(iov, &n, table_va, t.len = max_token(index) + TOKEN_SLACK)))
                err = &bd_error_nomem;
        /* The most names could need, bounded. */
        if (!err && !names) {
                names_len = ks->n * 24 < NAMES_MAX ? ks->n * 24 : NAMES_MAX;
                if (!(names = want(iov, &n, names_va, names_len)))
                        err = &bd_error_nomem;
        }
        if (!err && addrs_len < ks->n * width) {
                free(addrs);
                if (!(addrs = want(iov, &n, addrs_va, ks->n * width)))
                        err = &bd_error_nomem;
        }
        if (!err && n)
                err = kread(ks, k, iov, n);
        if (!err)
                err = parse_tokens(index, &t);
        if (!err)
                err = decode_names(ks, names, names_len, &t);
        if (!err)
                decode_addresses(ks, addrs, bd_le64(base));
        free(names);
        free(addrs);
        free(t.table);
        return err ? err : bd_kallsyms_build_index(ks);
}

struct bd_error *bd_kallsyms_load(struct bd_kernel *k, const struct bd_vmcoreinfo *vi,
                                  struct bd_kallsyms **out)
{
        *out = NULL;
        struct bd_kallsyms *ks = calloc(1, sizeof(*ks));
        if (!ks)
                return &bd_error_nomem;
        ks->refs = 1;
        struct bd_error *err = load(ks, k, vi);
        if (err) {
                bd_kallsyms_free(ks);
                return err;
        }
        *out = ks;
        return NULL;
}

void bd_kallsyms_free(struct bd_kallsyms *ks)
{
        if (!ks || __atomic_sub_fetch(&ks->refs, 1, __ATOMIC_ACQ_REL))
                return;
        free(ks->addrs);
        free(ks->sorted);
        if (ks->names_of) {
                bd_kallsyms_free(ks->names_of);
        } else {
                free(ks->name_off);
                free(ks->types);
                free(ks->names);
                free(ks->by_name);
        }
        free(ks);
}

size_t bd_kallsyms_count(const struct bd_kallsyms *ks)
{
        return ks->n;
}

enum bd_kallsyms_encoding bd_kallsyms_encoding(const struct bd_kallsyms *ks)
{
        return ks->enc;
}

void bd_kallsyms_stats(const struct bd_kallsyms *ks, struct bd_kallsyms_stats *out)
{
        *out = ks->stats;
}

void bd_kallsyms_at(const struct bd_kallsyms *ks, size_t i, const char **name, uint64_t *addr,
                    char *type)
{
        *name = ks->names + ks->name_off[i];
        *addr = ks->addrs[i];
        *type = ks->types[i];
}

struct bd_error *bd_kallsyms_lookup(const struct bd_kallsyms *ks, const char *name, uint64_t *addr,
                                    char *type)
{
        for (size_t at = name_slot(ks, name); ks->by_name[at]; at = (at + 1) & ks->by_name_mask) {
                uint32_t i = ks->by_name[at] - 1;
                if (!strcmp(ks->names + ks->name_off[i], name)) {
                        *addr = ks->addrs[i];
                        if (type)
                                *type = ks->types[i];
                        return NULL;
                }
        }
        return bd_error_new(BD_ERR_NOT_FOUND, "no symbol '%s' in kallsyms", name);
}

struct bd_error *bd_kallsyms_symbolize(const struct bd_kallsyms *ks, uint64_t addr,
                                       const char **name, uint64_t *offset, uint64_t *size,
                                       char *type)
{
        if (!ks->n || addr < ks->sorted[0].addr || addr > ks->sorted[ks->n - 1].addr)
                return bd_error_new(BD_ERR_NOT_FOUND, "0x%llx is outside the kernel's symbols",
                                    (unsigned long long)addr);
        size_t lo = 0, hi = ks->n; /* last with sorted.addr <= addr, in [lo, hi) */
        while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;
                if (ks->sorted[mid].addr <= addr)
                        lo = mid;
                else
                        hi = mid;
        }
        /* Aliases share an address: the first of them, as the kernel does. */
        while (lo && ks->sorted[lo - 1].addr == ks->sorted[lo].addr)
                lo--;
        const struct sym_sorted *s = &ks->sorted[lo];
        size_t next = lo + 1;
        while (next < ks->n && ks->sorted[next].addr == s->addr)
                next++;
        *name = ks->names + ks->name_off[s->idx];
        *offset = addr - s->addr;
        if (size)
                *size = next < ks->n ? ks->sorted[next].addr - s->addr : 0;
        if (type)
                *type = ks->types[s->idx];
        return NULL;
}
