/* bdmon maps: a process's memory map, like /proc/PID/maps. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../views/output.h"
#include "../views/vmas.h"
#include "cli.h"

int cmd_maps(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)nargs;
        int32_t pid;
        struct bd_program *prog;
        int rc = cli_open_process(cli, p, args[0], &pid, &prog);
        if (rc)
                return rc;
        struct bd_vmas *vs = NULL;
        struct bd_error *err = bd_vmas_read(prog, pid, &vs);
        if (err) {
                bd_program_close(prog);
                return cli_report(err);
        }
        if (cli->json) {
                printf("{\"pid\":%" PRId32 ",\"vmas\":[", pid);
        }
        for (size_t i = 0; i < vs->n; i++) {
                const struct bd_vma *v = &vs->v[i];
                char perms[5] = {
                    v->flags & BD_VM_READ ? 'r' : '-', v->flags & BD_VM_WRITE ? 'w' : '-',
                    v->flags & BD_VM_EXEC ? 'x' : '-', v->flags & BD_VM_SHARED ? 's' : 'p', '\0'};
                if (cli->json) {
                        printf("%s{\"start\":\"0x%" PRIx64 "\",\"end\":\"0x%" PRIx64
                               "\",\"perms\":\"%s\",\"offset\":%" PRIu64 ",\"vma\":\"0x%" PRIx64
                               "\",\"path\":",
                               i ? "," : "", v->start, v->end, perms, v->pgoff * 4096, v->addr);
                        bd_json_string(stdout, v->name);
                        printf("}");
                } else {
                        printf("%08" PRIx64 "-%08" PRIx64 " %s %08" PRIx64 " ", v->start, v->end,
                               perms, v->pgoff * 4096);
                        bd_put_text(stdout, v->name, strlen(v->name));
                        putchar('\n');
                }
        }
        if (cli->json)
                printf("],\"round_trips\":%" PRIu64 ",\"elapsed_ms\":%.3f}\n", vs->round_trips,
                       (double)vs->elapsed_ns / 1e6);
        bd_vmas_free(vs);
        bd_program_close(prog);
        return cli_flush();
}
