/* Admission control for new peers (docs/THREATS.md "Main socket"): a HELLO proves
 * nothing about its source address, so the peers whose address has not answered a
 * challenge yet (unproven, guard.h) live in a small pool of their own, bounded in all
 * and per IP, and a full table makes room by dropping the longest silent unproven
 * peer, never a proven one. Proven peers are bounded per IP and per /24 (/48) so that
 * one host or one network with many identities cannot take every slot. Loopback is
 * exempt from the per-IP and per-prefix bounds (every local process shares it). */
#ifndef SW_CORE_ADMIT_H
#define SW_CORE_ADMIT_H

#include "engine.h"

#define ADMIT_UNPROVEN_MAX 32      /* unproven peers in all */
#define ADMIT_UNPROVEN_PER_IP 4    /* unproven peers per IP */
#define ADMIT_PER_IP_DIV 4         /* peers per IP: at most max_peers / 4 (25 of 100) */
#define ADMIT_PER_PREFIX_DIV 2     /* peers per /24 or /48: max_peers / 2 (50 of 100) */
#define ADMIT_YOUNG_MS 1000        /* an unproven peer younger than this is not displaced by
                                    * another from its IP: the newcomer's dial retries */

/* Under load: the unproven pool is full. A HELLO from a stranger then makes no peer
 * until its address answers a PING (session.c, guard_pend): a flood of HELLOs from
 * fresh identities costs a HELLO_ACK each and a few bytes in the guard's records. */
int admit_loaded(sw_core *c);
/* Whether p's traffic goes to an address that has proven itself (or through a relay). */
int admit_proven(const core_peer *p);
/* Make room for a new peer whose HELLO came from `from`: 1 when it may be created
 * (unproven peers may have been dropped to make room), 0 when it must be refused. */
int admit_peer(sw_core *c, const core_path *from, uint64_t now);

#endif
