/* Inside a symbol table: shared by its two makers, the decoder reading the
 * kernel's tables (kallsyms.c) and the per-build cache form
 * (kallsyms_cache.c). Nothing else includes this. */
#ifndef BD_KALLSYMS_TABLE_H
#define BD_KALLSYMS_TABLE_H

#include "kallsyms.h"

struct sym_sorted {
        uint64_t addr;
        uint32_t idx;
};

struct bd_kallsyms {
        size_t n;
        enum bd_kallsyms_encoding enc;
        uint64_t *addrs;
        size_t *name_off; /* into names */
        char *types;
        char *names; /* NUL-terminated names back to back */
        struct sym_sorted *sorted;
        /* By name: open addressing, index + 1 per slot (0: empty); a
         * lookup was a scan of every name. The names are the target's, so
         * the hash is keyed, a key per table: no table can be made to
         * collide. */
        uint32_t *by_name;
        size_t by_name_mask;
        uint8_t by_name_key[16];
        struct bd_kallsyms_stats stats;
        /* The table whose names, types and by-name index this one uses
         * (bd_kallsyms_deserialize_from), NULL when they are its own; a
         * table lives while refs (1 at creation, 1 per user) is not 0. */
        struct bd_kallsyms *names_of;
        unsigned refs;
};

/* Everything but names, for ks->n symbols. */
struct bd_error *bd_kallsyms_alloc_tables(struct bd_kallsyms *ks);
/* The by-address and by-name indexes, once names, addresses and types
 * are in. */
struct bd_error *bd_kallsyms_build_index(struct bd_kallsyms *ks);
/* The by-address index alone, once the addresses are in. */
void bd_kallsyms_build_by_addr(struct bd_kallsyms *ks);

#endif
