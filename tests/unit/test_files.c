/* bdmon files over a synthetic kernel: a process found by pid whose table
 * holds a file under a mount, /dev/null, a socket, a pipe, an eventpoll,
 * an inotify, a deleted file, a memfd and long names, each named as
 * /proc/PID/fd names it; then tables and files corrupted the ways a dying
 * or hostile kernel's memory can be (cycles of dentries and of mounts,
 * paths past PATH_MAX, max_fds out of bounds, wild pointers, more files
 * than the budget), each refused or bounded with an error that says
 * where. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/kernel/program.h"
#include "../../monitor/views/files.h"
#include "files_img.h"
#include "helpers.h"
#include "kallsyms_img.h"
#include "layout_img.h"
#include "../fuzz/mem_phys.h"

#define MEM_SIZE (2u << 20)
/* In the image mapping but past the end of memory. */
#define UNREADABLE KS_K(16u << 20)
#define WILD       0x1234ull

/* What the symbols name, after kallsyms' tables. */
#define PID_NS      0x2000u
#define FOPS        0x2100u /* eventpoll, eventfd, signalfd, timerfd: 0x40 apart */
#define DOPS        0x2200u /* pipefs, sockfs, anon_inodefs: 0x40 apart */
#define SHMEM_DOPS  0x2300u /* a dentry_operations of no pseudo filesystem */
#define OTHER_FOPS  0x2340u
#define OBJECTS     0x3000u
#define PID         42
#define ZOMBIE      43
#define XA_SLOTS    40
#define PID_FIRST   16  /* struct pid: tasks[PIDTYPE_PID].first */
#define TASK_LINKS  104 /* task_struct.pid_links */
#define XA_NODE_LEN 576

static uint8_t *mem;
static struct mem_phys m;
static struct bd_program *prog;
static struct ms_img im;
static struct bd_files_syms syms;
/* The main process's mounts and dentries, for the corrupt tables. */
static uint64_t root_mount, root_dentry, tmp_dentry;

/* Task and pid entries as ps reads them; their places matter only for
 * the pid lookup. */
static const struct layout_row task_layout[] = {
    {BDL_TASK_STATE, 0, 4},
    {BDL_TASK_EXIT_STATE, 4, 4},
    {BDL_TASK_FLAGS, 8, 4},
    {BDL_TASK_CPU, 12, 4},
    {BDL_TASK_ON_CPU, 16, 4},
    {BDL_TASK_PRIO, 20, 4},
    {BDL_TASK_RT_PRIORITY, 24, 4},
    {BDL_TASK_POLICY, 28, 4},
    {BDL_TASK_PID, 32, 4},
    {BDL_TASK_TGID, 36, 4},
    {BDL_TASK_REAL_PARENT, 40, 8},
    {BDL_TASK_COMM, 48, 16},
    {BDL_TASK_MM, 64, 8},
    {BDL_TASK_SE_EXEC_START, 72, 8},
    {BDL_TASK_NVCSW, 80, 8},
    {BDL_TASK_NIVCSW, 88, 8},
    {BDL_TASK_START_TIME, 96, 8},
    {BDL_TASK_PID_LINKS, TASK_LINKS, 64},
    {BDL_PID_TASKS, PID_FIRST, 32},
    {BDL_PIDTYPE_PID, 0, 0},
    {BDL_MM_RSS_STAT, 0, 32},
    {BDL_MM_FILEPAGES, 0, 0},
    {BDL_MM_ANONPAGES, 1, 0},
    {BDL_MM_SHMEMPAGES, 3, 0},
    {BDL_RQ_CLOCK_TASK, 0, 8},
    {BDL_PID_NS_IDR, 0, 24},
    {BDL_IDR_RT, 0, 16},
    {BDL_XARRAY_HEAD, 8, 8},
    {BDL_XA_NODE_SHIFT, 0, 1},
    {BDL_XA_NODE_SLOTS, XA_SLOTS, 512},
    {BDL_XA_NODE, XA_NODE_LEN, XA_NODE_LEN},
};

