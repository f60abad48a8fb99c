/* A target's kernel as a program to inspect, the one object every view
 * starts from: VMCOREINFO (from a remembered location, else a scan), held
 * against the memory it describes (a copy is anyone's text; the kernel's
 * own init_uts_ns and build id, and its jiffies moving, are not), the
 * kernel's address space, and, loaded when a view first asks for them, its
 * symbol table, its BTF and the layout of what Backdoors reads. Symbol
 * tables and BTF are kept per BUILD-ID on the monitor, so a second contact,
 * or one after the target died, reads neither again; what is kept is used
 * only after random parts of it match the target's memory. */
#ifndef BD_PROGRAM_H
#define BD_PROGRAM_H

#include <stddef.h>
#include <stdint.h>

#include <bpf/btf.h>

#include "../../common/error.h"
#include "btf.h"
#include "kallsyms.h"
#include "kernel.h"
#include "layout.h"
#include "modsyms.h"
#include "../source/phys.h"
#include "vmcoreinfo.h"

/* vmlinux_build_id: what the kernel prints as VMCOREINFO's BUILD-ID. */
#define BD_PROGRAM_BUILD_ID_LEN 20
/* How long a kernel's jiffies may stand still and it still be running:
 * NOHZ idle stops the tick until the watchdog's hrtimer, every 4 s. */
#define BD_PROGRAM_LIVE_WAIT_NS (5ull * 1000 * 1000 * 1000)

/* A cached table is used for a target only once it matches that target's
 * memory (the cache is keyed by the build id a target claims): so many
 * symbol addresses, and so many chunks of BTF, picked at random each time. */
#define BD_PROGRAM_CACHE_SAMPLES 64
#define BD_PROGRAM_CACHE_CHUNKS  16

/* Far above any x86-64 kernel's CONFIG_NR_CPUS (8192): a hostile
 * nr_cpu_ids must not size an allocation. */
#define BD_PROGRAM_MAX_CPUS 8192

/* Kernels a watch is done with, by a digest of their VMCOREINFO text
 * (BLAKE2b: a hostile target cannot make its forged copy stand for a real
 * one), the last BD_PROGRAM_GONE_MAX: those reboots replaced, for good,
 * and the copies found standing still in the searches after them, for
 * BD_PROGRAM_STILL_NS. A search after a reboot passes over them instead of
 * waiting up to BD_PROGRAM_LIVE_WAIT_NS for each again: in the lab every
 * reboot leaves the kernel before the last one's copies in memory. Still
 * is not gone: a running kernel whose jiffies stood through one wait (its
 * VM held off by the host, an idle tick late) must not stay hidden from
 * the watch for good, so it is looked at again once the time is up. */
#define BD_PROGRAM_GONE_MAX    32
#define BD_PROGRAM_GONE_DIGEST 16
#define BD_PROGRAM_STILL_NS    (30ull * 1000 * 1000 * 1000)
struct bd_program_gone {
        uint8_t digest[BD_PROGRAM_GONE_MAX][BD_PROGRAM_GONE_DIGEST];
        uint64_t until_ns[BD_PROGRAM_GONE_MAX]; /* UINT64_MAX: for good */
        unsigned n, next;
};
/* Passed over until until_ns (monotonic); added again, the later time
 * holds. */
void bd_program_gone_add(struct bd_program_gone *g, const struct bd_vmcoreinfo *vi,
                         uint64_t until_ns);
int bd_program_gone_has(const struct bd_program_gone *g, const struct bd_vmcoreinfo *vi,
                        uint64_t now_ns);

struct bd_program_options {
        int rescan;         /* ignore the remembered VMCOREINFO location */
        int no_cache;       /* neither read nor write the per-build cache */
        const char *layout; /* a layout file instead of the kernel's BTF */
        /* The bytes a view may read and hold for what the target's own
         * numbers ask (--max-read); 0: each view's default (views/budget.h). */
        uint64_t max_read;
        /* A remembered VMCOREINFO location is taken only if its kernel
         * runs (the watch); otherwise, checked, it serves a dead kernel. */
        int need_live;
        /* The caller reads what VMCOREINFO describes and no structure (the
         * kernel log): nothing it will not use is read while waiting. */
        int no_types;
        /* Set after a reboot: none of these kernels (implies rescan and
         * need_live); the copies the search finds standing still join
         * them for BD_PROGRAM_STILL_NS. */
        struct bd_program_gone *gone;
        void (*progress)(uint64_t done, uint64_t total); /* VMCOREINFO scan */
};

