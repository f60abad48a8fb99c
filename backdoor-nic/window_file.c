#include "window.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct bd_error *bd_window_open_file(const char *path, int writable, struct bd_nic_window *w)
{
        /* Linux before 6.2 pins every memory region, read-only ones too, with
         * FOLL_WRITE|FOLL_FORCE, which a read-only shared mapping refuses
         * (EFAULT). So map read-write in this process whenever the file allows
         * it: what a peer may do is decided by the memory key's access flags,
         * read-only unless --allow-write, not by this mapping. */
        int fd = open(path, O_RDWR | O_CLOEXEC);
        int mapped_rw = fd >= 0;
        if (!mapped_rw && !writable)
                fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return bd_error_new(BD_ERR_TARGET, "cannot open %s%s: %s", path,
                                    writable ? " for writing" : "", strerror(errno));
        struct stat st;
        if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0) {
                close(fd);
                return bd_error_new(BD_ERR_TARGET, "%s is not a non-empty regular file", path);
        }
        /* MAP_SHARED keeps a live source (a VM's RAM file) live, and lets the
         * RNIC pin the very pages other processes see. */
        void *map = mmap(NULL, (size_t)st.st_size, PROT_READ | (mapped_rw ? PROT_WRITE : 0),
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
