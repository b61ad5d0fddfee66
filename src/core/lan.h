/* LAN discovery (PROTOCOL.md 11.9): a beacon `0x09 <full-id hex>:<LAN IP>:<port>:<topic
 * hash>` to 239.0.0.1:45678 every 5 s on the LAN socket, and a receiver that meets the
 * peers whose beacons carry our topic. A protocol module (core_internal.h). */
#ifndef SW_CORE_LAN_H
#define SW_CORE_LAN_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "crypto.h"

#define LAN_GROUP SW_CORE_LAN_GROUP /* PROTOCOL.md 19 MCAST_ADDR (core.h) */
#define LAN_PORT SW_CORE_LAN_PORT   /* PROTOCOL.md 19 MCAST_PORT (core.h) */
#define LAN_PERIOD_MS 5000      /* PROTOCOL.md 11.9: every 5 s, the first 5 s after start */
#define LAN_MEET_RATE_PER_S 2   /* ours: dials beacons may cause, on top of core_meet's */
#define LAN_MEET_BURST 10       /* limit, so that forged beacons cannot spend its tokens */
#define LAN_BEACON_MAX 128      /* ours: 1 + 40 + 1 + 15 + 1 + 5 + 1 + 12 = 76 is the most
                                   a valid beacon needs; anything longer is refused */

typedef struct lan_beacon {
  uint8_t id[20];                     /* the full id */
  sw_addr addr;                       /* LAN IP and main port (IPv4: D21) */
  char topic[CRYPTO_TOPIC_HASH_LEN + 1]; /* empty before the sender joined */
} lan_beacon;

/* Encode a beacon; topic_hash may be NULL or "". Returns the length, or 0 when it does
 * not fit `cap` or the address is not IPv4. */
size_t lan_beacon_encode(uint8_t *out, size_t cap, const uint8_t id[20], const sw_addr *addr,
                         const char *topic_hash);

/* Parse a beacon strictly: 3 or 4 fields, a 40-hex id, a dotted-quad IPv4, a port in
 * 1..65535, a topic hash of 12 hex chars or empty. SW_OK or SW_EINVAL. */
int lan_beacon_parse(const uint8_t *buf, size_t len, lan_beacon *out);

typedef struct lan_stats {
  uint64_t sent, received, malformed, own, other_topic, not_joined, connected, met;
  uint64_t over_budget; /* beacons not met: the LAN's own dial budget was spent */
} lan_stats;

typedef struct lan lan;

/* Create the module and register it. Beacons carry the engine's LAN address
 * (core_lan_addr: the configured lan_ip and main port; not IPv4 or no port: receive
 * only). */
int lan_attach(sw_core *c, const sw_core_config *cfg, uint64_t now, lan **out);
void lan_get_stats(const lan *l, lan_stats *out);

/* The module as the engine attaches it (core_internal.h, modules.c). */
extern const struct core_module_def lan_module;

#endif
