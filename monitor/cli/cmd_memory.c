/* The commands on raw physical memory and on the configuration: read,
 * windows, cas, targets. They need no kernel in the memory. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../views/output.h"
#include "../views/user_mem.h"
#include "cli.h"

int cmd_read(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)nargs;
        const char *a_addr = args[0], *a_len = args[1];
        uint64_t addr, len;
        if (cli_parse_number(a_addr, &addr, 0))
                return cli_usage_error("bad address '%s'", a_addr);
        if (cli_parse_number(a_len, &len, 1) || !len)
                return cli_usage_error("bad length '%s'", a_len);
        if (cli->kernel_addr && cli->pid >= 0)
                return cli_usage_error("%s", "--kernel and --pid exclude each other");
        /* Virtual addresses need the kernel found first. */
        struct bd_program *prog = NULL;
        struct bd_user_mm mm;
        struct bd_error *err = NULL;
        if (cli->kernel_addr || cli->pid >= 0) {
                err = cli_open_program(cli, p, &prog);
                if (!err && cli->pid >= 0)
                        err = bd_user_mm_of_pid(prog, (int32_t)cli->pid, &mm);
                if (err) {
                        bd_program_close(prog);
                        return cli_report(bd_error_wrap(err, "read"));
                }
        }
        /* Stream in bounded chunks so any length works in constant memory. */
        size_t chunk = 1u << 20;
        uint8_t *buf = malloc(chunk);
        if (!buf) {
                bd_program_close(prog);
                return cli_report(&bd_error_nomem);
        }
        if (cli->json)
                printf("{\"target\":\"%s\",\"addr\":\"0x%" PRIx64 "\",\"hex\":\"", p->name, addr);
        for (uint64_t done = 0; done < len;) {
                size_t n = len - done < chunk ? (size_t)(len - done) : chunk;
                err = cli->pid >= 0      ? bd_user_read(prog, &mm, addr + done, buf, n)
                      : cli->kernel_addr ? bd_kernel_read(prog->k, addr + done, buf, n)
                                         : bd_phys_read(p, addr + done, buf, n);
                if (err) {
                        if (cli->json)
                                printf("\"}\n");
                        fflush(stdout);
                        free(buf);
                        bd_program_close(prog);
                        return cli_report(err);
                }
                if (cli->json)
                        for (size_t i = 0; i < n; i++)
                                printf("%02x", buf[i]);
                else if (cli->raw)
                        fwrite(buf, 1, n, stdout);
                else
                        bd_hexdump(stdout, addr + done, buf, n);
                done += n;
        }
        if (cli->json)
                printf("\"}\n");
        free(buf);
        bd_program_close(prog);
        return cli_flush();
}

int cmd_windows(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)args, (void)nargs;
        if (cli->json)
                printf("{\"target\":\"%s\",\"windows\":[", p->name);
        else
                printf("%-16s %-18s %-18s %-9s %-10s %s\n", "NAME", "BASE", "LENGTH", "MODE",
                       "ACCESS", "CAS");
        /* In text, each way of doing a CAS is explained once, under the table. */
        const char *hows[BD_MAX_WINDOWS], *whys[BD_MAX_WINDOWS];
        unsigned nways = 0;
        for (unsigned i = 0; i < p->nwindows; i++) {
                const struct bd_window_desc *w = &p->windows[i];
                const char *why, *how = bd_phys_cas_how(p, i, &why);
                if (cli->json) {
                        printf("%s{\"name\":", i ? "," : "");
                        bd_json_string(stdout, w->name);
                        printf(",\"base\":\"0x%" PRIx64 "\",\"length\":%" PRIu64
                               ",\"mode\":\"%s\",\"access\":\"%s\",\"cas\":\"%s\",\"cas_why\":",
                               w->base, w->length, bd_mode_name(w->mode), bd_access_name(w->access),
                               how);
                        bd_json_string(stdout, why);
                        printf("}");
                        continue;
                }
                printf("%-16s 0x%016" PRIx64 " 0x%016" PRIx64 " %-9s %-10s %s\n", w->name, w->base,
                       w->length, bd_mode_name(w->mode), bd_access_name(w->access), how);
                unsigned k = 0;
                while (k < nways && (strcmp(hows[k], how) || strcmp(whys[k], why)))
                        k++;
                if (k == nways && nways < BD_MAX_WINDOWS) {
                        hows[nways] = how;
                        whys[nways++] = why;
                }
        }
        if (cli->json)
                printf("]}\n");
        for (unsigned k = 0; k < nways; k++)
                printf("%s%s: %s\n", k ? "" : "\n", hows[k], whys[k]);
        return 0;
}

int cmd_cas(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)nargs;
        uint64_t addr, expect, desired, old = 0;
        if (cli_parse_number(args[0], &addr, 0))
                return cli_usage_error("bad address '%s'", args[0]);
        if (cli_parse_number(args[1], &expect, 0))
                return cli_usage_error("bad expected value '%s'", args[1]);
        if (cli_parse_number(args[2], &desired, 0))
                return cli_usage_error("bad new value '%s'", args[2]);
        struct bd_error *err = bd_phys_cas(p, addr, expect, desired, &old);
        int code = err ? err->code : 0;
        if (!err || code == BD_ERR_CAS_FAILED) {
                if (cli->json)
                        printf("{\"target\":\"%s\",\"addr\":\"0x%" PRIx64 "\",\"old\":\"0x%" PRIx64
                               "\",\"swapped\":%s}\n",
                               p->name, addr, old, err ? "false" : "true");
                else if (!err)
                        printf("0x%" PRIx64 ": 0x%" PRIx64 " -> 0x%" PRIx64 "\n", addr, old,
                               desired);
        }
        return err ? cli_report(err) : 0;
}

int cmd_targets(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)p, (void)args, (void)nargs;
        /* A list that fills the array may have been cut: read it again into
         * one twice the size. */
        struct bd_target *t = NULL;
        unsigned n = 0, cap = 32;
        struct bd_error *err = NULL;
        do {
                cap *= 2;
                struct bd_target *more = realloc(t, (size_t)cap * sizeof(*t));
                if (!more) {
                        err = &bd_error_nomem;
                        break;
                }
                t = more;
                err = bd_target_list(cli->config, t, cap, &n);
        } while (!err && n == cap && cap < BD_TARGETS_MAX);
        if (err) {
                free(t);
                return cli_report(err);
        }
        if (cli->json)
                printf("[");
        for (unsigned i = 0; i < n; i++) {
                char where[1200];
                if (t[i].kind == BD_TARGET_FILE)
                        snprintf(where, sizeof(where), "file:%s", t[i].path);
                else
                        snprintf(where, sizeof(where), "rdma:%s:%d", t[i].host, t[i].port);
                if (cli->json) {
                        printf("%s{\"name\":", i ? "," : "");
                        bd_json_string(stdout, t[i].name);
                        printf(",\"source\":");
                        bd_json_string(stdout, where);
                        printf("}");
                } else {
                        printf("%-16s %s\n", t[i].name, where);
                }
        }
        if (cli->json)
                printf("]\n");
        free(t);
        return cli_flush();
}
