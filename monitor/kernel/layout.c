#include "layout.h"

#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btf.h"
#include "../cache/cache.h"

struct manifest_entry {
        const char *name, *path, *why;
        enum bd_layout_kind kind;
};

static const struct manifest_entry manifest[BDL_COUNT] = {
#define BD_MEMBER(id, path, why) {#id, path, why, BD_LAYOUT_MEMBER},
#define BD_SIZE(id, path, why)   {#id, path, why, BD_LAYOUT_SIZE},
#define BD_ENUM(id, path, why)   {#id, path, why, BD_LAYOUT_ENUM},
#define BD_BITS(id, path, why)   {#id, path, why, BD_LAYOUT_BITS},
#include "../../layouts/manifest.def"
#undef BD_MEMBER
#undef BD_SIZE
#undef BD_ENUM
#undef BD_BITS
};

static const char *const kind_word[] = {"member", "size", "enum", "bits"};
#define NKINDS (sizeof(kind_word) / sizeof(kind_word[0]))

const char *bd_layout_name(enum bd_layout_id id)
{
        return manifest[id].name;
}

const char *bd_layout_path(enum bd_layout_id id)
{
        return manifest[id].path;
}

const char *bd_layout_why(enum bd_layout_id id)
{
        return manifest[id].why;
}

enum bd_layout_kind bd_layout_kind(enum bd_layout_id id)
{
        return manifest[id].kind;
}

static int resolve_one(const struct bd_btf_index *ix, enum bd_layout_kind kind, const char *path,
                       int64_t *value, int64_t *size)
{
        struct bd_error *err = NULL;
        if (kind == BD_LAYOUT_MEMBER) {
                struct bd_btf_member m;
                err = bd_btf_index_member(ix, path, &m);
                /* A bitfield or unsized member has no byte layout to read. */
                if (!err && (m.bitfield_bits || m.bit_offset % 8 || m.size < 0)) {
                        bd_error_destroy(err);
                        return -1;
                }
                if (!err) {
                        *value = (int64_t)(m.bit_offset / 8);
                        *size = m.size;
                }
        } else if (kind == BD_LAYOUT_BITS) {
                struct bd_btf_member m;
                err = bd_btf_index_member(ix, path, &m);
                if (!err) {
                        *value = (int64_t)m.bit_offset;
                        *size = m.bitfield_bits ? m.bitfield_bits : 8 * m.size;
                        if (*size <= 0 || *size > 64) {
                                bd_error_destroy(err);
                                return -1;
                        }
                }
        } else if (kind == BD_LAYOUT_SIZE) {
                uint32_t id;
                err = bd_btf_index_struct(ix, path, &id);
                if (!err) {
                        *value = *size = btf__type_by_id(ix->btf, id)->size;
                }
        } else {
                err = bd_btf_index_enum(ix, path, value);
                *size = 0;
        }
        if (err) {
                bd_error_destroy(err);
                return -1;
        }
        return 0;
}

void bd_layout_from_btf(struct bd_layout *l, const struct btf *btf)
{
        memset(l->e, 0, sizeof(l->e));
        snprintf(l->source, sizeof(l->source), "btf");
        /* Built or not, it answers (see btf.h). */
        struct bd_btf_index ix;
        bd_error_destroy(bd_btf_index_init(&ix, btf));
        for (int id = 0; id < BDL_COUNT; id++) {
                const char *alts = manifest[id].path;
                while (*alts) {
                        const char *bar = strchr(alts, '|');
                        size_t n = bar ? (size_t)(bar - alts) : strlen(alts);
                        struct bd_layout_entry *e = &l->e[id];
                        if (n < sizeof(e->path)) {
                                memcpy(e->path, alts, n);
                                e->path[n] = '\0';
                                if (!resolve_one(&ix, manifest[id].kind, e->path, &e->value,
                                                 &e->size)) {
                                        e->present = 1;
                                        break;
                                }
                        }
                        alts += n + (bar != NULL);
                }
                if (!l->e[id].present)
                        l->e[id].path[0] = '\0';
        }
        bd_btf_index_release(&ix);
}

