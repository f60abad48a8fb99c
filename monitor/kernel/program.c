#include "program.h"

#include <sodium.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "btf.h"
#include "../../common/clock.h"
#include "../cache/cache.h"
#include "build_memo.h"

static void store_kallsyms(struct bd_program *prog);
static void direct_map_from(struct bd_program *prog);

/* A program for one copy of VMCOREINFO: the kernel it describes, not yet
 * checked. */
static struct bd_error *program_new(struct bd_phys *p, const struct bd_program_options *opt,
                                    const struct bd_vmcoreinfo *vi, struct bd_program **out)
{
        struct bd_program *prog = calloc(1, sizeof(*prog));
        if (!prog)
                return &bd_error_nomem;
        prog->phys = p;
        if (opt)
                prog->opt = *opt;
        prog->opt.gone = NULL; /* the caller's, and only needed to open */
        prog->vi = *vi;
        bd_vmcoreinfo_get(&prog->vi, "OSRELEASE", prog->release, sizeof(prog->release));
        bd_vmcoreinfo_get(&prog->vi, "BUILD-ID", prog->build_id, sizeof(prog->build_id));
        struct bd_error *err = bd_kernel_open(p, &prog->vi, &prog->k);
        if (err) {
                free(prog);
                return err;
        }
        *out = prog;
        return NULL;
}

static int same_text(const struct bd_vmcoreinfo *a, const struct bd_vmcoreinfo *b)
{
        return a->len == b->len && !memcmp(a->text, b->text, a->len);
}

/* What the scan found so far, and what it keeps aside. */
struct search {
        struct bd_phys *p;
        const struct bd_program_options *opt;
        uint64_t hint;
        struct bd_program *taken;
        /* The first checked copy whose kernel does not run: the kernel of a
         * dead target, unless a running one turns up. */
        struct bd_program *dead;
        unsigned forged, stopped;
        /* Whether the jiffies_64 at a physical address moved: the answer
         * for every copy that describes the same kernel, so that a spray
         * of faithful copies costs one wait, not one each. */
        struct seen {
                uint64_t phys;
                int live;
        } seen[16];
        unsigned nseen;
        char why[160]; /* the last copy's fault */
        /* The first symbol table read, and what it was read through: a
         * spray of copies that all lead to the same table reads it once. */
        char ks_key[320];
        void *ks_blob;
        size_t ks_len;
};

/* What a kallsyms table read through a copy depends on. */
static void kallsyms_key(const struct bd_program *prog, char *buf, size_t cap)
{
        static const char *const keys[] = {
            "SYMBOL(kallsyms_names)",       "SYMBOL(kallsyms_num_syms)",
            "SYMBOL(kallsyms_token_table)", "SYMBOL(kallsyms_token_index)",
            "SYMBOL(kallsyms_offsets)",     "SYMBOL(kallsyms_relative_base)",
            "SYMBOL(kallsyms_addresses)",
        };
        int n = snprintf(buf, cap, "%llx %lld %d %llx", (unsigned long long)prog->k->pgd_phys,
                         (long long)prog->k->phys_base, prog->k->levels,
                         (unsigned long long)prog->k->kaslr_offset);
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && n > 0 && (size_t)n < cap; i++) {
                uint64_t v = 0;
                bd_vmcoreinfo_number(&prog->vi, keys[i], 1, &v);
                n += snprintf(buf + n, cap - (size_t)n, " %llx", (unsigned long long)v);
        }
}

