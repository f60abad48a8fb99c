/* Targets (config lines, specs, lookups), error objects, and the output
 * helpers the commands print with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "../../monitor/cache/cache.h"
#include "../../monitor/views/output.h"
#include "../../monitor/source/phys_file.h"
#include "../../monitor/source/target.h"
#include "helpers.h"

/* Parse a line that must be a target. */
static void parse_ok(const char *line, struct bd_target *t)
{
        struct bd_error *err = (struct bd_error *)1;
        int rc = bd_target_parse_line(line, t, &err);
        if (err)
                print_error("'%s': %s\n", line, err->message);
        assert_null(err);
        assert_int_equal(rc, 1);
}

/* Parse a line that must be refused with a target error. */
static void parse_bad(const char *line)
{
        struct bd_target t;
        struct bd_error *err = NULL;
        int rc = bd_target_parse_line(line, &t, &err);
        if (!err)
                print_error("'%s' was accepted\n", line);
        assert_int_equal(rc, 0);
        assert_bd_error(err, BD_ERR_TARGET);
}

/* ---- config lines ------------------------------------------------------- */

static void test_line_nic(void **state)
{
        (void)state;
        struct bd_target t;
        parse_ok("host2 10.99.0.3:7471 key=/k", &t);
        assert_string_equal(t.name, "host2");
        assert_int_equal(t.kind, BD_TARGET_NIC);
        assert_string_equal(t.host, "10.99.0.3");
        assert_int_equal(t.port, 7471);
        assert_string_equal(t.key, "/k");
        assert_string_equal(t.path, "");

        /* Default port, other whitespace, a trailing comment, CRLF. */
        parse_ok("\thost3\t  nic3.lab   key=/etc/backdoors/host3.key  # the third\r\n", &t);
        assert_string_equal(t.name, "host3");
        assert_string_equal(t.host, "nic3.lab");
        assert_int_equal(t.port, BD_DEFAULT_PORT);
        assert_string_equal(t.key, "/etc/backdoors/host3.key");

        /* rdma: spelled out. */
        parse_ok("h rdma:10.0.0.1:9000 key=k", &t);
        assert_int_equal(t.kind, BD_TARGET_NIC);
        assert_string_equal(t.host, "10.0.0.1");
        assert_int_equal(t.port, 9000);
        parse_ok("h rdma:10.0.0.1 key=k", &t);
        assert_int_equal(t.port, BD_DEFAULT_PORT);
        /* Ports at the limits. */
        parse_ok("h x:1 key=k", &t);
        assert_int_equal(t.port, 1);
        parse_ok("h x:65535 key=k", &t);
        assert_int_equal(t.port, 65535);
}

static void test_line_ipv6(void **state)
{
        (void)state;
        struct bd_target t;
        parse_ok("v6 [::1]:9 key=/k", &t);
        assert_string_equal(t.host, "::1");
        assert_int_equal(t.port, 9);
        parse_ok("v6 [fe80::1%eth0] key=/k", &t);
        assert_string_equal(t.host, "fe80::1%eth0");
        assert_int_equal(t.port, BD_DEFAULT_PORT);
        /* Bare IPv6: every colon is part of the address, none is a port. */
        parse_ok("v6 ::1 key=/k", &t);
        assert_string_equal(t.host, "::1");
        assert_int_equal(t.port, BD_DEFAULT_PORT);
        parse_ok("v6 rdma:fd00::99:7471 key=/k", &t);
        assert_string_equal(t.host, "fd00::99:7471");
        assert_int_equal(t.port, BD_DEFAULT_PORT);
        /* Brackets that do not close, or hold nothing. */
        parse_bad("v6 [::1 key=/k");
        parse_bad("v6 []:9 key=/k");
        parse_bad("v6 [::1]:0 key=/k");
        parse_bad("v6 [::1]: key=/k");
}

/* "[::1]x" has junk after the bracket that is neither ":PORT" nor the end;
 * it is accepted today as host ::1, port default, silently dropping "x". */
static void test_line_ipv6_junk_after_bracket(void **state)
{
        (void)state;
        parse_bad("v6 [::1]x key=/k");
        parse_bad("v6 [::1]9 key=/k");
}

