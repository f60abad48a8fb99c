#include "files.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/grow.h"
#include "budget.h"
#include "tasks.h"
#include "../walk/gather.h"
#include "../walk/walk.h"

/* Reading a gap of this many bytes costs less than another operation. */
#define FIELD_GAP 512
/* Steps up a path: a dentry to its parent, or a mount to the one it is
 * mounted on. Each name adds a byte at least, so a chain longer than
 * PATH_MAX is one no d_path() prints; a cycle is caught long before. */
#define STEPS_MAX BD_PATH_MAX
/* fdtable sizes are whole words of its bitmaps (fs/file.c). */
#define FDS_PER_WORD 64u
#define DELETED      " (deleted)"
#define DELETED_LEN  (sizeof(DELETED) - 1)
/* Room for any path a cursor can give: PATH_MAX, or an anon_inode: name. */
#define RENDER_MAX (BD_PATH_MAX + 64)

/* i_mode's type bits (include/uapi/linux/stat.h). */
#define MODE_FMT  0170000u
#define MODE_SOCK 0140000u
#define MODE_LNK  0120000u
#define MODE_REG  0100000u
#define MODE_BLK  0060000u
#define MODE_DIR  0040000u
#define MODE_CHR  0020000u
#define MODE_FIFO 0010000u

/* A leaf that is no pseudo filesystem's. */
#define NOT_PSEUDO BD_PSEUDO_COUNT

enum { T_MAX_FDS, T_FD, T_OPEN_FDS, T_CLOSE_ON_EXEC, T_COUNT };
enum { F_MNT, F_DENTRY, F_INODE, F_OP, F_FLAGS, F_MODE, F_POS, F_OWNER, F_PRIVATE, F_COUNT };
enum { I_MODE, I_INO, I_SIZE, I_COUNT };
enum { D_PPREV, D_PARENT, D_LEN, D_NAME, D_INAME, D_OP, D_INODE, D_COUNT };
enum { M_PARENT, M_MOUNTPOINT, M_ROOT, M_ID, M_COUNT };

struct plan {
        int64_t files_fdt; /* files_struct.fdt */
        int64_t mnt;       /* where a struct mount holds its vfsmount */
        int64_t fdt[T_COUNT], file[F_COUNT], inode[I_COUNT], dentry[D_COUNT], mount[M_COUNT];
        int64_t iname_size;
        struct bd_gather g_fdt, g_file, g_inode, g_dentry, g_mount;
};

static struct bd_error *plan_part(const struct bd_layout *l, const enum bd_layout_id *ids,
                                  const int64_t *sizes, size_t n, int64_t *off, struct bd_gather *g)
{
        struct bd_error *err = bd_layout_need(l, ids, n, off);
        return err ? err : bd_gather_plan(g, off, sizes, n, FIELD_GAP);
}

static struct bd_error *make_plan(const struct bd_layout *l, struct plan *pl)
{
        static const enum bd_layout_id fdt_ids[T_COUNT] = {
            BDL_FDTABLE_MAX_FDS, BDL_FDTABLE_FD, BDL_FDTABLE_OPEN_FDS, BDL_FDTABLE_CLOSE_ON_EXEC};
        static const int64_t fdt_sizes[T_COUNT] = {4, 8, 8, 8};
        static const enum bd_layout_id file_ids[F_COUNT] = {
            BDL_FILE_MNT, BDL_FILE_DENTRY,    BDL_FILE_INODE,
            BDL_FILE_OP,  BDL_FILE_FLAGS,     BDL_FILE_MODE,
            BDL_FILE_POS, BDL_FILE_OWNER_PID, BDL_FILE_PRIVATE_DATA};
        static const int64_t file_sizes[F_COUNT] = {8, 8, 8, 8, 4, 4, 8, 8, 8};
        static const enum bd_layout_id inode_ids[I_COUNT] = {BDL_INODE_MODE, BDL_INODE_INO,
                                                             BDL_INODE_SIZE};
        static const int64_t inode_sizes[I_COUNT] = {2, 8, 8};
        static const enum bd_layout_id dentry_ids[D_COUNT] = {
            BDL_DENTRY_HASH_PPREV, BDL_DENTRY_PARENT, BDL_DENTRY_NAME_LEN, BDL_DENTRY_NAME,
            BDL_DENTRY_INAME,      BDL_DENTRY_OP,     BDL_DENTRY_INODE};
        static const enum bd_layout_id mount_ids[M_COUNT] = {BDL_MOUNT_PARENT, BDL_MOUNT_MOUNTPOINT,
                                                             BDL_MOUNT_ROOT, BDL_MOUNT_ID};
        static const int64_t mount_sizes[M_COUNT] = {8, 8, 8, 4};
        int64_t iname = l->e[BDL_DENTRY_INAME].size;
        const int64_t dentry_sizes[D_COUNT] = {8, 8, 4, 8, iname, 8, 8};
        struct bd_error *err = bd_layout_get(l, BDL_FILES_FDT, &pl->files_fdt);
        if (!err)
                err = bd_layout_get(l, BDL_MOUNT_MNT, &pl->mnt);
        if (!err)
                err = plan_part(l, fdt_ids, fdt_sizes, T_COUNT, pl->fdt, &pl->g_fdt);
        if (!err)
                err = plan_part(l, file_ids, file_sizes, F_COUNT, pl->file, &pl->g_file);
        if (!err)
                err = plan_part(l, inode_ids, inode_sizes, I_COUNT, pl->inode, &pl->g_inode);
        if (!err)
                err = plan_part(l, dentry_ids, dentry_sizes, D_COUNT, pl->dentry, &pl->g_dentry);
        if (!err)
                err = plan_part(l, mount_ids, mount_sizes, M_COUNT, pl->mount, &pl->g_mount);
        if (!err && iname > BD_NAME_MAX + 1)
                err =
                    bd_error_new(BD_ERR_PROTOCOL, "dentry.d_iname of %lld bytes", (long long)iname);
        pl->iname_size = iname;
        return err;
}

