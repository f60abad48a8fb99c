#include "object.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../kernel/btf.h"

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
                if (btf_is_var(t) && !strcmp(bd_btf_name(btf, t->name_off), symbol)) {
                        var = id;
                        *type = t->type;
                }
        }
        if (!var)
                return 0;
        *percpu = 0;
        for (uint32_t id = 1; id < n; id++) {
                const struct btf_type *t = btf__type_by_id(btf, id);
                if (!btf_is_datasec(t) || strcmp(bd_btf_name(btf, t->name_off), ".data..percpu"))
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
        const struct btf_type *t = bd_btf_strip(btf, &id);
        if (t && btf_is_ptr(t)) {
                struct bd_error *err = deref(prog, btf, o, t, name);
                if (err)
                        return err;
                id = o->type_id;
                t = bd_btf_strip(btf, &id);
        }
        if (!t || !btf_is_composite(t))
                return bd_error_new(BD_ERR_NOT_FOUND, "'.%s': not a struct or union", name);
        struct bd_btf_member m;
        struct bd_error *err = bd_btf_member_in(btf, id, name, &m);
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
        const struct btf_type *t = bd_btf_strip(btf, &id);
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

int bd_object_scalar(const struct btf *btf, uint32_t id, const uint8_t *buf, size_t avail,
                     unsigned bit_off, unsigned bits, uint64_t *v, int *sgn)
{
        const struct btf_type *t = bd_btf_strip(btf, &id);
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

struct bd_error *bd_object_value(struct bd_program *prog, const struct bd_object *o, uint64_t *v,
                                 int *is_signed)
{
        struct btf *btf;
        struct bd_error *err = bd_program_btf(prog, &btf);
        if (err)
                return err;
        uint32_t id = o->type_id;
        const struct btf_type *t = bd_btf_strip(btf, &id);
        size_t size = !t ? 0 : btf_is_ptr(t) ? 8 : t->size;
        /* A bitfield is read a word at a time, as it may straddle its unit. */
        size_t len = o->bit_size ? 8 : size;
        uint8_t buf[8] = {0};
        if (!size || size > 8)
                return bd_error_new(BD_ERR_USAGE, "not an integer, enum or pointer");
        if ((err = bd_kernel_read(prog->k, o->addr, buf, len)))
                return err;
        int sgn;
        if (bd_object_scalar(btf, o->type_id, buf, len, o->bit_offset, o->bit_size, v, &sgn))
                return bd_error_new(BD_ERR_USAGE, "not an integer, enum or pointer");
        if (is_signed)
                *is_signed = sgn;
        return NULL;
}
