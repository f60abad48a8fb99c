/* What a thread stopped inside a system call must find when it runs again,
 * decided from its saved registers alone. criu restores registers exactly
 * as written, so the images must hold what criu's own dump holds for a
 * task it interrupted: a call the kernel restarts cleanly (-ERESTARTSYS:
 * blocking reads, accept, wait4, a futex wait without a timeout) resumes
 * at its syscall instruction with ax = orig_ax; every other wait (poll,
 * select, epoll, pause; sleeps and waits with a deadline, whose remaining
 * time only the dead kernel knew) returns -EINTR, as criu's dump makes it
 * return; a call that may have made partial progress (write, send,
 * connect) is never rewound. On a dead kernel ax is still -ENOSYS, the
 * value the syscall entry put there. Pure: tested from made-up registers. */
#ifndef BD_SYSCALL_RESTART_H
#define BD_SYSCALL_RESTART_H

#include <stdint.h>

#include "../views/core_notes.h"

enum bd_syscall_fix {
        BD_SYSCALL_NONE,    /* not in a system call: registers as saved */
        BD_SYSCALL_REWOUND, /* ip back to the syscall instruction, ax = orig_ax */
        BD_SYSCALL_EINTR,   /* returns -EINTR */
};

/* Fix regs (a pt_regs, BD_PT_REGS_SIZE bytes) in place. at_syscall: the two
 * bytes before ip are the syscall instruction (0f 05), as read from the
 * process's memory; a page-fault sleeper also has orig_ax >= 0. */
enum bd_syscall_fix bd_syscall_fix(uint8_t *regs, int at_syscall);
/* "none", "rewound", "eintr". */
const char *bd_syscall_fix_name(enum bd_syscall_fix f);

#endif
