#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "grow.h"
#include "logfiles.h"

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
        bd_logfile_register(fd, path, 1);
        return NULL;
}

void bd_audit_close(void)
{
        if (audit_fd != STDERR_FILENO) {
                bd_logfile_forget(audit_fd);
                close(audit_fd);
        }
        audit_fd = STDERR_FILENO;
}

/* One line, timestamped and ending in a newline, into line[1024]; its
 * length, or 0 on an encoding error (the line would say nothing). */
static size_t format_line(char line[1024], const char *fmt, va_list ap)
{
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(line, 1024, "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, 1024 - n, ".%06ldZ audit ", ts.tv_nsec / 1000);
        int m = vsnprintf(line + n, 1024 - n - 1, fmt, ap);
        if (m < 0)
                return 0;
        n += (size_t)m;
        if (n > 1024 - 2)
                n = 1024 - 2;
        line[n++] = '\n';
        return n;
}

static int write_whole(const char *buf, size_t n)
{
        ssize_t rc;
        do
                rc = write(audit_fd, buf, n);
        while (rc < 0 && errno == EINTR);
        if (rc < 0)
                return -1;
        if ((size_t)rc != n) {
                errno = ENOSPC; /* lines cut short (a full disk) do not count */
                return -1;
        }
        return 0;
}

int bd_audit(const char *fmt, ...)
{
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        size_t n = format_line(line, fmt, ap);
        va_end(ap);
        return n ? write_whole(line, n) : -1;
}

void bd_audit_add(struct bd_audit_batch *b, const char *fmt, ...)
{
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        size_t n = format_line(line, fmt, ap);
        va_end(ap);
        if (!n || bd_grow((void **)&b->buf, &b->cap, b->len + n, 1, 4096)) {
                b->failed = 1;
                return;
        }
        memcpy(b->buf + b->len, line, n);
        b->len += n;
}

int bd_audit_flush(struct bd_audit_batch *b)
{
        int rc = b->failed ? -1 : 0;
        if (b->len && write_whole(b->buf, b->len))
                rc = -1;
        free(b->buf);
        *b = (struct bd_audit_batch){0};
        return rc;
}
