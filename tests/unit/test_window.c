/* Memory windows on both sides: bdnicd's window specs, bounds check and
 * audited writes, and the monitor's file source (raw RAM images and ELF
 * cores) behind the one physical-memory interface, including its
 * compare-and-swap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "../../backdoor-nic/window.h"
#include "../../common/audit.h"
#include "../../monitor/source/phys.h"
#include "../../monitor/source/phys_file.h"
#include "helpers.h"

/* Every test file byte has a value derived from its offset, so a read that
 * lands on the wrong offset is seen. */
static uint8_t pattern(uint64_t off)
{
        return (uint8_t)(off * 131 + (off >> 8) * 17 + 7);
}

static uint8_t *pattern_buf(size_t len)
{
        uint8_t *b = malloc(len ? len : 1);
        assert_non_null(b);
        for (size_t i = 0; i < len; i++)
                b[i] = pattern(i);
        return b;
}

static void pattern_file(char *path, size_t len)
{
        uint8_t *b = pattern_buf(len);
        temp_file(path, b, len);
        free(b);
}

/* ======================================================================
 * NIC side: bd_window_contains
 * ====================================================================== */

static void test_contains_edges(void **state)
{
        (void)state;
        struct bd_window_desc w = {.length = 0x1000};
        assert_true(bd_window_contains(&w, 0, 1));
        assert_true(bd_window_contains(&w, 0, 0x1000));  /* the whole window */
        assert_true(bd_window_contains(&w, 0xfff, 1));   /* the last byte */
        assert_true(bd_window_contains(&w, 0, 0));       /* empty, at the start */
        assert_false(bd_window_contains(&w, 0xfff, 2));  /* one past the end */
        assert_false(bd_window_contains(&w, 0x1000, 1)); /* starts one past */
        assert_false(bd_window_contains(&w, 0, 0x1001)); /* one too long */
        /* An empty range at offset == length names no byte of the window; the
         * implementation refuses it (serve.c refuses length 0 anyway). Pinned
         * so that a change of mind is deliberate. */
        assert_false(bd_window_contains(&w, 0x1000, 0));
}

/* offset + length may exceed 2^64: a naive "offset + length <= size" check
 * wraps and accepts these. */
/* READV: every segment checked before any byte is copied. */
static void test_readv(void **state)
{
        (void)state;
        uint8_t mem[0x1000], out[64], segs[4 * BD_READV_SEG_LEN];
        for (size_t i = 0; i < sizeof(mem); i++)
                mem[i] = (uint8_t)i;
        struct bd_nic_window w = {
            .desc = {.length = sizeof(mem)}, .map = mem, .map_len = sizeof(mem)};
        bd_wire_readv_put(segs, 0, 0x10, 4);
        bd_wire_readv_put(segs, 1, 0xffc, 4); /* the last bytes */
        bd_wire_readv_put(segs, 2, 0x0, 1);
        size_t len = 0;
        assert_int_equal(bd_window_readv(&w, segs, 3, out, sizeof(out), &len), 0);
        assert_int_equal(len, 9);
        static const uint8_t want[] = {0x10, 0x11, 0x12, 0x13, 0xfc, 0xfd, 0xfe, 0xff, 0x00};
        assert_memory_equal(out, want, sizeof(want));
        /* One segment past the end, empty, or too much in all: nothing read. */
        memset(out, 0xee, sizeof(out));
        bd_wire_readv_put(segs, 3, 0xffd, 4);
        assert_int_equal(bd_window_readv(&w, segs, 4, out, sizeof(out), &len), BD_ERR_RANGE);
        assert_int_equal(out[0], 0xee);
        bd_wire_readv_put(segs, 3, 0x100, 0);
        assert_int_equal(bd_window_readv(&w, segs, 4, out, sizeof(out), &len), BD_ERR_RANGE);
        bd_wire_readv_put(segs, 3, 0x100, 60);
        assert_int_equal(bd_window_readv(&w, segs, 4, out, sizeof(out), &len), BD_ERR_RANGE);
        bd_wire_readv_put(segs, 3, UINT64_MAX, 4);
        assert_int_equal(bd_window_readv(&w, segs, 4, out, sizeof(out), &len), BD_ERR_RANGE);
        assert_int_equal(out[0], 0xee);
}

static void test_contains_overflow(void **state)
{
        (void)state;
        struct bd_window_desc w = {.length = 0x1000};
        assert_false(bd_window_contains(&w, 1, UINT64_MAX));
        assert_false(bd_window_contains(&w, 0x800, UINT64_MAX - 0x7ff)); /* sum wraps to 1 */
        assert_false(bd_window_contains(&w, UINT64_MAX, 1));
        assert_false(bd_window_contains(&w, UINT64_MAX, 0));
        assert_false(bd_window_contains(&w, UINT64_MAX, UINT64_MAX));
        assert_false(bd_window_contains(&w, 0, UINT64_MAX));

        /* A window spanning (almost) everything. */
        struct bd_window_desc big = {.length = UINT64_MAX};
        assert_true(bd_window_contains(&big, 0, UINT64_MAX));
        assert_true(bd_window_contains(&big, UINT64_MAX - 1, 1));
        assert_false(bd_window_contains(&big, UINT64_MAX - 1, 2));
        assert_false(bd_window_contains(&big, 1, UINT64_MAX));
        assert_false(bd_window_contains(&big, UINT64_MAX, 1));

        /* A zero-length window holds nothing. */
        struct bd_window_desc none = {.length = 0};
        assert_false(bd_window_contains(&none, 0, 0));
        assert_false(bd_window_contains(&none, 0, 1));
}

/* ======================================================================
 * NIC side: bd_window_open
 * ====================================================================== */

#define FSIZE (3 * 4096 + 5)

static void test_window_open_file(void **state)
{
        (void)state;
        char path[32], spec[128];
        pattern_file(path, FSIZE);
        snprintf(spec, sizeof(spec), "mem=file:%s", path);
        struct bd_nic_window w;
        assert_bd_ok(bd_window_open(spec, 0, 0, &w));
        assert_string_equal(w.desc.name, "mem");
        assert_int_equal(w.desc.mode, BD_MODE_DIRECT);
        assert_int_equal(w.desc.access, BD_ACCESS_RO);
        assert_int_equal(w.desc.length, FSIZE);
        assert_int_equal(w.desc.base, 0);
        assert_int_equal(w.map_len, FSIZE);
        assert_non_null(w.map);
        assert_int_equal(w.map[0], pattern(0));
        assert_int_equal(w.map[FSIZE - 1], pattern(FSIZE - 1));
        assert_non_null(strstr(w.source, path));
        bd_window_close(&w);
        assert_null(w.map);
        bd_window_close(&w); /* closing twice is harmless */
        unlink(path);
}

