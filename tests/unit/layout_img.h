/* Synthetic layouts for tests of kernel views: rows of a manifest id, its
 * value (an offset, a size) and its size, put into a struct bd_layout.
 * Header only: each test is built from one source file. */
#ifndef BD_TEST_LAYOUT_IMG_H
#define BD_TEST_LAYOUT_IMG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../../monitor/kernel/layout.h"

struct layout_row {
        enum bd_layout_id id;
        int64_t value, size;
};

static inline void layout_rows(struct bd_layout *l, const struct layout_row *row, size_t n)
{
        for (size_t i = 0; i < n; i++)
                l->e[row[i].id] = (struct bd_layout_entry){
                    .present = 1, .value = row[i].value, .size = row[i].size};
}

/* l, filled by fill the first time and named "fuzz": a fuzz target's
 * layout, made once for all its runs. */
static inline const struct bd_layout *layout_once(struct bd_layout *l,
                                                  void (*fill)(struct bd_layout *))
{
        if (!l->source[0]) {
                fill(l);
                snprintf(l->source, sizeof(l->source), "fuzz");
        }
        return l;
}

#endif
