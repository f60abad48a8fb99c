/* libFuzzer target: a core file's FPU notes, the system-call decision
 * on saved registers, and the vmcore's search for panic()'s frame on a
 * kernel stack and a dump filter's reading of a struct page, from hostile
 * memory. The
 * kernel's xsave geometry (xstate_offsets, xstate_sizes, xstate_flags,
 * fpu_user_cfg) and each thread's saved xsave buffer are read from the
 * target, so all of them are the fuzzer's; so are the names NT_FILE
 * carries.
 *
 * Invariants: a geometry is used only if it checks out; a conversion fails
 * only with BD_ERR_PROTOCOL and otherwise yields a standard-format buffer
 * (XCOMP_BV 0) whose XSTATE_BV names only components user space may see;
 * nothing is read or written outside the buffers (ASan). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/bytes.h"
#include "../../monitor/resurrect/syscall_restart.h"
#include "../../monitor/views/core_notes.h"
#include "../../monitor/views/page_filter.h"
#include "../../monitor/views/vmcore.h"
#include "fuzz_check.h"

static size_t take(const uint8_t **d, size_t *n, void *out, size_t len)
{
        size_t k = *n < len ? *n : len;
        memset(out, 0, len);
        memcpy(out, *d, k);
        *d += k, *n -= k;
        return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct bd_xstate_geometry g;
        memset(&g, 0, sizeof(g));
        uint8_t nf;
        uint16_t max_size;
        take(&data, &size, &nf, 1);
        take(&data, &size, &g.user_max_features, 8);
        take(&data, &size, &max_size, 2);
        g.nfeatures = nf % (BD_XFEATURES_MAX + 4);
        g.user_max_size = max_size;
        for (unsigned i = 0; i < BD_XFEATURES_MAX && i < g.nfeatures; i++) {
                uint16_t off, len;
                uint8_t fl;
                take(&data, &size, &off, 2);
                take(&data, &size, &len, 2);
                take(&data, &size, &fl, 1);
                g.offset[i] = off, g.size[i] = len, g.flags[i] = fl;
        }
        uint32_t pkru;
        uint64_t user;
        take(&data, &size, &pkru, 4);
        take(&data, &size, &user, 8);
        /* The rest is the thread's buffer: a copy of its own size, so that
         * ASan sees any read past it. */
        uint8_t *buf = malloc(size + 1);
        CHECK(buf);
        memcpy(buf, data, size);
        struct bd_error *err = bd_xstate_check(&g);
        if (err) {
                CHECK(err->code == BD_ERR_PROTOCOL);
                bd_error_destroy(err);
        } else {
                uint8_t *out = malloc(g.user_max_size), fx[BD_FXSAVE_SIZE];
                CHECK(out);
                err = bd_xstate_to_user(&g, buf, size, user, pkru, out, fx);
                if (err) {
                        CHECK(err->code == BD_ERR_PROTOCOL);
                        bd_error_destroy(err);
                } else {
                        uint64_t bv, comp;
                        memcpy(&bv, out + 512, 8);
                        memcpy(&comp, out + 520, 8);
                        CHECK(comp == 0);
                        CHECK((bv & ~(user & g.user_max_features)) == 0);
                }
                free(out);
        }
        /* The buffer's first bytes as a thread's saved registers: a call
         * rewound restarts with its own number, a call failed says EINTR. */
        if (size >= BD_PT_REGS_SIZE) {
                uint8_t regs[BD_PT_REGS_SIZE];
                memcpy(regs, buf, sizeof(regs));
                enum bd_syscall_fix f = bd_syscall_fix(regs, buf[0] & 1);
                if (f == BD_SYSCALL_REWOUND)
                        CHECK(bd_le64(regs + BD_REG_AX) == bd_le64(regs + BD_REG_ORIG_AX) &&
                              bd_le64(regs + BD_REG_IP) == bd_le64(buf + BD_REG_IP) - 2);
                else if (f == BD_SYSCALL_EINTR)
                        CHECK((int64_t)bd_le64(regs + BD_REG_AX) == -4);
                else
                        CHECK(!memcmp(regs, buf, sizeof(regs)));
        }
        /* The buffer as the panicking task's kernel stack: a slot found
         * lies inside it and holds a return address into panic. */
        if (size >= 16) {
                uint64_t panic = bd_le64(buf), psize = bd_le64(buf + 8) & 0xffff, ret = 0;
                uint64_t base = 0xffffa00000000000ull;
                uint64_t slot = bd_vmcore_panic_slot(buf, base, size, panic, psize, &ret);
                if (slot) {
                        CHECK(slot >= base && slot - base + 8 <= size && (slot - base) % 8 == 0);
                        CHECK(ret > panic && ret - panic < psize);
                        CHECK(bd_le64(buf + (slot - base)) == ret);
                }
        }
        /* The buffer as a struct page: a free block's order stays within
         * the buddy allocator's. */
        if (size >= 28) {
                const struct bd_page_rules r = {1u << 4, 1u << 13, 1u << 10,
                                                1u << 9, 1u << 16, 0xffffff7fu};
                struct bd_page_facts f = {bd_le64(buf), bd_le64(buf + 8), bd_le64(buf + 16),
                                          bd_le32(buf + 24)};
                unsigned order = 99;
                enum bd_page_class c = bd_page_classify(&r, &f, &order);
                CHECK(c <= BD_PAGE_FREE && order <= 10 && (c == BD_PAGE_FREE || order == 0));
        }
        /* The buffer's bytes as mapped files' names. */
        struct bd_core_file_map m[4];
        char names[4][32];
        for (int i = 0; i < 4; i++) {
                memset(names[i], 0, sizeof(names[i]));
                size_t at = size ? (size_t)i * 7 % size : 0, left = size - at;
                memcpy(names[i], buf + at, left < 31 ? left : 31);
                m[i] = (struct bd_core_file_map){(uint64_t)i << 12, (uint64_t)(i + 1) << 12,
                                                 (uint64_t)i, names[i]};
        }
        struct bd_core_notes notes = {0};
        err = bd_core_nt_file(m, 4, &notes);
        CHECK(!err);
        CHECK(notes.len % 4 == 0);
        bd_core_notes_free(&notes);
        free(buf);
        return 0;
}