/* The open fds of a file table, with their struct file pointers. */
struct table {
        uint32_t max_fds;
        size_t n;
        int32_t *fd;
        uint64_t *file;
        uint8_t *cloexec;
        const struct bd_path_ref *path; /* instead of files: paths, file[] unused */
};

static void table_free(struct table *t)
{
        free(t->fd), free(t->file), free(t->cloexec);
}

/* The fd array's pointers of the open fds: a read per run of open fds. */
static struct bd_error *read_pointers(struct bd_kernel *k, uint64_t array, struct table *t)
{
        struct bd_kernel_iov *iov = calloc(t->n + 1, sizeof(*iov));
        if (!iov)
                return &bd_error_nomem;
        size_t runs = 0;
        for (size_t i = 0; i < t->n; i++) {
                if (runs && t->fd[i] == t->fd[i - 1] + 1) {
                        iov[runs - 1].len += 8;
                        continue;
                }
                iov[runs++] =
                    (struct bd_kernel_iov){array + 8 * (uint64_t)t->fd[i], &t->file[i], 8};
        }
        struct bd_error *err = bd_walk_read(k, iov, runs, "fd array");
        free(iov);
        return err;
}

/* The bitmaps, then the pointers of the fds they say are open. */
static struct bd_error *read_fds(struct bd_kernel *k, uint64_t fdt, const uint64_t *ptr,
                                 uint64_t budget, uint64_t each, struct table *t)
{
        size_t words = t->max_fds / FDS_PER_WORD;
        if (t->max_fds / 4 > budget) {
                char size[32];
                bd_size_text(budget, size, sizeof(size));
                return bd_error_new(BD_ERR_RANGE,
                                    "fdtable at 0x%" PRIx64 ": the bitmaps of %" PRIu32
                                    " fds would pass the %s budget (" BD_BUDGET_OPTION
                                    " raises it)",
                                    fdt, t->max_fds, size);
        }
        uint64_t *bits = calloc(2 * words, sizeof(*bits));
        if (!bits)
                return &bd_error_nomem;
        struct bd_kernel_iov iov[2] = {{ptr[T_OPEN_FDS], bits, 8 * words},
                                       {ptr[T_CLOSE_ON_EXEC], bits + words, 8 * words}};
        struct bd_error *err = bd_walk_read(k, iov, 2, "fd bitmap");
        for (size_t w = 0; !err && w < words; w++)
                t->n += (size_t)__builtin_popcountll(bits[w]);
        if (!err)
                err = bd_budget_check(t->n, each, budget, "open files");
        if (!err) {
                t->fd = calloc(t->n + 1, sizeof(*t->fd));
                t->file = calloc(t->n + 1, sizeof(*t->file));
                t->cloexec = calloc(t->n + 1, 1);
                if (!t->fd || !t->file || !t->cloexec)
                        err = &bd_error_nomem;
        }
        size_t n = 0;
        for (size_t w = 0; !err && w < words; w++)
                for (uint64_t v = bits[w]; v; v &= v - 1) {
                        unsigned b = (unsigned)__builtin_ctzll(v);
                        t->fd[n] = (int32_t)(w * FDS_PER_WORD + b);
                        t->cloexec[n++] = (bits[words + w] >> b) & 1;
                }
        free(bits);
        return err ? err : read_pointers(k, ptr[T_FD], t);
}

/* files->fdt, the fdtable's fields, checked against the kernel's limits. */
static struct bd_error *read_table(struct bd_kernel *k, const struct plan *pl, uint64_t files,
                                   uint64_t budget, uint64_t each, struct table *t)
{
        static const char *const what[T_COUNT] = {NULL, "fd array", "open_fds", "close_on_exec"};
        if (!bd_walk_kptr_ok(k, files, 8))
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "files_struct pointer 0x%" PRIx64 " is not a kernel address",
                                    files);
        uint64_t fdt;
        struct bd_kernel_iov iov[BD_GATHER_MAX_SPANS] = {
            {files + (uint64_t)pl->files_fdt, &fdt, 8}};
        struct bd_error *err = bd_walk_read(k, iov, 1, "files_struct");
        if (err)
                return err;
        if (!bd_walk_kptr_ok(k, fdt, 8))
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "files_struct at 0x%" PRIx64 ": fdtable pointer 0x%" PRIx64
                                    " is not a kernel address",
                                    files, fdt);
        uint8_t *copy = malloc(pl->g_fdt.copy_size);
        if (!copy)
                return &bd_error_nomem;
        err = bd_walk_read(k, iov, bd_gather_iov(&pl->g_fdt, fdt, copy, iov), "fdtable");
        uint64_t ptr[T_COUNT];
        for (int i = 0; i < T_COUNT; i++)
                ptr[i] = bd_gather_value(&pl->g_fdt, copy, pl->fdt[i], i == T_MAX_FDS ? 4 : 8);
        free(copy);
        if (err)
                return err;
        t->max_fds = (uint32_t)ptr[T_MAX_FDS];
        /* Tables are whole bitmap words, and fs.nr_open stops below INT_MAX. */
        if (!t->max_fds || t->max_fds % FDS_PER_WORD || t->max_fds > BD_NR_OPEN_MAX)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "fdtable at 0x%" PRIx64 ": max_fds %" PRIu32
                                    ", not a positive multiple of %u up to %u",
                                    fdt, t->max_fds, FDS_PER_WORD, BD_NR_OPEN_MAX);
        for (int i = T_FD; i < T_COUNT; i++)
                if (!bd_walk_kptr_ok(k, ptr[i], 8))
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "fdtable at 0x%" PRIx64 ": %s pointer 0x%" PRIx64
                                            " is not a kernel address",
                                            fdt, what[i], ptr[i]);
        return read_fds(k, fdt, ptr, budget, each, t);
}

enum { WALKING, DONE, FAILED };

