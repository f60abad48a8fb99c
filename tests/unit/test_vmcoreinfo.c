/* VMCOREINFO: recognising it in a page of hostile memory, reading keys out
 * of it, and finding it in a whole physical address space by hint or scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <elf.h>
#include <fcntl.h>

#include "../../monitor/source/phys_file.h"
#include "../../monitor/kernel/program.h"
#include "../../monitor/kernel/vmcoreinfo.h"
#include "helpers.h"

#define PAGE 4096

/* What a 6.1 kernel really starts its VMCOREINFO with (abridged). */
static const char vmci[] = "OSRELEASE=6.1.0-56-amd64\n"
                           "BUILD-ID=0123456789abcdef0123456789abcdef01234567\n"
                           "PAGESIZE=4096\n"
                           "SYMBOL(init_uts_ns)=ffffffff82a12340\n"
                           "SYMBOL(_stext)=ffffffff81000000\n"
                           "NUMBER(KERNEL_IMAGE_SIZE)=1073741824\n"
                           "NUMBER(pgtable_l5_enabled)=0\n"
                           "KERNELOFFSET=1e000000\n"
                           "CRASHTIME=1700000000";

/* The ELF note form: namesz, descsz, type, "VMCOREINFO\0" padded to 12,
 * then the text. Returns the note's size. */
static size_t put_note(uint8_t *p, const char *text, uint32_t descsz)
{
        uint32_t namesz = 11, type = 0;
        memcpy(p, &namesz, 4);
        memcpy(p + 4, &descsz, 4);
        memcpy(p + 8, &type, 4);
        memcpy(p + 12, "VMCOREINFO\0\0", 12);
        memcpy(p + 24, text, strlen(text));
        return 24 + strlen(text);
}

/* A heap page of exactly len bytes (ASan sees any read beyond it). */
static uint8_t *page_of(size_t len)
{
        uint8_t *p = calloc(1, len);
        assert_non_null(p);
        return p;
}

static struct bd_vmcoreinfo vi; /* 4 KiB: not on the stack */

static void test_match_note(void **state)
{
        (void)state;
        uint8_t *pg = page_of(PAGE);
        put_note(pg, vmci, (uint32_t)strlen(vmci));
        memset(&vi, 0x55, sizeof(vi));
        assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 1);
        assert_int_equal(vi.len, strlen(vmci));
        assert_string_equal(vi.text, vmci);
        /* descsz counting the terminating NUL (as some kernels write it). */
        put_note(pg, vmci, (uint32_t)strlen(vmci) + 1);
        assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 1);
        assert_string_equal(vi.text, vmci);
        free(pg);
}

/* The kernel's vmcoreinfo_data page itself: text from the first byte. */
static void test_match_raw(void **state)
{
        (void)state;
        uint8_t *pg = page_of(PAGE);
        memcpy(pg, vmci, strlen(vmci));
        assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 1);
        assert_string_equal(vi.text, vmci);
        assert_int_equal(vi.len, strlen(vmci));
        free(pg);
}

/* Exactly as long as allowed: a note whose text ends at the given length,
 * and a raw page with no NUL at all (4096 printable bytes). The copy must
 * still be terminated inside text[]. */
static void test_match_full_size(void **state)
{
        (void)state;
        char *text = malloc(BD_VMCOREINFO_MAX + 1);
        assert_non_null(text);
        memset(text, 'x', BD_VMCOREINFO_MAX);
        memcpy(text, vmci, strlen(vmci));
        text[strlen(vmci)] = '\n';
        text[BD_VMCOREINFO_MAX] = '\0';

        uint8_t *pg = page_of(24 + BD_VMCOREINFO_MAX);
        put_note(pg, text, BD_VMCOREINFO_MAX);
        assert_int_equal(bd_vmcoreinfo_match(pg, 24 + BD_VMCOREINFO_MAX, &vi), 1);
        assert_int_equal(vi.len, BD_VMCOREINFO_MAX);
        assert_int_equal(vi.text[BD_VMCOREINFO_MAX], '\0');
        free(pg);

        pg = page_of(PAGE);
        memcpy(pg, text, PAGE);
        assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 1);
        assert_int_equal(vi.len, PAGE);
        assert_int_equal(strlen(vi.text), PAGE);
        free(pg);

        /* Raw text longer than a page (len > 4096): capped at 4096. */
        pg = page_of(2 * PAGE);
        memset(pg, 'y', 2 * PAGE);
        memcpy(pg, text, PAGE);
        assert_int_equal(bd_vmcoreinfo_match(pg, 2 * PAGE, &vi), 1);
        assert_int_equal(vi.len, BD_VMCOREINFO_MAX);
        free(pg);
        free(text);
}

