#include "output.h"

#include <string.h>

void bd_hexdump(FILE *f, uint64_t addr, const uint8_t *data, size_t len)
{
        for (size_t i = 0; i < len; i += 16) {
                fprintf(f, "%016llx  ", (unsigned long long)(addr + i));
                for (size_t j = 0; j < 16; j++) {
                        if (i + j < len)
                                fprintf(f, "%02x ", data[i + j]);
                        else
                                fputs("   ", f);
                        if (j == 7)
                                fputc(' ', f);
                }
                fputs(" |", f);
                for (size_t j = 0; j < 16 && i + j < len; j++) {
                        uint8_t c = data[i + j];
                        fputc(c >= 0x20 && c < 0x7f ? c : '.', f);
                }
                fputs("|\n", f);
        }
}

/* The length of the valid UTF-8 sequence at s (n bytes left), with its
 * code point in *cp; 0 if the bytes there are not one (a stray or truncated
 * byte, an overlong form, a surrogate, past U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
        unsigned char c = s[0];
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
        if (!len || c > 0xf4 || len > n)
                return 0;
        uint32_t v = c & (0x7f >> len);
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                v = v << 6 | (s[i] & 0x3f);
        }
        static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
        if (v < least[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                return 0;
        *cp = v;
        return len;
}

/* The next piece of s as a terminal may see it: out gets at most 16 bytes
 * and a NUL; returns how many bytes of s it stands for. */
static size_t escape_next(const unsigned char *s, size_t n, char out[17])
{
        uint32_t cp;
        size_t len = s[0] < 0x80 ? 1 : utf8_seq(s, n, &cp);
        if (s[0] < 0x80) {
                if ((s[0] < 0x20 && s[0] != '\t') || s[0] == 0x7f)
                        snprintf(out, 17, "\\x%02x", s[0]);
                else
                        snprintf(out, 17, "%c", s[0]);
        } else if (!len || cp < 0xa0) {
                /* Invalid, or a C1 control (U+0080..U+009F): byte by byte. */
                len = len ? len : 1;
                out[0] = '\0';
                for (size_t i = 0; i < len; i++)
                        snprintf(out + 4 * i, 17 - 4 * i, "\\x%02x", s[i]);
        } else {
                memcpy(out, s, len);
                out[len] = '\0';
        }
        return len;
}

void bd_put_text(FILE *f, const char *s, size_t n)
{
        const unsigned char *u = (const unsigned char *)s;
        char out[17];
        for (size_t i = 0; i < n;) {
                i += escape_next(u + i, n - i, out);
                fputs(out, f);
        }
}

size_t bd_text_escape(char *dst, size_t cap, const char *s)
{
        const unsigned char *u = (const unsigned char *)s;
        size_t n = strlen(s), used = 0;
        char out[17];
        if (!cap)
                return 0;
        for (size_t i = 0; i < n;) {
                i += escape_next(u + i, n - i, out);
                size_t l = strlen(out);
                if (used + l >= cap)
                        break;
                memcpy(dst + used, out, l);
                used += l;
        }
        dst[used] = '\0';
        return used;
}

void bd_json_string(FILE *f, const char *s)
{
        const unsigned char *u = (const unsigned char *)s;
        size_t n = strlen(s);
        fputc('"', f);
        for (size_t i = 0; i < n;) {
                unsigned char c = u[i];
                uint32_t cp = 0;
                size_t len = c < 0x80 ? 1 : utf8_seq(u + i, n - i, &cp);
                if (c == '"' || c == '\\') {
                        fprintf(f, "\\%c", c);
                } else if (c == '\n') {
                        fputs("\\n", f);
                } else if (c < 0x20 || c == 0x7f) {
                        fprintf(f, "\\u%04x", c);
                } else if (c < 0x80 || cp >= 0xa0) {
                        fwrite(u + i, 1, len, f); /* valid UTF-8 stays as it is */
                } else if (len) {
                        fprintf(f, "\\u%04x", (unsigned)cp); /* C1 control */
                } else {
                        /* Not UTF-8: the byte as the code point of that value. */
                        fprintf(f, "\\u%04x", c);
                        len = 1;
                }
                i += len;
        }
        fputc('"', f);
}
