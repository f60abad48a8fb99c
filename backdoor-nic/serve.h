/* The NIC's service loop: accepts rdma_cm connections, authenticates each
 * peer, then serves its windows. Single-threaded; a connection's state lives
 * in its own protection domain and is torn down on disconnect.
 *
 * Peers are not trusted to cooperate: a connection that does not
 * authenticate in time, does not take a REFUSED, or does not complete a
 * disconnect is ended by a deadline; connections that are not serving are
 * capped per address (more are refused before any resource is spent on
 * them) and, when the table is full, the oldest of them makes room (an
 * authenticated one is never ended for another); a peer that takes
 * no sends stalls only its own answers, and is disconnected after 2 s; its
 * pinned bounce buffer is allocated only once it has authenticated. */
#ifndef BD_SERVE_H
#define BD_SERVE_H

#include "../common/auth.h"
#include "window.h"

struct bd_nic_config {
        const char *listen_addr; /* numeric IPv4/IPv6 or host name */
        int port;
        struct bd_key key;
        /* With allow_write: the writers' key, when it is not key (whose
         * holders then only read). */
        struct bd_key write_key;
        int has_write_key;
        struct bd_nic_window windows[BD_MAX_WINDOWS];
        unsigned nwindows;
        int allow_write;
        int busy_poll;
        /* Keep polling this long after activity before sleeping;
         * BD_SPIN_AUTO: as long as the requests' own pace says the next is
         * near (bd_nic_spin_window). */
        int spin_us;
        int auth_timeout_ms;
        unsigned max_connections;
        /* Connections from one address that may be not serving (still
         * authenticating, refused, closing); more are refused. */
        unsigned max_unauth_per_source;
};

#define BD_SPIN_AUTO (-1)
/* BD_SPIN_AUTO's longest window: requests further apart are no burst. A
 * monitor's dependent reads come a round trip and its own work apart:
 * microseconds on a real fabric, 0.7-2 ms in the lab's emulation; watch's
 * probes, 10 ms apart by default, are no burst. */
#define BD_SPIN_AUTO_MAX_NS 4000000ull

/* How long to poll after activity before sleeping, given the gap between
 * the last two requests (UINT64_MAX: one request so far). A sleeping NIC
 * pays a wake-up on every request, a large part of a mediated read's cost
 * when the round trip is microseconds; polling through a quiet stretch
 * costs a CPU for nothing (and, in the lab, where a round trip is a
 * millisecond, the emulated CPUs polling steal from the others). */
uint64_t bd_nic_spin_window(int spin_us, uint64_t request_gap_ns);

struct bd_nic;

/* Bind and listen; after this returns the NIC is reachable. */
struct bd_error *bd_nic_listen(const struct bd_nic_config *cfg, struct bd_nic **out);
/* Serve until *stop becomes non-zero (set from a signal handler). */
struct bd_error *bd_nic_run(struct bd_nic *nic, volatile int *stop);
void bd_nic_destroy(struct bd_nic *nic);

#endif
