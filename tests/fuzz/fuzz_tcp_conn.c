/* libFuzzer target: a TCP connection's state and queues with the input as
 * kernel memory (the image mapping, physical 0 upwards, doubling as the
 * direct map; page tables at physical 0 for every other address): a
 * tcp_sock at K(0x40) laid out as tests/unit/tcp_conn_img.h says, its
 * receive list, retransmit tree, write list, skbs, shared infos and
 * fragments wherever the input puts them; struct pages of 64 bytes from
 * K(0x8000) (vmemmap_base) describe frame 0 up.
 *
 * Invariants: no crash, hang, leak or out-of-bounds read; on success the
 * queues are exactly their sequence ranges, within the bounds; on failure
 * a one-line error with a code hostile memory can cause, and no queue. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/views/tcp_conn.h"
#include "../unit/tcp_conn_img.h"
#include "fuzz_check.h"
#include "mem_phys.h"

#define SK      K(0x40)
#define VMEMMAP K(0x8000)

static struct bd_layout tc;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct mem_phys m;
        struct bd_kernel k;
        uint8_t *mem = mem_kernel_copy(&m, &k, data, size);
        CHECK(mem);
        bd_kernel_set_direct_map(&k, K(0));
        struct bd_tcp_conn c;
        struct bd_error *err = bd_tcp_conn_from(&k, layout_once(&tc, tc_layout), VMEMMAP, SK, &c);
        if (err) {
                CHECK(!c.inq && !c.outq);
                check_memory_error(err);
                bd_error_destroy(err);
        } else {
                CHECK(c.inq_len == c.rcv_nxt - c.copied_seq && c.inq_len <= BD_TCP_QUEUE_MAX);
                CHECK(c.outq_len == c.write_seq - c.snd_una && c.outq_len <= BD_TCP_QUEUE_MAX);
                CHECK(c.unsent <= c.outq_len && c.skbs <= BD_TCP_SKBS_MAX);
                CHECK((c.options & ~63u) == 0 && c.snd_wscale < 16 && c.rcv_wscale < 16);
                bd_tcp_conn_free(&c);
        }
        free(mem);
        return 0;
}
