/* Liveness (PROTOCOL.md 9, 10): PING/PONG with the RTT they measure (fed to the
 * congestion seam, cc.h), the plain GOAWAY (a hint that starts a liveness check), and
 * the heartbeat that pings every peer, marks loss and drops the silent ones
 * (PEER_TIMEOUT_MS) and those a GOAWAY's check found gone. */
#ifndef SW_CORE_LIVENESS_H
#define SW_CORE_LIVENESS_H

#include "engine.h"

/* Frame registry handlers: WIRE_PING, WIRE_PONG, WIRE_GOAWAY. */
void liveness_on_ping(void *core, const core_path *from, const uint8_t *buf, size_t len,
                      uint64_t now);
void liveness_on_pong(void *core, const core_path *from, const uint8_t *buf, size_t len,
                      uint64_t now);
void liveness_on_goaway(void *core, const core_path *from, const uint8_t *buf, size_t len,
                        uint64_t now);
/* Every HEARTBEAT_MS (9.4). */
void liveness_heartbeat(sw_core *c, uint64_t now);

#endif