/* The table this search read already, if the copy leads to it. */
static void kallsyms_seen(struct search *s, struct bd_program *prog)
{
        char key[sizeof(s->ks_key)];
        kallsyms_key(prog, key, sizeof(key));
        if (!s->ks_blob) {
                struct bd_kallsyms *ks;
                struct bd_error *err = bd_program_kallsyms(prog, &ks);
                /* One from the cache costs the next copy no read either. */
                if (!err && !prog->stats.kallsyms_from_cache &&
                    !bd_kallsyms_serialize(ks, prog->k->kaslr_offset, &s->ks_blob, &s->ks_len))
                        memcpy(s->ks_key, key, sizeof(key));
                bd_error_destroy(err);
                return;
        }
        if (strcmp(key, s->ks_key))
                return;
        struct bd_error *err =
            bd_kallsyms_deserialize(s->ks_blob, s->ks_len, prog->k->kaslr_offset, &prog->ks);
        if (err)
                prog->ks = NULL;
        else
                direct_map_from(prog);
        bd_error_destroy(err);
}

/* The kernel points to the two copies it wrote (vmcoreinfo_note, the ELF
 * note; vmcoreinfo_data, its text): a copy anywhere else, however
 * faithful, is someone else's. Kernels without data symbols in kallsyms
 * do not say. Two copies the kernel wrote that disagree can only have
 * been edited in place, by something that writes kernel memory: the
 * program is then marked suspicious. */
static struct bd_error *at_home(struct bd_program *prog, const struct bd_kallsyms *ks)
{
        static const char *const pointers[] = {"vmcoreinfo_note", "vmcoreinfo_data"};
        uint64_t home[2] = {0, 0};
        int named = 0;
        for (size_t i = 0; i < 2; i++) {
                uint64_t at, va, size;
                struct bd_error *err = bd_kallsyms_lookup(ks, pointers[i], &at, NULL);
                if (err) {
                        bd_error_destroy(err);
                        continue;
                }
                named++;
                if ((err = bd_kernel_read_u64(prog->k, at, &va)))
                        return err;
                if (va && (err = bd_kernel_translate(prog->k, va, &home[i], &size)))
                        return err;
        }
        if (!named)
                return NULL;
        int mine = home[0] == prog->vi.phys ? 0 : home[1] == prog->vi.phys ? 1 : -1;
        if (mine < 0 || !prog->vi.phys)
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "not where the kernel keeps its VMCOREINFO (note at %#llx, "
                                    "text at %#llx)",
                                    (unsigned long long)home[0], (unsigned long long)home[1]);
        uint64_t other = home[!mine];
        if (!other)
                return NULL;
        uint8_t page[BD_PHYS_PAGE];
        struct bd_vmcoreinfo *twin = malloc(sizeof(*twin));
        if (!twin)
                return &bd_error_nomem;
        struct bd_error *err = bd_phys_read(prog->phys, other, page, sizeof(page));
        if (!err && (!bd_vmcoreinfo_match(page, sizeof(page), twin) || !same_text(twin, &prog->vi)))
                snprintf(prog->stats.suspicious, sizeof(prog->stats.suspicious),
                         "the kernel's two copies of VMCOREINFO disagree (%s at %#llx, %s at "
                         "%#llx): edited in place",
                         pointers[mine] + 11, (unsigned long long)prog->vi.phys,
                         pointers[!mine] + 11, (unsigned long long)other);
        free(twin);
        if (err && !bd_err_fatal(err)) {
                bd_error_destroy(err);
                err = NULL;
        }
        return err;
}

/* struct new_utsname: six fields of 65 bytes; sysname, then nodename, then
 * release. */
#define UTS_LEN     65
#define UTS_RELEASE (2 * UTS_LEN)

/* The symbols of the copy that the monitor uses (page tables, views,
 * kallsyms itself) must be where the kernel's own table puts them: a copy
 * that sends page-table walks elsewhere (init_top_pgt moved to another
 * table that happens to map the image) is not the kernel's. Not every
 * SYMBOL() is an address: mem_section's is the pointer's value. */
