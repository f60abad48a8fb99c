/* Synthetic open files: a BTF with Linux 6.1's files_struct, fdtable,
 * file, inode, dentry and mount at their 6.1 offsets, trimmed to what
 * bdmon files reads, and builders that lay out mounts, dentries, inodes,
 * files and a file table in a buffer used as kernel memory (ms_img's, from
 * modsyms_img.h). Shared by the unit test and the fuzz target's seeds.
 * Header only: each test is built from one source file. */
#ifndef BD_TEST_FILES_IMG_H
#define BD_TEST_FILES_IMG_H

#include <stdint.h>
#include <string.h>

#include <bpf/btf.h>

#include "modsyms_img.h"

#define FI_FILES_FDT     32
#define FI_FILES_SIZE    64
#define FI_FDT_MAX_FDS   0
#define FI_FDT_FD        8
#define FI_FDT_CLOEXEC   16
#define FI_FDT_OPEN      24
#define FI_FDT_SIZE      56
#define FI_FILE_MNT      16
#define FI_FILE_DENTRY   24
#define FI_FILE_INODE    32
#define FI_FILE_OP       40
#define FI_FILE_FLAGS    64
#define FI_FILE_MODE     68
#define FI_FILE_POS      104
#define FI_FILE_OWNER    112 /* struct fown_struct: lock, then pid */
#define FI_FILE_PRIVATE  200
#define FI_FILE_SIZE     232
#define FI_INODE_MODE    0
#define FI_INODE_INO     64
#define FI_INODE_I_SIZE  80
#define FI_INODE_SIZE    88
#define FI_DENTRY_PPREV  16
#define FI_DENTRY_PARENT 24
#define FI_DENTRY_LEN    36
#define FI_DENTRY_NAME   40
#define FI_DENTRY_INODE  48
#define FI_DENTRY_INAME  56
#define FI_INAME_LEN     32
#define FI_DENTRY_OP     96
#define FI_DENTRY_SIZE   112
#define FI_MOUNT_PARENT  16
#define FI_MOUNT_POINT   24
#define FI_MOUNT_MNT     32 /* struct vfsmount, mnt_root first */
#define FI_MOUNT_ID      284
#define FI_MOUNT_SIZE    320
#define FI_TASK_FILES    168
#define FI_TASK_SIZE     176

