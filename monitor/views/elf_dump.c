#include "elf_dump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (4u << 20)

static size_t align4(size_t n)
{
        return (n + 3) & ~(size_t)3;
}

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

struct bd_error *bd_elf_dump(struct bd_phys *p, const struct bd_vmcoreinfo *vi, const char *path,
                             void (*progress)(uint64_t done, uint64_t total))
{
        unsigned nload = p->nwindows, nph = nload + (vi != NULL);
        static const char note_name[] = "VMCOREINFO";
        size_t note_size =
            vi ? sizeof(Elf64_Nhdr) + align4(sizeof(note_name)) + align4(vi->len) : 0;
        uint64_t off = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr) + note_size;
        off = (off + 4095) & ~4095ull; /* page-aligned data, as kdump writes it */

        Elf64_Ehdr eh;
        bd_elf_core_header(&eh, nph);

        Elf64_Phdr ph[BD_MAX_WINDOWS + 1];
        memset(ph, 0, sizeof(ph));
        unsigned i = 0;
        if (vi) {
                ph[i].p_type = PT_NOTE;
                ph[i].p_offset = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
                ph[i].p_filesz = ph[i].p_memsz = note_size;
                i++;
        }
        uint64_t total = 0;
        for (unsigned w = 0; w < nload; w++, i++) {
                ph[i].p_type = PT_LOAD;
                ph[i].p_flags = PF_R | PF_W | PF_X;
                ph[i].p_offset = off;
                ph[i].p_paddr = p->windows[w].base;
                ph[i].p_filesz = ph[i].p_memsz = p->windows[w].length;
                ph[i].p_align = 4096;
                off += p->windows[w].length;
                total += p->windows[w].length;
        }

        char tmp[4200];
        snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
        FILE *f = fopen(tmp, "wb");
        if (!f)
                return bd_error_new(BD_ERR_IO, "dump: %s: %s", tmp, strerror(errno));
        int bad = fwrite(&eh, sizeof(eh), 1, f) != 1 || fwrite(ph, sizeof(ph[0]), nph, f) != nph;
        if (vi && !bad) {
                Elf64_Nhdr nh = {sizeof(note_name), (Elf64_Word)vi->len, 0};
                char pad[4] = {0};
                bad = fwrite(&nh, sizeof(nh), 1, f) != 1 ||
                      fwrite(note_name, sizeof(note_name), 1, f) != 1 ||
                      fwrite(pad, align4(sizeof(note_name)) - sizeof(note_name), 1, f) > 1 ||
                      fwrite(vi->text, vi->len, 1, f) != 1 ||
                      fwrite(pad, align4(vi->len) - vi->len, 1, f) > 1;
        }
        uint8_t *buf = malloc(CHUNK);
        struct bd_error *err = buf ? NULL : &bd_error_nomem;
        uint64_t done = 0;
        for (unsigned w = 0; w < nload && !err && !bad; w++) {
                unsigned k = w + (vi != NULL);
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
        if (fclose(f))
                bad = 1;
        if (!err && !bad && rename(tmp, path))
                bad = 1;
        if (err || bad) {
                int e = errno;
                unlink(tmp);
                return err ? bd_error_wrap(err, "dump")
                           : bd_error_new(BD_ERR_IO, "dump: writing %s: %s", path, strerror(e));
        }
        return NULL;
}
