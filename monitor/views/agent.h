/* A process's libbdagent beacon (common/agent_beacon.h): found among its
 * mappings by the memfd's name, read through its page tables, and checked
 * field by field before anything in it is believed. Every address it
 * gives must lie, with its length, inside one of the process's mappings:
 * the application's regions in any, the library's slots in a private
 * writable one. */
#ifndef BD_AGENT_H_VIEW
#define BD_AGENT_H_VIEW

#include <stddef.h>
#include <stdint.h>

#include "../../common/agent_beacon.h"
#include "../kernel/program.h"
#include "vmas.h"

struct bd_agent_view {
        uint64_t beacon;          /* its user address */
        struct bd_agent_beacon b; /* as read, every field checked */
};

/* Whether a VMA's path names a libbdagent memfd: "/memfd:bdagent:NAME",
 * maybe with " (deleted)" after it. */
int bd_agent_mapping(const char *path);

/* The mapping of pid's libbdagent memfd among vs, or NULL. */
const struct bd_vma *bd_agent_vma(const struct bd_vmas *vs);

/* Check the beacon read into buf (len bytes from user address at) against
 * the process's mappings; BD_ERR_PROTOCOL naming the first field that is
 * wrong. Pure: what the fuzzer drives. */
struct bd_error *bd_agent_check(const void *buf, size_t len, uint64_t at, const struct bd_vmas *vs,
                                struct bd_agent_view *out);

/* pid's beacon: BD_ERR_NOT_FOUND when it maps none. */
struct bd_error *bd_agent_read(struct bd_program *prog, int32_t pid, struct bd_agent_view *out);

#endif