static struct bd_error *symbols_agree(const struct bd_program *prog, const struct bd_kallsyms *ks)
{
        static const char *const names[] = {
            "init_top_pgt",
            "swapper_pg_dir",
            "init_uts_ns",
            "_stext",
            "prb",
            "kallsyms_names",
            "kallsyms_num_syms",
            "kallsyms_token_table",
            "kallsyms_token_index",
            "kallsyms_offsets",
            "kallsyms_relative_base",
        };
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                char key[64];
                uint64_t want, got;
                snprintf(key, sizeof(key), "SYMBOL(%s)", names[i]);
                if (bd_vmcoreinfo_number(&prog->vi, key, 1, &want))
                        continue;
                struct bd_error *err = bd_kallsyms_lookup(ks, names[i], &got, NULL);
                bd_error_destroy(err);
                if (!err && got != want)
                        return bd_error_new(BD_ERR_NOT_FOUND,
                                            "SYMBOL(%s) is %#llx, the kernel's kallsyms say %#llx",
                                            names[i], (unsigned long long)want,
                                            (unsigned long long)got);
        }
        return NULL;
}

/* The kernel a copy describes must be in memory as it says: its own
 * init_uts_ns, reached through its own page tables, names the copy's
 * release, and its own vmlinux_build_id (what the kernel prints as
 * BUILD-ID) is the copy's. Anyone can write a page of text; few can also
 * plant page tables where the copy points and a kernel image behind them. */
static struct bd_error *verify(struct search *s, struct bd_program *prog)
{
        uint64_t uts, name_off = 0;
        if (bd_vmcoreinfo_number(&prog->vi, "SYMBOL(init_uts_ns)", 1, &uts) ||
            uts < BD_KERNEL_IMAGE_START || uts >= BD_KERNEL_IMAGE_END)
                return bd_error_new(BD_ERR_NOT_FOUND, "no init_uts_ns in the kernel image");
        /* Before 5.11 the kernel did not say; the name was then within
         * the first words of the namespace. */
        int said = !bd_vmcoreinfo_number(&prog->vi, "OFFSET(uts_namespace.name)", 0, &name_off);
        if (said && name_off > 4096)
                return bd_error_new(BD_ERR_NOT_FOUND, "uts_namespace.name at %llu",
                                    (unsigned long long)name_off);
        char name[UTS_RELEASE + UTS_LEN];
        int match = 0;
        for (uint64_t off = said ? name_off : 0; !match && off <= (said ? name_off : 8); off += 4) {
                struct bd_error *err = bd_kernel_read(prog->k, uts + off, name, sizeof(name));
                if (err)
                        return err;
                name[UTS_LEN - 1] = name[sizeof(name) - 1] = '\0';
                match = !strcmp(name, "Linux") && !strcmp(name + UTS_RELEASE, prog->release);
        }
        if (!match)
                return bd_error_new(BD_ERR_NOT_FOUND, "init_uts_ns does not name release %s",
                                    prog->release);
        struct bd_kallsyms *ks;
        uint64_t at;
        kallsyms_seen(s, prog);
        struct bd_error *err = bd_program_kallsyms(prog, &ks);
        if (err || (err = symbols_agree(prog, ks)) || (err = at_home(prog, ks)))
                return err;
        /* A kernel without data symbols in kallsyms (KALLSYMS_ALL off)
         * keeps it where nothing names it. */
        if ((err = bd_kallsyms_lookup(ks, "vmlinux_build_id", &at, NULL))) {
                bd_error_destroy(err);
                return NULL;
        }
        uint8_t id[BD_PROGRAM_BUILD_ID_LEN];
        char hex[2 * sizeof(id) + 1];
        if ((err = bd_kernel_read(prog->k, at, id, sizeof(id))))
                return err;
        for (size_t i = 0; i < sizeof(id); i++)
                snprintf(hex + 2 * i, 3, "%02x", id[i]);
        if (strcmp(hex, prog->build_id))
                return bd_error_new(BD_ERR_NOT_FOUND, "the kernel's build id is %s, not %s", hex,
                                    prog->build_id);
        return NULL;
}

/* How much of the BTF one turn of the liveness wait reads: a few ms of
 * the fabric, so the wait ends soon after the jiffies move. */