static void test_line_file(void **state)
{
        (void)state;
        struct bd_target t;
        parse_ok("snap file:/x", &t);
        assert_string_equal(t.name, "snap");
        assert_int_equal(t.kind, BD_TARGET_FILE);
        assert_string_equal(t.path, "/x");
        assert_string_equal(t.host, "");
        /* A file needs no key; a path may hold colons. */
        parse_ok("snap file:/var/crash/2024-01-01T00:00/vmcore", &t);
        assert_string_equal(t.path, "/var/crash/2024-01-01T00:00/vmcore");
        parse_bad("snap file:");
}

/* Blank and comment lines are not targets and not errors. */
static void test_line_blank_and_comment(void **state)
{
        (void)state;
        static const char *const lines[] = {"",
                                            "\n",
                                            "   \t  \r\n",
                                            "# a comment\n",
                                            "   # indented comment",
                                            "#host2 10.0.0.1 key=/k"};
        for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
                struct bd_target t;
                struct bd_error *err = (struct bd_error *)1;
                assert_int_equal(bd_target_parse_line(lines[i], &t, &err), 0);
                assert_null(err);
        }
}

static void test_line_errors(void **state)
{
        (void)state;
        parse_bad("host2 10.99.0.3:7471");         /* NIC without a key */
        parse_bad("host2 10.99.0.3:7471 key=");    /* empty key */
        parse_bad("host2 10.99.0.3:0 key=/k");     /* port 0 */
        parse_bad("host2 10.99.0.3:70000 key=/k"); /* port > 65535 */
        parse_bad("host2 10.99.0.3:65536 key=/k");
        parse_bad("host2 10.99.0.3:abc key=/k"); /* not a number */
        parse_bad("host2 10.99.0.3:12ab key=/k");
        parse_bad("host2 10.99.0.3:-1 key=/k");
        parse_bad("host2 10.99.0.3: key=/k"); /* empty port */
        parse_bad("host2 :7471 key=/k");      /* empty host */
        parse_bad("host2 rdma: key=/k");
        parse_bad("host2 10.99.0.3 key=/k mode=fast"); /* unknown option */
        parse_bad("host2 10.99.0.3 /k");               /* option without key= */
        parse_bad("host2");                            /* no source */
        parse_bad("host2 # 10.99.0.3 key=/k");         /* the source is commented out */
        parse_bad("a b key=1 key=2 key=3 key=4 key=5 key=6 key=7"); /* 9 fields */

        /* 63 characters is the longest name. */
        char line[256];
        struct bd_target t;
        snprintf(line, sizeof(line), "%.63s file:/x",
                 "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn");
        parse_ok(line, &t);
        assert_int_equal(strlen(t.name), 63);
        snprintf(line, sizeof(line), "%.64s file:/x",
                 "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn");
        parse_bad(line);

        /* Over-long host, key and path fields. */
        char big[1200];
        memset(big, 'h', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        char *l = malloc(4096);
        assert_non_null(l);
        snprintf(l, 4096, "h %.128s key=/k", big);
        parse_bad(l);
        snprintf(l, 4096, "h %.127s key=/k", big);
        parse_ok(l, &t);
        snprintf(l, 4096, "h x key=%.512s", big);
        parse_bad(l);
        snprintf(l, 4096, "h file:%.1024s", big);
        parse_bad(l);
        snprintf(l, 4096, "h file:%.1023s", big);
        parse_ok(l, &t);
        /* A line longer than the parser takes. */
        memset(l, 'x', 4095);
        l[4095] = '\0';
        parse_bad(l);
        free(l);
}

/* ---- config files ------------------------------------------------------- */

static const char config[] = "# Backdoors targets\n"
                             "\n"
                             "host2   10.99.0.3:7471   key=/etc/backdoors/host2.key\n"
                             "host3   rdma:[fd00::3]:7000 key=/k3   # v6\n"
                             "snap    file:/var/crash/vmcore\n";

static void test_lookup(void **state)
{
        (void)state;
        char path[32];
        temp_text(path, config);
        struct bd_target t;
        assert_bd_ok(bd_target_lookup(path, "host2", &t));
        assert_string_equal(t.host, "10.99.0.3");
        assert_string_equal(t.key, "/etc/backdoors/host2.key");
        assert_bd_ok(bd_target_lookup(path, "host3", &t));
        assert_string_equal(t.host, "fd00::3");
        assert_int_equal(t.port, 7000);
        assert_bd_ok(bd_target_lookup(path, "snap", &t));
        assert_int_equal(t.kind, BD_TARGET_FILE);
        assert_string_equal(t.path, "/var/crash/vmcore");

        /* Unknown names say which name (and not a prefix match). */
        static const char *const unknown[] = {"host4", "host", "host22", ""};
        for (size_t i = 0; i < 4; i++) {
                struct bd_error *err = bd_target_lookup(path, unknown[i], &t);
                assert_non_null(err);
                assert_int_equal(err->code, BD_ERR_TARGET);
                char want[32];
                snprintf(want, sizeof(want), "'%s'", unknown[i]);
                assert_non_null(strstr(err->message, want));
                bd_error_destroy(err);
        }

        unsigned n = 0;
        struct bd_target all[8];
        assert_bd_ok(bd_target_list(path, all, 8, &n));
        assert_int_equal(n, 3);
        assert_string_equal(all[2].name, "snap");
        /* A short array gets the first ones, no overflow. */
        assert_bd_ok(bd_target_list(path, all, 1, &n));
        assert_int_equal(n, 1);
        assert_string_equal(all[0].name, "host2");
        unlink(path);
}

/* A bad line is reported as FILE:LINE so the operator can fix it. */
static void test_lookup_bad_line(void **state)
{
        (void)state;
        char path[32], want[64];
        temp_text(path, "# ok\n"
                        "good file:/x\n"
                        "bad 10.0.0.1:99999 key=/k\n"
                        "later file:/y\n");
        struct bd_target t;
        struct bd_error *err = bd_target_lookup(path, "later", &t);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_TARGET);
        snprintf(want, sizeof(want), "%s:3", path);
        assert_non_null(strstr(err->message, want));
        assert_non_null(strstr(err->message, "port"));
        bd_error_destroy(err);
        /* A target before the bad line is still found. */
        assert_bd_ok(bd_target_lookup(path, "good", &t));
        unsigned n = 0;
        struct bd_target all[4];
        assert_bd_error(bd_target_list(path, all, 4, &n), BD_ERR_TARGET);
        unlink(path);
}

