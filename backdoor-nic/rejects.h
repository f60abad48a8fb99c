/* Connection requests refused before any resource is spent on them,
 * audited per address and reason at most once a second: the first as it
 * happens, the rest counted and written as one summary line when that
 * second is over. A connection request costs its sender one packet, so an
 * address that floods them would otherwise write an audit line per packet
 * (150 a second from one emulated lab VM; a real NIC sends far more) and
 * fill the disk the audit log is on. Counts stay exact: every refusal is
 * either a line of its own or counted in a summary.
 *
 * The table holds BD_REJECTS_SOURCES (address, reason) pairs; a new pair
 * takes the place of the one audited longest ago, whose count is written
 * first. Time is passed in, so the logic is tested without a clock. */
#ifndef BD_NIC_REJECTS_H
#define BD_NIC_REJECTS_H

#include <stdint.h>

#define BD_REJECTS_SOURCES  64
#define BD_REJECTS_EVERY_NS 1000000000ull

struct bd_reject_source {
        char host[64];
        const char *reason; /* a string constant: pairs are told apart by it */
        uint64_t since_ns;  /* when the current second began; 0: slot free */
        unsigned long held; /* refused since, not yet audited */
};

struct bd_rejects {
        struct bd_reject_source src[BD_REJECTS_SOURCES];
};

/* A refusal of peer (address:port) from host, for reason (a string
 * constant), at now_ns (> 0). */
void bd_rejects_note(struct bd_rejects *r, const char *peer, const char *host, const char *reason,
                     uint64_t now_ns);
/* Writes the counts of the seconds that are over (all of them with all);
 * returns the nanoseconds until the next one ends, or UINT64_MAX. */
uint64_t bd_rejects_flush(struct bd_rejects *r, uint64_t now_ns, int all);

#endif