/* One file's walk up its path. */
struct cursor {
        uint64_t dentry, mount;          /* where it is; dentry 0 once there is no more to read */
        uint64_t inode;                  /* to read with the first level, else 0 */
        uint64_t mroot, mparent, mpoint; /* the mount's, once read */
        uint64_t name;                   /* a name to read at the next level, else 0 */
        uint32_t name_len;
        /* Brent's cycle check: the place saved at the last power of two. */
        uint64_t saved_dentry, saved_mount;
        uint32_t steps, power;
        uint32_t path_len; /* bytes of the names so far, a '/' each */
        int64_t last;      /* the component nearest the root, -1 before any */
        uint8_t state, leaf, need_mount, deleted, pseudo;
        uint8_t inode_of_leaf; /* a path's: its inode is the first dentry's */
        char error[128];
};

/* A name on a path; prev is the one below it, nearer the file. */
struct comp {
        size_t off;
        uint32_t len;
        int64_t prev;
};

struct walker {
        struct bd_kernel *k;
        const struct plan *pl;
        const struct bd_files_syms *syms;
        struct bd_files *out;
        struct cursor *c;
        uint64_t budget, held; /* held: the files' fixed cost */
        char *names;           /* the components' bytes */
        size_t nnames, capnames;
        struct comp *comp;
        size_t ncomp, capcomp;
};

__attribute__((format(printf, 2, 0))) static void vnote(struct cursor *c, const char *fmt,
                                                        va_list ap)
{
        if (!c->error[0])
                vsnprintf(c->error, sizeof(c->error), fmt, ap);
}

/* What went wrong with a file that still has a path to show. */
__attribute__((format(printf, 2, 3))) static void note(struct cursor *c, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vnote(c, fmt, ap);
        va_end(ap);
}

/* The file's path is lost: NULL, since one file's failure is not the
 * walk's. */
__attribute__((format(printf, 2, 3))) static struct bd_error *fail(struct cursor *c,
                                                                   const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vnote(c, fmt, ap);
        va_end(ap);
        c->state = FAILED;
        return NULL;
}

/* Add a name nearer the root; the names' bytes count against the budget. */
static struct bd_error *add_comp(struct walker *w, struct cursor *c, const char *s, size_t len)
{
        /* A byte more: an empty name still points into the buffer. */
        if (bd_grow((void **)&w->names, &w->capnames, w->nnames + len + 1, 1, 4096) ||
            bd_grow((void **)&w->comp, &w->capcomp, w->ncomp + 1, sizeof(*w->comp), 256))
                return &bd_error_nomem;
        if (len)
                memcpy(w->names + w->nnames, s, len);
        w->comp[w->ncomp] = (struct comp){w->nnames, (uint32_t)len, c->last};
        c->last = (int64_t)w->ncomp++;
        w->nnames += len;
        c->path_len += 1 + (uint32_t)len;
        uint64_t held = w->held + w->nnames + w->ncomp * sizeof(*w->comp);
        return bd_budget_check(w->out->n, held / w->out->n + 1, w->budget,
                               "open files with their paths");
}

/* What is read at one level of the walk, each object once however many
 * files need it (a directory shared by many paths, a mount by all). */
enum { N_INODE, N_MOUNT, N_DENTRY, N_NAME };

struct need {
        uint64_t addr;
        uint32_t len; /* a name's bytes; 0 for the others */
        uint32_t kind;
        size_t at;        /* its copy in the level's buffer */
        size_t iov, niov; /* its reads */
        int ok;
};

struct level {
        struct need *need;
        size_t n, cap;
        uint8_t *buf;
        struct bd_kernel_iov *iov;
        uint8_t *ok;
};

static int by_need(const void *a, const void *b)
{
        const struct need *x = a, *y = b;
        if (x->kind != y->kind)
                return x->kind < y->kind ? -1 : 1;
        if (x->addr != y->addr)
                return x->addr < y->addr ? -1 : 1;
        return x->len < y->len ? -1 : x->len > y->len;
}

static struct bd_error *need(struct level *lv, uint32_t kind, uint64_t addr, uint32_t len)
{
        if (bd_grow((void **)&lv->need, &lv->cap, lv->n + 1, sizeof(*lv->need), 256))
                return &bd_error_nomem;
        lv->need[lv->n++] = (struct need){.addr = addr, .len = len, .kind = kind};
        return NULL;
}

static const struct bd_gather *gather_of(const struct plan *pl, uint32_t kind)
{
        return kind == N_INODE    ? &pl->g_inode
               : kind == N_MOUNT  ? &pl->g_mount
               : kind == N_DENTRY ? &pl->g_dentry
                                  : NULL;
}

/* Read a level: its needs sorted, the same object read once. */
static struct bd_error *read_level(struct bd_kernel *k, const struct plan *pl, struct level *lv)
{
        qsort(lv->need, lv->n, sizeof(*lv->need), by_need);
        size_t m = 0, bytes = 0, niov = 0;
        for (size_t i = 0; i < lv->n; i++) {
                if (m && !by_need(&lv->need[m - 1], &lv->need[i]))
                        continue;
                struct need *nd = &lv->need[m++];
                *nd = lv->need[i];
                const struct bd_gather *g = gather_of(pl, nd->kind);
                nd->at = bytes;
                nd->iov = niov;
                nd->niov = g ? g->n : 1;
                bytes += g ? g->copy_size : nd->len;
                niov += nd->niov;
        }
        lv->n = m;
        free(lv->buf), free(lv->iov), free(lv->ok);
        lv->buf = malloc(bytes + 1);
        lv->iov = calloc(niov + 1, sizeof(*lv->iov));
        lv->ok = calloc(niov + 1, 1);
        if (!lv->buf || !lv->iov || !lv->ok)
                return &bd_error_nomem;
        for (size_t i = 0; i < m; i++) {
                struct need *nd = &lv->need[i];
                const struct bd_gather *g = gather_of(pl, nd->kind);
                if (g)
                        bd_gather_iov(g, nd->addr, lv->buf + nd->at, lv->iov + nd->iov);
                else
                        lv->iov[nd->iov] =
                            (struct bd_kernel_iov){nd->addr, lv->buf + nd->at, nd->len};
        }
        struct bd_error *err = bd_gather_read(k, lv->iov, niov, 1, lv->ok);
        for (size_t i = 0; !err && i < m; i++) {
                struct need *nd = &lv->need[i];
                nd->ok = 1;
                for (size_t j = 0; j < nd->niov; j++)
                        nd->ok &= lv->ok[nd->iov + j];
        }
        return err;
}

