#include "syscall_restart.h"

#include <string.h>

#include "../../common/bytes.h"

#define ENOSYS 38
#define EINTR  4

/* x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
enum {
        NR_READ = 0,
        NR_POLL = 7,
        NR_PREAD64 = 17,
        NR_READV = 19,
        NR_SELECT = 23,
        NR_PAUSE = 34,
        NR_NANOSLEEP = 35,
        NR_CONNECT = 42,
        NR_ACCEPT = 43,
        NR_RECVFROM = 45,
        NR_RECVMSG = 47,
        NR_WAIT4 = 61,
        NR_MSGRCV = 70,
        NR_FLOCK = 73,
        NR_RT_SIGTIMEDWAIT = 128,
        NR_RT_SIGSUSPEND = 130,
        NR_FUTEX = 202,
        NR_CLOCK_NANOSLEEP = 230,
        NR_EPOLL_WAIT = 232,
        NR_WAITID = 247,
        NR_PSELECT6 = 270,
        NR_PPOLL = 271,
        NR_EPOLL_PWAIT = 281,
        NR_ACCEPT4 = 288,
        NR_RECVMMSG = 299,
        NR_EPOLL_PWAIT2 = 441,
};

/* FUTEX_WAIT and FUTEX_WAIT_BITSET, private or not. */
static int futex_wait(uint64_t op)
{
        uint64_t cmd = op & 0x7f;
        return cmd == 0 || cmd == 9;
}

/* The calls the kernel restarts with the same arguments when a signal
 * (or criu's interrupt) stops them (-ERESTARTSYS): nothing was consumed
 * while they blocked, and no deadline runs. Waits the kernel ends with
 * -EINTR or -ERESTARTNOHAND (poll, select, epoll, pause, sigsuspend),
 * sleeps and waits with a deadline (restart blocks), and calls that may
 * have made partial progress (write, send, connect) return -EINTR, as they
 * do from criu's own dump. */
static int restarts(uint64_t nr, const uint8_t *r)
{
        switch (nr) {
        case NR_READ:
        case NR_PREAD64:
        case NR_READV:
        case NR_ACCEPT:
        case NR_ACCEPT4:
        case NR_RECVFROM:
        case NR_RECVMSG:
        case NR_WAIT4:
        case NR_WAITID:
        case NR_FLOCK:
        case NR_MSGRCV:
                return 1;
        case NR_FUTEX:
                return futex_wait(bd_le64(r + BD_REG_SI)) && bd_le64(r + BD_REG_R10) == 0;
        default:
                return 0;
        }
}

enum bd_syscall_fix bd_syscall_fix(uint8_t *regs, int at_syscall)
{
        int64_t ax = (int64_t)bd_le64(regs + BD_REG_AX);
        int64_t orig = (int64_t)bd_le64(regs + BD_REG_ORIG_AX);
        if (!at_syscall || orig < 0 || ax != -ENOSYS)
                return BD_SYSCALL_NONE;
        if (restarts((uint64_t)orig, regs)) {
                bd_put_le(regs + BD_REG_AX, (uint64_t)orig, 8);
                bd_put_le(regs + BD_REG_IP, bd_le64(regs + BD_REG_IP) - 2, 8);
                return BD_SYSCALL_REWOUND;
        }
        bd_put_le(regs + BD_REG_AX, (uint64_t)-EINTR, 8);
        return BD_SYSCALL_EINTR;
}

const char *bd_syscall_fix_name(enum bd_syscall_fix f)
{
        static const char *const names[] = {"none", "rewound", "eintr"};
        return (unsigned)f < 3 ? names[f] : "none";
}
