#include "file_map.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct bd_error *bd_file_map(const char *path, enum bd_map_mode mode, struct bd_file_map *out)
{
        int fd = open(path, (mode == BD_MAP_RO ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        int writable = fd >= 0 && mode != BD_MAP_RO;
        if (fd < 0 && mode == BD_MAP_RW_IF_POSSIBLE)
                fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return bd_error_new(errno == ENOENT ? BD_ERR_TARGET : BD_ERR_IO,
                                    "cannot open %s%s: %s", path,
                                    mode == BD_MAP_RW ? " for writing" : "", strerror(errno));
        struct stat st;
        if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0) {
                close(fd);
                return bd_error_new(BD_ERR_TARGET, "%s is not a non-empty regular file", path);
        }
        void *data = mmap(NULL, (size_t)st.st_size, PROT_READ | (writable ? PROT_WRITE : 0),
                          MAP_SHARED, fd, 0);
        int saved = errno;
        close(fd);
        if (data == MAP_FAILED)
                return bd_error_new(BD_ERR_IO, "cannot map %s: %s", path, strerror(saved));
        *out = (struct bd_file_map){data, (size_t)st.st_size, writable, (uint64_t)st.st_dev,
                                    (uint64_t)st.st_ino};
        return NULL;
}

void bd_file_unmap(struct bd_file_map *m)
{
        if (m->data)
                munmap(m->data, m->size);
        m->data = NULL;
}
