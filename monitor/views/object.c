#include "object.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../kernel/btf.h"
#include "output.h"

/* Type chains (typedef of const of typedef...) deeper than this are corrupt
 * BTF; objects larger than this are not printed whole. */
#define CHAIN_MAX       32
#define PRINT_MAX_BYTES (1u << 20)
#define ARRAY_SHOWN     64

static const struct btf_type *strip(const struct btf *btf, uint32_t *id)
{
        const struct btf_type *t = btf__type_by_id(btf, *id);
        for (int i = 0; t && i < CHAIN_MAX && (btf_is_mod(t) || btf_is_typedef(t)); i++)
                t = btf__type_by_id(btf, *id = t->type);
        return t && (btf_is_mod(t) || btf_is_typedef(t)) ? NULL : t;
}

struct bd_error *bd_object_find_type(const struct btf *btf, const char *name, uint32_t *id)
{
        const char *bare = name;
        if (!strncmp(bare, "struct ", 7))
                bare += 7;
        else if (!strncmp(bare, "union ", 6))
                bare += 6;
        struct bd_error *err = bd_btf_find_struct(btf, bare, id);
        if (!err || bare != name)
                return err;
        bd_error_destroy(err);
        int found = btf__find_by_name(btf, name);
        if (found <= 0)
                return bd_error_new(BD_ERR_NOT_FOUND, "no type '%s' in the kernel's BTF", name);
        *id = (uint32_t)found;
        return NULL;
}

/* BTF describes only per-CPU variables on most kernels (pahole's default). */
static int btf_variable(const struct btf *btf, const char *symbol, uint32_t *type, int *percpu)
{
        uint32_t n = btf__type_cnt(btf), var = 0;
        for (uint32_t id = 1; id < n && !var; id++) {
                const struct btf_type *t = btf__type_by_id(btf, id);
                if (btf_is_var(t) && !strcmp(btf__name_by_offset(btf, t->name_off), symbol)) {
                        var = id;
                        *type = t->type;
                }
        }
        if (!var)
                return 0;
        *percpu = 0;
        for (uint32_t id = 1; id < n; id++) {
                const struct btf_type *t = btf__type_by_id(btf, id);
                if (!btf_is_datasec(t) ||
                    strcmp(btf__name_by_offset(btf, t->name_off), ".data..percpu"))
                        continue;
                const struct btf_var_secinfo *v = btf_var_secinfos(t);
                for (unsigned i = 0; i < btf_vlen(t); i++, v++)
                        if (v->type == var)
                                *percpu = 1;
        }
        return 1;
}

static const struct {
        const char *symbol, *type;
} well_known[] = {
    {"init_task", "task_struct"},     {"init_mm", "mm_struct"}, {"init_pid_ns", "pid_namespace"},
    {"init_uts_ns", "uts_namespace"}, {"jiffies_64", "u64"},    {"jiffies", "long unsigned int"},
};

struct bd_error *bd_object_variable(struct bd_program *prog, const char *symbol,
                                    const char *type_name, struct bd_object *out, int *percpu)
{
        struct btf *btf;
        uint64_t addr;
        struct bd_error *err = bd_program_btf(prog, &btf);
        if (!err)
                err = bd_program_symbol(prog, symbol, &addr);
        if (err)
                return err;
        memset(out, 0, sizeof(*out));
        out->addr = addr;
        *percpu = 0;
        if (type_name)
                return bd_object_find_type(btf, type_name, &out->type_id);
        if (btf_variable(btf, symbol, &out->type_id, percpu))
                return NULL;
        for (size_t i = 0; i < sizeof(well_known) / sizeof(well_known[0]); i++)
                if (!strcmp(symbol, well_known[i].symbol))
                        return bd_object_find_type(btf, well_known[i].type, &out->type_id);
        return bd_error_new(BD_ERR_NOT_FOUND,
                            "'%s' has no type in the kernel's BTF (it describes only per-CPU "
                            "variables): give --type STRUCT",
                            symbol);
}

static struct bd_error *deref(struct bd_program *prog, const struct btf *btf, struct bd_object *o,
                              const struct btf_type *t, const char *step)
{
        uint64_t target;
        struct bd_error *err = bd_kernel_read_u64(prog->k, o->addr, &target);
        if (err)
                return bd_error_wrap(err, "following the pointer before '%s'", step);
        if (!target)
                return bd_error_new(BD_ERR_NOT_FOUND, "NULL pointer before '%s'", step);
        (void)btf;
        o->addr = target;
        o->type_id = t->type;
        return NULL;
}

