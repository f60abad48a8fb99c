#include "elf_dump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (4u << 20)

void bd_elf_core_header(Elf64_Ehdr *eh, unsigned nph)
{
        memset(eh, 0, sizeof(*eh));
        memcpy(eh->e_ident, ELFMAG, SELFMAG);
        eh->e_ident[EI_CLASS] = ELFCLASS64;
        eh->e_ident[EI_DATA] = ELFDATA2LSB;
        eh->e_ident[EI_VERSION] = EV_CURRENT;
        eh->e_type = ET_CORE;
        eh->e_machine = EM_X86_64;
        eh->e_version = EV_CURRENT;
        eh->e_phoff = sizeof(Elf64_Ehdr);
        eh->e_ehsize = sizeof(Elf64_Ehdr);
        eh->e_phentsize = sizeof(Elf64_Phdr);
        eh->e_phnum = (uint16_t)nph;
}

/* The window that holds the kernel image whole, or -1. */
static int image_window(const struct bd_phys *p, const struct bd_vmcore_desc *d)
{
        for (unsigned w = 0; d && d->text_size && w < p->nwindows; w++)
                if (d->text_paddr >= p->windows[w].base &&
                    d->text_paddr - p->windows[w].base <= p->windows[w].length &&
                    d->text_size <= p->windows[w].length - (d->text_paddr - p->windows[w].base))
                        return (int)w;
        return -1;
}

struct bd_error *bd_elf_dump(struct bd_phys *p, const struct bd_vmcore_desc *d, const char *path,
                             void (*progress)(uint64_t done, uint64_t total))
{
        struct bd_core_notes notes = {0};
        struct bd_error *err = d ? bd_vmcore_notes(d, &notes) : NULL;
        if (err)
                return err;
        int iw = image_window(p, d);
        unsigned nload = p->nwindows, first = (notes.len > 0) + (iw >= 0);
        unsigned nph = first + nload;
        uint64_t off = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr) + notes.len;
        off = (off + 4095) & ~4095ull; /* page-aligned data, as kdump writes it */

        Elf64_Ehdr eh;
        bd_elf_core_header(&eh, nph);

        Elf64_Phdr ph[BD_MAX_WINDOWS + 2];
        memset(ph, 0, sizeof(ph));
        if (notes.len) {
                ph[0].p_type = PT_NOTE;
                ph[0].p_offset = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
                ph[0].p_filesz = notes.len;
        }
        uint64_t total = 0, direct = d ? d->direct_base : 0;
        for (unsigned w = 0; w < nload; w++) {
                Elf64_Phdr *q = &ph[first + w];
                q->p_type = PT_LOAD;
                q->p_flags = PF_R | PF_W | PF_X;
                q->p_offset = off;
                q->p_paddr = p->windows[w].base;
                q->p_vaddr = direct ? direct + p->windows[w].base : 0;
                q->p_filesz = q->p_memsz = p->windows[w].length;
                /* 0, as the kernel writes it: crash tells a kdump (whose
                 * VMCOREINFO it trusts for KASLR) from a netdump by it. */
                q->p_align = 0;
                off += p->windows[w].length;
                total += p->windows[w].length;
        }
        if (iw >= 0) { /* the RAM segment's bytes, seen at the image's address */
                Elf64_Phdr *q = &ph[first - 1];
                *q = ph[first + (unsigned)iw];
                q->p_offset += d->text_paddr - q->p_paddr;
                q->p_paddr = d->text_paddr;
                q->p_vaddr = d->text_vaddr;
                q->p_filesz = q->p_memsz = d->text_size;
        }

        char tmp[4200];
        snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
        FILE *f = fopen(tmp, "wb");
        if (!f) {
                bd_core_notes_free(&notes);
                return bd_error_new(BD_ERR_IO, "dump: %s: %s", tmp, strerror(errno));
        }
        int bad = fwrite(&eh, sizeof(eh), 1, f) != 1 || fwrite(ph, sizeof(ph[0]), nph, f) != nph ||
                  (notes.len && fwrite(notes.buf, notes.len, 1, f) != 1);
        bd_core_notes_free(&notes);
        uint8_t *buf = malloc(CHUNK);
        err = buf ? NULL : &bd_error_nomem;
        uint64_t done = 0;
        for (unsigned w = 0; w < nload && !err && !bad; w++) {
                unsigned k = first + w;
                if (fseeko(f, (off_t)ph[k].p_offset, SEEK_SET)) {
                        bad = 1;
                        break;
                }
                for (uint64_t at = 0; at < ph[k].p_filesz && !err && !bad;) {
                        size_t n =
                            ph[k].p_filesz - at < CHUNK ? (size_t)(ph[k].p_filesz - at) : CHUNK;
                        err = bd_phys_read(p, ph[k].p_paddr + at, buf, n);
                        bad = !err && fwrite(buf, 1, n, f) != n;
                        at += n;
                        done += n;
                        if (progress)
                                progress(done, total);
                }
        }
        free(buf);
        return bd_dump_file_finish(f, tmp, path, err, bad);
}

struct bd_error *bd_dump_file_finish(FILE *f, const char *tmp, const char *path,
                                     struct bd_error *err, int bad)
{
        if (fclose(f))
                bad = 1;
        if (!err && !bad && rename(tmp, path))
                bad = 1;
        if (!err && !bad)
                return NULL;
        int e = errno;
        unlink(tmp);
        return err ? bd_error_wrap(err, "dump")
                   : bd_error_new(BD_ERR_IO, "dump: writing %s: %s", path, strerror(e));
}
