/* Output helpers shared by bdmon's commands. */
#ifndef BD_OUTPUT_H
#define BD_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* hexdump -C style, addresses as physical addresses. */
void bd_hexdump(FILE *f, uint64_t addr, const uint8_t *data, size_t len);
/* n bytes of text from the target: control bytes become \xNN so memory
 * cannot drive the terminal. */
void bd_put_text(FILE *f, const char *s, size_t n);
/* A JSON string literal, quotes included. */
void bd_json_string(FILE *f, const char *s);

#endif
