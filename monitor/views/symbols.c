#include "symbols.h"

#include <string.h>

#include "../walk/walk_list.h"

struct reading {
        struct bd_modsyms *ms;
        struct bd_kernel *k;
        const struct bd_modsyms_layout *lay;
};

static struct bd_error *one_module(void *arg, uint64_t node)
{
        struct reading *r = arg;
        return bd_modsyms_add(r->ms, r->k, r->lay, node - r->lay->list);
}

struct bd_error *bd_symbols_read_modules(struct bd_kernel *k, const struct bd_modsyms_layout *lay,
                                         uint64_t head, struct bd_modsyms **out)
{
        struct reading r = {NULL, k, lay};
        struct bd_error *err = bd_modsyms_new(&r.ms);
        if (err)
                return err;
        /* No back-link check: a module being loaded or unloaded meanwhile
         * leaves one briefly stale, which is no corruption. */
        struct bd_walk_opts o = {.max = BD_MODSYMS_MAX_MODULES};
        if ((err = bd_list_walk(k, head, &o, one_module, &r))) {
                bd_modsyms_free(r.ms);
                return bd_error_wrap(err, "modules list");
        }
        *out = r.ms;
        return NULL;
}

struct bd_error *bd_symbols_modules(struct bd_program *prog, const struct bd_modsyms **out)
{
        if (!prog->modsyms) {
                struct btf *btf;
                uint64_t head;
                struct bd_modsyms_layout lay;
                struct bd_error *err = bd_program_btf(prog, &btf);
                if (!err && (err = bd_program_symbol(prog, "modules", &head)))
                        err = bd_error_wrap(err, "module symbols");
                if (!err)
                        err = bd_modsyms_layout_from_btf(btf, &lay);
                if (!err)
                        err = bd_symbols_read_modules(prog->k, &lay, head, &prog->modsyms);
                if (err)
                        return err;
        }
        *out = prog->modsyms;
        return NULL;
}

struct bd_error *bd_symbols_find(struct bd_program *prog, const char *name, struct bd_symbol *out)
{
        struct bd_error *err;
        if (!strchr(name, ':')) {
                struct bd_kallsyms *ks;
                if ((err = bd_program_kallsyms(prog, &ks)))
                        return err;
                err = bd_kallsyms_lookup(ks, name, &out->addr, &out->type);
                if (!err) {
                        out->name = name;
                        out->module = NULL;
                        return NULL;
                }
                if (err->code != BD_ERR_NOT_FOUND)
                        return err;
                bd_error_destroy(err);
        }
        const struct bd_modsyms *ms;
        if (!(err = bd_symbols_modules(prog, &ms)))
                err = bd_modsyms_lookup(ms, name, out);
        if (err && !strchr(name, ':'))
                err = bd_error_wrap(err, "not in vmlinux's kallsyms");
        return err;
}