/* writable=1 makes the window RW and the mapping shared with the file. */
static void test_window_open_file_writable(void **state)
{
        (void)state;
        char path[32], spec[128];
        pattern_file(path, FSIZE);
        snprintf(spec, sizeof(spec), "mem=file:%s", path);
        struct bd_nic_window w;
        assert_bd_ok(bd_window_open(spec, 1, 0, &w));
        assert_int_equal(w.desc.access, BD_ACCESS_RW);
        assert_int_equal(w.desc.mode, BD_MODE_DIRECT);
        w.map[10] = 0xab;
        bd_window_close(&w);
        size_t n;
        char *data = slurp(path, &n);
        assert_int_equal(n, FSIZE);
        assert_int_equal((uint8_t)data[10], 0xab);
        free(data);
        unlink(path);
}

static void test_window_open_base_and_mediated(void **state)
{
        (void)state;
        char path[32], spec[128];
        pattern_file(path, FSIZE);
        struct bd_nic_window w;

        snprintf(spec, sizeof(spec), "low=file:%s@0x1000", path);
        assert_bd_ok(bd_window_open(spec, 0, 0, &w));
        assert_int_equal(w.desc.base, 0x1000);
        assert_int_equal(w.desc.length, FSIZE);
        /* The base is not part of the source name. */
        assert_null(strchr(w.source, '@'));
        bd_window_close(&w);

        snprintf(spec, sizeof(spec), "dec=file:%s@8192", path);
        assert_bd_ok(bd_window_open(spec, 0, 0, &w));
        assert_int_equal(w.desc.base, 8192);
        bd_window_close(&w);

        /* The largest base that does not wrap. */
        snprintf(spec, sizeof(spec), "top=file:%s@%llu", path,
                 (unsigned long long)(UINT64_MAX - FSIZE));
        assert_bd_ok(bd_window_open(spec, 0, 0, &w));
        assert_int_equal(w.desc.base, UINT64_MAX - FSIZE);
        bd_window_close(&w);

        /* mediated forces copying even for a registrable file. */
        snprintf(spec, sizeof(spec), "m=file:%s", path);
        assert_bd_ok(bd_window_open(spec, 1, 1, &w));
        assert_int_equal(w.desc.mode, BD_MODE_MEDIATED);
        assert_int_equal(w.desc.access, BD_ACCESS_RW);
        bd_window_close(&w);
        unlink(path);
}

/* Malformed specs are usage errors, found before anything is opened. */
static void test_window_open_bad_specs(void **state)
{
        (void)state;
        char path[32], spec[512];
        pattern_file(path, FSIZE);
        struct bd_nic_window w;

        assert_bd_error(bd_window_open("file:/tmp/x", 0, 0, &w), BD_ERR_USAGE); /* no '=' */
        assert_bd_error(bd_window_open("", 0, 0, &w), BD_ERR_USAGE);
        snprintf(spec, sizeof(spec), "=file:%s", path); /* empty name */
        assert_bd_error(bd_window_open(spec, 0, 0, &w), BD_ERR_USAGE);

        /* 31 characters is the longest name; 32 does not fit with its NUL. */
        snprintf(spec, sizeof(spec), "%.31s=file:%s", "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn", path);
        assert_bd_ok(bd_window_open(spec, 0, 0, &w));
        assert_int_equal(strlen(w.desc.name), 31);
        bd_window_close(&w);
        snprintf(spec, sizeof(spec), "%.32s=file:%s", "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn", path);
        assert_bd_error(bd_window_open(spec, 0, 0, &w), BD_ERR_USAGE);

        /* Unknown source kinds, including a missing "file:" prefix. */
        assert_bd_error(bd_window_open("x=disk:/dev/sda", 0, 0, &w), BD_ERR_USAGE);
        snprintf(spec, sizeof(spec), "x=%s", path);
        assert_bd_error(bd_window_open(spec, 0, 0, &w), BD_ERR_USAGE);
        assert_bd_error(bd_window_open("x=", 0, 0, &w), BD_ERR_USAGE);

        /* Bad bases: not a number, empty, negative, trailing junk, > 64 bits. */
        static const char *const bases[] = {
            "zz", "", "-1", "0x1g", "12 ", "0x10000000000000000", "99999999999999999999"};
        for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
                snprintf(spec, sizeof(spec), "x=file:%s@%s", path, bases[i]);
                assert_bd_error(bd_window_open(spec, 0, 0, &w), BD_ERR_USAGE);
        }

        /* Base + length past 2^64; the mapping made meanwhile is undone. */
        snprintf(spec, sizeof(spec), "x=file:%s@0xffffffffffffffff", path);
        memset(&w, 0, sizeof(w));
        assert_bd_error(bd_window_open(spec, 0, 0, &w), BD_ERR_USAGE);
        assert_null(w.map);
        snprintf(spec, sizeof(spec), "x=file:%s@%llu", path,
                 (unsigned long long)(UINT64_MAX - FSIZE + 1));
        assert_bd_error(bd_window_open(spec, 0, 0, &w), BD_ERR_USAGE);
        assert_null(w.map);

        /* BAR numbers beyond 5 or not numbers. */
        static const char *const bars[] = {"6", "100", "-1", "x", "", "2x"};
        for (size_t i = 0; i < sizeof(bars) / sizeof(bars[0]); i++) {
                snprintf(spec, sizeof(spec), "x=pci:1af4:1110/%s", bars[i]);
                assert_bd_error(bd_window_open(spec, 0, 0, &w), BD_ERR_USAGE);
        }

        /* A source longer than the window can record. */
        char longsrc[400];
        memset(longsrc, 'a', sizeof(longsrc) - 1);
        longsrc[sizeof(longsrc) - 1] = '\0';
        snprintf(spec, sizeof(spec), "x=file:/%s", longsrc);
        assert_bd_error(bd_window_open(spec, 0, 0, &w), BD_ERR_USAGE);
        unlink(path);
}

/* "@ -8192" slips past the "no negative base" check (it only looks at the
 * first character, strtoull skips the blank) and becomes 2^64 - 8192. */
static void test_window_open_negative_base_with_blank(void **state)
{
        (void)state;
        char path[32], spec[128];
        pattern_file(path, 4096);
        snprintf(spec, sizeof(spec), "x=file:%s@ -8192", path);
        struct bd_nic_window w;
        struct bd_error *err = bd_window_open(spec, 0, 0, &w);
        if (!err)
                bd_window_close(&w);
        unlink(path);
        assert_bd_error(err, BD_ERR_USAGE);
}

/* The source exists or not: that is the target's problem, not usage. */
static void test_window_open_missing_file(void **state)
{
        (void)state;
        struct bd_nic_window w;
        struct bd_error *err = bd_window_open("x=file:/tmp/bdtest-no-such-file", 0, 0, &w);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_TARGET);
        /* The error names the window. */
        assert_non_null(strstr(err->message, "'x'"));
        bd_error_destroy(err);
        assert_bd_error(bd_window_open("x=file:", 0, 0, &w), BD_ERR_TARGET);
        /* Empty files and directories are no memory either. */
        char path[32], spec[128];
        temp_file(path, "", 0);
        snprintf(spec, sizeof(spec), "x=file:%s", path);
        assert_bd_error(bd_window_open(spec, 0, 0, &w), BD_ERR_TARGET);
        unlink(path);
        assert_bd_error(bd_window_open("x=file:/tmp", 0, 0, &w), BD_ERR_TARGET);
}

