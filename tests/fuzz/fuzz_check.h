/* Invariant checks inside fuzz targets: abort() is what libFuzzer reports as
 * a crash, with the input that caused it. */
#ifndef BD_FUZZ_CHECK_H
#define BD_FUZZ_CHECK_H

#include <stdlib.h>

#define CHECK(cond)                                                                                \
        do {                                                                                       \
                if (!(cond))                                                                       \
                        abort();                                                                   \
        } while (0)

#endif
