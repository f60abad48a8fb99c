/* A synthetic kernel for the task views (ps, maps, info) and the watch's
 * probe: a stored layout (no BTF for the tasks; tests/unit/files_img.h's
 * for the files a VMA maps), the kallsyms of tests/unit/kallsyms_img.h
 * naming the globals and per-CPU variables they read, and a builder that
 * lays out a small healthy kernel in a buffer used as kernel memory
 * (physical x at virtual TI_K(x) in the image mapping, and at TI_D(x) in
 * the direct map): tasks in the pid IDR, one process's mm with its VMAs in
 * a maple tree, two CPUs' runqueues and the machine-wide figures. Shared
 * by the fuzz targets and their seeds. Header only. */
#ifndef BD_TEST_TASKS_IMG_H
#define BD_TEST_TASKS_IMG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../monitor/views/tasks.h"
#include "files_img.h"
#include "kallsyms_img.h"
#include "layout_img.h"

#define TI_K(x)   KS_K(x)
#define TI_DIRECT 0xffff888000000000ull /* page_offset_base */
#define TI_D(x)   (TI_DIRECT + (uint64_t)(x))

/* Where the globals lie (physical): everything from TI_BASE on is what a
 * fuzz target's input gives, the kallsyms image below it is fixed. */
#define TI_BASE          KS_IMG_SIZE
#define TI_INIT_PID_NS   0x2000u
#define TI_JIFFIES       0x2040u
#define TI_NR_CPU_IDS    0x2048u
#define TI_ONLINE_CPUS   0x204cu /* __num_online_cpus */
#define TI_CPU_OFFSET    0x2050u /* __per_cpu_offset[TI_NCPUS] */
#define TI_TOTALRAM      0x2070u
#define TI_TAINTED       0x2078u
#define TI_AVENRUN       0x2080u
#define TI_BOOTID        0x2098u
#define TI_PANIC_CPU     0x20a8u
#define TI_OOPS          0x20acu
#define TI_SYSTEM_STATE  0x20b0u
#define TI_NR_THREADS    0x20b4u
#define TI_MAX_THREADS   0x20b8u
#define TI_PID_MAX       0x20bcu
#define TI_MIN_FREE      0x20c0u
#define TI_ONLINE_MASK   0x20c8u /* __cpu_online_mask */
#define TI_NR_FILES      0x20d0u /* struct percpu_counter */
#define TI_FILES_STAT    0x2100u
#define TI_TK_CORE       0x2120u
#define TI_ZONE_STAT     0x2200u
#define TI_NODE_STAT     0x2240u
#define TI_PERCPU        0x2400u /* CPU c's copy at + c * TI_PERCPU_STRIDE */
#define TI_PERCPU_STRIDE 0x400u
#define TI_NCPUS         2
#define TI_HEAP          0x3000u /* objects from here, in the direct map */

/* Per-CPU variables within a CPU's copy. */
enum {
        TI_PC_RQ = 0x000,
        TI_PC_HRTIMER_INTS = 0x200,
        TI_PC_TOUCH_TS = 0x208,
        TI_PC_HRTIMER_BASES = 0x210,
        TI_PC_VM_EVENTS = 0x240,
        TI_PC_FILES = 0x280, /* nr_files' s32 counter */
};

