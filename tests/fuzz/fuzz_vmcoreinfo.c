/* libFuzzer target: bd_vmcoreinfo_match on a page of hostile target memory,
 * then get/number on what it copied out (and on the raw input as text).
 *
 * Invariants: a match is NUL-terminated, at most BD_VMCOREINFO_MAX long,
 * printable, starts with OSRELEASE= and has a PAGESIZE line; get() never
 * writes past its buffer (exactly-sized heap buffers) and always
 * terminates it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/vmcoreinfo.h"
#include "fuzz_check.h"

static struct bd_vmcoreinfo vi;

static const char *const keys[] = {
    "OSRELEASE", "PAGESIZE", "KERNELOFFSET", "SYMBOL(init_uts_ns)", "NUMBER(phys_base)", "",
};

/* Each lookup walks the whole text, so keep the number of them small: the
 * fuzzer's speed is its reach. */
static void query(const struct bd_vmcoreinfo *v, size_t nkeys)
{
        static const size_t caps[] = {1, 8, 4097};
        for (size_t k = 0; k < nkeys; k++) {
                for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
                        char *buf = malloc(caps[c]);
                        CHECK(buf);
                        const char *r = bd_vmcoreinfo_get(v, keys[k], buf, caps[c]);
                        if (r) {
                                CHECK(r == buf);
                                CHECK(strlen(buf) < caps[c]);
                                CHECK(!strchr(buf, '\n'));
                        }
                        free(buf);
                }
                uint64_t x = 0;
                (void)bd_vmcoreinfo_number(v, keys[k], 1, &x);
                (void)bd_vmcoreinfo_number(v, keys[k], 0, &x);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (bd_vmcoreinfo_match(data, size, &vi)) {
                CHECK(vi.len <= BD_VMCOREINFO_MAX);
                CHECK(vi.text[vi.len] == '\0');
                CHECK(strlen(vi.text) == vi.len);
                CHECK(!strncmp(vi.text, "OSRELEASE=", 10));
                CHECK(strstr(vi.text, "\nPAGESIZE="));
                for (size_t i = 0; i < vi.len; i++) {
                        unsigned char c = (unsigned char)vi.text[i];
                        CHECK(c == '\n' || (c >= 0x20 && c < 0x7f));
                }
                char buf[32];
                CHECK(bd_vmcoreinfo_get(&vi, "OSRELEASE", buf, sizeof(buf)) == buf);
                query(&vi, sizeof(keys) / sizeof(keys[0]));
        }
        /* The lookups on arbitrary text, matched or not. */
        size_t n = size < BD_VMCOREINFO_MAX ? size : BD_VMCOREINFO_MAX;
        memcpy(vi.text, data, n);
        vi.text[n] = '\0';
        vi.len = strlen(vi.text);
        query(&vi, 2);
        return 0;
}
