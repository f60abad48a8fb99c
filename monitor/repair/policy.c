#include "policy.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cache/cache.h"

/* STATE, SCRIPT, every argument and three options. */
#define MAX_WORDS (2 + BD_REPAIR_MAX_ARGS + 3)

static const char *const var_names[BD_POLICY_VARS] = {
    [BD_POLICY_PID] = "pid",
    [BD_POLICY_CPU] = "cpu",
    [BD_POLICY_PID_LAST] = "pid_last",
    [BD_POLICY_BASE_MAX_THREADS] = "baseline.max_threads",
    [BD_POLICY_BASE_PID_MAX] = "baseline.pid_max",
    [BD_POLICY_BASE_MAX_FILES] = "baseline.max_files",
};

static struct bd_error *bad(unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct bd_error *bad(unsigned line, const char *fmt, ...)
{
        char what[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return bd_error_new(BD_ERR_USAGE, "line %u: %s", line, what);
}

static const char *base_name(const char *path)
{
        const char *slash = strrchr(path, '/');
        return slash ? slash + 1 : path;
}

int bd_policy_refuses(const char *script)
{
        const char *b = base_name(script);
        return !strcmp(b, "unlock") || !strcmp(b, "unlock.lua");
}

/* Lists "a, b, c" for messages, cut at cap. */
static void append(char *buf, size_t cap, const char *name)
{
        size_t at = strlen(buf);
        snprintf(buf + at, cap - at, "%s%s", at ? ", " : "", name);
}

/* Which variable ${NAME} names, NAME being n bytes at s; -1 if none. */
static int var_of(const char *s, size_t n)
{
        for (int v = 0; v < BD_POLICY_VARS; v++)
                if (strlen(var_names[v]) == n && !memcmp(var_names[v], s, n))
                        return v;
        return -1;
}

/* The variables of one argument: each '$' opens a known ${NAME}. */
static struct bd_error *check_arg(unsigned line, const char *arg, const struct bd_policy_state *st)
{
        char known[200] = "";
        for (int v = 0; v < BD_POLICY_VARS; v++)
                append(known, sizeof(known), var_names[v]);
        for (const char *s = strchr(arg, '$'); s; s = strchr(s, '$')) {
                const char *close = s[1] == '{' ? strchr(s + 2, '}') : NULL;
                if (!close)
                        return bad(line, "'%s': a '$' opens a ${NAME} (%s)", arg, known);
                int v = var_of(s + 2, (size_t)(close - s - 2));
                int n = (int)(close - s + 1);
                if (v < 0)
                        return bad(line, "unknown variable %.*s (known: %s)", n, s, known);
                if (!(st->vars & BD_POLICY_VAR(v)))
                        return bad(line, "%.*s is never known for '%s' events", n, s, st->name);
                s = close + 1;
        }
        return NULL;
}

static const struct bd_policy_state *
find_state(const char *name, const struct bd_policy_state *states, size_t nstates)
{
        for (size_t i = 0; i < nstates; i++)
                if (!strcmp(states[i].name, name))
                        return &states[i];
        return NULL;
}

/* STATE[:SUBJECT] into r; the state's entry in *st. */
static struct bd_error *parse_match(unsigned line, char *word, const struct bd_policy_state *states,
                                    size_t nstates, struct bd_policy_rule *r,
                                    const struct bd_policy_state **st)
{
        char *colon = strchr(word, ':');
        if (colon)
                *colon = '\0';
        *st = find_state(word, states, nstates);
        if (!*st) {
                char names[300] = "";
                for (size_t i = 0; i < nstates; i++)
                        append(names, sizeof(names), states[i].name);
                return bad(line, "'%s' is no state a repair can run in (%s)", word, names);
        }
        snprintf(r->state, sizeof(r->state), "%s", word);
        if (!colon)
                return NULL;
        const char *sub = colon + 1;
        const char *const *subs = (*st)->subjects;
        for (size_t i = 0; subs && subs[i]; i++)
                if (!strcmp(subs[i], sub)) {
                        snprintf(r->subject, sizeof(r->subject), "%s", sub);
                        return NULL;
                }
        if (!subs)
                return bad(line, "'%s' events name no subject a rule can match", word);
        char names[200] = "";
        for (size_t i = 0; subs[i]; i++)
                append(names, sizeof(names), subs[i]);
        return bad(line, "'%s' has no subject '%s' (%s)", word, sub, names);
}

/* One option word into r; 0 if the word is no option. */
static int parse_option(unsigned line, const char *word, struct bd_policy_rule *r, unsigned *seen,
                        struct bd_error **err)
{
        enum { MODE = 1, EVERY = 2, FORCE = 4 };
        unsigned which = !strncmp(word, "mode=", 5)    ? MODE
                         : !strncmp(word, "every=", 6) ? EVERY
                         : !strcmp(word, "force")      ? FORCE
                                                       : 0;
        if (!which)
                return 0;
        if (*seen & which) {
                *err = bad(line, "'%s': each option at most once", word);
                return 1;
        }
        *seen |= which;
        if (which == MODE) {
                if (strcmp(word + 5, "plan") && strcmp(word + 5, "apply"))
                        *err = bad(line, "mode is plan or apply, not '%s'", word + 5);
                r->apply = !strcmp(word + 5, "apply");
        } else if (which == EVERY) {
                const char *s = word + 6;
                uint64_t v = 0;
                size_t n = strspn(s, "0123456789");
                for (size_t i = 0; i < n && v <= BD_POLICY_EVERY_MAX; i++)
                        v = v * 10 + (uint64_t)(s[i] - '0');
                if (!n || s[n] || !v || v > BD_POLICY_EVERY_MAX)
                        *err = bad(line, "every= takes seconds, 1 to %u, not '%s'",
                                   BD_POLICY_EVERY_MAX, s);
                r->every_s = (unsigned)v;
        } else {
                r->force = 1;
        }
        return 1;
}

/* A rule an earlier one always wins over never runs: almost surely a
 * mistake in the order. */
static struct bd_error *check_shadow(const struct bd_policy *p, const struct bd_policy_rule *r)
{
        for (size_t i = 0; i < p->n; i++) {
                const struct bd_policy_rule *e = &p->rules[i];
                if (!strcmp(e->state, r->state) &&
                    (!e->subject[0] || !strcmp(e->subject, r->subject)))
                        return bad(r->line, "never runs: line %u takes every %s%s%s event first",
                                   e->line, r->state, r->subject[0] ? ":" : "", r->subject);
        }
        return NULL;
}

static struct bd_error *parse_rule(unsigned line, char **w, unsigned n,
                                   const struct bd_policy_state *states, size_t nstates,
                                   struct bd_policy_rule *r)
{
        memset(r, 0, sizeof(*r));
        r->line = line;
        r->every_s = BD_POLICY_EVERY_S;
        const struct bd_policy_state *st;
        struct bd_error *err = parse_match(line, w[0], states, nstates, r, &st);
        if (err)
                return err;
        if (n < 2)
                return bad(line, "%s: a rule needs a script after its state", r->state);
        if (strlen(w[1]) >= sizeof(r->script))
                return bad(line, "script name longer than %zu bytes", sizeof(r->script) - 1);
        if (bd_policy_refuses(w[1]))
                return bad(line,
                           "'%s': unlock is never run from a policy (run bdmon repair "
                           "--force by hand)",
                           w[1]);
        snprintf(r->script, sizeof(r->script), "%s", w[1]);
        unsigned seen = 0;
        for (unsigned i = 2; i < n; i++) {
                if (parse_option(line, w[i], r, &seen, &err)) {
                        if (err)
                                return err;
                        continue;
                }
                if (seen)
                        return bad(line, "'%s' after the options: arguments come first", w[i]);
                if (r->nargs == BD_REPAIR_MAX_ARGS)
                        return bad(line, "more than %d arguments", BD_REPAIR_MAX_ARGS);
                if (strlen(w[i]) >= BD_POLICY_ARG)
                        return bad(line, "argument '%.40s...' longer than %zu bytes", w[i],
                                   BD_POLICY_ARG - 1);
                if ((err = check_arg(line, w[i], st)))
                        return err;
                snprintf(r->args[r->nargs++], BD_POLICY_ARG, "%s", w[i]);
        }
        return NULL;
}

/* Split a line into words at blanks, up to a word starting with '#'.
 * Returns the count, or MAX_WORDS + 1 for too many. */
static unsigned split(char *s, char **w)
{
        unsigned n = 0;
        for (;;) {
                s += strspn(s, " \t\r");
                if (!*s || *s == '#')
                        return n;
                if (n == MAX_WORDS)
                        return MAX_WORDS + 1;
                w[n++] = s;
                s += strcspn(s, " \t\r");
                if (*s)
                        *s++ = '\0';
        }
}

static struct bd_error *parse_line(unsigned line, const char *text, size_t len,
                                   const struct bd_policy_state *states, size_t nstates,
                                   struct bd_policy *p)
{
        char buf[BD_POLICY_LINE_MAX + 1], *w[MAX_WORDS];
        if (len > BD_POLICY_LINE_MAX)
                return bad(line, "longer than %d bytes", BD_POLICY_LINE_MAX);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)text[i];
                if ((c < 0x20 && c != '\t' && c != '\r') || c >= 0x7f)
                        return bad(line, "byte 0x%02x at column %zu: a rule is printable ASCII", c,
                                   i + 1);
        }
        memcpy(buf, text, len);
        buf[len] = '\0';
        unsigned n = split(buf, w);
        if (!n)
                return NULL;
        if (n > MAX_WORDS)
                return bad(line, "more than %d words", MAX_WORDS);
        if (p->n == BD_POLICY_MAX_RULES)
                return bad(line, "more than %d rules", BD_POLICY_MAX_RULES);
        struct bd_policy_rule *r = &p->rules[p->n];
        struct bd_error *err = parse_rule(line, w, n, states, nstates, r);
        if (!err)
                err = check_shadow(p, r);
        if (!err)
                p->n++;
        return err;
}