static void test_match_refuses_sizes(void **state)
{
        (void)state;
        uint8_t *pg = page_of(PAGE);
        /* descsz beyond the kernel's own one-page cap. */
        put_note(pg, vmci, BD_VMCOREINFO_MAX + 1);
        assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 0);
        put_note(pg, vmci, 0xffffffffu); /* 24 + descsz must not wrap */
        assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 0);
        put_note(pg, vmci, 0xffffffe8u);
        assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 0);
        free(pg);

        /* A note that runs past the bytes given, by one. */
        size_t n = 24 + strlen(vmci);
        pg = page_of(n);
        put_note(pg, vmci, (uint32_t)strlen(vmci) + 1);
        assert_int_equal(bd_vmcoreinfo_match(pg, n, &vi), 0);
        put_note(pg, vmci, (uint32_t)strlen(vmci)); /* ...and the exact fit is fine */
        assert_int_equal(bd_vmcoreinfo_match(pg, n, &vi), 1);
        free(pg);

        /* Too short to hold a note header or the first keys. */
        pg = page_of(PAGE);
        put_note(pg, vmci, (uint32_t)strlen(vmci));
        for (size_t len = 0; len < 24; len++)
                assert_int_equal(bd_vmcoreinfo_match(pg, len, &vi), 0);
        memset(pg, 0, PAGE);
        memcpy(pg, vmci, strlen(vmci));
        for (size_t len = 0; len < 12; len++)
                assert_int_equal(bd_vmcoreinfo_match(pg, len, &vi), 0);
        /* Cut before "\nPAGESIZE=": the rest is not looked at. */
        assert_int_equal(bd_vmcoreinfo_match(pg, 40, &vi), 0);
        free(pg);
}

static void test_match_refuses_namesz(void **state)
{
        (void)state;
        uint8_t *pg = page_of(PAGE);
        static const uint32_t bad[] = {0, 10, 12, 16, 0xffffffffu};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                put_note(pg, vmci, (uint32_t)strlen(vmci));
                memcpy(pg, &bad[i], 4);
                assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 0);
        }
        /* Another note's name. */
        put_note(pg, vmci, (uint32_t)strlen(vmci));
        memcpy(pg + 12, "VMCOREINFX", 10);
        assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 0);
        free(pg);
}

/* Hostile or random memory: anything but printable ASCII and newlines means
 * it is not VMCOREINFO (and could not be printed safely). */
static void test_match_refuses_non_printable(void **state)
{
        (void)state;
        static const char bad[] = {'\x01', '\t', '\r', '\x1b', '\x7f', '\x80', '\xff'};
        uint8_t *pg = page_of(PAGE);
        for (size_t i = 0; i < sizeof(bad); i++) {
                for (size_t pos = 0; pos < 3; pos++) {
                        /* In the first key's value, mid-text, at the very end. */
                        size_t at = pos == 0 ? 12 : pos == 1 ? 100 : strlen(vmci) - 1;
                        memset(pg, 0, PAGE);
                        put_note(pg, vmci, (uint32_t)strlen(vmci));
                        pg[24 + at] = (uint8_t)bad[i];
                        assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 0);
                        memset(pg, 0, PAGE);
                        memcpy(pg, vmci, strlen(vmci));
                        pg[at] = (uint8_t)bad[i];
                        assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 0);
                }
        }
        free(pg);
}

static void test_match_refuses_missing_keys(void **state)
{
        (void)state;
        static const char *const bad[] = {
            "OSRELEASE=6.1.0\nBUILD-ID=00\n",    /* no PAGESIZE */
            "OSRELEASE=6.1.0\nXPAGESIZE=4096\n", /* not a PAGESIZE line */
            "OSRELEASE=6.1.0 PAGESIZE=4096\n",   /* not at a line start */
            "PAGESIZE=4096\nOSRELEASE=6.1.0\n",  /* OSRELEASE must come first */
            "osrelease=6.1.0\nPAGESIZE=4096\n",  "\nOSRELEASE=6.1.0\nPAGESIZE=4096\n",
        };
        uint8_t *pg = page_of(PAGE);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                memset(pg, 0, PAGE);
                put_note(pg, bad[i], (uint32_t)strlen(bad[i]));
                assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 0);
                memset(pg, 0, PAGE);
                memcpy(pg, bad[i], strlen(bad[i]));
                assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 0);
        }
        /* A NUL inside the note ends the text before PAGESIZE. */
        memset(pg, 0, PAGE);
        put_note(pg, vmci, (uint32_t)strlen(vmci));
        pg[24 + 5] = 0;
        assert_int_equal(bd_vmcoreinfo_match(pg, PAGE, &vi), 0);
        free(pg);
}

/* ---- get / number -------------------------------------------------------- */

static void load_vi(const char *text)
{
        memset(&vi, 0, sizeof(vi));
        snprintf(vi.text, sizeof(vi.text), "%s", text);
        vi.len = strlen(vi.text);
}

