/* bdmon: the Backdoors monitor command line. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/audit.h"
#include "btf.h"
#include "hint_cache.h"
#include "kallsyms.h"
#include "kernel.h"
#include "output.h"
#include "printk.h"
#include "target.h"
#include "vmcoreinfo.h"

static const char usage[] =
    "Usage: bdmon [OPTIONS] COMMAND [TARGET] [ARGS]\n"
    "\n"
    "Reads (and, when allowed, repairs) a target machine's physical memory through\n"
    "its Backdoors NIC over RDMA, or from a local RAM file or vmcore, without the\n"
    "target's CPUs and without trusting its OS.\n"
    "\n"
    "Commands:\n"
    "  info TARGET               find the target's kernel in its memory (VMCOREINFO)\n"
    "                            and print release, build id, KASLR offset, paging.\n"
    "  read TARGET ADDR LEN      read LEN bytes of physical memory at ADDR; hexdump,\n"
    "                            or the bytes themselves with --raw.\n"
    "  dmesg TARGET              the kernel log, read from the printk ring buffer in\n"
    "                            memory (Linux 5.10+; works on a dead kernel): one\n"
    "                            line per record, \"[seconds] text\" like dmesg, in\n"
    "                            sequence order. --json: one object per record with\n"
    "                            seq, ts_nsec, caller and text.\n"
    "  sym TARGET NAME|ADDR      the kernel's symbol table (kallsyms), read from\n"
    "                            memory: NAME's address and type, or the symbol\n"
    "                            and offset an ADDR (0x...) falls in. --json adds\n"
    "                            the round trips and time taken.\n"
    "  type TARGET STRUCT        a structure's layout from the kernel's own BTF (found\n"
    "                            through kallsyms): offset, size, member and type per\n"
    "                            line, pahole-like; bitfields as BYTE:BIT and :BITS.\n"
    "                            STRUCT.MEMBER[.MEMBER] gives one member's offset.\n"
    "  windows TARGET            the memory windows the source exports.\n"
    "  cas TARGET ADDR OLD NEW   8-byte compare-and-swap at ADDR: writes NEW only if\n"
    "                            ADDR holds OLD. Needs --write; audited.\n"
    "  targets                   the targets named in the config file.\n"
    "\n"
    "TARGET is a name from the config file, or a source spelled out:\n"
    "  file:PATH                 a RAM file or ELF vmcore on this machine\n"
    "  rdma:HOST[:PORT]          a Backdoors NIC (port 7471 by default; needs --key)\n"
    "Numbers may be decimal or 0x-prefixed hex; LEN also takes K, M, G suffixes.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   target config (default $BDMON_CONFIG or\n"
    "                      /etc/backdoors/targets). Lines: NAME HOST[:PORT] key=FILE\n"
    "                      or NAME file:PATH.\n"
    "  -s, --source SPEC   use SPEC as the target (then TARGET is omitted).\n"
    "  -k, --key FILE      key for rdma: sources given on the command line.\n"
    "  -j, --json          machine-readable output.\n"
    "      --raw           read: write the bytes to standard output.\n"
    "  -w, --write         allow this monitor to write (cas). Off by default.\n"
    "      --audit FILE    monitor-side audit log for writes (default\n"
    "                      $BDMON_AUDIT or standard error).\n"
    "  -t, --timeout MS    connect and operation timeout (default 5000).\n"
    "      --rescan        ignore the cached VMCOREINFO location.\n"
    "      --sleep-poll    sleep on completions instead of spinning.\n"
    "  -q, --quiet         no progress on standard error.\n"
    "  -h, --help          this text.\n"
    "\n"
    "Exit status:\n"
    "  0 success            1 internal error       2 usage\n"
    "  3 unknown target, bad config or key file    4 NIC unreachable or not running\n"
    "  5 authentication refused                    6 address outside every window\n"
    "  7 write refused (read-only NIC or monitor)  8 protocol error\n"
    "  9 no kernel found in memory (dmesg: or no printk ring buffer in it;\n"
    "    sym, type: or no such symbol, struct or member)\n"
    "  10 I/O failure mid-way\n"
    "  11 compare-and-swap found another value\n";

struct cli {
        const char *config;
        const char *source;
        const char *key;
        const char *audit;
        int json, raw, write, rescan, quiet;
        struct bd_open_options open;
};

static int report(struct bd_error *err)
{
        int code = err->code;
        fprintf(stderr, "bdmon: %s\n", err->message);
        bd_error_destroy(err);
        return code;
}

static int usage_error(const char *fmt, const char *arg)
{
        fprintf(stderr, "bdmon: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\nTry 'bdmon --help'.\n");
        return BD_ERR_USAGE;
}

static int parse_number(const char *s, uint64_t *out, int allow_suffix)
{
        char *end;
        errno = 0;
        if (*s == '-')
                return -1;
        unsigned long long v = strtoull(s, &end, 0);
        if (errno || end == s)
                return -1;
        if (allow_suffix && *end) {
                int shift = *end == 'K' || *end == 'k' ? 10
                            : *end == 'M'              ? 20
                            : *end == 'G'              ? 30
                                                       : -1;
                if (shift < 0 || end[1] || v > (~0ull >> shift))
                        return -1;
                v <<= shift;
                end++;
        }
        if (*end)
                return -1;
        *out = v;
        return 0;
}

/* Resolve TARGET (or --source) and open its physical-memory source. */
static struct bd_error *open_target(struct cli *cli, const char *name, struct bd_phys **out)
{
        struct bd_target t;
        struct bd_error *err =
            bd_target_resolve(cli->config, cli->source ? cli->source : name, cli->key, &t);
        if (err)
                return err;
        return bd_target_open(&t, &cli->open, out);
}