#define EARLY_BTF_STEP (128u << 10)

/* A kernel whose symbols came from its memory, not the cache, is new to
 * this monitor: its BTF will be read and parsed too, and the time its idle
 * jiffies take to move is spent doing so rather than sleeping. 0 when there
 * is nothing left to do (anything going wrong here just ends the early
 * read: bd_program_btf starts over and reports). */
static int read_btf_early(struct bd_program *prog)
{
        struct bd_btf_read *r = &prog->early_btf;
        struct bd_error *err = NULL;
        if (!prog->early_btf_tried) {
                prog->early_btf_tried = 1;
                if (prog->stats.kallsyms_from_cache || prog->btf || prog->opt.layout ||
                    prog->opt.no_types)
                        return 0;
                err = bd_btf_read_begin(prog->ks, r);
        }
        if (!err && r->buf && r->have < r->len &&
            !(err = bd_btf_read_more(prog->k, r, EARLY_BTF_STEP)))
                return 1;
        size_t len = r->len;
        if (!err && r->buf && !(err = bd_btf_read_end(prog->k, r, &prog->early_btf_parsed))) {
                prog->stats.btf_bytes = len;
                return 1;
        }
        if (err) {
                bd_btf_read_discard(r);
                bd_error_destroy(err);
        }
        return 0;
}

/* Running: its jiffies move. An idle NOHZ kernel may leave them still
 * until its watchdog hrtimer (every 4 s); a dead one, or the image a
 * reboot left behind, never moves them. -1 when it cannot tell (no
 * jiffies_64 in kallsyms). */
static struct bd_error *running(struct search *s, struct bd_program *prog, int *live)
{
        uint64_t at, phys, size, first, now;
        *live = -1;
        struct bd_error *err = bd_kallsyms_lookup(prog->ks, "jiffies_64", &at, NULL);
        if (err) {
                bd_error_destroy(err);
                return NULL;
        }
        if ((err = bd_kernel_translate(prog->k, at, &phys, &size)) ||
            (err = bd_kernel_read_u64(prog->k, at, &first)))
                return err;
        for (unsigned i = 0; i < s->nseen; i++)
                if (s->seen[i].phys == phys) {
                        *live = s->seen[i].live;
                        return NULL;
                }
        uint64_t start = bd_now_ns(), until = start + BD_PROGRAM_LIVE_WAIT_NS;
        do {
                /* A kernel whose jiffies stood still for a quarter of a
                 * second is idle (or dead) and may stay so for seconds:
                 * looked at every 20 ms, not every 2, it costs a fleet's
                 * first contact a tenth of the reads and wake-ups. */
                long nap_ms = bd_now_ns() - start < 250ull * 1000 * 1000 ? 2 : 20;
                if (!read_btf_early(prog))
                        nanosleep(&(struct timespec){.tv_nsec = nap_ms * 1000 * 1000}, NULL);
                if ((err = bd_kernel_read_u64(prog->k, at, &now)))
                        return err;
        } while (now == first && bd_now_ns() < until);
        prog->stats.live_wait_ns = bd_now_ns() - start;
        *live = now != first;
        if (s->nseen < sizeof(s->seen) / sizeof(s->seen[0]))
                s->seen[s->nseen++] = (struct seen){phys, *live};
        return NULL;
}

/* 0 when libsodium does not start: then no kernel is known gone, which
 * costs a search its time, never a kernel. */
static int digest(const struct bd_vmcoreinfo *vi, uint8_t out[BD_PROGRAM_GONE_DIGEST])
{
        /* Idempotent; libsodium wants it before any other call. */
        return sodium_init() >= 0 &&
               !crypto_generichash(out, BD_PROGRAM_GONE_DIGEST, (const unsigned char *)vi->text,
                                   vi->len, NULL, 0);
}