struct bd_error *bd_policy_parse(const char *text, size_t len, const struct bd_policy_state *states,
                                 size_t nstates, struct bd_policy *out)
{
        memset(out, 0, sizeof(*out));
        if (len > BD_POLICY_FILE_MAX)
                return bd_error_new(BD_ERR_RANGE, "larger than %u bytes", BD_POLICY_FILE_MAX);
        out->rules = calloc(BD_POLICY_MAX_RULES, sizeof(*out->rules));
        if (!out->rules)
                return &bd_error_nomem;
        unsigned line = 0;
        struct bd_error *err = NULL;
        for (size_t at = 0; at < len && !err;) {
                const char *nl = memchr(text + at, '\n', len - at);
                size_t end = nl ? (size_t)(nl - text) : len;
                err = parse_line(++line, text + at, end - at, states, nstates, out);
                at = end + 1;
        }
        if (!err && !out->n)
                err = bd_error_new(BD_ERR_USAGE, "no rules");
        if (err)
                bd_policy_free(out);
        return err;
}

struct bd_error *bd_policy_read(const char *path, const struct bd_policy_state *states,
                                size_t nstates, struct bd_policy *out)
{
        memset(out, 0, sizeof(*out));
        void *text;
        size_t len;
        struct bd_error *err = bd_cache_read(path, BD_POLICY_FILE_MAX, &text, &len);
        if (!err) {
                err = bd_policy_parse(text, len, states, nstates, out);
                free(text);
        }
        return err ? bd_error_wrap(err, "%s", path) : NULL;
}

