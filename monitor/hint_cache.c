#include "hint_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* $BDMON_CACHE, else $XDG_CACHE_HOME/backdoors, else ~/.cache/backdoors. */
static int cache_path(const char *target, char *buf, size_t cap, int create)
{
        const char *dir = getenv("BDMON_CACHE");
        char base[512];
        if (dir && *dir) {
                snprintf(base, sizeof(base), "%s", dir);
        } else if ((dir = getenv("XDG_CACHE_HOME")) && *dir) {
                snprintf(base, sizeof(base), "%s/backdoors", dir);
        } else if ((dir = getenv("HOME")) && *dir) {
                snprintf(base, sizeof(base), "%s/.cache/backdoors", dir);
        } else {
                return -1;
        }
        if (create) {
                char parent[512];
                snprintf(parent, sizeof(parent), "%s", base);
                char *slash = strrchr(parent, '/');
                if (slash && slash != parent) {
                        *slash = '\0';
                        mkdir(parent, 0700);
                }
                mkdir(base, 0700);
        }
        /* Target names may be paths or addresses: keep them one file name. */
        char safe[128];
        size_t i = 0;
        for (; target[i] && i < sizeof(safe) - 1; i++)
                safe[i] = target[i] == '/' ? '_' : target[i];
        safe[i] = '\0';
        int n = snprintf(buf, cap, "%s/vmcoreinfo-%s", base, safe);
        return n < 0 || (size_t)n >= cap ? -1 : 0;
}

uint64_t bd_hint_load(const char *target)
{
        char path[1024];
        if (cache_path(target, path, sizeof(path), 0))
                return 0;
        FILE *f = fopen(path, "r");
        if (!f)
                return 0;
        unsigned long long v = 0;
        if (fscanf(f, "%llx", &v) != 1)
                v = 0;
        fclose(f);
        return v;
}

void bd_hint_store(const char *target, uint64_t addr)
{
        char path[1024], tmp[1100];
        if (cache_path(target, path, sizeof(path), 1))
                return;
        snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
        FILE *f = fopen(tmp, "w");
        if (!f)
                return;
        int ok = fprintf(f, "%llx\n", (unsigned long long)addr) > 0;
        ok &= fclose(f) == 0;
        if (!ok || rename(tmp, path))
                unlink(tmp);
}