/* The stored layout: Linux 6.1's members, at offsets of its own. */
enum {
        TI_TASK_TI_FLAGS = 0x000,
        TI_TASK_CPU = 0x018,
        TI_TASK_STATE = 0x020,
        TI_TASK_FLAGS = 0x024,
        TI_TASK_ON_CPU = 0x028,
        TI_TASK_PRIO = 0x02c,
        TI_TASK_RT_PRIORITY = 0x030,
        TI_TASK_POLICY = 0x034,
        TI_TASK_EXEC_START = 0x080,
        TI_TASK_MM = 0x100,
        TI_TASK_EXIT_STATE = 0x110,
        TI_TASK_PID = 0x118,
        TI_TASK_TGID = 0x11c,
        TI_TASK_REAL_PARENT = 0x120,
        TI_TASK_PID_LINKS = 0x140, /* hlist_node[4] */
        TI_TASK_NVCSW = 0x180,
        TI_TASK_NIVCSW = 0x188,
        TI_TASK_START_TIME = 0x190,
        TI_TASK_COMM = 0x1c0,
        TI_TASK_FILES = 0x1e0,
        TI_TASK_SIGNAL = 0x1f0,
        TI_TASK_PENDING = 0x210, /* pending.signal */
        TI_TASK_SIZE = 0x280,
        TI_SIGNAL_FLAGS = 0x10,
        TI_SIGNAL_SIZE = 0x40,
        TI_PID_TASKS = 0x10, /* hlist_head[4] */
        TI_PID_SIZE = 0x60,
        TI_IDR_NEXT = 0x14, /* pid_namespace.idr.idr_next */
        TI_XA_HEAD = 0x08,  /* pid_namespace.idr.idr_rt.xa_head */
        TI_XA_SHIFT = 0x00,
        TI_XA_SLOTS = 0x28,
        TI_XA_NODE_SIZE = 576,
        TI_MM_MT = 0x40,
        TI_MM_PGD = 0x50,
        TI_MM_RSS = 0x100, /* rss_stat.count[4] */
        TI_MM_SIZE = 0x140,
        TI_VMA_START = 0x00,
        TI_VMA_END = 0x08,
        TI_VMA_FLAGS = 0x20,
        TI_VMA_ANON_VMA = 0x60,
        TI_VMA_PGOFF = 0x68,
        TI_VMA_FILE = 0x70,
        TI_VMA_SIZE = 0xa0,
        TI_RQ_NR_RUNNING = 0x04,
        TI_RQ_NR_SWITCHES = 0x10,
        TI_RQ_NR_UNINT = 0x18,
        TI_RQ_CURR = 0x20,
        TI_RQ_IDLE = 0x28,
        TI_RQ_CLOCK = 0x40,
        TI_RQ_CLOCK_TASK = 0x48,
        TI_HRTIMER_NR_EVENTS = 0x08,
        TI_TK_MONO_BASE = 0x28,
        TI_TK_XTIME_SEC = 0x70,
        TI_TK_OFFS_BOOT = 0xb8,
        TI_PCC_COUNT = 0x08,
        TI_PCC_COUNTERS = 0x20,
        TI_FILES_STAT_MAX = 0x10,
};

/* Enumerators, as 6.1 numbers them. */
enum {
        TI_MM_FILEPAGES = 0,
        TI_MM_ANONPAGES = 1,
        TI_MM_SHMEMPAGES = 3,
        TI_NR_FREE_PAGES = 0,
        TI_NR_INACTIVE_FILE = 2,
        TI_NR_ACTIVE_FILE = 3,
        TI_OOM_KILL = 5,
        TI_SYSTEM_RUNNING = 3,
};

