/* Output helpers shared by bdmon's commands. */
#ifndef BD_OUTPUT_H
#define BD_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* hexdump -C style, addresses as physical addresses. */
void bd_hexdump(FILE *f, uint64_t addr, const uint8_t *data, size_t len);
/* n bytes of text from the target, safe for a terminal: C0 and C1 control
 * characters and bytes that are not UTF-8 become \xNN, so memory cannot
 * drive the terminal; valid UTF-8 is kept as it is. */
void bd_put_text(FILE *f, const char *s, size_t n);
/* The same into dst (cap bytes, always NUL-terminated, cut between
 * characters), for environment variables and lines kept for later. */
size_t bd_text_escape(char *dst, size_t cap, const char *s);
/* A JSON string literal, quotes included: valid UTF-8 as it is, controls
 * escaped, and a byte that is not UTF-8 as \u00XX. */
void bd_json_string(FILE *f, const char *s);

#endif
