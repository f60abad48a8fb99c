/* The per-build cache form of a symbol table (bd_kallsyms_serialize and
 * bd_kallsyms_deserialize): decoding kallsyms from memory costs megabytes
 * over the fabric, the cached copy costs none. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../common/bytes.h"
#include "kallsyms_table.h"

/* Cache form, little-endian:
 *   0  "BDKSYM" u16 version
 *   8  u32 encoding, u32 count
 *  16  u64 names length
 *  24  u64 FNV-1a of bytes 0..23 and 32..end
 *  32  u64 address[count], u8 relocated[count], u8 type[count],
 *      names (NUL-terminated, back to back)
 * The file outlives the boot it came from, so addresses in the kernel image
 * are kept without their KASLR slide and given the current one at load. */
#define CACHE_MAGIC   "BDKSYM"
#define CACHE_VERSION 1u
#define CACHE_HDR     32u
#define IMAGE_START   0xffffffff80000000ull
#define IMAGE_END     0xffffffffc0000000ull

static uint64_t cache_sum(const uint8_t *p, size_t len)
{
        return bd_fnv1a(bd_fnv1a(BD_FNV1A_INIT, p, 24), p + CACHE_HDR, len - CACHE_HDR);
}

struct bd_error *bd_kallsyms_serialize(const struct bd_kallsyms *ks, uint64_t kaslr_offset,
                                       void **data, size_t *len)
{
        *data = NULL;
        *len = 0;
        size_t names_len = 0;
        for (size_t i = 0; i < ks->n; i++)
                names_len += strlen(ks->names + ks->name_off[i]) + 1;
        size_t total = CACHE_HDR + ks->n * 10 + names_len;
        uint8_t *p = malloc(total);
        if (!p)
                return &bd_error_nomem;
        memcpy(p, CACHE_MAGIC, 6);
        bd_put_le(p + 6, CACHE_VERSION, 2);
        bd_put_le(p + 8, (uint64_t)ks->enc, 4);
        bd_put_le(p + 12, ks->n, 4);
        bd_put_le(p + 16, names_len, 8);
        uint8_t *addrs = p + CACHE_HDR, *reloc = addrs + 8 * ks->n, *types = reloc + ks->n;
        char *names = (char *)(types + ks->n);
        for (size_t i = 0; i < ks->n; i++) {
                uint64_t a = ks->addrs[i];
                reloc[i] = a >= IMAGE_START && a < IMAGE_END;
                bd_put_le(addrs + 8 * i, reloc[i] ? a - kaslr_offset : a, 8);
                types[i] = (uint8_t)ks->types[i];
                size_t l = strlen(ks->names + ks->name_off[i]) + 1;
                memcpy(names, ks->names + ks->name_off[i], l);
                names += l;
        }
        bd_put_le(p + 24, cache_sum(p, total), 8);
        *data = p;
        *len = total;
        return NULL;
}

static struct bd_error *bad_cache(const char *fmt, unsigned long long v)
{
        struct bd_error *err = bd_error_new(BD_ERR_PROTOCOL, fmt, v);
        return bd_error_wrap(err, "kallsyms cache");
}

/* Image addresses given the slide kaslr_offset, the rest as they are. */
static struct bd_error *relocate(struct bd_kallsyms *ks, const uint8_t *p, uint64_t kaslr_offset)
{
        const uint8_t *addrs = p + CACHE_HDR, *reloc = addrs + 8 * ks->n;
        for (size_t i = 0; i < ks->n; i++) {
                if (reloc[i] > 1)
                        return bad_cache("symbol %llu: bad relocation flag", i);
                uint64_t a = bd_le64(addrs + 8 * i);
                ks->addrs[i] = reloc[i] ? a + kaslr_offset : a;
        }
        return NULL;
}