static struct bd_layout *make_layout(void)
{
        struct bd_layout *l = calloc(1, sizeof(*l));
        struct btf *btf = fi_btf();
        if (!l || !btf)
                abort();
        bd_layout_from_btf(l, btf);
        btf__free(btf);
        layout_rows(l, task_layout, sizeof(task_layout) / sizeof(task_layout[0]));
        return l;
}

/* pid 42 and the zombie 43 in the initial pid namespace's IDR: one xarray
 * node of shift 0 under xa_head. */
static void add_task(uint64_t node, int32_t pid, uint64_t files)
{
        uint64_t task = ms_alloc(&im, FI_TASK_SIZE, 64), p = ms_alloc(&im, 64, 64);
        ms_put32(&im, task + 32, (uint32_t)pid);
        ms_put64(&im, task + FI_TASK_FILES, files);
        ms_put64(&im, p + PID_FIRST, task + TASK_LINKS);
        ms_put64(&im, node + XA_SLOTS + 8 * (uint64_t)pid, p);
}

static uint64_t open_file(uint64_t mount, uint64_t dentry, uint16_t i_mode, uint64_t ino,
                          uint64_t f_op, uint32_t flags, uint32_t mode, int64_t pos)
{
        struct fi_open o = {mount, dentry, fi_inode(&im, i_mode, ino), f_op, flags, mode, pos};
        return fi_file(&im, &o);
}

/* The long name, kept outside its dentry. */
#define LONG_NAME "a-name-too-long-for-the-dentry-itself.txt"

/* The process's files: what each fd should read as. */
static const struct {
        int32_t fd;
        const char *path;
        enum bd_file_kind kind;
        uint64_t ino;
        uint32_t flags; /* as fdinfo: O_CLOEXEC from the bitmap */
        int32_t mnt_id;
} want[] = {
    {0, "/dev/null", BD_FILE_CHAR, 5, 0100002, 1},
    {1, "/mnt/data/logs/app.log", BD_FILE_REGULAR, 1001, 02000000 | 02001, 27},
    {3, "socket:[4242]", BD_FILE_SOCKET, 4242, 2, 5},
    {4, "pipe:[777]", BD_FILE_PIPE, 777, 0, 6},
    {5, "anon_inode:[eventpoll]", BD_FILE_ANON, 11, 02000002, 7},
    {6, "anon_inode:inotify", BD_FILE_ANON, 11, 0, 7},
    {7, "/tmp/gone (deleted)", BD_FILE_REGULAR, 1002, 0, 1},
    {9, "/tmp/" LONG_NAME, BD_FILE_REGULAR, 1003, 0, 1},
    {10, "/memfd:x (deleted)", BD_FILE_REGULAR, 1004, 2, 9},
    {64, "/", BD_FILE_DIR, 2, 0200000, 1},
    {65, "/mnt/data", BD_FILE_DIR, 3, 0200000, 27},
};
#define NWANT (sizeof(want) / sizeof(want[0]))

