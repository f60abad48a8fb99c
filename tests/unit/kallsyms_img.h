/* A synthetic kernel image holding kallsyms tables the way scripts/kallsyms
 * lays them out (offsets, relative base, count, names, token table, token
 * index), at physical 0 = virtual KS_K(0), with the VMCOREINFO that points
 * at them. Shared by the unit tests and the fuzz target's seed builder. */
#ifndef BD_TEST_KALLSYMS_IMG_H
#define BD_TEST_KALLSYMS_IMG_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/kernel/program.h"
#include "../../monitor/kernel/vmcoreinfo.h"
#include "../../monitor/source/phys_file.h"

#define KS_IMG_SIZE 0x2000
#define KS_OFFSETS  0x0000 /* s32[] or, absolute, u64[] at KS_ADDRS */
#define KS_BASE     0x0100
#define KS_NUM      0x0108
#define KS_NAMES    0x0110
#define KS_TABLE    0x0c00 /* the names may not pass it */
#define KS_INDEX    0x1000
#define KS_ADDRS    0x1400
#define KS_MAX_SYMS 32
#define KS_K(x)     (0xffffffff81000000ull + (uint64_t)(x))

enum ks_enc { KS_ABSOLUTE, KS_RELATIVE, KS_PERCPU };

struct ks_sym {
        char type;
        const char *name;
        uint64_t addr;
};

struct ks_img {
        uint8_t mem[KS_IMG_SIZE];
        char vmcoreinfo[1024];
        size_t names_end; /* first byte after the last name */
        size_t name_at[KS_MAX_SYMS];
};

/* Multi-character tokens, as the compressor would make them; every other
 * token is its own printable character, or empty. */
static const char *const ks_multi[] = {"jiffies", "_64", "Dinit", "task", "startup"};

static inline const char *ks_token(unsigned i, char *one)
{
        if (i >= 0x80 && i < 0x80 + sizeof(ks_multi) / sizeof(ks_multi[0]))
                return ks_multi[i - 0x80];
        one[0] = i >= 0x20 && i < 0x7f ? (char)i : '\0';
        one[1] = '\0';
        return one;
}

