/* Write a target's physical memory as an ELF vmcore laid out as the
 * kernel's own crash dump code lays out /proc/vmcore: one PT_NOTE (an
 * NT_PRSTATUS per CPU, then VMCOREINFO), PT_LOADs for the kernel image at
 * its virtual address (sharing the file bytes of the RAM segments that
 * hold it), then the RAM at its direct-map address: one PT_LOAD per
 * window, or, filtered, per run of kept pages, as makedumpfile -E writes
 * them: a run's zero pages at its end are in p_memsz only (read as zeros),
 * the pages a filter left out are in no segment. What kdump would have
 * saved, taken from outside, readable by crash and drgn, and unfiltered
 * by bdmon --source file: (which takes 16 segments at most).
 *
 * The headers are written first, then the pages in file order, so a run
 * that stops leaves a partial file whose length says how far it got:
 * --resume goes on from there, with the headers it was started with. */
#ifndef BD_ELF_DUMP_H
#define BD_ELF_DUMP_H

#include <elf.h>
#include <stdint.h>
#include <stdio.h>

#include "../source/phys.h"
#include "dump_pages.h"
#include "vmcore.h"

/* The ELF header of an x86-64 little-endian core file whose nph program
 * headers follow it directly. */
void bd_elf_core_header(Elf64_Ehdr *eh, unsigned nph);

/* d may be NULL (no kernel found: physical segments and no note). */
struct bd_error *bd_elf_dump(struct bd_phys *p, const struct bd_vmcore_desc *d,
                             const struct bd_dump_options *o, struct bd_dump_stats *st);

#endif