void bd_policy_free(struct bd_policy *p)
{
        free(p->rules);
        memset(p, 0, sizeof(*p));
}

const struct bd_policy_rule *bd_policy_match(const struct bd_policy *p, const char *state,
                                             const char *subject)
{
        for (size_t i = 0; i < p->n; i++) {
                const struct bd_policy_rule *r = &p->rules[i];
                if (!strcmp(r->state, state) &&
                    (!r->subject[0] || (subject && !strcmp(r->subject, subject))))
                        return r;
        }
        return NULL;
}

int bd_policy_allows(const struct bd_policy_rule *r, uint64_t last_ns, uint64_t now_ns)
{
        return !last_ns || now_ns >= last_ns + r->every_s * 1000000000ull;
}

struct bd_error *bd_policy_expand(const struct bd_policy_rule *r, const struct bd_policy_vars *v,
                                  char out[][BD_POLICY_ARG])
{
        for (unsigned i = 0; i < r->nargs; i++) {
                const char *s = r->args[i];
                size_t at = 0;
                while (*s) {
                        int w;
                        if (*s == '$') {
                                /* A parsed rule holds only known ${NAME}s; a
                                 * rule made by hand may not. */
                                const char *close = s[1] == '{' ? strchr(s, '}') : NULL;
                                int var = close ? var_of(s + 2, (size_t)(close - s - 2)) : -1;
                                if (var < 0)
                                        return bd_error_new(BD_ERR_USAGE,
                                                            "line %u: argument %u: a '$' that "
                                                            "opens no variable",
                                                            r->line, i + 1);
                                if (!(v->known & BD_POLICY_VAR(var)))
                                        return bd_error_new(BD_ERR_NOT_FOUND,
                                                            "line %u: ${%s} is not known for this "
                                                            "event",
                                                            r->line, var_names[var]);
                                w = snprintf(out[i] + at, BD_POLICY_ARG - at, "%" PRId64,
                                             v->value[var]);
                                s = close + 1;
                        } else {
                                size_t n = strcspn(s, "$");
                                w = snprintf(out[i] + at, BD_POLICY_ARG - at, "%.*s", (int)n, s);
                                s += n;
                        }
                        if (w < 0 || (size_t)w >= BD_POLICY_ARG - at)
                                return bd_error_new(BD_ERR_RANGE,
                                                    "line %u: argument %u is longer than %zu "
                                                    "bytes once expanded",
                                                    r->line, i + 1, BD_POLICY_ARG - 1);
                        at += (size_t)w;
                }
                out[i][at] = '\0';
        }
        return NULL;
}
