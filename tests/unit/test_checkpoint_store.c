/* The checkpoint store (checkpoint/store.h): a version costs the disk only
 * the chunks that changed, reads back whole and checked, survives a reopen,
 * and old versions go within the count and size asked, their chunks
 * reclaimed; a corrupt chunk or manifest is said, a second writer refused. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../monitor/checkpoint/store.h"

#define LEN (2 * BD_CKPT_CHUNK + 100) /* three chunks, the last short */

static char dir[64];
static uint8_t state[LEN], table[BD_CKPT_CHUNK];

static int setup(void **st)
{
        (void)st;
        snprintf(dir, sizeof(dir), "/tmp/test_ckpt.XXXXXX");
        assert_non_null(mkdtemp(dir));
        for (size_t i = 0; i < LEN; i++)
                state[i] = (uint8_t)(i * 7 + i / BD_CKPT_CHUNK * 13); /* chunks differ */
        memset(table, 0x5a, sizeof(table));
        return 0;
}

static int teardown(void **st)
{
        (void)st;
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
        return 0;
}

static unsigned files_in(const char *sub)
{
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", dir, sub);
        DIR *d = opendir(path);
        assert_non_null(d);
        unsigned n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

static struct bd_ckpt_store *open_store(unsigned keep, uint64_t max)
{
        struct bd_ckpt_store *s;
        struct bd_ckpt_store_opts o = {.keep = keep, .max_bytes = max};
        assert_null(bd_ckpt_store_open(dir, &o, &s));
        return s;
}

static void put(struct bd_ckpt_store *s, uint64_t gen, struct bd_ckpt_put *out)
{
        struct bd_ckpt_meta m = {
            .unix_ns = 1000 + gen, .pid = 42, .generation = gen, .commits = gen / 2};
        strcpy(m.agent, "app");
        struct bd_ckpt_region r[2] = {{.data = state, .len = LEN},
                                      {.data = table, .len = sizeof(table)}};
        strcpy(r[0].name, "state");
        strcpy(r[1].name, "table");
        assert_null(bd_ckpt_store_put(s, &m, r, 2, out));
}

static void get_matches(struct bd_ckpt_store *s, uint64_t v, uint64_t gen)
{
        struct bd_ckpt_meta m;
        struct bd_ckpt_region r[BD_AGENT_MAX_REGIONS];
        unsigned n;
        assert_null(bd_ckpt_store_get(s, v, &m, r, &n));
        assert_int_equal(n, 2);
        assert_int_equal(m.generation, gen);
        assert_string_equal(m.agent, "app");
        assert_string_equal(r[0].name, "state");
        assert_int_equal(r[0].len, LEN);
        assert_memory_equal(r[0].data, state, LEN);
        assert_memory_equal(r[1].data, table, sizeof(table));
        bd_ckpt_regions_free(r, n);
}

/* Only the chunks that changed are written; each version reads back. */
static void test_changed_chunks_only(void **st)
{
        (void)st;
        struct bd_ckpt_store *s = open_store(100, 1u << 30);
        struct bd_ckpt_put p;
        put(s, 2, &p);
        assert_int_equal(p.version, 1);
        assert_int_equal(p.chunks, 4);
        assert_int_equal(p.new_chunks, 4);
        put(s, 4, &p);
        assert_int_equal(p.version, 2);
        assert_int_equal(p.new_chunks, 0);
        assert_true(p.new_bytes < 1024); /* the manifest */
        state[BD_CKPT_CHUNK + 5] ^= 0xff;
        put(s, 6, &p);
        assert_int_equal(p.new_chunks, 1);
        assert_int_equal(files_in("chunks"), 5);
        get_matches(s, 3, 6);
        get_matches(s, 0, 6); /* the newest */
        struct bd_ckpt_stats ss;
        bd_ckpt_store_stats(s, &ss);
        assert_int_equal(ss.versions, 3);
        assert_int_equal(ss.oldest, 1);
        assert_int_equal(ss.newest, 3);
        assert_int_equal(ss.chunks, 5);
        bd_ckpt_store_close(s);

        /* Reopened: the same versions, and the next one after them. */
        s = open_store(100, 1u << 30);
        struct bd_ckpt_stats again;
        bd_ckpt_store_stats(s, &again);
        assert_memory_equal(&again, &ss, sizeof(ss));
        get_matches(s, 3, 6);
        put(s, 8, &p);
        assert_int_equal(p.version, 4);
        assert_int_equal(p.new_chunks, 0);
        bd_ckpt_store_close(s);
}

/* --keep: the oldest go, and the chunks only they held are unlinked. */
static void test_keep_and_reclaim(void **st)
{
        (void)st;
        struct bd_ckpt_store *s = open_store(2, 1u << 30);
        struct bd_ckpt_put p;
        for (int i = 1; i <= 5; i++) {
                state[0] = (uint8_t)i; /* a new first chunk each time */
                put(s, 2u * (unsigned)i, &p);
        }
        assert_int_equal(p.version, 5);
        struct bd_ckpt_stats ss;
        bd_ckpt_store_stats(s, &ss);
        assert_int_equal(ss.versions, 2);
        assert_int_equal(ss.oldest, 4);
        assert_int_equal(ss.chunks, 5); /* two first chunks, three shared */
        assert_int_equal(files_in("versions"), 2);
        assert_int_equal(ss.unreclaimed, 3);
        assert_int_equal(bd_ckpt_store_reclaim(s, 1), 1);
        assert_int_equal(bd_ckpt_store_reclaim(s, 100), 2);
        assert_int_equal(files_in("chunks"), 5);
        struct bd_ckpt_meta m;
        struct bd_ckpt_region r[BD_AGENT_MAX_REGIONS];
        unsigned n;
        struct bd_error *err = bd_ckpt_store_get(s, 3, &m, r, &n);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_NOT_FOUND);
        bd_error_destroy(err);
        get_matches(s, 5, 10);
        bd_ckpt_store_close(s);
}