/* The slot holding vi's digest d, or -1. */
static int gone_slot(const struct bd_program_gone *g, const uint8_t d[BD_PROGRAM_GONE_DIGEST])
{
        for (unsigned i = 0; i < g->n; i++)
                if (!memcmp(g->digest[i], d, BD_PROGRAM_GONE_DIGEST))
                        return (int)i;
        return -1;
}

void bd_program_gone_add(struct bd_program_gone *g, const struct bd_vmcoreinfo *vi,
                         uint64_t until_ns)
{
        uint8_t d[BD_PROGRAM_GONE_DIGEST];
        if (!digest(vi, d))
                return;
        int at = gone_slot(g, d);
        if (at >= 0) {
                if (g->until_ns[at] < until_ns)
                        g->until_ns[at] = until_ns;
                return;
        }
        memcpy(g->digest[g->next], d, sizeof(d));
        g->until_ns[g->next] = until_ns;
        g->next = (g->next + 1) % BD_PROGRAM_GONE_MAX;
        if (g->n < BD_PROGRAM_GONE_MAX)
                g->n++;
}

int bd_program_gone_has(const struct bd_program_gone *g, const struct bd_vmcoreinfo *vi,
                        uint64_t now_ns)
{
        uint8_t d[BD_PROGRAM_GONE_DIGEST];
        int at = digest(vi, d) ? gone_slot(g, d) : -1;
        return at >= 0 && now_ns < g->until_ns[at];
}

static struct bd_error *check_copy(void *ctx, const struct bd_vmcoreinfo *copy, int *take)
{
        struct search *s = ctx;
        struct bd_program_gone *gone = s->opt ? s->opt->gone : NULL;
        *take = 0;
        /* A kernel done with, or the dead one already kept (a kernel
         * keeps two copies, the note and its data page). */
        if ((gone && bd_program_gone_has(gone, copy, bd_now_ns())) ||
            (s->dead && same_text(&s->dead->vi, copy)))
                return NULL;
        struct bd_program *prog = NULL;
        struct bd_error *err = program_new(s->p, s->opt, copy, &prog);
        if (!err)
                err = verify(s, prog);
        int live = -1;
        /* A remembered copy, checked, serves a view of a dead kernel as it
         * is; the watch (need_live) and a scan want the running one. */
        int need_live = gone || (s->opt && s->opt->need_live) || copy->phys != s->hint;
        if (!err && need_live && s->p->still)
                live = 0;
        else if (!err && need_live)
                err = running(s, prog, &live);
        if (bd_err_fatal(err)) {
                bd_program_close(prog);
                return err;
        }
        if (err) {
                s->forged++;
                snprintf(s->why, sizeof(s->why), "copy at %#llx: %s",
                         (unsigned long long)copy->phys, err->message);
                bd_error_destroy(err);
                bd_program_close(prog);
                return NULL;
        }
        prog->stats.live = live;
        if (live || !need_live) {
                s->taken = prog;
                *take = 1;
        } else if (!s->dead && !gone) {
                s->stopped++;
                s->dead = prog;
        } else {
                s->stopped++;
                if (gone)
                        bd_program_gone_add(gone, copy, bd_now_ns() + BD_PROGRAM_STILL_NS);
                bd_program_close(prog);
        }
        return NULL;
}

