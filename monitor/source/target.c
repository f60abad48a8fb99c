#include "target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/wire.h"
#include "phys_file.h"
#include "phys_nic.h"

static struct bd_error *parse_hostport(const char *s, struct bd_target *t)
{
        const char *colon = strrchr(s, ':');
        size_t hlen = strlen(s);
        t->port = BD_DEFAULT_PORT;
        if (s[0] == '[') { /* [v6addr]:port */
                const char *close = strchr(s, ']');
                if (!close)
                        return bd_error_new(BD_ERR_TARGET, "bad address '%s'", s);
                if (close[1] && close[1] != ':')
                        return bd_error_new(BD_ERR_TARGET, "bad address '%s'", s);
                hlen = (size_t)(close - s - 1);
                s++;
                colon = close[1] == ':' ? close + 1 : NULL;
        } else if (colon && strchr(s, ':') != colon) {
                colon = NULL; /* a bare IPv6 address */
        } else if (colon) {
                hlen = (size_t)(colon - s);
        }
        if (colon) {
                char *end;
                long p = strtol(colon + 1, &end, 10);
                if (*end || p < 1 || p > 65535)
                        return bd_error_new(BD_ERR_TARGET, "bad port in '%s'", s);
                t->port = (int)p;
        }
        if (!hlen || hlen >= sizeof(t->host))
                return bd_error_new(BD_ERR_TARGET, "bad NIC address '%s'", s);
        memcpy(t->host, s, hlen);
        t->host[hlen] = '\0';
        t->kind = BD_TARGET_NIC;
        return NULL;
}

static struct bd_error *parse_source(const char *spec, struct bd_target *t)
{
        if (!strncmp(spec, "file:", 5)) {
                if (!spec[5] || strlen(spec + 5) >= sizeof(t->path))
                        return bd_error_new(BD_ERR_TARGET, "bad file source '%s'", spec);
                strcpy(t->path, spec + 5);
                t->kind = BD_TARGET_FILE;
                return NULL;
        }
        if (!strncmp(spec, "rdma:", 5))
                spec += 5;
        return parse_hostport(spec, t);
}

struct bd_error *bd_target_parse_spec(const char *spec, const char *key, struct bd_target *out)
{
        memset(out, 0, sizeof(*out));
        struct bd_error *err = parse_source(spec, out);
        if (err)
                return err;
        snprintf(out->name, sizeof(out->name), "%s",
                 out->kind == BD_TARGET_FILE ? out->path : out->host);
        if (out->kind == BD_TARGET_NIC) {
                if (!key)
                        return bd_error_new(BD_ERR_USAGE,
                                            "NIC source %s needs a key: pass --key FILE", spec);
                if (strlen(key) >= sizeof(out->key))
                        return bd_error_new(BD_ERR_USAGE, "key path too long");
                strcpy(out->key, key);
        }
        return NULL;
}