static void test_get(void **state)
{
        (void)state;
        load_vi(vmci);
        char buf[64];
        assert_ptr_equal(bd_vmcoreinfo_get(&vi, "OSRELEASE", buf, sizeof(buf)), buf);
        assert_string_equal(buf, "6.1.0-56-amd64");
        assert_non_null(bd_vmcoreinfo_get(&vi, "PAGESIZE", buf, sizeof(buf)));
        assert_string_equal(buf, "4096");
        /* The last line has no newline. */
        assert_non_null(bd_vmcoreinfo_get(&vi, "CRASHTIME", buf, sizeof(buf)));
        assert_string_equal(buf, "1700000000");
        assert_non_null(bd_vmcoreinfo_get(&vi, "SYMBOL(_stext)", buf, sizeof(buf)));
        assert_string_equal(buf, "ffffffff81000000");
        /* Whole keys at line starts only: a prefix, a suffix or a value is
         * not a key. */
        assert_null(bd_vmcoreinfo_get(&vi, "PAGE", buf, sizeof(buf)));
        assert_null(bd_vmcoreinfo_get(&vi, "SIZE", buf, sizeof(buf)));
        assert_null(bd_vmcoreinfo_get(&vi, "PAGESIZE=4096", buf, sizeof(buf)));
        assert_null(bd_vmcoreinfo_get(&vi, "SYMBOL", buf, sizeof(buf)));
        assert_null(bd_vmcoreinfo_get(&vi, "NOSUCHKEY", buf, sizeof(buf)));
        assert_null(bd_vmcoreinfo_get(&vi, "ffffffff81000000", buf, sizeof(buf)));
        /* An empty value is a value. */
        load_vi("OSRELEASE=\nPAGESIZE=4096\n");
        assert_non_null(bd_vmcoreinfo_get(&vi, "OSRELEASE", buf, sizeof(buf)));
        assert_string_equal(buf, "");
        /* Empty text. */
        load_vi("");
        assert_null(bd_vmcoreinfo_get(&vi, "OSRELEASE", buf, sizeof(buf)));
}

/* A value longer than the caller's buffer is cut, terminated, and nothing is
 * written past cap (heap buffers of exactly cap bytes for ASan). */
static void test_get_truncates(void **state)
{
        (void)state;
        load_vi(vmci);
        for (size_t cap = 1; cap <= 16; cap++) {
                char *buf = malloc(cap);
                assert_non_null(buf);
                assert_ptr_equal(bd_vmcoreinfo_get(&vi, "OSRELEASE", buf, cap), buf);
                assert_int_equal(strlen(buf), cap - 1 < 14 ? cap - 1 : 14);
                assert_memory_equal(buf, "6.1.0-56-amd64", strlen(buf));
                free(buf);
        }
}

