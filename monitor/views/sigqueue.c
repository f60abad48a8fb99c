/* Pending signals: see sigqueue.h. */
#include "sigqueue.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/bytes.h"
#include "../../common/grow.h"
#include "../walk/walk.h"
#include "../walk/walk_list.h"

/* The kernel's SI_USER; si_signo, si_errno and si_code are the first three
 * ints of every siginfo. */
#define SI_USER_ 0

struct collect {
        struct bd_kernel *k;
        int64_t node; /* sigqueue.list */
        int64_t info, info_size;
        struct bd_sigqueue *q;
        size_t cap;
};

int bd_siginfo_signo(const struct bd_siginfo *si)
{
        return (int)bd_le32(si->b);
}

static struct bd_error *grow(struct bd_sigqueue *q, size_t *cap)
{
        return bd_grow((void **)&q->info, cap, q->n + 1, sizeof(*q->info), 8) ? &bd_error_nomem
                                                                              : NULL;
}

static struct bd_error *add_entry(void *arg, uint64_t node)
{
        struct collect *c = arg;
        struct bd_error *err = grow(c->q, &c->cap);
        if (err)
                return err;
        struct bd_siginfo *si = &c->q->info[c->q->n];
        memset(si, 0, sizeof(*si));
        uint64_t at = node - (uint64_t)c->node + (uint64_t)c->info;
        if ((err = bd_kernel_read(c->k, at, si->b, (size_t)c->info_size)))
                return bd_error_wrap(err, "sigqueue at 0x%" PRIx64, node - (uint64_t)c->node);
        int sig = bd_siginfo_signo(si);
        if (sig < 1 || sig > BD_NSIG || !(c->q->mask >> (sig - 1) & 1))
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "sigqueue at 0x%" PRIx64 " holds signal %d, which is not "
                                    "pending (set 0x%" PRIx64 ")",
                                    node - (uint64_t)c->node, sig, c->q->mask);
        c->q->n++;
        return NULL;
}

struct bd_error *bd_sigqueue_from(struct bd_kernel *k, const struct bd_layout *l, uint64_t addr,
                                  size_t max, struct bd_sigqueue *out)
{
        memset(out, 0, sizeof(*out));
        int64_t set, list, node, info;
        struct bd_error *err = bd_layout_get_sized(l, BDL_SIGPENDING_SIGNAL, 8, &set);
        if (!err)
                err = bd_layout_get_sized(l, BDL_SIGPENDING_LIST, 16, &list);
        if (!err)
                err = bd_layout_get_sized(l, BDL_SIGQUEUE_LIST, 16, &node);
        if (!err)
                err = bd_layout_get(l, BDL_SIGQUEUE_INFO, &info);
        if (err)
                return bd_error_wrap(err, "pending signals");
        int64_t info_size = l->e[BDL_SIGQUEUE_INFO].size;
        /* kernel_siginfo: signo, errno, code and the union, within a
         * siginfo_t. */
        if (info_size < 12 || info_size > BD_SIGINFO_SIZE)
                return bd_error_new(BD_ERR_PROTOCOL, "sigqueue.info of %" PRId64 " bytes",
                                    info_size);
        if ((err = bd_kernel_read_u64(k, addr + (uint64_t)set, &out->mask)))
                return bd_error_wrap(err, "pending signals at 0x%" PRIx64, addr);
        if (!out->mask)
                return NULL; /* nothing pending: the list is empty too */
        struct collect c = {k, node, info, info_size, out, 0};
        struct bd_walk_opts o = {.max = max ? max : 1, .check_prev = 1};
        err = bd_list_walk(k, addr + (uint64_t)list, &o, add_entry, &c);
        /* Each pending signal the queue does not hold, as collect_signal()
         * delivers it. */
        for (int sig = 1; !err && sig <= BD_NSIG; sig++) {
                if (!(out->mask >> (sig - 1) & 1))
                        continue;
                int queued = 0;
                for (size_t i = 0; i < out->n && !queued; i++)
                        queued = bd_siginfo_signo(&out->info[i]) == sig;
                if (queued)
                        continue;
                if ((err = grow(out, &c.cap)))
                        break;
                struct bd_siginfo *si = &out->info[out->n++];
                memset(si, 0, sizeof(*si));
                bd_put_le(si->b, (uint32_t)sig, 4);
                bd_put_le(si->b + 8, SI_USER_, 4);
        }
        if (err)
                bd_sigqueue_free(out);
        return err;
}

struct bd_error *bd_sigqueue_read(struct bd_program *prog, uint64_t addr, size_t max,
                                  struct bd_sigqueue *out)
{
        const struct bd_layout *l;
        memset(out, 0, sizeof(*out));
        struct bd_error *err = bd_program_layout(prog, &l);
        return err ? err : bd_sigqueue_from(prog->k, l, addr, max, out);
}

void bd_sigqueue_free(struct bd_sigqueue *q)
{
        free(q->info);
        memset(q, 0, sizeof(*q));
}
