/* What turns a physical dump into a vmcore that crash and drgn open the way
 * they open the kernel's own (/proc/vmcore, kdump): the kernel image's
 * mapping and the direct map as virtual addresses of the PT_LOADs, and an
 * NT_PRSTATUS note per CPU before the VMCOREINFO note.
 *
 * The kernel fills its per-cpu crash notes only when a crash kernel is
 * loaded, which a machine watched by Backdoors need not have; so the notes
 * are made from what the monitor can recover: each CPU's current task (its
 * pid in pr_pid, 0 for the idle task), and registers when the kernel
 * panicked: for the panicking CPU, ip at the return address of panic()'s
 * last call, sp just above it (where the unwinder finds panic's frame),
 * the rest zero; for each other CPU, the pt_regs its interrupt entry saved
 * when panic()'s stop IPI reached it (found through its hardirq stack,
 * which holds the stack pointer it left), so a reader unwinds what it was
 * running. A live kernel's CPUs are running: their notes carry no
 * registers (crash and drgn then search or refuse their stacks). */
#ifndef BD_VMCORE_H
#define BD_VMCORE_H

#include <stdint.h>

#include "../kernel/program.h"
#include "core_notes.h"

struct bd_vmcore_desc {
        const struct bd_vmcoreinfo *vi;
        /* The kernel image (_text.._end): its virtual and physical start;
         * size 0 if kallsyms could not say. */
        uint64_t text_vaddr, text_paddr, text_size;
        uint64_t direct_base;           /* page_offset_base; 0: physical only */
        struct bd_core_notes cpu_notes; /* NT_PRSTATUS per CPU, may be empty */
        unsigned ncpus;
        int panic_cpu;         /* -1: no panic */
        int panic_regs;        /* the panicking CPU's registers were found */
        unsigned stopped_regs; /* other CPUs' registers found (see above) */
        /* init_uts_ns.name (sysname, nodename, release, version, machine,
         * domainname), for the kdump header; the release alone, from
         * VMCOREINFO, when BTF could not be read. */
        char uts[6][65];
        int64_t phys_base;
        /* The target's own wall clock (seconds) at its last tick, for the
         * kdump header: a dead kernel's is its time of death, the same
         * for every dump of it; 0 when it could not be read. */
        uint64_t wall_sec;
};

/* Describe prog's kernel. What cannot be read is left out and said in
 * *warning (one error for the first part missing; the caller prints it),
 * since a dump of a half-readable kernel is still worth having. */
void bd_vmcore_describe(struct bd_program *prog, struct bd_vmcore_desc *d,
                        struct bd_error **warning);
void bd_vmcore_desc_free(struct bd_vmcore_desc *d);

/* What a vmcore's PT_NOTE holds: every CPU's note, then VMCOREINFO. */
struct bd_error *bd_vmcore_notes(const struct bd_vmcore_desc *d, struct bd_core_notes *n);

/* Where an interrupt's pt_regs (taken in kernel mode, ip in [text,
 * etext)) begins in len bytes of stack at stack_addr, searched upward; 0
 * if none. Pure, for tests. */
uint64_t bd_vmcore_irq_regs(const uint8_t *stack, uint64_t stack_addr, size_t len, uint64_t text,
                            uint64_t etext);

/* Where panic()'s frame is on a stack of len bytes at stack_addr: the
 * lowest slot holding a return address into [panic, panic + panic_size).
 * 0 if none. Pure, for tests. */
uint64_t bd_vmcore_panic_slot(const uint8_t *stack, uint64_t stack_addr, size_t len, uint64_t panic,
                              uint64_t panic_size, uint64_t *ret);

#endif
