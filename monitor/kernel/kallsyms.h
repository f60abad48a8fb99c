/* The kernel's own symbol table (kallsyms), decoded from its memory with
 * only VMCOREINFO's SYMBOL(kallsyms_*) entries: names for addresses with no
 * System.map, no vmlinux and nothing from the target's OS. */
#ifndef BD_KALLSYMS_H
#define BD_KALLSYMS_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/error.h"
#include "kernel.h"
#include "vmcoreinfo.h"

/* Far above any real kernel (6.1 distro kernels carry ~200k): a hostile
 * count must not make the monitor allocate or read gigabytes. */
#define BD_KALLSYMS_MAX_SYMS (1u << 22)
/* KSYM_NAME_LEN is 512 since 6.1; anything longer is corruption. */
#define BD_KALLSYMS_NAME_MAX 512

enum bd_kallsyms_encoding {
        BD_KALLSYMS_ABSOLUTE,        /* kallsyms_addresses[] */
        BD_KALLSYMS_RELATIVE,        /* relative_base + (u32)offset */
        BD_KALLSYMS_RELATIVE_PERCPU, /* offset >= 0: absolute; < 0: base - 1 - offset */
};

struct bd_kallsyms_stats {
        uint64_t bytes_read;
        uint64_t reads; /* bd_kernel_read calls */
};

struct bd_kallsyms;

/* Reads the tables in a handful of large reads and decodes every name.
 * Fails with BD_ERR_NOT_FOUND when VMCOREINFO lacks the symbols or the
 * tables do not check out. */
struct bd_error *bd_kallsyms_load(struct bd_kernel *k, const struct bd_vmcoreinfo *vi,
                                  struct bd_kallsyms **out);
void bd_kallsyms_free(struct bd_kallsyms *ks);

size_t bd_kallsyms_count(const struct bd_kallsyms *ks);
enum bd_kallsyms_encoding bd_kallsyms_encoding(const struct bd_kallsyms *ks);
void bd_kallsyms_stats(const struct bd_kallsyms *ks, struct bd_kallsyms_stats *out);
/* The i-th symbol in the kernel's own order. */
void bd_kallsyms_at(const struct bd_kallsyms *ks, size_t i, const char **name, uint64_t *addr,
                    char *type);

/* First symbol called name (several static symbols may share one).
 * BD_ERR_NOT_FOUND if there is none. */
struct bd_error *bd_kallsyms_lookup(const struct bd_kallsyms *ks, const char *name, uint64_t *addr,
                                    char *type);

/* The symbol at or below addr and addr's offset into it; size is the gap to
 * the next higher symbol (0 for the last one). BD_ERR_NOT_FOUND below the
 * first symbol or past the last. */
struct bd_error *bd_kallsyms_symbolize(const struct bd_kallsyms *ks, uint64_t addr,
                                       const char **name, uint64_t *offset, uint64_t *size,
                                       char *type);

/* A KASLR-independent copy of the table, for the per-build cache: image
 * addresses are stored less kaslr_offset (the KERNELOFFSET of the boot it
 * was read from). *data is malloc'd. */
struct bd_error *bd_kallsyms_serialize(const struct bd_kallsyms *ks, uint64_t kaslr_offset,
                                       void **data, size_t *len);

/* The table back from bd_kallsyms_serialize's bytes, relocated to
 * kaslr_offset; data is untrusted. BD_ERR_PROTOCOL when it is truncated or
 * corrupt, BD_ERR_NOT_FOUND when it is another version's. Reads nothing
 * from the target: its stats are zero. */
struct bd_error *bd_kallsyms_deserialize(const void *data, size_t len, uint64_t kaslr_offset,
                                         struct bd_kallsyms **out);

/* The table from the same bytes as base, which bd_kallsyms_deserialize
 * made from them (the caller vouches that they are those bytes, unchanged),
 * relocated to kaslr_offset: only the addresses are decoded again; the
 * names, types and by-name index are base's, shared read-only, and outlive
 * base if it is freed first. What a thousand targets of one build cost
 * once. */
struct bd_error *bd_kallsyms_deserialize_from(struct bd_kallsyms *base, const void *data,
                                              size_t len, uint64_t kaslr_offset,
                                              struct bd_kallsyms **out);

/* The most symbols bd_kallsyms_matches() holds against memory at once. */
#define BD_KALLSYMS_MAX_SAMPLES 256

/* Whether a table from elsewhere (the per-build cache, keyed by the build
 * id a target claims, so possibly planted by another target) is this
 * kernel's: the same count, and the same address at samples indices picked
 * at random, read from the kernel's own kallsyms_offsets (or _addresses)
 * where VMCOREINFO puts them. Names are not compared: reaching one means
 * decoding from the start of its block of 256. BD_ERR_NOT_FOUND when it is
 * not this kernel's table. */
struct bd_error *bd_kallsyms_matches(const struct bd_kallsyms *ks, struct bd_kernel *k,
                                     const struct bd_vmcoreinfo *vi, unsigned samples);

#endif