/* PCI selectors that match no device: an error object, never a crash or an
 * exit from inside libpci. (Which code depends on whether this machine lets
 * libpci scan at all, so only "an error" is asserted.) */
static void test_window_open_pci_no_match(void **state)
{
        (void)state;
        static const char *const specs[] = {
            "x=pci:ffff:fffe", /* vendor ffff is never assigned */
            "x=pci:ffff:fffe/0",
            "x=pci:00ff:1f.7", /* bus ff, slot 1f.7 */
            "x=pci:fffe:ff:1f.7/5@0x1000",
            "x=pci:zz:yy", /* not a selector */
            "x=pci:1:2:3:4:5.6",
            "x=pci:",
        };
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
                struct bd_nic_window w;
                struct bd_error *err = bd_window_open(specs[i], 0, 0, &w);
                if (!err) {
                        bd_window_close(&w);
                        print_error("%s opened a device\n", specs[i]);
                        fail();
                }
                assert_true(err->code == BD_ERR_TARGET || err->code == BD_ERR_USAGE);
                assert_true(err->message[0] != '\0');
                bd_error_destroy(err);
                assert_null(w.map);
        }
}

/* ======================================================================
 * NIC side: writes made by this CPU, audited first (bd_window_write)
 * ====================================================================== */

static uint64_t nic_words[64]; /* 8-aligned, as a mapping is */

static struct bd_nic_window nic_rw_window(void)
{
        for (unsigned i = 0; i < 64; i++)
                nic_words[i] = 0x1000 + i;
        return (struct bd_nic_window){.desc = {.name = "rw",
                                               .base = 0x100000,
                                               .length = sizeof(nic_words),
                                               .access = BD_ACCESS_RW},
                                      .map = (uint8_t *)nic_words,
                                      .map_len = sizeof(nic_words)};
}

static void test_nic_write_audited(void **state)
{
        (void)state;
        char log[32];
        temp_file(log, "", 0);
        assert_bd_ok(bd_audit_open(log));
        struct bd_nic_window w = nic_rw_window();
        uint64_t found = 0;

        /* Refused before any line or byte: misaligned, outside, empty, not
         * a write at all. */
        struct bd_request rq = {.op = BD_OP_CAS, .offset = 12, .compare = 0x1001, .swap = 1};
        assert_int_equal(bd_window_write(&w, "10.0.0.1:9", &rq, &found), BD_ERR_RANGE);
        rq.offset = sizeof(nic_words);
        assert_int_equal(bd_window_write(&w, "10.0.0.1:9", &rq, &found), BD_ERR_RANGE);
        uint8_t small[5] = {1, 2, 3, 4, 5}, big[100];
        struct bd_request wr = {.op = BD_OP_WRITE, .offset = 40, .length = 0, .data = small};
        assert_int_equal(bd_window_write(&w, "10.0.0.1:9", &wr, &found), BD_ERR_RANGE);
        wr.offset = sizeof(nic_words) - 4;
        wr.length = 5;
        assert_int_equal(bd_window_write(&w, "10.0.0.1:9", &wr, &found), BD_ERR_RANGE);
        struct bd_request rd = {.op = BD_OP_READ, .offset = 0, .length = 8};
        assert_int_equal(bd_window_write(&w, "10.0.0.1:9", &rd, &found), BD_ERR_PROTOCOL);
        struct stat st;
        assert_int_equal(stat(log, &st), 0);
        assert_int_equal(st.st_size, 0);
        for (unsigned i = 0; i < 64; i++)
                assert_int_equal(nic_words[i], 0x1000 + i);

        /* A match swaps; the line has the value found and the outcome. */
        rq = (struct bd_request){.op = BD_OP_CAS, .offset = 16, .compare = 0x1002, .swap = 0xabc};
        assert_int_equal(bd_window_write(&w, "10.0.0.1:9", &rq, &found), 0);
        assert_int_equal(found, 0x1002);
        assert_int_equal(nic_words[2], 0xabc);
        /* A stale expectation writes nothing and reports the word found. */
        rq.swap = 0xdef;
        assert_int_equal(bd_window_write(&w, "10.0.0.1:9", &rq, &found), 0);
        assert_int_equal(found, 0xabc);
        assert_int_equal(nic_words[2], 0xabc);
        rq.offset = sizeof(nic_words) - 8; /* the last word */
        rq.compare = 0x103f;
        assert_int_equal(bd_window_write(&w, "10.0.0.1:9", &rq, &found), 0);
        assert_int_equal(nic_words[63], 0xdef);

        /* Writes: a few bytes are audited as hex, more as a digest. */
        wr.offset = 40;
        assert_int_equal(bd_window_write(&w, "10.0.0.1:9", &wr, &found), 0);
        assert_memory_equal((uint8_t *)nic_words + 40, small, 5);
        assert_int_equal(nic_words[5] >> 40, 0); /* the rest of the word kept */
        assert_int_equal(nic_words[4], 0x1004);
        assert_int_equal(nic_words[6], 0x1006);
        memset(big, 0x77, sizeof(big));
        wr.offset = 64;
        wr.length = sizeof(big);
        wr.data = big;
        assert_int_equal(bd_window_write(&w, "10.0.0.1:9", &wr, &found), 0);
        assert_memory_equal((uint8_t *)nic_words + 64, big, sizeof(big));
        assert_int_equal(nic_words[20], 0x77777777); /* the write ends 4 bytes in */
        assert_int_equal(nic_words[21], 0x1015);

        bd_audit_close();
        char *text = slurp(log, NULL);
        assert_non_null(strstr(text, " audit mediated peer=10.0.0.1:9 window=rw op=cas "
                                     "phys=0x100010 expect=0x1002 new=0xabc found=0x1002 "
                                     "result=swapped\n"));
        assert_non_null(strstr(text, " audit mediated peer=10.0.0.1:9 window=rw op=cas "
                                     "phys=0x100010 expect=0x1002 new=0xdef found=0xabc "
                                     "result=mismatch\n"));
        assert_non_null(strstr(text, "op=cas phys=0x1001f8 expect=0x103f new=0xdef "
                                     "found=0x103f result=swapped\n"));
        /* 0x1005, little-endian: the bytes the write replaced. */
        assert_non_null(strstr(text, " audit mediated peer=10.0.0.1:9 window=rw op=write "
                                     "phys=0x100028 len=5 new=0102030405 found=0510000000\n"));
        assert_non_null(strstr(text, "op=write phys=0x100040 len=100 new=blake2b:"));
        assert_null(strstr(text, "raced")); /* nothing else writes these words */
        free(text);
        unlink(log);
}

/* A CASV: every operation checked before any is made, then made in order,
 * each audited as a CAS alone would be. */
