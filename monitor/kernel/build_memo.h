/* One kernel build's description as the whole process shares it: the
 * per-build cache's symbol table and BTF read once, the table decoded once
 * without a KASLR slide (every target's copy shares its names and by-name
 * index, bd_kallsyms_deserialize_from), the layout computed once from the
 * BTF. A watch of a thousand targets running one build then reads, decodes
 * and parses each once, not a thousand times. What the memo holds is as
 * untrusted as the files it comes from: a target uses it only once its own
 * memory matches.
 *
 * A memo is reference counted. The process keeps the memos of up to
 * BD_BUILD_MEMO_MAX builds, making room by dropping one nobody holds; with
 * all of them held, bd_build_memo_get gives one of the caller's own (the
 * files read again, as without a memo). A store through
 * bd_build_memo_store replaces the file and retires the build's memo: the
 * next bd_build_memo_get reads the new file, and the old memo goes when its
 * last user puts it. */
#ifndef BD_BUILD_MEMO_H
#define BD_BUILD_MEMO_H

#include <stddef.h>

#include "../../common/error.h"
#include "kallsyms.h"
#include "layout.h"

#define BD_BUILD_MEMO_MAX 16
/* The largest cached symbol table read. */
#define BD_BUILD_MEMO_KALLSYMS_MAX (256u << 20)

struct bd_build_memo;

/* build_id's memo, a reference to put. NULL when build_id cannot name a
 * cache entry, or without memory. */
struct bd_build_memo *bd_build_memo_get(const char *build_id);
void bd_build_memo_put(struct bd_build_memo *m);

/* The cached symbol table's bytes and the table decoded from them without
 * a slide (base, for bd_kallsyms_deserialize_from); both as long as the
 * reference is held. BD_ERR_NOT_FOUND when nothing is cached, or the
 * table's error when the file does not decode. */
struct bd_error *bd_build_memo_kallsyms(struct bd_build_memo *m, const void **data, size_t *len,
                                        struct bd_kallsyms **base);
/* The cached BTF's bytes, as long as the reference is held. */
struct bd_error *bd_build_memo_btf(struct bd_build_memo *m, const void **data, size_t *len);
/* The layout from the cached BTF, computed once. BD_ERR_NOT_FOUND, as for
 * no BTF, when it does not parse. */
struct bd_error *bd_build_memo_layout(struct bd_build_memo *m, struct bd_layout *out);

/* bd_cache_build_store, then the build's memo retired. */
int bd_build_memo_store(const char *build_id, const char *what, const void *data, size_t len);

#endif
