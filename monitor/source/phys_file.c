/* A local file as a physical-memory source: a VM's RAM file (physical
 * address = file offset) or an ELF vmcore (PT_LOAD segments by p_paddr). */
#include <elf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/file_map.h"
#include "phys.h"
#include "phys_file.h"

/* Sources of one file share its mapping: a monitor that watches many
 * targets through one file (a fleet bench, or a RAM file under several
 * names) would otherwise map it once per target, each mapping with page
 * tables and page faults of its own. Keyed by the file and whether it is
 * writable; the last source to close unmaps it. */
struct shared_map {
        struct shared_map *next;
        struct bd_file_map map;
        unsigned users;
};
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shared_map *shared;

struct file_phys {
        struct bd_phys base;
        struct shared_map *shared;
        uint64_t file_offset[BD_MAX_WINDOWS];
};

/* m, just mapped, or the mapping of the same file already shared (m then
 * unmapped): NULL when there is no memory to share it. */
static struct shared_map *share_map(struct bd_file_map *m)
{
        pthread_mutex_lock(&shared_lock);
        struct shared_map *s = shared;
        while (s && (s->map.dev != m->dev || s->map.ino != m->ino ||
                     s->map.writable != m->writable || s->map.size != m->size))
                s = s->next;
        if (s) {
                bd_file_unmap(m);
        } else if ((s = calloc(1, sizeof(*s)))) {
                s->map = *m;
                s->next = shared;
                shared = s;
        }
        if (s)
                s->users++;
        pthread_mutex_unlock(&shared_lock);
        return s;
}

static void unshare_map(struct shared_map *s)
{
        pthread_mutex_lock(&shared_lock);
        if (!--s->users) {
                struct shared_map **at = &shared;
                while (*at != s)
                        at = &(*at)->next;
                *at = s->next;
                bd_file_unmap(&s->map);
                free(s);
        }
        pthread_mutex_unlock(&shared_lock);
}

static struct bd_error *file_read(struct bd_phys *p, const struct bd_phys_piece *pieces, size_t n)
{
        struct file_phys *f = (struct file_phys *)p;
        for (size_t i = 0; i < n; i++)
                memcpy(pieces[i].buf,
                       f->shared->map.data + f->file_offset[pieces[i].window] + pieces[i].offset,
                       pieces[i].len);
        p->round_trips++;
        return NULL;
}

