#include "build_cache.h"

#include <stdio.h>
#include <string.h>

#include "cache_dir.h"

int bd_build_id_valid(const char *build_id)
{
        /* It comes from the target's memory and becomes a directory name:
         * only lowercase hex, so no "..", '/' or case-folding aliases. */
        size_t n = 0;
        for (; build_id[n]; n++) {
                char c = build_id[n];
                if (n >= BD_BUILD_ID_MAX || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                        return 0;
        }
        return n >= 2;
}

/* The monitor names these itself, but a bad one must not escape the
 * build's directory either. */
static int what_valid(const char *what)
{
        size_t n = 0;
        for (; what[n]; n++) {
                char c = what[n];
                if (n >= 64 || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_' ||
                                 c == '-' || (c == '.' && n)))
                        return 0;
        }
        return n > 0;
}

static int build_path(const char *build_id, const char *what, char *buf, size_t cap, int create)
{
        if (!bd_build_id_valid(build_id) || !what_valid(what))
                return -1;
        char name[BD_BUILD_ID_MAX + 80];
        snprintf(name, sizeof(name), "build-%s/%s", build_id, what);
        return bd_cache_path(name, buf, cap, create);
}

struct bd_error *bd_build_cache_load(const char *build_id, const char *what, size_t max,
                                     void **data, size_t *len)
{
        *data = NULL;
        *len = 0;
        if (!bd_build_id_valid(build_id) || !what_valid(what))
                return bd_error_new(BD_ERR_PROTOCOL, "build cache: unusable name '%.140s/%.70s'",
                                    build_id, what);
        char path[4096];
        if (build_path(build_id, what, path, sizeof(path), 0))
                return bd_error_new(BD_ERR_NOT_FOUND, "build cache: no cache directory");
        struct bd_error *err = bd_cache_read(path, max, data, len);
        return err ? bd_error_wrap(err, "build cache") : NULL;
}

int bd_build_cache_store(const char *build_id, const char *what, const void *data, size_t len)
{
        char path[4096];
        if (build_path(build_id, what, path, sizeof(path), 1))
                return -1;
        return bd_cache_write_atomic(path, data, len);
}
