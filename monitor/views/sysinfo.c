#include "sysinfo.h"

#include <stdio.h>
#include <string.h>

/* include/linux/sched/loadavg.h: avenrun is fixed point with 11 bits. */
#define FSHIFT  11
#define FIXED_1 (1u << FSHIFT)

struct global {
        const char *symbol;
        void *buf;
        size_t len;
        int *have;
};

struct bd_error *bd_sysinfo_read(struct bd_program *prog, struct bd_sysinfo *si)
{
        memset(si, 0, sizeof(*si));
        const struct bd_layout *l = NULL;
        struct bd_error *lerr = bd_program_layout(prog, &l);
        bd_error_destroy(lerr);

        uint32_t online = 0, possible = 0;
        uint64_t totalram = 0, zone_stat[64], tk[64];
        int have_online = 0, have_possible = 0, have_total = 0, have_free = 0, have_tk = 0;
        int64_t free_idx = -1, tk_seq = 0, mono_base = -1, offs_boot = -1, xtime = -1;
        if (l && bd_layout_has(l, BDL_TK_CORE_SEQ, &tk_seq) &&
            bd_layout_has(l, BDL_TK_MONO_BASE, &mono_base) &&
            bd_layout_has(l, BDL_TK_OFFS_BOOT, &offs_boot) &&
            bd_layout_has(l, BDL_TK_XTIME_SEC, &xtime) && tk_seq <= 64)
                have_tk = 1;
        size_t free_len = 0;
        if (l && bd_layout_has(l, BDL_NR_FREE_PAGES, &free_idx) && free_idx >= 0 && free_idx < 64)
                free_len = (size_t)(free_idx + 1) * 8;
        /* tk_core's timekeeper follows the seqcount, 8-aligned. */
        size_t tk_off = ((size_t)tk_seq + 7) & ~(size_t)7;
        int64_t hi = mono_base > offs_boot ? mono_base : offs_boot;
        hi = hi > xtime ? hi : xtime;
        size_t tk_len = have_tk ? tk_off + (size_t)hi + 8 : 0;
        if (tk_len > sizeof(tk))
                tk_len = 0, have_tk = 0;
        struct global g[] = {
            {"tk_core", tk, tk_len, &have_tk},
            {"__num_online_cpus", &online, 4, &have_online},
            {"nr_cpu_ids", &possible, 4, &have_possible},
            {"_totalram_pages", &totalram, 8, &have_total},
            {"vm_zone_stat", zone_stat, free_len, &have_free},
            {"avenrun", si->load, sizeof(si->load), &si->have_load},
            {"sysctl_bootid", si->boot_id, sizeof(si->boot_id), &si->have_boot_id},
            {"tainted_mask", &si->taint, 8, &si->have_taint},
            {"jiffies_64", &si->jiffies, 8, &si->have_jiffies},
        };
        enum { N = sizeof(g) / sizeof(g[0]) };
        struct bd_kernel_iov iov[N];
        struct global *which[N];
        size_t n = 0;
        struct bd_error *err = NULL;
        for (size_t i = 0; i < N; i++) {
                uint64_t addr;
                if (!g[i].len)
                        continue;
                struct bd_error *e = bd_program_symbol(prog, g[i].symbol, &addr);
                if (e) {
                        bd_error_destroy(err);
                        err = e;
                        continue;
                }
                iov[n] = (struct bd_kernel_iov){addr, g[i].buf, g[i].len};
                which[n++] = &g[i];
        }
        if (!n)
                return err ? err : bd_error_new(BD_ERR_NOT_FOUND, "no machine-wide figures");
        bd_error_destroy(err);
        /* One round trip for everything; if one range does not translate,
         * read them one by one so the others still count. */
        if ((err = bd_kernel_read_batch(prog->k, iov, n))) {
                bd_error_destroy(err);
                for (size_t i = 0; i < n; i++) {
                        struct bd_error *e =
                            bd_kernel_read(prog->k, iov[i].vaddr, iov[i].buf, iov[i].len);
                        if (e)
                                which[i]->len = 0;
                        bd_error_destroy(e);
                }
        }
        for (size_t i = 0; i < n; i++)
                *which[i]->have = which[i]->len != 0;
        if (have_tk && tk_len) {
                int64_t base, boot;
                uint64_t sec;
                memcpy(&base, (uint8_t *)tk + tk_off + mono_base, 8);
                memcpy(&boot, (uint8_t *)tk + tk_off + offs_boot, 8);
                memcpy(&sec, (uint8_t *)tk + tk_off + xtime, 8);
                si->have_uptime = base >= 0 && boot >= 0;
                si->uptime_ns = (uint64_t)base + (uint64_t)boot;
                si->mono_ns = (uint64_t)base;
                si->wall_sec = sec;
        }
        si->have_cpus = have_online && have_possible;
        si->cpus_online = online;
        si->cpus_possible = possible;
        si->have_mem = have_total && have_free;
        si->mem_total = totalram * 4096;
        if (have_free && free_len) {
                int64_t f = (int64_t)zone_stat[free_idx];
                si->mem_free = f > 0 ? (uint64_t)f * 4096 : 0;
        }
        return NULL;
}

void bd_sysinfo_taint_letters(uint64_t taint, char *buf, size_t cap)
{
        /* kernel/panic.c taint_flags, bit by bit (6.1). */
        static const char letters[] = "PFSRMBUDAWCIOELKXTN";
        size_t n = 0;
        for (unsigned b = 0; b < sizeof(letters) - 1 && n + 1 < cap; b++)
                if (taint & (1ull << b))
                        buf[n++] = letters[b];
        if (!n && cap > 1)
                buf[n++] = 'G';
        buf[n < cap ? n : cap - 1] = '\0';
}

void bd_sysinfo_load_text(uint64_t avenrun, char *buf, size_t cap)
{
        /* As fs/proc/loadavg.c rounds: add half of the last digit first. */
        uint64_t v = avenrun + FIXED_1 / 200;
        snprintf(buf, cap, "%llu.%02llu", (unsigned long long)(v >> FSHIFT),
                 (unsigned long long)(((v & (FIXED_1 - 1)) * 100) >> FSHIFT));
}