static struct bd_error *file_cas(struct bd_phys *p, struct bd_phys_cas_piece *pieces, size_t n)
{
        struct file_phys *f = (struct file_phys *)p;
        for (size_t i = 0; i < n; i++) {
                struct bd_phys_cas_piece *pc = &pieces[i];
                uint64_t at = f->file_offset[pc->window] + pc->offset, v = pc->expect;
                if (at % 8) {
                        pc->state = BD_CAS_REFUSED;
                        return bd_error_new(BD_ERR_USAGE, "word not 8-byte aligned in the file");
                }
                __atomic_compare_exchange_n((uint64_t *)(void *)(f->shared->map.data + at), &v,
                                            pc->desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
                pc->found = v;
                pc->state = BD_CAS_ANSWERED;
        }
        return NULL;
}

static void file_close(struct bd_phys *p)
{
        struct file_phys *f = (struct file_phys *)p;
        unshare_map(f->shared);
        free(f);
}

static const struct bd_phys_ops file_ops = {
    .read = file_read, .cas = file_cas, .close = file_close};

static const struct bd_cas_method file_cas_method = {
    .how = "local",
    .why = "a locked compare-and-swap on the mapped file",
    .refused_why = "the monitor opened the file read-only (bdmon without --write)",
};

/* A kdump vmcore maps the kernel image a second time (its virtual
 * address, physical addresses inside a RAM segment): a segment whose
 * physical range lies within another's is that alias, not more memory. */
static void drop_aliases(struct bd_window_desc *windows, uint64_t *file_offset, unsigned *n)
{
        unsigned kept = 0;
        for (unsigned i = 0; i < *n; i++) {
                const struct bd_window_desc *a = &windows[i];
                int alias = 0;
                for (unsigned j = 0; j < *n && !alias; j++) {
                        const struct bd_window_desc *b = &windows[j];
                        int inside = a->base >= b->base && a->base - b->base <= b->length &&
                                     a->length <= b->length - (a->base - b->base);
                        /* Of two equal segments, the first is kept. */
                        alias = j != i && inside &&
                                (a->length != b->length || a->base != b->base || j < i);
                }
                if (!alias) {
                        windows[kept] = windows[i];
                        file_offset[kept++] = file_offset[i];
                }
        }
        *n = kept;
}

struct bd_error *bd_file_layout(const uint8_t *data, size_t size, struct bd_window_desc *windows,
                                uint64_t *file_offset, unsigned *nwindows)
{
        *nwindows = 0;
        if (size < sizeof(Elf64_Ehdr) || memcmp(data, ELFMAG, SELFMAG)) {
                windows[0] = (struct bd_window_desc){.name = "ram",
                                                     .base = 0,
                                                     .length = size,
                                                     .mode = BD_MODE_DIRECT,
                                                     .access = BD_ACCESS_RO};
                file_offset[0] = 0;
                *nwindows = 1;
                return NULL;
        }
        Elf64_Ehdr eh;
        memcpy(&eh, data, sizeof(eh));
        if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
            eh.e_type != ET_CORE)
                return bd_error_new(BD_ERR_TARGET, "ELF file is not a 64-bit little-endian core");
        if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > size ||
            (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff)
                return bd_error_new(BD_ERR_TARGET, "ELF program headers lie outside the file");
        for (unsigned i = 0; i < eh.e_phnum; i++) {
                Elf64_Phdr ph;
                memcpy(&ph, data + eh.e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
                if (ph.p_type != PT_LOAD || !ph.p_filesz)
                        continue;
                if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset ||
                    ph.p_paddr + ph.p_filesz < ph.p_paddr)
                        return bd_error_new(BD_ERR_TARGET, "ELF segment %u lies outside the file",
                                            i);
                if (*nwindows == BD_MAX_WINDOWS)
                        return bd_error_new(BD_ERR_TARGET,
                                            "ELF core has more than %d loadable segments",
                                            BD_MAX_WINDOWS);
                struct bd_window_desc *w = &windows[*nwindows];
                *w = (struct bd_window_desc){.base = ph.p_paddr,
                                             .length = ph.p_filesz,
                                             .mode = BD_MODE_DIRECT,
                                             .access = BD_ACCESS_RO};
                snprintf(w->name, sizeof(w->name), "load%u", i);
                file_offset[*nwindows] = ph.p_offset;
                (*nwindows)++;
        }
        if (!*nwindows)
                return bd_error_new(BD_ERR_TARGET, "ELF core has no loadable segments");
        drop_aliases(windows, file_offset, nwindows);
        return NULL;
}

struct bd_error *bd_phys_open_file(const char *path, int writable, struct bd_phys **out)
{
        struct bd_file_map m;
        struct bd_error *err = bd_file_map(path, writable ? BD_MAP_RW : BD_MAP_RO, &m);
        if (err)
                return err;
        struct file_phys *f = calloc(1, sizeof(*f));
        if (!f || !(f->shared = share_map(&m))) {
                bd_file_unmap(&m);
                free(f);
                return &bd_error_nomem;
        }
        f->base.ops = &file_ops;
        f->base.cas_method = &file_cas_method;
        err = bd_file_layout(f->shared->map.data, f->shared->map.size, f->base.windows,
                             f->file_offset, &f->base.nwindows);
        if (err) {
                file_close(&f->base);
                return bd_error_wrap(err, "%s", path);
        }
        for (unsigned i = 0; i < f->base.nwindows; i++)
                f->base.windows[i].access = writable ? BD_ACCESS_RW : BD_ACCESS_RO;
        /* A RAM file may be a running VM's memory; an ELF core is a moment. */
        f->base.still = f->shared->map.size >= sizeof(Elf64_Ehdr) &&
                        !memcmp(f->shared->map.data, ELFMAG, SELFMAG);
        snprintf(f->base.describe, sizeof(f->base.describe), "file %s", path);
        *out = &f->base;
        return NULL;
}