static uint64_t process_table(void)
{
        uint64_t d_pipe = syms.dops[BD_PSEUDO_PIPEFS], d_sock = syms.dops[BD_PSEUDO_SOCKFS],
                 d_anon = syms.dops[BD_PSEUDO_ANON_INODEFS];
        root_dentry = fi_dentry(&im, 0, "/", 0, 0);
        root_mount = fi_mount(&im, 0, root_dentry, root_dentry, 1);
        uint64_t dev = fi_dentry(&im, root_dentry, "dev", 0, 1);
        uint64_t mnt = fi_dentry(&im, root_dentry, "mnt", 0, 1);
        uint64_t data = fi_dentry(&im, mnt, "data", 0, 1);
        uint64_t data_root = fi_dentry(&im, 0, "/", 0, 0);
        uint64_t data_mount = fi_mount(&im, root_mount, data, data_root, 27);
        uint64_t logs = fi_dentry(&im, data_root, "logs", 0, 1);
        tmp_dentry = fi_dentry(&im, root_dentry, "tmp", 0, 1);
        uint64_t sock_root = fi_dentry(&im, 0, "socket:", d_sock, 0);
        uint64_t pipe_root = fi_dentry(&im, 0, "pipe:", d_pipe, 0);
        uint64_t anon_root = fi_dentry(&im, 0, "anon_inode:", d_anon, 0);
        uint64_t shm_root = fi_dentry(&im, 0, "/", KS_K(SHMEM_DOPS), 0);
        uint64_t sock_mount = fi_mount(&im, 0, sock_root, sock_root, 5);
        uint64_t pipe_mount = fi_mount(&im, 0, pipe_root, pipe_root, 6);
        uint64_t anon_mount = fi_mount(&im, 0, anon_root, anon_root, 7);
        uint64_t shm_mount = fi_mount(&im, 0, shm_root, shm_root, 9);
        uint64_t anon_inode = fi_inode(&im, FI_S_ANON, 11);
        struct fi_open ep = {anon_mount, fi_dentry(&im, 0, "[eventpoll]", d_anon, 0),
                             anon_inode, syms.fops[BD_ANON_EVENTPOLL],
                             2,          3,
                             0};
        struct fi_open in = {
            anon_mount, fi_dentry(&im, 0, "inotify", d_anon, 0), anon_inode, KS_K(OTHER_FOPS), 0, 1,
            0};
        const struct fi_fd fds[] = {
            {0,
             open_file(root_mount, fi_dentry(&im, dev, "null", 0, 1), FI_S_IFCHR | 0666, 5, 0,
                       0100002, 3, 0),
             0},
            {1,
             open_file(data_mount, fi_dentry(&im, logs, "app.log", 0, 1), FI_S_IFREG | 0644, 1001,
                       0, 02001, 2, 12345),
             1},
            {2, 0, 0}, /* reserved, not yet installed */
            {3,
             open_file(sock_mount, fi_dentry(&im, 0, "", d_sock, 0), FI_S_IFSOCK | 0777, 4242, 0, 2,
                       3, 0),
             0},
            {4,
             open_file(pipe_mount, fi_dentry(&im, 0, "", d_pipe, 0), FI_S_IFIFO | 0600, 777, 0, 0,
                       1, 0),
             0},
            {5, fi_file(&im, &ep), 1},
            {6, fi_file(&im, &in), 0},
            {7,
             open_file(root_mount, fi_dentry(&im, tmp_dentry, "gone", 0, 0), FI_S_IFREG | 0600,
                       1002, 0, 0, 1, 0),
             0},
            {9,
             open_file(root_mount, fi_dentry(&im, tmp_dentry, LONG_NAME, 0, 1), FI_S_IFREG | 0600,
                       1003, 0, 0, 1, 7),
             0},
            {10,
             open_file(shm_mount, fi_dentry(&im, 0, "memfd:x", KS_K(SHMEM_DOPS), 0),
                       FI_S_IFREG | 0777, 1004, 0, 2, 3, 0),
             0},
            {64, open_file(root_mount, root_dentry, 0040755, 2, 0, 0200000, 1, 0), 0},
            {65, open_file(data_mount, data_root, 0040755, 3, 0, 0200000, 1, 0), 0},
        };
        return fi_table(&im, 128, fds, sizeof(fds) / sizeof(fds[0]));
}

