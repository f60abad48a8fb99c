/* libFuzzer target: the monitor's check of a libbdagent beacon
 * (views/agent.h), which a process writes as it likes. The input is the
 * beacon (zero-padded to its size when shorter), then any bytes after it
 * bend the process's mappings: each further 17 bytes a mapping's start and
 * length (8 each, capped) and its flags (one byte, bit 7 a file).
 *
 * Invariants: no crash or out-of-bounds read; a beacon that passes has a
 * name and region names the library writes (printable, NUL-terminated), at
 * most 16 regions and 256 threads, a committed slot of 0 or 1 (none only
 * with no region), and every region and both its copies inside one
 * mapping each, the copies in private writable memory; a beacon that fails
 * gets one line with a code hostile memory can cause. */
#include <stdint.h>
#include <string.h>

#include "../../monitor/views/agent.h"
#include "fuzz_check.h"

#define AT 0x7f0000000000ull

static int printable_name(const char *s)
{
        size_t n = strnlen(s, BD_AGENT_NAME_MAX);
        if (!n || n == BD_AGENT_NAME_MAX)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= ' ' || s[i] > '~' || s[i] == '/')
                        return 0;
        return 1;
}

static int inside(const struct bd_vmas *vs, uint64_t a, uint64_t len, int private_rw)
{
        for (size_t i = 0; i < vs->n; i++) {
                const struct bd_vma *v = &vs->v[i];
                if (a >= v->start && len <= v->end - v->start &&
                    a - v->start <= v->end - v->start - len)
                        return !private_rw ||
                               (!v->file &&
                                (v->flags & (BD_VM_WRITE | BD_VM_SHARED)) == BD_VM_WRITE);
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct bd_agent_beacon b;
        static struct bd_agent_view view;
        static struct bd_vma maps[64];
        memset(&b, 0, sizeof(b));
        memcpy(&b, data, size < sizeof(b) ? size : sizeof(b));
        /* Short inputs still reach the fields: the magic and sizes given. */
        if (size < 16) {
                b.magic = BD_AGENT_MAGIC;
                b.version = BD_AGENT_VERSION;
                b.size = sizeof(b);
        }
        struct bd_vmas vs = {.v = maps, .n = 0};
        maps[vs.n++] =
            (struct bd_vma){.start = 0x555555554000ull, .end = 0x555555600000ull, .flags = 0x3};
        maps[vs.n++] = (struct bd_vma){.start = AT, .end = AT + 0x2000, .flags = 0xb, .file = 1};
        for (size_t at = sizeof(b); at + 17 <= size && vs.n < 64; at += 17) {
                uint64_t start, len;
                memcpy(&start, data + at, 8);
                memcpy(&len, data + at + 8, 8);
                len %= 1ull << 32;
                if (start > UINT64_MAX - len)
                        continue;
                maps[vs.n++] = (struct bd_vma){.start = start,
                                               .end = start + len,
                                               .flags = data[at + 16] & 0xf,
                                               .file = data[at + 16] >> 7};
        }
        struct bd_error *err = bd_agent_check(&b, sizeof(b), AT, &vs, &view);
        if (err) {
                check_memory_error(err);
                bd_error_destroy(err);
                return 0;
        }
        const struct bd_agent_beacon *c = &view.b;
        CHECK(view.beacon == AT);
        CHECK(printable_name(c->name));
        CHECK(c->nregions <= BD_AGENT_MAX_REGIONS && c->nthreads <= BD_AGENT_MAX_THREADS);
        CHECK(c->committed <= 1 || (c->committed == BD_AGENT_NONE && !c->nregions));
        for (uint32_t i = 0; i < c->nregions; i++) {
                const struct bd_agent_region *r = &c->region[i];
                CHECK(printable_name(r->name));
                CHECK(r->len && r->len <= BD_AGENT_REGION_MAX);
                CHECK(inside(&vs, r->live, r->len, 0));
                CHECK(inside(&vs, r->slot[0], r->len, 1) && inside(&vs, r->slot[1], r->len, 1));
        }
        return 0;
}
