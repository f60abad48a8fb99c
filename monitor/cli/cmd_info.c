/* bdmon info: who the target's kernel is (VMCOREINFO) and how the machine
 * stands (uptime, CPUs, memory, load, boot id, taint). */
#include <inttypes.h>
#include <stdio.h>

#include "../views/output.h"
#include "../views/sysinfo.h"
#include "cli.h"

static void boot_id_text(const uint8_t *b, char *out)
{
        static const int dash[16] = {[4] = 1, [6] = 1, [8] = 1, [10] = 1};
        char *o = out;
        for (int i = 0; i < 16; i++)
                o += sprintf(o, "%s%02x", dash[i] ? "-" : "", b[i]);
}

static int zero16(const uint8_t *b)
{
        for (int i = 0; i < 16; i++)
                if (b[i])
                        return 0;
        return 1;
}

int cmd_info(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)args, (void)nargs;
        struct bd_program *prog;
        struct bd_error *err = cli_open_program(cli, p, &prog);
        if (err)
                return cli_report(err);
        const struct bd_vmcoreinfo *vi = &prog->vi;
        uint64_t kaslr = 0, l5 = 0, pagesize = 0;
        int64_t pb = 0;
        int have_kaslr = !bd_vmcoreinfo_number(vi, "KERNELOFFSET", 1, &kaslr);
        int have_l5 = !bd_vmcoreinfo_number(vi, "NUMBER(pgtable_l5_enabled)", 0, &l5);
        int have_pb = !bd_vmcoreinfo_signed(vi, "NUMBER(phys_base)", &pb);
        bd_vmcoreinfo_number(vi, "PAGESIZE", 0, &pagesize);
        const char *paging = !have_l5 ? "4-level (no pgtable_l5_enabled)"
                             : l5     ? "5-level (la57)"
                                      : "4-level";
        /* phys_base is signed (negative under KASLR); the kernel's _text sits
         * at LOAD_PHYSICAL_ADDR (CONFIG_PHYSICAL_START, 16 MiB by default)
         * plus the KASLR offset, moved by phys_base. */
        uint64_t text_phys = 0x1000000 + kaslr + (uint64_t)pb;
        const struct bd_program_stats *st = &prog->stats;
        uint64_t vmci_rt = p->round_trips;
        double ms = (double)st->vmcoreinfo_ns / 1e6;

        /* The machine-wide part needs the symbol table; a kernel too broken
         * for that still gets the part above. */
        struct bd_sysinfo si;
        struct bd_error *serr = bd_sysinfo_read(prog, &si);
        char bootid[40] = "", taint[32] = "", load[3][16];
        if (!serr) {
                boot_id_text(si.boot_id, bootid);
                bd_sysinfo_taint_letters(si.taint, taint, sizeof(taint));
                for (int i = 0; i < 3; i++)
                        bd_sysinfo_load_text(si.load[i], load[i], sizeof(load[i]));
        }
        if (cli->json) {
                printf("{\"target\":");
                bd_json_string(stdout, p->name);
                printf(",\"source\":");
                bd_json_string(stdout, p->describe);
                printf(",\"osrelease\":");
                bd_json_string(stdout, prog->release);
                printf(",\"build_id\":");
                bd_json_string(stdout, prog->build_id);
                if (have_kaslr)
                        printf(",\"kerneloffset\":\"0x%" PRIx64 "\"", kaslr);
                if (have_pb)
                        printf(",\"phys_base\":%" PRId64 ",\"kernel_text_phys\":\"0x%" PRIx64 "\"",
                               pb, text_phys);
                printf(",\"paging_levels\":%d,\"page_size\":%" PRIu64, have_l5 && l5 ? 5 : 4,
                       pagesize);
                printf(",\"vmcoreinfo_phys\":\"0x%" PRIx64 "\",\"found_by\":\"%s\"", vi->phys,
                       st->vmcoreinfo_from_hint ? "cached-hint" : "scan");
                printf(",\"bytes_read\":%" PRIu64 ",\"bytes_searched\":%" PRIu64
                       ",\"round_trips\":%" PRIu64 ",\"elapsed_ms\":%.3f",
                       st->vmcoreinfo_bytes, st->vmcoreinfo_searched, vmci_rt, ms);
                printf(",\"vmcoreinfo_copies\":%u,\"vmcoreinfo_false\":%u,\"running\":%s",
                       st->vmcoreinfo_copies, st->vmcoreinfo_forged,
                       st->live < 0 ? "null"
                       : st->live   ? "true"
                                    : "false");
                printf(",\"suspicious\":");
                if (st->suspicious[0])
                        bd_json_string(stdout, st->suspicious);
                else
                        printf("null");
                printf(",\"kallsyms_from_cache\":%s,\"btf_from_cache\":%s,\"cache_refused\":%u",
                       st->kallsyms_from_cache ? "true" : "false",
                       st->btf_from_cache ? "true" : "false", st->cache_refused);
                if (!serr) {
                        if (si.have_uptime)
                                printf(",\"uptime_s\":%.2f", (double)si.uptime_ns / 1e9);
                        if (si.have_cpus)
                                printf(",\"cpus_online\":%u,\"cpus_possible\":%u", si.cpus_online,
                                       si.cpus_possible);
                        if (si.have_mem)
                                printf(",\"mem_total\":%" PRIu64 ",\"mem_free\":%" PRIu64,
                                       si.mem_total, si.mem_free);
                        if (si.have_load)
                                printf(",\"load\":[%s,%s,%s]", load[0], load[1], load[2]);
                        if (si.have_boot_id && !zero16(si.boot_id))
                                printf(",\"boot_id\":\"%s\"", bootid);
                        if (si.have_taint)
                                printf(",\"taint\":%" PRIu64 ",\"taint_flags\":\"%s\"", si.taint,
                                       taint);
                        if (si.have_jiffies)
                                printf(",\"jiffies\":%" PRIu64, si.jiffies);
                } else {
                        printf(",\"machine_error\":");
                        bd_json_string(stdout, serr->message);
                }
                printf("}\n");
        } else {
                printf("target        %s (%s)\n", p->name, p->describe);
                printf("osrelease     %s\n", prog->release);
                printf("build-id      %s\n", prog->build_id);
                if (have_kaslr)
                        printf("kerneloffset  0x%" PRIx64 " (KASLR %s)\n", kaslr,
                               kaslr ? "on" : "off");
                if (have_pb)
                        printf("phys_base     %s0x%" PRIx64 " (kernel text at phys 0x%" PRIx64
                               ")\n",
                               pb < 0 ? "-" : "", pb < 0 ? (uint64_t)-pb : (uint64_t)pb, text_phys);
                printf("paging        %s\n", paging);
                printf("vmcoreinfo    phys 0x%" PRIx64 ", found by %s: %.1f MiB searched, "
                       "%.2f MiB read, %" PRIu64 " round trips, %.1f ms\n",
                       vi->phys, st->vmcoreinfo_from_hint ? "cached hint" : "scan",
                       (double)st->vmcoreinfo_searched / (1 << 20),
                       (double)st->vmcoreinfo_bytes / (1 << 20), vmci_rt, ms);
                printf("              %u cop%s looked at, %u false to the memory it describes\n",
                       st->vmcoreinfo_copies, st->vmcoreinfo_copies == 1 ? "y" : "ies",
                       st->vmcoreinfo_forged);
                printf("running       %s\n", st->live < 0 ? "not checked"
                                             : st->live   ? "yes (its jiffies move)"
                                                          : "no (its jiffies stood still for 5 s)");
                if (st->suspicious[0])
                        printf("SUSPICIOUS    %s\n", st->suspicious);
                printf("cache         symbols %s, BTF %s; %u cached table%s refused (not the "
                       "target's memory)\n",
                       st->kallsyms_from_cache ? "cached" : "read",
                       st->btf_from_cache ? "cached" : "read", st->cache_refused,
                       st->cache_refused == 1 ? "" : "s");
                if (serr) {
                        printf("machine       unavailable: %s\n", serr->message);
                } else {
                        if (si.have_uptime) {
                                uint64_t s = si.uptime_ns / 1000000000u;
                                printf("uptime        %.2f s (%" PRIu64 "d %02" PRIu64 ":%02" PRIu64
                                       ":%02" PRIu64 ")\n",
                                       (double)si.uptime_ns / 1e9, s / 86400, s / 3600 % 24,
                                       s / 60 % 60, s % 60);
                        }
                        if (si.have_cpus)
                                printf("cpus          %u online, %u possible\n", si.cpus_online,
                                       si.cpus_possible);
                        if (si.have_mem)
                                printf("memory        %" PRIu64 " MiB total, %" PRIu64
                                       " MiB free\n",
                                       si.mem_total >> 20, si.mem_free >> 20);
                        if (si.have_load)
                                printf("load          %s %s %s\n", load[0], load[1], load[2]);
                        if (si.have_boot_id)
                                printf("boot-id       %s\n",
                                       zero16(si.boot_id) ? "(not generated: never read on the "
                                                            "target)"
                                                          : bootid);
                        if (si.have_taint)
                                printf("taint         %s (0x%" PRIx64 ")\n", taint, si.taint);
                }
        }
        bd_error_destroy(serr);
        bd_program_close(prog);
        return cli_flush();
}