/* Pointers are void *: a member's place and size is all a layout takes. */
static inline struct btf *fi_btf(void)
{
        struct btf *w = btf__new_empty();
        if (!w)
                return NULL;
        int u32 = btf__add_int(w, "unsigned int", 4, 0);
        int u64 = btf__add_int(w, "long unsigned int", 8, 0);
        int uchr = btf__add_int(w, "unsigned char", 1, 0);
        int umode = btf__add_typedef(w, "umode_t", btf__add_int(w, "short unsigned int", 2, 0));
        int fmode = btf__add_typedef(w, "fmode_t", u32);
        int loff =
            btf__add_typedef(w, "loff_t", btf__add_int(w, "long long int", 8, BTF_INT_SIGNED));
        int ptr = btf__add_ptr(w, 0);
        int iname = btf__add_array(w, u32, uchr, FI_INAME_LEN);
        btf__add_struct(w, "inode", FI_INODE_SIZE);
        btf__add_field(w, "i_mode", umode, FI_INODE_MODE * 8, 0);
        btf__add_field(w, "i_ino", u64, FI_INODE_INO * 8, 0);
        btf__add_field(w, "i_size", loff, FI_INODE_I_SIZE * 8, 0);
        int bl = btf__add_struct(w, "hlist_bl_node", 16);
        btf__add_field(w, "next", ptr, 0, 0);
        btf__add_field(w, "pprev", ptr, 64, 0);
        /* struct qstr as 6.1 has it: hash and len in an anonymous struct
         * in an anonymous union with hash_len. */
        int hl = btf__add_struct(w, NULL, 8);
        btf__add_field(w, "hash", u32, 0, 0);
        btf__add_field(w, "len", u32, 32, 0);
        int un = btf__add_union(w, NULL, 8);
        btf__add_field(w, NULL, hl, 0, 0);
        btf__add_field(w, "hash_len", u64, 0, 0);
        int qstr = btf__add_struct(w, "qstr", 16);
        btf__add_field(w, NULL, un, 0, 0);
        btf__add_field(w, "name", ptr, 64, 0);
        btf__add_struct(w, "dentry", FI_DENTRY_SIZE);
        btf__add_field(w, "d_hash", bl, (FI_DENTRY_PPREV - 8) * 8, 0);
        btf__add_field(w, "d_parent", ptr, FI_DENTRY_PARENT * 8, 0);
        btf__add_field(w, "d_name", qstr, (FI_DENTRY_LEN - 4) * 8, 0);
        btf__add_field(w, "d_inode", ptr, FI_DENTRY_INODE * 8, 0);
        btf__add_field(w, "d_iname", iname, FI_DENTRY_INAME * 8, 0);
        btf__add_field(w, "d_op", ptr, FI_DENTRY_OP * 8, 0);
        int vfs = btf__add_struct(w, "vfsmount", 32);
        btf__add_field(w, "mnt_root", ptr, 0, 0);
        int path = btf__add_struct(w, "path", 16);
        btf__add_field(w, "mnt", ptr, 0, 0);
        btf__add_field(w, "dentry", ptr, 64, 0);
        int fown = btf__add_struct(w, "fown_struct", 32);
        btf__add_field(w, "lock", u64, 0, 0);
        btf__add_field(w, "pid", ptr, 64, 0);
        btf__add_struct(w, "file", FI_FILE_SIZE);
        btf__add_field(w, "f_path", path, FI_FILE_MNT * 8, 0);
        btf__add_field(w, "f_inode", ptr, FI_FILE_INODE * 8, 0);
        btf__add_field(w, "f_op", ptr, FI_FILE_OP * 8, 0);
        btf__add_field(w, "f_flags", u32, FI_FILE_FLAGS * 8, 0);
        btf__add_field(w, "f_mode", fmode, FI_FILE_MODE * 8, 0);
        btf__add_field(w, "f_pos", loff, FI_FILE_POS * 8, 0);
        btf__add_field(w, "f_owner", fown, FI_FILE_OWNER * 8, 0);
        btf__add_field(w, "private_data", ptr, FI_FILE_PRIVATE * 8, 0);
        btf__add_struct(w, "mount", FI_MOUNT_SIZE);
        btf__add_field(w, "mnt_parent", ptr, FI_MOUNT_PARENT * 8, 0);
        btf__add_field(w, "mnt_mountpoint", ptr, FI_MOUNT_POINT * 8, 0);
        btf__add_field(w, "mnt", vfs, FI_MOUNT_MNT * 8, 0);
        btf__add_field(w, "mnt_id", u32, FI_MOUNT_ID * 8, 0);
        btf__add_struct(w, "fdtable", FI_FDT_SIZE);
        btf__add_field(w, "max_fds", u32, FI_FDT_MAX_FDS * 8, 0);
        btf__add_field(w, "fd", ptr, FI_FDT_FD * 8, 0);
        btf__add_field(w, "close_on_exec", ptr, FI_FDT_CLOEXEC * 8, 0);
        btf__add_field(w, "open_fds", ptr, FI_FDT_OPEN * 8, 0);
        btf__add_struct(w, "files_struct", FI_FILES_SIZE);
        btf__add_field(w, "fdt", ptr, FI_FILES_FDT * 8, 0);
        btf__add_struct(w, "task_struct", FI_TASK_SIZE);
        btf__add_field(w, "files", ptr, FI_TASK_FILES * 8, 0);
        uint32_t size;
        const void *raw = btf__raw_data(w, &size);
        struct btf *b = raw ? btf__new(raw, size) : NULL;
        btf__free(w);
        return b;
}

/* i_mode types (include/uapi/linux/stat.h); an anonymous inode has none. */
#define FI_S_IFSOCK 0140000
#define FI_S_IFREG  0100000
#define FI_S_IFCHR  0020000
#define FI_S_IFIFO  0010000
#define FI_S_ANON   0000600

/* A mount: parent 0 makes it the top of its tree (its own parent). A
 * file's f_path.mnt, its vfsmount, is the result + FI_MOUNT_MNT. */
