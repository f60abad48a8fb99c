/* libFuzzer target: bd_file_layout on an untrusted file image (a vmcore or
 * RAM file someone handed us).
 *
 * Invariants on success: 1..BD_MAX_WINDOWS windows, each non-empty (unless
 * the image is), lying entirely inside the image and not wrapping the
 * physical address space; the first and last byte of every window are read
 * so that ASan checks them. Failures are BD_ERR_TARGET with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/source/phys_file.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct bd_window_desc w[BD_MAX_WINDOWS];
        uint64_t off[BD_MAX_WINDOWS];
        unsigned n = 12345;
        struct bd_error *err = bd_file_layout(data, size, w, off, &n);
        if (err) {
                CHECK(err->code == BD_ERR_TARGET && err->message[0]);
                bd_error_destroy(err);
                return 0;
        }
        CHECK(n >= 1 && n <= BD_MAX_WINDOWS);
        volatile uint8_t sink = 0;
        for (unsigned i = 0; i < n; i++) {
                CHECK(off[i] <= size);
                CHECK(w[i].length <= size - off[i]);
                CHECK(w[i].length > 0 || size == 0);
                CHECK(w[i].length <= UINT64_MAX - w[i].base);
                CHECK(memchr(w[i].name, '\0', sizeof(w[i].name)) && w[i].name[0]);
                CHECK(w[i].mode == BD_MODE_DIRECT && w[i].access == BD_ACCESS_RO);
                if (w[i].length) {
                        sink ^= data[off[i]];
                        sink ^= data[off[i] + w[i].length - 1];
                }
        }
        (void)sink;
        return 0;
}
