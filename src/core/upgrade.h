/* Relayed -> direct upgrade between libsetowire peers (PROTOCOL.md 15.8): a timed
 * simultaneous open coordinated over the relayed session, as libp2p's DCUtR does.
 *
 * Frame PUNCH 0x25 (ours; reference peers ignore unknown types):
 *   0x25, kind (1 CONNECT, 2 SYNC), 4-byte attempt nonce, address count n (<= 4), then n
 *   addresses: family (4 or 6), the IP (4 or 16 bytes), the port (u16be).
 * Of two peers connected through a relay, the one with the lower wire id initiates: it
 * sends CONNECT with its addresses (public, then LAN) and starts a clock; the other
 * answers CONNECT with its own; the initiator, now knowing the relayed RTT, sends SYNC
 * and fires its punch (the dial schedule, 15.4) toward the other's addresses RTT/2 later,
 * while the other fires as SYNC arrives, so both NATs open at about the same moment.
 * Attempts start UPGRADE_SCHEDULE after the relayed session forms, while it is still
 * relayed, then stop. Taken only from a verified libsetowire peer on a relayed path; a
 * responder answers one CONNECT per peer each UPGRADE_ANSWER_MS and fires only on the SYNC
 * of the attempt it answered, through the meet gate's rate limit (D19). When a direct
 * path proves itself the engine moves the traffic there and emits SW_EV_PATH. */
#ifndef SW_CORE_UPGRADE_H
#define SW_CORE_UPGRADE_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define UPGRADE_CONNECT 1
#define UPGRADE_SYNC 2
#define UPGRADE_MAX_ADDRS 4
#define UPGRADE_HDR 7                                  /* type, kind, nonce, count */
#define UPGRADE_FRAME_MAX (UPGRADE_HDR + UPGRADE_MAX_ADDRS * 19)
#define UPGRADE_PEERS 32         /* ours: relayed peers followed at once */
#define UPGRADE_ATTEMPTS 4       /* ours: attempts per relayed session */
#define UPGRADE_CHECK_MS 2000    /* ours: how often relayed peers are looked for */
#define UPGRADE_WAIT_MS 10000    /* ours: a CONNECT unanswered this long is dropped */
#define UPGRADE_ANSWER_MS 10000  /* ours: one answered CONNECT per peer this often */
#define UPGRADE_RTT_MAX_MS 5000  /* ours: longer measured RTTs are not believed */
/* Attempt k starts this long after the relayed session was noticed (0 s, 30 s, 2 min,
 * 10 min): a NAT whose state changes (a mapping timing out, a restarted router, a
 * different network) gets a few chances, and a pair that cannot punch costs four
 * exchanges in all. */
#define UPGRADE_SCHEDULE {0, 30000, 120000, 600000}

typedef struct upgrade_msg {
  uint8_t kind;
  uint32_t nonce;
  size_t naddrs;
  sw_addr addrs[UPGRADE_MAX_ADDRS];
} upgrade_msg;

/* SW_OK or SW_EINVAL: never reads past len. */
int upgrade_decode(const uint8_t *buf, size_t len, upgrade_msg *m);
/* Writes at most UPGRADE_FRAME_MAX bytes; returns the length (0 for a bad message). */
size_t upgrade_encode(uint8_t *out, const upgrade_msg *m);

typedef struct upgrade_stats {
  uint64_t connects_sent, connects_in, syncs_sent, syncs_in, fired, upgraded, refused,
      exhausted;
} upgrade_stats;
int upgrade_get_stats(sw_core *c, upgrade_stats *out);

extern const struct core_module_def upgrade_module;

#endif
