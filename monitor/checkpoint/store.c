#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cache/cache.h"

#define HASH_LEN 16
/* A manifest lists at most 16 regions of 16 MiB in 4-KiB chunks. */
#define MANIFEST_MAX (16u << 20)

typedef uint8_t hash_t[HASH_LEN];

struct chunk {
        hash_t h;
        uint32_t refs; /* kept versions holding it */
        uint32_t len;
        uint8_t used, on_disk;
};

struct version {
        struct bd_ckpt_meta meta;
        unsigned nregions;
        char name[BD_AGENT_MAX_REGIONS][BD_AGENT_NAME_MAX];
        uint64_t len[BD_AGENT_MAX_REGIONS];
        hash_t *chunk; /* every region's chunks, in order */
        size_t nchunks;
        uint64_t manifest_bytes;
};

struct bd_ckpt_store {
        char dir[4096];
        int lock_fd; /* -1: opened to read */
        struct bd_ckpt_store_opts opts;
        struct version *v; /* oldest first */
        size_t nv, capv;
        struct chunk *table; /* open addressing on the hash's first bytes */
        size_t cap, used;
        hash_t *queue; /* chunks to unlink once none holds them */
        size_t qhead, qlen, qcap;
        uint64_t bytes;  /* held by the kept versions */
        uint64_t chunks; /* distinct chunks they hold */
};

static void hex(const hash_t h, char out[2 * HASH_LEN + 1])
{
        sodium_bin2hex(out, 2 * HASH_LEN + 1, h, HASH_LEN);
}

/* A name as hex() writes it, and only so: 32 lowercase hex digits. */
static int unhex(const char *s, hash_t h)
{
        size_t len;
        char again[2 * HASH_LEN + 1];
        if (strlen(s) != 2 * HASH_LEN ||
            sodium_hex2bin(h, HASH_LEN, s, 2 * HASH_LEN, NULL, &len, NULL) || len != HASH_LEN)
                return -1;
        hex(h, again);
        return strcmp(again, s) ? -1 : 0;
}