static struct bd_error *member_step(struct bd_program *prog, const struct btf *btf,
                                    struct bd_object *o, const char *name)
{
        uint32_t id = o->type_id;
        const struct btf_type *t = strip(btf, &id);
        if (t && btf_is_ptr(t)) {
                struct bd_error *err = deref(prog, btf, o, t, name);
                if (err)
                        return err;
                id = o->type_id;
                t = strip(btf, &id);
        }
        if (!t || !btf_is_composite(t))
                return bd_error_new(BD_ERR_NOT_FOUND, "'.%s': not a struct or union", name);
        char tname[160], path[256];
        bd_btf_type_name(btf, id, tname, sizeof(tname));
        const char *bare = strchr(tname, ' ') ? strchr(tname, ' ') + 1 : tname;
        snprintf(path, sizeof(path), "%s.%s", bare, name);
        struct bd_btf_member m;
        struct bd_error *err = bd_btf_member(btf, path, &m);
        if (err)
                return err;
        o->addr += m.bit_offset / 8;
        o->bit_offset = (uint8_t)(m.bit_offset % 8);
        o->bit_size = (uint8_t)m.bitfield_bits;
        o->type_id = m.type_id;
        return NULL;
}

static struct bd_error *index_step(struct bd_program *prog, const struct btf *btf,
                                   struct bd_object *o, uint64_t idx)
{
        uint32_t id = o->type_id;
        const struct btf_type *t = strip(btf, &id);
        uint32_t elem;
        if (t && btf_is_array(t)) {
                const struct btf_array *a = btf_array(t);
                if (idx >= a->nelems && a->nelems)
                        return bd_error_new(BD_ERR_RANGE, "[%" PRIu64 "]: past the array's %u", idx,
                                            a->nelems);
                elem = a->type;
        } else if (t && btf_is_ptr(t)) {
                struct bd_error *err = deref(prog, btf, o, t, "[");
                if (err)
                        return err;
                elem = o->type_id;
        } else {
                return bd_error_new(BD_ERR_NOT_FOUND, "[%" PRIu64 "]: not an array or pointer",
                                    idx);
        }
        int64_t size = btf__resolve_size(btf, elem);
        if (size <= 0 || idx > (UINT64_MAX >> 1) / (uint64_t)size)
                return bd_error_new(BD_ERR_RANGE, "[%" PRIu64 "]: element size unknown", idx);
        o->addr += idx * (uint64_t)size;
        o->type_id = elem;
        return NULL;
}

struct bd_error *bd_object_path(struct bd_program *prog, const struct bd_object *in,
                                const char *path, struct bd_object *out)
{
        struct btf *btf;
        struct bd_error *err = bd_program_btf(prog, &btf);
        if (err)
                return err;
        *out = *in;
        const char *s = path;
        while (*s && !err) {
                if (out->bit_size)
                        return bd_error_new(BD_ERR_NOT_FOUND, "'%s': a bitfield has no members", s);
                if (*s == '.' || (s == path && *s != '[')) {
                        s += *s == '.';
                        char name[128];
                        size_t n = strcspn(s, ".[");
                        if (!n || n >= sizeof(name))
                                return bd_error_new(BD_ERR_USAGE, "bad member name at '%s'", s);
                        memcpy(name, s, n);
                        name[n] = '\0';
                        s += n;
                        err = member_step(prog, btf, out, name);
                } else if (*s == '[') {
                        char *end;
                        uint64_t idx = strtoull(s + 1, &end, 0);
                        if (end == s + 1 || *end != ']')
                                return bd_error_new(BD_ERR_USAGE, "bad index at '%s'", s);
                        s = end + 1;
                        err = index_step(prog, btf, out, idx);
                } else {
                        return bd_error_new(BD_ERR_USAGE, "unexpected '%s'", s);
                }
        }
        return err ? bd_error_wrap(err, "%s", path) : NULL;
}

