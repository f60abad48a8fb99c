/* A CRIU image directory, written the way criu reads one: each image file
 * a magic pair (IMG_COMMON and the image's own; inventory.img its own
 * only), then records of a 32-bit little-endian length and a packed
 * protocol buffer of the installed criu's formats (generated at build time
 * by criu-gen); pages-N.img is raw pages. The directory is built under
 * DIR.tmp.PID and renamed to DIR only when whole, so a failure never
 * leaves a directory criu would take for images. */
#ifndef BD_CRIU_IMAGE_H
#define BD_CRIU_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include <criu/magic.h>
#include <protobuf-c/protobuf-c.h>

#include "../../common/error.h"

struct bd_criu_dir {
        char path[4096];
        char tmp[4200];
        int fd; /* the temporary directory */
};

/* Fails with BD_ERR_USAGE when path exists: images never overwrite. */
struct bd_error *bd_criu_dir_create(const char *path, struct bd_criu_dir *d);
/* name ("core-42.img") holding msgs[0..n) under magic (BD_CRIU_MAGIC_*). */
struct bd_error *bd_criu_img_write(struct bd_criu_dir *d, const char *name, uint32_t magic,
                                   const ProtobufCMessage *const *msgs, size_t n);
/* The same, the records followed by raw bytes (tcp-stream's queues). */
struct bd_criu_raw {
        const void *buf;
        size_t len;
};
struct bd_error *bd_criu_img_write_raw(struct bd_criu_dir *d, const char *name, uint32_t magic,
                                       const ProtobufCMessage *const *msgs, size_t n,
                                       const struct bd_criu_raw *raw, size_t nraw);
/* A raw file to append to (pages-N.img): an fd the caller closes. */
struct bd_error *bd_criu_raw_open(struct bd_criu_dir *d, const char *name, int *fd);
struct bd_error *bd_criu_raw_write(int fd, const void *buf, size_t len);
/* Sync everything and rename the directory into place. */
struct bd_error *bd_criu_dir_commit(struct bd_criu_dir *d);
/* Remove the temporary directory (after a failure, or instead of commit). */
void bd_criu_dir_discard(struct bd_criu_dir *d);

#endif