/* Where each part came from, for --json, benchmarks and tests. */
struct bd_program_stats {
        int vmcoreinfo_from_hint;
        /* The search for VMCOREINFO and the checks of the copies found:
         * bytes moved from the source, bytes of memory searched, time. */
        uint64_t vmcoreinfo_bytes, vmcoreinfo_searched, vmcoreinfo_ns;
        /* Copies of VMCOREINFO looked at (the one taken included), and those
         * the kernel they describe proved false. */
        unsigned vmcoreinfo_copies, vmcoreinfo_forged;
        int live; /* 1 its jiffies moved, 0 they did not, -1 not asked or no jiffies_64 */
        /* Of vmcoreinfo_ns, the wait for those jiffies (the BTF of a kernel
         * new to the monitor is read meanwhile). */
        uint64_t live_wait_ns;
        int kallsyms_from_cache, btf_from_cache;
        uint64_t kallsyms_bytes, btf_bytes; /* read from the target */
        unsigned cache_refused; /* cached tables that did not match the target's memory */
        /* Why the kernel's description cannot be trusted although it passed
         * the checks (its own two copies of VMCOREINFO disagree); "" if it
         * can. */
        char suspicious[192];
};

struct bd_program {
        struct bd_phys *phys; /* borrowed */
        struct bd_vmcoreinfo vi;
        struct bd_kernel *k;
        char release[128];
        char build_id[130];
        struct bd_program_options opt;
        struct bd_program_stats stats;
        int checked;     /* its kernel passed the checks (until then nothing is cached) */
        int btf_refused; /* its memory did not match the cached BTF */
        /* Loaded on first use; use the accessors. */
        struct bd_kallsyms *ks;
        struct btf *btf;
        struct bd_layout *layout;
        /* The BTF of a kernel new to the monitor, read while waiting for
         * its jiffies to move (running()); bd_program_btf takes it. */
        struct bd_btf_read early_btf;
        int early_btf_tried;
        /* That BTF parsed, when the jiffies stood still past its reading. */
        struct btf *early_btf_parsed;
        uint64_t *cpu_offset; /* __per_cpu_offset[0..ncpus) */
        unsigned ncpus;
        /* Loaded by views/symbols.h, which walks the modules list (a layer
         * above this one); freed with the program. */
        struct bd_modsyms *modsyms;
};

struct bd_error *bd_program_open(struct bd_phys *p, const struct bd_program_options *opt,
                                 struct bd_program **out);
void bd_program_close(struct bd_program *prog);

struct bd_error *bd_program_kallsyms(struct bd_program *prog, struct bd_kallsyms **out);
struct bd_error *bd_program_btf(struct bd_program *prog, struct btf **out);
/* From BTF, else (or with opt.layout) from a stored layout file. */
struct bd_error *bd_program_layout(struct bd_program *prog, const struct bd_layout **out);
/* Let go of the kernel's BTF and kallsyms (megabytes each) once a caller
 * holds what it needs from them for long (a layout, addresses): the
 * accessors load them again on demand, from the per-build cache when there
 * is one. Invalidates the pointers they gave. */
void bd_program_trim(struct bd_program *prog);

/* A symbol's address (kallsyms), and reads of what lies there. */
struct bd_error *bd_program_symbol(struct bd_program *prog, const char *name, uint64_t *addr);
struct bd_error *bd_program_read_symbol(struct bd_program *prog, const char *name, void *buf,
                                        size_t len);

/* Per-CPU variables: the address of CPU cpu's copy of the per-CPU symbol at
 * addr (its offset in the per-CPU area, for absolute-percpu kernels). */
struct bd_error *bd_program_cpus(struct bd_program *prog, unsigned *ncpus);
struct bd_error *bd_program_percpu(struct bd_program *prog, uint64_t addr, unsigned cpu,
                                   uint64_t *out);

#endif
