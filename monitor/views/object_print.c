#include "object_print.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/bytes.h"
#include "../kernel/btf.h"
#include "output.h"

/* Objects larger than this are not printed whole. */
#define PRINT_MAX_BYTES (1u << 20)
#define ARRAY_SHOWN     64
/* Values printed at most: members may overlap (a union's, or any in a
 * corrupt BTF), so a type may expand to far more values than its bytes,
 * 65535 members of 65535 members and so on; the rest is cut ("..."). */
#define PRINT_MAX_VALUES (1u << 20)

struct printer {
        struct bd_program *prog;
        const struct btf *btf;
        FILE *f;
        int json, max_depth;
        size_t left; /* values that may still be printed */
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
        const struct btf_type *t = bd_btf_strip(btf, &id);
        return t && btf_is_int(t) && t->size == 1 &&
               (btf_int_encoding(t) & BTF_INT_CHAR ||
                !strcmp(bd_btf_name(btf, t->name_off), "char"));
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
                if (!pr->left) {
                        if (!pr->json) {
                                indent(pr, depth + 1);
                                fputs("...\n", pr->f);
                        }
                        break;
                }
                const char *name = bd_btf_name(pr->btf, m->name_off);
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
        pr->left--; /* its callers look first: one is left */
        const struct btf_type *t = bd_btf_strip(pr->btf, &id);
        int64_t size = t ? btf__resolve_size(pr->btf, id) : -1;
        if (!t || size < 0 || (size_t)size > len) {
                fputs(pr->json ? "null" : "<unreadable>", pr->f);
                return;
        }
        uint64_t v;
        int sgn;
        if (btf_is_ptr(t)) {
                put_pointer(pr, bd_le64(buf));
        } else if (!bd_object_scalar(pr->btf, id, buf, len, bit_off, bits, &v, &sgn)) {
                if (sgn)
                        fprintf(pr->f, "%" PRId64, (int64_t)v);
                else
                        fprintf(pr->f, "%" PRIu64, v);
                if (btf_is_enum(t) && !pr->json) {
                        const struct btf_enum *e = btf_enum(t);
                        for (unsigned i = 0; i < btf_vlen(t); i++, e++)
                                if ((uint64_t)(int64_t)e->val == v ||
                                    (uint64_t)(uint32_t)e->val == v) {
                                        fprintf(pr->f, " (%s)", bd_btf_name(pr->btf, e->name_off));
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
                unsigned shown = 0;
                for (; shown < a->nelems && shown < ARRAY_SHOWN && pr->left; shown++) {
                        if (shown)
                                fputs(", ", pr->f);
                        value(pr, a->type, buf + shown * (size_t)esize, len - shown * (size_t)esize,
                              0, 0, depth);
                }
                if (shown < a->nelems && !pr->json)
                        fprintf(pr->f, "%s... (%u in all)", shown ? ", " : "", a->nelems);
                fputs(pr->json ? "]" : " }", pr->f);
        } else if (btf_is_composite(t)) {
                composite(pr, t, buf, len, depth);
        } else {
                fputs(pr->json ? "null" : "<no value>", pr->f);
        }
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
        struct printer pr = {prog, btf, f, json, max_depth, PRINT_MAX_VALUES};
        value(&pr, o->type_id, buf, (size_t)size, o->bit_offset, o->bit_size, 0);
        free(buf);
        return NULL;
}