static struct bd_error *deserialize(struct bd_kallsyms *ks, const uint8_t *p, size_t len,
                                    uint64_t kaslr_offset)
{
        if (len < CACHE_HDR || memcmp(p, CACHE_MAGIC, 6))
                return bad_cache("not a kallsyms cache (%llu bytes)", len);
        unsigned version = p[6] | p[7] << 8;
        if (version != CACHE_VERSION) {
                struct bd_error *err =
                    bd_error_new(BD_ERR_NOT_FOUND, "version %u, not %u", version, CACHE_VERSION);
                return bd_error_wrap(err, "kallsyms cache");
        }
        uint32_t enc = bd_le32(p + 8);
        if (enc > BD_KALLSYMS_RELATIVE_PERCPU)
                return bad_cache("unknown encoding %llu", enc);
        ks->enc = (enum bd_kallsyms_encoding)enc;
        ks->n = bd_le32(p + 12);
        if (!ks->n || ks->n > BD_KALLSYMS_MAX_SYMS)
                return bad_cache("implausible count %llu", ks->n);
        uint64_t names_len = bd_le64(p + 16);
        if (len - CACHE_HDR < ks->n * 10 || names_len != len - CACHE_HDR - ks->n * 10)
                return bad_cache("length %llu does not match its header", len);
        if (bd_le64(p + 24) != cache_sum(p, len))
                return bad_cache("checksum mismatch over %llu bytes", len);
        struct bd_error *err = bd_kallsyms_alloc_tables(ks);
        if (err || (err = relocate(ks, p, kaslr_offset)))
                return err;
        const uint8_t *types = p + CACHE_HDR + 9 * ks->n;
        const char *names = (const char *)(types + ks->n);
        if (!(ks->names = malloc(names_len)))
                return &bd_error_nomem;
        memcpy(ks->names, names, names_len);
        size_t pos = 0;
        for (size_t i = 0; i < ks->n; i++) {
                if (!types[i])
                        return bad_cache("symbol %llu has no type", i);
                const char *nul = memchr(ks->names + pos, 0, names_len - pos);
                size_t l = nul ? (size_t)(nul - (ks->names + pos)) : 0;
                if (!nul || !l || l > BD_KALLSYMS_NAME_MAX)
                        return bad_cache("symbol %llu's name is empty, too long or cut", i);
                ks->types[i] = (char)types[i];
                ks->name_off[i] = pos;
                pos += l + 1;
        }
        if (pos != names_len)
                return bad_cache("%llu bytes after the last name", names_len - pos);
        return bd_kallsyms_build_index(ks);
}

struct bd_error *bd_kallsyms_deserialize(const void *data, size_t len, uint64_t kaslr_offset,
                                         struct bd_kallsyms **out)
{
        *out = NULL;
        struct bd_kallsyms *ks = calloc(1, sizeof(*ks));
        if (!ks)
                return &bd_error_nomem;
        ks->refs = 1;
        struct bd_error *err = deserialize(ks, data, len, kaslr_offset);
        if (err) {
                bd_kallsyms_free(ks);
                return err;
        }
        *out = ks;
        return NULL;
}

struct bd_error *bd_kallsyms_deserialize_from(struct bd_kallsyms *base, const void *data,
                                              size_t len, uint64_t kaslr_offset,
                                              struct bd_kallsyms **out)
{
        *out = NULL;
        const uint8_t *p = data;
        /* The caller vouches for the bytes; that they can be the table's
         * costs nothing to hold. */
        if (len < CACHE_HDR || bd_le32(p + 12) != base->n || (len - CACHE_HDR) / 10 < base->n)
                return bad_cache("%llu bytes that cannot be this table's", len);
        struct bd_kallsyms *ks = calloc(1, sizeof(*ks));
        if (!ks)
                return &bd_error_nomem;
        ks->refs = 1;
        ks->n = base->n;
        ks->enc = base->enc;
        ks->addrs = malloc(ks->n * sizeof(*ks->addrs));
        ks->sorted = malloc(ks->n * sizeof(*ks->sorted));
        struct bd_error *err =
            ks->addrs && ks->sorted ? relocate(ks, p, kaslr_offset) : &bd_error_nomem;
        if (err) {
                bd_kallsyms_free(ks);
                return err;
        }
        struct bd_kallsyms *owner = base->names_of ? base->names_of : base;
        __atomic_add_fetch(&owner->refs, 1, __ATOMIC_RELAXED);
        ks->names_of = owner;
        ks->names = owner->names;
        ks->name_off = owner->name_off;
        ks->types = owner->types;
        ks->by_name = owner->by_name;
        ks->by_name_mask = owner->by_name_mask;
        memcpy(ks->by_name_key, owner->by_name_key, sizeof(ks->by_name_key));
        bd_kallsyms_build_by_addr(ks);
        *out = ks;
        return NULL;
}

