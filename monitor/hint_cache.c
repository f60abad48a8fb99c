#include "hint_cache.h"

#include <stdio.h>
#include <stdlib.h>

#include "cache_dir.h"

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

uint64_t bd_hint_load(const char *target)
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

void bd_hint_store(const char *target, uint64_t addr)
{
        char path[1024], text[32];
        if (hint_path(target, path, sizeof(path), 1))
                return;
        int n = snprintf(text, sizeof(text), "%llx\n", (unsigned long long)addr);
        bd_cache_write_atomic(path, text, (size_t)n);
}
