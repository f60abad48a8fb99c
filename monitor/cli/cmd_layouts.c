/* bdmon layouts check|export: the manifest (layouts/manifest.def) against a
 * target's BTF, and the stored layouts that serve kernels without BTF. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../cache/cache.h"
#include "../views/output.h"
#include "cli.h"

static const char *kind_name(enum bd_layout_kind k)
{
        return k == BD_LAYOUT_MEMBER ? "member" : k == BD_LAYOUT_SIZE ? "size" : "enum";
}

static struct bd_error *btf_layout(struct cli *cli, struct bd_phys *p, struct bd_program **prog,
                                   const struct bd_layout **l)
{
        if (cli->layout)
                return bd_error_new(BD_ERR_USAGE, "layouts: --layout makes no sense here: the "
                                                  "target's own BTF is what is checked");
        struct bd_error *err = cli_open_program(cli, p, prog);
        if (!err) {
                struct btf *btf;
                /* The BTF, not a stored layout: that is what is checked. */
                err = bd_program_btf(*prog, &btf);
                if (!err)
                        err = bd_program_layout(*prog, l);
                if (err) {
                        bd_program_close(*prog);
                        *prog = NULL;
                }
        }
        return err ? bd_error_wrap(err, "layouts") : NULL;
}

int cmd_layouts_check(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)args, (void)nargs;
        struct bd_program *prog;
        const struct bd_layout *l;
        struct bd_error *err = btf_layout(cli, p, &prog, &l);
        if (err)
                return cli_report(err);
        int missing = 0;
        if (cli->json) {
                printf("{\"target\":");
                bd_json_string(stdout, p->name);
                printf(",\"osrelease\":");
                bd_json_string(stdout, prog->release);
                printf(",\"build_id\":");
                bd_json_string(stdout, prog->build_id);
                printf(",\"entries\":[");
        }
        for (int id = 0; id < BDL_COUNT; id++) {
                const struct bd_layout_entry *e = &l->e[id];
                missing += !e->present;
                if (cli->json) {
                        printf("%s{\"id\":\"%s\",\"kind\":\"%s\",\"wanted\":", id ? "," : "",
                               bd_layout_name(id), kind_name(bd_layout_kind(id)));
                        bd_json_string(stdout, bd_layout_path(id));
                        printf(",\"present\":%s", e->present ? "true" : "false");
                        if (e->present) {
                                printf(",\"found\":");
                                bd_json_string(stdout, e->path);
                                printf(",\"value\":%" PRId64 ",\"size\":%" PRId64, e->value,
                                       e->size);
                        }
                        printf(",\"used_by\":");
                        bd_json_string(stdout, bd_layout_why(id));
                        printf("}");
                } else if (!e->present) {
                        printf("missing  %-6s %-42s used by %s\n", kind_name(bd_layout_kind(id)),
                               bd_layout_path(id), bd_layout_why(id));
                }
        }
        if (cli->json)
                printf("],\"present\":%d,\"missing\":%d}\n", BDL_COUNT - missing, missing);
        else
                printf("%s %s: %d of %d manifest entries in the kernel's BTF%s\n", p->name,
                       prog->release, BDL_COUNT - missing, BDL_COUNT,
                       missing ? "; the views that need the missing ones will say so" : "");
        bd_program_close(prog);
        int rc = cli_flush();
        return rc ? rc : missing ? BD_ERR_NOT_FOUND : 0;
}

/* Release strings come from the target: keep them one safe file name. */
static void safe_name(const char *s, char *out, size_t cap)
{
        size_t n = 0;
        for (; *s && n + 1 < cap; s++)
                out[n++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                                   (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '_'
                               ? *s
                               : '_';
        out[n] = '\0';
}

int cmd_layouts_export(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)args, (void)nargs;
        struct bd_program *prog;
        const struct bd_layout *l;
        struct bd_error *err = btf_layout(cli, p, &prog, &l);
        if (err)
                return cli_report(err);
        char path[1024], dir[700], rel[128];
        if (cli->output) {
                snprintf(path, sizeof(path), "%s", cli->output);
        } else if (bd_cache_path("layouts", dir, sizeof(dir), 1)) {
                bd_program_close(prog);
                return cli_report(bd_error_new(BD_ERR_IO, "layouts export: no cache directory "
                                                          "(set $BDMON_CACHE or use -o)"));
        } else {
                safe_name(prog->release, rel, sizeof(rel));
                snprintf(path, sizeof(path), "%s/%s-%s.layout", dir, rel, prog->build_id);
        }
        int to_stdout = !strcmp(path, "-");
        char tmp[1100];
        snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
        FILE *f = to_stdout ? stdout : fopen(tmp, "w");
        if (!f) {
                bd_program_close(prog);
                return cli_report(
                    bd_error_new(BD_ERR_IO, "layouts export: %s: %s", tmp, strerror(errno)));
        }
        bd_layout_write(l, f);
        int bad = to_stdout ? fflush(f) != 0 : fclose(f) != 0;
        /* Written whole, then renamed: a reader never sees half a layout. */
        if (!to_stdout && !bad && rename(tmp, path))
                bad = 1;
        if (bad) {
                if (!to_stdout)
                        unlink(tmp);
                bd_program_close(prog);
                return cli_report(bd_error_new(BD_ERR_IO, "layouts export: writing %s: %s", path,
                                               strerror(errno)));
        }
        int missing = 0;
        for (int id = 0; id < BDL_COUNT; id++)
                missing += !l->e[id].present;
        if (!to_stdout) {
                if (cli->json) {
                        printf("{\"path\":");
                        bd_json_string(stdout, path);
                        printf(",\"osrelease\":");
                        bd_json_string(stdout, prog->release);
                        printf(",\"build_id\":");
                        bd_json_string(stdout, prog->build_id);
                        printf(",\"entries\":%d,\"missing\":%d}\n", BDL_COUNT - missing, missing);
                } else {
                        printf("%s (%d entries, %d absent from this kernel)\n", path,
                               BDL_COUNT - missing, missing);
                }
        }
        bd_program_close(prog);
        return cli_flush();
}
