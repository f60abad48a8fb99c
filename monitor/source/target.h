/* Targets: the machines a monitor watches, named in a config file or given
 * on the command line, and how to open a physical-memory source for each.
 *
 * Config file lines (# starts a comment):
 *   NAME  HOST[:PORT]       key=KEYFILE    a target behind a Backdoors NIC
 *   NAME  rdma:HOST[:PORT]  key=KEYFILE    the same, spelled out
 *   NAME  file:PATH                        a RAM file or vmcore on this machine
 */
#ifndef BD_TARGET_H
#define BD_TARGET_H

#include "../../common/error.h"
#include "phys.h"

#define BD_DEFAULT_CONFIG "/etc/backdoors/targets"

enum bd_target_kind {
        BD_TARGET_NIC = 1,
        BD_TARGET_FILE = 2,
};

struct bd_target {
        char name[64];
        enum bd_target_kind kind;
        char host[128];
        int port;
        char key[512];
        char path[1024];
};

/* Parse a source spec (file:PATH, rdma:HOST[:PORT]) as an unnamed target. */
struct bd_error *bd_target_parse_spec(const char *spec, const char *key, struct bd_target *out);
/* Parse one config line; returns 1 for a target, 0 for a blank/comment line. */
int bd_target_parse_line(const char *line, struct bd_target *out, struct bd_error **err);
/* A spelled-out source (file:, rdma:) or else a name from the config. */
struct bd_error *bd_target_resolve(const char *config, const char *name_or_spec, const char *key,
                                   struct bd_target *out);
/* Look a name up in the config file. */
struct bd_error *bd_target_lookup(const char *config, const char *name, struct bd_target *out);
/* Every target in the config, for listings; *n receives the count. */
struct bd_error *bd_target_list(const char *config, struct bd_target *out, unsigned cap,
                                unsigned *n);

/* The names of every target in the config, in file order: *names is
 * malloc'd (free it), *n of them; at most BD_TARGETS_MAX. */
#define BD_TARGETS_MAX (1u << 20)
struct bd_error *bd_target_names(const char *config, char (**names)[64], unsigned *n);

struct bd_open_options {
        int write_enabled;
        int timeout_ms;
        int busy_poll;
        int rc_only; /* bd_nic_options */
};
struct bd_error *bd_target_open(const struct bd_target *t, const struct bd_open_options *o,
                                struct bd_phys **out);

#endif
