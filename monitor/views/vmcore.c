#include "vmcore.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/bytes.h"
#include "sysinfo.h"
#include "threads.h"
#include "../walk/walk.h"

/* The kernel's code and data segments (__KERNEL_CS, __KERNEL_DS), what a
 * kernel-mode pt_regs holds in cs and ss. */
#define KERNEL_CS 0x10
#define KERNEL_DS 0x18
/* EFLAGS' reserved bit 1, always set. */
#define EFLAGS_FIXED 0x2

uint64_t bd_vmcore_panic_slot(const uint8_t *stack, uint64_t stack_addr, size_t len, uint64_t panic,
                              uint64_t panic_size, uint64_t *ret)
{
        for (size_t at = 0; at + 8 <= len; at += 8) {
                uint64_t v = bd_le64(stack + at);
                /* A return address follows a call: never panic's first byte. */
                if (v > panic && v - panic < panic_size) {
                        *ret = v;
                        return stack_addr + at;
                }
        }
        return 0;
}

uint64_t bd_vmcore_irq_regs(const uint8_t *stack, uint64_t stack_addr, size_t len, uint64_t text,
                            uint64_t etext)
{
        for (size_t at = 0; at + BD_PT_REGS_SIZE <= len; at += 8) {
                const uint8_t *r = stack + at;
                uint64_t ip = bd_le64(r + BD_REG_IP), cs = bd_le64(r + BD_REG_CS);
                uint64_t flags = bd_le64(r + BD_REG_FLAGS), sp = bd_le64(r + BD_REG_SP);
                uint64_t ss = bd_le64(r + BD_REG_SS), end = stack_addr + at + BD_PT_REGS_SIZE;
                /* What the CPU pushed when it took the interrupt in kernel
                 * mode: its code segment, a null or kernel stack segment,
                 * flags with the fixed bit and none past ID (bit 21), an
                 * ip in the kernel's text, and the sp it had, at most
                 * 16-byte alignment and an error code above the frame. */
                if (cs == KERNEL_CS && (ss == 0 || ss == KERNEL_DS) && (flags & EFLAGS_FIXED) &&
                    flags < (1u << 22) && ip >= text && ip < etext && sp >= end && sp - end <= 24)
                        return stack_addr + at;
        }
        return 0;
}

static void warn(struct bd_error **warning, struct bd_error *err, const char *what)
{
        if (!*warning)
                *warning = bd_error_wrap(err, "%s", what);
        else
                bd_error_destroy(err);
}

static struct bd_error *image(struct bd_program *prog, struct bd_vmcore_desc *d)
{
        uint64_t text, end, paddr, page;
        struct bd_error *err;
        if ((err = bd_program_symbol(prog, "_text", &text)) ||
            (err = bd_program_symbol(prog, "_end", &end)))
                return err;
        if (end <= text || text < BD_KERNEL_IMAGE_START || end > BD_KERNEL_IMAGE_END)
                return bd_error_new(BD_ERR_PROTOCOL, "_text..._end is 0x%llx..0x%llx",
                                    (unsigned long long)text, (unsigned long long)end);
        if ((err = bd_kernel_translate(prog->k, text, &paddr, &page)))
                return err;
        d->text_vaddr = text;
        d->text_paddr = paddr;
        d->text_size = end - text;
        return NULL;
}

/* The program learns page_offset_base with its symbols. */
static struct bd_error *direct_map(struct bd_program *prog, struct bd_vmcore_desc *d)
{
        struct bd_kallsyms *ks;
        struct bd_error *err = bd_program_kallsyms(prog, &ks);
        if (err)
                return err;
        if (!prog->k->direct_base)
                return bd_error_new(BD_ERR_NOT_FOUND, "page_offset_base could not be read");
        d->direct_base = prog->k->direct_base;
        return NULL;
}

/* Where the return address of the call into panic() lies on the stack,
 * at or above `from`: a word w in the kernel image with `call rel32` (e8)
 * before it whose target is panic. 0 if none among the first candidates. */
