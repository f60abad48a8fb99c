/* Which monitors watch which targets: rendezvous (highest random weight)
 * hashing of a target's name over the shards, so that every monitor of a
 * fleet decides alone, from the same targets file, and agrees with the
 * others. A target goes to the replicas shards that weigh highest for it;
 * adding or removing a shard moves only the targets that shard wins or
 * held (about 1/N of them), never reshuffles the rest. */
#ifndef BD_SHARD_H
#define BD_SHARD_H

#include "../../common/error.h"

/* The most shards a fleet may split into. */
#define BD_SHARD_MAX 4096

struct bd_shard {
        unsigned index;    /* 1 .. count */
        unsigned count;    /* N */
        unsigned replicas; /* monitors per target, 1 .. count */
};

/* "I/N" into s, replicas 1; BD_ERR_USAGE naming what is wrong. */
struct bd_error *bd_shard_parse(const char *text, struct bd_shard *s);

/* Whether the shard s watches the target called name. */
int bd_shard_owns(const struct bd_shard *s, const char *name);

#endif