static int setup(void **state)
{
        (void)state;
        if (!(prog = mem_program(&m, MEM_SIZE, &mem)))
                return -1;
        static const struct ks_sym ks_syms[] = {
            {'T', "_stext", KS_K(0)},
            {'D', "init_pid_ns", KS_K(PID_NS)},
            {'r', "eventpoll_fops", KS_K(FOPS)},
            {'r', "eventfd_fops", KS_K(FOPS + 0x40)},
            {'r', "signalfd_fops", KS_K(FOPS + 0x80)},
            {'r', "timerfd_fops", KS_K(FOPS + 0xc0)},
            {'r', "pipefs_dentry_operations", KS_K(DOPS)},
            {'r', "sockfs_dentry_operations", KS_K(DOPS + 0x40)},
            {'r', "anon_inodefs_dentry_operations", KS_K(DOPS + 0x80)},
        };
        if (ks_kernel(prog, &m.base, mem, ks_syms, sizeof(ks_syms) / sizeof(ks_syms[0])))
                return -1;
        prog->layout = make_layout();
        for (int i = BD_ANON_OTHER + 1; i < BD_ANON_COUNT; i++)
                syms.fops[i] = KS_K(FOPS + 0x40 * (unsigned)(i - 1));
        for (int i = 0; i < BD_PSEUDO_COUNT; i++)
                syms.dops[i] = KS_K(DOPS + 0x40 * (unsigned)i);
        im = (struct ms_img){mem, MEM_SIZE, OBJECTS, KS_K(0)};
        uint64_t node = ms_alloc(&im, XA_NODE_LEN, 64);
        ms_put64(&im, KS_K(PID_NS) + 8, node | 2);
        add_task(node, PID, process_table());
        add_task(node, ZOMBIE, 0);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        mem_program_free(prog, mem);
        return 0;
}

static struct bd_files *read_pid(int32_t pid)
{
        struct bd_files *fs = NULL;
        assert_bd_ok(bd_files_read(prog, pid, &fs));
        assert_non_null(fs);
        return fs;
}

static const struct bd_file *fd_of(const struct bd_files *fs, int32_t fd)
{
        for (size_t i = 0; i < fs->n; i++)
                if (fs->f[i].fd == fd)
                        return &fs->f[i];
        return NULL;
}

static void test_layout_from_btf(void **state)
{
        (void)state;
        const struct bd_layout *l = prog->layout;
        static const struct {
                enum bd_layout_id id;
                int64_t off;
        } at[] = {
            {BDL_TASK_FILES, FI_TASK_FILES},      {BDL_FILES_FDT, FI_FILES_FDT},
            {BDL_FDTABLE_OPEN_FDS, FI_FDT_OPEN},  {BDL_FILE_MNT, FI_FILE_MNT},
            {BDL_FILE_DENTRY, FI_FILE_DENTRY},    {BDL_FILE_POS, FI_FILE_POS},
            {BDL_DENTRY_NAME_LEN, FI_DENTRY_LEN}, {BDL_DENTRY_HASH_PPREV, FI_DENTRY_PPREV},
            {BDL_DENTRY_INAME, FI_DENTRY_INAME},  {BDL_MOUNT_ROOT, FI_MOUNT_MNT},
            {BDL_MOUNT_ID, FI_MOUNT_ID},          {BDL_MOUNT_MNT, FI_MOUNT_MNT},
        };
        for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
                int64_t v;
                assert_true(bd_layout_has(l, at[i].id, &v));
                assert_int_equal(v, at[i].off);
        }
        assert_int_equal(l->e[BDL_DENTRY_INAME].size, FI_INAME_LEN);
        assert_int_equal(l->e[BDL_INODE_MODE].size, 2);
}

/* Paths given as struct path holds them (a process's cwd and root): the
 * name from the dentry chain, the type and size from the dentry's inode;
 * the root of the tree itself is "/"; a wild dentry is that path's error,
 * not the others'. */
static void test_paths_of(void **state)
{
        (void)state;
        uint64_t dir = fi_inode(&im, 040755, 77);
        ms_put64(&im, dir + FI_INODE_I_SIZE, 4096);
        ms_put64(&im, tmp_dentry + FI_DENTRY_INODE, dir);
        ms_put64(&im, root_dentry + FI_DENTRY_INODE, dir);
        struct bd_path_ref ref[3] = {{root_mount + FI_MOUNT_MNT, tmp_dentry},
                                     {root_mount + FI_MOUNT_MNT, root_dentry},
                                     {root_mount + FI_MOUNT_MNT, WILD}};
        struct bd_files *fs = NULL;
        assert_bd_ok(bd_paths_of(prog, ref, 3, &fs));
        assert_int_equal(fs->n, 3);
        assert_string_equal(fs->f[0].path, "/tmp");
        assert_string_equal(fs->f[1].path, "/");
        for (int i = 0; i < 2; i++) {
                assert_null(fs->f[i].error);
                assert_true(fs->f[i].have_inode);
                assert_int_equal(fs->f[i].kind, BD_FILE_DIR);
                assert_int_equal(fs->f[i].ino, 77);
                assert_int_equal(fs->f[i].size, 4096);
                assert_false(fs->f[i].have_file);
        }
        assert_null(fs->f[2].path);
        assert_non_null(strstr(fs->f[2].error, "is not a kernel address"));
        bd_files_free(fs);
        ms_put64(&im, tmp_dentry + FI_DENTRY_INODE, 0);
        ms_put64(&im, root_dentry + FI_DENTRY_INODE, 0);
}

