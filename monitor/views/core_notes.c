#include "core_notes.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/bytes.h"
#include "../../common/grow.h"
#include "vmas.h"

/* struct timeval from nanoseconds. */
static void put_timeval(uint8_t *p, uint64_t ns)
{
        bd_put_le(p, ns / 1000000000u, 8);
        bd_put_le(p + 8, ns % 1000000000u / 1000u, 8);
}

void bd_core_prstatus_encode(const struct bd_core_prstatus *in, uint8_t out[BD_PRSTATUS_SIZE])
{
        memset(out, 0, BD_PRSTATUS_SIZE);
        bd_put_le(out, (uint32_t)in->cursig, 4); /* pr_info.si_signo */
        bd_put_le(out + 12, (uint16_t)in->cursig, 2);
        bd_put_le(out + 16, in->sigpend, 8);
        bd_put_le(out + 24, in->sighold, 8);
        bd_put_le(out + 32, (uint32_t)in->pid, 4);
        bd_put_le(out + 36, (uint32_t)in->ppid, 4);
        bd_put_le(out + 40, (uint32_t)in->pgrp, 4);
        bd_put_le(out + 44, (uint32_t)in->sid, 4);
        put_timeval(out + 48, in->utime_ns);
        put_timeval(out + 64, in->stime_ns);
        /* pr_cutime and pr_cstime (children) stay 0, as in gdb's gcore. */
        uint8_t *reg = out + 112;
        /* user_regs_struct is pt_regs (r15 .. ss) and then the segment
         * state the kernel keeps in thread_struct. */
        memcpy(reg, in->pt_regs, BD_PT_REGS_SIZE);
        bd_put_le(reg + 168, in->fs_base, 8);
        bd_put_le(reg + 176, in->gs_base, 8);
        bd_put_le(reg + 184, in->ds, 8);
        bd_put_le(reg + 192, in->es, 8);
        bd_put_le(reg + 200, in->fs, 8);
        bd_put_le(reg + 208, in->gs, 8);
        bd_put_le(out + 328, (uint32_t) !!in->fpvalid, 4);
}

void bd_core_prpsinfo_encode(const struct bd_core_prpsinfo *in, uint8_t out[BD_PRPSINFO_SIZE])
{
        memset(out, 0, BD_PRPSINFO_SIZE);
        static const char states[] = "RSDTZW";
        const char *s = strchr(states, in->state);
        out[0] = (uint8_t)(s && in->state ? s - states : 0);
        out[1] = (uint8_t)in->state;
        out[2] = in->state == 'Z';
        out[3] = (uint8_t)(int8_t)in->nice;
        bd_put_le(out + 8, in->flags, 8);
        bd_put_le(out + 16, in->uid, 4);
        bd_put_le(out + 20, in->gid, 4);
        bd_put_le(out + 24, (uint32_t)in->pid, 4);
        bd_put_le(out + 28, (uint32_t)in->ppid, 4);
        bd_put_le(out + 32, (uint32_t)in->pgrp, 4);
        bd_put_le(out + 36, (uint32_t)in->sid, 4);
        memcpy(out + 40, in->fname, sizeof(in->fname));
        memcpy(out + 56, in->psargs, sizeof(in->psargs));
        out[56 + sizeof(in->psargs) - 1] = 0;
}

