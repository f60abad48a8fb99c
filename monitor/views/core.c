#include "core.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../kernel/pgtable.h"
#include "core_notes.h"
#include "elf_dump.h"
#include "tasks.h"
#include "threads.h"
#include "user_mem.h"
#include "vmas.h"
#include "../walk/walk.h"

struct core {
        struct bd_program *prog;
        const struct bd_layout *l;
        struct bd_threads *ts;
        int32_t pid;
        struct bd_core_stats *st;
};

/* Process-wide notes: NT_PRPSINFO, NT_AUXV. */
static struct bd_error *process_notes(struct core *c, const struct bd_user_mm *um,
                                      struct bd_core_notes *notes, uint64_t *vdso)
{
        struct bd_program *prog = c->prog;
        const struct bd_thread *t = &c->ts->t[0];
        int64_t auxv, arg_start, arg_end, vdso_off, uid, gid;
        struct bd_error *err = bd_layout_get(c->l, BDL_MM_SAVED_AUXV, &auxv);
        if (!err)
                err = bd_layout_get_sized(c->l, BDL_MM_ARG_START, 8, &arg_start);
        if (!err)
                err = bd_layout_get_sized(c->l, BDL_MM_ARG_END, 8, &arg_end);
        if (!err)
                err = bd_layout_get_sized(c->l, BDL_MM_VDSO, 8, &vdso_off);
        if (!err)
                err = bd_layout_get_sized(c->l, BDL_CRED_UID, 4, &uid);
        if (!err)
                err = bd_layout_get_sized(c->l, BDL_CRED_GID, 4, &gid);
        if (err)
                return err;
        int64_t auxv_size = c->l->e[BDL_MM_SAVED_AUXV].size;
        if (auxv_size < 16 || auxv_size > 4096 || auxv_size % 16)
                return bd_error_new(BD_ERR_PROTOCOL, "mm_struct.saved_auxv is %lld bytes",
                                    (long long)auxv_size);
        uint64_t av[512], args[2];
        struct bd_core_prpsinfo ps = {0};
        if (!bd_walk_kptr_ok(prog->k, t->real_cred, 8))
                return bd_error_new(BD_ERR_PROTOCOL, "pid %d: cred pointer 0x%" PRIx64, c->pid,
                                    t->real_cred);
        struct bd_kernel_iov iov[] = {
            {t->mm + (uint64_t)auxv, av, (size_t)auxv_size},
            {t->mm + (uint64_t)arg_start, &args[0], 8},
            {t->mm + (uint64_t)arg_end, &args[1], 8},
            {t->mm + (uint64_t)vdso_off, vdso, 8},
            {t->real_cred + (uint64_t)uid, &ps.uid, 4},
            {t->real_cred + (uint64_t)gid, &ps.gid, 4},
        };
        if ((err = bd_walk_read(prog->k, iov, 6, "mm_struct")))
                return err;
        size_t n = bd_core_auxv_words(av, (size_t)auxv_size / 8);
        if ((err = bd_core_note_add(notes, "CORE", NT_AUXV, av, n * 8)))
                return err;
        ps.state = bd_task_state_char(t->state, 0);
        ps.nice = t->static_prio - 120;
        ps.flags = t->flags;
        ps.pid = t->tgid;
        ps.ppid = t->ppid;
        memcpy(ps.fname, t->comm, sizeof(ps.fname));
        ps.fname[15] = 0;
        /* The command line is user memory: a page not there leaves it
         * empty, as the kernel's own dump would not. */
        if (args[1] > args[0]) {
                size_t len = args[1] - args[0] < sizeof(ps.psargs) - 1 ? args[1] - args[0]
                                                                       : sizeof(ps.psargs) - 1;
                struct bd_error *e = bd_user_read(prog, um, args[0], ps.psargs, len);
                if (e) {
                        if (bd_err_fatal(e))
                                return e;
                        bd_error_destroy(e);
                        memset(ps.psargs, 0, sizeof(ps.psargs));
                }
                for (size_t i = 0; i + 1 < len; i++)
                        if (!ps.psargs[i])
                                ps.psargs[i] = ' ';
        }
        uint8_t d[BD_PRPSINFO_SIZE];
        bd_core_prpsinfo_encode(&ps, d);
        return bd_core_note_add(notes, "CORE", NT_PRPSINFO, d, sizeof(d));
}