static void test_number(void **state)
{
        (void)state;
        load_vi(vmci);
        uint64_t v = 0;
        assert_int_equal(bd_vmcoreinfo_number(&vi, "KERNELOFFSET", 1, &v), 0);
        assert_int_equal(v, 0x1e000000);
        assert_int_equal(bd_vmcoreinfo_number(&vi, "SYMBOL(init_uts_ns)", 1, &v), 0);
        assert_int_equal(v, 0xffffffff82a12340ull);
        assert_int_equal(bd_vmcoreinfo_number(&vi, "NUMBER(KERNEL_IMAGE_SIZE)", 0, &v), 0);
        assert_int_equal(v, 1073741824);
        assert_int_equal(bd_vmcoreinfo_number(&vi, "NUMBER(pgtable_l5_enabled)", 0, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(bd_vmcoreinfo_number(&vi, "PAGESIZE", 0, &v), 0);
        assert_int_equal(v, 4096);
}

static void test_number_refusals(void **state)
{
        (void)state;
        load_vi("OSRELEASE=6.1.0-56-amd64\nPAGESIZE=4096\nNUMBER(a)=abc\nNUMBER(b)=\n"
                "NUMBER(c)=1f\nKERNELOFFSET=1e00zz\nNUMBER(d)=12 \n");
        uint64_t v = 0x5a5a;
        assert_int_equal(bd_vmcoreinfo_number(&vi, "NOSUCHKEY", 1, &v), -1);
        assert_int_equal(bd_vmcoreinfo_number(&vi, "NUMBER(a)", 0, &v), -1); /* not a number */
        assert_int_equal(bd_vmcoreinfo_number(&vi, "NUMBER(b)", 0, &v), -1); /* empty */
        assert_int_equal(bd_vmcoreinfo_number(&vi, "NUMBER(c)", 0, &v), -1); /* hex as decimal */
        assert_int_equal(bd_vmcoreinfo_number(&vi, "KERNELOFFSET", 1, &v), -1);
        assert_int_equal(bd_vmcoreinfo_number(&vi, "NUMBER(d)", 0, &v), -1); /* trailing blank */
        assert_int_equal(bd_vmcoreinfo_number(&vi, "OSRELEASE", 0, &v), -1);
        /* Failures leave the output alone. */
        assert_int_equal(v, 0x5a5a);
}

/* The text is controlled by whoever runs on the target, so numbers that do
 * not fit 64 bits, negative numbers, and values that might have been cut
 * short must be refused, not turned into another number (strtoull would
 * return UINT64_MAX for overflow and wrap "-1"). */
static void test_number_overflow_and_truncation(void **state)
{
        (void)state;
        load_vi("OSRELEASE=6.1.0\nPAGESIZE=4096\n"
                "NUMBER(big)=99999999999999999999999\n"
                "KERNELOFFSET=1ffffffffffffffff\n"
                "NUMBER(neg)=-1\n"
                "NUMBER(long)=0000000000000000000000000000000000000001\n");
        uint64_t v = 0;
        assert_int_equal(bd_vmcoreinfo_number(&vi, "NUMBER(big)", 0, &v), -1);
        assert_int_equal(bd_vmcoreinfo_number(&vi, "KERNELOFFSET", 1, &v), -1);
        assert_int_equal(bd_vmcoreinfo_number(&vi, "NUMBER(neg)", 0, &v), -1);
        v = 0;
        int rc = bd_vmcoreinfo_number(&vi, "NUMBER(long)", 0, &v);
        assert_true(rc == -1 || v == 1);
}

/* NUMBER(phys_base) is printed with %ld and is negative under KASLR: the
 * signed reader takes it, with the same refusals for junk and overflow. */
static void test_signed_numbers(void **state)
{
        (void)state;
        load_vi("OSRELEASE=6.1.0\nPAGESIZE=4096\n"
                "NUMBER(phys_base)=-285212672\nNUMBER(pos)=42\n"
                "NUMBER(big)=-99999999999999999999\nNUMBER(dash)=-\nNUMBER(sp)= 1\n");
        int64_t v = 0;
        assert_int_equal(bd_vmcoreinfo_signed(&vi, "NUMBER(phys_base)", &v), 0);
        assert_int_equal(v, -285212672);
        assert_int_equal(bd_vmcoreinfo_signed(&vi, "NUMBER(pos)", &v), 0);
        assert_int_equal(v, 42);
        assert_int_equal(bd_vmcoreinfo_signed(&vi, "NUMBER(big)", &v), -1);
        assert_int_equal(bd_vmcoreinfo_signed(&vi, "NUMBER(dash)", &v), -1);
        assert_int_equal(bd_vmcoreinfo_signed(&vi, "NUMBER(sp)", &v), -1);
        assert_int_equal(bd_vmcoreinfo_signed(&vi, "NUMBER(none)", &v), -1);
}

/* ---- find ---------------------------------------------------------------- */

#define RAM_SIZE (16u << 20)

/* A sparse RAM file of RAM_SIZE with optional pages written into it. */
struct ram {
        char path[32];
        struct bd_phys *p;
};

static void ram_create(struct ram *r, size_t size)
{
        temp_file(r->path, "", 0);
        assert_int_equal(truncate(r->path, (off_t)size), 0);
}

static void ram_put(struct ram *r, uint64_t off, const void *data, size_t len)
{
        int fd = open(r->path, O_WRONLY);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, data, len, (off_t)off), (ssize_t)len);
        close(fd);
}

static void ram_put_note(struct ram *r, uint64_t off)
{
        uint8_t pg[PAGE] = {0};
        put_note(pg, vmci, (uint32_t)strlen(vmci));
        ram_put(r, off, pg, PAGE);
}

static void ram_open(struct ram *r)
{
        r->p = NULL;
        assert_bd_ok(bd_phys_open_file(r->path, 0, &r->p));
        snprintf(r->p->name, sizeof(r->p->name), "testram");
}

static void ram_done(struct ram *r)
{
        bd_phys_close(r->p);
        unlink(r->path);
}

static uint64_t last_done, last_total;
static int progress_calls, progress_backwards;

static void progress(uint64_t done, uint64_t total)
{
        if (done < last_done || done > total)
                progress_backwards++;
        last_done = done;
        last_total = total;
        progress_calls++;
}

#define NOTE_AT ((13u << 20) + 0x5000)

static void test_find_by_scan(void **state)
{
        (void)state;
        struct ram r;
        ram_create(&r, RAM_SIZE);
        ram_put_note(&r, NOTE_AT);
        ram_open(&r);
        struct bd_vmcoreinfo_scan scan;
        last_done = last_total = 0;
        progress_calls = progress_backwards = 0;
        memset(&vi, 0, sizeof(vi));
        assert_bd_ok(bd_vmcoreinfo_find(r.p, 0, NULL, NULL, &vi, &scan, progress));
        assert_int_equal(vi.phys, NOTE_AT);
        assert_string_equal(vi.text, vmci);
        assert_int_equal(scan.from_hint, 0);
        /* It stopped in the chunk holding the note, not at the end. */
        assert_true(scan.bytes_scanned > NOTE_AT);
        assert_true(scan.bytes_scanned <= RAM_SIZE);
        assert_true(progress_calls > 0);
        assert_int_equal(progress_backwards, 0);
        assert_int_equal(last_total, RAM_SIZE);
        ram_done(&r);
}

