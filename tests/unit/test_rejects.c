/* bdnicd's refused connection requests (backdoor-nic/rejects.h): a flood
 * from one address writes two audit lines a second, and every refusal is
 * counted; addresses and reasons are kept apart; a full table writes the
 * count of the pair it drops before dropping it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../backdoor-nic/rejects.h"
#include "../../common/audit.h"

#define SEC 1000000000ull
static const char FULL[] = "too many connections";
static const char CAP[] = "too many unauthenticated from its address";

static char path[32];
static long seen; /* how much of the audit file lines() has returned */

/* Each test on an audit file of its own. */
static int setup(void **state)
{
        (void)state;
        snprintf(path, sizeof(path), "/tmp/bd-test-rejects-XXXXXX");
        seen = 0;
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        assert_null(bd_audit_open(path));
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        bd_audit_close();
        unlink(path);
        return 0;
}

/* The audit lines written since the last call, from the file. */
static char *lines(void)
{
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        fseek(f, seen, SEEK_SET);
        static char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = 0;
        seen += (long)n;
        fclose(f);
        return buf;
}

static unsigned count(const char *text, const char *what)
{
        unsigned n = 0;
        for (const char *p = text; (p = strstr(p, what)); p++)
                n++;
        return n;
}

/* Refusals counted: one per plain line, refused=N per summary. */
static unsigned long refusals(const char *text)
{
        unsigned long n = count(text, " audit reject peer=");
        for (const char *p = text; (p = strstr(p, " refused=")); p++)
                n += strtoul(p + 9, NULL, 10);
        return n;
}

static void test_flood_from_one_address(void **state)
{
        (void)state;
        static struct bd_rejects table;
        struct bd_rejects *r = memset(&table, 0, sizeof(table));
        /* 1,000 a second for 3 s, 1 ms apart. */
        uint64_t t = 5 * SEC;
        for (unsigned i = 0; i < 3000; i++, t += SEC / 1000) {
                bd_rejects_note(r, "10.0.0.9:4242", "10.0.0.9", CAP, t);
                bd_rejects_flush(r, t, 0);
        }
        char *text = lines();
        assert_int_equal(count(text, " audit reject peer=10.0.0.9:4242 reason=\"too many"), 3);
        assert_int_equal(count(text, "reject-summary host=10.0.0.9 refused=999 reason="), 2);
        /* The last second's count waits for its end, then is written. */
        t -= SEC / 1000; /* the last one's time */
        assert_int_equal(bd_rejects_flush(r, t, 0), SEC / 1000);
        assert_int_equal(bd_rejects_flush(r, t + SEC / 1000, 0), UINT64_MAX);
        text = lines();
        assert_string_equal(strstr(text, "reject-summary"),
                            "reject-summary host=10.0.0.9 refused=999 reason=\"too many "
                            "unauthenticated from its address\"\n");
}

static void test_addresses_and_reasons_apart(void **state)
{
        (void)state;
        static struct bd_rejects table;
        struct bd_rejects *r = memset(&table, 0, sizeof(table));
        uint64_t t = SEC;
        for (unsigned i = 0; i < 10; i++, t += 1000) {
                bd_rejects_note(r, "10.0.0.1:1", "10.0.0.1", CAP, t);
                bd_rejects_note(r, "10.0.0.2:1", "10.0.0.2", CAP, t);
                bd_rejects_note(r, "10.0.0.1:2", "10.0.0.1", FULL, t);
        }
        bd_rejects_flush(r, t, 1);
        char *text = lines();
        assert_int_equal(count(text, " audit reject peer="), 3);
        assert_int_equal(count(text, "refused=9 "), 3);
        assert_int_equal(refusals(text), 30);
}

/* More pairs than the table holds: each dropped pair's count is written
 * as it goes, and none is lost. */
static void test_full_table(void **state)
{
        (void)state;
        static struct bd_rejects table;
        struct bd_rejects *r = memset(&table, 0, sizeof(table));
        uint64_t t = SEC;
        unsigned long noted = 0;
        for (unsigned round = 0; round < 3; round++)
                for (unsigned a = 0; a < 2 * BD_REJECTS_SOURCES; a++) {
                        char host[32], peer[40];
                        snprintf(host, sizeof(host), "10.1.%u.%u", a / 256, a % 256);
                        snprintf(peer, sizeof(peer), "%s:7", host);
                        bd_rejects_note(r, peer, host, CAP, t++);
                        bd_rejects_note(r, peer, host, CAP, t++);
                        noted += 2;
                }
        bd_rejects_flush(r, t, 1);
        assert_int_equal(refusals(lines()), noted);
        /* Nothing left to write. */
        assert_int_equal(bd_rejects_flush(r, t, 1), UINT64_MAX);
        assert_string_equal(lines(), "");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_flood_from_one_address, setup, teardown),
            cmocka_unit_test_setup_teardown(test_addresses_and_reasons_apart, setup, teardown),
            cmocka_unit_test_setup_teardown(test_full_table, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
