/* The offsets and sizes Backdoors reads, resolved for one kernel build: from
 * the kernel's own BTF, or from a stored layout file for kernels without BTF.
 * Every view reads structures through this, never through BTF directly, so
 * that both sources serve every view. The entries are those of
 * layouts/manifest.def. */
#ifndef BD_LAYOUT_H
#define BD_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <bpf/btf.h>

#include "../../common/error.h"

/* BITS: a bitfield (or any member of up to 8 bytes) as its first bit from
 * the struct's start and its width in bits, for flags the kernel packs. */
enum bd_layout_kind { BD_LAYOUT_MEMBER, BD_LAYOUT_SIZE, BD_LAYOUT_ENUM, BD_LAYOUT_BITS };

enum bd_layout_id {
#define BD_MEMBER(id, path, why) BDL_##id,
#define BD_SIZE(id, path, why)   BDL_##id,
#define BD_ENUM(id, path, why)   BDL_##id,
#define BD_BITS(id, path, why)   BDL_##id,
#include "../../layouts/manifest.def"
#undef BD_MEMBER
#undef BD_SIZE
#undef BD_ENUM
#undef BD_BITS
        BDL_COUNT
};

struct bd_layout_entry {
        int present;
        int64_t value; /* byte offset, sizeof, enumerator value, or first bit */
        int64_t size;  /* a member's size in bytes; for sizes, the same as value;
                        * for bits, the width */
        char path[96]; /* the alternative that matched */
};

struct bd_layout {
        struct bd_layout_entry e[BDL_COUNT];
        char source[160]; /* "btf", or the layout file's path */
        char release[128];
        char build_id[130];
};

/* The manifest itself, for listings and checks. */
const char *bd_layout_name(enum bd_layout_id id); /* "TASK_PID" */
const char *bd_layout_path(enum bd_layout_id id); /* as written, alternatives and all */
const char *bd_layout_why(enum bd_layout_id id);
enum bd_layout_kind bd_layout_kind(enum bd_layout_id id);

/* Resolve every manifest entry against BTF. Entries the kernel lacks are
 * marked absent, not an error: a view fails only if it needs one. */
void bd_layout_from_btf(struct bd_layout *l, const struct btf *btf);

/* A stored layout file (bdmon layouts export). Untrusted text: every line
 * is checked; entries this bdmon does not know are ignored. */
struct bd_error *bd_layout_parse(struct bd_layout *l, const char *text, size_t len,
                                 const char *source);
struct bd_error *bd_layout_load_file(struct bd_layout *l, const char *path);
void bd_layout_write(const struct bd_layout *l, FILE *f);

/* Look for a stored layout for build_id in $BDMON_LAYOUTS (colon-separated
 * directories), then the cache directory's layouts/, then
 * BD_DATADIR/layouts (make's DATADIR, /usr/share/backdoors when packaged).
 * BD_ERR_NOT_FOUND naming where it looked. */
struct bd_error *bd_layout_find_stored(struct bd_layout *l, const char *build_id);

/* A member's offset, a size, or an enumerator. BD_ERR_NOT_FOUND naming the
 * entry and the layout's source when the kernel lacks it. */
struct bd_error *bd_layout_get(const struct bd_layout *l, enum bd_layout_id id, int64_t *value);
/* A member's offset, when the member is size bytes as the caller reads it;
 * BD_ERR_PROTOCOL naming it when the kernel's is another size. */
struct bd_error *bd_layout_get_sized(const struct bd_layout *l, enum bd_layout_id id, int64_t size,
                                     int64_t *off);
/* An optional entry: 1 and *value if the kernel has it, else 0 (nothing
 * to free: for views that do without). */
int bd_layout_has(const struct bd_layout *l, enum bd_layout_id id, int64_t *value);
/* A BITS entry as what reads it: the 8 bytes at byte hold the field at
 * shift, width bits wide (bd_bits_value takes them apart). BD_ERR_NOT_FOUND
 * as bd_layout_get; BD_ERR_PROTOCOL for a field those 8 bytes cannot hold. */
struct bd_bits {
        int64_t byte;
        unsigned shift, width;
};
struct bd_error *bd_layout_bits(const struct bd_layout *l, enum bd_layout_id id, struct bd_bits *b);
static inline uint64_t bd_bits_value(const struct bd_bits *b, uint64_t word)
{
        word >>= b->shift;
        return b->width >= 64 ? word : word & ((1ull << b->width) - 1);
}
/* Several at once: ids[i] into out[i]; the first missing one fails. */
struct bd_error *bd_layout_need(const struct bd_layout *l, const enum bd_layout_id *ids, size_t n,
                                int64_t *out);

#endif