/* NT_PRSTATUS into status, NT_FPREGSET and NT_X86_XSTATE into fpu. */
static struct bd_error *thread_notes(struct core *c, size_t i, struct bd_core_notes *status,
                                     struct bd_core_notes *fpu)
{
        const struct bd_thread *t = &c->ts->t[i];
        struct bd_error *err = bd_thread_user_frame(t, c->pid);
        if (err)
                return err;
        uint8_t *xstate = malloc(c->ts->geometry.user_max_size);
        if (!xstate)
                return &bd_error_nomem;
        uint8_t fx[BD_FXSAVE_SIZE];
        err = bd_thread_xstate(c->ts, i, xstate, fx);
        if (err) {
                free(xstate);
                return err;
        }
        struct bd_core_prstatus pr = {
            .pid = t->pid,
            .ppid = t->ppid,
            .sigpend = t->pending,
            .sighold = t->blocked,
            .utime_ns = t->utime,
            .stime_ns = t->stime,
            .fs_base = t->fsbase,
            .gs_base = t->gsbase,
            .ds = t->ds,
            .es = t->es,
            .fs = t->fsindex,
            .gs = t->gsindex,
            .fpvalid = 1,
        };
        memcpy(pr.pt_regs, t->regs, BD_PT_REGS_SIZE);
        uint8_t d[BD_PRSTATUS_SIZE];
        bd_core_prstatus_encode(&pr, d);
        err = bd_core_note_add(status, "CORE", NT_PRSTATUS, d, sizeof(d));
        if (!err)
                err = bd_core_note_add(fpu, "CORE", NT_FPREGSET, fx, sizeof(fx));
        if (!err)
                err = bd_core_note_add(fpu, "LINUX", NT_X86_XSTATE, xstate,
                                       c->ts->geometry.user_max_size);
        free(xstate);
        return err;
}

/* Whether each shared file mapping's file is unlinked (i_nlink 0): shmem
 * of MAP_SHARED|MAP_ANONYMOUS and memfds, which a core holds. */
static struct bd_error *unlinked_files(struct core *c, const struct bd_vmas *vs, uint8_t *unlinked)
{
        struct bd_kernel *k = c->prog->k;
        int64_t f_inode, nlink;
        struct bd_error *err = bd_layout_get_sized(c->l, BDL_FILE_INODE, 8, &f_inode);
        if (!err)
                err = bd_layout_get_sized(c->l, BDL_INODE_NLINK, 4, &nlink);
        if (err)
                return err;
        uint64_t *inode = calloc(vs->n + 1, sizeof(*inode));
        uint32_t *count = calloc(vs->n + 1, sizeof(*count));
        struct bd_kernel_iov *iov = calloc(vs->n + 1, sizeof(*iov));
        if (!inode || !count || !iov) {
                err = &bd_error_nomem;
                goto out;
        }
        size_t m = 0;
        for (size_t i = 0; i < vs->n; i++)
                if ((vs->v[i].flags & BD_VM_SHARED) && bd_walk_kptr_ok(k, vs->v[i].file, 8))
                        iov[m++] =
                            (struct bd_kernel_iov){vs->v[i].file + (uint64_t)f_inode, &inode[i], 8};
        if (!m || (err = bd_walk_read(k, iov, m, "file")))
                goto out;
        m = 0;
        for (size_t i = 0; i < vs->n; i++)
                if (inode[i] && bd_walk_kptr_ok(k, inode[i], 8))
                        iov[m++] = (struct bd_kernel_iov){inode[i] + (uint64_t)nlink, &count[i], 4};
        if ((err = bd_walk_read(k, iov, m, "inode")))
                goto out;
        for (size_t i = 0; i < vs->n; i++)
                unlinked[i] = inode[i] && !count[i];
out:
        free(inode), free(count), free(iov);
        return err;
}

struct segment {
        uint64_t start, end, offset, filesz;
        uint32_t flags;
        enum bd_core_dump dump;
        /* Kernel memory behind pages the process never touched (the vDSO
         * image), len bytes of it; 0: none. */
        uint64_t backing, backing_len;
};