static inline void ti_layout(struct bd_layout *l)
{
        struct btf *btf = fi_btf();
        if (btf)
                bd_layout_from_btf(l, btf);
        btf__free(btf);
        static const struct layout_row t[] = {
            {BDL_TASK_STRUCT, TI_TASK_SIZE, TI_TASK_SIZE},
            {BDL_TASK_STATE, TI_TASK_STATE, 4},
            {BDL_TASK_EXIT_STATE, TI_TASK_EXIT_STATE, 4},
            {BDL_TASK_FLAGS, TI_TASK_FLAGS, 4},
            {BDL_TASK_CPU, TI_TASK_CPU, 4},
            {BDL_TASK_ON_CPU, TI_TASK_ON_CPU, 4},
            {BDL_TASK_PRIO, TI_TASK_PRIO, 4},
            {BDL_TASK_RT_PRIORITY, TI_TASK_RT_PRIORITY, 4},
            {BDL_TASK_POLICY, TI_TASK_POLICY, 4},
            {BDL_TASK_PID, TI_TASK_PID, 4},
            {BDL_TASK_TGID, TI_TASK_TGID, 4},
            {BDL_TASK_REAL_PARENT, TI_TASK_REAL_PARENT, 8},
            {BDL_TASK_COMM, TI_TASK_COMM, 16},
            {BDL_TASK_MM, TI_TASK_MM, 8},
            {BDL_TASK_SE_EXEC_START, TI_TASK_EXEC_START, 8},
            {BDL_TASK_NVCSW, TI_TASK_NVCSW, 8},
            {BDL_TASK_NIVCSW, TI_TASK_NIVCSW, 8},
            {BDL_TASK_START_TIME, TI_TASK_START_TIME, 8},
            {BDL_TASK_PENDING, TI_TASK_PENDING, 8},
            {BDL_TASK_TI_FLAGS, TI_TASK_TI_FLAGS, 8},
            {BDL_TASK_SIGNAL, TI_TASK_SIGNAL, 8},
            {BDL_TASK_FILES, TI_TASK_FILES, 8},
            {BDL_SIGNAL_FLAGS, TI_SIGNAL_FLAGS, 4},
            {BDL_PID_NS_IDR, 0, 24},
            {BDL_IDR_RT, 0, 16},
            {BDL_IDR_NEXT, TI_IDR_NEXT, 4},
            {BDL_XARRAY_HEAD, TI_XA_HEAD, 8},
            {BDL_XA_NODE_SHIFT, TI_XA_SHIFT, 1},
            {BDL_XA_NODE_SLOTS, TI_XA_SLOTS, 512},
            {BDL_XA_NODE, TI_XA_NODE_SIZE, TI_XA_NODE_SIZE},
            {BDL_PID_TASKS, TI_PID_TASKS, 32},
            {BDL_TASK_PID_LINKS, TI_TASK_PID_LINKS, 64},
            {BDL_PIDTYPE_PID, 0, 4},
            {BDL_MM_PGD, TI_MM_PGD, 8},
            {BDL_MM_MT, TI_MM_MT, 16},
            {BDL_MM_RSS_STAT, TI_MM_RSS, 32},
            {BDL_MM_FILEPAGES, TI_MM_FILEPAGES, 4},
            {BDL_MM_ANONPAGES, TI_MM_ANONPAGES, 4},
            {BDL_MM_SHMEMPAGES, TI_MM_SHMEMPAGES, 4},
            {BDL_MAPLE_TREE_ROOT, 8, 8},
            {BDL_MAPLE_NODE_PARENT, 0, 8},
            {BDL_MAPLE_DENSE_SLOT, 8, 248},
            {BDL_MAPLE_RANGE64_META, 248, 1},
            {BDL_MAPLE_ARANGE64_META, 240, 1},
            {BDL_MAPLE_RANGE64_PIVOT, 8, 120},
            {BDL_MAPLE_RANGE64_SLOT, 128, 128},
            {BDL_MAPLE_ARANGE64_PIVOT, 8, 72},
            {BDL_MAPLE_ARANGE64_SLOT, 80, 80},
            {BDL_VMA_START, TI_VMA_START, 8},
            {BDL_VMA_END, TI_VMA_END, 8},
            {BDL_VMA_FLAGS, TI_VMA_FLAGS, 8},
            {BDL_VMA_PGOFF, TI_VMA_PGOFF, 8},
            {BDL_VMA_FILE, TI_VMA_FILE, 8},
            {BDL_VMA_ANON_VMA, TI_VMA_ANON_VMA, 8},
            {BDL_RQ_CLOCK_TASK, TI_RQ_CLOCK_TASK, 8},
            {BDL_RQ_CLOCK, TI_RQ_CLOCK, 8},
            {BDL_RQ_NR_SWITCHES, TI_RQ_NR_SWITCHES, 8},
            {BDL_RQ_NR_RUNNING, TI_RQ_NR_RUNNING, 4},
            {BDL_RQ_CURR, TI_RQ_CURR, 8},
            {BDL_RQ_IDLE, TI_RQ_IDLE, 8},
            {BDL_RQ_NR_UNINTERRUPTIBLE, TI_RQ_NR_UNINT, 4},
            {BDL_HRTIMER_NR_EVENTS, TI_HRTIMER_NR_EVENTS, 4},
            {BDL_TK_CORE_SEQ, 4, 4},
            {BDL_TK_MONO_BASE, TI_TK_MONO_BASE, 8},
            {BDL_TK_OFFS_BOOT, TI_TK_OFFS_BOOT, 8},
            {BDL_TK_XTIME_SEC, TI_TK_XTIME_SEC, 8},
            {BDL_NR_FREE_PAGES, TI_NR_FREE_PAGES, 4},
            {BDL_PERCPU_COUNTER_COUNTERS, TI_PCC_COUNTERS, 8},
            {BDL_PERCPU_COUNTER_COUNT, TI_PCC_COUNT, 8},
            {BDL_FILES_STAT_MAX_FILES, TI_FILES_STAT_MAX, 8},
            {BDL_OOM_KILL, TI_OOM_KILL, 4},
            {BDL_NR_ACTIVE_FILE, TI_NR_ACTIVE_FILE, 4},
            {BDL_NR_INACTIVE_FILE, TI_NR_INACTIVE_FILE, 4},
            {BDL_SYSTEM_RUNNING, TI_SYSTEM_RUNNING, 4},
        };
        layout_rows(l, t, sizeof(t) / sizeof(t[0]));
}

