/* Module symbol tables as Linux 6.1 keeps them (kernel/module/kallsyms.c):
 * mod->kallsyms points at the full ELF symbol and string tables while the
 * module initialises, at the cut-down core copy (mod->core_kallsyms) once
 * it is live; typetab holds the nm-style letter add_kallsyms() worked out
 * while the section headers were still there. The kernel records no size
 * for the string table, so it is read only as far as the kept symbols'
 * names reach. */
#include "modsyms.h"

#include <elf.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/bytes.h"
#include "../../common/grow.h"
#include "btf.h"
#include "kallsyms.h"

/* Bytes of struct mod_kallsyms read: 32 in 6.1. */
#define MK_READ_MAX 64

struct mod_entry {
        char name[BD_MODSYMS_NAME_MAX];
        char *strtab; /* its symbols' names point into it */
};

struct sym_entry {
        const char *name;
        uint64_t addr;
        uint32_t module;
        char type;
};

struct bd_modsyms {
        struct mod_entry *mods;
        size_t nmods, capmods;
        struct sym_entry *syms;
        size_t nsyms, capsyms;
        uint64_t bytes; /* read so far, against BD_MODSYMS_MAX_BYTES */
        size_t skipped;
        char why[256]; /* the first skipped module's reason */
};

static struct bd_error *member(const struct btf *btf, const char *path, int64_t size, uint64_t *off)
{
        struct bd_btf_member m;
        struct bd_error *err = bd_btf_member(btf, path, &m);
        if (err)
                return err;
        if (m.bitfield_bits || m.bit_offset % 8 || (size && m.size != size))
                return bd_error_new(BD_ERR_PROTOCOL, "BTF's %s is not a %lld-byte member", path,
                                    (long long)size);
        *off = m.bit_offset / 8;
        return NULL;
}

struct bd_error *bd_modsyms_layout_from_btf(const struct btf *btf, struct bd_modsyms_layout *out)
{
        struct bd_modsyms_layout l;
        struct bd_btf_member name;
        int64_t unformed;
        struct bd_error *err = NULL;
        if ((err = member(btf, "module.list", 16, &l.list)) ||
            (err = member(btf, "module.state", 4, &l.state)) ||
            (err = member(btf, "module.kallsyms", 8, &l.kallsyms)) ||
            (err = member(btf, "mod_kallsyms.symtab", 8, &l.symtab)) ||
            (err = member(btf, "mod_kallsyms.num_symtab", 4, &l.num_symtab)) ||
            (err = member(btf, "mod_kallsyms.strtab", 8, &l.strtab)) ||
            (err = member(btf, "mod_kallsyms.typetab", 8, &l.typetab)) ||
            (err = bd_btf_member(btf, "module.name", &name)) ||
            (err = bd_btf_enum_value(btf, "MODULE_STATE_UNFORMED", &unformed)))
                return bd_error_wrap(err, "module symbols");
        if (name.bitfield_bits || name.bit_offset % 8 || name.size < 1 ||
            name.size > BD_MODSYMS_NAME_MAX)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "module symbols: BTF's module.name is %lld bytes",
                                    (long long)name.size);
        l.name = name.bit_offset / 8;
        l.name_size = (uint64_t)name.size;
        l.unformed = (uint32_t)unformed;
        /* The four members are read at once: their span, from offset 0. */
        l.mk_size = 0;
        const uint64_t ends[] = {l.symtab + 8, l.num_symtab + 4, l.strtab + 8, l.typetab + 8};
        for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
                if (ends[i] > l.mk_size)
                        l.mk_size = ends[i];
        if (l.mk_size > MK_READ_MAX)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "module symbols: BTF's struct mod_kallsyms spans %llu bytes",
                                    (unsigned long long)l.mk_size);
        *out = l;
        return NULL;
}

struct bd_error *bd_modsyms_new(struct bd_modsyms **out)
{
        *out = calloc(1, sizeof(**out));
        return *out ? NULL : &bd_error_nomem;
}

void bd_modsyms_free(struct bd_modsyms *ms)
{
        if (!ms)
                return;
        for (size_t i = 0; i < ms->nmods; i++)
                free(ms->mods[i].strtab);
        free(ms->mods);
        free(ms->syms);
        free(ms);
}

/* Names become terminal output and Lua strings: printable ASCII only, and
 * no ':', which would make MODULE:NAME mean two things. */
static int plain_name(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] <= ' ' || s[i] > '~' || s[i] == ':')
                        return 0;
        return n > 0;
}

static struct bd_error *spend(struct bd_modsyms *ms, uint64_t bytes)
{
        if (bytes > BD_MODSYMS_MAX_BYTES - ms->bytes)
                return bd_error_new(BD_ERR_RANGE,
                                    "%llu more bytes of symbol tables would pass the %u-byte "
                                    "budget for all modules",
                                    (unsigned long long)bytes, BD_MODSYMS_MAX_BYTES);
        ms->bytes += bytes;
        return NULL;
}

#define SYM_SIZE sizeof(Elf64_Sym)

/* What a name lookup may find, as the kernel's own lookups skip undefined
 * symbols; sections, files and untyped labels name no variable. */
