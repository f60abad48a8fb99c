/* BTF from the kernel's memory, and member lookup on it. libbpf validates
 * the blob itself (btf__new checks the header, string and type sections);
 * what is read here is bounded before it reaches libbpf. */
#include "btf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>
#include <sodium.h>

/* Anonymous nesting and type chains deeper than this are corrupt. */
#define DEPTH_MAX 32

/* libbpf reports parse failures on stderr by default; hostile bytes must
 * not write there, so they become our error instead. */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
        (void)level, (void)fmt, (void)ap;
        return 0;
}

/* __start_BTF..__stop_BTF, checked. */
static struct bd_error *span(const struct bd_kallsyms *ks, uint64_t *start, size_t *len)
{
        uint64_t stop;
        struct bd_error *err = bd_kallsyms_lookup(ks, "__start_BTF", start, NULL);
        if (!err)
                err = bd_kallsyms_lookup(ks, "__stop_BTF", &stop, NULL);
        if (err)
                return bd_error_wrap(err, "btf (is CONFIG_DEBUG_INFO_BTF set?)");
        if (stop <= *start || stop - *start > BD_BTF_MAX)
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "btf: __start_BTF..__stop_BTF is %s (0x%llx..0x%llx)",
                                    stop <= *start ? "empty" : "over 64 MiB",
                                    (unsigned long long)*start, (unsigned long long)stop);
        *len = (size_t)(stop - *start);
        return NULL;
}

struct bd_error *bd_btf_read_begin(const struct bd_kallsyms *ks, struct bd_btf_read *r)
{
        *r = (struct bd_btf_read){0};
        struct bd_error *err = span(ks, &r->at, &r->len);
        if (!err && !(r->buf = malloc(r->len)))
                err = &bd_error_nomem;
        return err;
}

struct bd_error *bd_btf_read_more(struct bd_kernel *k, struct bd_btf_read *r, size_t max)
{
        size_t n = r->len - r->have < max ? r->len - r->have : max;
        struct bd_error *err = bd_kernel_read(k, r->at + r->have, r->buf + r->have, n);
        if (err)
                return bd_error_wrap(err, "btf: reading %zu bytes", n);
        r->have += n;
        return NULL;
}

void bd_btf_read_discard(struct bd_btf_read *r)
{
        free(r->buf);
        *r = (struct bd_btf_read){0};
}

struct bd_error *bd_btf_read_end(struct bd_kernel *k, struct bd_btf_read *r, struct btf **out)
{
        *out = NULL;
        struct bd_error *err = bd_btf_read_more(k, r, SIZE_MAX);
        if (!err && !(*out = bd_btf_parse(r->buf, r->len, &err)))
                err = bd_error_wrap(err, "btf at 0x%llx", (unsigned long long)r->at);
        bd_btf_read_discard(r);
        return err;
}