/* What the level read of an object, or NULL when it did not read. */
static const uint8_t *found(const struct level *lv, uint32_t kind, uint64_t addr, uint32_t len)
{
        struct need key = {.addr = addr, .len = len, .kind = kind};
        const struct need *nd = bsearch(&key, lv->need, lv->n, sizeof(*lv->need), by_need);
        return nd && nd->ok ? lv->buf + nd->at : NULL;
}

static enum bd_file_kind kind_of(uint32_t i_mode)
{
        switch (i_mode & MODE_FMT) {
        case MODE_REG:
                return BD_FILE_REGULAR;
        case MODE_DIR:
                return BD_FILE_DIR;
        case MODE_CHR:
                return BD_FILE_CHAR;
        case MODE_BLK:
                return BD_FILE_BLOCK;
        case MODE_FIFO:
                return BD_FILE_FIFO;
        case MODE_SOCK:
                return BD_FILE_SOCKET;
        case MODE_LNK:
                return BD_FILE_SYMLINK;
        case 0: /* alloc_anon_inode() gives no type */
                return BD_FILE_ANON;
        default:
                return BD_FILE_UNKNOWN;
        }
}

static unsigned pseudo_of(const struct bd_files_syms *s, uint64_t d_op)
{
        for (unsigned i = 0; i < BD_PSEUDO_COUNT; i++)
                if (d_op && d_op == s->dops[i])
                        return i;
        return NOT_PSEUDO;
}

static enum bd_anon anon_of(const struct bd_files_syms *s, uint64_t f_op)
{
        for (int i = BD_ANON_OTHER + 1; i < BD_ANON_COUNT; i++)
                if (f_op && f_op == s->fops[i])
                        return (enum bd_anon)i;
        return BD_ANON_OTHER;
}

/* A dentry's name as the next component: from the copy when the dentry
 * holds it inline, else read at the next level. */
static struct bd_error *take_name(struct walker *w, struct cursor *c, const uint8_t *d,
                                  uint64_t dentry)
{
        const struct plan *pl = w->pl;
        const struct bd_gather *g = &pl->g_dentry;
        uint32_t len = (uint32_t)bd_gather_value(g, d, pl->dentry[D_LEN], 4);
        uint64_t name = bd_gather_value(g, d, pl->dentry[D_NAME], 8);
        if (len > BD_NAME_MAX)
                return fail(c, "dentry 0x%" PRIx64 ": a name of %" PRIu32 " bytes", dentry, len);
        if (c->path_len + 1 + len + (c->deleted ? DELETED_LEN : 0) >= BD_PATH_MAX)
                return fail(c, "a path longer than PATH_MAX (%d bytes)", BD_PATH_MAX);
        const char *inl = bd_gather_field(g, d, pl->dentry[D_INAME], (size_t)pl->iname_size);
        if (inl && name == dentry + (uint64_t)pl->dentry[D_INAME] && len < pl->iname_size)
                return add_comp(w, c, inl, strnlen(inl, len));
        if (!len)
                return add_comp(w, c, "", 0);
        if (!bd_walk_kptr_ok(w->k, name, 1))
                return fail(
                    c, "dentry 0x%" PRIx64 ": name pointer 0x%" PRIx64 " is not a kernel address",
                    dentry, name);
        c->name = name;
        c->name_len = len;
        return NULL;
}

/* One step taken: bounded, and a place seen before is a cycle. */
static struct bd_error *check_step(struct cursor *c)
{
        if (++c->steps > STEPS_MAX)
                return fail(c, "a path of more than %d steps", STEPS_MAX);
        if (c->dentry == c->saved_dentry && c->mount == c->saved_mount)
                return fail(
                    c, "a cycle: the path comes back to dentry 0x%" PRIx64 " of mount 0x%" PRIx64,
                    c->dentry, c->mount);
        if (c->steps == c->power) {
                c->saved_dentry = c->dentry;
                c->saved_mount = c->mount;
                c->power *= 2;
        }
        return NULL;
}

/* The first dentry: a pseudo filesystem's file is named by its d_dname
 * (pipe:[N], socket:[N], anon_inode:NAME), unless it is a mount's root;
 * an unhashed one is "(deleted)". 1 when the walk goes no further. */
static int leaf(struct walker *w, size_t i, const uint8_t *d, int own_parent, int at_root)
{
        static const enum bd_file_kind pseudo_kind[BD_PSEUDO_COUNT] = {BD_FILE_PIPE, BD_FILE_SOCKET,
                                                                       BD_FILE_ANON};
        struct cursor *c = &w->c[i];
        struct bd_file *f = &w->out->f[i];
        const struct plan *pl = w->pl;
        unsigned pseudo =
            pseudo_of(w->syms, bd_gather_value(&pl->g_dentry, d, pl->dentry[D_OP], 8));
        c->leaf = 0;
        if (pseudo == NOT_PSEUDO || (own_parent && at_root)) {
                c->deleted =
                    !own_parent && !bd_gather_value(&pl->g_dentry, d, pl->dentry[D_PPREV], 8);
                return 0;
        }
        c->pseudo = (uint8_t)pseudo;
        if (f->have_inode)
                f->kind = pseudo_kind[pseudo];
        return 1;
}

/* Take the step the dentry just read says: to the mount below at a
 * mount's root, else to the parent with the dentry's name. */