static uint64_t caller_slot(struct bd_kernel *k, const uint8_t *stack, uint64_t stack_addr,
                            size_t len, uint64_t from, uint64_t panic)
{
        unsigned tried = 0;
        for (uint64_t at = from - stack_addr; at + 8 <= len && tried < 64; at += 8) {
                uint64_t w = bd_le64(stack + at);
                if (w < BD_KERNEL_IMAGE_START + 5 || w >= BD_KERNEL_IMAGE_END)
                        continue;
                uint8_t call[5];
                tried++;
                struct bd_error *err = bd_kernel_read(k, w - 5, call, sizeof(call));
                if (err) {
                        bd_error_destroy(err);
                        continue;
                }
                if (call[0] == 0xe8 && w + (uint64_t)(int64_t)(int32_t)bd_le32(call + 1) == panic)
                        return stack_addr + at;
        }
        return 0;
}

/* panic() may keep a frame pointer (push %rbp; mov %rsp,%rbp, after the
 * 5 bytes of ftrace's call): its CFA is then %rbp + 16, and an unwinder
 * needs %rbp, the slot just below the return address into its caller. */
static uint64_t panic_rbp(struct bd_kernel *k, const uint8_t *stack, uint64_t stack_addr,
                          size_t len, uint64_t slot, uint64_t panic)
{
        static const uint8_t frame[4] = {0x55, 0x48, 0x89, 0xe5};
        uint8_t code[9];
        struct bd_error *err = bd_kernel_read(k, panic, code, sizeof(code));
        if (err) {
                bd_error_destroy(err);
                return 0;
        }
        if (memcmp(code, frame, 4) && memcmp(code + 5, frame, 4))
                return 0;
        uint64_t ret = caller_slot(k, stack, stack_addr, len, slot + 8, panic);
        return ret ? ret - 8 : 0;
}

/* The panicking CPU's registers: ip and sp at panic()'s last call. */
static struct bd_error *panic_regs(struct bd_program *prog, uint64_t task, int64_t stack_off,
                                   uint8_t regs[BD_PT_REGS_SIZE])
{
        struct bd_kernel *k = prog->k;
        struct bd_kallsyms *ks;
        uint64_t stack, panic, off, size;
        const char *name;
        struct bd_error *err = bd_program_kallsyms(prog, &ks);
        if (err || (err = bd_kallsyms_lookup(ks, "panic", &panic, NULL)) ||
            (err = bd_kallsyms_symbolize(ks, panic, &name, &off, &size, NULL)) ||
            (err = bd_kernel_read_u64(k, task + (uint64_t)stack_off, &stack)))
                return err;
        if (!bd_walk_kptr_ok(k, stack, 4096))
                return bd_error_new(BD_ERR_PROTOCOL, "the panicking task's stack at 0x%llx",
                                    (unsigned long long)stack);
        uint8_t *buf = malloc(BD_THREAD_SIZE);
        if (!buf)
                return &bd_error_nomem;
        uint64_t ret = 0, slot = 0, rbp = 0;
        if (!(err = bd_kernel_read(k, stack, buf, BD_THREAD_SIZE)))
                slot = bd_vmcore_panic_slot(buf, stack, BD_THREAD_SIZE, panic, size, &ret);
        if (slot)
                rbp = panic_rbp(k, buf, stack, BD_THREAD_SIZE, slot, panic);
        free(buf);
        if (err)
                return err;
        if (!slot)
                return bd_error_new(BD_ERR_NOT_FOUND, "no return into panic() on its stack");
        memset(regs, 0, BD_PT_REGS_SIZE);
        bd_put_le(regs + BD_REG_IP, ret, 8);
        bd_put_le(regs + BD_REG_CS, KERNEL_CS, 8);
        bd_put_le(regs + BD_REG_FLAGS, EFLAGS_FIXED, 8);
        bd_put_le(regs + BD_REG_SP, slot + 8, 8);
        bd_put_le(regs + BD_REG_BP, rbp, 8);
        bd_put_le(regs + BD_REG_SS, KERNEL_DS, 8);
        return NULL;
}