int bd_target_parse_line(const char *line, struct bd_target *out, struct bd_error **err)
{
        char buf[2048];
        *err = NULL;
        memset(out, 0, sizeof(*out));
        if (strlen(line) >= sizeof(buf)) {
                *err = bd_error_new(BD_ERR_TARGET, "line too long");
                return 0;
        }
        strcpy(buf, line);
        char *hash = strchr(buf, '#');
        if (hash)
                *hash = '\0';
        char *save, *tok[8];
        int n = 0;
        for (char *t = strtok_r(buf, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
                if (n == 8) {
                        *err = bd_error_new(BD_ERR_TARGET, "too many fields");
                        return 0;
                }
                tok[n++] = t;
        }
        if (!n)
                return 0;
        if (n < 2) {
                *err = bd_error_new(BD_ERR_TARGET, "target '%s' has no source", tok[0]);
                return 0;
        }
        if (strlen(tok[0]) >= sizeof(out->name)) {
                *err = bd_error_new(BD_ERR_TARGET, "target name too long");
                return 0;
        }
        strcpy(out->name, tok[0]);
        if ((*err = parse_source(tok[1], out)))
                return 0;
        for (int i = 2; i < n; i++) {
                if (!strncmp(tok[i], "key=", 4) && strlen(tok[i] + 4) < sizeof(out->key)) {
                        strcpy(out->key, tok[i] + 4);
                } else {
                        *err = bd_error_new(BD_ERR_TARGET, "unknown option '%s'", tok[i]);
                        return 0;
                }
        }
        if (out->kind == BD_TARGET_NIC && !out->key[0]) {
                *err = bd_error_new(BD_ERR_TARGET, "target '%s' has no key=FILE", out->name);
                return 0;
        }
        return 1;
}

/* Walk the config; stop at the first target for which visit returns 1. */
static struct bd_error *walk(const char *config, int (*visit)(struct bd_target *, void *),
                             void *ctx)
{
        FILE *f = fopen(config, "r");
        if (!f)
                return bd_error_new(BD_ERR_TARGET, "cannot read target config %s: %s", config,
                                    strerror(errno));
        /* Whole lines, whatever their length: a fixed buffer would parse the
         * tail of a long line as a line of its own. */
        char *line = NULL;
        size_t cap = 0;
        unsigned lineno = 0;
        struct bd_error *err = NULL;
        while (getline(&line, &cap, f) >= 0) {
                lineno++;
                struct bd_target t;
                if (bd_target_parse_line(line, &t, &err)) {
                        if (visit(&t, ctx))
                                break;
                } else if (err) {
                        err = bd_error_wrap(err, "%s:%u", config, lineno);
                        break;
                }
        }
        free(line);
        fclose(f);
        return err;
}

struct lookup_ctx {
        const char *name;
        struct bd_target *out;
        int found;
};

static int lookup_visit(struct bd_target *t, void *ctx)
{
        struct lookup_ctx *l = ctx;
        if (strcmp(t->name, l->name))
                return 0;
        *l->out = *t;
        l->found = 1;
        return 1;
}

struct bd_error *bd_target_lookup(const char *config, const char *name, struct bd_target *out)
{
        struct lookup_ctx l = {name, out, 0};
        struct bd_error *err = walk(config, lookup_visit, &l);
        if (err)
                return err;
        if (!l.found)
                return bd_error_new(BD_ERR_TARGET, "unknown target '%s' (not in %s)", name, config);
        return NULL;
}

struct bd_error *bd_target_resolve(const char *config, const char *name_or_spec, const char *key,
                                   struct bd_target *out)
{
        if (!strncmp(name_or_spec, "file:", 5) || !strncmp(name_or_spec, "rdma:", 5))
                return bd_target_parse_spec(name_or_spec, key, out);
        return bd_target_lookup(config, name_or_spec, out);
}

struct list_ctx {
        struct bd_target *out;
        unsigned cap, n;
};

static int list_visit(struct bd_target *t, void *ctx)
{
        struct list_ctx *l = ctx;
        if (l->n < l->cap)
                l->out[l->n++] = *t;
        return 0;
}

struct bd_error *bd_target_list(const char *config, struct bd_target *out, unsigned cap,
                                unsigned *n)
{
        struct list_ctx l = {out, cap, 0};
        struct bd_error *err = walk(config, list_visit, &l);
        *n = l.n;
        return err;
}

struct names_ctx {
        char (*names)[64];
        unsigned n, cap;
        struct bd_error *err;
};

static int names_visit(struct bd_target *t, void *ctx)
{
        struct names_ctx *c = ctx;
        if (c->n == BD_TARGETS_MAX) {
                c->err = bd_error_new(BD_ERR_TARGET, "more than %u targets", BD_TARGETS_MAX);
                return 1;
        }
        if (c->n == c->cap) {
                unsigned cap = c->cap ? 2 * c->cap : 64;
                char(*more)[64] = realloc(c->names, (size_t)cap * sizeof(*more));
                if (!more) {
                        c->err = &bd_error_nomem;
                        return 1;
                }
                c->names = more, c->cap = cap;
        }
        memcpy(c->names[c->n++], t->name, sizeof(t->name));
        return 0;
}

struct bd_error *bd_target_names(const char *config, char (**names)[64], unsigned *n)
{
        struct names_ctx c = {0};
        struct bd_error *err = walk(config, names_visit, &c);
        if (!err)
                err = c.err;
        else
                bd_error_destroy(c.err);
        if (err) {
                free(c.names);
                return err;
        }
        *names = c.names, *n = c.n;
        return NULL;
}

struct bd_error *bd_target_open(const struct bd_target *t, const struct bd_open_options *o,
                                struct bd_phys **out)
{
        struct bd_error *err;
        if (t->kind == BD_TARGET_FILE) {
                err = bd_phys_open_file(t->path, o->write_enabled, out);
        } else {
                struct bd_nic_options nic = {
                    .host = t->host,
                    .port = t->port,
                    .key_path = t->key,
                    .timeout_ms = o->timeout_ms,
                    .busy_poll = o->busy_poll,
                    .rc_only = o->rc_only,
                };
                err = bd_phys_open_nic(&nic, out);
        }
        if (err)
                return err;
        snprintf((*out)->name, sizeof((*out)->name), "%s", t->name);
        (*out)->write_enabled = o->write_enabled;
        return NULL;
}