static void test_lookup_missing_config(void **state)
{
        (void)state;
        struct bd_target t;
        struct bd_error *err = bd_target_lookup("/tmp/bdtest-no-such-config", "host2", &t);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_TARGET);
        assert_non_null(strstr(err->message, "/tmp/bdtest-no-such-config"));
        bd_error_destroy(err);
}

/* A physical line longer than the reader's 2048-byte buffer is read in
 * pieces, and each piece is parsed as a line of its own: here the tail of
 * a commented-out line becomes an active target "evil" (and the line
 * numbers of later errors are off). parse_line's own "line too long" check
 * never fires for config files. */
static void test_lookup_long_line(void **state)
{
        (void)state;
        char path[32];
        size_t len = 1 + 2046 + 64;
        char *text = malloc(len + 64);
        assert_non_null(text);
        text[0] = '#';
        memset(text + 1, 'x', 2046);
        strcpy(text + 2047, "evil file:/etc/shadow\ngood file:/x\n");
        temp_text(path, text);
        free(text);
        struct bd_target t;
        struct bd_error *err = bd_target_lookup(path, "evil", &t);
        unlink(path);
        /* The line is one comment (or one over-long line): either way there
         * is no target "evil". */
        assert_non_null(err);
        bd_error_destroy(err);
}

/* ---- specs from the command line ------------------------------------------ */

static void test_parse_spec(void **state)
{
        (void)state;
        struct bd_target t;
        assert_bd_ok(bd_target_parse_spec("file:/x/host2.ram", NULL, &t));
        assert_int_equal(t.kind, BD_TARGET_FILE);
        assert_string_equal(t.path, "/x/host2.ram");
        assert_string_equal(t.name, "/x/host2.ram"); /* named after the source */

        assert_bd_ok(bd_target_parse_spec("rdma:10.99.0.3:7000", "/k", &t));
        assert_int_equal(t.kind, BD_TARGET_NIC);
        assert_string_equal(t.host, "10.99.0.3");
        assert_int_equal(t.port, 7000);
        assert_string_equal(t.key, "/k");
        assert_string_equal(t.name, "10.99.0.3");

        assert_bd_ok(bd_target_parse_spec("rdma:[::1]", "/k", &t));
        assert_string_equal(t.host, "::1");

        /* A NIC needs a key: a usage error, the user forgot --key. */
        assert_bd_error(bd_target_parse_spec("rdma:10.99.0.3", NULL, &t), BD_ERR_USAGE);
        /* Bad sources are target errors. */
        assert_bd_error(bd_target_parse_spec("file:", NULL, &t), BD_ERR_TARGET);
        assert_bd_error(bd_target_parse_spec("rdma:10.0.0.1:0", "/k", &t), BD_ERR_TARGET);
        assert_bd_error(bd_target_parse_spec("rdma:", "/k", &t), BD_ERR_TARGET);
        /* Key path too long. */
        char key[600];
        memset(key, 'k', sizeof(key) - 1);
        key[sizeof(key) - 1] = '\0';
        assert_bd_error(bd_target_parse_spec("rdma:10.0.0.1", key, &t), BD_ERR_USAGE);
}

