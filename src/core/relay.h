/* Relayed connections between libsetowire peers (PROTOCOL.md 15.7): for two peers that
 * cannot punch (symmetric NAT against symmetric, or against a port-restricted one), a
 * peer connected to both carries their datagrams, which stay end-to-end encrypted: the
 * relay sees the session's ciphertext only.
 *
 * Frame CIRCUIT 0x24 (ours; reference peers ignore unknown types):
 *   0x24, direction (0: to the relay, 1: from the relay), 8-byte wire id (to the relay:
 *   the target; from the relay: the origin), the inner datagram.
 * A relay (sw_options.relay, or a NAT found open or full cone) forwards what a verified
 * peer sends, in its own name, to a connected target, within bounds: RELAY_CIRCUITS
 * circuits in all, RELAY_PER_PEER per peer, RELAY_CIRCUIT_BYTES and RELAY_CIRCUIT_MS per
 * circuit. The far end hands the inner datagram to the engine's relayed entry
 * (core_datagram_relayed), so a session forms over it like over a direct path; answers
 * go back through the same relay. A peer that met someone (the meet gate) and is still
 * not connected to it RELAY_AFTER_MS later dials it through up to RELAY_TRY peers. */
#ifndef SW_CORE_RELAY_H
#define SW_CORE_RELAY_H

#include <stdint.h>

#include "addr.h"
#include "core.h"

#define RELAY_AFTER_MS 3000             /* ours: punching had its chance (15.4: 2.1 s) */
#define RELAY_TRY 3                     /* ours: peers asked to relay one dial */
#define RELAY_DIAL_ROUNDS 3             /* ours: relayed HELLOs per fallback (one may be lost) */
#define RELAY_DIAL_EVERY_MS 1000        /* ours: between those rounds */
#define RELAY_PENDING 32                /* ours: dials watched for a relayed retry */
#define RELAY_CIRCUITS 64               /* ours: circuits a relay carries */
#define RELAY_PER_PEER 8                /* ours: circuits one peer may hold */
#define RELAY_PER_ADDR 16               /* ours: circuits opened from one IP (many ids) */
#define RELAY_CIRCUIT_BYTES (64u << 20) /* ours: bytes one circuit may carry */
#define RELAY_CIRCUIT_MS (30u * 60000u) /* ours: how long one circuit may live */
#define RELAY_IDLE_MS 120000            /* ours: a circuit unused this long is dropped */
#define RELAY_HDR 10
#define RELAY_PROVE_MS 1000            /* ours: a proof to a relay with our traffic, at most */
#define RELAY_PROOFS 8                  /* ours: relays whose last proof time is kept */
#define RELAY_ANN_MS 30000              /* PROTOCOL.md 19: RELAY_ANN every 30 s (15.3) */
#define RELAY_ANN_PEERS 64              /* ours: reference peers told per round */
#define RELAY_KNOWN 20                  /* PROTOCOL.md 19 RELAY_MAX: relays remembered */
#define RELAY_ANN_MAX (10 + 45 + 2)

typedef struct relay_stats {
  uint64_t forwarded, forwarded_bytes, delivered, refused, dials, circuits;
  uint64_t anns_sent, anns_in; /* RELAY_ANN sent to reference peers, taken from peers */
} relay_stats;

/* Serve as a relay or not (the NAT module turns it on for open and full-cone NATs). A
 * serving relay sends RELAY_ANN to its reference peers every RELAY_ANN_MS and announces
 * relay: records in the DHT when the DHT runs. */
void relay_serve(sw_core *c, int on);
/* The relays RELAY_ANN told us of (at most RELAY_KNOWN; ids and addrs may be NULL):
 * informational only, since a reference relay carries no CIRCUIT. Returns how many. */
size_t relay_known(sw_core *c, uint8_t (*ids)[8], sw_addr *addrs, size_t max);
/* RELAY_ANN (PROTOCOL.md 11.7): decode as the references read it (SW_EINVAL when
 * malformed; never reads past len); encode writes at most RELAY_ANN_MAX bytes. */
int relay_ann_decode(const uint8_t *buf, size_t len, uint8_t id[8], sw_addr *addr);
size_t relay_ann_encode(uint8_t *out, const uint8_t id[8], const sw_addr *addr);
int relay_get_stats(sw_core *c, relay_stats *out, int *serving);

extern const struct core_module_def relay_module;

#endif
