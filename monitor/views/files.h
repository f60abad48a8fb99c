/* A process's open files, read from its file table without the target's
 * help: what /proc/PID/fd's links and /proc/PID/fdinfo show. The fdtable's
 * bitmaps and fd array are read in a batch each, every struct file's
 * fields in one more, then the dentry chains of all the files side by
 * side, a level per batch, crossing mounts as d_path() does. A file whose
 * memory does not check out keeps its fd and says why; the table itself
 * must check out. */
#ifndef BD_FILES_H
#define BD_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/program.h"
#include "budget.h"

/* The file's type, from the inode's i_mode (S_IFMT), a pipe told from a
 * named FIFO and an anonymous inode from a file of no type by the
 * filesystem their dentry belongs to. */
enum bd_file_kind {
        BD_FILE_UNKNOWN,
        BD_FILE_REGULAR,
        BD_FILE_DIR,
        BD_FILE_CHAR,
        BD_FILE_BLOCK,
        BD_FILE_FIFO,
        BD_FILE_PIPE,
        BD_FILE_SOCKET,
        BD_FILE_SYMLINK,
        BD_FILE_ANON,
};

/* Anonymous inodes told apart by their file operations. */
enum bd_anon {
        BD_ANON_OTHER,
        BD_ANON_EVENTPOLL,
        BD_ANON_EVENTFD,
        BD_ANON_SIGNALFD,
        BD_ANON_TIMERFD,
        BD_ANON_COUNT
};

/* Filesystems that never get mounted, whose files d_path() names by
 * their dentry operations' d_dname rather than by a path. */
enum bd_pseudo_fs { BD_PSEUDO_PIPEFS, BD_PSEUDO_SOCKFS, BD_PSEUDO_ANON_INODEFS, BD_PSEUDO_COUNT };

/* The kernel's addresses that tell special files apart, 0 where the
 * kernel has none (kallsyms: eventpoll_fops, pipefs_dentry_operations...). */
struct bd_files_syms {
        uint64_t fops[BD_ANON_COUNT]; /* [BD_ANON_OTHER] unused */
        uint64_t dops[BD_PSEUDO_COUNT];
};

struct bd_file {
        int32_t fd;
        uint64_t file;         /* struct file * */
        int have_file;         /* flags, mode, pos and mnt_id were read */
        int have_inode;        /* ino, i_mode and kind were read */
        uint32_t flags;        /* f_flags, with O_CLOEXEC when close_on_exec has the fd (fdinfo) */
        uint32_t mode;         /* f_mode: FMODE_READ 1, FMODE_WRITE 2 */
        int64_t pos;           /* f_pos */
        uint64_t owner_pid;    /* f_owner.pid: a struct pid when F_SETOWN set one, else 0 */
        uint64_t private_data; /* a socket file's struct socket */
        int32_t mnt_id;        /* the mount's id (fdinfo), -1 unknown */
        uint64_t ino;          /* i_ino */
        int64_t size;          /* i_size */
        uint32_t i_mode;       /* type and permissions */
        enum bd_file_kind kind;
        enum bd_anon anon; /* for BD_FILE_ANON */
        /* What readlink of /proc/PID/fd/N gives ("/dev/null", "socket:[N]",
         * "/tmp/x (deleted)"), NULL when memory did not give it. Text from
         * the target: escape it to print it. */
        const char *path;
        const char *error; /* what did not read or check out, or NULL */
};

struct bd_files {
        struct bd_file *f; /* by fd */
        size_t n;
        uint32_t max_fds;   /* slots of the fdtable, 0 for a process without one */
        char *text;         /* what the files' path and error point into */
        struct bd_reads st; /* the table's walk, after the pid's lookup */
};

/* files' default budget (budget.h): at about 1.4 KiB read and held an
 * open file (its fields, its inode, dentry, mount and a name at one level
 * of the path walk, the file kept), its path's names besides, some 90,000
 * open files: far more than the 1024 a process may open by default. */
#define BD_FILES_BUDGET (128u << 20)

/* The open files of pid (in the initial pid namespace): BD_ERR_NOT_FOUND
 * for no such pid; none for a process that has no file table left (a
 * zombie). Fails with BD_ERR_RANGE when the table or the files do not fit
 * the budget, with BD_ERR_PROTOCOL when the table does not check out. */
struct bd_error *bd_files_read(struct bd_program *prog, int32_t pid, struct bd_files **out);

/* The same from the struct files_struct at files, for kernel memory with
 * no task to find it by (tests, fuzzing). */
struct bd_error *bd_files_from_table(struct bd_kernel *k, const struct bd_layout *l,
                                     const struct bd_files_syms *syms, uint64_t files,
                                     uint64_t budget, struct bd_files **out);
/* The files at file[0..n) (struct file pointers from anywhere: a
 * process's mappings), described as an fd table's would be, fd i being
 * file[i]; a NULL pointer is left out. */
struct bd_error *bd_files_of(struct bd_program *prog, const uint64_t *file, size_t n,
                             struct bd_files **out);
/* A place in the file tree, as a struct path holds it. */
struct bd_path_ref {
        uint64_t mnt, dentry; /* struct vfsmount *, struct dentry * */
};

/* The paths at path[0..n) (a process's cwd and root) as files would be
 * described, fd i being path[i]: its path, and its inode's fields from the
 * dentry's inode; have_file stays 0. */
struct bd_error *bd_paths_of(struct bd_program *prog, const struct bd_path_ref *path, size_t n,
                             struct bd_files **out);
void bd_files_free(struct bd_files *f);

/* f_flags as "O_RDWR|O_APPEND|O_CLOEXEC", bits without a name in octal. */
void bd_file_flags_text(uint32_t flags, char *buf, size_t cap);
/* The mode ls -l shows for the /proc/PID/fd link: "lrwx------". */
void bd_file_mode_text(uint32_t mode, char buf[11]);
/* "regular", "dir", "char", "block", "fifo", "pipe", "socket", "symlink",
 * "anon_inode", "unknown". */
const char *bd_file_kind_name(enum bd_file_kind kind);
/* "eventpoll", "eventfd", "signalfd", "timerfd"; NULL for others. */
const char *bd_file_anon_name(enum bd_anon anon);

/* The kernel's limits (include/linux/limits.h, fs/file.c): a path's
 * bytes with its NUL, a name's, and what fs.nr_open may be raised to
 * (INT_MAX rounded down to whole bitmap words). */
#define BD_PATH_MAX    4096
#define BD_NAME_MAX    255
#define BD_NR_OPEN_MAX 0x7fffffc0u
#define BD_O_CLOEXEC   02000000u
#define BD_FMODE_READ  0x1u
#define BD_FMODE_WRITE 0x2u

#endif
