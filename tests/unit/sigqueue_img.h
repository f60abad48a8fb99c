/* A synthetic struct sigpending and struct sigqueue layout (as Linux 6.1
 * on x86-64 has them) for the unit test of sigqueue.c and the fuzz
 * target's memory. Header only: each test is built from one source
 * file. */
#ifndef BD_TEST_SIGQUEUE_IMG_H
#define BD_TEST_SIGQUEUE_IMG_H

#include <stdint.h>

#include "layout_img.h"

enum {
        SP_LIST = 0,    /* sigpending.list */
        SP_SIGNAL = 16, /* sigpending.signal */
        SQ_LIST = 0,    /* sigqueue.list */
        SQ_INFO = 24,   /* sigqueue.info: kernel_siginfo, 48 bytes */
        SQ_INFO_SIZE = 48,
        SQ_SIZE = 80,
};

static inline void sq_layout(struct bd_layout *l)
{
        static const struct layout_row t[] = {
            {BDL_SIGPENDING_LIST, SP_LIST, 16},
            {BDL_SIGPENDING_SIGNAL, SP_SIGNAL, 8},
            {BDL_SIGQUEUE_LIST, SQ_LIST, 16},
            {BDL_SIGQUEUE_INFO, SQ_INFO, SQ_INFO_SIZE},
        };
        layout_rows(l, t, sizeof(t) / sizeof(t[0]));
}

#endif
