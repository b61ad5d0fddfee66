/* Dialling (PROTOCOL.md 15.4, 14.2): a bounded table of addresses being dialled, each
 * attempt sending PUNCH_TRIES HELLOs PUNCH_INTERVAL_MS apart and lasting dial_timeout_ms
 * (DIAL_EXPIRY_MS by default); dial_retries more attempts follow with a doubling delay,
 * then SW_EV_DIAL_FAILED. Forgotten once a session forms. And the meet gate every
 * discovery source ends in (D10, D19): besides its token bucket (MEET_RATE_PER_S,
 * MEET_BURST), the dials it starts are bounded per target IP and per /24 (/48):
 * DIAL_PER_IP and DIAL_PER_PREFIX in flight, DIAL_IP_PER_MIN and DIAL_PREFIX_PER_MIN
 * started per minute (engine.h; docs/THREATS.md "Dials"), loopback exempt, so records
 * naming one victim network make at most that many dials whatever their number. The
 * application's own dials (sw_core_dial, sw_swarm_connect) are not bounded this way:
 * it chose the address; they count as in flight for discovery's bounds. */
#ifndef SW_CORE_DIAL_H
#define SW_CORE_DIAL_H

#include "engine.h"

/* Send the HELLOs that are due and expire old dials. */
void dial_run(sw_core *c, uint64_t now);
uint64_t dial_deadline(const sw_core *c);
/* A session formed on `path` with `wire`: stop dialling it. */
void dial_forget(sw_core *c, const core_path *path, const uint8_t wire[8]);
/* Whether a HELLO answering on `path` with this key digest may form a session: when we
 * dialled that address knowing the full id, the key must hash to it (D2). */
int dial_answer_matches(sw_core *c, const core_path *path, const uint8_t digest[32]);
void dial_cancel_all(sw_core *c);
/* Whether we are dialling the direct address of `path`. */
int dial_active(sw_core *c, const core_path *path);
/* The topic whose discovery started a dial matching `path` or `wire` (as dial_forget
 * matches): 1 with it copied to out, or 0. */
int dial_topic(sw_core *c, const core_path *path, const uint8_t wire[8], uint8_t out[32]);

#endif
