/* Error objects returned up the stack, never printed deep inside a library.
 * Each code is also the process exit code of the command that fails with it,
 * so scripts can tell an unreachable NIC from a refused key. */
#ifndef BD_ERROR_H
#define BD_ERROR_H

#include <stdarg.h>
#include <stdint.h>

enum bd_err {
        BD_OK = 0,
        BD_ERR_INTERNAL = 1,    /* bug, resource failure, anything unexpected */
        BD_ERR_USAGE = 2,       /* wrong flags or arguments */
        BD_ERR_TARGET = 3,      /* unknown target, bad config or key file */
        BD_ERR_UNREACHABLE = 4, /* NIC not running or not reachable */
        BD_ERR_AUTH = 5,        /* authentication refused */
        BD_ERR_RANGE = 6,       /* address outside every window */
        BD_ERR_READONLY = 7,    /* write refused: NIC or monitor is read-only */
        BD_ERR_PROTOCOL = 8,    /* malformed or unexpected message */
        BD_ERR_NOT_FOUND = 9,   /* the thing looked for is not in memory */
        BD_ERR_IO = 10,         /* transport or file I/O failed mid-way */
        BD_ERR_CAS_FAILED = 11, /* compare-and-swap found another value */
        BD_ERR_NOMEM = 12,
        BD_ERR_STANDBY = 13, /* the standby's restore (resurrect --to) failed */
};

struct bd_error {
        enum bd_err code;
        /* A fault, as drgn reports one: the address that could not be read
         * (virtual for kernel and user reads, physical for the source), so
         * that a caller can name it without translating again. */
        int has_address;
        uint64_t address;
        char message[512];
};

/* Errors that say the way to the target failed, not what was read there:
 * a watch reads these as "unreachable", a walk gives up rather than skip. */
static inline int bd_err_transport(enum bd_err code)
{
        return code == BD_ERR_IO || code == BD_ERR_UNREACHABLE;
}

/* Out of memory must be reportable without allocating. */
extern struct bd_error bd_error_nomem;

/* An error that a read elsewhere would meet as well (no memory, or no way
 * to the target): never taken for a hole in the memory read and skipped. */
static inline int bd_err_fatal(const struct bd_error *err)
{
        return err && (err == &bd_error_nomem || bd_err_transport(err->code));
}

struct bd_error *bd_error_new(enum bd_err code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
struct bd_error *bd_error_vnew(enum bd_err code, const char *fmt, va_list ap);
/* An error about the memory at address (see has_address). */
struct bd_error *bd_error_fault(enum bd_err code, uint64_t address, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix context onto an existing error ("reading host2: ..."). */
struct bd_error *bd_error_wrap(struct bd_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void bd_error_destroy(struct bd_error *err);
const char *bd_err_name(enum bd_err code);

#endif
