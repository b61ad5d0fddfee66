/* The peer table: a fixed array of max_peers slots, found by wire id. A slot is taken by
 * session.c when a handshake completes and released here. */
#ifndef SW_CORE_PEERS_H
#define SW_CORE_PEERS_H

#include "engine.h"

core_peer *peers_find(sw_core *c, const uint8_t wire[8]);
/* A free slot, zeroed, or NULL at max_peers. */
core_peer *peers_take_slot(sw_core *c);
/* Release everything p holds (keys, buffers, fragments, a challenge) and free its slot. */
void peers_clear(sw_core *c, core_peer *p);
/* Drop a connected peer: SW_EV_DISCONNECT with `reason` (an sw_reason) and the modules'
 * on_disconnect follow. */
void peers_remove(sw_core *c, core_peer *p, int reason);

#endif