static void test_find_by_hint(void **state)
{
        (void)state;
        struct ram r;
        ram_create(&r, RAM_SIZE);
        ram_put_note(&r, NOTE_AT);
        ram_open(&r);
        struct bd_vmcoreinfo_scan scan;
        memset(&vi, 0, sizeof(vi));
        assert_bd_ok(bd_vmcoreinfo_find(r.p, NOTE_AT, NULL, NULL, &vi, &scan, NULL));
        assert_int_equal(scan.from_hint, 1);
        assert_int_equal(vi.phys, NOTE_AT);
        assert_int_equal(scan.bytes_scanned, PAGE); /* one page, no scan */
        assert_string_equal(vi.text, vmci);
        ram_done(&r);
}

/* A stale hint (the kernel moved, or the cache is from another boot) costs
 * one page, then the scan finds the real copy. */
static void test_find_wrong_hint(void **state)
{
        (void)state;
        struct ram r;
        ram_create(&r, RAM_SIZE);
        ram_put_note(&r, NOTE_AT);
        ram_open(&r);
        static const uint64_t hints[] = {
            NOTE_AT - PAGE,  /* inside, wrong page */
            NOTE_AT + 8,     /* inside, unaligned */
            RAM_SIZE - 100,  /* its page runs off the end */
            RAM_SIZE,        /* just outside */
            1ull << 40,      /* far outside */
            UINT64_MAX - 10, /* hint + page wraps */
        };
        for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
                struct bd_vmcoreinfo_scan scan;
                memset(&vi, 0, sizeof(vi));
                assert_bd_ok(bd_vmcoreinfo_find(r.p, hints[i], NULL, NULL, &vi, &scan, NULL));
                assert_int_equal(scan.from_hint, 0);
                assert_int_equal(vi.phys, NOTE_AT);
        }
        ram_done(&r);
}

static void test_find_absent(void **state)
{
        (void)state;
        struct ram r;
        ram_create(&r, RAM_SIZE);
        /* Near misses: not at a page start, and text without a note. */
        uint8_t pg[PAGE] = {0};
        put_note(pg + 0x100, vmci, (uint32_t)strlen(vmci));
        ram_put(&r, 5u << 20, pg, PAGE);
        ram_put(&r, (6u << 20) + 0x10, vmci, strlen(vmci));
        ram_open(&r);
        struct bd_vmcoreinfo_scan scan;
        struct bd_error *err = bd_vmcoreinfo_find(r.p, 0, NULL, NULL, &vi, &scan, NULL);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_NOT_FOUND);
        /* The library does not name the target: the CLI does, once. */
        assert_non_null(strstr(err->message, "no Linux kernel found"));
        assert_null(strstr(err->message, "testram"));
        bd_error_destroy(err);
        /* Everything was looked at. */
        assert_int_equal(scan.bytes_scanned, RAM_SIZE);
        /* A wrong hint does not change the answer. */
        err = bd_vmcoreinfo_find(r.p, 0x1000, NULL, NULL, &vi, &scan, NULL);
        assert_bd_error(err, BD_ERR_NOT_FOUND);
        ram_done(&r);
}

/* A page that only looks like VMCOREINFO (OSRELEASE= but no PAGESIZE, as a
 * log buffer or a copy in a user's file might) is passed over for the real
 * one later in memory. */
static void test_find_skips_decoy(void **state)
{
        (void)state;
        struct ram r;
        ram_create(&r, RAM_SIZE);
        static const char decoy[] = "OSRELEASE=6.6.6-fake\nBUILD-ID=00\n";
        ram_put(&r, 2u << 20, decoy, sizeof(decoy) - 1);
        uint8_t pg[PAGE] = {0};
        put_note(pg, "OSRELEASE=6.6.6-fake\nBUILD-ID=00\n", 33);
        ram_put(&r, 3u << 20, pg, PAGE);
        ram_put_note(&r, NOTE_AT);
        ram_open(&r);
        struct bd_vmcoreinfo_scan scan;
        assert_bd_ok(bd_vmcoreinfo_find(r.p, 0, NULL, NULL, &vi, &scan, NULL));
        assert_int_equal(vi.phys, NOTE_AT);
        assert_string_equal(vi.text, vmci);
        /* A decoy given as the hint is not taken either. */
        assert_bd_ok(bd_vmcoreinfo_find(r.p, 2u << 20, NULL, NULL, &vi, &scan, NULL));
        assert_int_equal(scan.from_hint, 0);
        assert_int_equal(vi.phys, NOTE_AT);
        ram_done(&r);
}

