/* The extended session's packet protection (docs/TRANSPORT.md 5-6): one AEAD per
 * datagram, a 14-byte clear header (type, flags with the key phase, the receiver's
 * session index, a 64-bit packet number) authenticated as associated data, the nonce
 * made from a per-key IV and the packet number, key updates in both directions, and a
 * replay window on packet numbers.
 *
 * Hot path: one EVP_CIPHER_CTX per key, keyed once; per packet only the IV is set.
 * Sans-I/O: the caller passes the time; the only allocations are the cipher contexts,
 * made at init and at a key update. */
#ifndef SW_CORE_XPACKET_H
#define SW_CORE_XPACKET_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "replay.h"
#include "xseg.h"

#define XPKT_TYPE 0x41 /* PROTOCOL.md 1.1 / 18.1: unused by the references */
#define XPKT_HDR_LEN 14
#define XPKT_OVERHEAD (XPKT_HDR_LEN + CRYPTO_TAG_LEN)
#define XPKT_FLAG_PHASE 0x01 /* the key phase; the other flag bits are zero */

/* Key update (TRANSPORT.md 6): a sender moves to the next key after this many packets
 * or this long under one key, whichever comes first. The packet bound keeps AES-256-GCM
 * well under its confidentiality limit for full-size packets (RFC 9001 6.6: 2^23). */
#define XPKT_UPDATE_PACKETS (1ull << 22)
#define XPKT_UPDATE_MS 120000u
/* A receiver keeps the previous key this long after the first packet under the next
 * one, for packets reordered across the update. */
#define XPKT_PREV_KEEP_MS 3000u
/* Packet numbers stop here: the session must be replaced by a new handshake. */
#define XPKT_PN_MAX (1ull << 62)

/* Returned by xpkt_open (besides SW_EINVAL for a malformed header, SW_ECRYPTO). */
#define XPKT_EREPLAY (-100) /* authenticated, but a packet number already seen */
#define XPKT_EEXHAUSTED (-101) /* xpkt_seal: packet numbers used up, rehandshake */

struct evp_cipher_ctx_st;

typedef struct xpkt_key {
  struct evp_cipher_ctx_st *ctx;
  uint8_t iv[12];
} xpkt_key;

typedef struct xpkt_tx {
  int suite;
  uint32_t remote_index; /* goes in the header: the receiver's index */
  uint8_t secret[32];    /* the current traffic secret; the next is derived from it */
  xpkt_key key;
  uint8_t phase;
  uint64_t next_pn;
  uint64_t phase_packets, phase_start_ms;
  uint64_t updates; /* statistics */
} xpkt_tx;

typedef struct xpkt_rx {
  int suite;
  uint32_t local_index;
  uint8_t next_secret[32]; /* the secret of next: the one after it derives from it */
  xpkt_key cur, prev, next; /* next precomputed, so forgeries cost no derivation */
  int has_prev;
  uint8_t phase;
  uint64_t phase_first_pn; /* lowest packet number seen under the current key */
  uint64_t prev_until_ms;
  replay_window win;
  uint64_t updates, replays, failures; /* statistics */
} xpkt_rx;

typedef struct xpkt_header {
  uint8_t flags;
  uint32_t receiver_index;
  uint64_t pn;
} xpkt_header;

/* Parse the clear header (for routing by index before any crypto). SW_EINVAL when the
 * datagram is shorter than header + tag, has another type or unknown flag bits. */
int xpkt_header_decode(const uint8_t *pkt, size_t len, xpkt_header *out);

/* Init from a traffic secret (hs_keys) and the suite. SW_ENOMEM / SW_ECRYPTO / SW_EINVAL. */
int xpkt_tx_init(xpkt_tx *tx, int suite, const uint8_t secret[32], uint32_t remote_index,
                 uint64_t now_ms);
int xpkt_rx_init(xpkt_rx *rx, int suite, const uint8_t secret[32], uint32_t local_index);
void xpkt_tx_free(xpkt_tx *tx);
void xpkt_rx_free(xpkt_rx *rx);

/* Seal payload (len bytes, the frames of TRANSPORT.md 7) as one packet into out (at
 * least len + XPKT_OVERHEAD bytes; out may not overlap payload, except in place:
 * payload == out + XPKT_HDR_LEN, where the caller built the plaintext). Moves to the next key
 * first when the update bound is reached. Returns the packet's length or an error. */
int xpkt_seal(xpkt_tx *tx, uint64_t now_ms, const uint8_t *payload, size_t len, uint8_t *out,
              size_t outcap);
/* The same, where some of the plaintext lies elsewhere (xseg.h, from xport_build_v):
 * payload's bytes at those places are not read. segs in increasing order, within len;
 * SW_EINVAL otherwise. Saves copying a packet's stream bytes out of the send ring. */
int xpkt_seal_v(xpkt_tx *tx, uint64_t now_ms, const uint8_t *payload, size_t len,
                const xseg *segs, size_t nsegs, uint8_t *out, size_t outcap);
/* Move to the next key now (both sides can, independently, per direction). */
int xpkt_tx_update(xpkt_tx *tx, uint64_t now_ms);

/* Open one packet into out (at least len - XPKT_OVERHEAD bytes). Returns the payload
 * length, SW_EINVAL (malformed), SW_ECRYPTO (does not authenticate: drop, count) or
 * XPKT_EREPLAY. pn_out (may be NULL) gets the packet number. On any error out holds
 * nothing usable (OpenSSL decrypts before the tag is checked): never read it. */
int xpkt_open(xpkt_rx *rx, uint64_t now_ms, const uint8_t *pkt, size_t len, uint8_t *out,
              size_t outcap, uint64_t *pn_out);

/* The per-key material from a traffic secret (TRANSPORT.md 5.2), for tests and ports. */
int xpkt_derive(const uint8_t secret[32], uint8_t key[32], uint8_t iv[12],
                uint8_t next_secret[32]);

#endif