static void test_nic_casv(void **state)
{
        (void)state;
        char log[32];
        temp_file(log, "", 0);
        assert_bd_ok(bd_audit_open(log));
        struct bd_nic_window w = nic_rw_window();
        uint8_t ops[4 * BD_CASV_OP_LEN], answers[4 * BD_CASV_ANSWER_LEN];
        /* One word outside or unaligned refuses the whole request. */
        bd_wire_casv_put(ops, 0, 8, 0x1001, 1);
        bd_wire_casv_put(ops, 1, sizeof(nic_words), 0, 1);
        assert_int_equal(bd_window_casv(&w, "p", ops, 2, answers), BD_ERR_RANGE);
        bd_wire_casv_put(ops, 1, 20, 0, 1);
        assert_int_equal(bd_window_casv(&w, "p", ops, 2, answers), BD_ERR_RANGE);
        assert_int_equal(nic_words[1], 0x1001);
        struct stat st;
        assert_int_equal(stat(log, &st), 0);
        assert_int_equal(st.st_size, 0);

        /* In order: the second operation on word 3 meets the first's value;
         * a stale one writes nothing and reports what it found. */
        bd_wire_casv_put(ops, 0, 24, 0x1003, 0xa);
        bd_wire_casv_put(ops, 1, 24, 0xa, 0xb);
        bd_wire_casv_put(ops, 2, 32, 0x9999, 0xc);
        bd_wire_casv_put(ops, 3, 8, 0x1001, 0xd);
        assert_int_equal(bd_window_casv(&w, "p", ops, 4, answers), 0);
        static const uint64_t want_found[] = {0x1003, 0xa, 0x1004, 0x1001};
        for (unsigned i = 0; i < 4; i++) {
                uint64_t found;
                uint32_t status;
                bd_wire_casv_answer_get(answers, i, &found, &status);
                assert_int_equal(status, 0);
                assert_int_equal(found, want_found[i]);
        }
        assert_int_equal(nic_words[3], 0xb);
        assert_int_equal(nic_words[4], 0x1004);
        assert_int_equal(nic_words[1], 0xd);
        bd_audit_close();
        char *text = slurp(log, NULL);
        assert_non_null(strstr(text, "op=cas phys=0x100018 expect=0x1003 new=0xa found=0x1003 "
                                     "result=swapped\n"));
        assert_non_null(strstr(text, "op=cas phys=0x100018 expect=0xa new=0xb found=0xa "
                                     "result=swapped\n"));
        assert_non_null(strstr(text, "op=cas phys=0x100020 expect=0x9999 new=0xc found=0x1004 "
                                     "result=mismatch\n"));
        free(text);
        unlink(log);

        /* No audit line, no write: every operation is refused. */
        assert_int_equal(access("/dev/full", W_OK), 0);
        assert_bd_ok(bd_audit_open("/dev/full"));
        bd_wire_casv_put(ops, 0, 40, 0x1005, 1);
        bd_wire_casv_put(ops, 1, 48, 0x1006, 1);
        assert_int_equal(bd_window_casv(&w, "p", ops, 2, answers), 0);
        for (unsigned i = 0; i < 2; i++) {
                uint64_t found;
                uint32_t status;
                bd_wire_casv_answer_get(answers, i, &found, &status);
                assert_int_equal(status, BD_ERR_READONLY);
        }
        assert_int_equal(nic_words[5], 0x1005);
        assert_int_equal(nic_words[6], 0x1006);
        bd_audit_close();
}

/* An audit line that cannot be written means no write: fail closed. */
static void test_nic_write_fails_closed(void **state)
{
        (void)state;
        if (access("/dev/full", W_OK))
                skip();
        assert_bd_ok(bd_audit_open("/dev/full")); /* every write(2): ENOSPC */
        struct bd_nic_window w = nic_rw_window();
        uint64_t found = 0;
        struct bd_request rq = {.op = BD_OP_CAS, .offset = 8, .compare = 0x1001, .swap = 7};
        assert_int_equal(bd_window_write(&w, "p", &rq, &found), BD_ERR_READONLY);
        assert_int_equal(nic_words[1], 0x1001);
        uint8_t bytes[3] = {9, 9, 9};
        struct bd_request wr = {.op = BD_OP_WRITE, .offset = 8, .length = 3, .data = bytes};
        assert_int_equal(bd_window_write(&w, "p", &wr, &found), BD_ERR_READONLY);
        assert_int_equal(nic_words[1], 0x1001);
        assert_int_equal(bd_audit("x"), -1);
        bd_audit_close();
}

/* ======================================================================
 * Monitor side: the file source over a raw image
 * ====================================================================== */

static struct bd_phys *open_raw(char *path, size_t size, int writable)
{
        pattern_file(path, size);
        struct bd_phys *p = NULL;
        assert_bd_ok(bd_phys_open_file(path, writable, &p));
        assert_non_null(p);
        snprintf(p->name, sizeof(p->name), "test");
        return p;
}

static void test_raw_layout(void **state)
{
        (void)state;
        char path[32];
        struct bd_phys *p = open_raw(path, FSIZE, 0);
        assert_int_equal(p->nwindows, 1);
        assert_int_equal(p->windows[0].base, 0);
        assert_int_equal(p->windows[0].length, FSIZE);
        assert_int_equal(p->windows[0].access, BD_ACCESS_RO);
        assert_non_null(strstr(p->describe, path));
        bd_phys_close(p);
        unlink(path);

        p = open_raw(path, FSIZE, 1);
        assert_int_equal(p->windows[0].access, BD_ACCESS_RW);
        bd_phys_close(p);
        unlink(path);
}

static void test_raw_reads(void **state)
{
        (void)state;
        char path[32];
        struct bd_phys *p = open_raw(path, FSIZE, 0);
        uint8_t *want = pattern_buf(FSIZE);
        uint8_t got[FSIZE];

        assert_bd_ok(bd_phys_read(p, 0, got, FSIZE)); /* everything */
        assert_memory_equal(got, want, FSIZE);
        assert_bd_ok(bd_phys_read(p, 4095, got, 2)); /* across a page */
        assert_memory_equal(got, want + 4095, 2);
        assert_bd_ok(bd_phys_read(p, FSIZE - 1, got, 1)); /* the last byte */
        assert_int_equal(got[0], want[FSIZE - 1]);
        assert_int_equal(p->bytes_read, FSIZE + 3);

        /* A read of nothing succeeds and touches nothing. */
        memset(got, 0xee, 4);
        assert_bd_ok(bd_phys_read(p, 100, got, 0));
        assert_int_equal(got[0], 0xee);
        free(want);
        bd_phys_close(p);
        unlink(path);
}

/* Reads leaving the file are refused as a whole, not silently shortened. */
static void test_raw_reads_out_of_range(void **state)
{
        (void)state;
        char path[32];
        struct bd_phys *p = open_raw(path, FSIZE, 0);
        uint8_t got[64];
        assert_bd_error(bd_phys_read(p, FSIZE - 4, got, 5), BD_ERR_RANGE); /* straddles the end */
        assert_bd_error(bd_phys_read(p, FSIZE - 1, got, 64), BD_ERR_RANGE);
        assert_bd_error(bd_phys_read(p, FSIZE, got, 1), BD_ERR_RANGE); /* starts at the end */
        assert_bd_error(bd_phys_read(p, 1ull << 40, got, 8), BD_ERR_RANGE);
        /* addr + len wraps the address space. */
        assert_bd_error(bd_phys_read(p, UINT64_MAX - 3, got, 8), BD_ERR_RANGE);
        assert_bd_error(bd_phys_read(p, UINT64_MAX, got, 1), BD_ERR_RANGE);
        bd_phys_close(p);
        unlink(path);
}