struct bd_error *bd_xstate_check(const struct bd_xstate_geometry *g)
{
        if (g->nfeatures < 2 || g->nfeatures > BD_XFEATURES_MAX)
                return bd_error_new(BD_ERR_PROTOCOL, "xsave: %u state components", g->nfeatures);
        if (g->user_max_size < BD_XSAVE_HDR_END || g->user_max_size > BD_XSTATE_MAX)
                return bd_error_new(BD_ERR_PROTOCOL, "xsave: user size %u", g->user_max_size);
        if (!(g->user_max_features & 1))
                return bd_error_new(BD_ERR_PROTOCOL, "xsave: user features 0x%llx lack x87",
                                    (unsigned long long)g->user_max_features);
        for (unsigned i = 2; i < BD_XFEATURES_MAX; i++) {
                if (!(g->user_max_features >> i & 1))
                        continue;
                if (i >= g->nfeatures || g->offset[i] < BD_XSAVE_HDR_END ||
                    g->size[i] > g->user_max_size || g->offset[i] > g->user_max_size - g->size[i])
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "xsave: component %u at %u+%u outside %u bytes", i,
                                            i < g->nfeatures ? g->offset[i] : 0,
                                            i < g->nfeatures ? g->size[i] : 0, g->user_max_size);
        }
        return NULL;
}

/* Where component i lies in a compacted buffer whose XCOMP_BV is comp: the
 * components present are packed in order from the header's end, some of
 * them 64-byte aligned. */
static uint64_t compacted_offset(const struct bd_xstate_geometry *g, uint64_t comp, unsigned i)
{
        uint64_t off = BD_XSAVE_HDR_END;
        for (unsigned j = 2; j < g->nfeatures; j++) {
                if (!(comp >> j & 1))
                        continue;
                if (g->flags[j] & BD_XSTATE_FLAG_ALIGNED64)
                        off = (off + 63) & ~63ull;
                if (j == i)
                        break;
                off += g->size[j];
        }
        return off;
}

struct bd_error *bd_xstate_to_user(const struct bd_xstate_geometry *g, const uint8_t *xsave,
                                   size_t len, uint64_t user_xfeatures, uint32_t pkru,
                                   uint8_t *xstate, uint8_t fx[BD_FXSAVE_SIZE])
{
        struct bd_error *err = bd_xstate_check(g);
        if (err)
                return err;
        if (len < BD_XSAVE_HDR_END)
                return bd_error_new(BD_ERR_PROTOCOL, "xsave buffer of %zu bytes", len);
        uint64_t bv = bd_le64(xsave + 512), comp = bd_le64(xsave + 520);
        int compacted = (int)(comp >> 63);
        user_xfeatures &= g->user_max_features;
        uint64_t present = bv & user_xfeatures;
        const uint8_t *init = g->init_legacy;
        uint8_t *o = xstate;
        memset(o, 0, g->user_max_size);
        /* The legacy area in its parts: x87 control words up to MXCSR,
         * MXCSR and its mask (live while SSE or AVX state is), the x87
         * registers and the XMM registers. */
        memcpy(o, (present & 1) ? xsave : init, 24);
        memcpy(o + 24, (present & 6) ? xsave + 24 : init + 24, 8);
        memcpy(o + 32, (present & 1) ? xsave + 32 : init + 32, 128);
        memcpy(o + 160, (present & 2) ? xsave + 160 : init + 160, 256);
        memcpy(fx, o, BD_FXSAVE_SIZE);
        memcpy(o + 464, g->sw_bytes, sizeof(g->sw_bytes));
        bd_put_le(o + 512, present, 8);
        for (unsigned i = 2; i < g->nfeatures; i++) {
                if (!(user_xfeatures >> i & 1))
                        continue;
                uint8_t *dst = o + g->offset[i];
                if (i == BD_XFEATURE_PKRU) {
                        if (g->size[i] >= 4)
                                bd_put_le(dst, pkru, 4);
                        continue;
                }
                if (!(present >> i & 1))
                        continue; /* the init state of the extended ones is 0 */
                if (compacted && !(comp >> i & 1))
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "xsave: component %u in use but not in XCOMP_BV", i);
                uint64_t src = compacted ? compacted_offset(g, comp, i) : g->offset[i];
                if (src < BD_XSAVE_HDR_END || src > len || g->size[i] > len - src)
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "xsave: component %u at %llu+%u past the buffer's "
                                            "%zu bytes",
                                            i, (unsigned long long)src, g->size[i], len);
                memcpy(dst, xsave + src, g->size[i]);
        }
        return NULL;
}

