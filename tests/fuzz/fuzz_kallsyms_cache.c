/* libFuzzer target: the per-build kallsyms cache file, read back with
 * bd_kallsyms_deserialize. The first input byte is control: bit 0 seals
 * the rest with a correct checksum (else the fuzzer would almost never get
 * past it to the structural checks), bit 1 loads it under a KASLR slide.
 *
 * Invariants: no crash, leak or out-of-bounds read; on failure a
 * PROTOCOL or NOT_FOUND error (NOMEM aside) with a message; on success a
 * bounded count, names non-empty and within KSYM_NAME_LEN, lookup finds
 * each name, symbolize of each address lands on a symbol at it, nothing
 * was read from a target, and serializing again gives a file that loads
 * to the same table, and loading the same bytes under the other slide
 * beside it (bd_kallsyms_deserialize_from) gives that table with its
 * image addresses moved and its names shared. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/kallsyms.h"
#include "fuzz_check.h"

#define SLIDE 0x1e00000ull

static void seal(uint8_t *p, size_t len)
{
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < len; i++)
                if (i < 24 || i >= 32)
                        h = (h ^ p[i]) * 0x100000001b3ull;
        for (unsigned i = 0; i < 8; i++)
                p[24 + i] = (uint8_t)(h >> (8 * i));
}

static void check_table(const struct bd_kallsyms *ks)
{
        size_t n = bd_kallsyms_count(ks);
        CHECK(n && n <= BD_KALLSYMS_MAX_SYMS);
        struct bd_kallsyms_stats st;
        bd_kallsyms_stats(ks, &st);
        CHECK(!st.bytes_read && !st.reads);
        for (size_t i = 0; i < n && i < 4096; i++) {
                const char *name, *at;
                uint64_t addr, a2, off;
                char type;
                bd_kallsyms_at(ks, i, &name, &addr, &type);
                CHECK(type);
                CHECK(strlen(name) >= 1 && strlen(name) <= BD_KALLSYMS_NAME_MAX);
                if (i < 64) {
                        CHECK(!bd_kallsyms_lookup(ks, name, &a2, NULL));
                        CHECK(!bd_kallsyms_symbolize(ks, addr, &at, &off, NULL, NULL));
                        CHECK(off == 0);
                        CHECK(!bd_kallsyms_lookup(ks, at, &a2, NULL));
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!size)
                return 0;
        uint8_t ctl = data[0];
        data++, size--;
        uint64_t slide = ctl & 2 ? SLIDE : 0;
        uint8_t *buf = malloc(size ? size : 1);
        CHECK(buf);
        memcpy(buf, data, size);
        if (ctl & 1 && size >= 32)
                seal(buf, size);
        struct bd_kallsyms *ks;
        struct bd_error *err = bd_kallsyms_deserialize(buf, size, slide, &ks);
        if (err) {
                free(buf);
                CHECK(err->message[0]);
                CHECK(err->code == BD_ERR_PROTOCOL || err->code == BD_ERR_NOT_FOUND ||
                      err->code == BD_ERR_NOMEM);
                CHECK(!ks);
                bd_error_destroy(err);
                return 0;
        }
        check_table(ks);
        void *again;
        size_t len;
        CHECK(!bd_kallsyms_serialize(ks, slide, &again, &len));
        struct bd_kallsyms *ks2;
        CHECK(!bd_kallsyms_deserialize(again, len, slide, &ks2));
        CHECK(bd_kallsyms_count(ks2) == bd_kallsyms_count(ks));
        CHECK(bd_kallsyms_encoding(ks2) == bd_kallsyms_encoding(ks));
        for (size_t i = 0; i < bd_kallsyms_count(ks); i++) {
                const char *n1, *n2;
                uint64_t a1, a2;
                char t1, t2;
                bd_kallsyms_at(ks, i, &n1, &a1, &t1);
                bd_kallsyms_at(ks2, i, &n2, &a2, &t2);
                CHECK(!strcmp(n1, n2) && a1 == a2 && t1 == t2);
        }
        free(again);
        bd_kallsyms_free(ks2);
        /* The same bytes under the other slide, sharing ks's names: the
         * same table with its image addresses moved, alive after ks. */
        struct bd_kallsyms *ks3;
        uint64_t other = slide ^ SLIDE;
        CHECK(!bd_kallsyms_deserialize_from(ks, buf, size, other, &ks3));
        size_t n = bd_kallsyms_count(ks);
        CHECK(bd_kallsyms_count(ks3) == n);
        uint64_t *addrs = malloc(n * sizeof(*addrs));
        CHECK(addrs);
        for (size_t i = 0; i < n; i++) {
                const char *n1, *n3;
                uint64_t a3;
                char t1, t3;
                bd_kallsyms_at(ks, i, &n1, &addrs[i], &t1);
                bd_kallsyms_at(ks3, i, &n3, &a3, &t3);
                CHECK(n1 == n3 && t1 == t3);
                CHECK(a3 == (buf[32 + 8 * n + i] ? addrs[i] - slide + other : addrs[i]));
        }
        bd_kallsyms_free(ks);
        check_table(ks3);
        bd_kallsyms_free(ks3);
        free(addrs);
        free(buf);
        return 0;
}