static void test_window_of(void **state)
{
        (void)state;
        char path[32];
        struct bd_phys *p = open_raw(path, FSIZE, 0);
        assert_int_equal(bd_phys_window_of(p, 0), 0);
        assert_int_equal(bd_phys_window_of(p, FSIZE - 1), 0);
        assert_int_equal(bd_phys_window_of(p, FSIZE), -1);
        assert_int_equal(bd_phys_window_of(p, UINT64_MAX), -1);
        bd_phys_close(p);
        unlink(path);

        /* Hand-made windows with a gap and one at the very top. */
        struct bd_phys q = {.nwindows = 3};
        q.windows[0] = (struct bd_window_desc){.base = 0x1000, .length = 0x1000};
        q.windows[1] = (struct bd_window_desc){.base = 0x3000, .length = 0x10};
        q.windows[2] = (struct bd_window_desc){.base = UINT64_MAX - 0xf, .length = 0x10};
        assert_int_equal(bd_phys_window_of(&q, 0xfff), -1);
        assert_int_equal(bd_phys_window_of(&q, 0x1000), 0);
        assert_int_equal(bd_phys_window_of(&q, 0x1fff), 0);
        assert_int_equal(bd_phys_window_of(&q, 0x2000), -1);
        assert_int_equal(bd_phys_window_of(&q, 0x300f), 1);
        assert_int_equal(bd_phys_window_of(&q, 0x3010), -1);
        assert_int_equal(bd_phys_window_of(&q, UINT64_MAX), 2);
        assert_int_equal(bd_phys_window_of(&q, UINT64_MAX - 0x10), -1);
}

static void test_read_batch(void **state)
{
        (void)state;
        char path[32];
        struct bd_phys *p = open_raw(path, FSIZE, 0);
        uint8_t *want = pattern_buf(FSIZE);
        uint8_t a[10], b[4096], c[1], d[1];
        struct bd_phys_iov iov[] = {
            {FSIZE - 10, a, sizeof(a)},
            {0, b, sizeof(b)},
            {777, c, 0}, /* empty pieces are fine in a batch */
            {4096 * 2 + 3, d, 1},
        };
        uint64_t trips = p->round_trips;
        assert_bd_ok(bd_phys_read_batch(p, iov, 4));
        assert_memory_equal(a, want + FSIZE - 10, sizeof(a));
        assert_memory_equal(b, want, sizeof(b));
        assert_int_equal(d[0], want[4096 * 2 + 3]);
        /* One pipelined round for the whole batch. */
        assert_int_equal(p->round_trips, trips + 1);

        /* More pieces than one internal group (64): all of them land. */
        enum { N = 200 };
        static uint8_t many[N][3];
        struct bd_phys_iov miov[N];
        for (int i = 0; i < N; i++)
                miov[i] = (struct bd_phys_iov){(uint64_t)i * 61, many[i], 3};
        assert_bd_ok(bd_phys_read_batch(p, miov, N));
        for (int i = 0; i < N; i++)
                assert_memory_equal(many[i], want + i * 61, 3);

        /* One bad range fails the batch. */
        struct bd_phys_iov bad[] = {{0, a, 4}, {FSIZE, b, 1}};
        assert_bd_error(bd_phys_read_batch(p, bad, 2), BD_ERR_RANGE);
        assert_bd_ok(bd_phys_read_batch(p, NULL, 0));
        free(want);
        bd_phys_close(p);
        unlink(path);
}

/* The missing file is the target's problem; a directory is no image. */
static void test_phys_open_file_errors(void **state)
{
        (void)state;
        struct bd_phys *p = NULL;
        assert_bd_error(bd_phys_open_file("/tmp/bdtest-no-such-ram", 0, &p), BD_ERR_TARGET);
        assert_bd_error(bd_phys_open_file("/tmp", 0, &p), BD_ERR_TARGET);
        char path[32];
        temp_file(path, "", 0);
        assert_bd_error(bd_phys_open_file(path, 0, &p), BD_ERR_TARGET);
        unlink(path);
        assert_null(p);
}

/* ---- compare-and-swap --------------------------------------------------- */

static uint64_t word_at(const char *path, off_t off)
{
        uint64_t v = 0;
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &v, 8, off), 8);
        close(fd);
        return v;
}

/* The monitor's own --write is off by default: no CAS, whatever the file. */
static void test_cas_readonly(void **state)
{
        (void)state;
        char path[32];
        struct bd_phys *p = open_raw(path, FSIZE, 1);
        uint64_t before = word_at(path, 64), old = 0;
        assert_int_equal(p->write_enabled, 0);
        assert_bd_error(bd_phys_cas(p, 64, before, 1, &old), BD_ERR_READONLY);
        assert_int_equal(word_at(path, 64), before);
        bd_phys_close(p);
        unlink(path);
}

static void test_cas_unaligned_and_outside(void **state)
{
        (void)state;
        char path[32];
        struct bd_phys *p = open_raw(path, FSIZE, 1);
        p->write_enabled = 1;
        uint64_t old = 0;
        for (uint64_t a = 65; a < 72; a++)
                assert_bd_error(bd_phys_cas(p, a, word_at(path, (off_t)a), 1, &old), BD_ERR_USAGE);
        /* Alignment is checked first, even outside every window. */
        assert_bd_error(bd_phys_cas(p, (1ull << 40) + 4, 0, 1, &old), BD_ERR_USAGE);
        assert_bd_error(bd_phys_cas(p, 1ull << 40, 0, 1, &old), BD_ERR_RANGE);
        assert_bd_error(bd_phys_cas(p, UINT64_MAX - 7, 0, 1, &old), BD_ERR_RANGE);
        bd_phys_close(p);
        unlink(path);
}