/* "kind ID path value size", one entry per line; '#' starts a comment. */
static struct bd_error *parse_line(struct bd_layout *l, char *line, unsigned lineno)
{
        char *hash = strchr(line, '#');
        if (hash)
                *hash = '\0';
        char *tok[6];
        int n = 0;
        for (char *save = NULL, *t = strtok_r(line, " \t\r", &save); t;
             t = strtok_r(NULL, " \t\r", &save)) {
                if (n == 6)
                        return bd_error_new(BD_ERR_PROTOCOL, "line %u: too many fields", lineno);
                tok[n++] = t;
        }
        if (!n)
                return NULL;
        if (n == 2 && !strcmp(tok[0], "release")) {
                snprintf(l->release, sizeof(l->release), "%s", tok[1]);
                return NULL;
        }
        if (n == 2 && !strcmp(tok[0], "build-id")) {
                snprintf(l->build_id, sizeof(l->build_id), "%s", tok[1]);
                return NULL;
        }
        if (n != 5)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "line %u: expected 'KIND ID PATH VALUE SIZE', got %d fields",
                                    lineno, n);
        int kind = -1;
        for (int k = 0; k < (int)NKINDS; k++)
                if (!strcmp(tok[0], kind_word[k]))
                        kind = k;
        if (kind < 0)
                return bd_error_new(BD_ERR_PROTOCOL, "line %u: unknown kind '%.32s'", lineno,
                                    tok[0]);
        char *end;
        errno = 0;
        long long value = strtoll(tok[3], &end, 0);
        if (*end || errno)
                return bd_error_new(BD_ERR_PROTOCOL, "line %u: bad value '%.32s'", lineno, tok[3]);
        long long size = strtoll(tok[4], &end, 0);
        if (*end || errno || size < 0 || size > (1 << 24) ||
            (kind != BD_LAYOUT_ENUM && (value < 0 || value > (1 << 27))) ||
            (kind == BD_LAYOUT_BITS && (size < 1 || size > 64)) ||
            (kind != BD_LAYOUT_BITS && kind != BD_LAYOUT_ENUM && value > (1 << 24)))
                return bd_error_new(BD_ERR_PROTOCOL, "line %u: value or size out of range", lineno);
        for (int id = 0; id < BDL_COUNT; id++) {
                if (strcmp(manifest[id].name, tok[1]))
                        continue;
                if ((int)manifest[id].kind != kind)
                        return bd_error_new(BD_ERR_PROTOCOL, "line %u: %s is a %s, not a %s",
                                            lineno, tok[1], kind_word[manifest[id].kind],
                                            kind_word[kind]);
                struct bd_layout_entry *e = &l->e[id];
                e->present = 1;
                e->value = value;
                e->size = size;
                snprintf(e->path, sizeof(e->path), "%s", tok[2]);
        }
        return NULL;
}

struct bd_error *bd_layout_parse(struct bd_layout *l, const char *text, size_t len,
                                 const char *source)
{
        memset(l, 0, sizeof(*l));
        snprintf(l->source, sizeof(l->source), "%s", source);
        char line[512];
        unsigned lineno = 0;
        size_t i = 0;
        while (i < len) {
                lineno++;
                size_t n = 0;
                while (i < len && text[i] != '\n') {
                        if (n == sizeof(line) - 1)
                                return bd_error_new(BD_ERR_PROTOCOL, "%s: line %u is too long",
                                                    source, lineno);
                        if (!text[i])
                                return bd_error_new(BD_ERR_PROTOCOL, "%s: line %u holds a NUL",
                                                    source, lineno);
                        line[n++] = text[i++];
                }
                line[n] = '\0';
                i++;
                struct bd_error *err = parse_line(l, line, lineno);
                if (err)
                        return bd_error_wrap(err, "%s", source);
        }
        return NULL;
}

#define LAYOUT_FILE_MAX (1u << 20)

struct bd_error *bd_layout_load_file(struct bd_layout *l, const char *path)
{
        FILE *f = fopen(path, "r");
        if (!f)
                return bd_error_new(errno == ENOENT ? BD_ERR_NOT_FOUND : BD_ERR_IO, "%s: %s", path,
                                    strerror(errno));
        char *buf = malloc(LAYOUT_FILE_MAX);
        if (!buf) {
                fclose(f);
                return &bd_error_nomem;
        }
        size_t n = fread(buf, 1, LAYOUT_FILE_MAX, f);
        int bad = ferror(f) || !feof(f);
        fclose(f);
        struct bd_error *err = bad ? bd_error_new(BD_ERR_IO, "%s: unreadable or over 1 MiB", path)
                                   : bd_layout_parse(l, buf, n, path);
        free(buf);
        return err;
}

