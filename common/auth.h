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
        /* Each end's UC queue pair as the HELLO and AUTH named them (0:
         * none): a relay that names its own is a different channel. */
        uint32_t monitor_uc_qpn, nic_uc_qpn;
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
/* A message on the UC queue pairs carries its sender's counter and a MAC
 * (keyed BLAKE2b) behind it. UC takes a message whatever its packet sequence number, so
 * anyone who can reach the port and guesses the queue pair could put one
 * in; what the MAC covers, under a key of this session only (derived from
 * the pre-shared key, both nonces and the channel), is the direction, the
 * counter and the message, and a counter is taken only above the last one
 * taken: a forged, replayed or reflected message is dropped. */
#define BD_SEAL_LEN (8 + BD_MAC_LEN)

struct bd_seal {
        uint8_t key[BD_KEY_LEN];
        uint8_t out_label, in_label; /* this end's direction, the peer's */
        uint64_t sent, taken;        /* the last counter sealed, and taken */
};

void bd_seal_init(struct bd_seal *s, const struct bd_key *key,
                  const uint8_t nic_nonce[BD_NONCE_LEN], const uint8_t mon_nonce[BD_NONCE_LEN],
                  const struct bd_auth_channel *ch, int nic_side);
/* Seal the len bytes of buf, which has room for BD_SEAL_LEN more behind
 * them; returns the sealed length. */
size_t bd_seal_close(struct bd_seal *s, uint8_t *buf, size_t len);
/* The length of the message inside len sealed bytes of buf, or 0 when the
 * seal does not check out or its counter was taken already. */
size_t bd_seal_open(struct bd_seal *s, const uint8_t *buf, size_t len);

/* Constant-time comparison; returns 1 when equal. */
int bd_auth_mac_equal(const uint8_t a[BD_MAC_LEN], const uint8_t b[BD_MAC_LEN]);

#endif