struct bd_error *bd_program_open(struct bd_phys *p, const struct bd_program_options *opt,
                                 struct bd_program **out)
{
        struct bd_program_options none = {0};
        if (!opt)
                opt = &none;
        struct search s = {.p = p, .opt = opt};
        s.hint = opt->rescan || opt->gone ? 0 : bd_cache_hint_load(p->name);
        struct bd_vmcoreinfo_scan scan;
        struct bd_vmcoreinfo *copy = malloc(sizeof(*copy));
        if (!copy)
                return &bd_error_nomem;
        uint64_t read_before = p->bytes_read;
        struct bd_error *err =
            bd_vmcoreinfo_find(p, s.hint, check_copy, &s, copy, &scan, opt->progress);
        free(copy);
        free(s.ks_blob);
        if (err && err->code == BD_ERR_NOT_FOUND && s.dead) {
                bd_error_destroy(err);
                err = NULL;
                s.taken = s.dead;
                s.dead = NULL;
        }
        bd_program_close(s.dead);
        if (err) {
                if (err->code == BD_ERR_NOT_FOUND && (s.forged || s.stopped))
                        err = bd_error_wrap(err,
                                            "%u cop%s of VMCOREINFO false to memory%s%s%s, "
                                            "%u of a kernel that does not run%s",
                                            s.forged, s.forged == 1 ? "y" : "ies",
                                            s.why[0] ? " (last: " : "", s.why, s.why[0] ? ")" : "",
                                            s.stopped,
                                            opt->gone ? " (the new kernel's not yet)" : "");
                return err;
        }
        struct bd_program *prog = s.taken;
        prog->checked = 1;
        store_kallsyms(prog);
        /* Only a checked location is remembered. */
        if (!scan.from_hint)
                bd_cache_hint_store(p->name, prog->vi.phys);
        prog->stats.vmcoreinfo_from_hint = scan.from_hint;
        prog->stats.vmcoreinfo_bytes = p->bytes_read - read_before;
        prog->stats.vmcoreinfo_searched = scan.bytes_scanned;
        prog->stats.vmcoreinfo_ns = scan.elapsed_ns;
        prog->stats.vmcoreinfo_copies = scan.copies;
        prog->stats.vmcoreinfo_forged = s.forged;
        *out = prog;
        return NULL;
}

void bd_program_close(struct bd_program *prog)
{
        if (!prog)
                return;
        bd_modsyms_free(prog->modsyms);
        free(prog->cpu_offset);
        bd_btf_read_discard(&prog->early_btf);
        btf__free(prog->early_btf_parsed);
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

void bd_program_trim(struct bd_program *prog)
{
        /* Without the cache they would come again from the target, and
         * slowly: kept. */
        if (!cache_on(prog) || !prog->checked)
                return;
        btf__free(prog->btf);
        prog->btf = NULL;
        bd_btf_read_discard(&prog->early_btf);
        btf__free(prog->early_btf_parsed);
        prog->early_btf_parsed = NULL;
        bd_kallsyms_free(prog->ks);
        prog->ks = NULL;
        /* Freed in the middle of a heap, its pages would stay resident. */
        malloc_trim(0);
}

static struct bd_kallsyms *kallsyms_from_cache(struct bd_program *prog)
{
        struct bd_build_memo *m = cache_on(prog) ? bd_build_memo_get(prog->build_id) : NULL;
        if (!m)
                return NULL;
        const void *data;
        size_t len;
        struct bd_kallsyms *base, *ks = NULL;
        /* A cache that cannot be read is one that is not there. */
        struct bd_error *err = bd_build_memo_kallsyms(m, &data, &len, &base);
        if (!err)
                err = bd_kallsyms_deserialize_from(base, data, len, prog->k->kaslr_offset, &ks);
        if (!err && (err = bd_kallsyms_matches(ks, prog->k, &prog->vi, BD_PROGRAM_CACHE_SAMPLES))) {
                prog->stats.cache_refused++;
                bd_kallsyms_free(ks);
                ks = NULL;
        }
        bd_error_destroy(err);
        bd_build_memo_put(m);
        return ks;
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

/* Kept for the next contact only once the kernel it came from has passed
 * the checks: a forged copy's BUILD-ID must not name a cache entry. */
static void store_kallsyms(struct bd_program *prog)
{
        void *data;
        size_t len;
        if (prog->checked && !prog->stats.kallsyms_from_cache && prog->ks && cache_on(prog) &&
            !bd_kallsyms_serialize(prog->ks, prog->k->kaslr_offset, &data, &len)) {
                bd_build_memo_store(prog->build_id, "kallsyms", data, len);
                free(data);
        }
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
                        store_kallsyms(prog);
                }
                /* Page-table walks were enough to decode kallsyms (it lives in
                 * the image); from here on the direct map is a subtraction. */
                direct_map_from(prog);
        }
        *out = prog->ks;
        return NULL;
}