static void test_process_files(void **state)
{
        (void)state;
        struct bd_files *fs = read_pid(PID);
        assert_int_equal(fs->max_fds, 128);
        assert_int_equal(fs->n, NWANT);
        for (size_t i = 0; i < NWANT; i++) {
                const struct bd_file *f = &fs->f[i];
                assert_int_equal(f->fd, want[i].fd);
                if (!f->path || strcmp(f->path, want[i].path) || f->error)
                        print_error("fd %d: path %s, error %s\n", f->fd, f->path ? f->path : "-",
                                    f->error ? f->error : "-");
                assert_non_null(f->path);
                assert_string_equal(f->path, want[i].path);
                assert_null(f->error);
                assert_true(f->have_file && f->have_inode);
                assert_int_equal(f->kind, want[i].kind);
                assert_int_equal(f->ino, want[i].ino);
                assert_int_equal(f->flags, want[i].flags);
                assert_int_equal(f->mnt_id, want[i].mnt_id);
        }
        const struct bd_file *f = fd_of(fs, 1);
        assert_int_equal(f->pos, 12345);
        assert_int_equal(f->mode, BD_FMODE_WRITE);
        assert_int_equal(fd_of(fs, 5)->anon, BD_ANON_EVENTPOLL);
        assert_int_equal(fd_of(fs, 6)->anon, BD_ANON_OTHER);
        /* The table, the files, then a level per step of the deepest path
         * (/mnt/data/logs/app.log: 5 dentries, a mount crossed) and one for
         * the last names: not a read per file or per dentry. */
        assert_true(fs->st.batches <= 12);
        assert_true(fs->st.bytes_read < 16384);
        bd_files_free(fs);
}

static void test_zombie_and_no_pid(void **state)
{
        (void)state;
        struct bd_files *fs = read_pid(ZOMBIE);
        assert_int_equal(fs->n, 0);
        assert_int_equal(fs->max_fds, 0);
        bd_files_free(fs);
        fs = NULL;
        struct bd_error *err = bd_files_read(prog, 44, &fs);
        assert_non_null(err);
        assert_non_null(strstr(err->message, "pid 44"));
        assert_bd_error(err, BD_ERR_NOT_FOUND);
        assert_null(fs);
}

static void test_text(void **state)
{
        (void)state;
        char buf[256], mode[11];
        bd_file_flags_text(02000000 | 02001, buf, sizeof(buf));
        assert_string_equal(buf, "O_WRONLY|O_APPEND|O_CLOEXEC");
        bd_file_flags_text(0100000, buf, sizeof(buf));
        assert_string_equal(buf, "O_RDONLY|O_LARGEFILE");
        bd_file_flags_text(3 | 0x80000000u, buf, sizeof(buf));
        assert_string_equal(buf, "O_ACCMODE|020000000000");
        bd_file_flags_text(0100002, buf, 8); /* cut, terminated */
        assert_string_equal(buf, "O_RDWR|");
        bd_file_mode_text(BD_FMODE_READ | BD_FMODE_WRITE | 0x4000, mode);
        assert_string_equal(mode, "lrwx------");
        bd_file_mode_text(BD_FMODE_WRITE, mode);
        assert_string_equal(mode, "l-wx------");
        bd_file_mode_text(0, mode);
        assert_string_equal(mode, "l---------");
        assert_string_equal(bd_file_kind_name(BD_FILE_PIPE), "pipe");
        assert_string_equal(bd_file_kind_name((enum bd_file_kind)99), "unknown");
        assert_string_equal(bd_file_anon_name(BD_ANON_TIMERFD), "timerfd");
        assert_null(bd_file_anon_name(BD_ANON_OTHER));
}