static struct bd_error *step(struct walker *w, size_t i, const uint8_t *d)
{
        struct cursor *c = &w->c[i];
        const struct plan *pl = w->pl;
        uint64_t here = c->dentry;
        uint64_t parent = bd_gather_value(&pl->g_dentry, d, pl->dentry[D_PARENT], 8);
        int own_parent = parent == here, at_root = here == c->mroot, first = c->leaf;
        if (first && c->inode_of_leaf) {
                uint64_t inode = bd_gather_value(&pl->g_dentry, d, pl->dentry[D_INODE], 8);
                if (bd_walk_kptr_ok(w->k, inode, 8))
                        c->inode = inode;
                else
                        note(c,
                             "dentry 0x%" PRIx64 ": inode pointer 0x%" PRIx64
                             " is not a kernel address",
                             here, inode);
        }
        if (first && leaf(w, i, d, own_parent, at_root)) {
                c->dentry = 0;
                /* Named by their file operations, else by the dentry. */
                if (c->pseudo != BD_PSEUDO_ANON_INODEFS || w->out->f[i].anon != BD_ANON_OTHER)
                        return NULL;
                return take_name(w, c, d, here);
        }
        if (at_root) {
                if (c->mparent == c->mount) {
                        c->dentry = 0;
                        return NULL;
                }
                if (!bd_walk_kptr_ok(w->k, c->mparent, 8) || !bd_walk_kptr_ok(w->k, c->mpoint, 8))
                        return fail(c,
                                    "mount 0x%" PRIx64 ": parent 0x%" PRIx64
                                    " or mountpoint 0x%" PRIx64 " is not a kernel address",
                                    c->mount, c->mparent, c->mpoint);
                c->dentry = c->mpoint;
                c->mount = c->mparent;
                c->need_mount = 1;
                return check_step(c);
        }
        if (own_parent && first && bd_gather_value(&pl->g_dentry, d, pl->dentry[D_OP], 8)) {
                /* alloc_file_pseudo()'s files (memfd, secretmem): simple_dname()
                 * calls them "/NAME (deleted)". */
                c->deleted = 1;
                c->dentry = 0;
                return take_name(w, c, d, here);
        }
        if (own_parent)
                return fail(c, "dentry 0x%" PRIx64 " is its own parent outside its mount's root",
                            here);
        if (!bd_walk_kptr_ok(w->k, parent, 8))
                return fail(c, "dentry 0x%" PRIx64 ": parent 0x%" PRIx64 " is not a kernel address",
                            here, parent);
        c->dentry = parent;
        struct bd_error *err = take_name(w, c, d, here);
        return err || c->state != WALKING ? err : check_step(c);
}

/* The mount, if the walk has just come to it, and the dentry a level read
 * for file i; then the step they say. */
static struct bd_error *visit(struct walker *w, size_t i, const struct level *lv)
{
        struct cursor *c = &w->c[i];
        const struct plan *pl = w->pl;
        const uint8_t *b;
        if (c->need_mount) {
                if (!(b = found(lv, N_MOUNT, c->mount, 0)))
                        return fail(c, "mount at 0x%" PRIx64 " unreadable", c->mount);
                c->mparent = bd_gather_value(&pl->g_mount, b, pl->mount[M_PARENT], 8);
                c->mpoint = bd_gather_value(&pl->g_mount, b, pl->mount[M_MOUNTPOINT], 8);
                c->mroot = bd_gather_value(&pl->g_mount, b, pl->mount[M_ROOT], 8);
                if (c->leaf)
                        w->out->f[i].mnt_id =
                            (int32_t)bd_gather_value(&pl->g_mount, b, pl->mount[M_ID], 4);
                c->need_mount = 0;
        }
        if (!(b = found(lv, N_DENTRY, c->dentry, 0)))
                return fail(c, "dentry at 0x%" PRIx64 " unreadable", c->dentry);
        return step(w, i, b);
}

/* What a level read for file i: its inode, a name, its mount, a dentry. */
static struct bd_error *advance(struct walker *w, size_t i, const struct level *lv)
{
        struct cursor *c = &w->c[i];
        struct bd_file *f = &w->out->f[i];
        const struct plan *pl = w->pl;
        const uint8_t *b;
        struct bd_error *err = NULL;
        if (c->inode) {
                if ((b = found(lv, N_INODE, c->inode, 0))) {
                        f->i_mode =
                            (uint32_t)bd_gather_value(&pl->g_inode, b, pl->inode[I_MODE], 2);
                        f->ino = bd_gather_value(&pl->g_inode, b, pl->inode[I_INO], 8);
                        f->size = (int64_t)bd_gather_value(&pl->g_inode, b, pl->inode[I_SIZE], 8);
                        f->kind = kind_of(f->i_mode);
                        f->have_inode = 1;
                } else {
                        note(c, "inode at 0x%" PRIx64 " unreadable", c->inode);
                }
                c->inode = 0;
        }
        if (c->state != WALKING)
                return NULL;
        if (c->name) {
                if (!(b = found(lv, N_NAME, c->name, c->name_len)))
                        return fail(c, "name at 0x%" PRIx64 " unreadable", c->name);
                c->name = 0;
                if ((err = add_comp(w, c, (const char *)b, strnlen((const char *)b, c->name_len))))
                        return err;
        }
        if (c->dentry)
                err = visit(w, i, lv);
        /* Nothing more to read: the path is whole. */
        if (!err && c->state == WALKING && !c->dentry && !c->name)
                c->state = DONE;
        return err;
}

/* Every file's path, the files side by side: a batch per level. */
static struct bd_error *walk_paths(struct walker *w)
{
        struct level lv = {0};
        struct bd_error *err = NULL;
        for (int more = 1; more && !err;) {
                lv.n = 0;
                for (size_t i = 0; !err && i < w->out->n; i++) {
                        const struct cursor *c = &w->c[i];
                        if (c->inode)
                                err = need(&lv, N_INODE, c->inode, 0);
                        if (err || c->state != WALKING)
                                continue;
                        if (c->name)
                                err = need(&lv, N_NAME, c->name, c->name_len);
                        if (!err && c->dentry && c->need_mount)
                                err = need(&lv, N_MOUNT, c->mount, 0);
                        if (!err && c->dentry)
                                err = need(&lv, N_DENTRY, c->dentry, 0);
                }
                more = lv.n > 0;
                if (!err && more)
                        err = read_level(w->k, w->pl, &lv);
                for (size_t i = 0; !err && more && i < w->out->n; i++)
                        err = advance(w, i, &lv);
        }
        free(lv.need), free(lv.buf), free(lv.iov), free(lv.ok);
        return err;
}

