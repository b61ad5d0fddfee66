/* The send path (PROTOCOL.md 8): per-peer batches (8.2), DATA and FRAG building, room in
 * the output ring, and the output ring as the runtime drains it. Every datagram to a
 * peer passes the peer's congestion seam (cc.h) here. */
#ifndef SW_CORE_SEND_H
#define SW_CORE_SEND_H

#include "engine.h"

#define SEALED_INNER_MAX (1 + WIRE_CHALLENGE_LEN)
#define SEALED_FRAME_MAX (WIRE_DATA_HDR + SEALED_INNER_MAX + CRYPTO_TAG_LEN)

/* Room for data of `bytes` more, keeping what open batches and control frames need. */
int send_room(const sw_core *c, size_t bytes);
/* Whether `bytes` could ever be queued, even with the ring empty. */
int send_fits_ever(const sw_core *c, size_t bytes);
/* A control datagram on a path (the control reserve; counted as dropped when full). */
void send_raw(sw_core *c, const core_path *to, const uint8_t *buf, size_t len);
/* Close p's open batch into the ring. */
void send_batch_close(sw_core *c, core_peer *p);
/* One message to one peer, as DATA (or plaintext FRAG when the user asked for it and
 * the peer is a reference). The caller has checked room (send_room). */
int send_message(sw_core *c, core_peer *p, const uint8_t *msg, size_t len);
/* A sealed control frame (PROTOCOL.md 21.2) at out (SEALED_FRAME_MAX bytes of room);
 * returns its length, 0 on failure. */
size_t send_build_sealed(core_peer *p, uint8_t *out, const uint8_t *inner, size_t n);
void send_sealed_to(sw_core *c, core_peer *p, const core_path *to, const uint8_t *inner,
                    size_t n);
void send_sealed(sw_core *c, core_peer *p, uint8_t inner);
void send_hello(sw_core *c, uint8_t type, const core_path *to);
/* ours: how long a unicast (sw_core_send) waits with SW_EAGAIN for an extended session
 * being made before SW_ENOTSUP: past the initiator's last HS_INIT (TRANSPORT.md 4.5) */
#define UNICAST_WAIT_MS 35000
/* Unicasts told SW_EAGAIN while an extended session was made: SW_EV_WRITABLE once each
 * such session is confirmed or given up (sw_core_flush calls it). */
void unicast_waiters(sw_core *c, uint64_t now);

#endif
