#include "output.h"

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

void bd_put_text(FILE *f, const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                        fprintf(f, "\\x%02x", c);
                else
                        fputc(c, f);
        }
}

void bd_json_string(FILE *f, const char *s)
{
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c == '\n')
                        fputs("\\n", f);
                else if (c < 0x20 || c >= 0x7f)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}