/* The path d_path() gives file i into buf (RENDER_MAX bytes): its length,
 * or -1 when memory did not give it. */
static int render(const struct walker *w, size_t i, char *buf)
{
        const struct cursor *c = &w->c[i];
        const struct bd_file *f = &w->out->f[i];
        const struct comp *top = c->last >= 0 ? &w->comp[c->last] : NULL;
        if (c->state != DONE)
                return -1;
        if (c->pseudo == BD_PSEUDO_PIPEFS || c->pseudo == BD_PSEUDO_SOCKFS)
                return f->have_inode
                           ? snprintf(buf, RENDER_MAX, "%s:[%" PRIu64 "]",
                                      c->pseudo == BD_PSEUDO_PIPEFS ? "pipe" : "socket", f->ino)
                           : -1;
        if (c->pseudo == BD_PSEUDO_ANON_INODEFS)
                return f->anon != BD_ANON_OTHER
                           ? snprintf(buf, RENDER_MAX, "anon_inode:[%s]",
                                      bd_file_anon_name(f->anon))
                           : snprintf(buf, RENDER_MAX, "anon_inode:%.*s", top ? (int)top->len : 0,
                                      top ? w->names + top->off : "");
        int len = 0;
        for (int64_t j = c->last; j >= 0; j = w->comp[j].prev) {
                buf[len++] = '/';
                memcpy(buf + len, w->names + w->comp[j].off, w->comp[j].len);
                len += (int)w->comp[j].len;
        }
        if (!len)
                buf[len++] = '/';
        return len + snprintf(buf + len, RENDER_MAX - (size_t)len, "%s", c->deleted ? DELETED : "");
}

/* The paths and errors into one block the files point into. */
static struct bd_error *assemble(struct walker *w)
{
        struct bd_files *fs = w->out;
        size_t *at = calloc(2 * fs->n + 1, sizeof(*at)); /* offset + 1, 0: none */
        char *buf = malloc(RENDER_MAX);
        size_t len = 0, cap = 0;
        if (!at || !buf) {
                free(at), free(buf);
                return &bd_error_nomem;
        }
        for (size_t i = 0; i < fs->n; i++) {
                int plen = render(w, i, buf);
                size_t elen = strlen(w->c[i].error);
                size_t more = (plen >= 0 ? (size_t)plen + 1 : 0) + (elen ? elen + 1 : 0);
                if (bd_grow((void **)&fs->text, &cap, len + more, 1, 4096)) {
                        free(at), free(buf);
                        return &bd_error_nomem;
                }
                if (plen >= 0) {
                        at[2 * i] = len + 1;
                        memcpy(fs->text + len, buf, (size_t)plen + 1);
                        len += (size_t)plen + 1;
                }
                if (elen) {
                        at[2 * i + 1] = len + 1;
                        memcpy(fs->text + len, w->c[i].error, elen + 1);
                        len += elen + 1;
                }
        }
        for (size_t i = 0; i < fs->n; i++) {
                fs->f[i].path = at[2 * i] ? fs->text + at[2 * i] - 1 : NULL;
                fs->f[i].error = at[2 * i + 1] ? fs->text + at[2 * i + 1] - 1 : NULL;
        }
        free(at), free(buf);
        return NULL;
}

/* A walk up from dentry on the mount at mount. */
static void start(struct cursor *c, uint64_t mount, uint64_t dentry)
{
        c->dentry = c->saved_dentry = dentry;
        c->mount = c->saved_mount = mount;
        c->power = 1;
        c->leaf = c->need_mount = 1;
        c->state = WALKING;
}

/* Paths given as (vfsmount, dentry): each walk set up, nothing to read. */
static void start_paths(struct walker *w, const struct table *t)
{
        const struct plan *pl = w->pl;
        for (size_t i = 0; i < t->n; i++) {
                const struct bd_path_ref *p = &t->path[i];
                struct bd_file *f = &w->out->f[i];
                struct cursor *c = &w->c[i];
                *f = (struct bd_file){.fd = t->fd[i], .mnt_id = -1};
                c->pseudo = NOT_PSEUDO;
                c->last = -1;
                c->inode_of_leaf = 1;
                if (!bd_walk_kptr_ok(w->k, p->mnt, 8) || !bd_walk_kptr_ok(w->k, p->dentry, 8) ||
                    !bd_walk_kptr_ok(w->k, p->mnt - (uint64_t)pl->mnt, 8))
                        fail(c,
                             "path: mount 0x%" PRIx64 " or dentry 0x%" PRIx64
                             " is not a kernel address",
                             p->mnt, p->dentry);
                else
                        start(c, p->mnt - (uint64_t)pl->mnt, p->dentry);
        }
        w->out->n = t->n;
}