struct bd_error *bd_btf_matches(struct bd_kernel *k, const struct bd_kallsyms *ks, const void *data,
                                size_t len, unsigned chunks)
{
        uint64_t start;
        size_t have;
        struct bd_error *err = span(ks, &start, &have);
        if (err)
                return err;
        if (have != len)
                return bd_error_new(BD_ERR_NOT_FOUND, "%zu bytes of BTF, the kernel has %zu", len,
                                    have);
        size_t nchunks = (len + BD_BTF_CHUNK - 1) / BD_BTF_CHUNK;
        if (chunks > BD_BTF_MAX_CHUNKS)
                chunks = BD_BTF_MAX_CHUNKS;
        if (sodium_init() < 0)
                return bd_error_new(BD_ERR_INTERNAL, "libsodium does not start");
        uint8_t *buf = malloc((size_t)chunks * BD_BTF_CHUNK);
        if (!buf)
                return &bd_error_nomem;
        struct bd_kernel_iov iov[BD_BTF_MAX_CHUNKS];
        size_t at[BD_BTF_MAX_CHUNKS];
        for (unsigned i = 0; i < chunks; i++) {
                /* The header and the last chunk always; the rest picked here,
                 * at random, so that a planted blob cannot know which of its
                 * bytes will be held against memory. */
                at[i] = i == 0 ? 0 : i == 1 ? nchunks - 1 : randombytes_uniform((uint32_t)nchunks);
                size_t off = at[i] * BD_BTF_CHUNK;
                iov[i] =
                    (struct bd_kernel_iov){start + off, buf + (size_t)i * BD_BTF_CHUNK,
                                           len - off < BD_BTF_CHUNK ? len - off : BD_BTF_CHUNK};
        }
        err = bd_kernel_read_batch(k, iov, chunks);
        for (unsigned i = 0; !err && i < chunks; i++)
                if (memcmp(iov[i].buf, (const uint8_t *)data + at[i] * BD_BTF_CHUNK, iov[i].len))
                        err = bd_error_new(BD_ERR_NOT_FOUND,
                                           "BTF differs from the kernel's at offset %zu",
                                           at[i] * BD_BTF_CHUNK);
        free(buf);
        return err;
}

/* What libbpf 1.1 does not check: a header whose length is no multiple
 * of 4 puts every type at an address its code reads as aligned. The
 * kernel's own BTF is in its byte order, so only that is taken. */
static const char *bad_header(const void *data, size_t len)
{
        struct btf_header h;
        if (len < sizeof(h))
                return "shorter than a header";
        memcpy(&h, data, sizeof(h));
        if (h.magic != BTF_MAGIC)
                return "no BTF magic in this byte order";
        if (h.hdr_len % 4)
                return "header length not a multiple of 4";
        return NULL;
}

struct btf *bd_btf_parse(const void *data, size_t len, struct bd_error **why)
{
        const char *bad = bad_header(data, len);
        if (bad) {
                if (why)
                        *why = bd_error_new(BD_ERR_NOT_FOUND, "%zu bytes do not parse as BTF: %s",
                                            len, bad);
                return NULL;
        }
        libbpf_print_fn_t old = libbpf_set_print(quiet);
        struct btf *btf = len <= BD_BTF_MAX ? btf__new(data, (uint32_t)len) : NULL;
        int e = len <= BD_BTF_MAX ? errno : E2BIG;
        libbpf_set_print(old);
        if (!btf && why)
                *why = bd_error_new(BD_ERR_NOT_FOUND, "%zu bytes do not parse as BTF: %s", len,
                                    strerror(e));
        return btf;
}

/* A target chooses the names: it may collide them (the hash is no secret),
 * or make millions. Past these bounds the index is refused and the walk
 * answers, as slowly as before it, never slower. */
#define INDEX_NAMES_MAX (1u << 20)
#define INDEX_PROBES    64u

/* Open addressing, never more than half full. */
struct bd_btf_index_slot {
        const char *name;                              /* in btf's string section; NULL: free */
        uint32_t struct_id, union_id, enum_id, enum_i; /* ids 0: none */
};

static struct bd_btf_index_slot *index_slot(const struct bd_btf_index *ix, const char *name,
                                            int add)
{
        uint64_t h = 14695981039346656037ull; /* FNV-1a */
        for (const char *c = name; *c; c++)
                h = (h ^ (unsigned char)*c) * 1099511628211ull;
        for (unsigned probe = 0; probe < INDEX_PROBES; probe++) {
                struct bd_btf_index_slot *s = &ix->slots[(h + probe) & ix->mask];
                if (!s->name) {
                        if (add)
                                s->name = name;
                        return add ? s : NULL;
                }
                if (!strcmp(s->name, name))
                        return s;
        }
        return NULL; /* no insertion went further */
}

/* The names a type adds to the index; an index slot for each at most. */
static size_t index_names(const struct btf_type *t)
{
        if (btf_is_struct(t) || btf_is_union(t))
                return t->name_off != 0;
        return btf_is_enum(t) || btf_is_enum64(t) ? btf_vlen(t) : 0;
}