static void test_cas_swaps_and_reports_mismatch(void **state)
{
        (void)state;
        char path[32], log[32];
        temp_file(log, "", 0);
        assert_bd_ok(bd_audit_open(log));

        struct bd_phys *p = open_raw(path, FSIZE, 1);
        p->write_enabled = 1;
        const uint64_t addr = 4096 + 8;
        uint64_t before = word_at(path, addr), old = 0;

        /* Matching expect: swapped, the file holds the new value, and a
         * read through the source sees it. */
        assert_bd_ok(bd_phys_cas(p, addr, before, 0x1122334455667788ull, &old));
        assert_int_equal(old, before);
        assert_int_equal(word_at(path, addr), 0x1122334455667788ull);
        uint64_t via = 0;
        assert_bd_ok(bd_phys_read(p, addr, &via, 8));
        assert_int_equal(via, 0x1122334455667788ull);
        /* Neighbours untouched. */
        uint8_t around[2];
        assert_bd_ok(bd_phys_read(p, addr - 1, &around[0], 1));
        assert_bd_ok(bd_phys_read(p, addr + 8, &around[1], 1));
        assert_int_equal(around[0], pattern(addr - 1));
        assert_int_equal(around[1], pattern(addr + 8));

        /* Stale expect: CAS_FAILED with the value found, nothing written. */
        old = 0;
        struct bd_error *err = bd_phys_cas(p, addr, before, 42, &old);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_CAS_FAILED);
        bd_error_destroy(err);
        assert_int_equal(old, 0x1122334455667788ull);
        assert_int_equal(word_at(path, addr), 0x1122334455667788ull);

        /* The last whole word of the file. */
        uint64_t last = (FSIZE & ~7ull) - 8;
        assert_bd_ok(bd_phys_cas(p, last, word_at(path, (off_t)last), 7, NULL));
        assert_int_equal(word_at(path, (off_t)last), 7);
        bd_phys_close(p);

        /* Every CAS was audited with its outcome and the value found. */
        bd_audit_close();
        char *text = slurp(log, NULL);
        char want[160];
        snprintf(want, sizeof(want),
                 "phys=0x1008 expect=0x%llx new=0x1122334455667788 found=0x%llx result=swapped\n",
                 (unsigned long long)before, (unsigned long long)before);
        assert_non_null(strstr(text, want));
        snprintf(want, sizeof(want),
                 "phys=0x1008 expect=0x%llx new=0x2a found=0x1122334455667788 result=mismatch\n",
                 (unsigned long long)before);
        assert_non_null(strstr(text, want));
        assert_non_null(strstr(text, "source=\"file /tmp/bdtest."));
        free(text);
        unlink(log);
        unlink(path);
}

/* ======================================================================
 * ELF cores
 * ====================================================================== */

static uint8_t *make_core(size_t size, const struct test_seg *s, unsigned n)
{
        uint8_t *img = pattern_buf(size);
        assert_true(size >= sizeof(Elf64_Ehdr) + n * sizeof(Elf64_Phdr));
        write_core_headers(img, s, n);
        return img;
}

static Elf64_Ehdr *ehdr(uint8_t *img)
{
        return (Elf64_Ehdr *)(void *)img;
}