void bd_layout_write(const struct bd_layout *l, FILE *f)
{
        fprintf(f, "# Backdoors layout: the offsets bdmon reads (layouts/manifest.def),\n"
                   "# for serving a kernel without BTF. Written by bdmon layouts export.\n");
        fprintf(f, "release %s\nbuild-id %s\n", l->release[0] ? l->release : "?",
                l->build_id[0] ? l->build_id : "?");
        for (int id = 0; id < BDL_COUNT; id++) {
                const struct bd_layout_entry *e = &l->e[id];
                if (e->present)
                        fprintf(f, "%-6s %-22s %-40s %" PRId64 " %" PRId64 "\n",
                                kind_word[manifest[id].kind], manifest[id].name, e->path, e->value,
                                e->size);
                else
                        fprintf(f, "# absent: %s %s %s\n", kind_word[manifest[id].kind],
                                manifest[id].name, manifest[id].path);
        }
}

static int try_dir(struct bd_layout *l, const char *dir, const char *build_id)
{
        char pattern[1024];
        snprintf(pattern, sizeof(pattern), "%s/*%s.layout", dir, build_id);
        glob_t g;
        if (glob(pattern, 0, NULL, &g))
                return 0;
        int found = 0;
        for (size_t i = 0; i < g.gl_pathc && !found; i++) {
                struct bd_error *err = bd_layout_load_file(l, g.gl_pathv[i]);
                found = !err && !strcmp(l->build_id, build_id);
                bd_error_destroy(err);
        }
        globfree(&g);
        return found;
}

struct bd_error *bd_layout_find_stored(struct bd_layout *l, const char *build_id)
{
        if (!bd_build_id_valid(build_id))
                return bd_error_new(BD_ERR_NOT_FOUND,
                                    "no stored layout: build id '%.40s' is not "
                                    "hex",
                                    build_id);
        char searched[1024] = "";
        const char *env = getenv("BDMON_LAYOUTS");
        if (env && *env) {
                char dirs[1024];
                snprintf(dirs, sizeof(dirs), "%s", env);
                for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d;
                     d = strtok_r(NULL, ":", &save))
                        if (try_dir(l, d, build_id))
                                return NULL;
                snprintf(searched, sizeof(searched), "%s:", env);
        }
        char dir[600] = "(no cache directory)";
        if (!bd_cache_path("layouts", dir, sizeof(dir), 0) && try_dir(l, dir, build_id))
                return NULL;
        if (try_dir(l, BD_DATADIR "/layouts", build_id))
                return NULL;
        return bd_error_new(BD_ERR_NOT_FOUND,
                            "no stored layout for build id %s (searched %s%s and " BD_DATADIR
                            "/layouts)",
                            build_id, searched, dir);
}

struct bd_error *bd_layout_get(const struct bd_layout *l, enum bd_layout_id id, int64_t *value)
{
        if ((unsigned)id >= BDL_COUNT || !l->e[id].present)
                return bd_error_new(BD_ERR_NOT_FOUND, "the kernel's %s has no %s '%s'", l->source,
                                    (unsigned)id < BDL_COUNT ? kind_word[manifest[id].kind] : "?",
                                    (unsigned)id < BDL_COUNT ? manifest[id].path : "?");
        *value = l->e[id].value;
        return NULL;
}

int bd_layout_has(const struct bd_layout *l, enum bd_layout_id id, int64_t *value)
{
        if ((unsigned)id >= BDL_COUNT || !l->e[id].present)
                return 0;
        *value = l->e[id].value;
        return 1;
}

struct bd_error *bd_layout_need(const struct bd_layout *l, const enum bd_layout_id *ids, size_t n,
                                int64_t *out)
{
        for (size_t i = 0; i < n; i++) {
                struct bd_error *err = bd_layout_get(l, ids[i], &out[i]);
                if (err)
                        return err;
        }
        return NULL;
}

struct bd_error *bd_layout_get_sized(const struct bd_layout *l, enum bd_layout_id id, int64_t size,
                                     int64_t *off)
{
        struct bd_error *err = bd_layout_get(l, id, off);
        if (!err && l->e[id].size != size)
                err = bd_error_new(BD_ERR_PROTOCOL, "%s is %lld bytes, not %lld",
                                   bd_layout_path(id), (long long)l->e[id].size, (long long)size);
        return err;
}

struct bd_error *bd_layout_bits(const struct bd_layout *l, enum bd_layout_id id, struct bd_bits *b)
{
        int64_t first = 0;
        struct bd_error *err = bd_layout_get(l, id, &first);
        if (err)
                return err;
        int64_t width = l->e[id].size;
        if (manifest[id].kind != BD_LAYOUT_BITS || first < 0 || width < 1 || first % 8 + width > 64)
                return bd_error_new(BD_ERR_PROTOCOL, "%s: bits %lld..%lld do not fit 8 bytes",
                                    bd_layout_path(id), (long long)first,
                                    (long long)(first + width - 1));
        *b = (struct bd_bits){first / 8, (unsigned)(first % 8), (unsigned)width};
        return NULL;
}