static int quiet_progress;

static void scan_progress(uint64_t done, uint64_t total)
{
        if (quiet_progress || !isatty(STDERR_FILENO))
                return;
        fprintf(stderr, "\rscanning for VMCOREINFO: %" PRIu64 " / %" PRIu64 " MiB", done >> 20,
                total >> 20);
        if (done >= total)
                fputc('\n', stderr);
}

/* Every kernel view starts here: VMCOREINFO from the remembered location if
 * it still holds, else by scanning, and remembered for next time. */
static struct bd_error *find_kernel(struct cli *cli, struct bd_phys *p, struct bd_vmcoreinfo *vi,
                                    struct bd_vmcoreinfo_scan *scan)
{
        quiet_progress = cli->quiet;
        uint64_t hint = cli->rescan ? 0 : bd_hint_load(p->name);
        struct bd_error *err = bd_vmcoreinfo_find(p, hint, vi, scan, scan_progress);
        if (!err && !scan->from_hint)
                bd_hint_store(p->name, vi->phys);
        return err;
}

static int cmd_info(struct cli *cli, struct bd_phys *p)
{
        struct bd_vmcoreinfo *vi = malloc(sizeof(*vi));
        if (!vi)
                return report(&bd_error_nomem);
        struct bd_vmcoreinfo_scan scan;
        struct bd_error *err = find_kernel(cli, p, vi, &scan);
        if (err) {
                free(vi);
                return report(err);
        }

        char release[128] = "?", build_id[128] = "?";
        bd_vmcoreinfo_get(vi, "OSRELEASE", release, sizeof(release));
        bd_vmcoreinfo_get(vi, "BUILD-ID", build_id, sizeof(build_id));
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
        double ms = (double)scan.elapsed_ns / 1e6;
        if (cli->json) {
                printf("{\"target\":");
                bd_json_string(stdout, p->name);
                printf(",\"source\":");
                bd_json_string(stdout, p->describe);
                printf(",\"osrelease\":");
                bd_json_string(stdout, release);
                printf(",\"build_id\":");
                bd_json_string(stdout, build_id);
                if (have_kaslr)
                        printf(",\"kerneloffset\":\"0x%" PRIx64 "\"", kaslr);
                if (have_pb)
                        printf(",\"phys_base\":%" PRId64 ",\"kernel_text_phys\":\"0x%" PRIx64 "\"",
                               pb, text_phys);
                printf(",\"paging_levels\":%d,\"page_size\":%" PRIu64, have_l5 && l5 ? 5 : 4,
                       pagesize);
                printf(",\"vmcoreinfo_phys\":\"0x%" PRIx64 "\",\"found_by\":\"%s\"", vi->phys,
                       scan.from_hint ? "cached-hint" : "scan");
                printf(",\"bytes_read\":%" PRIu64 ",\"round_trips\":%" PRIu64
                       ",\"elapsed_ms\":%.3f}\n",
                       scan.bytes_scanned, p->round_trips, ms);
        } else {
                printf("target        %s (%s)\n", p->name, p->describe);
                printf("osrelease     %s\n", release);
                printf("build-id      %s\n", build_id);
                if (have_kaslr)
                        printf("kerneloffset  0x%" PRIx64 " (KASLR %s)\n", kaslr,
                               kaslr ? "on" : "off");
                if (have_pb)
                        printf("phys_base     %s0x%" PRIx64 " (kernel text at phys 0x%" PRIx64
                               ")\n",
                               pb < 0 ? "-" : "", pb < 0 ? (uint64_t)-pb : (uint64_t)pb, text_phys);
                printf("paging        %s\n", paging);
                printf("vmcoreinfo    phys 0x%" PRIx64 ", found by %s: %.1f MiB read, "
                       "%" PRIu64 " round trips, %.1f ms\n",
                       vi->phys, scan.from_hint ? "cached hint" : "scan",
                       (double)scan.bytes_scanned / (1 << 20), p->round_trips, ms);
        }
        free(vi);
        return 0;
}