/* --store-size: versions go until the rest fit; the newest stays alone
 * when it alone does not. */
static void test_size_bound(void **st)
{
        (void)st;
        struct bd_ckpt_store *s = open_store(100, 3 * LEN);
        struct bd_ckpt_put p;
        unsigned dropped = 0;
        for (int i = 1; i <= 6; i++) {
                memset(state, i, LEN); /* all new */
                put(s, 2u * (unsigned)i, &p);
                dropped += p.dropped;
        }
        struct bd_ckpt_stats ss;
        bd_ckpt_store_stats(s, &ss);
        assert_true(ss.bytes <= 3 * LEN);
        assert_true(ss.versions >= 1 && ss.versions < 6);
        assert_int_equal(dropped, 6 - ss.versions);
        assert_int_equal(ss.newest, 6);
        get_matches(s, 0, 12);
        bd_ckpt_store_close(s);

        s = open_store(100, 1u << 20); /* more than one version: at least 1M */
        bd_ckpt_store_close(s);
        struct bd_ckpt_store_opts tiny = {.keep = 100, .max_bytes = 100};
        assert_null(bd_ckpt_store_open(dir, &tiny, &s));
        bd_ckpt_store_stats(s, &ss);
        assert_int_equal(ss.versions, 1);
        assert_int_equal(ss.newest, 6);
        bd_ckpt_store_close(s);
}

/* A chunk changed on disk is found out; a manifest that does not parse
 * stops the open, naming it; a second writer is refused; a temporary file
 * of a writer that died is removed, a chunk none holds reclaimed. */
static void test_damage_and_lock(void **st)
{
        (void)st;
        struct bd_ckpt_store *s = open_store(100, 1u << 30), *t;
        struct bd_ckpt_put p;
        put(s, 2, &p);
        struct bd_ckpt_store_opts o = {.keep = 1, .max_bytes = 1u << 20};
        struct bd_error *err = bd_ckpt_store_open(dir, &o, &t);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_USAGE);
        bd_error_destroy(err);
        /* A reader needs no lock. */
        assert_null(bd_ckpt_store_open(dir, NULL, &t));
        get_matches(t, 1, 2);
        bd_ckpt_store_close(t);
        bd_ckpt_store_close(s);

        char path[256], cmd[512];
        snprintf(cmd, sizeof(cmd),
                 "cd '%s/chunks' && f=$(ls | head -n 1) && printf x | dd of=$f bs=1 seek=9 "
                 "conv=notrunc status=none && touch 0123.tmp.abc && "
                 "printf 0 > 00000000000000000000000000000000",
                 dir);
        assert_int_equal(system(cmd), 0);
        s = open_store(100, 1u << 30);
        struct bd_ckpt_meta m;
        struct bd_ckpt_region r[BD_AGENT_MAX_REGIONS];
        unsigned n;
        err = bd_ckpt_store_get(s, 1, &m, r, &n);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_IO);
        assert_non_null(strstr(err->message, "does not hold what version 1 stored"));
        bd_error_destroy(err);
        struct bd_ckpt_stats ss;
        bd_ckpt_store_stats(s, &ss);
        assert_int_equal(ss.unreclaimed, 1);
        bd_ckpt_store_close(s);
        snprintf(path, sizeof(path), "%s/chunks/0123.tmp.abc", dir);
        assert_int_equal(access(path, F_OK), -1);
        snprintf(path, sizeof(path), "%s/chunks/00000000000000000000000000000000", dir);
        assert_int_equal(access(path, F_OK), -1);

        snprintf(cmd, sizeof(cmd), "printf '{\"version\":' > '%s/versions/000000000009.json'", dir);
        assert_int_equal(system(cmd), 0);
        err = bd_ckpt_store_open(dir, NULL, &s);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_IO);
        assert_non_null(strstr(err->message, "000000000009.json: not a manifest"));
        bd_error_destroy(err);

        err = bd_ckpt_store_open("/tmp/no-such-store-here", NULL, &s);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_NOT_FOUND);
        bd_error_destroy(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_changed_chunks_only, setup, teardown),
            cmocka_unit_test_setup_teardown(test_keep_and_reclaim, setup, teardown),
            cmocka_unit_test_setup_teardown(test_size_bound, setup, teardown),
            cmocka_unit_test_setup_teardown(test_damage_and_lock, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