size_t bd_core_auxv_words(const uint64_t *auxv, size_t max)
{
        size_t n = 0;
        while (n + 2 <= max && auxv[n] != 0)
                n += 2;
        return n + 2 <= max ? n + 2 : max;
}

static size_t align4(size_t n)
{
        return (n + 3) & ~(size_t)3;
}

struct bd_error *bd_core_note_add(struct bd_core_notes *n, const char *name, uint32_t type,
                                  const void *desc, size_t len)
{
        size_t namesz = strlen(name) + 1;
        if (len > UINT32_MAX / 2)
                return bd_error_new(BD_ERR_RANGE, "a note of %zu bytes", len);
        size_t need = n->len + 12 + align4(namesz) + align4(len);
        if (bd_grow((void **)&n->buf, &n->cap, need, 1, 4096))
                return &bd_error_nomem;
        uint8_t *p = n->buf + n->len;
        memset(p, 0, need - n->len);
        bd_put_le(p, (uint32_t)namesz, 4);
        bd_put_le(p + 4, (uint32_t)len, 4);
        bd_put_le(p + 8, type, 4);
        memcpy(p + 12, name, namesz);
        if (len)
                memcpy(p + 12 + align4(namesz), desc, len);
        n->len = need;
        return NULL;
}

struct bd_error *bd_core_notes_append(struct bd_core_notes *n, const struct bd_core_notes *more)
{
        if (bd_grow((void **)&n->buf, &n->cap, n->len + more->len, 1, 4096))
                return &bd_error_nomem;
        if (more->len)
                memcpy(n->buf + n->len, more->buf, more->len);
        n->len += more->len;
        return NULL;
}

void bd_core_notes_free(struct bd_core_notes *n)
{
        free(n->buf);
        memset(n, 0, sizeof(*n));
}

/* NT_FILE (elf.h has it since glibc 2.17; spelled out for older ones). */
#define NT_FILE_TYPE 0x46494c45u

struct bd_error *bd_core_nt_file(const struct bd_core_file_map *m, size_t n,
                                 struct bd_core_notes *notes)
{
        size_t size = 16 + 24 * n;
        for (size_t i = 0; i < n; i++)
                size += strlen(m[i].name) + 1;
        uint8_t *d = malloc(size);
        if (!d)
                return &bd_error_nomem;
        bd_put_le(d, n, 8);
        bd_put_le(d + 8, 4096, 8);
        size_t at = 16 + 24 * n;
        for (size_t i = 0; i < n; i++) {
                bd_put_le(d + 16 + 24 * i, m[i].start, 8);
                bd_put_le(d + 24 + 24 * i, m[i].end, 8);
                bd_put_le(d + 32 + 24 * i, m[i].pgoff, 8);
                size_t l = strlen(m[i].name) + 1;
                memcpy(d + at, m[i].name, l);
                at += l;
        }
        struct bd_error *err = bd_core_note_add(notes, "CORE", NT_FILE_TYPE, d, size);
        free(d);
        return err;
}

enum bd_core_dump bd_core_vma_dump(const struct bd_core_vma_facts *v)
{
        if (v->is_vdso)
                return BD_CORE_WHOLE;
        if (v->flags & (BD_VM_DONTDUMP | BD_VM_IO))
                return BD_CORE_SKIP;
        if (v->flags & BD_VM_SHARED)
                return v->has_file && v->file_unlinked ? BD_CORE_WHOLE : BD_CORE_SKIP;
        if (v->has_anon_vma)
                return BD_CORE_WHOLE;
        if (!v->has_file)
                return BD_CORE_SKIP;
        if (v->pgoff == 0 && (v->flags & BD_VM_READ))
                return BD_CORE_ELF_HEADER;
        return BD_CORE_SKIP;
}