static Elf64_Phdr *phdr(uint8_t *img, unsigned i)
{
        return (Elf64_Phdr *)(void *)(img + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

/* A is followed in physical memory by B, but B comes first in the file; C
 * sits after a gap. A note and an empty PT_LOAD are not windows. */
#define CORE_SIZE 0x8000
static const struct test_seg core_segs[] = {
    {PT_NOTE, 0, 0x100, 0x3000},
    {PT_LOAD, 0x100000, 0x3000, 0x4000}, /* A: file 0x4000..0x7000 */
    {PT_LOAD, 0x103000, 0x2000, 0x1000}, /* B: file 0x1000..0x3000 */
    {PT_LOAD, 0x180000, 0, 0},           /* memsz-only: nothing in the file */
    {PT_LOAD, 0x200000, 0x1000, 0x7000}, /* C: file 0x7000..0x8000 */
};
#define CORE_NSEGS 5

/* Layout from a heap copy of exactly size bytes, so that ASan sees any read
 * past the image. Returns the error, if any. */
static struct bd_error *layout(const uint8_t *img, size_t size, struct bd_window_desc *w,
                               uint64_t *off, unsigned *n)
{
        uint8_t *copy = malloc(size ? size : 1);
        assert_non_null(copy);
        memcpy(copy, img, size);
        struct bd_error *err = bd_file_layout(copy, size, w, off, n);
        if (!err) {
                /* Invariant: every window lies inside the image. */
                for (unsigned i = 0; i < *n; i++) {
                        assert_true(off[i] <= size);
                        assert_true(w[i].length <= size - off[i]);
                        /* Empty only for an empty raw image (which
                         * bd_phys_open_file refuses before this). */
                        assert_true(w[i].length > 0 || size == 0);
                        assert_true(w[i].length <= UINT64_MAX - w[i].base); /* no wrap */
                }
        }
        free(copy);
        return err;
}

static void test_core_layout(void **state)
{
        (void)state;
        uint8_t *img = make_core(CORE_SIZE, core_segs, CORE_NSEGS);
        struct bd_window_desc w[BD_MAX_WINDOWS];
        uint64_t off[BD_MAX_WINDOWS];
        unsigned n = 99;
        assert_bd_ok(layout(img, CORE_SIZE, w, off, &n));
        assert_int_equal(n, 3);
        assert_int_equal(w[0].base, 0x100000);
        assert_int_equal(w[0].length, 0x3000);
        assert_int_equal(off[0], 0x4000);
        assert_int_equal(w[1].base, 0x103000);
        assert_int_equal(w[1].length, 0x2000);
        assert_int_equal(off[1], 0x1000);
        assert_int_equal(w[2].base, 0x200000);
        assert_int_equal(w[2].length, 0x1000);
        assert_int_equal(off[2], 0x7000);
        for (unsigned i = 0; i < n; i++) {
                assert_int_equal(w[i].mode, BD_MODE_DIRECT);
                assert_int_equal(w[i].access, BD_ACCESS_RO);
                assert_true(w[i].name[0] != '\0');
        }
        free(img);
}

/* Not ELF at all (or too short to be): one raw window over the whole file. */
static void test_raw_layout_fallback(void **state)
{
        (void)state;
        struct bd_window_desc w[BD_MAX_WINDOWS];
        uint64_t off[BD_MAX_WINDOWS];
        unsigned n = 0;
        uint8_t img[100] = {0};
        assert_bd_ok(layout(img, sizeof(img), w, off, &n));
        assert_int_equal(n, 1);
        assert_int_equal(w[0].base, 0);
        assert_int_equal(w[0].length, sizeof(img));
        assert_int_equal(off[0], 0);
        /* ELF magic but shorter than an ELF header: raw bytes. */
        memcpy(img, ELFMAG, SELFMAG);
        assert_bd_ok(layout(img, sizeof(Elf64_Ehdr) - 1, w, off, &n));
        assert_int_equal(n, 1);
        assert_int_equal(w[0].length, sizeof(Elf64_Ehdr) - 1);
}

static void test_core_reads(void **state)
{
        (void)state;
        uint8_t *img = make_core(CORE_SIZE, core_segs, CORE_NSEGS);
        char path[32];
        temp_file(path, img, CORE_SIZE);
        struct bd_phys *p = NULL;
        assert_bd_ok(bd_phys_open_file(path, 0, &p));
        assert_int_equal(p->nwindows, 3);
        uint8_t got[0x40];

        /* Start of A is file 0x4000. */
        assert_bd_ok(bd_phys_read(p, 0x100000, got, 16));
        assert_memory_equal(got, img + 0x4000, 16);
        /* Across A's end into B: file 0x6ff0.. then jumps back to 0x1000. */
        assert_bd_ok(bd_phys_read(p, 0x102ff0, got, 0x20));
        assert_memory_equal(got, img + 0x6ff0, 0x10);
        assert_memory_equal(got + 0x10, img + 0x1000, 0x10);
        /* The last byte of C, the last byte of the file. */
        assert_bd_ok(bd_phys_read(p, 0x200fff, got, 1));
        assert_int_equal(got[0], img[CORE_SIZE - 1]);

        /* The gap after B, the memsz-only segment, below A, and a file
         * offset that is not a physical address. */
        assert_bd_error(bd_phys_read(p, 0x105000, got, 1), BD_ERR_RANGE);
        assert_bd_error(bd_phys_read(p, 0x104ff8, got, 16), BD_ERR_RANGE); /* B into the gap */
        assert_bd_error(bd_phys_read(p, 0x180000, got, 1), BD_ERR_RANGE);
        assert_bd_error(bd_phys_read(p, 0xfffff, got, 2), BD_ERR_RANGE);
        assert_bd_error(bd_phys_read(p, 0x4000, got, 1), BD_ERR_RANGE);
        assert_bd_error(bd_phys_read(p, 0x201000, got, 1), BD_ERR_RANGE);
        bd_phys_close(p);
        unlink(path);
        free(img);
}

/* Expect bd_file_layout to refuse img with BD_ERR_TARGET. */
static void expect_bad_core(const uint8_t *img, size_t size)
{
        struct bd_window_desc w[BD_MAX_WINDOWS];
        uint64_t off[BD_MAX_WINDOWS];
        unsigned n = 0;
        assert_bd_error(layout(img, size, w, off, &n), BD_ERR_TARGET);
}

/* A two-segment core to corrupt. */
static const struct test_seg small_segs[] = {
    {PT_LOAD, 0x1000, 0x100, 0x200},
    {PT_LOAD, 0x9000, 0x100, 0x300},
};
#define SMALL_SIZE 0x400

static uint8_t *small_core(void)
{
        return make_core(SMALL_SIZE, small_segs, 2);
}

static void test_core_bad_headers(void **state)
{
        (void)state;
        uint8_t *img;
        static const uint64_t bad_phoff[] = {SMALL_SIZE + 1, SMALL_SIZE - 56 + 1, UINT64_MAX,
                                             UINT64_MAX - 55, 0x8000000000000000ull};
        for (size_t i = 0; i < sizeof(bad_phoff) / sizeof(bad_phoff[0]); i++) {
                img = small_core();
                ehdr(img)->e_phoff = bad_phoff[i];
                ehdr(img)->e_phnum = 1;
                expect_bad_core(img, SMALL_SIZE);
                free(img);
        }
        /* phnum * phentsize runs past the file. */
        static const uint16_t bad_phnum[] = {(SMALL_SIZE - 64) / 56 + 1, 0xfffe, 0xffff};
        for (size_t i = 0; i < 3; i++) {
                img = small_core();
                ehdr(img)->e_phnum = bad_phnum[i];
                expect_bad_core(img, SMALL_SIZE);
                free(img);
        }
        /* A program header size this code does not understand. */
        img = small_core();
        ehdr(img)->e_phentsize = 32;
        expect_bad_core(img, SMALL_SIZE);
        ehdr(img)->e_phentsize = 0;
        expect_bad_core(img, SMALL_SIZE);
        free(img);
        /* Not a core: executables, shared objects, relocatables. */
        static const uint16_t types[] = {ET_NONE, ET_REL, ET_EXEC, ET_DYN, 0xffff};
        for (size_t i = 0; i < 5; i++) {
                img = small_core();
                ehdr(img)->e_type = types[i];
                expect_bad_core(img, SMALL_SIZE);
                free(img);
        }
        /* 32-bit class, big-endian, no class. */
        img = small_core();
        img[EI_CLASS] = ELFCLASS32;
        expect_bad_core(img, SMALL_SIZE);
        img[EI_CLASS] = ELFCLASSNONE;
        expect_bad_core(img, SMALL_SIZE);
        img[EI_CLASS] = ELFCLASS64;
        img[EI_DATA] = ELFDATA2MSB;
        expect_bad_core(img, SMALL_SIZE);
        free(img);
}

static void test_core_bad_segments(void **state)
{
        (void)state;
        struct {
                uint64_t offset, filesz, paddr;
        } bad[] = {
            {SMALL_SIZE + 1, 1, 0x1000},       /* starts past the file */
            {SMALL_SIZE, 1, 0x1000},           /* starts at the end */
            {0x300, 0x101, 0x1000},            /* ends one past the file */
            {0x300, UINT64_MAX, 0x1000},       /* absurd size */
            {UINT64_MAX, 2, 0x1000},           /* offset + size wraps */
            {0x10, UINT64_MAX - 0xf, 0x1000},  /* offset + size wraps to 0 */
            {0x300, 0x100, UINT64_MAX - 0x7f}, /* paddr + size wraps */
            {0x300, 0x100, UINT64_MAX - 0xff}, /* ... to exactly 2^64 */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint8_t *img = small_core();
                phdr(img, 1)->p_offset = bad[i].offset;
                phdr(img, 1)->p_filesz = bad[i].filesz;
                phdr(img, 1)->p_paddr = bad[i].paddr;
                expect_bad_core(img, SMALL_SIZE);
                free(img);
        }
        /* A segment that ends exactly at the end of the file is fine. */
        uint8_t *img = small_core();
        struct bd_window_desc w[BD_MAX_WINDOWS];
        uint64_t off[BD_MAX_WINDOWS];
        unsigned n = 0;
        assert_bd_ok(layout(img, SMALL_SIZE, w, off, &n));
        assert_int_equal(n, 2);
        free(img);
}

static void test_core_no_loads(void **state)
{
        (void)state;
        /* Only notes. */
        static const struct test_seg notes[] = {{PT_NOTE, 0, 0x10, 0x100},
                                                {PT_NULL, 0, 0x10, 0x100}};
        uint8_t *img = make_core(SMALL_SIZE, notes, 2);
        expect_bad_core(img, SMALL_SIZE);
        free(img);
        /* PT_LOADs that hold nothing in the file. */
        static const struct test_seg empty[] = {{PT_LOAD, 0x1000, 0, 0x100}};
        img = make_core(SMALL_SIZE, empty, 1);
        expect_bad_core(img, SMALL_SIZE);
        free(img);
        /* No program headers at all. */
        img = make_core(SMALL_SIZE, NULL, 0);
        expect_bad_core(img, SMALL_SIZE);
        free(img);
}

static void test_core_too_many_loads(void **state)
{
        (void)state;
        struct test_seg s[BD_MAX_WINDOWS + 1];
        for (unsigned i = 0; i < BD_MAX_WINDOWS + 1; i++)
                s[i] = (struct test_seg){PT_LOAD, 0x100000ull * (i + 1), 0x10, 0x800 + 0x10 * i};
        /* Exactly BD_MAX_WINDOWS is fine... */
        uint8_t *img = make_core(0x1000, s, BD_MAX_WINDOWS);
        struct bd_window_desc w[BD_MAX_WINDOWS];
        uint64_t off[BD_MAX_WINDOWS];
        unsigned n = 0;
        assert_bd_ok(layout(img, 0x1000, w, off, &n));
        assert_int_equal(n, BD_MAX_WINDOWS);
        free(img);
        /* ...one more is refused, not written past the window table. */
        img = make_core(0x1000, s, BD_MAX_WINDOWS + 1);
        expect_bad_core(img, 0x1000);
        free(img);
        /* Extra non-loadable headers do not count. */
        struct test_seg mixed[BD_MAX_WINDOWS + 4];
        memcpy(mixed, s, sizeof(struct test_seg) * BD_MAX_WINDOWS);
        for (unsigned i = BD_MAX_WINDOWS; i < BD_MAX_WINDOWS + 4; i++)
                mixed[i] = (struct test_seg){PT_NOTE, 0, 0x10, 0x900};
        img = make_core(0x1000, mixed, BD_MAX_WINDOWS + 4);
        assert_bd_ok(layout(img, 0x1000, w, off, &n));
        assert_int_equal(n, BD_MAX_WINDOWS);
        free(img);
}

/* A corrupt core through the whole file source: refused, nothing leaked. */
static void test_core_bad_file(void **state)
{
        (void)state;
        uint8_t *img = small_core();
        phdr(img, 0)->p_filesz = 0x10000;
        char path[32];
        temp_file(path, img, SMALL_SIZE);
        struct bd_phys *p = NULL;
        struct bd_error *err = bd_phys_open_file(path, 0, &p);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_TARGET);
        assert_non_null(strstr(err->message, path)); /* says which file */
        bd_error_destroy(err);
        assert_null(p);
        unlink(path);
        free(img);
}

/* Every single-byte corruption of the headers, with a few values each:
 * either a layout whose windows lie inside the file, or an error. Never a
 * crash or an out-of-bounds read (the copy is exactly sized for ASan). */
static void test_core_header_mutations(void **state)
{
        (void)state;
        static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
        uint8_t *img = small_core();
        size_t hdrs = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr);
        struct bd_window_desc w[BD_MAX_WINDOWS];
        uint64_t off[BD_MAX_WINDOWS];
        unsigned n;
        for (size_t i = 0; i < hdrs; i++) {
                uint8_t saved = img[i];
                for (size_t v = 0; v < sizeof(values); v++) {
                        img[i] = values[v];
                        struct bd_error *err = layout(img, SMALL_SIZE, w, off, &n);
                        if (err) {
                                assert_int_equal(err->code, BD_ERR_TARGET);
                                bd_error_destroy(err);
                        }
                }
                img[i] = saved;
        }
        /* And every truncation of the file. */
        for (size_t size = 0; size < SMALL_SIZE; size++) {
                struct bd_error *err = layout(img, size, w, off, &n);
                if (err)
                        bd_error_destroy(err);
        }
        free(img);
}

