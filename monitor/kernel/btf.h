/* The kernel's own BTF (CONFIG_DEBUG_INFO_BTF), read from its memory between
 * __start_BTF and __stop_BTF and parsed with libbpf: every structure layout
 * of the running kernel, from the kernel itself. */
#ifndef BD_BTF_H
#define BD_BTF_H

#include <stddef.h>
#include <stdint.h>

#include <bpf/btf.h>

#include "../../common/error.h"
#include "kallsyms.h"
#include "kernel.h"

/* vmlinux BTF is ~5 MB on distro kernels: beyond this it is not BTF. */
#define BD_BTF_MAX (64u << 20)

/* The kernel's BTF, read in pieces when there is time to fill (a wait for
 * the target): begin finds and checks __start_BTF..__stop_BTF, more reads
 * up to max bytes of what is left, end reads the rest and parses it. end
 * and discard free the buffer, whatever the outcome; after a failed more,
 * discard it (begin allocates nothing when it fails). */
struct bd_btf_read {
        uint8_t *buf;
        uint64_t at;
        size_t len, have;
};
struct bd_error *bd_btf_read_begin(const struct bd_kallsyms *ks, struct bd_btf_read *r);
struct bd_error *bd_btf_read_more(struct bd_kernel *k, struct bd_btf_read *r, size_t max);
struct bd_error *bd_btf_read_end(struct bd_kernel *k, struct bd_btf_read *r, struct btf **out);
void bd_btf_read_discard(struct bd_btf_read *r);

/* Whether a BTF blob from elsewhere (the per-build cache, keyed by the
 * build id a target claims, so possibly planted by another target) is this
 * kernel's: as long as __start_BTF..__stop_BTF (BTF has no checksum of its
 * own), the same first and last BD_BTF_CHUNK bytes, and the same bytes in
 * chunks - 2 more chunks picked at random. BD_ERR_NOT_FOUND when not. */
#define BD_BTF_CHUNK      4096u
#define BD_BTF_MAX_CHUNKS 64u
struct bd_error *bd_btf_matches(struct bd_kernel *k, const struct bd_kallsyms *ks, const void *data,
                                size_t len, unsigned chunks);

/* Parse a BTF blob (from memory, or the per-build cache); NULL with *why
 * set (if why is non-NULL) when it does not check out. */
struct btf *bd_btf_parse(const void *data, size_t len, struct bd_error **why);

/* A name from the string section, "" when the offset is outside it (the
 * libbpf of Debian 12 does not check offsets when it parses). */
const char *bd_btf_name(const struct btf *btf, uint32_t name_off);
/* The type *id names with its typedefs and qualifiers removed (*id becomes
 * that type's id); NULL for an unknown id or a chain too long to be BTF (a
 * typedef cycle). */
const struct btf_type *bd_btf_strip(const struct btf *btf, uint32_t *id);

/* A struct (or, failing that, a union) by name. */
struct bd_error *bd_btf_find_struct(const struct btf *btf, const char *name, uint32_t *id);

struct bd_btf_member {
        uint32_t type_id;
        uint64_t bit_offset;    /* from the start of the outermost struct */
        uint32_t bitfield_bits; /* 0 unless a bitfield */
        int64_t size;           /* bytes of the member's type, -1 if unsized */
};

/* A member by dotted path from a struct: "task_struct.comm",
 * "rq.nr_switches", "task_struct.se.vruntime". Members of anonymous structs
 * and unions are found as if they were the enclosing struct's own. */
struct bd_error *bd_btf_member(const struct btf *btf, const char *path, struct bd_btf_member *out);

/* A member of the struct or union type id (typedefs and qualifiers seen
 * through, anonymous ones too, members of anonymous members found as its
 * own); bit_offset is from the start of id. */
struct bd_error *bd_btf_member_in(const struct btf *btf, uint32_t id, const char *name,
                                  struct bd_btf_member *out);

/* The value of an enumerator, searched across every enum. */
struct bd_error *bd_btf_enum_value(const struct btf *btf, const char *name, int64_t *value);

/* Structs, unions and enumerators by name, hashed in one pass over the
 * types. libbpf finds a name by walking every type: the layout's 300
 * lookups took 10 ms natively and 125 ms in the lab's TCG monitor. The
 * lookups through it answer as the ones above do (the first struct, else
 * the first union; the first enumerator in type order). It borrows btf,
 * which must outlive it. When init cannot build it (BD_ERR_TARGET for BTF
 * with over a million names, or names that collide past its probes; out
 * of memory), the index answers by the walk, so its users need no second
 * path. Release it either way. */
struct bd_btf_index_slot;
struct bd_btf_index {
        const struct btf *btf;
        struct bd_btf_index_slot *slots; /* NULL: not built, the walk answers */
        size_t mask;
};
struct bd_error *bd_btf_index_init(struct bd_btf_index *ix, const struct btf *btf);
void bd_btf_index_release(struct bd_btf_index *ix);
struct bd_error *bd_btf_index_struct(const struct bd_btf_index *ix, const char *name, uint32_t *id);
struct bd_error *bd_btf_index_member(const struct bd_btf_index *ix, const char *path,
                                     struct bd_btf_member *out);
struct bd_error *bd_btf_index_enum(const struct bd_btf_index *ix, const char *name, int64_t *value);

/* A C-like name for a type: "unsigned int", "struct list_head",
 * "char[16]", "struct mm_struct *". */
void bd_btf_type_name(const struct btf *btf, uint32_t id, char *buf, size_t cap);

#endif