/* One line of record text for a terminal: control bytes (which a hostile
 * ring could use to drive the terminal) become \xNN, tabs stay. */
static void put_text_line(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                        printf("\\x%02x", c);
                else
                        putchar(c);
        }
}

static void print_record(struct cli *cli, const struct bd_printk_record *r)
{
        uint32_t caller = r->caller_id & 0x7fffffffu;
        char who = r->caller_id & 0x80000000u ? 'C' : 'T';
        if (cli->json) {
                char *text = malloc((size_t)r->text_len + 1);
                if (!text)
                        return;
                memcpy(text, r->text, r->text_len);
                text[r->text_len] = '\0';
                printf("{\"seq\":%" PRIu64 ",\"ts_nsec\":%" PRIu64 ",\"caller\":\"%c%" PRIu32
                       "\",\"text\":",
                       r->seq, r->ts_nsec, who, caller);
                /* A NUL inside the text would end the JSON string early:
                 * the length, not the terminator, is the record's text. */
                for (size_t i = 0; i < r->text_len; i++)
                        if (!text[i])
                                text[i] = ' ';
                bd_json_string(stdout, text);
                printf("}\n");
                free(text);
                return;
        }
        /* Like the kernel's own syslog format: every line of a multi-line
         * record carries the record's timestamp. */
        const char *s = r->text, *end = r->text + r->text_len;
        do {
                const char *nl = memchr(s, '\n', (size_t)(end - s));
                size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
                printf("[%5" PRIu64 ".%06" PRIu64 "] ", r->ts_nsec / 1000000000u,
                       r->ts_nsec % 1000000000u / 1000u);
                put_text_line(s, n);
                putchar('\n');
                s = nl ? nl + 1 : end;
        } while (s < end);
}

static int cmd_dmesg(struct cli *cli, struct bd_phys *p)
{
        struct bd_vmcoreinfo *vi = malloc(sizeof(*vi));
        if (!vi)
                return report(&bd_error_nomem);
        struct bd_vmcoreinfo_scan scan;
        struct bd_kernel *k = NULL;
        struct bd_printk_log *log = NULL;
        struct bd_printk_layout lay;
        struct bd_error *err = find_kernel(cli, p, vi, &scan);
        if (!err)
                err = bd_printk_layout_get(vi, &lay);
        if (!err)
                err = bd_kernel_open(p, vi, &k);
        if (!err)
                err = bd_printk_read(k, &lay, &log);
        if (err) {
                bd_kernel_close(k);
                free(vi);
                return report(bd_error_wrap(err, "dmesg"));
        }
        for (size_t i = 0; i < log->n; i++)
                print_record(cli, &log->records[i]);
        if (!cli->quiet && (log->skipped_state || log->skipped_corrupt))
                fprintf(stderr,
                        "bdmon: %zu records; skipped %" PRIu64 " not committed or overwritten, "
                        "%" PRIu64 " inconsistent\n",
                        log->n, log->skipped_state, log->skipped_corrupt);
        bd_printk_log_free(log);
        bd_kernel_close(k);
        free(vi);
        return fflush(stdout) ? BD_ERR_IO : 0;
}