static struct bd_error *write_all(int fd, const void *p, size_t len, uint64_t off)
{
        const uint8_t *b = p;
        while (len) {
                ssize_t w = pwrite(fd, b, len, (off_t)off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return bd_error_new(BD_ERR_IO, "core: writing: %s",
                                            w < 0 ? strerror(errno) : "short write");
                b += w, len -= (size_t)w, off += (uint64_t)w;
        }
        return NULL;
}

/* One segment's pages on their way into the file. */
struct writer {
        struct core *c;
        const struct segment *sg;
        int fd;
        uint8_t page[4096];
};

/* Pages the process never touched that the kernel has a copy of. */
static struct bd_error *write_backing(struct writer *w, uint64_t va, uint64_t end)
{
        const struct segment *sg = w->sg;
        for (; va < end; va += 4096) {
                uint64_t at = va - sg->start;
                if (at >= sg->backing_len)
                        return NULL;
                size_t len = sg->backing_len - at < 4096 ? (size_t)(sg->backing_len - at) : 4096;
                struct bd_error *err =
                    bd_kernel_read(w->c->prog->k, sg->backing + at, w->page, len);
                if (!err)
                        err = write_all(w->fd, w->page, len, sg->offset + at);
                if (err)
                        return err;
                w->c->st->pages_read++;
                w->c->st->pages_zero--;
        }
        return NULL;
}

/* Present pages go where the segment puts them; the rest stays a hole
 * (zero) unless the kernel backs it. */
static struct bd_error *put_pages(void *arg, uint64_t va, const void *data, uint64_t len,
                                  enum bd_page_kind kind)
{
        struct writer *w = arg;
        struct bd_core_stats *st = w->c->st;
        switch (kind) {
        case BD_PAGE_DATA:
                st->pages_read += len / 4096;
                return write_all(w->fd, data, (size_t)len, w->sg->offset + (va - w->sg->start));
        case BD_PAGE_ZERO:
                st->pages_zero += len / 4096;
                return w->sg->backing ? write_backing(w, va, va + len) : NULL;
        case BD_PAGE_SWAPPED:
                st->pages_swapped += len / 4096;
                return NULL;
        case BD_PAGE_UNREADABLE:
                st->pages_unreadable += len / 4096;
                return NULL;
        }
        return NULL;
}

/* The first page of a mapping at file offset 0, kept if it is an ELF
 * header (gdb finds a library's build id there). */
static int elf_header_page(struct core *c, const struct bd_user_mm *um, uint64_t va)
{
        uint8_t magic[4];
        struct bd_error *err = bd_user_read(c->prog, um, va, magic, 4);
        if (err) {
                bd_error_destroy(err);
                return 0;
        }
        return !memcmp(magic, ELFMAG, SELFMAG);
}

static struct bd_error *write_file(struct core *c, const struct bd_user_mm *um,
                                   const struct bd_core_notes *notes, struct segment *seg,
                                   size_t nseg, const char *tmp,
                                   void (*progress)(uint64_t, uint64_t))
{
        size_t nph = nseg + 1;
        uint64_t notes_off = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
        uint64_t off = (notes_off + notes->len + 4095) & ~4095ull, total = 0;
        Elf64_Phdr *ph = calloc(nph, sizeof(*ph));
        if (!ph)
                return &bd_error_nomem;
        ph[0] = (Elf64_Phdr){
            .p_type = PT_NOTE, .p_offset = notes_off, .p_filesz = notes->len, .p_align = 4};
        for (size_t i = 0; i < nseg; i++) {
                seg[i].offset = off;
                ph[i + 1] = (Elf64_Phdr){.p_type = PT_LOAD,
                                         .p_flags = seg[i].flags,
                                         .p_offset = off,
                                         .p_vaddr = seg[i].start,
                                         .p_filesz = seg[i].filesz,
                                         .p_memsz = seg[i].end - seg[i].start,
                                         .p_align = 4096};
                off += seg[i].filesz;
                total += seg[i].filesz;
        }
        Elf64_Ehdr eh;
        bd_elf_core_header(&eh, (unsigned)(nph < PN_XNUM ? nph : PN_XNUM));
        struct bd_error *err = NULL;
        if (nph >= PN_XNUM) {
                err = bd_error_new(BD_ERR_RANGE, "core: %zu segments, more than ELF's %d", nph,
                                   PN_XNUM - 1);
                goto out;
        }
        struct writer w = {.c = c};
        w.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (w.fd < 0) {
                err = bd_error_new(BD_ERR_IO, "core: %s: %s", tmp, strerror(errno));
                goto out;
        }
        if (ftruncate(w.fd, (off_t)off)) {
                err = bd_error_new(BD_ERR_IO, "core: %s: %s", tmp, strerror(errno));
        } else if (!(err = write_all(w.fd, &eh, sizeof(eh), 0)) &&
                   !(err = write_all(w.fd, ph, nph * sizeof(*ph), sizeof(eh))) &&
                   !(err = write_all(w.fd, notes->buf, notes->len, notes_off))) {
                uint64_t done = 0;
                struct bd_user_pages *pages = NULL;
                struct bd_pgtable_range *rg = calloc(nseg + 1, sizeof(*rg));
                size_t nrg = 0;
                for (size_t i = 0; rg && i < nseg; i++)
                        if (seg[i].filesz)
                                rg[nrg++] = (struct bd_pgtable_range){seg[i].start,
                                                                      seg[i].start + seg[i].filesz};
                err = rg ? bd_user_pages_new(c->prog, um, &pages) : &bd_error_nomem;
                if (!err)
                        err = bd_user_pages_prefetch(pages, rg, nrg);
                free(rg);
                for (size_t i = 0; !err && i < nseg; i++) {
                        w.sg = &seg[i];
                        /* w follows the segment: each one's batch ends
                         * with it. */
                        if (seg[i].filesz)
                                err =
                                    bd_user_pages_read(pages, seg[i].start,
                                                       seg[i].start + seg[i].filesz, put_pages, &w);
                        if (!err)
                                err = bd_user_pages_flush(pages);
                        done += seg[i].filesz;
                        if (progress)
                                progress(done, total);
                }
                bd_user_pages_free(pages);
                if (!err && fsync(w.fd))
                        err = bd_error_new(BD_ERR_IO, "core: %s: %s", tmp, strerror(errno));
        }
        if (close(w.fd) && !err)
                err = bd_error_new(BD_ERR_IO, "core: %s: %s", tmp, strerror(errno));
        c->st->file_bytes = off;
out:
        free(ph);
        return err;
}

/* The kernel's 64-bit vDSO image, which the vDSO mapping shows: what a
 * process never touched of it is read there. */
static struct bd_error *vdso_backing(struct core *c, struct segment *sg)
{
        int64_t data, size;
        uint64_t image, v[2];
        struct bd_error *err = bd_layout_get_sized(c->l, BDL_VDSO_IMAGE_DATA, 8, &data);
        if (!err)
                err = bd_layout_get_sized(c->l, BDL_VDSO_IMAGE_SIZE, 8, &size);
        if (!err)
                err = bd_program_symbol(c->prog, "vdso_image_64", &image);
        if (err)
                return err;
        struct bd_kernel_iov iov[] = {{image + (uint64_t)data, &v[0], 8},
                                      {image + (uint64_t)size, &v[1], 8}};
        if ((err = bd_walk_read(c->prog->k, iov, 2, "vdso_image_64")))
                return err;
        if (!bd_walk_kptr_ok(c->prog->k, v[0], 4096) || v[1] > sg->end - sg->start)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "vdso_image_64: data 0x%" PRIx64 ", %" PRIu64
                                    " bytes for a %" PRIu64 "-byte mapping",
                                    v[0], v[1], sg->end - sg->start);
        sg->backing = v[0];
        sg->backing_len = v[1];
        return NULL;
}

