/* libFuzzer target: a struct sigpending at K(0x40) with the input as
 * kernel memory (the image mapping, physical 0 upwards), its set and its
 * queue of struct sigqueue laid out as tests/unit/sigqueue_img.h says,
 * wherever the input puts them.
 *
 * Invariants: no crash, hang, leak or out-of-bounds read; on success every
 * entry is a signal of the set, every signal of the set has an entry, and
 * no more than the bound plus one per signal; on failure a one-line error
 * with a code hostile memory can cause, and no entries. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/views/sigqueue.h"
#include "../unit/sigqueue_img.h"
#include "fuzz_check.h"
#include "mem_phys.h"

#define MAX 64

static struct bd_layout sq;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct mem_phys m;
        struct bd_kernel k;
        uint8_t *mem = mem_kernel_copy(&m, &k, data, size);
        CHECK(mem);
        struct bd_sigqueue q;
        struct bd_error *err = bd_sigqueue_from(&k, layout_once(&sq, sq_layout), K(0x40), MAX, &q);
        if (err) {
                CHECK(!q.n && !q.info);
                check_memory_error(err);
                bd_error_destroy(err);
        } else {
                CHECK(q.n <= MAX + BD_NSIG);
                uint64_t seen = 0;
                for (size_t i = 0; i < q.n; i++) {
                        int sig = bd_siginfo_signo(&q.info[i]);
                        CHECK(sig >= 1 && sig <= BD_NSIG && (q.mask >> (sig - 1) & 1));
                        seen |= 1ull << (sig - 1);
                }
                CHECK(seen == q.mask);
                bd_sigqueue_free(&q);
        }
        free(mem);
        return 0;
}
