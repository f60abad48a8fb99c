/* Audit lines: one per connection event and one per write, on both sides.
 * Each line is written with a single write(2) so concurrent writers never
 * interleave inside a line. */
#ifndef BD_AUDIT_H
#define BD_AUDIT_H

#include "error.h"

/* Open (append, create 0600) the audit log; NULL or "-" means stderr. */
struct bd_error *bd_audit_open(const char *path);
/* Write one line. Returns 0 once the whole line is in the log, -1 (errno
 * set) when it is not: a write that must be audited is then not made. */
int bd_audit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bd_audit_close(void);

#endif