static const char *enumerator_name(const struct btf *btf, const struct btf_type *t, unsigned i)
{
        return bd_btf_name(btf,
                           btf_is_enum(t) ? btf_enum(t)[i].name_off : btf_enum64(t)[i].name_off);
}

struct bd_error *bd_btf_index_init(struct bd_btf_index *ix, const struct btf *btf)
{
        *ix = (struct bd_btf_index){.btf = btf};
        uint32_t n = btf__type_cnt(btf);
        size_t names = 0, cap = 16;
        for (uint32_t id = 1; id < n; id++)
                names += index_names(btf__type_by_id(btf, id));
        if (names > INDEX_NAMES_MAX)
                return bd_error_new(BD_ERR_TARGET, "BTF has %zu names to index, over %u", names,
                                    INDEX_NAMES_MAX);
        while (cap < 2 * names)
                cap *= 2;
        if (!(ix->slots = calloc(cap, sizeof(*ix->slots))))
                return &bd_error_nomem;
        ix->mask = cap - 1;
        /* In type order, the first of each name kept: libbpf's answer. */
        for (uint32_t id = 1; id < n; id++) {
                const struct btf_type *t = btf__type_by_id(btf, id);
                if (btf_is_struct(t) || btf_is_union(t)) {
                        /* libbpf's "void" is type 0, never a struct. */
                        const char *name = bd_btf_name(btf, t->name_off);
                        if (!*name || !strcmp(name, "void"))
                                continue;
                        struct bd_btf_index_slot *s = index_slot(ix, name, 1);
                        if (!s)
                                goto collide;
                        uint32_t *have = btf_is_struct(t) ? &s->struct_id : &s->union_id;
                        if (!*have)
                                *have = id;
                        continue;
                }
                for (unsigned i = 0; i < index_names(t); i++) {
                        const char *name = enumerator_name(btf, t, i);
                        struct bd_btf_index_slot *s = *name ? index_slot(ix, name, 1) : NULL;
                        if (*name && !s)
                                goto collide;
                        if (s && !s->enum_id)
                                s->enum_id = id, s->enum_i = i;
                }
        }
        return NULL;
collide:
        bd_btf_index_release(ix);
        return bd_error_new(BD_ERR_TARGET, "BTF names collide past %u probes", INDEX_PROBES);
}

void bd_btf_index_release(struct bd_btf_index *ix)
{
        free(ix->slots);
        ix->slots = NULL;
}

static struct bd_error *no_struct(const char *name)
{
        return bd_error_new(BD_ERR_NOT_FOUND, "no struct or union '%s' in BTF", name);
}

struct bd_error *bd_btf_find_struct(const struct btf *btf, const char *name, uint32_t *id)
{
        int r = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);
        if (r <= 0)
                r = btf__find_by_name_kind(btf, name, BTF_KIND_UNION);
        if (r <= 0)
                return no_struct(name);
        *id = (uint32_t)r;
        return NULL;
}

struct bd_error *bd_btf_index_struct(const struct bd_btf_index *ix, const char *name, uint32_t *id)
{
        if (!ix->slots)
                return bd_btf_find_struct(ix->btf, name, id);
        const struct bd_btf_index_slot *s = index_slot(ix, name, 0);
        if (!s || !(s->struct_id || s->union_id))
                return no_struct(name);
        *id = s->struct_id ? s->struct_id : s->union_id;
        return NULL;
}

const char *bd_btf_name(const struct btf *btf, uint32_t name_off)
{
        const char *name = btf__name_by_offset(btf, name_off);
        return name ? name : "";
}

const struct btf_type *bd_btf_strip(const struct btf *btf, uint32_t *id)
{
        const struct btf_type *t = btf__type_by_id(btf, *id);
        for (int d = 0; t && d < DEPTH_MAX; d++) {
                if (!btf_is_typedef(t) && !btf_is_mod(t))
                        return t;
                *id = t->type;
                t = btf__type_by_id(btf, *id);
        }
        return NULL;
}

