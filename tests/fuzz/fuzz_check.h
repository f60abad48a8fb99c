/* Invariant checks inside fuzz targets: abort() is what libFuzzer reports as
 * a crash, with the input that caused it. */
#ifndef BD_FUZZ_CHECK_H
#define BD_FUZZ_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "../../common/error.h"

#define CHECK(cond)                                                                                \
        do {                                                                                       \
                if (!(cond))                                                                       \
                        abort();                                                                   \
        } while (0)

/* A failure memory can cause: one line that leaves the target's name
 * ("fuzz") to the caller, with a code hostile memory can cause. */
static inline void check_memory_error(const struct bd_error *err)
{
        CHECK(err->message[0] && !strchr(err->message, '\n') && !strstr(err->message, "fuzz"));
        CHECK(err->code == BD_ERR_PROTOCOL || err->code == BD_ERR_RANGE ||
              err->code == BD_ERR_NOT_FOUND || err->code == BD_ERR_NOMEM);
}

#endif