static uint64_t load_le(const uint8_t *p, size_t n)
{
        uint64_t v = 0;
        for (size_t i = 0; i < n && i < 8; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

/* An integer-like value from buf: sign-extended when signed. */
static int scalar(const struct btf *btf, uint32_t id, const uint8_t *buf, size_t avail,
                  unsigned bit_off, unsigned bits, uint64_t *v, int *sgn)
{
        const struct btf_type *t = strip(btf, &id);
        if (!t)
                return -1;
        size_t size;
        *sgn = 0;
        if (btf_is_int(t)) {
                size = t->size;
                *sgn = !!(btf_int_encoding(t) & BTF_INT_SIGNED);
        } else if (btf_is_enum(t) || btf_is_enum64(t)) {
                size = t->size;
                *sgn = btf_kflag(t);
        } else if (btf_is_ptr(t)) {
                size = 8;
        } else {
                return -1;
        }
        if (size > 8 || !size || size > avail)
                return -1;
        /* A bitfield may straddle its type's storage unit: take what the
         * buffer holds, up to a word. */
        uint64_t raw = load_le(buf, bits ? (avail < 8 ? avail : 8) : size);
        if (bits) {
                raw >>= bit_off;
                if (bits < 64)
                        raw &= (1ull << bits) - 1;
        } else {
                bits = (unsigned)size * 8;
        }
        if (*sgn && bits < 64 && (raw >> (bits - 1)) & 1)
                raw |= ~0ull << bits;
        *v = raw;
        return 0;
}

struct printer {
        struct bd_program *prog;
        const struct btf *btf;
        FILE *f;
        int json, max_depth;
};

static void indent(struct printer *pr, int depth)
{
        if (!pr->json)
                fprintf(pr->f, "%*s", 2 * depth, "");
}

static void put_chars(struct printer *pr, const uint8_t *buf, size_t n)
{
        size_t len = strnlen((const char *)buf, n);
        char *s = malloc(len + 1);
        if (!s)
                return;
        memcpy(s, buf, len);
        s[len] = '\0';
        if (pr->json) {
                bd_json_string(pr->f, s);
        } else {
                fputc('"', pr->f);
                for (size_t i = 0; i < len; i++) {
                        unsigned char c = (unsigned char)s[i];
                        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
                                fprintf(pr->f, "\\x%02x", c);
                        else
                                fputc(c, pr->f);
                }
                fputc('"', pr->f);
        }
        free(s);
}

static void put_pointer(struct printer *pr, uint64_t v)
{
        struct bd_kallsyms *ks;
        const char *name;
        uint64_t off, size;
        struct bd_error *err = NULL;
        if (pr->json) {
                fprintf(pr->f, "\"0x%" PRIx64 "\"", v);
                return;
        }
        fprintf(pr->f, "0x%" PRIx64, v);
        if (v && !(err = bd_program_kallsyms(pr->prog, &ks)) &&
            !(err = bd_kallsyms_symbolize(ks, v, &name, &off, &size, NULL)) &&
            (off < size || !size))
                fprintf(pr->f, " <%s+0x%" PRIx64 ">", name, off);
        bd_error_destroy(err);
}

static void value(struct printer *pr, uint32_t id, const uint8_t *buf, size_t len, unsigned bit_off,
                  unsigned bits, int depth);

static int is_char(const struct btf *btf, uint32_t id)
{
        const struct btf_type *t = strip(btf, &id);
        return t && btf_is_int(t) && t->size == 1 &&
               (btf_int_encoding(t) & BTF_INT_CHAR ||
                !strcmp(btf__name_by_offset(btf, t->name_off), "char"));
}

static void composite(struct printer *pr, const struct btf_type *t, const uint8_t *buf, size_t len,
                      int depth)
{
        if (depth >= pr->max_depth) {
                fputs(pr->json ? "null" : "{...}", pr->f);
                return;
        }
        fputs(pr->json ? "{" : "{\n", pr->f);
        const struct btf_member *m = btf_members(t);
        int first = 1;
        for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
                uint64_t bit = btf_member_bit_offset(t, i);
                unsigned bits = btf_member_bitfield_size(t, i);
                if (bit / 8 >= len)
                        continue;
                const char *name = btf__name_by_offset(pr->btf, m->name_off);
                if (pr->json) {
                        fprintf(pr->f, "%s", first ? "" : ",");
                        bd_json_string(pr->f, name && *name ? name : "(anonymous)");
                        fputc(':', pr->f);
                } else {
                        indent(pr, depth + 1);
                        fprintf(pr->f, ".%s = ", name && *name ? name : "(anonymous)");
                }
                value(pr, m->type, buf + bit / 8, len - bit / 8, (unsigned)(bit % 8), bits,
                      depth + 1);
                if (!pr->json)
                        fputs(",\n", pr->f);
                first = 0;
        }
        if (!pr->json)
                indent(pr, depth);
        fputc('}', pr->f);
}

static void value(struct printer *pr, uint32_t id, const uint8_t *buf, size_t len, unsigned bit_off,
                  unsigned bits, int depth)
{
        const struct btf_type *t = strip(pr->btf, &id);
        int64_t size = t ? btf__resolve_size(pr->btf, id) : -1;
        if (!t || size < 0 || (size_t)size > len) {
                fputs(pr->json ? "null" : "<unreadable>", pr->f);
                return;
        }
        uint64_t v;
        int sgn;
        if (btf_is_ptr(t)) {
                put_pointer(pr, load_le(buf, 8));
        } else if (!scalar(pr->btf, id, buf, len, bit_off, bits, &v, &sgn)) {
                if (sgn)
                        fprintf(pr->f, "%" PRId64, (int64_t)v);
                else
                        fprintf(pr->f, "%" PRIu64, v);
                if (btf_is_enum(t) && !pr->json) {
                        const struct btf_enum *e = btf_enum(t);
                        for (unsigned i = 0; i < btf_vlen(t); i++, e++)
                                if ((uint64_t)(int64_t)e->val == v ||
                                    (uint64_t)(uint32_t)e->val == v) {
                                        fprintf(pr->f, " (%s)",
                                                btf__name_by_offset(pr->btf, e->name_off));
                                        break;
                                }
                }
        } else if (btf_is_array(t)) {
                const struct btf_array *a = btf_array(t);
                int64_t esize = btf__resolve_size(pr->btf, a->type);
                if (is_char(pr->btf, a->type)) {
                        put_chars(pr, buf, a->nelems);
                        return;
                }
                if (esize <= 0) {
                        fputs(pr->json ? "[]" : "{}", pr->f);
                        return;
                }
                fputs(pr->json ? "[" : "{ ", pr->f);
                unsigned shown = a->nelems < ARRAY_SHOWN ? a->nelems : ARRAY_SHOWN;
                for (unsigned i = 0; i < shown; i++) {
                        if (i)
                                fputs(", ", pr->f);
                        value(pr, a->type, buf + i * (size_t)esize, len - i * (size_t)esize, 0, 0,
                              depth);
                }
                if (shown < a->nelems && !pr->json)
                        fprintf(pr->f, ", ... (%u in all)", a->nelems);
                fputs(pr->json ? "]" : " }", pr->f);
        } else if (btf_is_composite(t)) {
                composite(pr, t, buf, len, depth);
        } else {
                fputs(pr->json ? "null" : "<no value>", pr->f);
        }
}

struct bd_error *bd_object_read_uint(struct bd_program *prog, const struct bd_object *o,
                                     uint64_t *v, int *is_signed)
{
        struct btf *btf;
        struct bd_error *err = bd_program_btf(prog, &btf);
        if (err)
                return err;
        uint8_t buf[8];
        uint32_t id = o->type_id;
        const struct btf_type *t = strip(btf, &id);
        size_t n = o->bit_size ? 8 : t && btf_is_ptr(t) ? 8 : t ? t->size : 0;
        if (!n || n > 8)
                return bd_error_new(BD_ERR_NOT_FOUND, "not an integer or pointer");
        if ((err = bd_kernel_read(prog->k, o->addr, buf, n)))
                return err;
        int sgn;
        if (scalar(btf, o->type_id, buf, n, o->bit_offset, o->bit_size, v, &sgn))
                return bd_error_new(BD_ERR_NOT_FOUND, "not an integer or pointer");
        if (is_signed)
                *is_signed = sgn;
        return NULL;
}

struct bd_error *bd_object_print(struct bd_program *prog, const struct bd_object *o, FILE *f,
                                 int json, int max_depth)
{
        struct btf *btf;
        struct bd_error *err = bd_program_btf(prog, &btf);
        if (err)
                return err;
        int64_t size = o->bit_size ? 8 : btf__resolve_size(btf, o->type_id);
        if (size < 0)
                return bd_error_new(BD_ERR_NOT_FOUND, "the object's type has no size");
        if (size > PRINT_MAX_BYTES)
                return bd_error_new(BD_ERR_RANGE, "%" PRId64 " bytes: too large to print", size);
        uint8_t *buf = malloc(size ? (size_t)size : 1);
        if (!buf)
                return &bd_error_nomem;
        /* One read for the whole object: members print from the copy. */
        if ((err = bd_kernel_read(prog->k, o->addr, buf, (size_t)size))) {
                free(buf);
                return err;
        }
        struct printer pr = {prog, btf, f, json, max_depth};
        value(&pr, o->type_id, buf, (size_t)size, o->bit_offset, o->bit_size, 0);
        free(buf);
        return NULL;
}