/* A file target opens through bd_target_open with the config's name. */
static void test_target_open_file(void **state)
{
        (void)state;
        char path[32], line[128];
        temp_text(path, "some RAM bytes");
        snprintf(line, sizeof(line), "box file:%s", path);
        struct bd_target t;
        parse_ok(line, &t);
        struct bd_open_options o = {0};
        struct bd_phys *p = NULL;
        assert_bd_ok(bd_target_open(&t, &o, &p));
        assert_string_equal(p->name, "box");
        assert_int_equal(p->write_enabled, 0);
        char got[4];
        assert_bd_ok(bd_phys_read(p, 5, got, 3));
        assert_memory_equal(got, "RAM", 3);
        bd_phys_close(p);
        unlink(path);
        assert_bd_error(bd_target_open(&t, &o, &p), BD_ERR_TARGET); /* gone now */
}

/* How many mappings of path this process has (/proc/self/maps). */
static int mappings_of(const char *path)
{
        FILE *f = fopen("/proc/self/maps", "r");
        assert_non_null(f);
        char line[512];
        int n = 0;
        while (fgets(line, sizeof(line), f)) {
                char *name = strchr(line, '/');
                n += name && !strncmp(name, path, strlen(path)) && name[strlen(path)] == '\n';
        }
        fclose(f);
        return n;
}

/* Two targets on one file (a fleet watched through one RAM file) share
 * one mapping of it, until the last closes; one opened for writing has
 * its own. */
static void test_file_sources_share_a_mapping(void **state)
{
        (void)state;
        char path[32];
        temp_text(path, "some RAM bytes");
        char abs[PATH_MAX];
        assert_non_null(realpath(path, abs));
        struct bd_phys *a = NULL, *b = NULL, *w = NULL;
        assert_bd_ok(bd_phys_open_file(path, 0, &a));
        assert_bd_ok(bd_phys_open_file(abs, 0, &b));
        assert_int_equal(mappings_of(abs), 1);
        assert_bd_ok(bd_phys_open_file(path, 1, &w));
        assert_int_equal(mappings_of(abs), 2);
        bd_phys_close(w);
        bd_phys_close(a);
        assert_int_equal(mappings_of(abs), 1);
        char got[4];
        assert_bd_ok(bd_phys_read(b, 5, got, 3));
        assert_memory_equal(got, "RAM", 3);
        bd_phys_close(b);
        assert_int_equal(mappings_of(abs), 0);
        unlink(path);
}

/* ---- errors ----------------------------------------------------------- */

static void test_error_wrap(void **state)
{
        (void)state;
        struct bd_error *err = bd_error_new(BD_ERR_RANGE, "address %d outside", 7);
        assert_string_equal(err->message, "address 7 outside");
        err = bd_error_wrap(err, "reading %s", "host2");
        assert_int_equal(err->code, BD_ERR_RANGE); /* the code is kept */
        assert_string_equal(err->message, "reading host2: address 7 outside");
        err = bd_error_wrap(err, "cmd");
        assert_string_equal(err->message, "cmd: reading host2: address 7 outside");
        bd_error_destroy(err);
        /* Wrapping nothing is nothing; the static out-of-memory error is not
         * modified (it is shared). */
        assert_null(bd_error_wrap(NULL, "x"));
        assert_ptr_equal(bd_error_wrap(&bd_error_nomem, "x"), &bd_error_nomem);
        assert_string_equal(bd_error_nomem.message, "out of memory");
        bd_error_destroy(&bd_error_nomem); /* must not free a static */
        bd_error_destroy(NULL);
}

/* Messages and prefixes of any length stay inside message[] and stay
 * terminated; the prefix wins over the tail of the message. */
