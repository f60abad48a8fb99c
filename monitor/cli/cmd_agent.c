/* bdmon agent: what a process's libbdagent beacon says (views/agent.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../views/agent.h"
#include "../views/output.h"
#include "cli.h"

static void print_json(int32_t pid, const struct bd_agent_view *a)
{
        const struct bd_agent_beacon *b = &a->b;
        printf("{\"pid\":%" PRId32 ",\"beacon\":\"0x%" PRIx64 "\",\"name\":", pid, a->beacon);
        bd_json_string(stdout, b->name);
        printf(",\"beacon_pid\":%" PRId32 ",\"signal\":%" PRId32 ",\"commits\":%" PRIu64
               ",\"committed\":",
               b->pid, b->signal, b->commits);
        if (b->committed == BD_AGENT_NONE)
                printf("null");
        else
                printf("%" PRIu64, b->committed);
        printf(",\"generation\":[%" PRIu64 ",%" PRIu64 "],\"in_request\":%" PRIu64
               ",\"on_resurrect\":\"0x%" PRIx64 "\",\"resurrected\":%" PRIu64
               ",\"rolled_back\":%" PRIu64 ",\"pin\":\"0x%" PRIx64 "\",\"pin_skips\":%" PRIu64
               ",\"regions\":[",
               b->generation[0], b->generation[1], b->in_request, b->on_resurrect, b->resurrected,
               b->rolled_back, b->pin, b->pin_skips);
        for (uint32_t i = 0; i < b->nregions; i++) {
                const struct bd_agent_region *r = &b->region[i];
                printf("%s{\"name\":", i ? "," : "");
                bd_json_string(stdout, r->name);
                printf(",\"live\":\"0x%" PRIx64 "\",\"len\":%" PRIu64 ",\"slots\":[\"0x%" PRIx64
                       "\",\"0x%" PRIx64 "\"]}",
                       r->live, r->len, r->slot[0], r->slot[1]);
        }
        printf("],\"threads\":[");
        const char *sep = "";
        for (uint32_t i = 0; i < b->nthreads; i++) {
                if (!b->thread[i].tid) /* not filled in yet */
                        continue;
                printf("%s{\"tid\":%" PRId32 ",\"inside\":%s,\"requests\":%" PRIu64 "}", sep,
                       b->thread[i].tid, b->thread[i].inside ? "true" : "false",
                       b->thread[i].requests);
                sep = ",";
        }
        printf("]}\n");
}

static void print_text(int32_t pid, const struct bd_agent_view *a)
{
        const struct bd_agent_beacon *b = &a->b;
        unsigned inside = 0;
        for (uint32_t i = 0; i < b->nthreads; i++)
                inside += b->thread[i].inside;
        printf("pid %" PRId32 ": libbdagent \"", pid);
        bd_put_text(stdout, b->name, strlen(b->name));
        printf("\" (beacon at 0x%" PRIx64 ", signal %" PRId32 ")\n", a->beacon, b->signal);
        if (b->committed == BD_AGENT_NONE)
                printf("  no region registered yet\n");
        else
                printf("  %" PRIu64 " commits; slot %" PRIu64 " committed (generation %" PRIu64
                       ")\n",
                       b->commits, b->committed, b->generation[b->committed]);
        printf("  %" PRIu64 " request%s in flight; %u of %" PRIu32 " listed threads inside one\n",
               b->in_request, b->in_request == 1 ? "" : "s", inside, b->nthreads);
        if (b->pin)
                printf("  slot %d pinned by a reader\n", BD_AGENT_PIN_SLOT(b->pin));
        if (b->pin_skips)
                printf("  %" PRIu64 " commits skipped for readers' pins\n", b->pin_skips);
        if (b->resurrected)
                printf("  resurrected (%" PRIu64 " requests rolled back)\n", b->rolled_back);
        if (b->nregions)
                printf("  %-31s %18s %10s %18s %18s\n", "REGION", "LIVE", "LENGTH", "SLOT 0",
                       "SLOT 1");
        for (uint32_t i = 0; i < b->nregions; i++) {
                const struct bd_agent_region *r = &b->region[i];
                printf("  %-31s 0x%016" PRIx64 " %10" PRIu64 " 0x%016" PRIx64 " 0x%016" PRIx64 "\n",
                       r->name, r->live, r->len, r->slot[0], r->slot[1]);
        }
}

int cmd_agent(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)nargs;
        int32_t pid;
        struct bd_program *prog;
        int rc = cli_open_process(cli, p, args[0], &pid, &prog);
        if (rc)
                return rc;
        static struct bd_agent_view a;
        struct bd_error *err = bd_agent_read(prog, pid, &a);
        bd_program_close(prog);
        if (err)
                return cli_report(err);
        (cli->json ? print_json : print_text)(pid, &a);
        return cli_flush();
}
