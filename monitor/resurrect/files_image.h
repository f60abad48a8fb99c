/* A process's files as criu's images hold them: files.img (one entry per
 * distinct struct file: the mapped files, the open fds, cwd and root),
 * fdinfo-ID.img (the fd table) and fs-PID.img (cwd, root, umask), read
 * from the target's memory. Kinds criu restores from these alone are
 * written: regular files and directories, the kernel's memory-less
 * character devices (/dev/null, /dev/zero, /dev/full, /dev/random,
 * /dev/urandom), listening TCP sockets and established TCP connections
 * (tcp_conn.h: state, options and both queues, in tcp-stream-INO.img),
 * epoll instances with their watches (epoll.h; each watched fd must still
 * hold the file it was added with, and not be an epoll itself), and
 * libbdagent's memfd, mapped and closed (agent_image.h writes its inode).
 * Anything else is refused,
 * naming the fd and what it is, so that a restore never half-works:
 * other devices and sockets, pipes, other anonymous inodes, deleted
 * files, an owner set by F_SETOWN. A socket's options are the ones criu's dump
 * reads with getsockopt(): its timeouts and keepalive times converted from
 * jiffies at the kernel's HZ, and keepalive times the socket did not set
 * left out, so that the restoring machine's sysctls apply. */
#ifndef BD_FILES_IMAGE_H
#define BD_FILES_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/program.h"
#include "criu_image.h"

struct bd_files_image {
        /* The mapped files' struct file pointers in id order (criu's ids
         * 1..n, the executable first), shared writable ones marked. */
        const uint64_t *mapped;
        const uint8_t *mapped_rw;
        size_t nmapped;
        /* libbdagent's memfd (agent_image.h), among the mapped files: an
         * entry of criu's memfd kind naming memfd inode 1; 0 for none. */
        uint64_t agent_memfd;
        uint32_t table_id; /* fdinfo-ID.img's id: the ids image's files_id */
        int32_t pid;
};

struct bd_files_image_stats {
        size_t fds, files; /* fd table entries, files.img entries */
        size_t sockets;
        size_t epolls, watches; /* epoll fds' files, the fds they watch */
        size_t connections;     /* established TCP: tcp-stream images */
        uint64_t queued;        /* bytes of their queues */
        /* Lines for the standby ("address A", "tcp LOCAL LPORT PEER PPORT"):
         * malloc'd, the caller frees. */
        char *takeover;
        size_t takeover_len;
};

struct bd_error *bd_files_image_write(struct bd_program *prog, struct bd_criu_dir *dir,
                                      const struct bd_files_image *in,
                                      struct bd_files_image_stats *st);

/* The character devices restorable by path: those whose files hold no
 * state (drivers/char/mem.c's). 1 for a path criu may reopen. */
int bd_files_image_stateless_dev(const char *path);

#endif