static void test_error_wrap_long(void **state)
{
        (void)state;
        const size_t cap = sizeof(((struct bd_error *)0)->message);
        char longs[2000];
        memset(longs, 'm', sizeof(longs) - 1);
        longs[sizeof(longs) - 1] = '\0';

        struct bd_error *err = bd_error_new(BD_ERR_IO, "%s", longs);
        assert_int_equal(strlen(err->message), cap - 1);
        err = bd_error_wrap(err, "ctx");
        assert_int_equal(strlen(err->message), cap - 1);
        assert_memory_equal(err->message, "ctx: mmm", 8);
        bd_error_destroy(err);

        /* A prefix longer than the whole message buffer. */
        char longp[2000];
        memset(longp, 'p', sizeof(longp) - 1);
        longp[sizeof(longp) - 1] = '\0';
        err = bd_error_new(BD_ERR_IO, "short");
        err = bd_error_wrap(err, "%s", longp);
        assert_true(strlen(err->message) < cap);
        assert_int_equal(err->message[0], 'p');
        assert_non_null(strstr(err->message, ": short"));
        bd_error_destroy(err);

        /* Many wraps of a long message. */
        err = bd_error_new(BD_ERR_IO, "%s", longs);
        for (int i = 0; i < 100; i++)
                err = bd_error_wrap(err, "%s", longp);
        assert_true(strlen(err->message) < cap);
        bd_error_destroy(err);

        /* Empty message and empty prefix. */
        err = bd_error_new(BD_ERR_IO, "%s", "");
        err = bd_error_wrap(err, "%s", "");
        assert_string_equal(err->message, ": ");
        bd_error_destroy(err);
}

static void test_err_names(void **state)
{
        (void)state;
        static const struct {
                enum bd_err code;
                const char *name;
        } names[] = {
            {BD_OK, "ok"},
            {BD_ERR_INTERNAL, "internal"},
            {BD_ERR_USAGE, "usage"},
            {BD_ERR_TARGET, "target"},
            {BD_ERR_UNREACHABLE, "unreachable"},
            {BD_ERR_AUTH, "auth"},
            {BD_ERR_RANGE, "range"},
            {BD_ERR_READONLY, "readonly"},
            {BD_ERR_PROTOCOL, "protocol"},
            {BD_ERR_NOT_FOUND, "not-found"},
            {BD_ERR_IO, "io"},
            {BD_ERR_CAS_FAILED, "cas-failed"},
            {BD_ERR_NOMEM, "nomem"},
            {BD_ERR_STANDBY, "standby"},
        };
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                assert_string_equal(bd_err_name(names[i].code), names[i].name);
        /* Codes are exit codes: fixed numbers. */
        assert_int_equal(BD_ERR_TARGET, 3);
        assert_int_equal(BD_ERR_CAS_FAILED, 11);
        assert_int_equal(BD_ERR_STANDBY, 13);
        /* Unknown codes, including a peer's REFUSED reason, never index out
         * of the table. */
        assert_string_equal(bd_err_name((enum bd_err)14), "unknown");
        assert_string_equal(bd_err_name((enum bd_err) - 1), "unknown");
        assert_string_equal(bd_err_name((enum bd_err)0x7fffffff), "unknown");
}

/* ---- output ------------------------------------------------------------- */

static char *json_of(const char *s)
{
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        assert_non_null(f);
        bd_json_string(f, s);
        fclose(f);
        return out;
}

static void test_json_string(void **state)
{
        (void)state;
        static const struct {
                const char *in, *out;
        } cases[] = {
            {"", "\"\""},
            {"plain text", "\"plain text\""},
            {"say \"hi\"", "\"say \\\"hi\\\"\""},
            {"C:\\path", "\"C:\\\\path\""},
            {"a\nb", "\"a\\nb\""},
            {"tab\there", "\"tab\\u0009here\""},
            {"\x01\x1f", "\"\\u0001\\u001f\""},
            {"cr\r", "\"cr\\u000d\""},
            {"del\x7f", "\"del\\u007f\""},
            {"/slash/ok", "\"/slash/ok\""},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *got = json_of(cases[i].in);
                assert_string_equal(got, cases[i].out);
                free(got);
        }
        /* No raw control byte ever reaches the output. */
        char all[256];
        for (int c = 1; c < 256; c++)
                all[c - 1] = (char)c;
        all[255] = '\0';
        char *got = json_of(all);
        for (char *p = got; *p; p++)
                assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
        free(got);
}

