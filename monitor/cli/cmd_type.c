/* bdmon type: a structure's layout, pahole-like, from the kernel's BTF. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../kernel/btf.h"
#include "../views/output.h"
#include "cli.h"

/* Members shown at most: hostile BTF can nest a struct's own type in its
 * anonymous members and make the listing exponential. */
#define MEMBERS_SHOWN 65536

struct layout_out {
        struct cli *cli;
        int first;
        unsigned left;
};

static void print_member(struct layout_out *o, const struct btf *btf, const char *name,
                         uint32_t type_id, uint64_t bits, uint32_t bf, int depth)
{
        char tname[256];
        bd_btf_type_name(btf, type_id, tname, sizeof(tname));
        int64_t size = btf__resolve_size(btf, type_id);
        if (o->cli->json) {
                printf("%s{\"name\":", o->first ? "" : ",");
                bd_json_string(stdout, name);
                printf(",\"offset\":%" PRIu64 ",\"bit_offset\":%" PRIu64 ",\"size\":%" PRId64,
                       bits / 8, bits, size);
                if (bf)
                        printf(",\"bits\":%u", bf);
                printf(",\"depth\":%d,\"type\":", depth);
                bd_json_string(stdout, tname);
                printf("}");
                o->first = 0;
                return;
        }
        char off[32], sz[32];
        if (bf || bits % 8)
                snprintf(off, sizeof(off), "%" PRIu64 ":%u", bits / 8, (unsigned)(bits % 8));
        else
                snprintf(off, sizeof(off), "%" PRIu64, bits / 8);
        if (bf)
                snprintf(sz, sizeof(sz), ":%u", bf);
        else
                snprintf(sz, sizeof(sz), "%" PRId64, size);
        printf("%10s %6s  %*s%-*s %s\n", off, sz, 2 * depth, "", 32 - 2 * depth, name, tname);
}

/* Members in declaration order; an anonymous struct or union is shown, then
 * its members one level in, at their offsets in the outer struct. */
static void print_members(struct layout_out *o, const struct btf *btf, uint32_t id, uint64_t base,
                          int depth)
{
        const struct btf_type *t = btf__type_by_id(btf, id);
        if (!t || !btf_is_composite(t) || depth > 16)
                return;
        const struct btf_member *m = btf_members(t);
        for (unsigned i = 0; i < btf_vlen(t) && o->left; i++, m++, o->left--) {
                uint64_t bits = base + btf_member_bit_offset(t, i);
                const char *name = bd_btf_name(btf, m->name_off);
                int anon = !name || !*name;
                print_member(o, btf, anon ? "(anonymous)" : name, m->type, bits,
                             btf_member_bitfield_size(t, i), depth);
                if (anon) {
                        uint32_t sub = m->type;
                        if (bd_btf_strip(btf, &sub))
                                print_members(o, btf, sub, bits, depth + 1);
                }
        }
}

int cmd_type(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)nargs;
        const char *what = args[0];
        struct bd_program *prog = NULL;
        struct btf *btf = NULL;
        struct bd_error *err = cli_open_program(cli, p, &prog);
        if (!err)
                err = bd_program_btf(prog, &btf);
        uint32_t id = 0;
        struct bd_btf_member m;
        int member = strchr(what, '.') != NULL;
        if (!err)
                err = member ? bd_btf_member(btf, what, &m) : bd_btf_find_struct(btf, what, &id);
        int rc = 0;
        if (err) {
                rc = cli_report(bd_error_wrap(err, "type"));
        } else if (member) {
                char tname[256];
                bd_btf_type_name(btf, m.type_id, tname, sizeof(tname));
                if (cli->json) {
                        printf("{\"member\":");
                        bd_json_string(stdout, what);
                        printf(",\"offset\":%" PRIu64 ",\"bit_offset\":%" PRIu64
                               ",\"size\":%" PRId64,
                               m.bit_offset / 8, m.bit_offset, m.size);
                        if (m.bitfield_bits)
                                printf(",\"bits\":%u", m.bitfield_bits);
                        printf(",\"type\":");
                        bd_json_string(stdout, tname);
                        printf("}\n");
                } else {
                        struct layout_out o = {cli, 1, MEMBERS_SHOWN};
                        print_member(&o, btf, what, m.type_id, m.bit_offset, m.bitfield_bits, 0);
                }
        } else {
                const struct btf_type *t = btf__type_by_id(btf, id);
                const char *kind = btf_is_union(t) ? "union" : "struct";
                struct layout_out o = {cli, 1, MEMBERS_SHOWN};
                if (cli->json) {
                        printf("{\"kind\":\"%s\",\"name\":", kind);
                        bd_json_string(stdout, what);
                        printf(",\"size\":%u,\"members\":[", t->size);
                } else {
                        printf("%s %s {\n%10s %6s  %-32s %s\n", kind, what, "OFFSET", "SIZE",
                               "MEMBER", "TYPE");
                }
                print_members(&o, btf, id, 0, 0);
                if (!o.left)
                        fprintf(stderr,
                                "bdmon: %s: more than %d members (nested in themselves?): "
                                "the rest not shown\n",
                                what, MEMBERS_SHOWN);
                if (cli->json)
                        printf("]}\n");
                else
                        printf("}; /* size %u */\n", t->size);
        }
        bd_program_close(prog);
        return rc ? rc : cli_flush();
}
