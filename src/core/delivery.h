/* Delivery (PROTOCOL.md 6, 13): DATA frames in order to the application, once each
 * (content dedup, 6.2), reference gossip kept out of the application (D14), flooding to
 * the mesh except the last hop (6.3), and the mesh itself (13.2). */
#ifndef SW_CORE_DELIVERY_H
#define SW_CORE_DELIVERY_H

#include "engine.h"

/* The WIRE_DATA handler (frame registry): authenticate (session.c), order (jitter.h),
 * deliver. */
void delivery_on_data(void *core, const core_path *from, const uint8_t *buf, size_t len,
                      uint64_t now);
/* Deliver one message from p once, and flood it on. */
void delivery_deliver(sw_core *c, core_peer *from, const uint8_t *msg, size_t len,
                      uint64_t now);
/* A kind 4 stream entry from p (XPORT_ORIGIN): the author's id and the message id
 * (XPORT_ORIGIN_HDR bytes), then the message. Delivered once per (author, message id)
 * rather than once per content, reported with its origin, flooded on with it. */
void delivery_origin(sw_core *c, core_peer *from, const uint8_t *entry, size_t len,
                     uint64_t now);
/* A kind 5 stream entry from p (XPORT_SIGNED): the kind 4 header, the author's
 * signature, then the message. As kind 4, and checked against the author's signing key
 * when a binding is known (origin.h): a forged one is dropped and counted. */
void delivery_signed(sw_core *c, core_peer *from, const uint8_t *entry, size_t len,
                     uint64_t now);
/* The dedup key of an origin header (author id, message id). */
uint64_t delivery_origin_key(const uint8_t *hdr);
/* Ask for the duplicate set's line of a kind 4 entry's origin (hdr: XPORT_ORIGIN_HDR
 * bytes) ahead of its delivery, so that the lookup then finds it in the cache. */
void delivery_prefetch_origin(const sw_core *c, const uint8_t *hdr);
/* A unicast from p (sw_core_send, SW_SEND_UNICAST): to the application only, never
 * flooded on and outside the content dedup, so the same bytes sent twice arrive twice. */
void delivery_direct(sw_core *c, core_peer *from, const uint8_t *msg, size_t len);
/* Deliver what p's reorder buffer has ready at `now` (timeouts release gaps). */
void delivery_drain(sw_core *c, core_peer *p, uint64_t now);
/* Our own message must not come back to us through the mesh (a local fix, 6.2). */
void delivery_remember_own(sw_core *c, const void *data, size_t len, uint64_t now);
size_t delivery_mesh_count(const sw_core *c);
/* PROTOCOL.md 13.2: refill below D_LOW with the best scores, trim above D_HIGH. */
void delivery_maintain_mesh(sw_core *c);
/* Put p in our mesh and tell it (SEALED_GRAFT) when it is a libsetowire peer. */
void delivery_mesh_add(sw_core *c, core_peer *p);
/* p has us in its mesh: it joins ours too while the mesh is under MESH_HIGH. */
void delivery_on_graft(sw_core *c, core_peer *p);
/* p's address has just proven it receives: a GRAFT we sent before may have gone where
 * nothing heard it (a peer that makes its side of the session only once the address
 * answered, guard.h), so a mesh peer hears it again. */
void delivery_graft_again(sw_core *c, core_peer *p);

#endif
