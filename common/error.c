#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bd_error bd_error_nomem = {.code = BD_ERR_NOMEM, .message = "out of memory"};

struct bd_error *bd_error_vnew(enum bd_err code, const char *fmt, va_list ap)
{
        struct bd_error *err = malloc(sizeof(*err));
        if (!err)
                return &bd_error_nomem;
        err->code = code;
        err->has_address = 0;
        err->address = 0;
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        return err;
}

struct bd_error *bd_error_new(enum bd_err code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        struct bd_error *err = bd_error_vnew(code, fmt, ap);
        va_end(ap);
        return err;
}

struct bd_error *bd_error_fault(enum bd_err code, uint64_t address, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        struct bd_error *err = bd_error_vnew(code, fmt, ap);
        va_end(ap);
        if (err != &bd_error_nomem) {
                err->has_address = 1;
                err->address = address;
        }
        return err;
}

struct bd_error *bd_error_wrap(struct bd_error *err, const char *fmt, ...)
{
        if (!err || err == &bd_error_nomem)
                return err;
        char prefix[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        /* Shift the message right and put the prefix in front, truncating
         * at the buffer's end. */
        size_t plen = strnlen(prefix, sizeof(prefix)) + 2;
        size_t cap = sizeof(err->message);
        if (plen >= cap)
                plen = cap - 1;
        memmove(err->message + plen, err->message, cap - plen - 1);
        err->message[cap - 1] = '\0';
        memcpy(err->message, prefix, plen - 2);
        memcpy(err->message + plen - 2, ": ", 2);
        return err;
}

void bd_error_destroy(struct bd_error *err)
{
        if (err && err != &bd_error_nomem)
                free(err);
}

const char *bd_err_name(enum bd_err code)
{
        static const char *const names[] = {
            [BD_OK] = "ok",
            [BD_ERR_INTERNAL] = "internal",
            [BD_ERR_USAGE] = "usage",
            [BD_ERR_TARGET] = "target",
            [BD_ERR_UNREACHABLE] = "unreachable",
            [BD_ERR_AUTH] = "auth",
            [BD_ERR_RANGE] = "range",
            [BD_ERR_READONLY] = "readonly",
            [BD_ERR_PROTOCOL] = "protocol",
            [BD_ERR_NOT_FOUND] = "not-found",
            [BD_ERR_IO] = "io",
            [BD_ERR_CAS_FAILED] = "cas-failed",
            [BD_ERR_NOMEM] = "nomem",
            [BD_ERR_STANDBY] = "standby",
        };
        if ((unsigned)code < sizeof(names) / sizeof(names[0]) && names[code])
                return names[code];
        return "unknown";
}
