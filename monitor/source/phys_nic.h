/* The NIC source: a Backdoors NIC (bdnicd) reached over RDMA. */
#ifndef BD_PHYS_NIC_H
#define BD_PHYS_NIC_H

#include "phys.h"

struct bd_nic_options {
        const char *host;
        int port;
        const char *key_path;
        int timeout_ms;
        int busy_poll; /* spin on completions (default) or sleep */
        int rc_only;   /* no UC queue pair: small reads over RC too (wire.h) */
};
struct bd_error *bd_phys_open_nic(const struct bd_nic_options *opt, struct bd_phys **out);

#endif
