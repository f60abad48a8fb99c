#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int audit_fd = STDERR_FILENO;

struct bd_error *bd_audit_open(const char *path)
{
        if (!path || !strcmp(path, "-")) {
                audit_fd = STDERR_FILENO;
                return NULL;
        }
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return bd_error_new(BD_ERR_INTERNAL, "cannot open audit log %s: %s", path,
                                    strerror(errno));
        bd_audit_close();
        audit_fd = fd;
        return NULL;
}

void bd_audit_close(void)
{
        if (audit_fd != STDERR_FILENO)
                close(audit_fd);
        audit_fd = STDERR_FILENO;
}

int bd_audit(const char *fmt, ...)
{
        char line[1024];
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof(line) - n, ".%06ldZ audit ", ts.tv_nsec / 1000);
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
        va_end(ap);
        if (m < 0)
                return -1; /* an encoding error: the line would say nothing */
        n += (size_t)m;
        if (n > sizeof(line) - 2)
                n = sizeof(line) - 2;
        line[n++] = '\n';
        ssize_t rc;
        do
                rc = write(audit_fd, line, n);
        while (rc < 0 && errno == EINTR);
        if (rc < 0)
                return -1;
        if ((size_t)rc != n) {
                errno = ENOSPC; /* a line cut short (a full disk) does not count */
                return -1;
        }
        return 0;
}
