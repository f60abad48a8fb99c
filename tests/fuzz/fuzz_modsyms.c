/* libFuzzer target: the loaded modules' symbol tables with the input as
 * kernel memory (the image mapping, physical 0 upwards, and page tables at
 * physical 0 for every other address): the kernel's `modules` list_head at
 * K(0x10), struct module and struct mod_kallsyms laid out as
 * tests/unit/modsyms_img.h's BTF says, the modules, their symbol, string
 * and type tables wherever the input puts them.
 *
 * Invariants: no crash, hang, leak or out-of-bounds read; on success at
 * most BD_MODSYMS_MAX_MODULES modules, every symbol named by 1 to 511
 * printable characters, in a module with a printable name, at a nonzero
 * address, with a letter or '?' as its type, and found again by
 * MODULE:NAME and by NAME unless that is ambiguous; on failure
 * a one-line error with a code hostile memory can cause. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/kallsyms.h"
#include "../../monitor/kernel/kernel.h"
#include "../../monitor/kernel/modsyms.h"
#include "../../monitor/views/symbols.h"
#include "../unit/modsyms_img.h"
#include "fuzz_check.h"
#include "mem_phys.h"

#define LOOKUPS_MAX 64
#define QUALIFIED   (BD_MODSYMS_NAME_MAX + BD_KALLSYMS_NAME_MAX + 2)

static struct bd_modsyms_layout lay;

static void check_text(const char *s, size_t max)
{
        size_t n = strlen(s);
        CHECK(n >= 1 && n <= max);
        for (size_t i = 0; i < n; i++)
                CHECK(s[i] > ' ' && s[i] <= '~');
}

static void check_table(const struct bd_modsyms *ms)
{
        CHECK(bd_modsyms_modules(ms) <= BD_MODSYMS_MAX_MODULES);
        const char *why;
        if (bd_modsyms_skipped(ms, &why))
                CHECK(why[0] && !strchr(why, '\n'));
        for (size_t i = 0; i < bd_modsyms_count(ms); i++) {
                struct bd_symbol s, again;
                bd_modsyms_at(ms, i, &s);
                check_text(s.name, BD_KALLSYMS_NAME_MAX - 1);
                check_text(s.module, BD_MODSYMS_NAME_MAX - 1);
                CHECK(s.addr);
                CHECK((s.type >= 'a' && s.type <= 'z') || (s.type >= 'A' && s.type <= 'Z') ||
                      s.type == '?');
                if (i >= LOOKUPS_MAX)
                        continue;
                /* Ambiguous (BD_ERR_USAGE) when memory lists two modules
                 * of one name, which a live kernel never does. */
                char q[QUALIFIED];
                snprintf(q, sizeof(q), "%s:%s", s.module, s.name);
                struct bd_error *err = bd_modsyms_lookup(ms, q, &again);
                CHECK(!err || err->code == BD_ERR_USAGE);
                CHECK(err || (!strcmp(again.name, s.name) && !strcmp(again.module, s.module)));
                bd_error_destroy(err);
                err = bd_modsyms_lookup(ms, s.name, &again);
                CHECK(!err || err->code == BD_ERR_USAGE);
                CHECK(err || !strcmp(again.name, s.name));
                bd_error_destroy(err);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!lay.mk_size) {
                struct btf *btf = ms_btf();
                CHECK(btf && !bd_modsyms_layout_from_btf(btf, &lay));
                btf__free(btf);
        }
        struct mem_phys m;
        struct bd_kernel k;
        uint8_t *mem = mem_kernel_copy(&m, &k, data, size);
        CHECK(mem);
        struct bd_modsyms *ms = NULL;
        struct bd_error *err = bd_symbols_read_modules(&k, &lay, K(0x10), &ms);
        if (err) {
                CHECK(!ms);
                check_memory_error(err);
                bd_error_destroy(err);
        } else {
                check_table(ms);
                bd_modsyms_free(ms);
        }
        free(mem);
        return 0;
}