static int wanted(const uint8_t *sym)
{
        unsigned type = ELF64_ST_TYPE(sym[offsetof(Elf64_Sym, st_info)]);
        const uint8_t *shndx = sym + offsetof(Elf64_Sym, st_shndx);
        return (type == STT_FUNC || type == STT_OBJECT) && (shndx[0] | shndx[1]) != SHN_UNDEF &&
               bd_le64(sym + offsetof(Elf64_Sym, st_value)) &&
               bd_le32(sym + offsetof(Elf64_Sym, st_name));
}

/* The string table from its start to len bytes, or less when the pages
 * past the name that starts at last are not mapped: a table ending near a
 * page boundary is followed by a guard page. */
static struct bd_error *read_strtab(struct bd_kernel *k, uint64_t strtab, uint64_t last, char *buf,
                                    size_t *len)
{
        struct bd_error *err = bd_kernel_read(k, strtab, buf, *len);
        if (err && !bd_err_fatal(err) && err->has_address && err->address > strtab + last &&
            err->address < strtab + *len) {
                *len = (size_t)(err->address - strtab);
                bd_error_destroy(err);
                err = bd_kernel_read(k, strtab, buf, *len);
        }
        return err;
}

/* The symbols of one module, appended to ms only if all of them check
 * out; *names gets the string table they point into (NULL if none). */
static struct bd_error *add_symbols(struct bd_modsyms *ms, struct bd_kernel *k, uint64_t symtab,
                                    uint32_t num, uint64_t strtab, uint64_t typetab, char **names)
{
        *names = NULL;
        if (num > BD_MODSYMS_MAX_SYMS)
                return bd_error_new(BD_ERR_PROTOCOL, "num_symtab %u is over the limit of %u", num,
                                    BD_MODSYMS_MAX_SYMS);
        if (!num)
                return NULL;
        if (!symtab || symtab % 8 || !strtab || !typetab)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "bad tables: symtab 0x%llx, strtab 0x%llx, typetab 0x%llx",
                                    (unsigned long long)symtab, (unsigned long long)strtab,
                                    (unsigned long long)typetab);
        struct bd_error *err = spend(ms, (uint64_t)num * (SYM_SIZE + 1));
        if (err)
                return err;
        uint8_t *syms = malloc((size_t)num * SYM_SIZE);
        char *types = malloc(num);
        char *str = NULL;
        if (!syms || !types) {
                err = &bd_error_nomem;
                goto out;
        }
        struct bd_kernel_iov iov[] = {{symtab, syms, (size_t)num * SYM_SIZE},
                                      {typetab, types, num}};
        if ((err = bd_kernel_read_batch(k, iov, 2))) {
                err = bd_error_wrap(err, "symtab and typetab");
                goto out;
        }
        /* No real name is longer than KSYM_NAME_LEN, so no real string
         * table is longer than that for each of its symbols. */
        uint64_t str_max = (uint64_t)num * BD_KALLSYMS_NAME_MAX, last = 0;
        size_t keep = 0;
        for (uint32_t i = 0; i < num; i++) {
                const uint8_t *s = syms + (size_t)i * SYM_SIZE;
                if (!wanted(s))
                        continue;
                uint32_t off = bd_le32(s + offsetof(Elf64_Sym, st_name));
                if (off >= str_max) {
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           "symbol %u's name is at strtab+%u, past the %llu "
                                           "bytes that %u names can fill",
                                           i, off, (unsigned long long)str_max, num);
                        goto out;
                }
                if (off > last)
                        last = off;
                keep++;
        }
        if (!keep)
                goto out;
        size_t len =
            (size_t)(last + BD_KALLSYMS_NAME_MAX < str_max ? last + BD_KALLSYMS_NAME_MAX : str_max);
        if ((err = spend(ms, len)))
                goto out;
        if (!(str = malloc(len))) {
                err = &bd_error_nomem;
                goto out;
        }
        if ((err = read_strtab(k, strtab, last, str, &len))) {
                err = bd_error_wrap(err, "strtab");
                goto out;
        }
        if (bd_grow((void **)&ms->syms, &ms->capsyms, ms->nsyms + keep, sizeof(*ms->syms), 256)) {
                err = &bd_error_nomem;
                goto out;
        }
        size_t n = ms->nsyms;
        for (uint32_t i = 0; i < num; i++) {
                const uint8_t *s = syms + (size_t)i * SYM_SIZE;
                if (!wanted(s))
                        continue;
                uint32_t off = bd_le32(s + offsetof(Elf64_Sym, st_name));
                size_t room = len - off < BD_KALLSYMS_NAME_MAX ? len - off : BD_KALLSYMS_NAME_MAX;
                const char *name = str + off, *nul = memchr(name, '\0', room);
                if (!nul || !plain_name(name, (size_t)(nul - name))) {
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           nul ? "symbol %u's name at strtab+%u is no printable "
                                                 "name"
                                               : "symbol %u's name at strtab+%u has no end",
                                           i, off);
                        goto out;
                }
                char t = types[i];
                ms->syms[n++] = (struct sym_entry){
                    .name = name,
                    .addr = bd_le64(s + offsetof(Elf64_Sym, st_value)),
                    .module = (uint32_t)ms->nmods,
                    .type = (t >= 'a' && t <= 'z') || (t >= 'A' && t <= 'Z') ? t : '?',
                };
        }
        ms->nsyms = n;
        *names = str;
        str = NULL;
