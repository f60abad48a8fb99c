#include "walk.h"

#include <inttypes.h>
#include <string.h>

struct bd_error bd_walk_stop = {.code = BD_OK, .message = "walk stopped by its callback"};

size_t bd_walk_max(const struct bd_walk_opts *o)
{
        /* Beyond 2^32 no bound is meant, and max + 1 must not wrap. */
        if (!o || !o->max)
                return BD_WALK_DEFAULT_MAX;
        return o->max < (size_t)1 << 32 ? o->max : (size_t)1 << 32;
}

int bd_walk_check_prev(const struct bd_walk_opts *o)
{
        return o && o->check_prev;
}

int bd_walk_kptr_ok(const struct bd_kernel *k, uint64_t addr, uint64_t align)
{
        /* Kernel objects live in the upper canonical half; anything else
         * read where a kernel pointer belongs is corruption. */
        uint64_t low = k->levels == 5 ? 0xff00000000000000ull : 0xffff800000000000ull;
        return addr >= low && !(addr & (align - 1));
}

/* Whether [vaddr, vaddr+len) translates into memory the source exports. */
static int readable(struct bd_kernel *k, uint64_t vaddr, size_t len)
{
        uint64_t ends[2] = {vaddr, vaddr + len - 1};
        if (!len || ends[1] < vaddr)
                return 0;
        for (int i = 0; i < 2; i++) {
                uint64_t pa;
                struct bd_error *err = bd_kernel_translate(k, ends[i], &pa, NULL);
                if (err) {
                        bd_error_destroy(err);
                        return 0;
                }
                if (bd_phys_window_of(k->phys, pa) < 0)
                        return 0;
        }
        return 1;
}

struct bd_error *bd_walk_read(struct bd_kernel *k, const struct bd_kernel_iov *iov, size_t n,
                              const char *what)
{
        struct bd_error *err = bd_kernel_read_batch(k, iov, n);
        if (!err || err == &bd_error_nomem)
                return err;
        /* The inner message starts with the target's name too: say it once. */
        const char *inner = err->message;
        size_t nl = strlen(k->phys->name);
        if (!strncmp(inner, k->phys->name, nl) && !strncmp(inner + nl, ": ", 2))
                inner += nl + 2;
        struct bd_error *out = NULL;
        /* Only on failure: find the culprit so the message can name it. */
        for (size_t i = 0; i < n && !out; i++)
                if (!readable(k, iov[i].vaddr, iov[i].len))
                        out = bd_error_new(err->code, "%s: %s at 0x%" PRIx64 " unreadable: %s",
                                           k->phys->name, what, iov[i].vaddr, inner);
        if (!out)
                out = bd_error_new(err->code, "%s: reading %zu %s%s: %s", k->phys->name, n, what,
                                   n == 1 ? "" : "s", inner);
        bd_error_destroy(err);
        return out;
}