/* The raw data page is found as well as the note; the first in memory wins. */
static void test_find_raw_page(void **state)
{
        (void)state;
        struct ram r;
        ram_create(&r, RAM_SIZE);
        ram_put(&r, 7u << 20, vmci, strlen(vmci));
        ram_put_note(&r, NOTE_AT);
        ram_open(&r);
        struct bd_vmcoreinfo_scan scan;
        assert_bd_ok(bd_vmcoreinfo_find(r.p, 0, NULL, NULL, &vi, &scan, NULL));
        assert_int_equal(vi.phys, 7u << 20);
        assert_string_equal(vi.text, vmci);
        ram_done(&r);
}

/* The last whole page of memory is scanned, even when it is a scan chunk of
 * its own (memory of 4 MiB multiples plus one page); a partial page after
 * the last whole one is not (and must not be read past the end). */
static void test_find_last_page(void **state)
{
        (void)state;
        struct ram r;
        ram_create(&r, RAM_SIZE + PAGE);
        ram_put_note(&r, RAM_SIZE);
        ram_open(&r);
        struct bd_vmcoreinfo_scan scan;
        assert_bd_ok(bd_vmcoreinfo_find(r.p, 0, NULL, NULL, &vi, &scan, NULL));
        assert_int_equal(vi.phys, RAM_SIZE);
        /* At 16 MiB, it is where the scan starts (test_find_where_kernels_put_it). */
        assert_int_equal(scan.bytes_scanned, PAGE);
        ram_done(&r);

        ram_create(&r, RAM_SIZE + 100);
        ram_put_note(&r, RAM_SIZE - PAGE);
        ram_open(&r);
        assert_bd_ok(bd_vmcoreinfo_find(r.p, 0, NULL, NULL, &vi, &scan, NULL));
        assert_int_equal(vi.phys, RAM_SIZE - PAGE);
        ram_done(&r);

        /* 100 bytes past the last whole page hold the start of a note: not a
         * page, not scanned, not found. */
        ram_create(&r, RAM_SIZE + 100);
        uint8_t pg[PAGE] = {0};
        put_note(pg, vmci, (uint32_t)strlen(vmci));
        ram_put(&r, RAM_SIZE, pg, 100);
        ram_open(&r);
        assert_bd_error(bd_vmcoreinfo_find(r.p, 0, NULL, NULL, &vi, &scan, NULL), BD_ERR_NOT_FOUND);
        assert_int_equal(scan.bytes_scanned, RAM_SIZE);
        ram_done(&r);
}

/* ELF core whose windows are not page aligned, as /proc/vmcore's often are:
 * the scan starts at each window's first page boundary and reads through
 * the physical addresses, not file offsets. */
static uint8_t *core_image(size_t size, const struct test_seg *seg, unsigned n)
{
        uint8_t *img = calloc(1, size);
        assert_non_null(img);
        write_core_headers(img, seg, n);
        return img;
}

static void test_find_in_core(void **state)
{
        (void)state;
        /* {type, paddr, size, file offset} */
        static const struct test_seg seg[] = {
            {PT_LOAD, 0x100800, 0x4800, 0x1000}, /* file 0x1000..0x5800 */
            {PT_LOAD, 0x300000, 0x3000, 0x6000}, /* file 0x6000..0x9000 */
        };
        uint8_t *img = core_image(0x9000, seg, 2);
        /* Physical 0x302000 is file 0x8000; file 0x2000 (paddr 0x101800)
         * holds a decoy at a non-page-aligned physical address. */
        put_note(img + 0x8000, vmci, (uint32_t)strlen(vmci));
        put_note(img + 0x2000, vmci, (uint32_t)strlen(vmci));
        char path[32];
        temp_file(path, img, 0x9000);
        struct bd_phys *p = NULL;
        assert_bd_ok(bd_phys_open_file(path, 0, &p));
        struct bd_vmcoreinfo_scan scan;
        assert_bd_ok(bd_vmcoreinfo_find(p, 0, NULL, NULL, &vi, &scan, NULL));
        assert_int_equal(vi.phys, 0x302000);
        /* The hint may be anywhere a whole page fits, aligned or not. */
        assert_bd_ok(bd_vmcoreinfo_find(p, 0x101800, NULL, NULL, &vi, &scan, NULL));
        assert_int_equal(scan.from_hint, 1);
        assert_int_equal(vi.phys, 0x101800);
        bd_phys_close(p);
        unlink(path);
        free(img);
}

/* A hint whose page starts in one window and ends in the next, across a gap:
 * both ends pass the window check, the read fails with BD_ERR_RANGE, and
 * find returns that error instead of falling back to the scan. */
