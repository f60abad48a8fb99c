/* An epoll instance's watches: see epoll.h. */
#include "epoll.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/bytes.h"
#include "../walk/walk.h"
#include "../walk/walk_rbtree.h"

enum { F_FILE, F_FD, F_EVENTS, F_DATA, F_ALL };

struct bd_error *bd_epoll_from(struct bd_kernel *k, const struct bd_layout *l, uint64_t ep,
                               size_t max, struct bd_epoll *out)
{
        memset(out, 0, sizeof(*out));
        static const enum bd_layout_id ids[F_ALL] = {BDL_EPITEM_FILE, BDL_EPITEM_FD,
                                                     BDL_EPITEM_EVENTS, BDL_EPITEM_DATA};
        static const int64_t size[F_ALL] = {8, 4, 4, 8};
        int64_t off[F_ALL], rbr, rbn;
        struct bd_error *err = bd_layout_get(l, BDL_EVENTPOLL_RBR, &rbr);
        if (!err)
                err = bd_layout_get(l, BDL_EPITEM_RBN, &rbn);
        for (int i = 0; !err && i < F_ALL; i++)
                err = bd_layout_get_sized(l, ids[i], size[i], &off[i]);
        if (err)
                return bd_error_wrap(err, "epoll");
        struct bd_walk_nodes s = {.minus = rbn}; /* the epitems */
        struct bd_walk_opts o = {.max = max ? max : 1, .check_prev = 1};
        err = bd_rbtree_walk(k, ep + (uint64_t)rbr, &o, bd_walk_gather_node, &s);
        struct {
                uint64_t file, data;
                uint32_t fd, events;
        } *raw = s.n ? calloc(s.n, sizeof(*raw)) : NULL;
        struct bd_kernel_iov *iov = s.n ? calloc(s.n * F_ALL, sizeof(*iov)) : NULL;
        if (!err && s.n && (!raw || !iov))
                err = &bd_error_nomem;
        for (size_t i = 0; !err && i < s.n; i++) {
                uint64_t it = s.a[i];
                iov[i * F_ALL + F_FILE] =
                    (struct bd_kernel_iov){it + (uint64_t)off[F_FILE], &raw[i].file, 8};
                iov[i * F_ALL + F_FD] =
                    (struct bd_kernel_iov){it + (uint64_t)off[F_FD], &raw[i].fd, 4};
                iov[i * F_ALL + F_EVENTS] =
                    (struct bd_kernel_iov){it + (uint64_t)off[F_EVENTS], &raw[i].events, 4};
                iov[i * F_ALL + F_DATA] =
                    (struct bd_kernel_iov){it + (uint64_t)off[F_DATA], &raw[i].data, 8};
        }
        if (!err && s.n)
                err = bd_walk_read(k, iov, s.n * F_ALL, "epitem");
        if (!err && s.n && !(out->item = calloc(s.n, sizeof(*out->item))))
                err = &bd_error_nomem;
        for (size_t i = 0; !err && i < s.n; i++) {
                uint64_t it = s.a[i];
                if ((int32_t)raw[i].fd < 0 || !bd_walk_kptr_ok(k, raw[i].file, 8))
                        err =
                            bd_error_new(BD_ERR_PROTOCOL,
                                         "epitem at 0x%" PRIx64 ": fd %" PRId32 ", file 0x%" PRIx64,
                                         it, (int32_t)raw[i].fd, raw[i].file);
                else
                        out->item[out->n++] = (struct bd_epoll_item){
                            (int32_t)raw[i].fd, raw[i].file, raw[i].events, raw[i].data};
        }
        free(s.a), free(raw), free(iov);
        if (err)
                bd_epoll_free(out);
        return err;
}

struct bd_error *bd_epoll_read(struct bd_program *prog, uint64_t ep, struct bd_epoll *out)
{
        memset(out, 0, sizeof(*out));
        const struct bd_layout *l;
        struct bd_error *err = bd_program_layout(prog, &l);
        if (err)
                return err;
        /* A watch is charged to its user against max_user_watches; one
         * instance holds no more. */
        uint64_t watches = 0;
        size_t max = BD_WALK_DEFAULT_MAX;
        err = bd_program_read_symbol(prog, "max_user_watches", &watches, 8);
        if (!err && watches && watches < max)
                max = (size_t)watches;
        bd_error_destroy(err);
        return bd_epoll_from(prog->k, l, ep, max, out);
}

void bd_epoll_free(struct bd_epoll *e)
{
        free(e->item);
        memset(e, 0, sizeof(*e));
}
