/* Versions of a process's committed state on the monitor's disk, as
 * `bdmon checkpoint` stores them:
 *
 *   DIR/versions/NNNNNNNNNNNN.json   a version: its regions, each a list of
 *                                    4-KiB chunks named by hash
 *   DIR/chunks/HASH                  a chunk's bytes, stored once however
 *                                    many versions hold it
 *   DIR/lock                         one writer at a time (flock)
 *
 * A version therefore costs the disk only the chunks that changed since the
 * versions kept before it. Nothing is half-written: a chunk or a manifest is
 * written under a temporary name and renamed into place, the manifest after
 * its chunks, so a version listed is a version whole. Versions are dropped
 * oldest first to keep at most `keep` of them in at most `max_bytes`; the
 * newest is never dropped. A dropped version's manifest goes at once; its
 * chunks that no kept version holds are unlinked later, a few at a time
 * (bd_ckpt_store_reclaim(), between copies), so a copy never waits on a
 * large deletion. Chunks hold the target's bytes, never interpreted here;
 * manifests are the monitor's own, and one that does not parse is an
 * error naming it. */
#ifndef BD_CHECKPOINT_STORE_H
#define BD_CHECKPOINT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/agent_beacon.h"
#include "../../common/error.h"

#define BD_CKPT_CHUNK 4096u

struct bd_ckpt_store_opts {
        unsigned keep;      /* versions kept at most (>= 1) */
        uint64_t max_bytes; /* bytes of chunks and manifests the kept versions may hold */
};

/* What a version says of itself. */
struct bd_ckpt_meta {
        uint64_t version; /* set by the store */
        uint64_t unix_ns; /* when its copy was read */
        char agent[BD_AGENT_NAME_MAX];
        int32_t pid;
        uint64_t generation, commits; /* of the commit it holds */
};

struct bd_ckpt_region {
        char name[BD_AGENT_NAME_MAX];
        const uint8_t *data;
        uint64_t len;
};

struct bd_ckpt_put {
        uint64_t version;
        uint64_t chunks;     /* chunks the version holds */
        uint64_t new_chunks; /* of them, written now */
        uint64_t new_bytes;  /* bytes written now, manifest included */
        unsigned dropped;    /* old versions dropped to make room */
};

struct bd_ckpt_stats {
        unsigned versions;
        uint64_t oldest, newest; /* 0 when empty */
        uint64_t bytes;          /* held by the kept versions */
        uint64_t chunks;         /* distinct chunks they hold */
        uint64_t unreclaimed;    /* chunks no version holds, not yet unlinked */
};

struct bd_ckpt_store;

/* Open (creating) the store in dir, taking its lock: BD_ERR_USAGE when
 * another writer holds it, BD_ERR_IO when the directory or a manifest
 * cannot be read. Versions found there are kept (and bounded by opts);
 * chunks none holds, and temporary files of a writer that died, are
 * queued for reclaim. */
struct bd_error *bd_ckpt_store_open(const char *dir, const struct bd_ckpt_store_opts *opts,
                                    struct bd_ckpt_store **out);
/* Reclaims everything queued, then closes. */
void bd_ckpt_store_close(struct bd_ckpt_store *s);

/* Store the n regions as a new version. */
struct bd_error *bd_ckpt_store_put(struct bd_ckpt_store *s, const struct bd_ckpt_meta *meta,
                                   const struct bd_ckpt_region *r, unsigned n,
                                   struct bd_ckpt_put *out);

/* Unlink at most max chunks that no kept version holds; how many. */
size_t bd_ckpt_store_reclaim(struct bd_ckpt_store *s, size_t max);

void bd_ckpt_store_stats(const struct bd_ckpt_store *s, struct bd_ckpt_stats *out);

/* Version v (0: the newest) read back: its meta, and each region's bytes
 * (malloc'd, into r[], at most BD_AGENT_MAX_REGIONS) with every chunk
 * checked against its hash. BD_ERR_NOT_FOUND when the store does not keep
 * it. Free with bd_ckpt_regions_free(). */
struct bd_error *bd_ckpt_store_get(struct bd_ckpt_store *s, uint64_t v, struct bd_ckpt_meta *meta,
                                   struct bd_ckpt_region *r, unsigned *n);
void bd_ckpt_regions_free(struct bd_ckpt_region *r, unsigned n);

/* Version v's meta and its regions' names and lengths (data NULL), read
 * from memory: 0, or -1 when the store does not keep it. */
int bd_ckpt_store_meta(const struct bd_ckpt_store *s, uint64_t v, struct bd_ckpt_meta *meta,
                       struct bd_ckpt_region *r, unsigned *n);

#endif
