/* What an x86-64 ELF core file holds besides memory, computed from what
 * was read and nothing else: the notes (NT_PRSTATUS, NT_PRPSINFO,
 * NT_FPREGSET, NT_X86_XSTATE, NT_AUXV, NT_FILE) laid out as Linux's own core
 * dumps lay them out and gdb reads them; a task's saved xsave buffer
 * (standard or compacted) turned into the standard layout ptrace and cores
 * use; and which part of a VMA a core holds. No I/O: views/core.c reads,
 * this decides, and the unit tests and the fuzzer feed it made-up input. */
#ifndef BD_CORE_NOTES_H
#define BD_CORE_NOTES_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/error.h"

/* struct pt_regs and its user_regs_struct extension (asm/user_64.h). */
#define BD_PT_REGS_SIZE  168
#define BD_PRSTATUS_SIZE 336 /* struct elf_prstatus on x86-64 */
#define BD_PRPSINFO_SIZE 136 /* struct elf_prpsinfo on x86-64 */
#define BD_FXSAVE_SIZE   512 /* the legacy area: NT_FPREGSET */
#define BD_XSAVE_HDR_END 576 /* legacy area and XSAVE header */

/* Where pt_regs (r15 first, ss last) keeps the registers read by name. */
#define BD_REG_BP      32
#define BD_REG_R10     56
#define BD_REG_AX      80
#define BD_REG_SI      104
#define BD_REG_ORIG_AX 120
#define BD_REG_IP      128
#define BD_REG_CS      136
#define BD_REG_FLAGS   144
#define BD_REG_SP      152
#define BD_REG_SS      160

/* The user code segment of a 64-bit task, and of a 32-bit (compat) one. */
#define BD_USER_CS   0x33
#define BD_USER32_CS 0x23

/* One thread's part of NT_PRSTATUS. */
struct bd_core_prstatus {
        int32_t pid, ppid, pgrp, sid;
        int32_t cursig;
        uint64_t sigpend, sighold; /* the first word of each set */
        uint64_t utime_ns, stime_ns;
        uint8_t pt_regs[BD_PT_REGS_SIZE]; /* as saved on kernel entry */
        uint64_t fs_base, gs_base;
        uint16_t ds, es, fs, gs;
        int fpvalid;
};
void bd_core_prstatus_encode(const struct bd_core_prstatus *in, uint8_t out[BD_PRSTATUS_SIZE]);

struct bd_core_prpsinfo {
        char state; /* ps's letter */
        int32_t nice;
        uint64_t flags; /* task_struct.flags */
        uint32_t uid, gid;
        int32_t pid, ppid, pgrp, sid;
        char fname[16];  /* comm */
        char psargs[80]; /* the start of the command line, NULs as spaces */
};
void bd_core_prpsinfo_encode(const struct bd_core_prpsinfo *in, uint8_t out[BD_PRPSINFO_SIZE]);

/* The xsave geometry of the target's kernel: where each state component
 * lies in the standard layout and how big it is (xstate_offsets[],
 * xstate_sizes[], xstate_flags[]), what user space may see
 * (fpu_user_cfg), the software bytes the kernel puts at 464..511 of the
 * ptrace/core copy (xstate_fx_sw_bytes: XCR0 first), and the legacy area of
 * the init state (init_fpstate), which components in their init state read
 * as. */
#define BD_XFEATURES_MAX 64
#define BD_XSTATE_MAX    (64u << 10) /* AMX's 8 KiB tiles fit many times */
#define BD_XFEATURE_PKRU 9
/* xstate_flags[]: the component starts 64-byte aligned when compacted. */
#define BD_XSTATE_FLAG_ALIGNED64 0x2u

struct bd_xstate_geometry {
        unsigned nfeatures; /* XFEATURE_MAX */
        uint32_t offset[BD_XFEATURES_MAX], size[BD_XFEATURES_MAX], flags[BD_XFEATURES_MAX];
        uint64_t user_max_features;
        uint32_t user_max_size;
        uint8_t sw_bytes[48];
        uint8_t init_legacy[BD_FXSAVE_SIZE];
};

/* NULL when every user-visible component lies inside user_max_size and
 * after the header, and user_max_size is sane; else BD_ERR_PROTOCOL. */
struct bd_error *bd_xstate_check(const struct bd_xstate_geometry *g);

/* The user view of a saved xsave buffer (len bytes, as fpstate.regs
 * holds it: compacted when bit 63 of XCOMP_BV is set), as the kernel's
 * copy_xstate_to_uabi_buf() makes it: components in their init state (bit
 * clear in XSTATE_BV) read as the init state, PKRU comes from pkru (the
 * thread's, newer than the buffer's), components user space may not see
 * (user_xfeatures) are left out. xstate gets g->user_max_size bytes
 * (NT_X86_XSTATE), fx the first 512 without the software bytes
 * (NT_FPREGSET). BD_ERR_PROTOCOL when the buffer is too short for the
 * components it claims, or names a component the geometry lacks. */
struct bd_error *bd_xstate_to_user(const struct bd_xstate_geometry *g, const uint8_t *xsave,
                                   size_t len, uint64_t user_xfeatures, uint32_t pkru,
                                   uint8_t *xstate, uint8_t fx[BD_FXSAVE_SIZE]);

/* Words of an auxiliary vector of max words (pairs) up to its AT_NULL
 * entry, which counts; max if it has none. */
size_t bd_core_auxv_words(const uint64_t *auxv, size_t max);

/* Notes, each "name\0" and a descriptor padded to 4 bytes. */
struct bd_core_notes {
        uint8_t *buf;
        size_t len, cap;
};
struct bd_error *bd_core_note_add(struct bd_core_notes *n, const char *name, uint32_t type,
                                  const void *desc, size_t len);
struct bd_error *bd_core_notes_append(struct bd_core_notes *n, const struct bd_core_notes *more);
void bd_core_notes_free(struct bd_core_notes *n);

/* NT_FILE: the file-backed mappings. */
struct bd_core_file_map {
        uint64_t start, end, pgoff;
        const char *name;
};
struct bd_error *bd_core_nt_file(const struct bd_core_file_map *m, size_t n,
                                 struct bd_core_notes *notes);

/* vm_flags bits that decide a VMA's dump (include/linux/mm.h). */
#define BD_VM_IO       0x00004000u
#define BD_VM_DONTDUMP 0x04000000u

/* How much of a VMA a core holds, as the kernel decides with the default
 * coredump_filter (0x33: private and shared anonymous memory, ELF headers):
 * the vDSO, memory written to (anon_vma) and shared memory of an unlinked
 * file whole; the first page of a readable mapping at file offset 0 if it
 * is an ELF header (the caller looks); nothing of the rest, which is in
 * the files. */
enum bd_core_dump { BD_CORE_SKIP, BD_CORE_WHOLE, BD_CORE_ELF_HEADER };
struct bd_core_vma_facts {
        uint64_t flags, pgoff;
        int has_file, has_anon_vma, file_unlinked, is_vdso;
};
enum bd_core_dump bd_core_vma_dump(const struct bd_core_vma_facts *v);

#endif