static int path_of(const struct bd_ckpt_store *s, char *buf, size_t cap, const char *sub,
                   const char *name)
{
        int n = snprintf(buf, cap, "%s/%s/%s", s->dir, sub, name);
        return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void chunk_path(const struct bd_ckpt_store *s, const hash_t h, char *buf, size_t cap)
{
        char name[2 * HASH_LEN + 1];
        hex(h, name);
        path_of(s, buf, cap, "chunks", name);
}

static void manifest_path(const struct bd_ckpt_store *s, uint64_t v, char *buf, size_t cap)
{
        char name[32];
        snprintf(name, sizeof(name), "%012" PRIu64 ".json", v);
        path_of(s, buf, cap, "versions", name);
}

static size_t slot_of(const struct bd_ckpt_store *s, const hash_t h)
{
        uint64_t k;
        memcpy(&k, h, sizeof(k));
        return (size_t)k & (s->cap - 1);
}

static struct chunk *find(const struct bd_ckpt_store *s, const hash_t h)
{
        if (!s->cap)
                return NULL;
        for (size_t i = slot_of(s, h);; i = (i + 1) & (s->cap - 1)) {
                struct chunk *c = &s->table[i];
                if (!c->used)
                        return NULL;
                if (!memcmp(c->h, h, HASH_LEN))
                        return c;
        }
}

/* Rehash into cap slots, leaving out entries that neither a version holds
 * nor the disk has. */
static int rehash(struct bd_ckpt_store *s, size_t cap)
{
        struct chunk *old = s->table;
        size_t oldcap = s->cap;
        if (!(s->table = calloc(cap, sizeof(*s->table)))) {
                s->table = old;
                return -1;
        }
        s->cap = cap;
        s->used = 0;
        for (size_t i = 0; i < oldcap; i++) {
                if (!old[i].used || (!old[i].refs && !old[i].on_disk))
                        continue;
                size_t j = slot_of(s, old[i].h);
                while (s->table[j].used)
                        j = (j + 1) & (cap - 1);
                s->table[j] = old[i];
                s->used++;
        }
        free(old);
        return 0;
}

static struct chunk *find_or_add(struct bd_ckpt_store *s, const hash_t h, uint32_t len)
{
        struct chunk *c = find(s, h);
        if (c)
                return c;
        if ((s->used + 1) * 4 > s->cap * 3) {
                size_t live = 0;
                for (size_t i = 0; i < s->cap; i++)
                        live += s->table[i].used && (s->table[i].refs || s->table[i].on_disk);
                size_t cap = s->cap ? s->cap : 1024;
                while ((live + 1) * 2 > cap)
                        cap *= 2;
                if (rehash(s, cap))
                        return NULL;
        }
        size_t i = slot_of(s, h);
        while (s->table[i].used)
                i = (i + 1) & (s->cap - 1);
        c = &s->table[i];
        memset(c, 0, sizeof(*c));
        memcpy(c->h, h, HASH_LEN);
        c->len = len;
        c->used = 1;
        s->used++;
        return c;
}

static int enqueue(struct bd_ckpt_store *s, const hash_t h)
{
        if (s->qlen == s->qcap) {
                size_t cap = s->qcap ? s->qcap * 2 : 256;
                hash_t *q = malloc(cap * sizeof(*q));
                if (!q)
                        return -1;
                for (size_t i = 0; i < s->qlen; i++)
                        memcpy(q[i], s->queue[(s->qhead + i) % s->qcap], HASH_LEN);
                free(s->queue);
                s->queue = q;
                s->qcap = cap;
                s->qhead = 0;
        }
        memcpy(s->queue[(s->qhead + s->qlen++) % s->qcap], h, HASH_LEN);
        return 0;
}

static void hold(struct bd_ckpt_store *s, struct chunk *c)
{
        if (!c->refs++) {
                s->bytes += c->len;
                s->chunks++;
        }
}

/* A chunk no version holds is queued; if memory for the queue runs out it
 * stays on disk, found again by the next open. */
static void release(struct bd_ckpt_store *s, const hash_t h)
{
        struct chunk *c = find(s, h);
        if (!c || !c->refs)
                return;
        if (!--c->refs) {
                s->bytes -= c->len;
                s->chunks--;
                enqueue(s, h);
        }
}

static void version_free(struct version *v)
{
        free(v->chunk);
        v->chunk = NULL;
}

static void drop_oldest(struct bd_ckpt_store *s)
{
        struct version *v = &s->v[0];
        char path[4200];
        manifest_path(s, v->meta.version, path, sizeof(path));
        unlink(path);
        for (size_t i = 0; i < v->nchunks; i++)
                release(s, v->chunk[i]);
        s->bytes -= v->manifest_bytes;
        version_free(v);
        memmove(s->v, s->v + 1, (s->nv - 1) * sizeof(*s->v));
        s->nv--;
}

static int add_version(struct bd_ckpt_store *s, struct version *v)
{
        if (s->nv == s->capv) {
                size_t cap = s->capv ? s->capv * 2 : 16;
                struct version *n = realloc(s->v, cap * sizeof(*n));
                if (!n)
                        return -1;
                s->v = n;
                s->capv = cap;
        }
        s->v[s->nv++] = *v;
        s->bytes += v->manifest_bytes;
        return 0;
}

static void bound(struct bd_ckpt_store *s, unsigned *dropped)
{
        while (s->nv > 1 && (s->nv > s->opts.keep || s->bytes > s->opts.max_bytes)) {
                drop_oldest(s);
                if (dropped)
                        (*dropped)++;
        }
}

static uint64_t chunks_of(uint64_t len)
{
        return (len + BD_CKPT_CHUNK - 1) / BD_CKPT_CHUNK;
}

/* ---- manifests ---- */

static json_object *manifest(const struct version *v)
{
        json_object *o = json_object_new_object(), *regions = json_object_new_array();
        json_object_object_add(o, "version", json_object_new_uint64(v->meta.version));
        json_object_object_add(o, "unix_ns", json_object_new_uint64(v->meta.unix_ns));
        json_object_object_add(o, "agent", json_object_new_string(v->meta.agent));
        json_object_object_add(o, "pid", json_object_new_int(v->meta.pid));
        json_object_object_add(o, "generation", json_object_new_uint64(v->meta.generation));
        json_object_object_add(o, "commits", json_object_new_uint64(v->meta.commits));
        size_t k = 0;
        for (unsigned i = 0; i < v->nregions; i++) {
                json_object *r = json_object_new_object(), *chunks = json_object_new_array();
                json_object_object_add(r, "name", json_object_new_string(v->name[i]));
                json_object_object_add(r, "len", json_object_new_uint64(v->len[i]));
                for (uint64_t j = 0; j < chunks_of(v->len[i]); j++) {
                        char h[2 * HASH_LEN + 1];
                        hex(v->chunk[k++], h);
                        json_object_array_add(chunks, json_object_new_string(h));
                }
                json_object_object_add(r, "chunks", chunks);
                json_object_array_add(regions, r);
        }
        json_object_object_add(o, "regions", regions);
        return o;
}

static int get_u64(json_object *o, const char *key, uint64_t *out)
{
        json_object *f;
        if (!json_object_object_get_ex(o, key, &f) || !json_object_is_type(f, json_type_int))
                return -1;
        *out = json_object_get_uint64(f);
        return 0;
}

static int get_name(json_object *o, const char *key, char out[BD_AGENT_NAME_MAX])
{
        json_object *f;
        if (!json_object_object_get_ex(o, key, &f) || !json_object_is_type(f, json_type_string) ||
            json_object_get_string_len(f) >= BD_AGENT_NAME_MAX)
                return -1;
        memset(out, 0, BD_AGENT_NAME_MAX);
        memcpy(out, json_object_get_string(f), (size_t)json_object_get_string_len(f));
        return bd_agent_name_ok(out) ? 0 : -1;
}

/* A manifest as the store wrote it, or -1. */
static int parse_manifest(json_object *o, struct version *v)
{
        memset(v, 0, sizeof(*v));
        uint64_t pid;
        json_object *regions;
        if (get_u64(o, "version", &v->meta.version) || get_u64(o, "unix_ns", &v->meta.unix_ns) ||
            get_name(o, "agent", v->meta.agent) || get_u64(o, "pid", &pid) || pid > INT32_MAX ||
            get_u64(o, "generation", &v->meta.generation) ||
            get_u64(o, "commits", &v->meta.commits) ||
            !json_object_object_get_ex(o, "regions", &regions) ||
            !json_object_is_type(regions, json_type_array) ||
            json_object_array_length(regions) > BD_AGENT_MAX_REGIONS)
                return -1;
        v->meta.pid = (int32_t)pid;
        v->nregions = (unsigned)json_object_array_length(regions);
        size_t total = 0;
        for (unsigned i = 0; i < v->nregions; i++) {
                json_object *r = json_object_array_get_idx(regions, i), *chunks;
                if (!json_object_is_type(r, json_type_object) || get_name(r, "name", v->name[i]) ||
                    get_u64(r, "len", &v->len[i]) || !v->len[i] ||
                    v->len[i] > BD_AGENT_REGION_MAX ||
                    !json_object_object_get_ex(r, "chunks", &chunks) ||
                    !json_object_is_type(chunks, json_type_array) ||
                    json_object_array_length(chunks) != chunks_of(v->len[i]))
                        return -1;
                total += chunks_of(v->len[i]);
        }
        if (!(v->chunk = calloc(total ? total : 1, sizeof(*v->chunk))))
                return -1;
        for (unsigned i = 0; i < v->nregions; i++) {
                json_object *r = json_object_array_get_idx(regions, i), *chunks;
                json_object_object_get_ex(r, "chunks", &chunks);
                for (size_t j = 0; j < json_object_array_length(chunks); j++) {
                        json_object *h = json_object_array_get_idx(chunks, j);
                        if (!json_object_is_type(h, json_type_string) ||
                            unhex(json_object_get_string(h), v->chunk[v->nchunks++])) {
                                version_free(v);
                                return -1;
                        }
                }
        }
        return 0;
}

static int by_version(const void *a, const void *b)
{
        uint64_t x = ((const struct version *)a)->meta.version;
        uint64_t y = ((const struct version *)b)->meta.version;
        return x < y ? -1 : x > y;
}

/* A directory entry's path, or 0 for one to pass over: a dot file, or a
 * temporary file of a writer that died (removed by a writer). */
static int entry(const struct bd_ckpt_store *s, const char *sub, const char *name, char *path,
                 size_t cap)
{
        if (name[0] == '.' || path_of(s, path, cap, sub, name))
                return 0;
        if (!strstr(name, ".tmp."))
                return 1;
        if (s->lock_fd >= 0)
                unlink(path);
        return 0;
}

static struct bd_error *load_versions(struct bd_ckpt_store *s)
{
        char path[4200];
        path_of(s, path, sizeof(path), "versions", "");
        DIR *d = opendir(path);
        if (!d && errno == ENOENT)
                return bd_error_new(BD_ERR_NOT_FOUND, "%s: no checkpoint store there", s->dir);
        if (!d)
                return bd_error_new(BD_ERR_IO, "%s: %s", path, strerror(errno));
        struct dirent *e;
        struct bd_error *err = NULL;
        while (!err && (e = readdir(d))) {
                uint64_t n;
                char rest[8];
                if (!entry(s, "versions", e->d_name, path, sizeof(path)))
                        continue;
                if (sscanf(e->d_name, "%12" SCNu64 "%7s", &n, rest) != 2 || strcmp(rest, ".json"))
                        continue;
                void *data;
                size_t len;
                if ((err = bd_cache_read(path, MANIFEST_MAX, &data, &len)))
                        break;
                json_tokener *tok = json_tokener_new();
                json_object *o = tok ? json_tokener_parse_ex(tok, data, (int)len) : NULL;
                struct version v;
                if (!o || parse_manifest(o, &v) || v.meta.version != n)
                        err = bd_error_new(BD_ERR_IO, "%s: not a manifest this store wrote", path);
                else {
                        v.manifest_bytes = len;
                        if (add_version(s, &v)) {
                                version_free(&v);
                                err = &bd_error_nomem;
                        }
                }
                json_object_put(o);
                if (tok)
                        json_tokener_free(tok);
                free(data);
        }
        closedir(d);
        if (err)
                return err;
        if (s->nv)
                qsort(s->v, s->nv, sizeof(*s->v), by_version);
        for (size_t i = 0; i < s->nv; i++)
                for (size_t j = 0; j < s->v[i].nchunks; j++) {
                        /* its length: the file's, which scan_chunks() reads */
                        struct chunk *c = find_or_add(s, s->v[i].chunk[j], 0);
                        if (!c)
                                return &bd_error_nomem;
                        hold(s, c);
                }
        return NULL;
}

/* Chunk sizes of the versions found, and the files none holds. A chunk a
 * version lists but the disk lacks stays off disk: that version cannot be
 * read back (bd_ckpt_store_get() says so), and the next copy holding the
 * same bytes writes it again. */
static struct bd_error *scan_chunks(struct bd_ckpt_store *s)
{
        char path[4200];
        path_of(s, path, sizeof(path), "chunks", "");
        DIR *d = opendir(path);
        if (!d)
                return bd_error_new(BD_ERR_IO, "%s: %s", path, strerror(errno));
        struct dirent *e;
        s->bytes = 0;
        for (size_t i = 0; i < s->nv; i++)
                s->bytes += s->v[i].manifest_bytes;
        while ((e = readdir(d))) {
                hash_t h;
                if (!entry(s, "chunks", e->d_name, path, sizeof(path)))
                        continue;
                struct stat st;
                if (unhex(e->d_name, h) || stat(path, &st) || st.st_size > BD_CKPT_CHUNK)
                        continue;
                struct chunk *c = find(s, h);
                if (c && c->refs) {
                        c->len = (uint32_t)st.st_size;
                        c->on_disk = 1;
                        s->bytes += c->len;
                } else if (s->lock_fd >= 0 && (c = find_or_add(s, h, (uint32_t)st.st_size))) {
                        c->on_disk = 1;
                        enqueue(s, h);
                }
        }
        closedir(d);
        return NULL;
}

struct bd_error *bd_ckpt_store_open(const char *dir, const struct bd_ckpt_store_opts *opts,
                                    struct bd_ckpt_store **out)
{
        *out = NULL;
        if (sodium_init() < 0)
                return bd_error_new(BD_ERR_INTERNAL, "libsodium does not initialise");
        struct bd_ckpt_store *s = calloc(1, sizeof(*s));
        if (!s)
                return &bd_error_nomem;
        s->lock_fd = -1;
        int n = snprintf(s->dir, sizeof(s->dir), "%s", dir);
        struct bd_error *err = NULL;
        char path[4200];
        if (n <= 0 || (size_t)n >= sizeof(s->dir) - 64)
                err = bd_error_new(BD_ERR_USAGE, "%s: not a usable store directory", dir);
        else if (opts) {
                s->opts = *opts;
                if (!s->opts.keep)
                        s->opts.keep = 1;
                if ((mkdir(dir, 0750) && errno != EEXIST) ||
                    (path_of(s, path, sizeof(path), "chunks", ""),
                     mkdir(path, 0750) && errno != EEXIST) ||
                    (path_of(s, path, sizeof(path), "versions", ""),
                     mkdir(path, 0750) && errno != EEXIST))
                        err = bd_error_new(BD_ERR_IO, "%s: %s", dir, strerror(errno));
                else {
                        snprintf(path, sizeof(path), "%s/lock", s->dir);
                        s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
                        if (s->lock_fd < 0)
                                err = bd_error_new(BD_ERR_IO, "%s: %s", path, strerror(errno));
                        else if (flock(s->lock_fd, LOCK_EX | LOCK_NB))
                                err = bd_error_new(
                                    BD_ERR_USAGE, "%s: another bdmon checkpoint writes to it", dir);
                }
        }
        if (!err)
                err = load_versions(s);
        if (!err)
                err = scan_chunks(s);
        if (err) {
                bd_ckpt_store_close(s);
                return err;
        }
        if (opts)
                bound(s, NULL);
        *out = s;
        return NULL;
}

void bd_ckpt_store_close(struct bd_ckpt_store *s)
{
        if (!s)
                return;
        if (s->lock_fd >= 0) {
                while (bd_ckpt_store_reclaim(s, 1024))
                        ;
                close(s->lock_fd);
        }
        for (size_t i = 0; i < s->nv; i++)
                version_free(&s->v[i]);
        free(s->v);
        free(s->table);
        free(s->queue);
        free(s);
}

size_t bd_ckpt_store_reclaim(struct bd_ckpt_store *s, size_t max)
{
        size_t done = 0;
        while (done < max && s->qlen) {
                const uint8_t *h = s->queue[s->qhead];
                struct chunk *c = find(s, h);
                if (c && !c->refs && c->on_disk) {
                        char path[4200];
                        chunk_path(s, h, path, sizeof(path));
                        unlink(path);
                        c->on_disk = 0;
                        done++;
                }
                s->qhead = (s->qhead + 1) % s->qcap;
                s->qlen--;
        }
        return done;
}

void bd_ckpt_store_stats(const struct bd_ckpt_store *s, struct bd_ckpt_stats *out)
{
        memset(out, 0, sizeof(*out));
        out->versions = (unsigned)s->nv;
        if (s->nv) {
                out->oldest = s->v[0].meta.version;
                out->newest = s->v[s->nv - 1].meta.version;
        }
        out->bytes = s->bytes;
        out->chunks = s->chunks;
        out->unreclaimed = s->qlen;
}

struct bd_error *bd_ckpt_store_put(struct bd_ckpt_store *s, const struct bd_ckpt_meta *meta,
                                   const struct bd_ckpt_region *r, unsigned n,
                                   struct bd_ckpt_put *out)
{
        memset(out, 0, sizeof(*out));
        if (s->lock_fd < 0)
                return bd_error_new(BD_ERR_USAGE, "%s: opened to read", s->dir);
        if (n > BD_AGENT_MAX_REGIONS)
                return bd_error_new(BD_ERR_USAGE, "%u regions, at most %d", n,
                                    BD_AGENT_MAX_REGIONS);
        struct version v = {.meta = *meta, .nregions = n};
        v.meta.version = s->nv ? s->v[s->nv - 1].meta.version + 1 : 1;
        size_t total = 0;
        for (unsigned i = 0; i < n; i++) {
                memcpy(v.name[i], r[i].name, BD_AGENT_NAME_MAX);
                v.len[i] = r[i].len;
                total += chunks_of(r[i].len);
        }
        if (!(v.chunk = calloc(total ? total : 1, sizeof(*v.chunk))))
                return &bd_error_nomem;
        struct bd_error *err = NULL;
        for (unsigned i = 0; !err && i < n; i++)
                for (uint64_t off = 0; !err && off < r[i].len; off += BD_CKPT_CHUNK) {
                        uint32_t len = (uint32_t)(r[i].len - off < BD_CKPT_CHUNK ? r[i].len - off
                                                                                 : BD_CKPT_CHUNK);
                        uint8_t *h = v.chunk[v.nchunks];
                        crypto_generichash(h, HASH_LEN, r[i].data + off, len, NULL, 0);
                        struct chunk *c = find_or_add(s, h, len);
                        if (!c) {
                                err = &bd_error_nomem;
                                break;
                        }
                        if (!c->on_disk) {
                                char path[4200];
                                chunk_path(s, h, path, sizeof(path));
                                if (bd_cache_write_atomic(path, r[i].data + off, len)) {
                                        err = bd_error_new(BD_ERR_IO, "%s: %s", path,
                                                           strerror(errno));
                                        break;
                                }
                                c->on_disk = 1;
                                out->new_chunks++;
                                out->new_bytes += len;
                        }
                        hold(s, c);
                        v.nchunks++;
                }
        char path[4200];
        if (!err) {
                json_object *o = manifest(&v);
                size_t len;
                const char *text =
                    json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
                manifest_path(s, v.meta.version, path, sizeof(path));
                if (!text || bd_cache_write_atomic(path, text, len))
                        err = bd_error_new(BD_ERR_IO, "%s: %s", path, strerror(errno));
                v.manifest_bytes = len;
                json_object_put(o);
        }
        if (!err && add_version(s, &v)) {
                unlink(path);
                err = &bd_error_nomem;
        }
        if (err) {
                for (size_t i = 0; i < v.nchunks; i++)
                        release(s, v.chunk[i]);
                version_free(&v);
                return err;
        }
        out->version = v.meta.version;
        out->chunks = v.nchunks;
        out->new_bytes += v.manifest_bytes;
        bound(s, &out->dropped);
        return NULL;
}

/* Version want, 0: the newest; NULL when not kept. */
static const struct version *kept(const struct bd_ckpt_store *s, uint64_t want)
{
        for (size_t i = 0; i < s->nv; i++)
                if (s->v[i].meta.version == want || (!want && i == s->nv - 1))
                        return &s->v[i];
        return NULL;
}

int bd_ckpt_store_meta(const struct bd_ckpt_store *s, uint64_t want, struct bd_ckpt_meta *meta,
                       struct bd_ckpt_region *r, unsigned *n)
{
        const struct version *v = kept(s, want);
        if (!v)
                return -1;
        *meta = v->meta;
        *n = v->nregions;
        for (unsigned i = 0; i < v->nregions; i++) {
                memcpy(r[i].name, v->name[i], BD_AGENT_NAME_MAX);
                r[i].data = NULL;
                r[i].len = v->len[i];
        }
        return 0;
}

struct bd_error *bd_ckpt_store_get(struct bd_ckpt_store *s, uint64_t want,
                                   struct bd_ckpt_meta *meta, struct bd_ckpt_region *r, unsigned *n)
{
        *n = 0;
        const struct version *v = kept(s, want);
        if (!v)
                return bd_error_new(BD_ERR_NOT_FOUND, "%s keeps no version %" PRIu64, s->dir, want);
        *meta = v->meta;
        size_t k = 0;
        struct bd_error *err = NULL;
        for (unsigned i = 0; !err && i < v->nregions; i++) {
                uint8_t *buf = malloc(v->len[i]);
                if (!buf) {
                        err = &bd_error_nomem;
                        break;
                }
                memcpy(r[i].name, v->name[i], BD_AGENT_NAME_MAX);
                r[i].data = buf;
                r[i].len = v->len[i];
                (*n)++;
                for (uint64_t off = 0; !err && off < v->len[i]; off += BD_CKPT_CHUNK, k++) {
                        uint64_t want_len =
                            v->len[i] - off < BD_CKPT_CHUNK ? v->len[i] - off : BD_CKPT_CHUNK;
                        char path[4200];
                        void *data;
                        size_t len;
                        hash_t h;
                        chunk_path(s, v->chunk[k], path, sizeof(path));
                        if ((err = bd_cache_read(path, BD_CKPT_CHUNK, &data, &len)))
                                break;
                        if (len == want_len)
                                crypto_generichash(h, HASH_LEN, data, len, NULL, 0);
                        if (len != want_len || memcmp(h, v->chunk[k], HASH_LEN))
                                err = bd_error_new(
                                    BD_ERR_IO, "%s: does not hold what version %" PRIu64 " stored",
                                    path, v->meta.version);
                        else
                                memcpy(buf + off, data, len);
                        free(data);
                }
        }
        if (err) {
                bd_ckpt_regions_free(r, *n);
                *n = 0;
        }
        return err;
}

void bd_ckpt_regions_free(struct bd_ckpt_region *r, unsigned n)
{
        for (unsigned i = 0; i < n; i++) {
                free((void *)r[i].data);
                r[i].data = NULL;
        }
}
