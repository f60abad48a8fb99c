/* Write a target's physical memory as an ELF vmcore (ET_CORE, one PT_LOAD
 * per window, VMCOREINFO as a PT_NOTE when found): what kdump would have
 * saved, taken from outside, readable by bdmon --source file: and by crash
 * and drgn. */
#ifndef BD_ELF_DUMP_H
#define BD_ELF_DUMP_H

#include <elf.h>
#include <stdint.h>

#include "../source/phys.h"
#include "../kernel/vmcoreinfo.h"

/* The ELF header of an x86-64 little-endian core file whose nph program
 * headers follow it directly. */
void bd_elf_core_header(Elf64_Ehdr *eh, unsigned nph);

/* vi may be NULL (no note). progress, if set, gets bytes done and total. */
struct bd_error *bd_elf_dump(struct bd_phys *p, const struct bd_vmcoreinfo *vi, const char *path,
                             void (*progress)(uint64_t done, uint64_t total));

#endif
