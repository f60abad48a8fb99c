/* Small helpers shared by the cmocka unit tests (header only: the Makefile
 * builds every tests/unit/test_*.c on its own). Include after <cmocka.h>. */
#ifndef BD_TEST_HELPERS_H
#define BD_TEST_HELPERS_H

#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/error.h"
#include "../../monitor/views/elf_dump.h"

/* An address in the kernel image of a synthetic memory: off past
 * __START_KERNEL_map (BD_KERNEL_IMAGE_START, monitor/kernel/kernel.h). */
#define K(off) (BD_KERNEL_IMAGE_START + (uint64_t)(off))

/* One program header of a synthetic ELF core. */
struct test_seg {
        uint32_t type;
        uint64_t paddr, filesz, offset;
};

/* Write an ELF64 little-endian x86-64 core header and its program headers
 * (right after it, at offset 64) to the start of img. */
static inline void write_core_headers(uint8_t *img, const struct test_seg *s, unsigned n)
{
        Elf64_Ehdr eh;
        bd_elf_core_header(&eh, n);
        memcpy(img, &eh, sizeof(eh));
        for (unsigned i = 0; i < n; i++) {
                Elf64_Phdr ph = {0};
                ph.p_type = s[i].type;
                ph.p_offset = s[i].offset;
                ph.p_paddr = s[i].paddr;
                ph.p_vaddr = 0xffff888000000000ull + s[i].paddr;
                ph.p_filesz = s[i].filesz;
                ph.p_memsz = s[i].filesz;
                memcpy(img + sizeof(eh) + i * sizeof(ph), &ph, sizeof(ph));
        }
}

/* Assert that err is an error with the given code and a non-empty message,
 * then free it. */
#define assert_bd_error(err, want)                                                                 \
        do {                                                                                       \
                struct bd_error *e_ = (err);                                                       \
                assert_non_null(e_);                                                               \
                if (e_->code != (want))                                                            \
                        print_error("unexpected error %s: %s\n", bd_err_name(e_->code),            \
                                    e_->message);                                                  \
                assert_int_equal(e_->code, (want));                                                \
                assert_true(e_->message[0] != '\0');                                               \
                bd_error_destroy(e_);                                                              \
        } while (0)

/* Assert success; on failure show the error's message. */
/* An error with this code whose message names what went wrong. */
#define assert_error_says(err, want, phrase)                                                       \
        do {                                                                                       \
                struct bd_error *s_ = (err);                                                       \
                assert_non_null(s_);                                                               \
                if (!strstr(s_->message, (phrase)))                                                \
                        print_error("'%s' does not say '%s'\n", s_->message, (phrase));            \
                assert_non_null(strstr(s_->message, (phrase)));                                    \
                assert_bd_error(s_, (want));                                                       \
        } while (0)

#define assert_bd_ok(err)                                                                          \
        do {                                                                                       \
                struct bd_error *e_ = (err);                                                       \
                if (e_) {                                                                          \
                        print_error("unexpected error %s: %s\n", bd_err_name(e_->code),            \
                                    e_->message);                                                  \
                        bd_error_destroy(e_);                                                      \
                        fail();                                                                    \
                }                                                                                  \
        } while (0)

/* Create /tmp/bdtest.XXXXXX holding len bytes of data; path receives the
 * name (at least 32 bytes). The caller unlinks it. */
static inline void temp_file(char *path, const void *data, size_t len)
{
        strcpy(path, "/tmp/bdtest.XXXXXX");
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        const uint8_t *p = data;
        while (len) {
                ssize_t n = write(fd, p, len);
                assert_true(n > 0);
                p += n;
                len -= (size_t)n;
        }
        assert_int_equal(close(fd), 0);
}

static inline void temp_text(char *path, const char *text)
{
        temp_file(path, text, strlen(text));
}

/* Read a whole (small) file into a malloc'd NUL-terminated buffer. */
static inline char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t cap = 4096, n = 0;
        char *buf = malloc(cap + 1);
        assert_non_null(buf);
        size_t got;
        while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
                n += got;
                if (n == cap) {
                        cap *= 2;
                        buf = realloc(buf, cap + 1);
                        assert_non_null(buf);
                }
        }
        fclose(f);
        buf[n] = '\0';
        if (len)
                *len = n;
        return buf;
}

#endif
