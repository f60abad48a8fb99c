/* The monitor's cache directory: $BDMON_CACHE, else
 * $XDG_CACHE_HOME/backdoors, else ~/.cache/backdoors. Everything in it is
 * an optimisation, so writers are best effort and readers treat what they
 * find as untrusted (another user, a crash or a disk may have mangled it). */
#ifndef BD_CACHE_DIR_H
#define BD_CACHE_DIR_H

#include <stddef.h>

#include "../common/error.h"

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

#endif
