/* libFuzzer target: bdmon info's machine-wide figures with the input as
 * kernel memory from physical TI_BASE (virtual TI_K(TI_BASE)), after the
 * kallsyms of tests/unit/tasks_img.h, laid out as its stored layout says:
 *
 *   0x2040 jiffies_64   0x2048 nr_cpu_ids   0x204c __num_online_cpus
 *   0x2070 _totalram_pages   0x2078 tainted_mask   0x2080 avenrun
 *   0x2098 sysctl_bootid   0x2120 tk_core   0x2200 vm_zone_stat
 *
 * Invariants: no crash, hang or out-of-bounds read; it never fails, every
 * symbol being named (it fails only when nothing could be read); each
 * part is had exactly when the input holds all of it, and is then what
 * the input holds there; the figures print within their buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/views/sysinfo.h"
#include "fuzz_check.h"
#include "tasks_prog.h"

static const uint8_t *in;
static size_t in_size;

/* Whether the input holds len bytes at physical at. */
static int held(uint32_t at, size_t len)
{
        return at + len <= TI_BASE + in_size;
}

static uint64_t value(uint32_t at, size_t len)
{
        uint64_t v = 0;
        memcpy(&v, in + at - TI_BASE, len);
        return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct tasks_prog tp;
        in = data, in_size = size;
        struct bd_program *prog = tasks_prog_open(&tp, data, size, 0);
        struct bd_sysinfo si;
        CHECK(!bd_sysinfo_read(prog, &si));

        CHECK(si.have_jiffies == held(TI_JIFFIES, 8));
        CHECK(!si.have_jiffies || si.jiffies == value(TI_JIFFIES, 8));
        CHECK(si.have_taint == held(TI_TAINTED, 8));
        CHECK(!si.have_taint || si.taint == value(TI_TAINTED, 8));
        CHECK(si.have_load == held(TI_AVENRUN, 24));
        for (int i = 0; si.have_load && i < 3; i++)
                CHECK(si.load[i] == value(TI_AVENRUN + 8 * i, 8));
        CHECK(si.have_boot_id == held(TI_BOOTID, 16));
        CHECK(!si.have_boot_id || !memcmp(si.boot_id, in + TI_BOOTID - TI_BASE, 16));
        CHECK(si.have_cpus == (held(TI_NR_CPU_IDS, 4) && held(TI_ONLINE_CPUS, 4)));
        CHECK(!si.have_cpus || (si.cpus_possible == value(TI_NR_CPU_IDS, 4) &&
                                si.cpus_online == value(TI_ONLINE_CPUS, 4)));
        int free_held = held(TI_ZONE_STAT, 8 * (TI_NR_FREE_PAGES + 1));
        CHECK(si.have_mem == (held(TI_TOTALRAM, 8) && free_held));
        CHECK(!si.have_mem || si.mem_total == value(TI_TOTALRAM, 8) * 4096);
        if (free_held) {
                int64_t f = (int64_t)value(TI_ZONE_STAT + 8 * TI_NR_FREE_PAGES, 8);
                CHECK(si.mem_free == (f > 0 ? (uint64_t)f * 4096 : 0));
        }
        /* tk_core: the timekeeper after the 8-aligned seqcount. */
        uint32_t tk = TI_TK_CORE + 8;
        int tk_held = held(TI_TK_CORE, 8 + TI_TK_OFFS_BOOT + 8);
        if (!tk_held)
                CHECK(!si.have_uptime && !si.uptime_ns && !si.mono_ns && !si.wall_sec);
        else {
                int64_t base = (int64_t)value(tk + TI_TK_MONO_BASE, 8);
                int64_t boot = (int64_t)value(tk + TI_TK_OFFS_BOOT, 8);
                CHECK(si.have_uptime == (base >= 0 && boot >= 0));
                CHECK(si.mono_ns == (uint64_t)base &&
                      si.wall_sec == value(tk + TI_TK_XTIME_SEC, 8));
                CHECK(si.uptime_ns == (uint64_t)base + (uint64_t)boot);
        }

        char buf[32];
        bd_sysinfo_taint_letters(si.taint, buf, sizeof(buf));
        CHECK(buf[0] && strlen(buf) < sizeof(buf));
        for (int i = 0; i < 3; i++) {
                char load[8];
                bd_sysinfo_load_text(si.load[i], load, sizeof(load));
                CHECK(strlen(load) < sizeof(load));
        }
        tasks_prog_close(&tp);
        return 0;
}