/* A table of the given files, read straight from its files_struct. */
static struct bd_error *read_table(const struct fi_fd *fds, size_t n, uint64_t budget,
                                   struct bd_files **fs)
{
        uint64_t files = fi_table(&im, 64, fds, n);
        return bd_files_from_table(prog->k, prog->layout, &syms, files, budget, fs);
}

static uint64_t regular(uint64_t dentry)
{
        return open_file(root_mount, dentry, FI_S_IFREG | 0600, 99, 0, 0, 1, 0);
}

/* One file's error: no path, and the message says what and where. */
static void expect_file_error(const struct bd_file *f, const char *what, uint64_t where)
{
        char addr[32];
        snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)where);
        if (!f->error || !strstr(f->error, what) || !strstr(f->error, addr))
                print_error("fd %d: error %s, want %s and %s\n", f->fd, f->error ? f->error : "-",
                            what, addr);
        assert_null(f->path);
        assert_non_null(f->error);
        assert_non_null(strstr(f->error, what));
        assert_non_null(strstr(f->error, addr));
}

static void test_dentry_cycle(void **state)
{
        (void)state;
        uint64_t a = fi_dentry(&im, tmp_dentry, "a", 0, 1);
        uint64_t b = fi_dentry(&im, a, "b", 0, 1);
        ms_put64(&im, a + FI_DENTRY_PARENT, b);
        uint64_t leaf = fi_dentry(&im, b, "leaf", 0, 1);
        const struct fi_fd fds[] = {{0, regular(leaf), 0},
                                    {1, regular(fi_dentry(&im, tmp_dentry, "ok", 0, 1)), 0}};
        struct bd_files *fs;
        assert_bd_ok(read_table(fds, 2, BD_FILES_BUDGET, &fs));
        assert_int_equal(fs->n, 2);
        expect_file_error(&fs->f[0], "cycle", a);
        assert_string_equal(fs->f[1].path, "/tmp/ok");
        bd_files_free(fs);
}

static void test_mount_cycle(void **state)
{
        (void)state;
        uint64_t d1 = fi_dentry(&im, 0, "/", 0, 0), d2 = fi_dentry(&im, 0, "/", 0, 0);
        uint64_t m1 = fi_mount(&im, 0, d2, d1, 30), m2 = fi_mount(&im, m1, d1, d2, 31);
        ms_put64(&im, m1 + FI_MOUNT_PARENT, m2);
        struct fi_open o = {
            m1, fi_dentry(&im, d1, "x", 0, 1), fi_inode(&im, FI_S_IFREG, 8), 0, 0, 1, 0};
        const struct fi_fd fds[] = {{3, fi_file(&im, &o), 0}};
        struct bd_files *fs;
        assert_bd_ok(read_table(fds, 1, BD_FILES_BUDGET, &fs));
        expect_file_error(&fs->f[0], "cycle", m2);
        assert_int_equal(fs->f[0].mnt_id, 30);
        bd_files_free(fs);
}

/* Names of 255 bytes, twenty deep: past PATH_MAX, the walk stops there. */
static void test_path_too_long(void **state)
{
        (void)state;
        char name[BD_NAME_MAX + 1];
        memset(name, 'n', BD_NAME_MAX);
        name[BD_NAME_MAX] = '\0';
        uint64_t d = tmp_dentry;
        for (int i = 0; i < 20; i++)
                d = fi_dentry(&im, d, name, 0, 1);
        /* And a name longer than NAME_MAX. */
        uint64_t bad = fi_dentry(&im, tmp_dentry, "x", 0, 1);
        ms_put32(&im, bad + FI_DENTRY_LEN, 100000);
        const struct fi_fd fds[] = {{0, regular(d), 0}, {1, regular(bad), 0}};
        struct bd_files *fs;
        assert_bd_ok(read_table(fds, 2, BD_FILES_BUDGET, &fs));
        assert_null(fs->f[0].path);
        assert_non_null(strstr(fs->f[0].error, "longer than PATH_MAX"));
        expect_file_error(&fs->f[1], "a name of 100000 bytes", bad);
        bd_files_free(fs);
}