/* The kallsyms image (at physical 0 of memory): every global and per-CPU
 * variable the views read, in address order. */
static inline void ti_kallsyms(struct ks_img *ks)
{
        static const struct ks_sym syms[] = {
            {'T', "_stext", TI_K(0)},
            {'D', "init_pid_ns", TI_K(TI_INIT_PID_NS)},
            {'D', "jiffies_64", TI_K(TI_JIFFIES)},
            {'D', "nr_cpu_ids", TI_K(TI_NR_CPU_IDS)},
            {'D', "__num_online_cpus", TI_K(TI_ONLINE_CPUS)},
            {'R', "__per_cpu_offset", TI_K(TI_CPU_OFFSET)},
            {'D', "_totalram_pages", TI_K(TI_TOTALRAM)},
            {'D', "tainted_mask", TI_K(TI_TAINTED)},
            {'D', "avenrun", TI_K(TI_AVENRUN)},
            {'D', "sysctl_bootid", TI_K(TI_BOOTID)},
            {'D', "panic_cpu", TI_K(TI_PANIC_CPU)},
            {'D', "oops_in_progress", TI_K(TI_OOPS)},
            {'D', "system_state", TI_K(TI_SYSTEM_STATE)},
            {'D', "nr_threads", TI_K(TI_NR_THREADS)},
            {'D', "max_threads", TI_K(TI_MAX_THREADS)},
            {'D', "pid_max", TI_K(TI_PID_MAX)},
            {'D', "min_free_kbytes", TI_K(TI_MIN_FREE)},
            {'D', "__cpu_online_mask", TI_K(TI_ONLINE_MASK)},
            {'D', "nr_files", TI_K(TI_NR_FILES)},
            {'D', "files_stat", TI_K(TI_FILES_STAT)},
            {'d', "tk_core", TI_K(TI_TK_CORE)},
            {'D', "vm_zone_stat", TI_K(TI_ZONE_STAT)},
            {'D', "vm_node_stat", TI_K(TI_NODE_STAT)},
            {'D', "runqueues", TI_K(TI_PERCPU + TI_PC_RQ)},
            {'D', "hrtimer_interrupts", TI_K(TI_PERCPU + TI_PC_HRTIMER_INTS)},
            {'D', "watchdog_touch_ts", TI_K(TI_PERCPU + TI_PC_TOUCH_TS)},
            {'D', "hrtimer_bases", TI_K(TI_PERCPU + TI_PC_HRTIMER_BASES)},
            {'D', "vm_event_states", TI_K(TI_PERCPU + TI_PC_VM_EVENTS)},
        };
        ks_build(ks, syms, sizeof(syms) / sizeof(syms[0]), KS_RELATIVE);
}

/* A buffer of memory from physical 0, objects allocated in the direct
 * map from TI_HEAP up. */