struct bd_error *bd_kallsyms_matches(const struct bd_kallsyms *ks, struct bd_kernel *k,
                                     const struct bd_vmcoreinfo *vi, unsigned samples)
{
        uint64_t num_va, table_va, base_va = 0, base = 0;
        int absolute = ks->enc == BD_KALLSYMS_ABSOLUTE;
        if (bd_vmcoreinfo_number(vi, "SYMBOL(kallsyms_num_syms)", 1, &num_va) ||
            bd_vmcoreinfo_number(
                vi, absolute ? "SYMBOL(kallsyms_addresses)" : "SYMBOL(kallsyms_offsets)", 1,
                &table_va) ||
            (!absolute && bd_vmcoreinfo_number(vi, "SYMBOL(kallsyms_relative_base)", 1, &base_va)))
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "VMCOREINFO does not say where the kernel's table is");
        uint8_t num[4], b[8];
        struct bd_error *err = bd_kernel_read(k, num_va, num, sizeof(num));
        if (!err && !absolute && !(err = bd_kernel_read(k, base_va, b, sizeof(b))))
                base = bd_le64(b);
        if (err)
                return err;
        if (bd_le32(num) != ks->n)
                return bd_error_new(BD_ERR_NOT_FOUND, "%zu symbols, the kernel has %u", ks->n,
                                    bd_le32(num));
        if (samples > BD_KALLSYMS_MAX_SAMPLES)
                samples = BD_KALLSYMS_MAX_SAMPLES;
        /* Picked here, at random: a planted table cannot know which of its
         * entries will be held against memory. */
        size_t at[BD_KALLSYMS_MAX_SAMPLES];
        uint8_t raw[BD_KALLSYMS_MAX_SAMPLES][8];
        struct bd_kernel_iov iov[BD_KALLSYMS_MAX_SAMPLES];
        size_t width = absolute ? 8 : 4;
        if (sodium_init() < 0)
                return bd_error_new(BD_ERR_INTERNAL, "libsodium does not start");
        for (unsigned i = 0; i < samples; i++) {
                at[i] = ks->n > UINT32_MAX ? 0 : randombytes_uniform((uint32_t)ks->n);
                iov[i] = (struct bd_kernel_iov){table_va + width * at[i], raw[i], width};
        }
        if ((err = bd_kernel_read_batch(k, iov, samples)))
                return err;
        for (unsigned i = 0; i < samples; i++) {
                uint64_t addr;
                int32_t s = (int32_t)bd_le32(raw[i]);
                if (absolute)
                        addr = bd_le64(raw[i]);
                else if (ks->enc == BD_KALLSYMS_RELATIVE)
                        addr = base + bd_le32(raw[i]);
                else
                        addr = s >= 0 ? (uint64_t)s : base - 1 - (uint64_t)(int64_t)s;
                if (addr != ks->addrs[at[i]])
                        return bd_error_new(
                            BD_ERR_NOT_FOUND, "symbol %zu (%s) is at %#llx, the kernel says %#llx",
                            at[i], ks->names + ks->name_off[at[i]],
                            (unsigned long long)ks->addrs[at[i]], (unsigned long long)addr);
        }
        return NULL;
}