/* A CPU that panic() stopped: it took the stop IPI (REBOOT_VECTOR) where
 * it ran, its interrupt entry saved pt_regs on that stack and switched to
 * its hardirq stack, whose top word holds the stack pointer it left, and
 * it halts in stop_this_cpu() for good. The frame lies a little above
 * that pointer. Not found when the stop came as an NMI (its own stack) or
 * the CPU was in an interrupt already. */
static struct bd_error *stopped_regs(struct bd_program *prog, unsigned cpu,
                                     uint8_t regs[BD_PT_REGS_SIZE])
{
        enum { SCAN = 512 };
        struct bd_kernel *k = prog->k;
        uint64_t var, top, left, text, etext;
        struct bd_error *err;
        if ((err = bd_program_symbol(prog, "hardirq_stack_ptr", &var)) ||
            (err = bd_program_symbol(prog, "_stext", &text)) ||
            (err = bd_program_symbol(prog, "_etext", &etext)) ||
            (err = bd_program_percpu(prog, var, cpu, &var)) ||
            (err = bd_kernel_read_u64(k, var, &top)))
                return err;
        if (!bd_walk_kptr_ok(k, top, 8) || (err = bd_kernel_read_u64(k, top, &left)))
                return err ? err
                           : bd_error_new(BD_ERR_PROTOCOL, "cpu %u's hardirq stack at 0x%llx", cpu,
                                          (unsigned long long)top);
        if (!bd_walk_kptr_ok(k, left, 8))
                return bd_error_new(BD_ERR_PROTOCOL, "cpu %u left its stack at 0x%llx", cpu,
                                    (unsigned long long)left);
        /* A stack's top may be its mapping's end: then the rest of the
         * page is all there is to read. */
        uint8_t buf[SCAN];
        size_t len = SCAN;
        if ((err = bd_kernel_read(k, left, buf, len))) {
                bd_error_destroy(err);
                len = 4096 - left % 4096 < SCAN ? 4096 - left % 4096 : SCAN;
                if ((err = bd_kernel_read(k, left, buf, len)))
                        return err;
        }
        uint64_t at = bd_vmcore_irq_regs(buf, left, len, text, etext);
        if (!at)
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "no interrupt frame above cpu %u's stack pointer 0x%llx", cpu,
                                    (unsigned long long)left);
        memcpy(regs, buf + (at - left), BD_PT_REGS_SIZE);
        return NULL;
}

static struct bd_error *cpus(struct bd_program *prog, struct bd_vmcore_desc *d,
                             struct bd_error **warning)
{
        const struct bd_layout *l;
        static const enum bd_layout_id ids[] = {BDL_RQ_CURR, BDL_TASK_PID, BDL_TASK_STACK};
        int64_t off[3];
        uint64_t rq;
        int32_t panic_cpu;
        struct bd_error *err;
        if ((err = bd_program_layout(prog, &l)) || (err = bd_layout_need(l, ids, 3, off)) ||
            (err = bd_program_cpus(prog, &d->ncpus)) ||
            (err = bd_program_symbol(prog, "runqueues", &rq)) ||
            (err = bd_program_read_symbol(prog, "panic_cpu", &panic_cpu, 4)))
                return err;
        d->panic_cpu = panic_cpu >= 0 && (unsigned)panic_cpu < d->ncpus ? panic_cpu : -1;
        unsigned n = d->ncpus;
        uint64_t *curr = calloc(n, sizeof(*curr));
        int32_t *pid = calloc(n, sizeof(*pid));
        struct bd_kernel_iov *iov = calloc(n, sizeof(*iov));
        if (!curr || !pid || !iov) {
                err = &bd_error_nomem;
                goto out;
        }
        for (unsigned c = 0; c < n && !err; c++) {
                uint64_t a;
                if (!(err = bd_program_percpu(prog, rq, c, &a)))
                        iov[c] = (struct bd_kernel_iov){a + (uint64_t)off[0], &curr[c], 8};
        }
        if (err || (err = bd_kernel_read_batch(prog->k, iov, n)))
                goto out;
        for (unsigned c = 0; c < n; c++) {
                if (!bd_walk_kptr_ok(prog->k, curr[c], 8)) {
                        err = bd_error_new(BD_ERR_PROTOCOL, "cpu %u's current task is 0x%llx", c,
                                           (unsigned long long)curr[c]);
                        goto out;
                }
                iov[c] = (struct bd_kernel_iov){curr[c] + (uint64_t)off[1], &pid[c], 4};
        }
        if ((err = bd_kernel_read_batch(prog->k, iov, n)))
                goto out;
        for (unsigned c = 0; c < n && !err; c++) {
                struct bd_core_prstatus st = {.pid = pid[c]};
                if ((int)c == d->panic_cpu) {
                        struct bd_error *e = panic_regs(prog, curr[c], off[2], st.pt_regs);
                        if (e)
                                warn(warning, e, "the panicking cpu's registers");
                        d->panic_regs = !e;
                } else if (d->panic_cpu >= 0) {
                        struct bd_error *e = stopped_regs(prog, c, st.pt_regs);
                        if (e)
                                warn(warning, e, "a stopped cpu's registers");
                        d->stopped_regs += !e;
                }
                uint8_t desc[BD_PRSTATUS_SIZE];
                bd_core_prstatus_encode(&st, desc);
                err = bd_core_note_add(&d->cpu_notes, "CORE", NT_PRSTATUS, desc, sizeof(desc));
        }
out:
        free(curr), free(pid), free(iov);
        return err;
}