static inline void ti_heap(struct ms_img *im, uint8_t *mem, size_t size)
{
        *im = (struct ms_img){.mem = mem, .size = size, .next = TI_HEAP, .base = TI_D(0)};
}

static inline void ti_put(uint8_t *mem, uint32_t at, uint64_t v, unsigned n)
{
        memcpy(mem + at, &v, n);
}

/* A task: pid, tgid, state, comm, mm (0: a kernel thread), cpu. Its
 * signal_struct is the leader's (tgid's) when given. */
struct ti_task {
        int32_t pid, tgid;
        uint32_t state;
        const char *comm;
        uint64_t mm, parent, signal;
        uint32_t cpu;
        uint64_t exec_start, nvcsw;
};

static inline uint64_t ti_task(struct ms_img *im, const struct ti_task *t)
{
        uint64_t a = ms_alloc(im, TI_TASK_SIZE, 64);
        ms_put32(im, a + TI_TASK_PID, (uint32_t)t->pid);
        ms_put32(im, a + TI_TASK_TGID, (uint32_t)t->tgid);
        ms_put32(im, a + TI_TASK_STATE, t->state);
        ms_put32(im, a + TI_TASK_FLAGS, t->mm ? 0 : BD_PF_KTHREAD);
        ms_put32(im, a + TI_TASK_CPU, t->cpu);
        ms_put32(im, a + TI_TASK_PRIO, 120);
        ms_put(im, a + TI_TASK_COMM, t->comm, strnlen(t->comm, 16));
        ms_put64(im, a + TI_TASK_MM, t->mm);
        ms_put64(im, a + TI_TASK_REAL_PARENT, t->parent ? t->parent : a);
        ms_put64(im, a + TI_TASK_EXEC_START, t->exec_start);
        ms_put64(im, a + TI_TASK_NVCSW, t->nvcsw);
        ms_put64(im, a + TI_TASK_START_TIME, 1000000ull * (uint64_t)t->pid);
        uint64_t sig = t->signal;
        if (!sig) {
                sig = ms_alloc(im, TI_SIGNAL_SIZE, 64);
                ms_put32(im, sig + TI_SIGNAL_FLAGS, 0);
        }
        ms_put64(im, a + TI_TASK_SIGNAL, sig);
        return a;
}

/* The struct pid of task a, whose tasks[PIDTYPE_PID] leads to it. */
static inline uint64_t ti_pid(struct ms_img *im, uint64_t task)
{
        uint64_t p = ms_alloc(im, TI_PID_SIZE, 64);
        ms_put64(im, p + TI_PID_TASKS, task + TI_TASK_PID_LINKS);
        ms_put64(im, task + TI_TASK_PID_LINKS + 8, p + TI_PID_TASKS);
        return p;
}

/* The pid IDR: one leaf node (pids below 64), pid[i] at index nr[i]. */
static inline void ti_idr(struct ms_img *im, const int32_t *nr, const uint64_t *pid, size_t n)
{
        uint64_t node = ms_alloc(im, TI_XA_NODE_SIZE, 64);
        im->mem[node - im->base + TI_XA_SHIFT] = 0;
        for (size_t i = 0; i < n; i++)
                ms_put64(im, node + TI_XA_SLOTS + 8 * (uint64_t)nr[i], pid[i]);
        ms_put64(im, TI_D(TI_INIT_PID_NS + TI_XA_HEAD), node | 2);
}

struct ti_vma {
        uint64_t start, end, flags, file;
};

/* An mm whose maple tree is one leaf (maple_leaf_64) holding the VMAs
 * (ascending, at most 7) with the gaps between them; rss pages. */
