#include "program.h"

#include <stdlib.h>
#include <string.h>

#include "btf.h"
#include "../cache/cache.h"

struct bd_error *bd_program_open(struct bd_phys *p, const struct bd_program_options *opt,
                                 struct bd_program **out)
{
        struct bd_program *prog = calloc(1, sizeof(*prog));
        if (!prog)
                return &bd_error_nomem;
        prog->phys = p;
        if (opt)
                prog->opt = *opt;
        uint64_t hint = prog->opt.rescan || prog->opt.replaced ? 0 : bd_cache_hint_load(p->name);
        struct bd_vmcoreinfo_scan scan;
        struct bd_error *err =
            prog->opt.replaced ? bd_vmcoreinfo_find_new(p, prog->opt.replaced, &prog->vi, &scan,
                                                        prog->opt.progress)
                               : bd_vmcoreinfo_find(p, hint, &prog->vi, &scan, prog->opt.progress);
        prog->opt.replaced = NULL; /* the caller's, and only needed here */
        if (!err) {
                if (!scan.from_hint)
                        bd_cache_hint_store(p->name, prog->vi.phys);
                prog->stats.vmcoreinfo_from_hint = scan.from_hint;
                prog->stats.vmcoreinfo_bytes = scan.bytes_scanned;
                prog->stats.vmcoreinfo_ns = scan.elapsed_ns;
                bd_vmcoreinfo_get(&prog->vi, "OSRELEASE", prog->release, sizeof(prog->release));
                bd_vmcoreinfo_get(&prog->vi, "BUILD-ID", prog->build_id, sizeof(prog->build_id));
                err = bd_kernel_open(p, &prog->vi, &prog->k);
        }
        if (err) {
                free(prog);
                return err;
        }
        *out = prog;
        return NULL;
}

void bd_program_close(struct bd_program *prog)
{
        if (!prog)
                return;
        bd_modsyms_free(prog->modsyms);
        free(prog->cpu_offset);
        free(prog->layout);
        btf__free(prog->btf);
        bd_kallsyms_free(prog->ks);
        bd_kernel_close(prog->k);
        free(prog);
}

static int cache_on(const struct bd_program *prog)
{
        return !prog->opt.no_cache && prog->build_id[0];
}

/* A cache that cannot be read is one that is not there. */
static int load_cached(const struct bd_program *prog, const char *what, size_t max, void **data,
                       size_t *len)
{
        struct bd_error *err = bd_cache_build_load(prog->build_id, what, max, data, len);
        bd_error_destroy(err);
        return !err;
}

/* A cached table is trusted only if it agrees with what VMCOREINFO itself
 * says of this boot: a stale or foreign file must not name wrong addresses. */
static int kallsyms_agree(const struct bd_program *prog, const struct bd_kallsyms *ks)
{
        uint64_t want, got;
        if (bd_vmcoreinfo_number(&prog->vi, "SYMBOL(init_top_pgt)", 1, &want))
                return 1;
        struct bd_error *err = bd_kallsyms_lookup(ks, "init_top_pgt", &got, NULL);
        bd_error_destroy(err);
        return !err && got == want;
}

static struct bd_kallsyms *kallsyms_from_cache(struct bd_program *prog)
{
        void *data;
        size_t len;
        if (!cache_on(prog) || !load_cached(prog, "kallsyms", 256u << 20, &data, &len))
                return NULL;
        struct bd_kallsyms *ks = NULL;
        struct bd_error *err = bd_kallsyms_deserialize(data, len, prog->k->kaslr_offset, &ks);
        free(data);
        bd_error_destroy(err);
        if (!err && !kallsyms_agree(prog, ks)) {
                bd_kallsyms_free(ks);
                ks = NULL;
        }
        return err ? NULL : ks;
}

/* Without it every read walks the page tables: slower, still right. */
static void direct_map_from(struct bd_program *prog)
{
        uint64_t at, base;
        struct bd_error *err = bd_kallsyms_lookup(prog->ks, "page_offset_base", &at, NULL);
        if (!err && !(err = bd_kernel_read_u64(prog->k, at, &base)))
                bd_kernel_set_direct_map(prog->k, base);
        bd_error_destroy(err);
}

struct bd_error *bd_program_kallsyms(struct bd_program *prog, struct bd_kallsyms **out)
{
        if (!prog->ks) {
                prog->ks = kallsyms_from_cache(prog);
                prog->stats.kallsyms_from_cache = prog->ks != NULL;
                if (!prog->ks) {
                        struct bd_error *err = bd_kallsyms_load(prog->k, &prog->vi, &prog->ks);
                        if (err)
                                return err;
                        struct bd_kallsyms_stats st;
                        bd_kallsyms_stats(prog->ks, &st);
                        prog->stats.kallsyms_bytes = st.bytes_read;
                        void *data;
                        size_t len;
                        if (cache_on(prog) &&
                            !bd_kallsyms_serialize(prog->ks, prog->k->kaslr_offset, &data, &len)) {
                                bd_cache_build_store(prog->build_id, "kallsyms", data, len);
                                free(data);
                        }
                }
                /* Page-table walks were enough to decode kallsyms (it lives in
                 * the image); from here on the direct map is a subtraction. */
                direct_map_from(prog);
        }
        *out = prog->ks;
        return NULL;
}

