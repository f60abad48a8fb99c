/* Loaded modules' symbol tables, read from the target's memory: what each
 * struct module's kallsyms (a struct mod_kallsyms: an Elf64_Sym array, its
 * count, a string table and a type letter per symbol) names, for the
 * symbols vmlinux's kallsyms does not know (a module's own variables).
 * Layouts come from the kernel's BTF. Finding the modules is the caller's
 * (views/symbols.h walks the kernel's `modules` list); this file reads one
 * module at a time and answers lookups.
 *
 * Every table is hostile input: counts, string offsets, name lengths and
 * characters are checked before anything is kept, and a module whose
 * table does not check out is skipped as a whole, never half trusted. */
#ifndef BD_MODSYMS_H
#define BD_MODSYMS_H

#include <stddef.h>
#include <stdint.h>

#include <bpf/btf.h>

#include "../../common/error.h"
#include "kernel.h"

/* Far above any real system (a distro kernel loads a few hundred). */
#define BD_MODSYMS_MAX_MODULES 4096
/* Per module: the largest (amdgpu, i915) keep tens of thousands. */
#define BD_MODSYMS_MAX_SYMS (1u << 18)
/* Bytes read for all modules' tables together: hostile counts and offsets
 * must not make the monitor fetch or hold gigabytes. */
#define BD_MODSYMS_MAX_BYTES (256u << 20)
/* module.name is MODULE_NAME_LEN (56) bytes on 64-bit kernels. */
#define BD_MODSYMS_NAME_MAX 64

/* Byte offsets in struct module and struct mod_kallsyms, and the
 * enumerator of a module still being loaded (its tables not yet there). */
struct bd_modsyms_layout {
        uint64_t list, name, name_size, state, kallsyms;
        uint64_t symtab, num_symtab, strtab, typetab, mk_size;
        uint32_t unformed;
};

/* BD_ERR_NOT_FOUND naming what the kernel's BTF lacks; BD_ERR_PROTOCOL for
 * members of an unexpected size. bd_modsyms_add() relies on the bounds
 * this checks (a name of at most BD_MODSYMS_NAME_MAX bytes, a struct
 * mod_kallsyms read in 64). */
struct bd_error *bd_modsyms_layout_from_btf(const struct btf *btf, struct bd_modsyms_layout *out);

/* A symbol found by name, in vmlinux (module NULL) or a module. The
 * strings belong to the table that answered. */
struct bd_symbol {
        const char *name;
        const char *module;
        uint64_t addr;
        char type; /* as /proc/kallsyms shows it */
};

struct bd_modsyms;

struct bd_error *bd_modsyms_new(struct bd_modsyms **out);
void bd_modsyms_free(struct bd_modsyms *ms);

/* Read the module whose struct module is at mod and keep its function and
 * data symbols (defined, at a nonzero address). A module still being
 * loaded is passed over. A module whose memory does not read or whose
 * table does not check out is skipped and counted (the first reason is
 * kept): one corrupt module must not hide the others. Returns only what
 * ends the whole reading: a lost path to the target, or no memory. */
struct bd_error *bd_modsyms_add(struct bd_modsyms *ms, struct bd_kernel *k,
                                const struct bd_modsyms_layout *lay, uint64_t mod);

/* Modules read, symbols kept, and modules skipped (with the first one's
 * reason, "" if none). */
size_t bd_modsyms_modules(const struct bd_modsyms *ms);
size_t bd_modsyms_count(const struct bd_modsyms *ms);
size_t bd_modsyms_skipped(const struct bd_modsyms *ms, const char **why);
/* The i-th symbol kept, in the order read. */
void bd_modsyms_at(const struct bd_modsyms *ms, size_t i, struct bd_symbol *out);

/* NAME, or MODULE:NAME (as kprobes and kallsyms_lookup_name() take it);
 * within a module the first, as the kernel's own lookup. A NAME that
 * several modules define fails with BD_ERR_USAGE naming two of them: a
 * repair must not pick one by list order. BD_ERR_NOT_FOUND if no module
 * has it, saying how many modules were skipped and why. */
struct bd_error *bd_modsyms_lookup(const struct bd_modsyms *ms, const char *name,
                                   struct bd_symbol *out);

#endif