/* A member by name, looking into anonymous members as C does. Hostile BTF
 * can nest a struct's own type among its anonymous members, several times
 * over: depth alone would allow an exponential search, so every member
 * looked at spends one of *budget. */
static int find_in(const struct btf *btf, uint32_t id, const char *name, size_t nlen,
                   uint64_t base_bits, struct bd_btf_member *out, int depth, unsigned *budget)
{
        const struct btf_type *t = bd_btf_strip(btf, &id);
        if (!t || !btf_is_composite(t) || depth > DEPTH_MAX)
                return 0;
        const struct btf_member *m = btf_members(t);
        for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
                if (!*budget)
                        return 0;
                --*budget;
                uint64_t bits = base_bits + btf_member_bit_offset(t, i);
                const char *mn = bd_btf_name(btf, m->name_off);
                if (*mn) {
                        if (strlen(mn) == nlen && !strncmp(mn, name, nlen)) {
                                out->type_id = m->type;
                                out->bit_offset = bits;
                                out->bitfield_bits = btf_member_bitfield_size(t, i);
                                out->size = btf__resolve_size(btf, m->type);
                                return 1;
                        }
                } else if (find_in(btf, m->type, name, nlen, bits, out, depth + 1, budget)) {
                        return 1;
                }
        }
        return 0;
}

/* One lookup's budget: the widest real struct has a few hundred members. */
#define FIND_BUDGET (1u << 16)

struct bd_error *bd_btf_member_in(const struct btf *btf, uint32_t id, const char *name,
                                  struct bd_btf_member *out)
{
        size_t n = strlen(name);
        unsigned budget = FIND_BUDGET;
        if (!n || !find_in(btf, id, name, n, 0, out, 0, &budget)) {
                char tname[160];
                bd_btf_type_name(btf, id, tname, sizeof(tname));
                return bd_error_new(BD_ERR_NOT_FOUND, "no member '%s' in %s", name, tname);
        }
        return NULL;
}

struct bd_error *bd_btf_index_member(const struct bd_btf_index *ix, const char *path,
                                     struct bd_btf_member *out)
{
        const struct btf *btf = ix->btf;
        const char *dot = strchr(path, '.');
        if (!dot || dot == path || !dot[1])
                return bd_error_new(BD_ERR_USAGE, "'%s' is not STRUCT.MEMBER[.MEMBER...]", path);
        char sname[256];
        size_t sl = (size_t)(dot - path);
        if (sl >= sizeof(sname))
                return bd_error_new(BD_ERR_USAGE, "struct name too long in '%s'", path);
        memcpy(sname, path, sl);
        sname[sl] = '\0';
        uint32_t id;
        struct bd_error *err = bd_btf_index_struct(ix, sname, &id);
        if (err)
                return err;
        uint64_t bits = 0;
        const char *p = dot + 1;
        for (;;) {
                const char *next = strchr(p, '.');
                size_t nlen = next ? (size_t)(next - p) : strlen(p);
                struct bd_btf_member m;
                unsigned budget = FIND_BUDGET;
                if (!nlen || !find_in(btf, id, p, nlen, 0, &m, 0, &budget))
                        return bd_error_new(BD_ERR_NOT_FOUND, "no member '%.*s' in '%s'", (int)nlen,
                                            p, path);
                bits += m.bit_offset;
                *out = m;
                out->bit_offset = bits;
                if (!next)
                        return NULL;
                id = m.type_id;
                p = next + 1;
        }
}

struct bd_error *bd_btf_member(const struct btf *btf, const char *path, struct bd_btf_member *out)
{
        /* An index not built: the walk. */
        return bd_btf_index_member(&(struct bd_btf_index){.btf = btf}, path, out);
}

