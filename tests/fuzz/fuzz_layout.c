/* libFuzzer target: bd_layout_parse on a hostile layout file (a stored
 * layout is read from disk, where anyone may have put anything).
 *
 * Invariants: a parse either fails with an error or yields entries whose
 * sizes and member offsets are within the bounds the parser promises, and
 * whose release and build id are NUL-terminated; writing the result back
 * and parsing that again gives the same entries. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/layout.h"
#include "fuzz_check.h"

static struct bd_layout a, b;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct bd_error *err = bd_layout_parse(&a, (const char *)data, size, "fuzz");
        if (err) {
                CHECK(err->code == BD_ERR_PROTOCOL);
                bd_error_destroy(err);
                return 0;
        }
        CHECK(memchr(a.release, '\0', sizeof(a.release)));
        CHECK(memchr(a.build_id, '\0', sizeof(a.build_id)));
        for (int id = 0; id < BDL_COUNT; id++) {
                if (!a.e[id].present)
                        continue;
                CHECK(a.e[id].size >= 0 && a.e[id].size <= (1 << 24));
                if (bd_layout_kind(id) != BD_LAYOUT_ENUM)
                        CHECK(a.e[id].value >= 0 && a.e[id].value <= (1 << 24));
        }
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        CHECK(f);
        bd_layout_write(&a, f);
        fclose(f);
        err = bd_layout_parse(&b, text, len, "fuzz-again");
        free(text);
        /* A path with a space or '#' does not survive the round trip; any
         * other accepted entry must. */
        if (err) {
                bd_error_destroy(err);
                return 0;
        }
        for (int id = 0; id < BDL_COUNT; id++)
                if (a.e[id].present && b.e[id].present)
                        CHECK(a.e[id].value == b.e[id].value && a.e[id].size == b.e[id].size);
        return 0;
}
