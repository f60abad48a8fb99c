/* The signals pending for a thread, or for its whole thread group: a
 * struct sigpending's set and its queue of struct sigqueue, each entry as
 * the siginfo_t user space would receive for it. A pending signal with no
 * queue entry (SIGKILL's fast path, or a legacy signal sent when the
 * user's queue was full) comes out as the kernel itself would deliver it:
 * si_code SI_USER, everything else zero. */
#ifndef BD_SIGQUEUE_H
#define BD_SIGQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/kernel.h"
#include "../kernel/layout.h"
#include "../kernel/program.h"

/* sizeof(siginfo_t): the kernel's kernel_siginfo, then zeros. */
#define BD_SIGINFO_SIZE 128
/* Signal numbers 1..BD_NSIG (_NSIG on x86-64). */
#define BD_NSIG 64

struct bd_siginfo {
        uint8_t b[BD_SIGINFO_SIZE];
};

struct bd_sigqueue {
        uint64_t mask; /* the pending set: bit n-1 for signal n */
        struct bd_siginfo *info;
        size_t n;
};

/* The sigpending at addr. At most max queue entries (the kernel's bound is
 * the user's RLIMIT_SIGPENDING, plus one per legacy signal sent with the
 * limit overridden); every entry's signal must be in the set. Fails with
 * BD_ERR_PROTOCOL for an entry outside the set or a bad signal number,
 * BD_ERR_RANGE past max, a walk's errors for a broken list. */
struct bd_error *bd_sigqueue_from(struct bd_kernel *k, const struct bd_layout *l, uint64_t addr,
                                  size_t max, struct bd_sigqueue *out);
/* The same through prog's layout. */
struct bd_error *bd_sigqueue_read(struct bd_program *prog, uint64_t addr, size_t max,
                                  struct bd_sigqueue *out);
void bd_sigqueue_free(struct bd_sigqueue *q);

/* si_signo of an entry. */
int bd_siginfo_signo(const struct bd_siginfo *si);

#endif
