/* A minimal relay module for tests: enough to carry one peer's datagrams to another
 * through a third, so the engine's relayed paths can be exercised before the real relay
 * (the NAT traversal work) exists. Frame RELAYT: type, direction, 8-byte wire id, inner
 * datagram. Towards the relay the id names the target; from the relay, the origin. Only
 * verified peers are heard. */
#ifndef SW_TEST_MOD_RELAY_H
#define SW_TEST_MOD_RELAY_H

#include <stdint.h>

#include "core_internal.h"

#define RELAYT_TYPE 0x7A /* unassigned in wire.h */

typedef struct relayt_stats {
  unsigned forwarded, delivered, refused;
} relayt_stats;

extern const core_module_def relayt_module;

/* Dial `target` through the connected peer `relay` (a HELLO along the relayed path). */
int relayt_dial(sw_core *c, const uint8_t relay[8], const sw_addr *relay_addr,
                const uint8_t target[8], uint64_t now);
const relayt_stats *relayt_stats_of(sw_core *c);

#endif
