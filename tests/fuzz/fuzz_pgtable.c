/* libFuzzer target: the x86-64 page-table walker and the kernel object's
 * reads with the input as physical memory holding the tables. The first
 * byte picks the paging mode and the root table's page; the last 8 bytes
 * (when there are more than 16) give one more address to translate.
 *
 * Invariants: no crash or out-of-bounds read; the table cache, and tables
 * read ahead (bd_pgtable_prefetch), never change an answer; a translation keeps the
 * offset within a 4 KiB, 2 MiB or 1 GiB page and yields an address below
 * 2^52; failures are errors with a message and a code a hostile table can
 * cause. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/kernel/pgtable.h"
#include "mem_phys.h"
#include "fuzz_check.h"

static void check_error(struct bd_error *err)
{
        CHECK(err->message[0]);
        CHECK(err->code == BD_ERR_NOT_FOUND || err->code == BD_ERR_RANGE ||
              err->code == BD_ERR_NOMEM);
        bd_error_destroy(err);
}

static struct bd_vmcoreinfo vi;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct mem_phys m;
        uint8_t *mem = mem_phys_copy(&m, data, size);
        CHECK(mem);
        int levels = size && (data[0] & 1) ? 5 : 4;
        uint64_t pgd = size ? (uint64_t)(data[0] >> 1) << 12 : 0;
        uint64_t vaddrs[] = {
            0xffff888000000000ull, 0xffff888000201234ull, 0xffffc90000003000ull,
            0xff11000000000000ull, 0xff11000040000fffull, 0x00007fffffffe000ull,
            0xffffffffc0001000ull, 0x0000800000000000ull, 0,
        };
        size_t nv = sizeof(vaddrs) / sizeof(vaddrs[0]) - 1;
        if (size > 16)
                memcpy(&vaddrs[nv++], data + size - 8, 8);
        static struct bd_pgtable_cache cache, ahead;
        memset(&cache, 0, sizeof(cache));
        memset(&ahead, 0, sizeof(ahead));
        /* Tables read ahead for user ranges (one from the input, maybe
         * reversed or in the kernel half) must not change an answer either. */
        uint64_t last = vaddrs[nv - 1];
        const struct bd_pgtable_range rg[] = {
            {0x00007fffff000000ull, 0x0000800000000000ull},
            {last, last + (64u << 20) > last ? last + (64u << 20) : UINT64_MAX},
            {last, last >> 1},
        };
        struct bd_error *perr = bd_pgtable_prefetch(&m.base, &ahead, pgd, levels, rg, 3);
        if (perr)
                check_error(perr);
        CHECK(ahead.nahead <= BD_PGTABLE_PREFETCH_MAX);
        for (size_t i = 0; i < nv; i++) {
                uint64_t pa = 0, ps = 0, cpa = 0, cps = 0, apa = 0, aps = 0;
                struct bd_error *err =
                    bd_pgtable_translate(&m.base, pgd, levels, vaddrs[i], &pa, &ps);
                struct bd_error *aerr = bd_pgtable_translate_cached(&m.base, &ahead, pgd, levels,
                                                                    vaddrs[i], &apa, &aps);
                CHECK(!err == !aerr);
                if (aerr) {
                        CHECK(err->code == aerr->code);
                        check_error(aerr);
                } else {
                        CHECK(pa == apa && ps == aps);
                }
                /* The cache must never change an answer. */
                struct bd_error *cerr = bd_pgtable_translate_cached(&m.base, &cache, pgd, levels,
                                                                    vaddrs[i], &cpa, &cps);
                CHECK(!err == !cerr);
                if (cerr) {
                        CHECK(err->code == cerr->code);
                        check_error(cerr);
                } else {
                        CHECK(pa == cpa && ps == cps);
                }
                if (err) {
                        check_error(err);
                        continue;
                }
                CHECK(ps == 4096 || ps == 2u << 20 || ps == 1u << 30);
                CHECK((pa & (ps - 1)) == (vaddrs[i] & (ps - 1)));
                CHECK(pa < 1ull << 52);
        }

        /* The same tables through a kernel object: reads that span pages,
         * the one-entry translation cache and the batching. */
        vi.len = (size_t)snprintf(vi.text, sizeof(vi.text),
                                  "OSRELEASE=fuzz\nPAGESIZE=4096\nNUMBER(phys_base)=0\n"
                                  "SYMBOL(init_top_pgt)=%llx\nNUMBER(pgtable_l5_enabled)=%d\n",
                                  0xffffffff80000000ull + (unsigned long long)pgd, levels == 5);
        struct bd_kernel *k;
        CHECK(!bd_kernel_open(&m.base, &vi, &k));
        CHECK(k->pgd_phys == pgd && k->levels == levels);
        static uint8_t buf[3 * 4096];
        for (size_t i = 0; i < nv; i++) {
                struct bd_error *err = bd_kernel_read(k, vaddrs[i] + 0x800, buf, sizeof(buf));
                if (err)
                        check_error(err);
        }
        bd_kernel_close(k);
        bd_pgtable_cache_release(&ahead);
        free(mem);
        return 0;
}
