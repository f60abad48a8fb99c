/* The machine-wide figures of `bdmon info`, read from kernel globals in one
 * batched round trip: uptime, CPUs, memory, load, boot id, taint. Each part
 * is optional: a kernel without one of the symbols (or a layout without the
 * timekeeper) still yields the rest. */
#ifndef BD_SYSINFO_H
#define BD_SYSINFO_H

#include <stdint.h>

#include "../kernel/program.h"

struct bd_sysinfo {
        int have_uptime, have_cpus, have_mem, have_load, have_boot_id, have_taint, have_jiffies;
        uint64_t uptime_ns; /* CLOCK_BOOTTIME at the last tick, as /proc/uptime */
        uint64_t mono_ns;   /* CLOCK_MONOTONIC at the last tick (have_uptime) */
        uint64_t wall_sec;  /* CLOCK_REALTIME seconds at the last tick */
        unsigned cpus_online, cpus_possible;
        uint64_t mem_total, mem_free; /* bytes */
        uint64_t load[3];             /* avenrun: fixed point, 11 fraction bits */
        uint8_t boot_id[16];          /* all zero until the target first reads it */
        uint64_t taint;
        uint64_t jiffies;
};

/* Fails only if nothing at all could be read. */
struct bd_error *bd_sysinfo_read(struct bd_program *prog, struct bd_sysinfo *out);

/* Taint flags as the kernel prints them ("GW", "PO", ...): one letter per
 * set bit, 'G' when none is. buf needs 32 bytes. */
void bd_sysinfo_taint_letters(uint64_t taint, char *buf, size_t cap);

/* Load average as /proc/loadavg prints it ("0.42"). */
void bd_sysinfo_load_text(uint64_t avenrun, char *buf, size_t cap);

#endif