static inline uint64_t fi_mount(struct ms_img *im, uint64_t parent, uint64_t mountpoint,
                                uint64_t root, uint32_t id)
{
        uint64_t m = ms_alloc(im, FI_MOUNT_SIZE, 64);
        ms_put64(im, m + FI_MOUNT_PARENT, parent ? parent : m);
        ms_put64(im, m + FI_MOUNT_POINT, mountpoint);
        ms_put64(im, m + FI_MOUNT_MNT, root);
        ms_put32(im, m + FI_MOUNT_ID, id);
        return m;
}

/* A dentry called name under parent (0: its own parent, as a root or a
 * pseudo file is), its name inline when short as the kernel keeps it, in
 * the hash unless unlinked. */
static inline uint64_t fi_dentry(struct ms_img *im, uint64_t parent, const char *name,
                                 uint64_t d_op, int hashed)
{
        uint64_t d = ms_alloc(im, FI_DENTRY_SIZE, 64);
        size_t len = strlen(name);
        uint64_t at = len < FI_INAME_LEN ? d + FI_DENTRY_INAME : ms_alloc(im, len + 1, 8);
        ms_put(im, at, name, len + 1);
        ms_put64(im, d + FI_DENTRY_PARENT, parent ? parent : d);
        ms_put32(im, d + FI_DENTRY_LEN, (uint32_t)len);
        ms_put64(im, d + FI_DENTRY_NAME, at);
        ms_put64(im, d + FI_DENTRY_OP, d_op);
        ms_put64(im, d + FI_DENTRY_PPREV, hashed ? d : 0);
        return d;
}

static inline uint64_t fi_inode(struct ms_img *im, uint16_t mode, uint64_t ino)
{
        uint64_t i = ms_alloc(im, FI_INODE_SIZE, 64);
        ms_put(im, i + FI_INODE_MODE, &mode, 2);
        ms_put64(im, i + FI_INODE_INO, ino);
        return i;
}

struct fi_open {
        uint64_t mount, dentry, inode, f_op;
        uint32_t flags, mode;
        int64_t pos;
};

static inline uint64_t fi_file(struct ms_img *im, const struct fi_open *o)
{
        uint64_t f = ms_alloc(im, FI_FILE_SIZE, 64);
        ms_put64(im, f + FI_FILE_MNT, o->mount + FI_MOUNT_MNT);
        ms_put64(im, f + FI_FILE_DENTRY, o->dentry);
        ms_put64(im, f + FI_FILE_INODE, o->inode);
        ms_put64(im, f + FI_FILE_OP, o->f_op);
        ms_put32(im, f + FI_FILE_FLAGS, o->flags);
        ms_put32(im, f + FI_FILE_MODE, o->mode);
        ms_put64(im, f + FI_FILE_POS, (uint64_t)o->pos);
        return f;
}

struct fi_fd {
        int32_t fd;
        uint64_t file;
        int cloexec;
};

/* A files_struct whose fdtable has max_fds slots (a multiple of 64), fds
 * open; its fdtable is at the result's FI_FILES_FDT. */
static inline uint64_t fi_table(struct ms_img *im, uint32_t max_fds, const struct fi_fd *fds,
                                size_t n)
{
        uint64_t files = ms_alloc(im, FI_FILES_SIZE, 64), fdt = ms_alloc(im, FI_FDT_SIZE, 64);
        uint64_t array = ms_alloc(im, 8 * (size_t)max_fds, 8);
        uint64_t open = ms_alloc(im, max_fds / 8, 8), exec = ms_alloc(im, max_fds / 8, 8);
        ms_put64(im, files + FI_FILES_FDT, fdt);
        ms_put32(im, fdt + FI_FDT_MAX_FDS, max_fds);
        ms_put64(im, fdt + FI_FDT_FD, array);
        ms_put64(im, fdt + FI_FDT_OPEN, open);
        ms_put64(im, fdt + FI_FDT_CLOEXEC, exec);
        for (size_t i = 0; i < n; i++) {
                uint32_t fd = (uint32_t)fds[i].fd;
                ms_put64(im, array + 8 * fd, fds[i].file);
                im->mem[open - im->base + fd / 8] |= (uint8_t)(1u << fd % 8);
                if (fds[i].cloexec)
                        im->mem[exec - im->base + fd / 8] |= (uint8_t)(1u << fd % 8);
        }
        return files;
}

#endif
