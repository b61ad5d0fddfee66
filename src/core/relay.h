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

#include "core.h"

#define RELAY_AFTER_MS 3000             /* ours: punching had its chance (15.4: 2.1 s) */
#define RELAY_TRY 3                     /* ours: peers asked to relay one dial */
#define RELAY_PENDING 32                /* ours: dials watched for a relayed retry */
#define RELAY_CIRCUITS 64               /* ours: circuits a relay carries */
#define RELAY_PER_PEER 8                /* ours: circuits one peer may hold */
#define RELAY_CIRCUIT_BYTES (64u << 20) /* ours: bytes one circuit may carry */
#define RELAY_CIRCUIT_MS (30u * 60000u) /* ours: how long one circuit may live */
#define RELAY_IDLE_MS 120000            /* ours: a circuit unused this long is dropped */
#define RELAY_HDR 10

typedef struct relay_stats {
  uint64_t forwarded, forwarded_bytes, delivered, refused, dials, circuits;
} relay_stats;

/* Serve as a relay or not (the NAT module turns it on for open and full-cone NATs). */
void relay_serve(sw_core *c, int on);
int relay_get_stats(sw_core *c, relay_stats *out, int *serving);

extern const struct core_module_def relay_module;

#endif
