/* libFuzzer target: a struct eventpoll at K(0x40) with the input as kernel
 * memory (the image mapping, physical 0 upwards), its tree of struct
 * epitem laid out as tests/unit/epoll_img.h says, wherever the input puts
 * them.
 *
 * Invariants: no crash, hang, leak or out-of-bounds read; on success no
 * more items than the bound, each with a non-negative fd and a kernel
 * pointer for its file; on failure a one-line error with a code hostile
 * memory can cause, and no items. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/views/epoll.h"
#include "../../monitor/walk/walk.h"
#include "../unit/epoll_img.h"
#include "fuzz_check.h"
#include "mem_phys.h"

#define MAX 64

static struct bd_layout ep_l;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct mem_phys m;
        struct bd_kernel k;
        uint8_t *mem = mem_kernel_copy(&m, &k, data, size);
        CHECK(mem);
        struct bd_epoll ep;
        struct bd_error *err = bd_epoll_from(&k, layout_once(&ep_l, ep_layout), K(0x40), MAX, &ep);
        if (err) {
                CHECK(!ep.n && !ep.item);
                check_memory_error(err);
                bd_error_destroy(err);
        } else {
                CHECK(ep.n <= MAX);
                for (size_t i = 0; i < ep.n; i++)
                        CHECK(ep.item[i].fd >= 0 && bd_walk_kptr_ok(&k, ep.item[i].file, 8));
                bd_epoll_free(&ep);
        }
        free(mem);
        return 0;
}
