/* What an epoll instance watches: its struct eventpoll's tree of struct
 * epitem, each the fd number and struct file registered with
 * EPOLL_CTL_ADD, the events asked for and the data returned with them,
 * as /proc/PID/fdinfo shows an epoll fd's "tfd:" lines. The tree is read
 * a level per batch, then every item's fields in one more. */
#ifndef BD_EPOLL_H
#define BD_EPOLL_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/kernel.h"
#include "../kernel/layout.h"
#include "../kernel/program.h"

struct bd_epoll_item {
        int32_t fd;      /* ffd.fd: the number it was added under */
        uint64_t file;   /* ffd.file: struct file * */
        uint32_t events; /* event.events, EPOLLET and kin included */
        uint64_t data;
};

struct bd_epoll {
        struct bd_epoll_item *item; /* in the tree's order: by file, then fd */
        size_t n;
};

/* The eventpoll at ep (an epoll file's private_data), at most max items
 * (the kernel's bound: fs.epoll.max_user_watches). Fails with
 * BD_ERR_RANGE past max, BD_ERR_PROTOCOL for an item whose fd is negative
 * or whose file pointer is not a kernel pointer, a walk's errors for a
 * broken tree; out is then empty. */
struct bd_error *bd_epoll_from(struct bd_kernel *k, const struct bd_layout *l, uint64_t ep,
                               size_t max, struct bd_epoll *out);
/* The same through prog's layout, bounded by the kernel's
 * max_user_watches when its symbol reads. */
struct bd_error *bd_epoll_read(struct bd_program *prog, uint64_t ep, struct bd_epoll *out);
void bd_epoll_free(struct bd_epoll *e);

#endif
