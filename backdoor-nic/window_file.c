#include "window.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct bd_error *bd_window_open_file(const char *path, int writable, struct bd_nic_window *w)
{
        int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        if (fd < 0)
                return bd_error_new(BD_ERR_TARGET, "cannot open %s: %s", path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0) {
                close(fd);
                return bd_error_new(BD_ERR_TARGET, "%s is not a non-empty regular file", path);
        }
        /* MAP_SHARED keeps a live source (a VM's RAM file) live, and lets the
         * RNIC pin the very pages other processes see. */
        void *map = mmap(NULL, (size_t)st.st_size, PROT_READ | (writable ? PROT_WRITE : 0),
                         MAP_SHARED, fd, 0);
        int saved = errno;
        close(fd);
        if (map == MAP_FAILED)
                return bd_error_new(BD_ERR_TARGET, "cannot map %s: %s", path, strerror(saved));
        w->map = map;
        w->map_len = (size_t)st.st_size;
        w->desc.length = (uint64_t)st.st_size;
        w->desc.mode = BD_MODE_DIRECT;
        return NULL;
}
