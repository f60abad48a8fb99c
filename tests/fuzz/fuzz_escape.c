/* libFuzzer target: the text escapers every string from target memory goes
 * through before it reaches a terminal, the environment or JSON.
 *
 * Invariants: bd_text_escape's output holds no C0 control but tab, no DEL,
 * no C1 control and only valid UTF-8, and fits its buffer; bd_json_string's
 * output is one JSON string that json-c reads back. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/views/output.h"
#include "fuzz_check.h"

/* Whether s is valid UTF-8 with no control character but tab. */
static int terminal_safe(const unsigned char *s)
{
        while (*s) {
                unsigned char c = *s;
                if (c < 0x80) {
                        if ((c < 0x20 && c != '\t') || c == 0x7f)
                                return 0;
                        s++;
                        continue;
                }
                size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
                if (!len || c > 0xf4)
                        return 0;
                uint32_t v = c & (0x7f >> len);
                for (size_t i = 1; i < len; i++) {
                        if ((s[i] & 0xc0) != 0x80)
                                return 0;
                        v = v << 6 | (s[i] & 0x3f);
                }
                if (v < 0xa0 || (len == 3 && v < 0x800) || (len == 4 && v < 0x10000) ||
                    v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                        return 0;
                s += len;
        }
        return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        CHECK(s);
        memcpy(s, data, size);
        s[size] = '\0';
        char out[256];
        size_t n = bd_text_escape(out, sizeof(out), s);
        CHECK(n < sizeof(out) && strlen(out) == n);
        CHECK(terminal_safe((const unsigned char *)out));
        char *json = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&json, &len);
        CHECK(f);
        bd_json_string(f, s);
        CHECK(!fclose(f));
        struct json_object *o = json_tokener_parse(json);
        CHECK(o && json_object_is_type(o, json_type_string));
        json_object_put(o);
        free(json);
        free(s);
        return 0;
}
