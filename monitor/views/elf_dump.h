/* Write a target's physical memory as an ELF vmcore laid out as the
 * kernel's own crash dump code lays out /proc/vmcore: one PT_NOTE (an
 * NT_PRSTATUS per CPU, then VMCOREINFO), a PT_LOAD for the kernel image
 * at its virtual address (sharing the file bytes of the RAM segment that
 * holds it), then one PT_LOAD per window with its direct-map address.
 * What kdump would have saved, taken from outside, readable by bdmon
 * --source file: and by crash and drgn. */
#ifndef BD_ELF_DUMP_H
#define BD_ELF_DUMP_H

#include <elf.h>
#include <stdint.h>
#include <stdio.h>

#include "../source/phys.h"
#include "vmcore.h"

/* The ELF header of an x86-64 little-endian core file whose nph program
 * headers follow it directly. */
void bd_elf_core_header(Elf64_Ehdr *eh, unsigned nph);

/* d may be NULL (no kernel found: physical segments and no note);
 * progress, if set, gets bytes done and total. */
struct bd_error *bd_elf_dump(struct bd_phys *p, const struct bd_vmcore_desc *d, const char *path,
                             void (*progress)(uint64_t done, uint64_t total));

/* The end of a dump written under the temporary name tmp: closed, then
 * renamed to path whole, or removed when err is set (returned, wrapped)
 * or a write failed (bad: an I/O error naming path). */
struct bd_error *bd_dump_file_finish(FILE *f, const char *tmp, const char *path,
                                     struct bd_error *err, int bad);

#endif
