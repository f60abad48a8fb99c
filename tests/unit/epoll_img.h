/* A synthetic struct eventpoll and struct epitem layout (offsets as Linux
 * 6.1 on x86-64 has them, event packed as there) for the unit test of
 * epoll.c and the fuzz target's memory. Header only: each test is built
 * from one source file. */
#ifndef BD_TEST_EPOLL_IMG_H
#define BD_TEST_EPOLL_IMG_H

#include <stdint.h>

#include "layout_img.h"

enum {
        EP_RBR = 64,     /* eventpoll.rbr: rb_root_cached */
        EPI_RBN = 0,     /* epitem.rbn */
        EPI_FILE = 48,   /* epitem.ffd.file */
        EPI_FD = 56,     /* epitem.ffd.fd */
        EPI_EVENTS = 84, /* epitem.event.events */
        EPI_DATA = 88,   /* epitem.event.data */
        EPI_SIZE = 128,
};

static inline void ep_layout(struct bd_layout *l)
{
        static const struct layout_row t[] = {
            {BDL_EVENTPOLL_RBR, EP_RBR, 16},    {BDL_EPITEM_RBN, EPI_RBN, 24},
            {BDL_EPITEM_FILE, EPI_FILE, 8},     {BDL_EPITEM_FD, EPI_FD, 4},
            {BDL_EPITEM_EVENTS, EPI_EVENTS, 4}, {BDL_EPITEM_DATA, EPI_DATA, 8},
        };
        layout_rows(l, t, sizeof(t) / sizeof(t[0]));
}

#endif
