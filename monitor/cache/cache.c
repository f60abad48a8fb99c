#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cache_base(char *buf, size_t cap)
{
        const char *dir;
        int n;
        if ((dir = getenv("BDMON_CACHE")) && *dir)
                n = snprintf(buf, cap, "%s", dir);
        else if ((dir = getenv("XDG_CACHE_HOME")) && *dir)
                n = snprintf(buf, cap, "%s/backdoors", dir);
        else if ((dir = getenv("HOME")) && *dir)
                n = snprintf(buf, cap, "%s/.cache/backdoors", dir);
        else
                return -1;
        return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* mkdir -p of path's directories from the one after skip on; failures are
 * left for the open that follows to report. */
static void make_dirs(char *path, size_t skip)
{
        for (char *s = path + skip; (s = strchr(s, '/')); s++) {
                if (s == path)
                        continue;
                *s = '\0';
                mkdir(path, 0700);
                *s = '/';
        }
}

int bd_cache_path(const char *name, char *buf, size_t cap, int create)
{
        char base[512];
        if (cache_base(base, sizeof(base)))
                return -1;
        int n = snprintf(buf, cap, "%s/%s", base, name);
        if (n < 0 || (size_t)n >= cap)
                return -1;
        if (create)
                make_dirs(buf, 0);
        return 0;
}

int bd_cache_write_atomic(const char *path, const void *data, size_t len)
{
        char tmp[4096];
        int n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
        if (n < 0 || (size_t)n >= sizeof(tmp))
                return -1;
        int fd = mkstemp(tmp);
        if (fd < 0)
                return -1;
        const char *p = data;
        int ok = 1;
        while (ok && len) {
                ssize_t w = write(fd, p, len);
                if (w < 0 && errno == EINTR)
                        continue;
                ok = w > 0;
                if (ok)
                        p += w, len -= (size_t)w;
        }
        /* No fsync: a file torn by a crash fails its reader's checks and is
         * rebuilt from the target, which is cheaper than a sync per write. */
        ok &= close(fd) == 0;
        if (!ok || rename(tmp, path)) {
                unlink(tmp);
                return -1;
        }
        return 0;
}

struct bd_error *bd_cache_read(const char *path, size_t max, void **data, size_t *len)
{
        *data = NULL;
        *len = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return bd_error_new(errno == ENOENT ? BD_ERR_NOT_FOUND : BD_ERR_IO, "%s: %s", path,
                                    strerror(errno));
        struct stat st;
        if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
                close(fd);
                return bd_error_new(BD_ERR_IO, "%s: not a regular file", path);
        }
        if ((uint64_t)st.st_size > max) {
                close(fd);
                return bd_error_new(BD_ERR_RANGE, "%s: %lld bytes, more than %zu", path,
                                    (long long)st.st_size, max);
        }
        /* Read up to one byte past max: the file may grow after the fstat. */
        size_t cap = (size_t)st.st_size + 1, n = 0;
        char *buf = malloc(cap + 1);
        if (!buf) {
                close(fd);
                return &bd_error_nomem;
        }
        for (;;) {
                if (n == cap) {
                        if (cap > max)
                                break;
                        size_t ncap = cap * 2 < max + 1 ? cap * 2 : max + 1;
                        char *nb = realloc(buf, ncap + 1);
                        if (!nb) {
                                free(buf);
                                close(fd);
                                return &bd_error_nomem;
                        }
                        buf = nb, cap = ncap;
                }
                ssize_t r = read(fd, buf + n, cap - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        int e = errno;
                        free(buf);
                        close(fd);
                        return bd_error_new(BD_ERR_IO, "%s: %s", path, strerror(e));
                }
                if (!r)
                        break;
                n += (size_t)r;
        }
        close(fd);
        if (n > max) {
                free(buf);
                return bd_error_new(BD_ERR_RANGE, "%s: more than %zu bytes", path, max);
        }
        buf[n] = '\0';
        *data = buf;
        *len = n;
        return NULL;
}

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

struct bd_error *bd_cache_build_load(const char *build_id, const char *what, size_t max,
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

int bd_cache_build_store(const char *build_id, const char *what, const void *data, size_t len)
{
        char path[4096];
        if (build_path(build_id, what, path, sizeof(path), 1))
                return -1;
        return bd_cache_write_atomic(path, data, len);
}

static int hint_path(const char *target, char *buf, size_t cap, int create)
{
        /* Target names may be paths or addresses: keep them one file name. */
        char name[160] = "vmcoreinfo-";
        size_t at = sizeof("vmcoreinfo-") - 1;
        for (size_t i = 0; target[i] && i < 127; i++)
                name[at++] = target[i] == '/' ? '_' : target[i];
        name[at] = '\0';
        return bd_cache_path(name, buf, cap, create);
}

uint64_t bd_cache_hint_load(const char *target)
{
        char path[1024];
        if (hint_path(target, path, sizeof(path), 0))
                return 0;
        void *data;
        size_t len;
        struct bd_error *err = bd_cache_read(path, 64, &data, &len);
        if (err) {
                bd_error_destroy(err);
                return 0;
        }
        char *end;
        unsigned long long v = strtoull(data, &end, 16);
        if (end == (char *)data)
                v = 0;
        free(data);
        return v;
}

void bd_cache_hint_store(const char *target, uint64_t addr)
{
        char path[1024], text[32];
        if (hint_path(target, path, sizeof(path), 1))
                return;
        int n = snprintf(text, sizeof(text), "%llx\n", (unsigned long long)addr);
        bd_cache_write_atomic(path, text, (size_t)n);
}
