/* The monitor's cache: everything it keeps between runs, in one directory
 * ($BDMON_CACHE, else $XDG_CACHE_HOME/backdoors, else ~/.cache/backdoors):
 *   - per-build entries, <cache>/build-<BUILD-ID>/<what>: opaque blobs
 *     holding what the monitor decoded from one kernel (its symbol table,
 *     its BTF, a stored layout), so every later contact with any target of
 *     that build, even one that has since died, needs no reading again.
 *     What a blob holds is its writer's business (kallsyms_cache.c,
 *     layout.c);
 *   - location hints, <cache>/vmcoreinfo-<target>: where a target's
 *     VMCOREINFO was found, so the next contact needs no scan;
 *   - paths under the directory for callers that keep files of their own.
 * Everything in it is an optimisation, so writers are best effort and
 * readers treat what they find as untrusted (another user, a crash or a
 * disk may have mangled it). */
#ifndef BD_CACHE_H
#define BD_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/error.h"

/* The directory. */
/* <cache>/<name> into buf. name may hold '/': with create, the cache
 * directory and every directory in name are made (mode 0700). The caller
 * vouches for name (no "..", no leading '/'). 0, or -1 with no usable
 * directory or a path longer than cap. */
int bd_cache_path(const char *name, char *buf, size_t cap, int create);

/* Replace path with data: a temporary file in the same directory, renamed
 * over path, so readers see the old or the new content and never a part.
 * 0, or -1 with nothing left behind. */
int bd_cache_write_atomic(const char *path, const void *data, size_t len);

/* The whole of path, malloc'd into *data (with a NUL after the last byte,
 * not counted in *len). BD_ERR_NOT_FOUND if absent, BD_ERR_RANGE if larger
 * than max, BD_ERR_IO otherwise. */
struct bd_error *bd_cache_read(const char *path, size_t max, void **data, size_t *len);

/* Per-build entries. */
/* The longest BUILD-ID accepted, in hex digits (a SHA-512 would be 128). */
#define BD_BUILD_ID_MAX 128

/* 1 if build_id is 2..BD_BUILD_ID_MAX lowercase hex digits. */
int bd_build_id_valid(const char *build_id);

/* The cached file, malloc'd (NUL after the last byte). BD_ERR_NOT_FOUND if
 * absent, BD_ERR_RANGE if larger than max, BD_ERR_PROTOCOL if build_id or
 * what cannot be a cache name. The content is untrusted: check it. */
struct bd_error *bd_cache_build_load(const char *build_id, const char *what, size_t max,
                                     void **data, size_t *len);

/* Best effort and atomic: 0, or -1 (nothing stored) which callers may
 * ignore, since a cache never fails a view. */
int bd_cache_build_store(const char *build_id, const char *what, const void *data, size_t len);

/* Location hints. */
/* 0 when nothing is cached. */
uint64_t bd_cache_hint_load(const char *target);
/* Best effort and atomic (write then rename): a cache never blocks a view. */
void bd_cache_hint_store(const char *target, uint64_t addr);

#endif