static struct bd_error *plan_segments(struct core *c, const struct bd_user_mm *um,
                                      const struct bd_vmas *vs, uint64_t vdso, struct segment *seg,
                                      struct bd_core_notes *notes)
{
        uint8_t *unlinked = calloc(vs->n + 1, 1);
        struct bd_core_file_map *fm = calloc(vs->n + 1, sizeof(*fm));
        struct bd_error *err = unlinked && fm ? NULL : &bd_error_nomem;
        if (!err)
                err = unlinked_files(c, vs, unlinked);
        size_t nfm = 0;
        uint64_t top = c->prog->k->levels == 5 ? 1ull << 56 : 1ull << 47;
        for (size_t i = 0; !err && i < vs->n; i++) {
                const struct bd_vma *v = &vs->v[i];
                if (v->start >= v->end || v->end > top || (v->start | v->end) & 4095 ||
                    (i && v->start < vs->v[i - 1].end)) {
                        err = bd_error_new(BD_ERR_PROTOCOL,
                                           "pid %d: VMA 0x%" PRIx64 "-0x%" PRIx64
                                           " is not a user range in order",
                                           c->pid, v->start, v->end);
                        break;
                }
                struct bd_core_vma_facts f = {.flags = v->flags,
                                              .pgoff = v->pgoff,
                                              .has_file = v->file != 0,
                                              .has_anon_vma = v->anon_vma != 0,
                                              .file_unlinked = unlinked[i],
                                              .is_vdso = vdso && v->start == vdso};
                seg[i] = (struct segment){
                    .start = v->start,
                    .end = v->end,
                    .flags = (v->flags & BD_VM_READ ? PF_R : 0) |
                             (v->flags & BD_VM_WRITE ? PF_W : 0) |
                             (v->flags & BD_VM_EXEC ? PF_X : 0),
                    .dump = bd_core_vma_dump(&f),
                };
                if (seg[i].dump == BD_CORE_WHOLE)
                        seg[i].filesz = v->end - v->start;
                if (f.is_vdso)
                        err = vdso_backing(c, &seg[i]);
                else if (seg[i].dump == BD_CORE_ELF_HEADER && elf_header_page(c, um, v->start))
                        seg[i].filesz = 4096;
                if (v->file)
                        fm[nfm++] = (struct bd_core_file_map){v->start, v->end, v->pgoff, v->name};
        }
        if (!err)
                err = bd_core_nt_file(fm, nfm, notes);
        free(unlinked);
        free(fm);
        return err;
}

