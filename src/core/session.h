/* Sessions (PROTOCOL.md 4, 5.2, 21): the HELLO/HELLO_ACK handshake and key derivation,
 * authenticating every encrypted frame against the peer's replay window, telling a
 * restart from a replay, the restart challenge between libsetowire peers (21.3), and
 * the sealed control frames (21.2). */
#ifndef SW_CORE_SESSION_H
#define SW_CORE_SESSION_H

#include "engine.h"

/* The WIRE_HELLO / WIRE_HELLO_ACK and WIRE_SEALED handlers (frame registry). */
void session_on_hello(void *core, const core_path *from, const uint8_t *buf, size_t len,
                      uint64_t now);
/* A HELLO kept under load (guard_pend) whose address then answered our PING: make its
 * peer now as session_on_hello would have, without another HELLO_ACK. 1 when a peer
 * without sealed frames (a reference) was made, 2 for a libsetowire peer, 0 none. */
int session_hello_answered(sw_core *c, const sw_addr *from, const uint8_t *buf, size_t len,
                           uint64_t now);
void session_on_sealed(void *core, const core_path *from, const uint8_t *buf, size_t len,
                       uint64_t now);

/* What session_open found: *restart is one of these. */
enum { SESSION_SAME = 0, SESSION_RESTART = 1, SESSION_SUSPECT = 2 };

/* Authenticate an encrypted frame (DATA or SEALED) and find its peer: by path, else by
 * the session id in the nonce (D8). The plaintext lands in c->scratch, its length in
 * *ptlen. Returns the peer, or NULL when the frame is dropped. With SESSION_SUSPECT
 * nothing is recorded: the frame is a libsetowire peer's restart, or a replay, until
 * the peer answers a challenge (session_suspect). */
core_peer *session_open(sw_core *c, const core_path *from, const uint8_t *buf, size_t len,
                        size_t *ptlen, int *restart, uint64_t now);
/* Challenge the path a suspect frame came from, and hold the frame until the answer. */
void session_suspect(sw_core *c, core_peer *p, const core_path *from, const uint8_t *buf,
                     size_t len, uint64_t now);
/* Forget p's challenge and the frames it held (they were never proven). */
void session_challenge_clear(sw_core *c, core_peer *p);
/* Drop a challenge that waited CHALLENGE_MS. */
void session_expire(sw_core *c, core_peer *p, uint64_t now);
uint64_t session_deadline(const core_peer *p);

#endif