static void test_find_hint_across_gap(void **state)
{
        (void)state;
        static const struct test_seg seg[] = {
            {PT_LOAD, 0x100000, 0x1800, 0x1000}, /* paddr ..0x101800 */
            {PT_LOAD, 0x101c00, 0x4400, 0x3000}, /* paddr 0x101c00..0x106000, file 0x3000.. */
        };
        uint8_t *img = core_image(0x8000, seg, 2);
        /* Physical 0x103000 = file 0x3000 + 0x1400. */
        put_note(img + 0x4400, vmci, (uint32_t)strlen(vmci));
        char path[32];
        temp_file(path, img, 0x8000);
        struct bd_phys *p = NULL;
        assert_bd_ok(bd_phys_open_file(path, 0, &p));
        struct bd_vmcoreinfo_scan scan;
        assert_bd_ok(bd_vmcoreinfo_find(p, 0, NULL, NULL, &vi, &scan, NULL)); /* no hint: found */
        assert_int_equal(vi.phys, 0x103000);
        struct bd_error *err = bd_vmcoreinfo_find(p, 0x101000, NULL, NULL, &vi, &scan, NULL);
        bd_phys_close(p);
        unlink(path);
        free(img);
        assert_bd_ok(err);
        assert_int_equal(vi.phys, 0x103000);
}

/* The scan offers every copy to the caller's check and goes on past those
 * it passes over (copies a user sprayed, a kernel a reboot left behind);
 * a hint's copy passed over is not offered again; a check's error ends
 * the scan. */
struct offers {
        uint64_t at[8];
        unsigned n, take_at, fail_at;
};

static struct bd_error *check_offer(void *ctx, const struct bd_vmcoreinfo *copy, int *take)
{
        struct offers *o = ctx;
        assert_true(o->n < 8);
        o->at[o->n++] = copy->phys;
        if (o->n == o->fail_at)
                return bd_error_new(BD_ERR_IO, "the NIC went away");
        *take = o->n == o->take_at;
        return NULL;
}

static void test_find_checks_copies(void **state)
{
        (void)state;
        struct ram r;
        ram_create(&r, RAM_SIZE);
        ram_put(&r, 1u << 20, vmci, strlen(vmci));
        ram_put(&r, 2u << 20, vmci, strlen(vmci));
        ram_put_note(&r, NOTE_AT);
        ram_open(&r);
        struct bd_vmcoreinfo_scan scan;
        struct offers o = {.take_at = 3};
        assert_bd_ok(bd_vmcoreinfo_find(r.p, 2u << 20, check_offer, &o, &vi, &scan, NULL));
        /* The hint first, then the others in memory order, the hint's page
         * skipped. */
        assert_int_equal(o.n, 3);
        assert_int_equal(o.at[0], 2u << 20);
        assert_int_equal(o.at[1], 1u << 20);
        assert_int_equal(o.at[2], NOTE_AT);
        assert_int_equal(vi.phys, NOTE_AT);
        assert_int_equal(scan.copies, 3);
        assert_int_equal(scan.from_hint, 0);

        /* None taken: not found, and the message says copies were there. */
        o = (struct offers){0};
        struct bd_error *err = bd_vmcoreinfo_find(r.p, 0, check_offer, &o, &vi, &scan, NULL);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_NOT_FOUND);
        assert_non_null(strstr(err->message, "no copy of VMCOREINFO passed the checks"));
        bd_error_destroy(err);
        assert_int_equal(o.n, 3);
        assert_int_equal(scan.bytes_scanned, RAM_SIZE);

        /* The check's error is the scan's. */
        o = (struct offers){.fail_at = 2};
        assert_bd_error(bd_vmcoreinfo_find(r.p, 0, check_offer, &o, &vi, &scan, NULL), BD_ERR_IO);
        assert_int_equal(o.n, 2);
        ram_done(&r);
}

/* The scan starts where kernels put VMCOREINFO (just above 16 MiB on a
 * machine of less than 4 GiB): a copy there is offered before one lower
 * down, after looking at one chunk. */
static void test_find_where_kernels_put_it(void **state)
{
        (void)state;
        struct ram r;
        ram_create(&r, 24u << 20);
        ram_put(&r, 1u << 20, vmci, strlen(vmci));
        ram_put_note(&r, (18u << 20) + 0x3000);
        ram_open(&r);
        struct bd_vmcoreinfo_scan scan;
        struct offers o = {.take_at = 2};
        assert_bd_ok(bd_vmcoreinfo_find(r.p, 0, check_offer, &o, &vi, &scan, NULL));
        assert_int_equal(o.n, 2);
        assert_int_equal(o.at[0], (18u << 20) + 0x3000);
        assert_int_equal(o.at[1], 1u << 20);
        /* 16-24 MiB, then 0-16 MiB (one chunk each). */
        assert_int_equal(scan.bytes_scanned, 24u << 20);
        o = (struct offers){.take_at = 1};
        uint64_t read_before = r.p->bytes_read;
        assert_bd_ok(bd_vmcoreinfo_find(r.p, 0, check_offer, &o, &vi, &scan, NULL));
        assert_int_equal(vi.phys, (18u << 20) + 0x3000);
        assert_int_equal(scan.bytes_scanned, 8u << 20);
        /* A file is read to be searched; then the page with the copy. */
        assert_int_equal(r.p->bytes_read - read_before, (8u << 20) + 4096);
        ram_done(&r);
}

