/* Symbols by name across the kernel and its loaded modules: vmlinux's
 * kallsyms first, then the symbol tables of the modules on the kernel's
 * `modules` list, read once per program (and only when a name is not
 * vmlinux's): a repair can name a variable a module defines. */
#ifndef BD_SYMBOLS_H
#define BD_SYMBOLS_H

#include <stdint.h>

#include "../kernel/modsyms.h"
#include "../kernel/program.h"

/* The tables of the modules on the list whose head (a list_head of struct
 * module.list) is at head, walked bounded by BD_MODSYMS_MAX_MODULES and
 * checked for cycles. A module that does not read is skipped (see
 * bd_modsyms_add); a list that does not walk fails the whole reading. */
struct bd_error *bd_symbols_read_modules(struct bd_kernel *k, const struct bd_modsyms_layout *lay,
                                         uint64_t head, struct bd_modsyms **out);

/* prog's module tables, read on first use and kept in prog. Needs the
 * kernel's BTF and its `modules` symbol (KALLSYMS_ALL). */
struct bd_error *bd_symbols_modules(struct bd_program *prog, const struct bd_modsyms **out);

/* NAME from vmlinux's kallsyms, else from the modules; MODULE:NAME from
 * that module only. For a vmlinux symbol out->name is name itself and
 * out->module NULL. */
struct bd_error *bd_symbols_find(struct bd_program *prog, const char *name, struct bd_symbol *out);

#endif