static int cmd_sym(struct cli *cli, struct bd_phys *p, const char *what)
{
        struct bd_vmcoreinfo *vi = malloc(sizeof(*vi));
        if (!vi)
                return report(&bd_error_nomem);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        uint64_t rt0 = p->round_trips;
        struct bd_vmcoreinfo_scan scan;
        struct bd_kernel *k = NULL;
        struct bd_kallsyms *ks = NULL;
        struct bd_error *err = find_kernel(cli, p, vi, &scan);
        if (!err)
                err = bd_kernel_open(p, vi, &k);
        if (!err)
                err = bd_kallsyms_load(k, vi, &ks);
        const char *name = what;
        uint64_t addr = 0, off = 0, size = 0;
        char type = '?';
        /* A name never starts with a digit in C, so a number is an address. */
        int by_addr = what[0] >= '0' && what[0] <= '9';
        if (!err && by_addr && parse_number(what, &addr, 0))
                err = bd_error_new(BD_ERR_USAGE, "bad address '%s'", what);
        if (!err)
                err = by_addr ? bd_kallsyms_symbolize(ks, addr, &name, &off, &size, &type)
                              : bd_kallsyms_lookup(ks, what, &addr, &type);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (err) {
                bd_kallsyms_free(ks);
                bd_kernel_close(k);
                free(vi);
                return report(bd_error_wrap(err, "sym"));
        }
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        struct bd_kallsyms_stats st;
        bd_kallsyms_stats(ks, &st);
        if (cli->json) {
                printf("{\"name\":");
                bd_json_string(stdout, name);
                printf(",\"addr\":\"0x%016" PRIx64 "\",\"type\":\"%c\"",
                       by_addr ? addr - off : addr, type);
                if (by_addr)
                        printf(",\"query\":\"0x%" PRIx64 "\",\"offset\":%" PRIu64
                               ",\"size\":%" PRIu64,
                               addr, off, size);
                printf(",\"symbols\":%zu,\"table_bytes\":%" PRIu64 ",\"round_trips\":%" PRIu64
                       ",\"elapsed_ms\":%.3f}\n",
                       bd_kallsyms_count(ks), st.bytes_read, p->round_trips - rt0, ms);
        } else if (by_addr) {
                printf("0x%016" PRIx64 " %s+0x%" PRIx64 "/0x%" PRIx64 " %c\n", addr, name, off,
                       size, type);
        } else {
                printf("%016" PRIx64 " %c %s\n", addr, type, name);
        }
        bd_kallsyms_free(ks);
        bd_kernel_close(k);
        free(vi);
        return fflush(stdout) ? BD_ERR_IO : 0;
}

struct layout_out {
        struct cli *cli;
        int first;
};

static void print_member(struct layout_out *o, const struct btf *btf, const char *name,
                         uint32_t type_id, uint64_t bits, uint32_t bf, int depth)
{
        char tname[256];
        bd_btf_type_name(btf, type_id, tname, sizeof(tname));
        int64_t size = btf__resolve_size(btf, type_id);
        if (o->cli->json) {
                printf("%s{\"name\":", o->first ? "" : ",");
                bd_json_string(stdout, name);
                printf(",\"offset\":%" PRIu64 ",\"bit_offset\":%" PRIu64 ",\"size\":%" PRId64,
                       bits / 8, bits, size);
                if (bf)
                        printf(",\"bits\":%u", bf);
                printf(",\"depth\":%d,\"type\":", depth);
                bd_json_string(stdout, tname);
                printf("}");
                o->first = 0;
                return;
        }
        char off[32], sz[32];
        if (bf || bits % 8)
                snprintf(off, sizeof(off), "%" PRIu64 ":%u", bits / 8, (unsigned)(bits % 8));
        else
                snprintf(off, sizeof(off), "%" PRIu64, bits / 8);
        if (bf)
                snprintf(sz, sizeof(sz), ":%u", bf);
        else
                snprintf(sz, sizeof(sz), "%" PRId64, size);
        printf("%10s %6s  %*s%-*s %s\n", off, sz, 2 * depth, "", 32 - 2 * depth, name, tname);
}

