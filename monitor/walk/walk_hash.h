/* Kernel hash tables: an array of buckets, each holding the head of an
 * hlist (ended by NULL) or an hlist_nulls (ended by an odd "nulls" marker,
 * never NULL). The bucket arrays of several tables are read in one batch,
 * then the chains of all their buckets side by side, one batched read per
 * level: the tables cost as many round trips as their longest chain, not
 * one per node. Each node is read with the start of the object that holds
 * it, so that a caller often needs nothing more of it. */
#ifndef BD_WALK_HASH_H
#define BD_WALK_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "walk.h"

/* Beyond these a layout is corrupt: a bucket is a lock and a list head,
 * and what is read with a node is the start of its object. */
#define BD_HASH_STRIDE_MAX 4096
#define BD_HASH_READ_MAX   4096

struct bd_hash_table {
        const char *what;  /* in messages: "tcp established hash" */
        uint64_t addr;     /* the bucket array */
        uint64_t nbuckets; /* checked by the caller against the kernel's limit and its budget */
        uint32_t stride;   /* bytes per bucket */
        uint32_t head;     /* the list head's offset in a bucket */
        int nulls;         /* chains are hlist_nulls */
        uint32_t node;     /* the hlist(_nulls)_node's offset in the objects chained */
        uint32_t len;      /* bytes of each object read from its start, its node included */
};

/* Gets each object chained: its table's index, its address and the
 * table's len bytes read from it. An error ends the walk. */
typedef struct bd_error *(*bd_hash_cb)(void *arg, size_t table, uint64_t obj, const uint8_t *bytes);

struct bd_hash_result {
        unsigned levels; /* batched reads of nodes: the longest chain */
        /* Chains cut short: a bad pointer, a node reached twice, a node
         * that does not read, NULL ending a nulls chain. A live kernel
         * moves objects between chains while they are read, so a chain
         * that does not check out ends there and the walk goes on. */
        uint64_t broken;
        struct bd_error *first_broken; /* why the first one was; the caller frees it */
};

/* Walk the n tables t. Fails with BD_ERR_PROTOCOL for a table whose layout
 * does not fit a hash table, with the bucket arrays' read error, with
 * BD_ERR_RANGE past o->max nodes in all (o may be NULL), with the
 * callback's error, or when the way to the target is lost or memory runs
 * out. r is filled either way. */
struct bd_error *bd_hash_walk(struct bd_kernel *k, const struct bd_hash_table *t, size_t n,
                              const struct bd_walk_opts *o, bd_hash_cb cb, void *arg,
                              struct bd_hash_result *r);

#endif
