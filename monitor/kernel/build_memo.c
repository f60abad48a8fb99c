#include "build_memo.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cache/cache.h"
#include "btf.h"

struct bd_build_memo {
        char build_id[BD_BUILD_ID_MAX + 1];
        unsigned refs; /* under memos_lock: its users, and the table while current */
        /* Held across a file's read and decoding: the threads that want
         * them together wait for the one read. */
        pthread_mutex_t lock;
        void *ks_data, *btf_data;
        size_t ks_len, btf_len;
        struct bd_kallsyms *ks_base;
        struct bd_layout *layout;
};

static pthread_mutex_t memos_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bd_build_memo *current[BD_BUILD_MEMO_MAX];

static void destroy(struct bd_build_memo *m)
{
        free(m->ks_data);
        free(m->btf_data);
        bd_kallsyms_free(m->ks_base);
        free(m->layout);
        pthread_mutex_destroy(&m->lock);
        free(m);
}

/* With memos_lock held; 1 when that was the last reference. */
static int unref(struct bd_build_memo *m)
{
        return !--m->refs;
}

struct bd_build_memo *bd_build_memo_get(const char *build_id)
{
        if (!bd_build_id_valid(build_id))
                return NULL;
        pthread_mutex_lock(&memos_lock);
        struct bd_build_memo *m = NULL, *dropped = NULL;
        unsigned slot = BD_BUILD_MEMO_MAX;
        for (unsigned i = 0; i < BD_BUILD_MEMO_MAX && !m; i++) {
                if (current[i] && !strcmp(current[i]->build_id, build_id))
                        m = current[i];
                else if (!current[i] && slot == BD_BUILD_MEMO_MAX)
                        slot = i;
        }
        /* No room: the memo of a build nobody uses at the moment goes. */
        for (unsigned i = 0; !m && slot == BD_BUILD_MEMO_MAX && i < BD_BUILD_MEMO_MAX; i++)
                if (current[i]->refs == 1) {
                        dropped = current[i];
                        current[i] = NULL;
                        slot = i;
                }
        if (!m && (m = calloc(1, sizeof(*m)))) {
                snprintf(m->build_id, sizeof(m->build_id), "%s", build_id);
                pthread_mutex_init(&m->lock, NULL);
                if (slot < BD_BUILD_MEMO_MAX) {
                        current[slot] = m;
                        m->refs = 1;
                }
        }
        if (m)
                m->refs++;
        pthread_mutex_unlock(&memos_lock);
        if (dropped)
                destroy(dropped);
        return m;
}

void bd_build_memo_put(struct bd_build_memo *m)
{
        if (!m)
                return;
        pthread_mutex_lock(&memos_lock);
        int last = unref(m);
        pthread_mutex_unlock(&memos_lock);
        if (last)
                destroy(m);
}

int bd_build_memo_store(const char *build_id, const char *what, const void *data, size_t len)
{
        int stored = bd_cache_build_store(build_id, what, data, len);
        struct bd_build_memo *last = NULL;
        pthread_mutex_lock(&memos_lock);
        for (unsigned i = 0; i < BD_BUILD_MEMO_MAX; i++)
                if (current[i] && !strcmp(current[i]->build_id, build_id)) {
                        if (unref(current[i]))
                                last = current[i];
                        current[i] = NULL;
                }
        pthread_mutex_unlock(&memos_lock);
        if (last)
                destroy(last);
        return stored;
}

/* A file that was absent is looked for again: the first target of a build
 * new to the monitor stores it. With m->lock held. */
static struct bd_error *load(struct bd_build_memo *m, const char *what, size_t max, void **data,
                             size_t *len)
{
        return *data ? NULL : bd_cache_build_load(m->build_id, what, max, data, len);
}

struct bd_error *bd_build_memo_kallsyms(struct bd_build_memo *m, const void **data, size_t *len,
                                        struct bd_kallsyms **base)
{
        pthread_mutex_lock(&m->lock);
        struct bd_error *err =
            load(m, "kallsyms", BD_BUILD_MEMO_KALLSYMS_MAX, &m->ks_data, &m->ks_len);
        if (!err && !m->ks_base)
                err = bd_kallsyms_deserialize(m->ks_data, m->ks_len, 0, &m->ks_base);
        if (!err) {
                *data = m->ks_data;
                *len = m->ks_len;
                *base = m->ks_base;
        }
        pthread_mutex_unlock(&m->lock);
        return err;
}

struct bd_error *bd_build_memo_btf(struct bd_build_memo *m, const void **data, size_t *len)
{
        pthread_mutex_lock(&m->lock);
        struct bd_error *err = load(m, "btf", BD_BTF_MAX, &m->btf_data, &m->btf_len);
        if (!err) {
                *data = m->btf_data;
                *len = m->btf_len;
        }
        pthread_mutex_unlock(&m->lock);
        return err;
}

struct bd_error *bd_build_memo_layout(struct bd_build_memo *m, struct bd_layout *out)
{
        pthread_mutex_lock(&m->lock);
        struct bd_error *err = load(m, "btf", BD_BTF_MAX, &m->btf_data, &m->btf_len);
        if (!err && !m->layout) {
                struct btf *btf = bd_btf_parse(m->btf_data, m->btf_len, &err);
                if (btf && (m->layout = malloc(sizeof(*m->layout))))
                        bd_layout_from_btf(m->layout, btf);
                else if (btf)
                        err = &bd_error_nomem;
                btf__free(btf);
        }
        if (!err)
                *out = *m->layout;
        pthread_mutex_unlock(&m->lock);
        return err;
}
