/* libFuzzer target: the printk ring decoder with the input as the target's
 * physical memory (the kernel image at physical 0, init_top_pgt at 0x1000
 * for anything outside it) and a 6.1 kernel's VMCOREINFO offsets.
 *
 * Invariants: no crash, leak or out-of-bounds read whatever the ring says;
 * on success at most one record per descriptor, every text inside the
 * copied data ring, records in sequence order; on failure an error with a
 * message and one of the codes a hostile ring can cause. */
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
        /* An exactly-sized copy: ASan sees any read past the "memory". */
        uint8_t *mem = malloc(size ? size : 1);
        CHECK(mem);
        memcpy(mem, data, size);
        struct mem_phys m;
        mem_phys_init(&m, mem, size);
        struct bd_printk_layout lay;
        struct bd_kernel *k;
        CHECK(!bd_printk_layout_get(&vi, &lay));
        CHECK(!bd_kernel_open(&m.base, &vi, &k));
        struct bd_printk_log *log;
        struct bd_error *err = bd_printk_read(k, &lay, &log);
        if (err) {
                CHECK(err->message[0]);
                CHECK(err->code == BD_ERR_NOT_FOUND || err->code == BD_ERR_RANGE ||
                      err->code == BD_ERR_NOMEM);
                bd_error_destroy(err);
        } else {
                CHECK(log->n <= log->descriptors);
                for (size_t i = 0; i < log->n; i++) {
                        const struct bd_printk_record *r = &log->records[i];
                        if (r->text_len) {
                                CHECK(r->text >= log->text);
                                CHECK(r->text + r->text_len <= log->text + log->data_size);
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
