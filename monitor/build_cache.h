/* Files kept per kernel build, under <cache>/build-<BUILD-ID>/<what>: what
 * the monitor decoded from one kernel (its symbol table, its BTF) serves
 * every later contact with any target running that build, even one that
 * has since died, without reading it again. */
#ifndef BD_BUILD_CACHE_H
#define BD_BUILD_CACHE_H

#include <stddef.h>

#include "../common/error.h"

/* The longest BUILD-ID accepted, in hex digits (a SHA-512 would be 128). */
#define BD_BUILD_ID_MAX 128

/* 1 if build_id is 2..BD_BUILD_ID_MAX lowercase hex digits. */
int bd_build_id_valid(const char *build_id);

/* The cached file, malloc'd (NUL after the last byte). BD_ERR_NOT_FOUND if
 * absent, BD_ERR_RANGE if larger than max, BD_ERR_PROTOCOL if build_id or
 * what cannot be a cache name. The content is untrusted: check it. */
struct bd_error *bd_build_cache_load(const char *build_id, const char *what, size_t max,
                                     void **data, size_t *len);

/* Best effort and atomic: 0, or -1 (nothing stored) which callers may
 * ignore, since a cache never fails a view. */
int bd_build_cache_store(const char *build_id, const char *what, const void *data, size_t len);

#endif