/* The kernels a watch is done with: by text, the last
 * BD_PROGRAM_GONE_MAX, each once. */
static void test_program_gone(void **state)
{
        (void)state;
        static struct bd_vmcoreinfo vi;
        struct bd_program_gone g;
        memset(&g, 0, sizeof(g));
        vi.len = (size_t)snprintf(vi.text, sizeof(vi.text), "OSRELEASE=6.1\nKERNELOFFSET=%x\n", 0);
        assert_false(bd_program_gone_has(&g, &vi, 0));
        bd_program_gone_add(&g, &vi, UINT64_MAX);
        bd_program_gone_add(&g, &vi, UINT64_MAX);
        assert_true(bd_program_gone_has(&g, &vi, 0));
        assert_int_equal(g.n, 1);
        /* Another KASLR offset is another kernel. */
        for (unsigned k = 1; k <= BD_PROGRAM_GONE_MAX; k++) {
                vi.len = (size_t)snprintf(vi.text, sizeof(vi.text),
                                          "OSRELEASE=6.1\nKERNELOFFSET=%x\n", k);
                assert_false(bd_program_gone_has(&g, &vi, 0));
                bd_program_gone_add(&g, &vi, UINT64_MAX);
        }
        assert_int_equal(g.n, BD_PROGRAM_GONE_MAX);
        assert_true(bd_program_gone_has(&g, &vi, 0));
        vi.len = (size_t)snprintf(vi.text, sizeof(vi.text), "OSRELEASE=6.1\nKERNELOFFSET=%x\n", 0);
        assert_false(bd_program_gone_has(&g, &vi, 0));
}

/* A kernel found standing still is passed over for a while, not for good:
 * it may have been a running one held still through the wait. The later
 * time holds; a reboot's "for good" is never shortened. */
static void test_program_still(void **state)
{
        (void)state;
        static struct bd_vmcoreinfo still, replaced;
        struct bd_program_gone g;
        memset(&g, 0, sizeof(g));
        still.len = (size_t)snprintf(still.text, sizeof(still.text), "OSRELEASE=6.1\nA=1\n");
        replaced.len =
            (size_t)snprintf(replaced.text, sizeof(replaced.text), "OSRELEASE=6.1\nA=2\n");
        uint64_t t = 1000;
        bd_program_gone_add(&g, &still, t + BD_PROGRAM_STILL_NS);
        assert_true(bd_program_gone_has(&g, &still, t));
        assert_true(bd_program_gone_has(&g, &still, t + BD_PROGRAM_STILL_NS - 1));
        assert_false(bd_program_gone_has(&g, &still, t + BD_PROGRAM_STILL_NS));
        /* Found still again: passed over again, in the same slot. */
        bd_program_gone_add(&g, &still, t + 3 * BD_PROGRAM_STILL_NS);
        assert_int_equal(g.n, 1);
        assert_true(bd_program_gone_has(&g, &still, t + 2 * BD_PROGRAM_STILL_NS));
        bd_program_gone_add(&g, &replaced, UINT64_MAX);
        bd_program_gone_add(&g, &replaced, t);
        assert_true(bd_program_gone_has(&g, &replaced, UINT64_MAX - 1));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_match_note),
            cmocka_unit_test(test_program_gone),
            cmocka_unit_test(test_program_still),
            cmocka_unit_test(test_match_raw),
            cmocka_unit_test(test_match_full_size),
            cmocka_unit_test(test_match_refuses_sizes),
            cmocka_unit_test(test_match_refuses_namesz),
            cmocka_unit_test(test_match_refuses_non_printable),
            cmocka_unit_test(test_match_refuses_missing_keys),
            cmocka_unit_test(test_get),
            cmocka_unit_test(test_get_truncates),
            cmocka_unit_test(test_number),
            cmocka_unit_test(test_number_refusals),
            cmocka_unit_test(test_number_overflow_and_truncation),
            cmocka_unit_test(test_signed_numbers),
            cmocka_unit_test(test_find_by_scan),
            cmocka_unit_test(test_find_checks_copies),
            cmocka_unit_test(test_find_where_kernels_put_it),
            cmocka_unit_test(test_find_by_hint),
            cmocka_unit_test(test_find_wrong_hint),
            cmocka_unit_test(test_find_absent),
            cmocka_unit_test(test_find_skips_decoy),
            cmocka_unit_test(test_find_raw_page),
            cmocka_unit_test(test_find_last_page),
            cmocka_unit_test(test_find_in_core),
            cmocka_unit_test(test_find_hint_across_gap),
        };
        return cmocka_run_group_tests_name("vmcoreinfo", tests, NULL, NULL);
}