static char *hexdump_of(uint64_t addr, const uint8_t *data, size_t len)
{
        char *out = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&out, &n);
        assert_non_null(f);
        bd_hexdump(f, addr, data, len);
        fclose(f);
        return out;
}

static int count_lines(const char *s)
{
        int n = 0;
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static void test_hexdump(void **state)
{
        (void)state;
        uint8_t data[17];
        memcpy(data, "Hello, world!\x00\x01\xff", 16);
        data[16] = 'Z';

        char *out = hexdump_of(0x1000, data, 0);
        assert_string_equal(out, "");
        free(out);

        /* Five bytes: one line, the ASCII column only as wide as the data. */
        out = hexdump_of(0x1000, data, 5);
        assert_int_equal(count_lines(out), 1);
        assert_string_equal(out, "0000000000001000  "
                                 "48 65 6c 6c 6f "          /* five bytes */
                                 "         "                /* three absent */
                                 " "                        /* the middle gap */
                                 "                        " /* eight absent */
                                 " |Hello|\n");
        free(out);

        /* Sixteen: one full line, non-printables as dots. */
        out = hexdump_of(0xffffffff81000000ull, data, 16);
        assert_int_equal(count_lines(out), 1);
        assert_string_equal(out,
                            "ffffffff81000000  48 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 00 01 ff "
                            " |Hello, world!...|\n");
        free(out);

        /* Seventeen: a second line with its own address. */
        out = hexdump_of(0x10, data, 17);
        assert_int_equal(count_lines(out), 2);
        char *second = strchr(out, '\n') + 1;
        assert_memory_equal(second, "0000000000000020  5a ", 20);
        assert_non_null(strstr(second, "|Z|\n"));
        /* Both lines have the ASCII column at the same place. */
        assert_int_equal(strchr(out, '|') - out, strchr(second, '|') - second);
        free(out);
}

/* ---- hint cache ---------------------------------------------------------- */

static void test_hint_cache(void **state)
{
        (void)state;
        char dir[] = "/tmp/bdtest-cache.XXXXXX";
        assert_non_null(mkdtemp(dir));
        char sub[64];
        snprintf(sub, sizeof(sub), "%s/c", dir);
        setenv("BDMON_CACHE", sub, 1);
        assert_int_equal(bd_cache_hint_load("host2"), 0); /* nothing cached */
        bd_cache_hint_store("host2", 0x12345000);
        assert_int_equal(bd_cache_hint_load("host2"), 0x12345000);
        bd_cache_hint_store("host2", 0xffffffff00000000ull); /* replaced */
        assert_int_equal(bd_cache_hint_load("host2"), 0xffffffff00000000ull);
        /* A path as a target name stays one file inside the cache. */
        bd_cache_hint_store("/var/crash/vmcore", 0x2000);
        assert_int_equal(bd_cache_hint_load("/var/crash/vmcore"), 0x2000);
        assert_int_equal(bd_cache_hint_load("host3"), 0);

        char f[128];
        snprintf(f, sizeof(f), "%s/vmcoreinfo-host2", sub);
        assert_int_equal(unlink(f), 0);
        snprintf(f, sizeof(f), "%s/vmcoreinfo-_var_crash_vmcore", sub);
        assert_int_equal(unlink(f), 0);
        assert_int_equal(rmdir(sub), 0); /* nothing else was left behind */
        assert_int_equal(rmdir(dir), 0);
        unsetenv("BDMON_CACHE");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_line_nic),
            cmocka_unit_test(test_line_ipv6),
            cmocka_unit_test(test_line_ipv6_junk_after_bracket),
            cmocka_unit_test(test_line_file),
            cmocka_unit_test(test_line_blank_and_comment),
            cmocka_unit_test(test_line_errors),
            cmocka_unit_test(test_lookup),
            cmocka_unit_test(test_lookup_bad_line),
            cmocka_unit_test(test_lookup_missing_config),
            cmocka_unit_test(test_lookup_long_line),
            cmocka_unit_test(test_parse_spec),
            cmocka_unit_test(test_target_open_file),
            cmocka_unit_test(test_file_sources_share_a_mapping),
            cmocka_unit_test(test_error_wrap),
            cmocka_unit_test(test_error_wrap_long),
            cmocka_unit_test(test_err_names),
            cmocka_unit_test(test_json_string),
            cmocka_unit_test(test_hexdump),
            cmocka_unit_test(test_hint_cache),
        };
        return cmocka_run_group_tests_name("target", tests, NULL, NULL);
}
