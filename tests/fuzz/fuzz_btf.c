/* libFuzzer target: BTF as a compromised target could serve it, through
 * everything the monitor does with it: bd_btf_parse, member lookup (by path
 * and by type, into anonymous members), layout resolution for the whole
 * manifest, type names, typedef stripping and enumerator lookup, by
 * libbpf's walk and through the name index.
 *
 * Invariants: nothing loops, recurses without bound or reads a NULL name;
 * a member found lies within 2^40 bits of its struct; a type name is a
 * NUL-terminated string within its buffer; the index finds what the walk
 * finds for every type's name and the first enumerators of each enum (but
 * "", which nothing looks up). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/btf.h"
#include "../../monitor/kernel/layout.h"
#include "fuzz_check.h"

/* Types looked at per input: enough for any blob libFuzzer makes. */
#define TYPES_MAX 256
/* Enumerators compared per enum: each costs a walk of every type. */
#define ENUMS_MAX 8

static void same_answers(const struct btf *btf, const struct bd_btf_index *ix, const char *name)
{
        uint32_t walk = 0, hashed = 0;
        struct bd_error *we = bd_btf_find_struct(btf, name, &walk);
        struct bd_error *he = bd_btf_index_struct(ix, name, &hashed);
        CHECK(!we == !he && walk == hashed);
        bd_error_destroy(we);
        bd_error_destroy(he);
        int64_t wv = 0, hv = 0;
        we = bd_btf_enum_value(btf, name, &wv);
        he = bd_btf_index_enum(ix, name, &hv);
        CHECK(!we == !he && wv == hv);
        bd_error_destroy(we);
        bd_error_destroy(he);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct bd_error *why = NULL;
        struct btf *btf = bd_btf_parse(data, size, &why);
        if (!btf) {
                bd_error_destroy(why);
                return 0;
        }
        static const char *const paths[] = {"task_struct.comm", "task_struct.pid",
                                            "rq.nr_switches", "a.b.c"};
        struct bd_btf_member m;
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                struct bd_error *err = bd_btf_member(btf, paths[i], &m);
                CHECK(err || m.bit_offset < (1ull << 40));
                bd_error_destroy(err);
        }
        struct bd_btf_index index;
        struct bd_error *ix_err = bd_btf_index_init(&index, btf);
        /* Not built only for names that defeat it (it answers by the walk
         * then: nothing to compare). */
        CHECK(!ix_err || ix_err->code == BD_ERR_TARGET);
        const struct bd_btf_index *ix = ix_err ? NULL : &index;
        bd_error_destroy(ix_err);
        uint32_t n = btf__type_cnt(btf);
        for (uint32_t id = 0; id < n && id < TYPES_MAX; id++) {
                const struct btf_type *bt = btf__type_by_id(btf, id);
                const char *tn = bd_btf_name(btf, bt->name_off);
                if (ix && *tn)
                        same_answers(btf, ix, tn);
                for (unsigned i = 0; ix && btf_is_enum(bt) && i < btf_vlen(bt) && i < ENUMS_MAX;
                     i++)
                        if (*(tn = bd_btf_name(btf, btf_enum(bt)[i].name_off)))
                                same_answers(btf, ix, tn);
                char name[128];
                name[sizeof(name) - 1] = 'x';
                bd_btf_type_name(btf, id, name, sizeof(name));
                CHECK(memchr(name, '\0', sizeof(name)));
                uint32_t s = id;
                const struct btf_type *t = bd_btf_strip(btf, &s);
                if (t && btf_is_composite(t)) {
                        struct bd_error *err = bd_btf_member_in(btf, s, "x", &m);
                        bd_error_destroy(err);
                }
        }
        bd_btf_index_release(&index);
        int64_t v;
        bd_error_destroy(bd_btf_enum_value(btf, "PIDTYPE_PID", &v));
        struct bd_layout *l = calloc(1, sizeof(*l));
        CHECK(l);
        bd_layout_from_btf(l, btf);
        free(l);
        btf__free(btf);
        return 0;
}