static void test_wild_pointers(void **state)
{
        (void)state;
        uint64_t wild_parent = fi_dentry(&im, tmp_dentry, "orphan", 0, 1);
        ms_put64(&im, wild_parent + FI_DENTRY_PARENT, WILD);
        uint64_t wild_name = fi_dentry(&im, tmp_dentry, "nameless", 0, 1);
        ms_put64(&im, wild_name + FI_DENTRY_NAME, WILD);
        uint64_t lost_name = fi_dentry(&im, tmp_dentry, "lost", 0, 1);
        ms_put64(&im, lost_name + FI_DENTRY_NAME, UNREADABLE);
        struct fi_open no_inode = {root_mount, fi_dentry(&im, tmp_dentry, "f", 0, 1), WILD, 0, 0, 1,
                                   0};
        struct fi_open lost_inode = {
            root_mount, fi_dentry(&im, tmp_dentry, "g", 0, 1), UNREADABLE, 0, 0, 1, 0};
        struct fi_open no_mount = {WILD, tmp_dentry, fi_inode(&im, FI_S_IFREG, 1), 0, 0, 1, 0};
        const struct fi_fd fds[] = {
            {0, WILD, 0},
            {1, UNREADABLE, 0},
            {2, regular(wild_parent), 0},
            {3, regular(wild_name), 0},
            {4, regular(lost_name), 0},
            {5, fi_file(&im, &no_inode), 0},
            {6, fi_file(&im, &lost_inode), 0},
            {7, fi_file(&im, &no_mount), 0},
            {8, regular(fi_dentry(&im, tmp_dentry, "fine", 0, 1)), 0},
        };
        struct bd_files *fs;
        assert_bd_ok(read_table(fds, 9, BD_FILES_BUDGET, &fs));
        assert_int_equal(fs->n, 9);
        expect_file_error(&fs->f[0], "struct file pointer", WILD);
        assert_false(fs->f[0].have_file);
        expect_file_error(&fs->f[1], "unreadable", UNREADABLE);
        expect_file_error(&fs->f[2], "not a kernel address", WILD);
        assert_true(fs->f[2].have_file && fs->f[2].have_inode);
        expect_file_error(&fs->f[3], "name pointer", WILD);
        expect_file_error(&fs->f[4], "unreadable", UNREADABLE);
        /* An inode that does not read costs the type, not the path. */
        assert_string_equal(fs->f[5].path, "/tmp/f");
        assert_non_null(strstr(fs->f[5].error, "inode pointer"));
        assert_false(fs->f[5].have_inode);
        assert_string_equal(fs->f[6].path, "/tmp/g");
        assert_non_null(strstr(fs->f[6].error, "unreadable"));
        expect_file_error(&fs->f[7], "not a kernel address", WILD + FI_MOUNT_MNT);
        assert_string_equal(fs->f[8].path, "/tmp/fine");
        assert_null(fs->f[8].error);
        bd_files_free(fs);
}

/* What a corrupt table gives: the whole view refused, naming the table. */
static void expect_table_error(uint64_t files, enum bd_err code, const char *what)
{
        struct bd_files *fs = NULL;
        struct bd_error *err =
            bd_files_from_table(prog->k, prog->layout, &syms, files, BD_FILES_BUDGET, &fs);
        assert_non_null(err);
        if (!strstr(err->message, what))
                print_error("%s, want %s\n", err->message, what);
        assert_non_null(strstr(err->message, what));
        assert_null(strchr(err->message, '\n'));
        assert_bd_error(err, code);
        assert_null(fs);
}

