#include "criu_image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/bytes.h"

struct bd_error *bd_criu_dir_create(const char *path, struct bd_criu_dir *d)
{
        memset(d, 0, sizeof(*d));
        d->fd = -1;
        if (strlen(path) >= sizeof(d->path))
                return bd_error_new(BD_ERR_USAGE, "images: path too long");
        struct stat st;
        if (!lstat(path, &st))
                return bd_error_new(BD_ERR_USAGE,
                                    "images: %s exists; give a directory that does not", path);
        snprintf(d->path, sizeof(d->path), "%s", path);
        snprintf(d->tmp, sizeof(d->tmp), "%s.tmp.%d", path, (int)getpid());
        if (mkdir(d->tmp, 0700))
                return bd_error_new(BD_ERR_IO, "images: %s: %s", d->tmp, strerror(errno));
        d->fd = open(d->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d->fd < 0) {
                struct bd_error *err =
                    bd_error_new(BD_ERR_IO, "images: %s: %s", d->tmp, strerror(errno));
                rmdir(d->tmp);
                return err;
        }
        return NULL;
}

struct bd_error *bd_criu_raw_open(struct bd_criu_dir *d, const char *name, int *fd)
{
        *fd = openat(d->fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (*fd < 0)
                return bd_error_new(BD_ERR_IO, "images: %s/%s: %s", d->tmp, name, strerror(errno));
        return NULL;
}

struct bd_error *bd_criu_raw_write(int fd, const void *buf, size_t len)
{
        const uint8_t *p = buf;
        while (len) {
                ssize_t w = write(fd, p, len);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return bd_error_new(BD_ERR_IO, "images: writing: %s",
                                            w < 0 ? strerror(errno) : "short write");
                p += w, len -= (size_t)w;
        }
        return NULL;
}

struct bd_error *bd_criu_img_write(struct bd_criu_dir *d, const char *name, uint32_t magic,
                                   const ProtobufCMessage *const *msgs, size_t n)
{
        return bd_criu_img_write_raw(d, name, magic, msgs, n, NULL, 0);
}

struct bd_error *bd_criu_img_write_raw(struct bd_criu_dir *d, const char *name, uint32_t magic,
                                       const ProtobufCMessage *const *msgs, size_t n,
                                       const struct bd_criu_raw *raw, size_t nraw)
{
        size_t size = 8;
        for (size_t i = 0; i < n; i++) {
                size_t len = protobuf_c_message_get_packed_size(msgs[i]);
                if (len > INT32_MAX)
                        return bd_error_new(BD_ERR_RANGE, "images: %s: a record of %zu bytes", name,
                                            len);
                size += 4 + len;
        }
        uint8_t *buf = malloc(size);
        if (!buf)
                return &bd_error_nomem;
        size_t at = 0;
        if (magic != BD_CRIU_MAGIC_INVENTORY) {
                bd_put_le(buf, BD_CRIU_MAGIC_IMG_COMMON, 4);
                at = 4;
        }
        bd_put_le(buf + at, magic, 4);
        at += 4;
        for (size_t i = 0; i < n; i++) {
                size_t len = protobuf_c_message_pack(msgs[i], buf + at + 4);
                bd_put_le(buf + at, len, 4);
                at += 4 + len;
        }
        int fd;
        struct bd_error *err = bd_criu_raw_open(d, name, &fd);
        if (!err) {
                err = bd_criu_raw_write(fd, buf, at);
                for (size_t i = 0; !err && i < nraw; i++)
                        err = bd_criu_raw_write(fd, raw[i].buf, raw[i].len);
                if (close(fd) && !err)
                        err = bd_error_new(BD_ERR_IO, "images: %s: %s", name, strerror(errno));
        }
        free(buf);
        return err;
}

struct bd_error *bd_criu_dir_commit(struct bd_criu_dir *d)
{
        if (syncfs(d->fd) || rename(d->tmp, d->path))
                return bd_error_new(BD_ERR_IO, "images: %s: %s", d->path, strerror(errno));
        close(d->fd);
        d->fd = -1;
        return NULL;
}

void bd_criu_dir_discard(struct bd_criu_dir *d)
{
        if (d->fd < 0)
                return;
        /* Only the files this writer made: flat, no subdirectories. */
        DIR *dir = fdopendir(d->fd);
        if (dir) {
                struct dirent *e;
                while ((e = readdir(dir)))
                        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                                unlinkat(dirfd(dir), e->d_name, 0);
                closedir(dir);
        } else {
                close(d->fd);
        }
        d->fd = -1;
        rmdir(d->tmp);
}