out:
        free(str);
        free(types);
        free(syms);
        return err;
}

static struct bd_error *add_module(struct bd_modsyms *ms, struct bd_kernel *k,
                                   const struct bd_modsyms_layout *lay, uint64_t mod)
{
        uint32_t state;
        uint64_t kallsyms;
        char name[BD_MODSYMS_NAME_MAX];
        struct bd_kernel_iov iov[] = {{mod + lay->state, &state, sizeof(state)},
                                      {mod + lay->kallsyms, &kallsyms, sizeof(kallsyms)},
                                      {mod + lay->name, name, lay->name_size}};
        struct bd_error *err = bd_kernel_read_batch(k, iov, 3);
        if (err)
                return err;
        /* Its tables are not set up until it is formed. */
        if (state == lay->unformed)
                return NULL;
        const char *nul = memchr(name, '\0', lay->name_size);
        if (!nul || !plain_name(name, (size_t)(nul - name)))
                return bd_error_new(BD_ERR_PROTOCOL, "its name is no printable name");
        if (!kallsyms || kallsyms % 8)
                return bd_error_new(BD_ERR_PROTOCOL, "%s: kallsyms pointer 0x%llx", name,
                                    (unsigned long long)kallsyms);
        uint8_t mk[MK_READ_MAX];
        if ((err = bd_kernel_read(k, kallsyms, mk, lay->mk_size)))
                return bd_error_wrap(err, "%s: struct mod_kallsyms", name);
        if (bd_grow((void **)&ms->mods, &ms->capmods, ms->nmods + 1, sizeof(*ms->mods), 64))
                return &bd_error_nomem;
        struct mod_entry *e = &ms->mods[ms->nmods];
        memcpy(e->name, name, (size_t)(nul - name) + 1);
        err = add_symbols(ms, k, bd_le64(mk + lay->symtab), bd_le32(mk + lay->num_symtab),
                          bd_le64(mk + lay->strtab), bd_le64(mk + lay->typetab), &e->strtab);
        if (err)
                return bd_error_wrap(err, "%s", name);
        ms->nmods++;
        return NULL;
}

struct bd_error *bd_modsyms_add(struct bd_modsyms *ms, struct bd_kernel *k,
                                const struct bd_modsyms_layout *lay, uint64_t mod)
{
        struct bd_error *err = add_module(ms, k, lay, mod);
        if (!err || bd_err_fatal(err))
                return err;
        if (!ms->skipped++)
                snprintf(ms->why, sizeof(ms->why), "module at 0x%llx: %s", (unsigned long long)mod,
                         err->message);
        bd_error_destroy(err);
        return NULL;
}

size_t bd_modsyms_modules(const struct bd_modsyms *ms)
{
        return ms->nmods;
}

size_t bd_modsyms_count(const struct bd_modsyms *ms)
{
        return ms->nsyms;
}

size_t bd_modsyms_skipped(const struct bd_modsyms *ms, const char **why)
{
        *why = ms->why;
        return ms->skipped;
}

void bd_modsyms_at(const struct bd_modsyms *ms, size_t i, struct bd_symbol *out)
{
        const struct sym_entry *s = &ms->syms[i];
        *out = (struct bd_symbol){s->name, ms->mods[s->module].name, s->addr, s->type};
}

struct bd_error *bd_modsyms_lookup(const struct bd_modsyms *ms, const char *name,
                                   struct bd_symbol *out)
{
        const char *colon = strchr(name, ':'), *sym = colon ? colon + 1 : name;
        size_t mlen = colon ? (size_t)(colon - name) : 0;
        const struct sym_entry *found = NULL, *other = NULL;
        for (size_t i = 0; i < ms->nsyms && !other; i++) {
                const struct sym_entry *s = &ms->syms[i];
                const char *mod = ms->mods[s->module].name;
                if (colon && (strncmp(mod, name, mlen) || mod[mlen]))
                        continue;
                if (strcmp(s->name, sym))
                        continue;
                /* Within a module the first, as the kernel's lookup. */
                if (!found)
                        found = s;
                else if (s->module != found->module)
                        other = s;
        }
        if (other)
                return bd_error_new(
                    BD_ERR_USAGE, "'%s' is in modules %s and %s (at least): name one as MODULE:%s",
                    sym, ms->mods[found->module].name, ms->mods[other->module].name, sym);
        if (!found) {
                if (ms->skipped)
                        return bd_error_new(BD_ERR_NOT_FOUND,
                                            "no symbol '%s' in %zu modules, and %zu unreadable "
                                            "(%s)",
                                            name, ms->nmods, ms->skipped, ms->why);
                return bd_error_new(BD_ERR_NOT_FOUND, "no symbol '%s' in %zu modules", name,
                                    ms->nmods);
        }
        bd_modsyms_at(ms, (size_t)(found - ms->syms), out);
        return NULL;
}
