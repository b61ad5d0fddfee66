/* Plaintext FRAG reassembly (PROTOCOL.md 7, D1, D17): accepted only from reference
 * peers, bounded per peer (FRAG_SETS), per message (FRAG_MAX_MESSAGE), across all peers
 * (FRAG_BUDGET) and in time (FRAG_TIMEOUT_MS). */
#ifndef SW_CORE_REASSEMBLY_H
#define SW_CORE_REASSEMBLY_H

#include "engine.h"

/* The WIRE_FRAG handler (frame registry). */
void reasm_on_frag(void *core, const core_path *from, const uint8_t *buf, size_t len,
                   uint64_t now);
/* Drop the sets that waited FRAG_TIMEOUT_MS. */
void reasm_expire(sw_core *c, core_peer *p, uint64_t now);
uint64_t reasm_deadline(const core_peer *p);
/* Release every set of p. */
void reasm_clear(sw_core *c, core_peer *p);

#endif
