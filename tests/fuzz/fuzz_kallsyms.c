/* libFuzzer target: the kallsyms decoder with the input as the kernel image
 * at physical 0 (virtual 0xffffffff81000000), laid out like
 * tests/unit/kallsyms_img.h: count, offsets, relative base, names, token
 * table and index wherever the input puts them. The first input byte picks
 * the VMCOREINFO: base-relative offsets, or absolute addresses.
 *
 * Invariants: no crash, leak or out-of-bounds read; on success a bounded
 * count, every name non-empty and no longer than KSYM_NAME_LEN, lookup
 * finds each name, and symbolize on each address lands on a symbol at that
 * address; on failure an error with a message and a code a hostile image
 * can cause. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/kallsyms.h"
#include "../../monitor/kernel/kernel.h"
#include "../unit/kallsyms_img.h"
#include "fuzz_check.h"
#include "mem_phys.h"

static struct bd_vmcoreinfo vi[2];

static void set_vi(struct bd_vmcoreinfo *v, enum ks_enc enc)
{
        static struct ks_img img;
        static const struct ks_sym one = {'T', "_stext", KS_K(0)};
        ks_build(&img, &one, 1, enc);
        v->len = strlen(img.vmcoreinfo);
        memcpy(v->text, img.vmcoreinfo, v->len + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!vi[0].len) {
                set_vi(&vi[0], KS_RELATIVE);
                set_vi(&vi[1], KS_ABSOLUTE);
        }
        if (!size)
                return 0;
        const struct bd_vmcoreinfo *v = &vi[data[0] & 1];
        data++, size--;
        struct mem_phys m;
        uint8_t *mem = mem_phys_copy(&m, data, size);
        CHECK(mem);
        struct bd_kernel *k;
        CHECK(!bd_kernel_open(&m.base, v, &k));
        struct bd_kallsyms *ks;
        struct bd_error *err = bd_kallsyms_load(k, v, &ks);
        if (err) {
                CHECK(err->message[0]);
                CHECK(err->code == BD_ERR_NOT_FOUND || err->code == BD_ERR_RANGE ||
                      err->code == BD_ERR_NOMEM);
                CHECK(!ks);
                bd_error_destroy(err);
        } else {
                size_t n = bd_kallsyms_count(ks);
                CHECK(n && n <= BD_KALLSYMS_MAX_SYMS);
                for (size_t i = 0; i < n && i < 4096; i++) {
                        const char *name, *at;
                        uint64_t addr, a2, off;
                        char type;
                        bd_kallsyms_at(ks, i, &name, &addr, &type);
                        CHECK(strlen(name) >= 1 && strlen(name) <= BD_KALLSYMS_NAME_MAX);
                        if (i < 64) {
                                CHECK(!bd_kallsyms_lookup(ks, name, &a2, NULL));
                                CHECK(!bd_kallsyms_symbolize(ks, addr, &at, &off, NULL, NULL));
                                CHECK(off == 0);
                                CHECK(!bd_kallsyms_lookup(ks, at, &a2, NULL));
                        }
                }
                bd_kallsyms_free(ks);
        }
        bd_kernel_close(k);
        free(mem);
        return 0;
}
