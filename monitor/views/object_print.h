/* Printing a typed object (object.h) through its BTF type: the value of
 * `bdmon print`. The object is read in one piece and formatted from that
 * copy. */
#ifndef BD_OBJECT_PRINT_H
#define BD_OBJECT_PRINT_H

#include <stdio.h>

#include "object.h"

/* Print an object's value: C-like text, or JSON. Structures are expanded
 * max_depth levels; arrays show at most 64 elements; char arrays print as
 * strings; pointers as addresses with the symbol they point into. After
 * 2^20 values the rest is cut ("..." in text), whatever the BTF says. */
struct bd_error *bd_object_print(struct bd_program *prog, const struct bd_object *o, FILE *f,
                                 int json, int max_depth);

#endif