static struct btf *btf_from_cache(struct bd_program *prog)
{
        void *data;
        size_t len;
        if (!cache_on(prog) || !load_cached(prog, "btf", BD_BTF_MAX, &data, &len))
                return NULL;
        struct btf *btf = bd_btf_parse(data, len, NULL);
        free(data);
        return btf;
}

struct bd_error *bd_program_btf(struct bd_program *prog, struct btf **out)
{
        if (!prog->btf) {
                struct bd_kallsyms *ks;
                struct bd_error *err = bd_program_kallsyms(prog, &ks);
                if (err)
                        return err;
                prog->btf = btf_from_cache(prog);
                prog->stats.btf_from_cache = prog->btf != NULL;
                if (!prog->btf) {
                        if ((err = bd_btf_load(prog->k, ks, &prog->btf, &prog->stats.btf_bytes)))
                                return err;
                        uint32_t size;
                        const void *raw = btf__raw_data(prog->btf, &size);
                        if (cache_on(prog) && raw)
                                bd_cache_build_store(prog->build_id, "btf", raw, size);
                }
        }
        *out = prog->btf;
        return NULL;
}

struct bd_error *bd_program_layout(struct bd_program *prog, const struct bd_layout **out)
{
        if (prog->layout) {
                *out = prog->layout;
                return NULL;
        }
        struct bd_layout *l = calloc(1, sizeof(*l));
        if (!l)
                return &bd_error_nomem;
        struct bd_error *err = NULL;
        if (prog->opt.layout) {
                err = bd_layout_load_file(l, prog->opt.layout);
                if (!err && l->build_id[0] && strcmp(l->build_id, prog->build_id))
                        err =
                            bd_error_new(BD_ERR_TARGET, "%s is for build id %s, the target runs %s",
                                         prog->opt.layout, l->build_id, prog->build_id);
        } else {
                struct btf *btf;
                err = bd_program_btf(prog, &btf);
                if (!err) {
                        bd_layout_from_btf(l, btf);
                } else {
                        struct bd_error *stored = bd_layout_find_stored(l, prog->build_id);
                        if (stored) {
                                err = bd_error_wrap(err, "%s; %s", stored->message, "and no BTF");
                                bd_error_destroy(stored);
                        } else {
                                bd_error_destroy(err);
                                err = NULL;
                        }
                }
        }
        if (err) {
                free(l);
                return err;
        }
        snprintf(l->release, sizeof(l->release), "%s", prog->release);
        snprintf(l->build_id, sizeof(l->build_id), "%s", prog->build_id);
        prog->layout = l;
        *out = l;
        return NULL;
}

struct bd_error *bd_program_symbol(struct bd_program *prog, const char *name, uint64_t *addr)
{
        struct bd_kallsyms *ks;
        struct bd_error *err = bd_program_kallsyms(prog, &ks);
        return err ? err : bd_kallsyms_lookup(ks, name, addr, NULL);
}

struct bd_error *bd_program_read_symbol(struct bd_program *prog, const char *name, void *buf,
                                        size_t len)
{
        uint64_t addr;
        struct bd_error *err = bd_program_symbol(prog, name, &addr);
        if (!err && (err = bd_kernel_read(prog->k, addr, buf, len)))
                err = bd_error_wrap(err, "reading %s", name);
        return err;
}

struct bd_error *bd_program_cpus(struct bd_program *prog, unsigned *ncpus)
{
        if (!prog->cpu_offset) {
                uint32_t n;
                struct bd_error *err = bd_program_read_symbol(prog, "nr_cpu_ids", &n, sizeof(n));
                if (err)
                        return err;
                if (!n || n > BD_PROGRAM_MAX_CPUS)
                        return bd_error_new(BD_ERR_PROTOCOL, "nr_cpu_ids is %u", n);
                uint64_t *off = calloc(n, sizeof(*off));
                if (!off)
                        return &bd_error_nomem;
                if ((err =
                         bd_program_read_symbol(prog, "__per_cpu_offset", off, n * sizeof(*off)))) {
                        free(off);
                        return err;
                }
                prog->cpu_offset = off;
                prog->ncpus = n;
        }
        *ncpus = prog->ncpus;
        return NULL;
}

struct bd_error *bd_program_percpu(struct bd_program *prog, uint64_t addr, unsigned cpu,
                                   uint64_t *out)
{
        unsigned n;
        struct bd_error *err = bd_program_cpus(prog, &n);
        if (err)
                return err;
        if (cpu >= n)
                return bd_error_new(BD_ERR_RANGE, "cpu %u is past nr_cpu_ids (%u)", cpu, n);
        *out = addr + prog->cpu_offset[cpu];
        return NULL;
}
