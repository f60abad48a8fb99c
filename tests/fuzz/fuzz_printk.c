/* libFuzzer target: the printk ring decoder with the input as the target's
 * physical memory (the kernel image at physical 0, init_top_pgt at 0x1000
 * for anything outside it) and a 6.1 kernel's VMCOREINFO offsets. The
 * input's last byte picks the budget: 0 the default, else 64 bytes to
 * 32 MiB, so that rings larger than it are read in part.
 *
 * Invariants: no crash, leak or out-of-bounds read whatever the ring says;
 * on success at most one record per descriptor read, every text inside the
 * copied text, records in sequence order, and what was read of a ring over
 * the budget within it; on failure an error with a message and one of the
 * codes a hostile ring can cause. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/views/printk.h"
#include "../unit/printk_ring.h"
#include "mem_phys.h"
#include "fuzz_check.h"

static struct bd_vmcoreinfo vi;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!vi.len) {
                vi.len = strlen(ring_vmcoreinfo);
                memcpy(vi.text, ring_vmcoreinfo, vi.len + 1);
        }
        struct mem_phys m;
        uint8_t *mem = mem_phys_copy(&m, data, size);
        CHECK(mem);
        struct bd_printk_layout lay;
        struct bd_kernel *k;
        CHECK(!bd_printk_layout_get(&vi, &lay));
        CHECK(!bd_kernel_open(&m.base, &vi, &k));
        uint8_t pick = size ? data[size - 1] : 0;
        uint64_t budget = pick ? 64ull << (pick % 20) : BD_PRINTK_BUDGET;
        struct bd_printk_log *log;
        struct bd_error *err = bd_printk_read_within(k, &lay, budget, &log);
        if (err) {
                CHECK(err->message[0]);
                CHECK(err->code == BD_ERR_NOT_FOUND || err->code == BD_ERR_RANGE ||
                      err->code == BD_ERR_NOMEM);
                bd_error_destroy(err);
        } else {
                CHECK(log->n <= log->read_descriptors);
                uint64_t each = lay.desc_size + lay.info_size + sizeof(struct bd_printk_record);
                if (log->ring_cost > budget)
                        CHECK(log->read_descriptors * each + log->read_text <= budget);
                else
                        CHECK(log->read_descriptors == log->descriptors &&
                              log->read_text == log->data_size);
                for (size_t i = 0; i < log->n; i++) {
                        const struct bd_printk_record *r = &log->records[i];
                        if (r->text_len) {
                                CHECK(r->text >= log->text);
                                CHECK(r->text + r->text_len <= log->text + log->read_text);
                        }
                        if (i)
                                CHECK(log->records[i - 1].seq <= r->seq);
                }
                bd_printk_log_free(log);
        }
        bd_kernel_close(k);
        free(mem);
        return 0;
}