/* CAS in an ELF core at the last word of a segment whose length is not a
 * multiple of 8: the word's last 4 bytes are outside the window, here the
 * first bytes of another segment. bd_phys_cas only checks that addr is in a
 * window (not addr + 8), and file_cas does not check at all, so the swap
 * writes into physical 0x50000..0x50003. The NIC side (serve.c) checks the
 * whole word with bd_window_contains(offset, 8). */
/* How a CAS is done, as `bdmon windows` shows it: on the mapped file when
 * the monitor opened it for writing, else refused, saying why. */
static void test_cas_how(void **state)
{
        (void)state;
        char path[32];
        const char *why = NULL;
        struct bd_phys *p = open_raw(path, FSIZE, 0);
        assert_string_equal(bd_phys_cas_how(p, 0, &why), "refused");
        assert_non_null(strstr(why, "read-only"));
        bd_phys_close(p);
        unlink(path);
        p = open_raw(path, FSIZE, 1);
        assert_string_equal(bd_phys_cas_how(p, 0, &why), "local");
        assert_string_equal(why, "a locked compare-and-swap on the mapped file");
        /* No such window, and a source that says nothing: refused. */
        assert_string_equal(bd_phys_cas_how(p, 1, &why), "refused");
        p->cas_method = NULL;
        assert_string_equal(bd_phys_cas_how(p, 0, &why), "refused");
        assert_true(why[0] != '\0');
        bd_phys_close(p);
        unlink(path);
}

static void test_cas_must_stay_inside_window(void **state)
{
        (void)state;
        static const struct test_seg s[] = {
            {PT_LOAD, 0x10000, 0x1004, 0x1000}, /* file 0x1000..0x2004 */
            {PT_LOAD, 0x50000, 0x1000, 0x2004}, /* file 0x2004..0x3004 */
        };
        uint8_t *img = make_core(0x4000, s, 2);
        char path[32];
        temp_file(path, img, 0x4000);
        struct bd_phys *p = NULL;
        assert_bd_ok(bd_phys_open_file(path, 1, &p));
        p->write_enabled = 1;
        uint64_t word = word_at(path, 0x2000), old = 0;
        struct bd_error *err = bd_phys_cas(p, 0x11000, word, 0, &old);
        uint64_t after = word_at(path, 0x2000);
        bd_phys_close(p);
        unlink(path);
        free(img);
        /* The other segment's bytes must be untouched... */
        assert_int_equal(after >> 32, word >> 32);
        /* ...and the CAS refused as out of range. */
        assert_bd_error(err, BD_ERR_RANGE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_contains_edges),
            cmocka_unit_test(test_contains_overflow),
            cmocka_unit_test(test_readv),
            cmocka_unit_test(test_nic_write_audited),
            cmocka_unit_test(test_nic_casv),
            cmocka_unit_test(test_nic_write_fails_closed),
            cmocka_unit_test(test_window_open_file),
            cmocka_unit_test(test_window_open_file_writable),
            cmocka_unit_test(test_window_open_base_and_mediated),
            cmocka_unit_test(test_window_open_bad_specs),
            cmocka_unit_test(test_window_open_negative_base_with_blank),
            cmocka_unit_test(test_window_open_missing_file),
            cmocka_unit_test(test_window_open_pci_no_match),
            cmocka_unit_test(test_raw_layout),
            cmocka_unit_test(test_raw_reads),
            cmocka_unit_test(test_raw_reads_out_of_range),
            cmocka_unit_test(test_window_of),
            cmocka_unit_test(test_read_batch),
            cmocka_unit_test(test_phys_open_file_errors),
            cmocka_unit_test(test_cas_readonly),
            cmocka_unit_test(test_cas_unaligned_and_outside),
            cmocka_unit_test(test_cas_swaps_and_reports_mismatch),
            cmocka_unit_test(test_cas_how),
            cmocka_unit_test(test_core_layout),
            cmocka_unit_test(test_raw_layout_fallback),
            cmocka_unit_test(test_core_reads),
            cmocka_unit_test(test_core_bad_headers),
            cmocka_unit_test(test_core_bad_segments),
            cmocka_unit_test(test_core_no_loads),
            cmocka_unit_test(test_core_too_many_loads),
            cmocka_unit_test(test_core_bad_file),
            cmocka_unit_test(test_core_header_mutations),
            cmocka_unit_test(test_cas_must_stay_inside_window),
        };
        return cmocka_run_group_tests_name("window", tests, NULL, NULL);
}