/* Every open file's fields in one batch; each file's walk set up. */
static struct bd_error *read_files(struct walker *w, const struct table *t)
{
        if (t->path) {
                start_paths(w, t);
                return NULL;
        }
        const struct plan *pl = w->pl;
        const struct bd_gather *g = &pl->g_file;
        struct bd_files *fs = w->out;
        uint8_t *copies = calloc(t->n + 1, g->copy_size);
        struct bd_kernel_iov *iov = calloc(t->n * g->n + 1, sizeof(*iov));
        uint8_t *ok = calloc(t->n + 1, 1);
        size_t *who = calloc(t->n + 1, sizeof(*who));
        struct bd_error *err = NULL;
        if (!copies || !iov || !ok || !who) {
                err = &bd_error_nomem;
                goto out;
        }
        size_t m = 0;
        for (size_t i = 0; i < t->n; i++) {
                /* NULL: an fd reserved but not yet installed, which /proc
                 * does not list either. */
                if (!t->file[i])
                        continue;
                struct bd_file *f = &fs->f[fs->n];
                struct cursor *c = &w->c[fs->n];
                *f = (struct bd_file){.fd = t->fd[i], .file = t->file[i], .mnt_id = -1};
                c->pseudo = NOT_PSEUDO;
                c->last = -1;
                if (t->cloexec[i])
                        f->flags = BD_O_CLOEXEC;
                if (bd_walk_kptr_ok(w->k, t->file[i], 8)) {
                        who[m] = fs->n;
                        bd_gather_iov(g, t->file[i], copies + m * g->copy_size, iov + m * g->n);
                        m++;
                } else {
                        fail(c, "struct file pointer 0x%" PRIx64 " is not a kernel address",
                             t->file[i]);
                }
                fs->n++;
        }
        if ((err = bd_gather_read(w->k, iov, m, g->n, ok)))
                goto out;
        for (size_t j = 0; j < m; j++) {
                struct bd_file *f = &fs->f[who[j]];
                struct cursor *c = &w->c[who[j]];
                const uint8_t *b = copies + j * g->copy_size;
                if (!ok[j]) {
                        fail(c, "struct file at 0x%" PRIx64 " unreadable", f->file);
                        continue;
                }
                f->have_file = 1;
                f->flags |= (uint32_t)bd_gather_value(g, b, pl->file[F_FLAGS], 4);
                f->mode = (uint32_t)bd_gather_value(g, b, pl->file[F_MODE], 4);
                f->pos = (int64_t)bd_gather_value(g, b, pl->file[F_POS], 8);
                f->owner_pid = bd_gather_value(g, b, pl->file[F_OWNER], 8);
                f->private_data = bd_gather_value(g, b, pl->file[F_PRIVATE], 8);
                f->anon = anon_of(w->syms, bd_gather_value(g, b, pl->file[F_OP], 8));
                uint64_t mnt = bd_gather_value(g, b, pl->file[F_MNT], 8);
                uint64_t dentry = bd_gather_value(g, b, pl->file[F_DENTRY], 8);
                uint64_t inode = bd_gather_value(g, b, pl->file[F_INODE], 8);
                if (bd_walk_kptr_ok(w->k, inode, 8))
                        c->inode = inode;
                else
                        note(c, "inode pointer 0x%" PRIx64 " is not a kernel address", inode);
                if (!bd_walk_kptr_ok(w->k, mnt, 8) || !bd_walk_kptr_ok(w->k, dentry, 8) ||
                    !bd_walk_kptr_ok(w->k, mnt - (uint64_t)pl->mnt, 8)) {
                        fail(c,
                             "struct file at 0x%" PRIx64 ": mount 0x%" PRIx64
                             " or dentry 0x%" PRIx64 " is not a kernel address",
                             f->file, mnt, dentry);
                        continue;
                }
                start(c, mnt - (uint64_t)pl->mnt, dentry);
        }
out:
        free(copies), free(iov), free(ok), free(who);
        return err;
}

/* What an open file costs while it is read and kept, its path's names
 * aside (add_comp counts those): the file, its walk, its fields, and at
 * one level of the walk its inode, mount, dentry and a name with their
 * reads. */
static uint64_t file_cost(const struct plan *pl)
{
        size_t spans = pl->g_file.n + pl->g_inode.n + pl->g_mount.n + pl->g_dentry.n + 1;
        return sizeof(struct bd_file) + sizeof(struct cursor) + sizeof(int32_t) + sizeof(uint64_t) +
               1 + pl->g_file.copy_size + pl->g_inode.copy_size + pl->g_mount.copy_size +
               pl->g_dentry.copy_size + BD_NAME_MAX + 4 * sizeof(struct need) +
               spans * (sizeof(struct bd_kernel_iov) + 1);
}

/* The files of table t (read from a files_struct, or given), described;
 * the cost counts from st, started before t was read. Frees t. */
static struct bd_error *describe(struct bd_kernel *k, const struct plan *pl,
                                 const struct bd_files_syms *syms, uint64_t budget,
                                 const struct bd_reads *st, struct table *t, struct bd_files **out)
{
        struct bd_files *fs = calloc(1, sizeof(*fs));
        struct walker w = {.k = k, .pl = pl, .syms = syms, .budget = budget, .out = fs};
        w.held = t->n * file_cost(pl);
        if (fs) {
                fs->st = *st;
                fs->max_fds = t->max_fds;
                fs->f = calloc(t->n + 1, sizeof(*fs->f));
        }
        w.c = calloc(t->n + 1, sizeof(*w.c));
        struct bd_error *err = fs && fs->f && w.c ? NULL : &bd_error_nomem;
        if (!err && !(err = read_files(&w, t)) && !(err = walk_paths(&w)))
                err = assemble(&w);
        free(w.c), free(w.names), free(w.comp);
        table_free(t);
        if (fs)
                bd_reads_stop(&fs->st, k->phys);
        if (err) {
                bd_files_free(fs);
                return err;
        }
        *out = fs;
        return NULL;
}

struct bd_error *bd_files_from_table(struct bd_kernel *k, const struct bd_layout *l,
                                     const struct bd_files_syms *syms, uint64_t files,
                                     uint64_t budget, struct bd_files **out)
{
        struct plan pl;
        struct bd_error *err = make_plan(l, &pl);
        if (err)
                return err;
        struct table t = {0};
        struct bd_reads st;
        bd_reads_start(&st, k->phys);
        if ((err = read_table(k, &pl, files, budget, file_cost(&pl), &t))) {
                table_free(&t);
                return err;
        }
        return describe(k, &pl, syms, budget, &st, &t, out);
}

/* A symbol's address, 0 for one the kernel lacks: its files then go
 * unnamed as what they are. */
static uint64_t symbol_or_0(struct bd_program *prog, const char *name)
{
        uint64_t addr;
        struct bd_error *err = bd_program_symbol(prog, name, &addr);
        if (!err)
                return addr;
        bd_error_destroy(err);
        return 0;
}

