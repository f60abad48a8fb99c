/* Audit lines: one per connection event and one per write, on both sides.
 * Each line, or batch of whole lines, is written with a single write(2) to
 * a file opened O_APPEND, so concurrent writers never interleave inside a
 * line. */
#ifndef BD_AUDIT_H
#define BD_AUDIT_H

#include <stddef.h>

#include "error.h"

/* Open (append, create 0600) the audit log; NULL or "-" means stderr. A
 * file is opened again by its name on SIGHUP once the program installs
 * logfiles.h's handler (log rotation). */
struct bd_error *bd_audit_open(const char *path);
/* Write one line. Returns 0 once the whole line is in the log, -1 (errno
 * set) when it is not: a write that must be audited is then not made. */
int bd_audit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bd_audit_close(void);

/* Lines written together: each formatted as bd_audit() formats one, all of
 * them with as few write(2) calls as the batch needs (a repair audits
 * thousands of steps; one call each is most of the cost). */
struct bd_audit_batch {
        char *buf;
        size_t len, cap;
        int failed; /* a line could not be formatted or kept */
};

void bd_audit_add(struct bd_audit_batch *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Write the lines added and empty the batch. Returns 0 once every line is
 * in the log, -1 (errno set) when one is not. */
int bd_audit_flush(struct bd_audit_batch *b);

#endif