/* Members in declaration order; an anonymous struct or union is shown, then
 * its members one level in, at their offsets in the outer struct. */
static void print_members(struct layout_out *o, const struct btf *btf, uint32_t id, uint64_t base,
                          int depth)
{
        const struct btf_type *t = btf__type_by_id(btf, id);
        if (!t || !btf_is_composite(t) || depth > 16)
                return;
        const struct btf_member *m = btf_members(t);
        for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
                uint64_t bits = base + btf_member_bit_offset(t, i);
                const char *name = btf__name_by_offset(btf, m->name_off);
                int anon = !name || !*name;
                print_member(o, btf, anon ? "(anonymous)" : name, m->type, bits,
                             btf_member_bitfield_size(t, i), depth);
                if (anon) {
                        uint32_t sub = m->type;
                        const struct btf_type *st = btf__type_by_id(btf, sub);
                        while (st && (btf_is_mod(st) || btf_is_typedef(st)))
                                st = btf__type_by_id(btf, sub = st->type);
                        print_members(o, btf, sub, bits, depth + 1);
                }
        }
}

static int cmd_type(struct cli *cli, struct bd_phys *p, const char *what)
{
        struct bd_vmcoreinfo *vi = malloc(sizeof(*vi));
        if (!vi)
                return report(&bd_error_nomem);
        struct bd_vmcoreinfo_scan scan;
        struct bd_kernel *k = NULL;
        struct bd_kallsyms *ks = NULL;
        struct btf *btf = NULL;
        struct bd_error *err = find_kernel(cli, p, vi, &scan);
        if (!err)
                err = bd_kernel_open(p, vi, &k);
        if (!err)
                err = bd_kallsyms_load(k, vi, &ks);
        if (!err)
                err = bd_btf_load(k, ks, &btf, NULL);
        uint32_t id = 0;
        struct bd_btf_member m;
        int member = strchr(what, '.') != NULL;
        if (!err)
                err = member ? bd_btf_member(btf, what, &m) : bd_btf_find_struct(btf, what, &id);
        int rc = 0;
        if (err) {
                rc = report(bd_error_wrap(err, "type"));
        } else if (member) {
                char tname[256];
                bd_btf_type_name(btf, m.type_id, tname, sizeof(tname));
                if (cli->json) {
                        printf("{\"member\":");
                        bd_json_string(stdout, what);
                        printf(",\"offset\":%" PRIu64 ",\"bit_offset\":%" PRIu64
                               ",\"size\":%" PRId64,
                               m.bit_offset / 8, m.bit_offset, m.size);
                        if (m.bitfield_bits)
                                printf(",\"bits\":%u", m.bitfield_bits);
                        printf(",\"type\":");
                        bd_json_string(stdout, tname);
                        printf("}\n");
                } else {
                        struct layout_out o = {cli, 1};
                        print_member(&o, btf, what, m.type_id, m.bit_offset, m.bitfield_bits, 0);
                }
        } else {
                const struct btf_type *t = btf__type_by_id(btf, id);
                const char *kind = btf_is_union(t) ? "union" : "struct";
                struct layout_out o = {cli, 1};
                if (cli->json) {
                        printf("{\"kind\":\"%s\",\"name\":", kind);
                        bd_json_string(stdout, what);
                        printf(",\"size\":%u,\"members\":[", t->size);
                } else {
                        printf("%s %s {\n%10s %6s  %-32s %s\n", kind, what, "OFFSET", "SIZE",
                               "MEMBER", "TYPE");
                }
                print_members(&o, btf, id, 0, 0);
                if (cli->json)
                        printf("]}\n");
                else
                        printf("}; /* size %u */\n", t->size);
        }
        btf__free(btf);
        bd_kallsyms_free(ks);
        bd_kernel_close(k);
        free(vi);
        if (!rc && fflush(stdout))
                rc = BD_ERR_IO;
        return rc;
}