static void test_bad_tables(void **state)
{
        (void)state;
        const struct fi_fd fds[] = {{0, regular(tmp_dentry), 0}};
        uint64_t files = fi_table(&im, 64, fds, 1), fdt;
        memcpy(&fdt, mem + (files + FI_FILES_FDT - KS_K(0)), 8);
        ms_put32(&im, fdt + FI_FDT_MAX_FDS, 100);
        expect_table_error(files, BD_ERR_PROTOCOL, "max_fds 100");
        ms_put32(&im, fdt + FI_FDT_MAX_FDS, 0xffffffc0u);
        expect_table_error(files, BD_ERR_PROTOCOL, "max_fds 4294967232");
        ms_put32(&im, fdt + FI_FDT_MAX_FDS, 0);
        expect_table_error(files, BD_ERR_PROTOCOL, "max_fds 0");
        /* Within the kernel's limit, beyond what the budget reads. */
        ms_put32(&im, fdt + FI_FDT_MAX_FDS, 1u << 30);
        expect_table_error(files, BD_ERR_RANGE, "--max-read");
        /* A bitmap past memory: the read fails, the table with it. */
        ms_put32(&im, fdt + FI_FDT_MAX_FDS, 64);
        ms_put64(&im, fdt + FI_FDT_OPEN, KS_K(MEM_SIZE));
        expect_table_error(files, BD_ERR_RANGE, "fd bitmap");
        ms_put64(&im, fdt + FI_FDT_OPEN, WILD);
        expect_table_error(files, BD_ERR_PROTOCOL, "open_fds pointer 0x1234");
        ms_put64(&im, files + FI_FILES_FDT, WILD);
        expect_table_error(files, BD_ERR_PROTOCOL, "fdtable pointer 0x1234");
        expect_table_error(WILD, BD_ERR_PROTOCOL, "files_struct pointer 0x1234");
        expect_table_error(UNREADABLE, BD_ERR_RANGE, "files_struct at");
}

/* More files than the budget holds are refused, naming the budget; paths
 * count too. */
static void test_budget(void **state)
{
        (void)state;
        struct fi_fd fds[64];
        uint64_t file = regular(fi_dentry(&im, tmp_dentry, "same", 0, 1));
        for (int i = 0; i < 64; i++)
                fds[i] = (struct fi_fd){i, file, 0};
        struct bd_files *fs = NULL;
        struct bd_error *err = read_table(fds, 64, 16384, &fs);
        assert_non_null(err);
        assert_non_null(strstr(err->message, "open files"));
        assert_non_null(strstr(err->message, "--max-read"));
        assert_bd_error(err, BD_ERR_RANGE);
        assert_null(fs);

        /* Two files twelve names of 255 bytes deep: a budget that holds
         * the files but not their paths. */
        char name[BD_NAME_MAX + 1];
        memset(name, 'p', BD_NAME_MAX);
        name[BD_NAME_MAX] = '\0';
        uint64_t d = tmp_dentry;
        for (int i = 0; i < 12; i++)
                d = fi_dentry(&im, d, name, 0, 1);
        const struct fi_fd deep[] = {{0, regular(d), 0}, {1, regular(d), 0}};
        int paths_refused = 0;
        for (uint64_t budget = 1024;; budget += 256) {
                err = read_table(deep, 2, budget, &fs);
                if (!err)
                        break;
                paths_refused |= strstr(err->message, "with their paths") != NULL;
                assert_bd_error(err, BD_ERR_RANGE);
        }
        assert_true(paths_refused);
        assert_non_null(fs->f[1].path);
        assert_int_equal(strlen(fs->f[1].path), 4 + 12 * (BD_NAME_MAX + 1));
        bd_files_free(fs);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_layout_from_btf),
            cmocka_unit_test(test_process_files),
            cmocka_unit_test(test_paths_of),
            cmocka_unit_test(test_zombie_and_no_pid),
            cmocka_unit_test(test_text),
            cmocka_unit_test(test_dentry_cycle),
            cmocka_unit_test(test_mount_cycle),
            cmocka_unit_test(test_path_too_long),
            cmocka_unit_test(test_wild_pointers),
            cmocka_unit_test(test_bad_tables),
            cmocka_unit_test(test_budget),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