static inline uint64_t ti_mm(struct ms_img *im, const struct ti_vma *v, size_t n, int64_t rss)
{
        uint64_t mm = ms_alloc(im, TI_MM_SIZE, 64);
        uint64_t node = ms_alloc(im, 256, 256);
        ms_put64(im, mm + TI_MM_RSS + 8 * TI_MM_ANONPAGES, (uint64_t)rss);
        ms_put64(im, mm + TI_MM_MT + 8, node | (1u << 3) | 2); /* maple_leaf_64 */
        ms_put64(im, node, mm + TI_MM_MT | 1);                 /* parent: the tree */
        unsigned s = 0;
        uint64_t at = 0;
        for (size_t i = 0; i < n; i++) {
                if (v[i].start > at) { /* the gap before it */
                        ms_put64(im, node + 8 + 8 * s, v[i].start - 1);
                        s++;
                }
                uint64_t a = ms_alloc(im, TI_VMA_SIZE, 64);
                ms_put64(im, a + TI_VMA_START, v[i].start);
                ms_put64(im, a + TI_VMA_END, v[i].end);
                ms_put64(im, a + TI_VMA_FLAGS, v[i].flags);
                ms_put64(im, a + TI_VMA_PGOFF, v[i].start >> 12);
                ms_put64(im, a + TI_VMA_FILE, v[i].file);
                ms_put64(im, node + 8 + 8 * s, v[i].end - 1);
                ms_put64(im, node + 128 + 8 * s, a);
                s++;
                at = v[i].end;
        }
        /* The last slot runs to the maximum: its pivot is left 0. */
        im->mem[node - im->base + 248] = (uint8_t)s;
        return mm;
}

/* A small healthy kernel in mem (size bytes from physical 0, the kallsyms
 * image already at 0): pid 1 init, pid 2 kthreadd, pid 10 app with an mm
 * of three VMAs (one a file, /bin/app) and its thread pid 11 in D, two
 * CPUs running app and idle; jiffies, time, memory and load figures. */
