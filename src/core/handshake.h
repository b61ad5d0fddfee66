/* The extended session's handshake (docs/TRANSPORT.md 3-4): Noise IK over X25519,
 * SHA-256 and ChaCha20-Poly1305, with a mac1 that only holders of the responder's
 * public key can compute, and a stateless cookie (RETRY) for handshakes under load.
 *
 * Sans-I/O and allocation-free: the caller supplies randomness, the time, the
 * datagram's source address (as opaque bytes) and the buffers; every decode checks
 * its length before reading. Nothing here touches the peer table: the caller decides
 * whether the static key a HS_INIT carries belongs to a peer it wants. */
#ifndef SW_CORE_HANDSHAKE_H
#define SW_CORE_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

/* Frame types (PROTOCOL.md 1.1, 18.1: unused by the references, ignored by them). */
#define HS_TYPE_INIT 0x42
#define HS_TYPE_RESP 0x43
#define HS_TYPE_RETRY 0x44

#define HS_INIT_LEN 145 /* TRANSPORT.md 4.1 */
#define HS_RESP_LEN 77  /* TRANSPORT.md 4.2 */
#define HS_RETRY_LEN 37 /* TRANSPORT.md 4.3 */
#define HS_COOKIE_LEN 16
#define HS_MAC_LEN 16

/* A cookie is valid in the period it was made and the next (TRANSPORT.md 4.3). */
#define HS_COOKIE_PERIOD_MS 120000u

/* hs_responder_screen: the INIT needs a cookie; a RETRY was written. */
#define HS_SEND_RETRY 1

enum { HS_ROLE_INITIATOR = 1, HS_ROLE_RESPONDER = 2 };

/* One handshake in progress, on either side. Holds secrets: hs_wipe() when done. */
typedef struct hs_state {
  int role;
  int step; /* 0 fresh, 1 INIT written/read, 2 done */
  uint8_t ck[32], h[32], k[32];
  uint64_t n;
  uint8_t e_priv[32], e_pub[32];
  uint8_t re[32]; /* remote ephemeral */
  uint8_t rs[32]; /* remote static */
  uint32_t local_index, remote_index;
  uint8_t suites; /* initiator: offered; responder: what the INIT offered */
  uint8_t cookie[HS_COOKIE_LEN];
  int has_cookie;
  uint8_t last_mac1[HS_MAC_LEN]; /* initiator: of the last INIT, echoed by a RETRY */
  uint64_t timestamp;            /* the INIT's timestamp */
} hs_state;

/* What a finished handshake yields: one traffic secret per direction (xpacket.h). */
typedef struct hs_keys {
  uint8_t send_secret[32];
  uint8_t recv_secret[32];
  uint8_t hash[32]; /* the handshake hash: a channel binding both sides share */
  uint8_t remote_static[32];
  uint32_t local_index, remote_index;
  int suite; /* CRYPTO_SUITE_* */
} hs_keys;

/* The responder's cookie secret: 32 random bytes, kept for the node's lifetime. */
typedef struct hs_cookie_key {
  uint8_t secret[32];
} hs_cookie_key;

void hs_wipe(hs_state *s);
void hs_keys_wipe(hs_keys *k);

/* Initiator. begin: remember the responder's static key (from its HELLO or discovery),
 * draw the ephemeral key from eph_rnd, our session index and the suites we offer
 * (CRYPTO_SUITE_* bits; ChaCha20-Poly1305 is always implied). */
int hs_initiator_begin(hs_state *s, const uint8_t responder_pub[32], const uint8_t eph_rnd[32],
                       uint32_t local_index, uint8_t suites);
/* Write the INIT (again after a RETRY: same ephemeral key, a later timestamp, the
 * cookie). timestamp: milliseconds of wall-clock time, growing across restarts. */
int hs_initiator_write_init(hs_state *s, const crypto_identity *self, uint64_t timestamp,
                            uint8_t out[HS_INIT_LEN]);
/* A RETRY for this handshake: keep its cookie and answer with a new INIT. SW_EINVAL when
 * it is not for us (wrong index, or it does not echo our last INIT's mac1). */
int hs_initiator_on_retry(hs_state *s, const uint8_t *msg, size_t len);
/* Read the RESP: SW_OK with the traffic keys, or SW_EINVAL / SW_ECRYPTO. */
int hs_initiator_read_resp(hs_state *s, const crypto_identity *self, const uint8_t *msg,
                           size_t len, hs_keys *out);

/* Responder. */
void hs_cookie_init(hs_cookie_key *ck, const uint8_t rnd[32]);
/* The cheap checks before any Diffie-Hellman: the length and mac1 (SW_EINVAL when they
 * fail: drop silently); then, when under_load, the cookie: without a valid one for this
 * source address a RETRY is written to retry and HS_SEND_RETRY returned. 0: go on. */
int hs_responder_screen(const crypto_identity *self, const hs_cookie_key *ck, int under_load,
                        const uint8_t *msg, size_t len, const void *addr, size_t addrlen,
                        uint64_t now_ms, uint8_t retry[HS_RETRY_LEN]);
/* Read an INIT. expect_pub: the static key the initiator must have (NULL: any; the
 * caller then checks s->rs). On SW_OK, s->rs, s->timestamp and s->suites are set; the
 * caller refuses a timestamp not above the last one it accepted from that key
 * (hs_replay_fresh), then answers. */
int hs_responder_read_init(hs_state *s, const crypto_identity *self, const uint8_t *msg,
                           size_t len, const uint8_t *expect_pub);
/* Write the RESP, choosing the suite (AES-256-GCM only when both offer it). */
int hs_responder_write_resp(hs_state *s, const crypto_identity *self,
                            const uint8_t eph_rnd[32], uint32_t local_index, uint8_t suites,
                            uint8_t out[HS_RESP_LEN], hs_keys *keys);

/* Replay of an INIT: a per-peer high-water mark of INIT timestamps. 1 and the mark
 * moves when ts is above it, 0 (a replay or an old INIT) otherwise. */
int hs_replay_fresh(uint64_t *last_ts, uint64_t ts);

/* The clear fields, for routing before any crypto (and for the fuzzer). */
typedef struct hs_header {
  uint8_t type;
  uint32_t sender_index;   /* INIT, RESP */
  uint32_t receiver_index; /* RESP, RETRY */
} hs_header;
int hs_header_decode(const uint8_t *msg, size_t len, hs_header *out);

#endif