static struct bd_error *utsname(struct bd_program *prog, struct bd_vmcore_desc *d)
{
        const struct bd_layout *l;
        uint64_t at;
        struct bd_error *err;
        if ((err = bd_program_layout(prog, &l)) ||
            (err = bd_layout_need(l, (enum bd_layout_id[]){BDL_UTS_NAME}, 1, (int64_t[1]){0})) ||
            (err = bd_program_symbol(prog, "init_uts_ns", &at)))
                return err;
        char uts[6][65];
        if ((err = bd_kernel_read(prog->k, at + (uint64_t)l->e[BDL_UTS_NAME].value, uts,
                                  sizeof(uts))))
                return err;
        for (int i = 0; i < 6; i++) {
                uts[i][64] = '\0';
                memcpy(d->uts[i], uts[i], sizeof(uts[i]));
        }
        return NULL;
}

void bd_vmcore_describe(struct bd_program *prog, struct bd_vmcore_desc *d,
                        struct bd_error **warning)
{
        memset(d, 0, sizeof(*d));
        *warning = NULL;
        d->vi = &prog->vi;
        d->panic_cpu = -1;
        d->phys_base = prog->k->phys_base;
        snprintf(d->uts[0], sizeof(d->uts[0]), "Linux");
        snprintf(d->uts[2], sizeof(d->uts[2]), "%s", prog->release);
        snprintf(d->uts[4], sizeof(d->uts[4]), "x86_64");
        struct bd_error *err = utsname(prog, d);
        if (err)
                warn(warning, err, "the kernel's utsname");
        if ((err = image(prog, d)))
                warn(warning, err, "the kernel image's mapping");
        if ((err = direct_map(prog, d)))
                warn(warning, err, "the direct map");
        struct bd_sysinfo si;
        if (!(err = bd_sysinfo_read(prog, &si)) && si.have_uptime)
                d->wall_sec = si.wall_sec;
        bd_error_destroy(err);
        if ((err = cpus(prog, d, warning))) {
                warn(warning, err, "the cpus' notes");
                bd_core_notes_free(&d->cpu_notes);
                d->ncpus = 0;
                d->panic_cpu = -1;
                d->panic_regs = 0;
        }
}

struct bd_error *bd_vmcore_notes(const struct bd_vmcore_desc *d, struct bd_core_notes *n)
{
        struct bd_error *err = bd_core_notes_append(n, &d->cpu_notes);
        if (!err && d->vi)
                err = bd_core_note_add(n, "VMCOREINFO", 0, d->vi->text, d->vi->len);
        return err;
}

void bd_vmcore_desc_free(struct bd_vmcore_desc *d)
{
        bd_core_notes_free(&d->cpu_notes);
}