static inline void ti_build(uint8_t *mem, size_t size)
{
        memset(mem + TI_BASE, 0, size - TI_BASE);
        ti_put(mem, TI_JIFFIES, 4294967296ull + 12345, 8);
        ti_put(mem, TI_NR_CPU_IDS, TI_NCPUS, 4);
        ti_put(mem, TI_ONLINE_CPUS, TI_NCPUS, 4);
        for (unsigned c = 0; c < TI_NCPUS; c++)
                ti_put(mem, TI_CPU_OFFSET + 8 * c, (uint64_t)c * TI_PERCPU_STRIDE, 8);
        ti_put(mem, TI_ONLINE_MASK, (1u << TI_NCPUS) - 1, 8);
        ti_put(mem, TI_TOTALRAM, 262144, 8);
        ti_put(mem, TI_ZONE_STAT + 8 * TI_NR_FREE_PAGES, 100000, 8);
        ti_put(mem, TI_NODE_STAT + 8 * TI_NR_ACTIVE_FILE, 3000, 8);
        ti_put(mem, TI_NODE_STAT + 8 * TI_NR_INACTIVE_FILE, 4000, 8);
        ti_put(mem, TI_AVENRUN, 1 << 11, 8);
        ti_put(mem, TI_AVENRUN + 8, 1 << 10, 8);
        ti_put(mem, TI_AVENRUN + 16, 1 << 9, 8);
        memcpy(mem + TI_BOOTID, "0123456789abcdef", 16);
        ti_put(mem, TI_TAINTED, 1u << 9, 8);
        ti_put(mem, TI_PANIC_CPU, (uint32_t)-1, 4);
        ti_put(mem, TI_SYSTEM_STATE, TI_SYSTEM_RUNNING, 4);
        ti_put(mem, TI_NR_THREADS, 4, 4);
        ti_put(mem, TI_MAX_THREADS, 30000, 4);
        ti_put(mem, TI_PID_MAX, 32768, 4);
        ti_put(mem, TI_MIN_FREE, 4096, 4);
        ti_put(mem, TI_INIT_PID_NS + TI_IDR_NEXT, 12, 4);
        ti_put(mem, TI_NR_FILES + TI_PCC_COUNT, 200, 8);
        ti_put(mem, TI_NR_FILES + TI_PCC_COUNTERS, TI_K(TI_PERCPU + TI_PC_FILES), 8);
        ti_put(mem, TI_FILES_STAT + TI_FILES_STAT_MAX, 800000, 8);
        uint32_t tk = TI_TK_CORE + 8;
        ti_put(mem, tk + TI_TK_MONO_BASE, 5000000000ull, 8);
        ti_put(mem, tk + TI_TK_OFFS_BOOT, 1000000000ull, 8);
        ti_put(mem, tk + TI_TK_XTIME_SEC, 1700000000ull, 8);

        struct ms_img im;
        ti_heap(&im, mem, size);
        /* /bin/app, on the root mount. */
        uint64_t root = fi_dentry(&im, 0, "/", 0, 1);
        uint64_t mnt = fi_mount(&im, 0, root, root, 1);
        uint64_t bin = fi_dentry(&im, root, "bin", 0, 1);
        uint64_t exe = fi_dentry(&im, bin, "app", 0, 1);
        struct fi_open o = {.mount = mnt, .dentry = exe, .inode = fi_inode(&im, FI_S_IFREG, 42)};
        uint64_t file = fi_file(&im, &o);
        const struct ti_vma vmas[] = {
            {0x400000, 0x401000, 0x75, file},
            {0x600000, 0x602000, 0x73, 0},
            {0x7ffffffde000, 0x7ffffffff000, 0x173, 0},
        };
        uint64_t mm = ti_mm(&im, vmas, 3, 5);
        uint64_t init_mm = ti_mm(&im, vmas + 1, 1, 2);

        uint64_t init = ti_task(&im, &(struct ti_task){1, 1, 1, "init", init_mm, 0, 0, 0, 100, 9});
        uint64_t kthreadd = ti_task(&im, &(struct ti_task){2, 2, 1, "kthreadd", 0, 0, 0, 1, 0, 3});
        uint64_t app = ti_task(&im, &(struct ti_task){10, 10, 0, "app", mm, init, 0, 0, 0, 50});
        uint64_t app_sig;
        memcpy(&app_sig, mem + (app - TI_D(0)) + TI_TASK_SIGNAL, 8);
        uint64_t worker =
            ti_task(&im, &(struct ti_task){11, 10, 2, "app-worker", mm, init, app_sig, 1, 900, 7});
        uint64_t idle = ti_task(&im, &(struct ti_task){0, 0, 0, "swapper/1", 0, 0, 0, 1, 0, 0});
        const int32_t nr[] = {1, 2, 10, 11};
        const uint64_t pid[] = {ti_pid(&im, init), ti_pid(&im, kthreadd), ti_pid(&im, app),
                                ti_pid(&im, worker)};
        ti_idr(&im, nr, pid, 4);

        const uint64_t curr[TI_NCPUS] = {app, idle};
        for (unsigned c = 0; c < TI_NCPUS; c++) {
                uint32_t pc = TI_PERCPU + c * TI_PERCPU_STRIDE, rq = pc + TI_PC_RQ;
                ti_put(mem, rq + TI_RQ_NR_RUNNING, c ? 0 : 1, 4);
                ti_put(mem, rq + TI_RQ_NR_SWITCHES, 1000 + c, 8);
                ti_put(mem, rq + TI_RQ_NR_UNINT, c ? 0 : 1, 4);
                ti_put(mem, rq + TI_RQ_CURR, curr[c], 8);
                ti_put(mem, rq + TI_RQ_IDLE, c ? idle : 0, 8);
                ti_put(mem, rq + TI_RQ_CLOCK, 5000000000ull, 8);
                ti_put(mem, rq + TI_RQ_CLOCK_TASK, 4000000000ull, 8);
                ti_put(mem, pc + TI_PC_HRTIMER_INTS, 777, 8);
                ti_put(mem, pc + TI_PC_TOUCH_TS, 5, 8);
                ti_put(mem, pc + TI_PC_HRTIMER_BASES + TI_HRTIMER_NR_EVENTS, 5000, 4);
                ti_put(mem, pc + TI_PC_VM_EVENTS + 8 * TI_OOM_KILL, c, 8);
                ti_put(mem, pc + TI_PC_FILES, 3, 4);
        }
}

/* Bytes of memory ti_build() fills. */
#define TI_IMG_SIZE 0x6000u

#endif
