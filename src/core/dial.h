/* Dialling (PROTOCOL.md 15.4, 14.2): a bounded table of addresses being dialled, each
 * sent PUNCH_TRIES HELLOs PUNCH_INTERVAL_MS apart and forgotten after DIAL_EXPIRY_MS or
 * once a session forms; and the meet gate every discovery source ends in (D10, D19). */
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

#endif