static void type_name(const struct btf *btf, uint32_t id, char *buf, size_t cap, int depth)
{
        const struct btf_type *t = btf__type_by_id(btf, id);
        if (!id) {
                snprintf(buf, cap, "void");
                return;
        }
        if (!t || depth > DEPTH_MAX) {
                snprintf(buf, cap, "?");
                return;
        }
        const char *name = bd_btf_name(btf, t->name_off);
        if (!*name)
                name = "(anon)";
        char inner[256];
        switch (btf_kind(t)) {
        case BTF_KIND_STRUCT:
                snprintf(buf, cap, "struct %s", name);
                break;
        case BTF_KIND_UNION:
                snprintf(buf, cap, "union %s", name);
                break;
        case BTF_KIND_ENUM:
        case BTF_KIND_ENUM64:
                snprintf(buf, cap, "enum %s", name);
                break;
        case BTF_KIND_FWD:
                snprintf(buf, cap, "%s %s", btf_kflag(t) ? "union" : "struct", name);
                break;
        case BTF_KIND_PTR:
                type_name(btf, t->type, inner, sizeof(inner), depth + 1);
                snprintf(buf, cap, "%s *", inner);
                break;
        case BTF_KIND_ARRAY:
                type_name(btf, btf_array(t)->type, inner, sizeof(inner), depth + 1);
                snprintf(buf, cap, "%s[%u]", inner, btf_array(t)->nelems);
                break;
        case BTF_KIND_CONST:
        case BTF_KIND_VOLATILE:
        case BTF_KIND_RESTRICT:
                type_name(btf, t->type, inner, sizeof(inner), depth + 1);
                snprintf(buf, cap, "%s %s",
                         btf_is_const(t)      ? "const"
                         : btf_is_volatile(t) ? "volatile"
                                              : "restrict",
                         inner);
                break;
        case BTF_KIND_TYPE_TAG:
                type_name(btf, t->type, buf, cap, depth + 1);
                break;
        case BTF_KIND_FUNC_PROTO:
                snprintf(buf, cap, "function");
                break;
        default:
                snprintf(buf, cap, "%s", name);
        }
}

void bd_btf_type_name(const struct btf *btf, uint32_t id, char *buf, size_t cap)
{
        type_name(btf, id, buf, cap, 0);
}

static int64_t enumerator_value(const struct btf_type *t, unsigned i)
{
        if (btf_is_enum64(t))
                return (int64_t)btf_enum64_value(&btf_enum64(t)[i]);
        const struct btf_enum *e = &btf_enum(t)[i];
        return btf_kflag(t) ? e->val : (int64_t)(uint32_t)e->val;
}

static struct bd_error *no_enumerator(const char *name)
{
        return bd_error_new(BD_ERR_NOT_FOUND, "btf: no enumerator '%s'", name);
}

struct bd_error *bd_btf_enum_value(const struct btf *btf, const char *name, int64_t *value)
{
        uint32_t n = btf__type_cnt(btf);
        for (uint32_t id = 1; id < n; id++) {
                const struct btf_type *t = btf__type_by_id(btf, id);
                if (!btf_is_enum(t) && !btf_is_enum64(t))
                        continue;
                for (unsigned i = 0; i < btf_vlen(t); i++)
                        if (!strcmp(enumerator_name(btf, t, i), name)) {
                                *value = enumerator_value(t, i);
                                return NULL;
                        }
        }
        return no_enumerator(name);
}

struct bd_error *bd_btf_index_enum(const struct bd_btf_index *ix, const char *name, int64_t *value)
{
        if (!ix->slots)
                return bd_btf_enum_value(ix->btf, name, value);
        const struct bd_btf_index_slot *s = index_slot(ix, name, 0);
        if (!s || !s->enum_id)
                return no_enumerator(name);
        *value = enumerator_value(btf__type_by_id(ix->btf, s->enum_id), s->enum_i);
        return NULL;
}