/* Whether this target's memory matches cached BTF. Held once: a refused
 * cache is not offered to the target again, so that a second draw of
 * chunks cannot let through what the first caught. */
static int btf_matches(struct bd_program *prog, const void *data, size_t len)
{
        struct bd_error *err =
            bd_btf_matches(prog->k, prog->ks, data, len, BD_PROGRAM_CACHE_CHUNKS);
        if (err) {
                prog->stats.cache_refused++;
                prog->btf_refused = 1;
        }
        bd_error_destroy(err);
        return !err;
}

/* The build's memo, held, when it has cached BTF and this target's memory
 * matches it; NULL otherwise. */
static struct bd_build_memo *matching_btf(struct bd_program *prog, const void **data, size_t *len)
{
        struct bd_build_memo *m =
            cache_on(prog) && !prog->btf_refused ? bd_build_memo_get(prog->build_id) : NULL;
        struct bd_error *err = m ? bd_build_memo_btf(m, data, len) : NULL;
        if (err || (m && !btf_matches(prog, *data, *len))) {
                bd_build_memo_put(m);
                m = NULL;
        }
        bd_error_destroy(err);
        return m;
}

static struct btf *btf_from_cache(struct bd_program *prog)
{
        const void *data;
        size_t len;
        struct bd_build_memo *m = matching_btf(prog, &data, &len);
        struct btf *btf = m ? bd_btf_parse(data, len, NULL) : NULL;
        bd_build_memo_put(m);
        return btf;
}

struct bd_error *bd_program_btf(struct bd_program *prog, struct btf **out)
{
        if (!prog->btf) {
                struct bd_kallsyms *ks;
                struct bd_error *err = bd_program_kallsyms(prog, &ks);
                if (err)
                        return err;
                /* The target's own, parsed during the wait for its jiffies:
                 * no cache is newer. */
                struct btf *early = prog->early_btf_parsed;
                prog->early_btf_parsed = NULL;
                prog->btf = early ? early : btf_from_cache(prog);
                prog->stats.btf_from_cache = prog->btf && !early;
                if (!prog->btf) {
                        struct bd_btf_read *r = &prog->early_btf;
                        if (!r->buf && (err = bd_btf_read_begin(ks, r)))
                                return err;
                        size_t len = r->len;
                        if ((err = bd_btf_read_end(prog->k, r, &prog->btf)))
                                return err;
                        prog->stats.btf_bytes = len;
                }
                uint32_t size;
                const void *raw = btf__raw_data(prog->btf, &size);
                if (!prog->stats.btf_from_cache && cache_on(prog) && prog->checked && raw)
                        bd_build_memo_store(prog->build_id, "btf", raw, size);
        }
        *out = prog->btf;
        return NULL;
}

/* The layout the process computed once from the cached BTF, for a target
 * whose memory matches that BTF; 0 otherwise (the BTF path then decides). */
static int layout_from_cache(struct bd_program *prog, struct bd_layout *l)
{
        struct bd_kallsyms *ks;
        struct bd_error *err = NULL;
        if (!cache_on(prog) || prog->btf || (err = bd_program_kallsyms(prog, &ks))) {
                bd_error_destroy(err);
                return 0;
        }
        const void *data;
        size_t len;
        struct bd_build_memo *m = matching_btf(prog, &data, &len);
        int have = m && !(err = bd_build_memo_layout(m, l));
        bd_error_destroy(err);
        bd_build_memo_put(m);
        prog->stats.btf_from_cache = have;
        return have;
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
        } else if (!layout_from_cache(prog, l)) {
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
