/* Pre-shared-key challenge-response for both directions, so a monitor never
 * trusts a fake NIC and a NIC never serves an unkeyed peer. */
#ifndef BD_AUTH_H
#define BD_AUTH_H

#include <stdint.h>

#include "error.h"
#include "wire.h"

#define BD_KEY_LEN 32

struct bd_key {
        uint8_t bytes[BD_KEY_LEN];
};

/* Key files hold 64 hex digits (and optional whitespace); anything else is
 * refused so that a truncated or wrong file cannot become a weak key. */
struct bd_error *bd_key_load(const char *path, struct bd_key *key);
struct bd_error *bd_key_parse(const char *text, struct bd_key *key);

void bd_auth_nonce(uint8_t nonce[BD_NONCE_LEN]);

/* What ties a handshake to one connection: both ends' queue pair numbers
 * and addresses as this end sees them, monitor first. A relay between a
 * monitor and a NIC is a different end on each side, so a proof made on
 * one side of it does not check out on the other. */
struct bd_auth_channel {
        uint32_t monitor_qpn, nic_qpn;
        uint8_t monitor_addr[16], nic_addr[16]; /* IPv6, or IPv4-mapped */
};

/* The monitor proves the key over (nic nonce, monitor nonce, channel); the
 * NIC answers over the same nonces in the other order with its own label,
 * the channel and the window table it sends (so a relay can change none
 * of it), so a reply can never be replayed as a proof. */
void bd_auth_monitor_mac(const struct bd_key *key, const uint8_t nic_nonce[BD_NONCE_LEN],
                         const uint8_t mon_nonce[BD_NONCE_LEN], const struct bd_auth_channel *ch,
                         uint8_t mac[BD_MAC_LEN]);
void bd_auth_nic_mac(const struct bd_key *key, const uint8_t nic_nonce[BD_NONCE_LEN],
                     const uint8_t mon_nonce[BD_NONCE_LEN], const struct bd_auth_channel *ch,
                     const struct bd_window_desc *windows, uint32_t nwindows,
                     uint8_t mac[BD_MAC_LEN]);
/* Constant-time comparison; returns 1 when equal. */
int bd_auth_mac_equal(const uint8_t a[BD_MAC_LEN], const uint8_t b[BD_MAC_LEN]);

#endif
