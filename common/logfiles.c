#include "logfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_LOGS 8

/* Written before the handler is installed (or with SIGHUP blocked), read
 * by the handler: open(2), dup3(2), close(2) and write(2) are all it
 * calls, every one async-signal-safe. */
static struct {
        int fd; /* -1: free */
        int cloexec;
        char path[4096];
} logs[MAX_LOGS] = {[0 ... MAX_LOGS - 1] = {.fd = -1}};

static void with_sighup_blocked(int block)
{
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

int bd_logfile_register(int fd, const char *path, int cloexec)
{
        if (strlen(path) >= sizeof(logs[0].path))
                return -1;
        with_sighup_blocked(1);
        int slot = -1;
        for (int i = 0; i < MAX_LOGS; i++)
                if (logs[i].fd == fd || (slot < 0 && logs[i].fd < 0))
                        slot = i;
        if (slot >= 0) {
                logs[slot].fd = -1;
                strcpy(logs[slot].path, path);
                logs[slot].cloexec = cloexec;
                logs[slot].fd = fd;
        }
        with_sighup_blocked(0);
        return slot < 0 ? -1 : 0;
}

void bd_logfile_forget(int fd)
{
        with_sighup_blocked(1);
        for (int i = 0; i < MAX_LOGS; i++)
                if (logs[i].fd == fd)
                        logs[i].fd = -1;
        with_sighup_blocked(0);
}

static void say(const char *a, const char *b)
{
        /* Nothing here may allocate or lock: plain write(2)s. */
        ssize_t rc = write(STDERR_FILENO, a, strlen(a));
        rc = write(STDERR_FILENO, b, strlen(b));
        rc = write(STDERR_FILENO, "\n", 1);
        (void)rc;
}

static void on_sighup(int sig)
{
        (void)sig;
        int saved = errno;
        for (int i = 0; i < MAX_LOGS; i++) {
                if (logs[i].fd < 0)
                        continue;
                int nfd = open(logs[i].path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
                if (nfd < 0) {
                        say("cannot reopen log (kept the old file): ", logs[i].path);
                        continue;
                }
                /* nfd is never logs[i].fd, which is still open. */
                if (dup3(nfd, logs[i].fd, logs[i].cloexec ? O_CLOEXEC : 0) < 0)
                        say("cannot reopen log (kept the old file): ", logs[i].path);
                close(nfd);
        }
        errno = saved;
}

void bd_logfiles_reopen_on_sighup(void)
{
        struct sigaction sa = {.sa_handler = on_sighup, .sa_flags = SA_RESTART};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGHUP, &sa, NULL);
}
