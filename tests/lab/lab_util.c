#include "lab_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define OUT_MAX (4u << 20)

char lab_root[1024];
void result_free(struct result *r)
{
        free(r->out);
        free(r->err);
        r->out = r->err = NULL;
}

static char *slurp(const char *path)
{
        FILE *f = fopen(path, "rb");
        char *buf = calloc(1, OUT_MAX + 1);
        if (f && buf) {
                size_t n = fread(buf, 1, OUT_MAX, f);
                buf[n] = '\0';
        }
        if (f)
                fclose(f);
        return buf;
}

/* Run a shell command on the lab host; capture stdout, stderr, exit code. */
struct result host(const char *fmt, ...)
{
        char cmd[8192], full[8400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        char outp[] = "/tmp/bdlabtest.out.XXXXXX", errp[] = "/tmp/bdlabtest.err.XXXXXX";
        int fo = mkstemp(outp), fe = mkstemp(errp);
        close(fo);
        close(fe);
        snprintf(full, sizeof(full), "(%s) >%s 2>%s", cmd, outp, errp);
        int status = system(full);
        struct result r = {.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128,
                           .out = slurp(outp),
                           .err = slurp(errp)};
        unlink(outp);
        unlink(errp);
        return r;
}

struct result vm(const char *name, const char *fmt, ...)
{
        char cmd[6000];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        setenv("BD_VM_CMD", cmd, 1);
        return host("'%s/lab/bdlab' run %s --timeout 180 -- \"$BD_VM_CMD\"", lab_root, name);
}

long vm_number(const char *name, const char *fmt, ...)
{
        char cmd[6000];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        struct result r = vm(name, "%s", cmd);
        long n = strtol(r.out, NULL, 10);
        result_free(&r);
        return n;
}

void expect_ok(struct result *r, const char *what)
{
        if (r->rc != 0)
                print_error("%s: exit %d\nstdout: %s\nstderr: %s\n", what, r->rc, r->out, r->err);
        assert_int_equal(r->rc, 0);
}

void ok(struct result r, const char *what)
{
        expect_ok(&r, what);
        result_free(&r);
}

void expect_exit(struct result *r, int code, const char *phrase)
{
        if (r->rc != code || !strstr(r->err, phrase))
                print_error("expected exit %d and '%s'; got exit %d\nstderr: %s\n", code, phrase,
                            r->rc, r->err);
        assert_int_equal(r->rc, code);
        assert_non_null(strstr(r->err, phrase));
        char *nl = strchr(r->err, '\n');
        assert_non_null(nl);
        assert_int_equal(nl[1], '\0');
}

void expect_refusal(struct result *r, int code, const char *phrase)
{
        expect_exit(r, code, phrase);
        assert_non_null(strstr(r->err, "bdmon: "));
}

int json_field(const char *json, const char *key, char *buf, size_t cap)
{
        char pat[128];
        snprintf(pat, sizeof(pat), "\"%s\":", key);
        const char *p = strstr(json, pat);
        if (!p)
                return -1;
        p += strlen(pat);
        int quoted = *p == '"';
        p += quoted;
        size_t n = quoted ? strcspn(p, "\"") : strcspn(p, ",}");
        if (n >= cap)
                return -1;
        memcpy(buf, p, n);
        buf[n] = '\0';
        return 0;
}

void chomp(char *s)
{
        s[strcspn(s, "\r\n")] = '\0';
}

void lab_init(void)
{
        const char *r = getenv("BD_ROOT");
        snprintf(lab_root, sizeof(lab_root), "%s", r ? r : ".");
}

void lab_filter(void)
{
        if (getenv("BD_TEST_FILTER"))
                cmocka_set_test_filter(getenv("BD_TEST_FILTER"));
}

int lab_boot(void)
{
        struct result r = host("'%s/lab/bdlab' down; '%s/lab/bdlab' up", lab_root, lab_root);
        int rc = r.rc;
        if (rc)
                print_error("bdlab up failed (exit %d): the lab cannot run here.\n%s\n%s\n", rc,
                            r.out, r.err);
        result_free(&r);
        return rc ? -1 : 0;
}

int events_now(const char *events)
{
        struct result r = vm("mon", "grep -c . %s || true", events);
        int n = atoi(r.out);
        result_free(&r);
        return n;
}

int wait_match(const char *events, int after, const char *text, int seconds, char *buf, size_t cap)
{
        struct result r = vm("mon",
                             "for i in $(seq %d); do l=$(tail -n +%d %s"
                             " | grep -n -m1 -F '%s') && [ -n \"$l\" ] && "
                             "{ echo \"$l\"; exit 0; }; sleep 0.2; done; exit 1",
                             seconds * 5, after + 1, events, text);
        int line = 0;
        if (!r.rc) {
                line = after + atoi(r.out);
                const char *colon = strchr(r.out, ':');
                snprintf(buf, cap, "%s", colon ? colon + 1 : r.out);
        } else {
                struct result all = vm("mon", "tail -n +%d %s", after + 1, events);
                fprintf(stderr, "no event with '%s' within %d s; events since:\n%s\n", text,
                        seconds, all.out);
                result_free(&all);
        }
        result_free(&r);
        return line;
}

void wait_listening(const char *name, int port)
{
        ok(vm(name,
              "for i in $(seq 200); do grep -q ':%04X 00000000:0000 0A' /proc/net/tcp && exit 0;"
              " sleep 0.05; done; exit 1",
              port),
           "a listener on the port");
}

void take_over(const char *images, long client_pid, const char *what)
{
        struct result r = vm("host3", "bd-standby-restore " STANDBY_TOOLS " %s", images);
        expect_ok(&r, "bd-standby-restore on host3");
        assert_non_null(strstr(r.out, "took over 10.99.0.2"));
        result_free(&r);
        /* An answer after the gap, then ten more at the client's pace. */
        r = vm("mon",
               "for i in $(seq 900); do"
               " awk 'NF == 3 && $3 > 1000 { g = NR } END { exit !(g && NR >= g + 10) }'"
               " /tmp/cc.log && break; sleep 0.1; done;"
               " kill -TERM %ld; while [ -d /proc/%ld ]; do sleep 0.05; done;"
               " awk 'NF == 3 && $3 > 1000' /tmp/cc.log; tail -1 /tmp/cc.log",
               client_pid, client_pid);
        expect_ok(&r, "the client's answers after the takeover");
        printf("%s: the client's gap and its summary: %s", what, r.out);
        assert_non_null(strstr(r.out, "requests "));
        result_free(&r);
        ok(vm("mon", "! grep -E 'out of step|connection lost' /tmp/cc.log"),
           "every answer in step, the connection never lost");
}