static int cmd_read(struct cli *cli, struct bd_phys *p, const char *a_addr, const char *a_len)
{
        uint64_t addr, len;
        if (parse_number(a_addr, &addr, 0))
                return usage_error("bad address '%s'", a_addr);
        if (parse_number(a_len, &len, 1) || !len)
                return usage_error("bad length '%s'", a_len);
        /* Stream in bounded chunks so any length works in constant memory. */
        size_t chunk = 1u << 20;
        uint8_t *buf = malloc(chunk);
        if (!buf)
                return report(&bd_error_nomem);
        if (cli->json)
                printf("{\"target\":\"%s\",\"addr\":\"0x%" PRIx64 "\",\"hex\":\"", p->name, addr);
        for (uint64_t done = 0; done < len;) {
                size_t n = len - done < chunk ? (size_t)(len - done) : chunk;
                struct bd_error *err = bd_phys_read(p, addr + done, buf, n);
                if (err) {
                        if (cli->json)
                                printf("\"}\n");
                        fflush(stdout);
                        free(buf);
                        return report(err);
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
        return fflush(stdout) ? BD_ERR_IO : 0;
}

static int cmd_windows(struct cli *cli, struct bd_phys *p)
{
        if (cli->json)
                printf("{\"target\":\"%s\",\"windows\":[", p->name);
        else
                printf("%-16s %-18s %-18s %-9s %s\n", "NAME", "BASE", "LENGTH", "MODE", "ACCESS");
        for (unsigned i = 0; i < p->nwindows; i++) {
                const struct bd_window_desc *w = &p->windows[i];
                if (cli->json) {
                        printf("%s{\"name\":", i ? "," : "");
                        bd_json_string(stdout, w->name);
                        printf(",\"base\":\"0x%" PRIx64 "\",\"length\":%" PRIu64
                               ",\"mode\":\"%s\",\"access\":\"%s\"}",
                               w->base, w->length, bd_mode_name(w->mode),
                               bd_access_name(w->access));
                } else {
                        printf("%-16s 0x%016" PRIx64 " 0x%016" PRIx64 " %-9s %s\n", w->name,
                               w->base, w->length, bd_mode_name(w->mode),
                               bd_access_name(w->access));
                }
        }
        if (cli->json)
                printf("]}\n");
        return 0;
}

static int cmd_cas(struct cli *cli, struct bd_phys *p, char **args)
{
        uint64_t addr, expect, desired, old = 0;
        if (parse_number(args[0], &addr, 0))
                return usage_error("bad address '%s'", args[0]);
        if (parse_number(args[1], &expect, 0))
                return usage_error("bad expected value '%s'", args[1]);
        if (parse_number(args[2], &desired, 0))
                return usage_error("bad new value '%s'", args[2]);
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
        return err ? report(err) : 0;
}

static int cmd_targets(struct cli *cli)
{
        struct bd_target t[64];
        unsigned n;
        struct bd_error *err = bd_target_list(cli->config, t, 64, &n);
        if (err)
                return report(err);
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
        return 0;
}

int main(int argc, char **argv)
{
        struct cli cli = {
            .config = getenv("BDMON_CONFIG") ? getenv("BDMON_CONFIG") : BD_DEFAULT_CONFIG,
            .audit = getenv("BDMON_AUDIT"),
            .open = {.timeout_ms = 5000, .busy_poll = 1},
        };
        enum { OPT_RAW = 256, OPT_AUDIT, OPT_RESCAN, OPT_SLEEP };
        static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"source", required_argument, NULL, 's'},
            {"key", required_argument, NULL, 'k'},
            {"json", no_argument, NULL, 'j'},
            {"raw", no_argument, NULL, OPT_RAW},
            {"write", no_argument, NULL, 'w'},
            {"audit", required_argument, NULL, OPT_AUDIT},
            {"timeout", required_argument, NULL, 't'},
            {"rescan", no_argument, NULL, OPT_RESCAN},
            {"sleep-poll", no_argument, NULL, OPT_SLEEP},
            {"quiet", no_argument, NULL, 'q'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        int c;
        uint64_t num;
        while ((c = getopt_long(argc, argv, "c:s:k:jwt:qh", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        cli.config = optarg;
                        break;
                case 's':
                        cli.source = optarg;
                        break;
                case 'k':
                        cli.key = optarg;
                        break;
                case 'j':
                        cli.json = 1;
                        break;
                case OPT_RAW:
                        cli.raw = 1;
                        break;
                case 'w':
                        cli.write = 1;
                        break;
                case OPT_AUDIT:
                        cli.audit = optarg;
                        break;
                case 't':
                        if (parse_number(optarg, &num, 0) || !num || num > 600000)
                                return usage_error("bad timeout '%s' (milliseconds)", optarg);
                        cli.open.timeout_ms = (int)num;
                        break;
                case OPT_RESCAN:
                        cli.rescan = 1;
                        break;
                case OPT_SLEEP:
                        cli.open.busy_poll = 0;
                        break;
                case 'q':
                        cli.quiet = 1;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                default:
                        fprintf(stderr, "Try 'bdmon --help'.\n");
                        return BD_ERR_USAGE;
                }
        }
        if (optind >= argc)
                return usage_error("%s", "no command given");
        const char *cmd = argv[optind++];
        static const struct {
                const char *name;
                int nargs; /* after TARGET */
        } cmds[] = {{"info", 0}, {"dmesg", 0},    {"read", 2}, {"windows", 0},
                    {"cas", 3},  {"targets", -1}, {"sym", 1},  {"type", 1}};
        int nargs = -2;
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
                if (!strcmp(cmd, cmds[i].name))
                        nargs = cmds[i].nargs;
        if (nargs == -2)
                return usage_error("unknown command '%s'", cmd);
        if (nargs == -1) {
                if (optind != argc)
                        return usage_error("'targets' takes no arguments, not '%s'", argv[optind]);
                return cmd_targets(&cli);
        }
        int want = nargs + (cli.source ? 0 : 1);
        if (argc - optind != want) {
                fprintf(stderr, "bdmon: '%s' takes %s%d argument%s, not %d\nTry 'bdmon --help'.\n",
                        cmd, cli.source ? "(with --source) " : "", want, want == 1 ? "" : "s",
                        argc - optind);
                return BD_ERR_USAGE;
        }
        const char *target = cli.source ? NULL : argv[optind++];
        char **args = argv + optind;
        cli.open.write_enabled = cli.write;
        if (!strcmp(cmd, "cas")) {
                if (!cli.write)
                        return report(bd_error_new(BD_ERR_READONLY,
                                                   "the monitor is read-only; 'cas' needs "
                                                   "--write"));
                struct bd_error *err = bd_audit_open(cli.audit);
                if (err)
                        return report(err);
        }
        signal(SIGPIPE, SIG_IGN);

        struct bd_phys *p;
        struct bd_error *err = open_target(&cli, target, &p);
        if (err)
                return report(err);
        int rc;
        if (!strcmp(cmd, "info"))
                rc = cmd_info(&cli, p);
        else if (!strcmp(cmd, "dmesg"))
                rc = cmd_dmesg(&cli, p);
        else if (!strcmp(cmd, "read"))
                rc = cmd_read(&cli, p, args[0], args[1]);
        else if (!strcmp(cmd, "sym"))
                rc = cmd_sym(&cli, p, args[0]);
        else if (!strcmp(cmd, "type"))
                rc = cmd_type(&cli, p, args[0]);
        else if (!strcmp(cmd, "windows"))
                rc = cmd_windows(&cli, p);
        else
                rc = cmd_cas(&cli, p, args);
        bd_phys_close(p);
        bd_audit_close();
        return rc;
}