struct bd_error *bd_core_write(struct bd_program *prog, int32_t pid, const char *path,
                               void (*progress)(uint64_t done, uint64_t total),
                               struct bd_core_stats *st)
{
        memset(st, 0, sizeof(*st));
        bd_reads_start(&st->reads, prog->phys);
        struct core c = {.prog = prog, .pid = pid, .st = st};
        struct bd_error *err = bd_program_layout(prog, &c.l);
        struct bd_user_mm um;
        struct bd_core_notes notes = {0};
        struct bd_vmas *vs = NULL;
        struct segment *seg = NULL;
        uint64_t vdso = 0;
        if (!err)
                err = bd_threads_read(prog, pid, bd_budget(prog, BD_CORE_BUDGET), &c.ts);
        if (!err)
                err = bd_user_mm_of_pid(prog, pid, &um);
        /* The kernel's order: the first thread's status, then the
         * process's notes, then its FPU state; the other threads after. */
        struct bd_core_notes first_fpu = {0};
        if (!err)
                err = thread_notes(&c, 0, &notes, &first_fpu);
        if (!err)
                err = process_notes(&c, &um, &notes, &vdso);
        if (!err)
                err = bd_vmas_read(prog, pid, &vs);
        if (!err && !(seg = calloc(vs->n + 1, sizeof(*seg))))
                err = &bd_error_nomem;
        if (!err)
                err = plan_segments(&c, &um, vs, vdso, seg, &notes);
        if (!err)
                err = bd_core_notes_append(&notes, &first_fpu);
        bd_core_notes_free(&first_fpu);
        for (size_t i = 1; !err && i < c.ts->n; i++)
                err = thread_notes(&c, i, &notes, &notes);
        if (!err && !(st->threads = calloc(c.ts->n, sizeof(*st->threads))))
                err = &bd_error_nomem;
        for (size_t i = 0; !err && i < c.ts->n; i++) {
                const struct bd_thread *t = &c.ts->t[i];
                st->threads[i] = (struct bd_core_thread){.tid = t->pid,
                                                         .on_cpu = t->on_cpu != 0,
                                                         .cpu = t->cpu,
                                                         .fpu_saved = bd_thread_fpu_saved(t)};
        }
        if (!err) {
                st->nthreads = c.ts->n;
                st->segments = (unsigned)vs->n;
                st->ppid = c.ts->t[0].ppid;
                memcpy(st->comm, c.ts->t[0].comm, 16);
                st->comm[16] = 0;
                char tmp[4200];
                snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
                err = write_file(&c, &um, &notes, seg, vs->n, tmp, progress);
                if (!err && rename(tmp, path))
                        err = bd_error_new(BD_ERR_IO, "core: %s: %s", path, strerror(errno));
                if (err)
                        unlink(tmp);
        }
        bd_threads_free(c.ts);
        free(seg);
        bd_vmas_free(vs);
        bd_core_notes_free(&notes);
        bd_reads_stop(&st->reads, prog->phys);
        if (err)
                return bd_error_wrap(err, "core of pid %d", pid);
        return NULL;
}

void bd_core_stats_free(struct bd_core_stats *st)
{
        free(st->threads);
        st->threads = NULL;
}