static inline void ks_put(uint8_t *p, uint64_t v, unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

/* Greedy compression: the longest token that matches, else the character. */
static inline size_t ks_compress(const char *s, uint8_t *out)
{
        size_t n = 0;
        while (*s) {
                unsigned best = (unsigned char)*s;
                size_t blen = 1;
                for (unsigned i = 0; i < sizeof(ks_multi) / sizeof(ks_multi[0]); i++) {
                        size_t l = strlen(ks_multi[i]);
                        if (l > blen && !strncmp(s, ks_multi[i], l))
                                best = 0x80 + i, blen = l;
                }
                out[n++] = (uint8_t)best;
                s += blen;
        }
        return n;
}

static inline void ks_build(struct ks_img *img, const struct ks_sym *syms, unsigned n,
                            enum ks_enc enc)
{
        memset(img, 0, sizeof(*img));
        uint64_t base = KS_K(0);
        size_t pos = KS_NAMES;
        for (unsigned i = 0; i < n; i++) {
                char full[600];
                uint8_t comp[600];
                snprintf(full, sizeof(full), "%c%s", syms[i].type, syms[i].name);
                size_t len = ks_compress(full, comp);
                img->name_at[i] = pos;
                if (len > 127) {
                        img->mem[pos++] = (uint8_t)(0x80 | (len & 0x7f));
                        img->mem[pos++] = (uint8_t)(len >> 7);
                } else {
                        img->mem[pos++] = (uint8_t)len;
                }
                memcpy(img->mem + pos, comp, len);
                pos += len;
                uint64_t a = syms[i].addr;
                if (enc == KS_ABSOLUTE)
                        ks_put(img->mem + KS_ADDRS + 8 * i, a, 8);
                else if (enc == KS_RELATIVE)
                        ks_put(img->mem + KS_OFFSETS + 4 * i, a - base, 4);
                else if (a < 0x80000000u)
                        ks_put(img->mem + KS_OFFSETS + 4 * i, a, 4);
                else
                        ks_put(img->mem + KS_OFFSETS + 4 * i, (uint64_t)(-1 - (int64_t)(a - base)),
                               4);
        }
        img->names_end = pos;
        ks_put(img->mem + KS_BASE, base, 8);
        ks_put(img->mem + KS_NUM, n, 4);
        size_t t = 0;
        for (unsigned i = 0; i < 256; i++) {
                char one[2];
                const char *tok = ks_token(i, one);
                ks_put(img->mem + KS_INDEX + 2 * i, t, 2);
                memcpy(img->mem + KS_TABLE + t, tok, strlen(tok) + 1);
                t += strlen(tok) + 1;
        }
        int at = snprintf(img->vmcoreinfo, sizeof(img->vmcoreinfo),
                          "OSRELEASE=6.1.0-test\nPAGESIZE=4096\n"
                          "SYMBOL(kallsyms_names)=%llx\nSYMBOL(kallsyms_num_syms)=%llx\n"
                          "SYMBOL(kallsyms_token_table)=%llx\n"
                          "SYMBOL(kallsyms_token_index)=%llx\n",
                          (unsigned long long)KS_K(KS_NAMES), (unsigned long long)KS_K(KS_NUM),
                          (unsigned long long)KS_K(KS_TABLE), (unsigned long long)KS_K(KS_INDEX));
        if (enc == KS_ABSOLUTE)
                at += snprintf(img->vmcoreinfo + at, sizeof(img->vmcoreinfo) - (size_t)at,
                               "SYMBOL(kallsyms_addresses)=%llx\n",
                               (unsigned long long)KS_K(KS_ADDRS));
        else
                at += snprintf(img->vmcoreinfo + at, sizeof(img->vmcoreinfo) - (size_t)at,
                               "SYMBOL(kallsyms_offsets)=%llx\n"
                               "SYMBOL(kallsyms_relative_base)=%llx\n",
                               (unsigned long long)KS_K(KS_OFFSETS),
                               (unsigned long long)KS_K(KS_BASE));
        snprintf(img->vmcoreinfo + at, sizeof(img->vmcoreinfo) - (size_t)at,
                 "NUMBER(phys_base)=-16777216\nSYMBOL(init_top_pgt)=ffffffff81001800\n"
                 "NUMBER(pgtable_l5_enabled)=0\nKERNELOFFSET=0\n");
}

/* The image at the start of mem and its VMCOREINFO in vi: a kernel for
 * bd_kernel_open(). */
static inline void ks_install(const struct ks_img *img, uint8_t *mem, struct bd_vmcoreinfo *vi)
{
        memcpy(mem, img->mem, sizeof(img->mem));
        vi->len = strlen(img->vmcoreinfo);
        memcpy(vi->text, img->vmcoreinfo, vi->len + 1);
}

/* The image as a kernel: written to a file that is opened as a source
 * and removed, its VMCOREINFO in vi (which must outlive k). */
static inline struct bd_error *ks_open(const struct ks_img *img, struct bd_phys **p,
                                       struct bd_vmcoreinfo *vi, struct bd_kernel **k)
{
        char path[] = "/tmp/bd-kallsyms-XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fd < 0 ? NULL : fdopen(fd, "wb");
        if (!f || fwrite(img->mem, sizeof(img->mem), 1, f) != 1 || fclose(f))
                return bd_error_new(BD_ERR_IO, "writing %s", path);
        struct bd_error *err = bd_phys_open_file(path, 0, p);
        remove(path);
        if (err)
                return err;
        memset(vi, 0, sizeof(*vi));
        vi->len = strlen(img->vmcoreinfo);
        memcpy(vi->text, img->vmcoreinfo, vi->len + 1);
        if ((err = bd_kernel_open(*p, vi, k)))
                bd_phys_close(*p);
        return err;
}

/* What a test of a synthetic kernel starts from: kallsyms of syms
 * (relative offsets) at physical 0 of mem, prog's VMCOREINFO pointing at
 * them, and prog's kernel opened over phys. 0, or -1. */
static inline int ks_kernel(struct bd_program *prog, struct bd_phys *phys, uint8_t *mem,
                            const struct ks_sym *syms, unsigned n)
{
        static struct ks_img ks;
        ks_build(&ks, syms, n, KS_RELATIVE);
        ks_install(&ks, mem, &prog->vi);
        struct bd_error *err = bd_kernel_open(phys, &prog->vi, &prog->k);
        int bad = err != NULL;
        bd_error_destroy(err);
        return bad ? -1 : 0;
}

#endif