static void find_syms(struct bd_program *prog, struct bd_files_syms *s)
{
        static const char *const fops[BD_ANON_COUNT] = {NULL, "eventpoll_fops", "eventfd_fops",
                                                        "signalfd_fops", "timerfd_fops"};
        static const char *const dops[BD_PSEUDO_COUNT] = {"pipefs_dentry_operations",
                                                          "sockfs_dentry_operations",
                                                          "anon_inodefs_dentry_operations"};
        memset(s, 0, sizeof(*s));
        for (int i = BD_ANON_OTHER + 1; i < BD_ANON_COUNT; i++)
                s->fops[i] = symbol_or_0(prog, fops[i]);
        for (int i = 0; i < BD_PSEUDO_COUNT; i++)
                s->dops[i] = symbol_or_0(prog, dops[i]);
}

struct bd_error *bd_files_read(struct bd_program *prog, int32_t pid, struct bd_files **out)
{
        const struct bd_layout *l;
        uint64_t files = 0;
        struct bd_error *err = bd_program_layout(prog, &l);
        if (!err)
                err = bd_task_pointer(prog, pid, BDL_TASK_FILES, &files);
        if (err)
                return bd_error_wrap(err, "files");
        if (!files) { /* exit_files() has run: a zombie */
                *out = calloc(1, sizeof(**out));
                return *out ? NULL : &bd_error_nomem;
        }
        struct bd_files_syms s;
        find_syms(prog, &s);
        err = bd_files_from_table(prog->k, l, &s, files, bd_budget(prog, BD_FILES_BUDGET), out);
        return err ? bd_error_wrap(err, "files: pid %d", pid) : NULL;
}

/* Files or paths given, not found in a table: entry i as fd i. */
static struct bd_error *given(struct bd_program *prog, const uint64_t *file,
                              const struct bd_path_ref *path, size_t n, struct bd_files **out)
{
        const struct bd_layout *l;
        struct plan pl;
        struct bd_error *err = bd_program_layout(prog, &l);
        if (!err)
                err = make_plan(l, &pl);
        if (err)
                return err;
        uint64_t budget = bd_budget(prog, BD_FILES_BUDGET);
        if ((err = bd_budget_check(n, file_cost(&pl), budget, "open files")))
                return err;
        struct bd_files_syms s;
        find_syms(prog, &s);
        struct bd_reads st;
        bd_reads_start(&st, prog->phys);
        struct table t = {.n = n,
                          .fd = calloc(n + 1, sizeof(*t.fd)),
                          .file = calloc(n + 1, sizeof(*t.file)),
                          .cloexec = calloc(n + 1, 1),
                          .path = path};
        if (!t.fd || !t.file || !t.cloexec) {
                table_free(&t);
                return &bd_error_nomem;
        }
        for (size_t i = 0; i < n; i++) {
                t.fd[i] = (int32_t)i;
                t.file[i] = file ? file[i] : 0;
        }
        return describe(prog->k, &pl, &s, budget, &st, &t, out);
}

struct bd_error *bd_files_of(struct bd_program *prog, const uint64_t *file, size_t n,
                             struct bd_files **out)
{
        return given(prog, file, NULL, n, out);
}

struct bd_error *bd_paths_of(struct bd_program *prog, const struct bd_path_ref *path, size_t n,
                             struct bd_files **out)
{
        return given(prog, NULL, path, n, out);
}

void bd_files_free(struct bd_files *f)
{
        if (f) {
                free(f->f);
                free(f->text);
                free(f);
        }
}

void bd_file_flags_text(uint32_t flags, char *buf, size_t cap)
{
        /* include/uapi/asm-generic/fcntl.h, as x86-64 has them. */
        static const struct {
                uint32_t bit;
                const char *name;
        } names[] = {
            {0100, "O_CREAT"},        {0200, "O_EXCL"},         {0400, "O_NOCTTY"},
            {01000, "O_TRUNC"},       {02000, "O_APPEND"},      {04000, "O_NONBLOCK"},
            {010000, "O_DSYNC"},      {020000, "O_ASYNC"},      {040000, "O_DIRECT"},
            {0100000, "O_LARGEFILE"}, {0200000, "O_DIRECTORY"}, {0400000, "O_NOFOLLOW"},
            {01000000, "O_NOATIME"},  {02000000, "O_CLOEXEC"},  {04000000, "O_SYNC"},
            {010000000, "O_PATH"},    {020000000, "O_TMPFILE"},
        };
        static const char *const access[] = {"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"};
        size_t len = (size_t)snprintf(buf, cap, "%s", access[flags & 3]);
        uint32_t rest = flags & ~3u;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (!(rest & names[i].bit))
                        continue;
                rest &= ~names[i].bit;
                if (len < cap)
                        len += (size_t)snprintf(buf + len, cap - len, "|%s", names[i].name);
        }
        if (rest && len < cap)
                snprintf(buf + len, cap - len, "|0%o", rest);
}

void bd_file_mode_text(uint32_t mode, char buf[11])
{
        /* fs/proc/fd.c: the link's owner may read and search it as the
         * file was opened. */
        int r = !!(mode & BD_FMODE_READ), w = !!(mode & BD_FMODE_WRITE);
        snprintf(buf, 11, "l%c%c%c------", r ? 'r' : '-', w ? 'w' : '-', r || w ? 'x' : '-');
}

const char *bd_file_kind_name(enum bd_file_kind kind)
{
        static const char *const names[] = {"unknown", "regular",   "dir",  "char",
                                            "block",   "fifo",      "pipe", "socket",
                                            "symlink", "anon_inode"};
        return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "unknown";
}

const char *bd_file_anon_name(enum bd_anon anon)
{
        static const char *const names[BD_ANON_COUNT] = {NULL, "eventpoll", "eventfd", "signalfd",
                                                         "timerfd"};
        return (unsigned)anon < BD_ANON_COUNT ? names[anon] : NULL;
}
