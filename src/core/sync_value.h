/* Signed, versioned values and content-addressed values on top of store/fetch
 * (docs/VALUES.md). The wire key and the envelope codec, and the engine entry points
 * the runtime's sw_swarm_store_signed / _fetch_signed / _store_content use. Between our
 * peers the existing store/fetch machinery (HAVE, WANT, CHUNK, stream transfers, caches,
 * backend) carries these values as ordinary key/values; what differs lives in the
 * store/fetch module (sync.c) behind the helpers at the end of this header:
 *
 *   - a value under a signed key ("s:" + 64 hex of the signer's Ed25519 key + "/" +
 *     name) is a valid envelope signed by that key; under a content key ("c:" + 64 hex)
 *     it hashes to the key. Anything else is refused and counted (forged_values);
 *   - a holder keeps only the highest sequence number of a signed key;
 *   - a fetch of a signed key asks the peers even when a version is held here and
 *     delivers the highest valid one (never one lower than the held one);
 *   - a holder that hears HAVE for a signed key it holds fetches it from that peer
 *     (a refresh); a holder whose version goes up announces the key with HAVE.
 * Plain keys are untouched: reference peers get and serve them as before. */
#ifndef SW_CORE_SYNC_VALUE_H
#define SW_CORE_SYNC_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "crypto.h"

/* ---- wire keys ---------------------------------------------------------------- */

enum { SV_PLAIN = 0, SV_SIGNED = 1, SV_CONTENT = 2 };

#define SV_SIGNED_PREFIX_LEN (2 + 64 + 1) /* "s:" + hex signer + "/" */
#define SV_NAME_MAX (SW_KEY_MAX - SV_SIGNED_PREFIX_LEN) /* 188 name bytes */
#define SV_CONTENT_KEY_LEN (2 + 64)       /* "c:" + hex SHA-256 */

/* What kind of key k[0..n) is: SV_SIGNED for "s:" + 64 lowercase hex + "/" + at least
 * one name byte (no NUL), SV_CONTENT for exactly "c:" + 64 lowercase hex, else SV_PLAIN
 * (an upper-case spelling is a plain key: never verified). */
int sv_key_kind(const uint8_t *k, size_t n);
/* The signed key of (signer, name) into out (SW_KEY_MAX + 1 bytes, NUL-terminated):
 * its length, or SW_EINVAL for a NULL, empty or over-long name (over SV_NAME_MAX). */
int sv_signed_key(char *out, const uint8_t signer[32], const char *name);
/* The signer of a signed key (sv_key_kind SV_SIGNED): 0, or SW_EINVAL. */
int sv_key_signer(const uint8_t *k, size_t n, uint8_t signer[32]);
/* The content key of v[0..len): "c:" + hex SHA-256 into out (SV_CONTENT_KEY_LEN + 1). */
void sv_content_key(char *out, const void *v, size_t len);

/* ---- the envelope of a signed value --------------------------------------------
 *   magic/version (1 byte, SV_MAGIC) | seq (8 bytes, big-endian, >= 1) |
 *   Ed25519 signature (64 bytes) | payload (at least 1 byte)
 * The signature covers SV_LABEL (its 24 bytes, no NUL) | key length (1 byte) | the wire
 * key | seq (8 bytes, big-endian) | payload. */
#define SV_MAGIC 0xA1
#define SV_HDR (1 + 8 + CRYPTO_SIGN_LEN)
#define SV_LABEL "setowire signed value v1"
#define SV_PAYLOAD_MAX (SW_VALUE_MAX - SV_HDR)

/* Build the envelope of payload p[0..plen) under key k[0..n) with seq into out
 * (SV_HDR + plen bytes). SW_OK, SW_EINVAL (seq 0, empty payload, plen over
 * SV_PAYLOAD_MAX), SW_ENOMEM, SW_ECRYPTO. */
int sv_encode(uint8_t *out, const crypto_signer *signer, const uint8_t *k, size_t n,
              uint64_t seq, const uint8_t *p, size_t plen);
/* Split an envelope without checking its signature: SW_OK, or SW_EINVAL when it is
 * too short, of another magic, or has seq 0. */
int sv_open(const uint8_t *v, size_t len, uint64_t *seq, const uint8_t **p, size_t *plen);
/* Whether v[0..len) is a valid value for key k[0..n): SW_OK for any value of a plain
 * key (seq 0), for a content key whose SHA-256 is in the key (seq 0), and for a signed
 * key's envelope whose signature the key's signer made (*seq its sequence number);
 * SW_EINVAL otherwise (SW_ENOMEM when a buffer could not be had). seq may be NULL. */
int sv_verify(const uint8_t *k, size_t n, const uint8_t *v, size_t len, uint64_t *seq);

/* ---- the engine entry points (the runtime's sw_swarm_* calls) ------------------ */

/* This core's Ed25519 public signing key (crypto_signer_from_identity). SW_OK,
 * SW_EINVAL, SW_ECRYPTO. */
int sw_core_signing_key(sw_core *core, uint8_t out[32]);
/* Sign and store payload under (our signing key, name) with seq (0: one more than the
 * version held here, 1 when none is). SW_OK and *seq_out the seq stored; SW_EINVAL (bad
 * name, empty payload, seq not above the held one), SW_EMSGSIZE (payload over
 * SV_PAYLOAD_MAX), and sw_core_store's errors. */
int sw_core_store_signed(sw_core *core, const char *name, const void *payload, size_t len,
                         uint64_t seq, uint64_t *seq_out, uint64_t now_ms);
/* Store v under its content key (written to key_out, SV_CONTENT_KEY_LEN + 1 bytes). */
int sw_core_store_content(sw_core *core, const void *v, size_t len, char *key_out,
                          uint64_t now_ms);

/* ---- what the store/fetch module uses (sync.c) ---------------------------------- */

struct sync_state;
/* Keep v under k in the in-memory store unless the key is signed and a version with a
 * seq at least as high is held: 1 stored, 0 kept the held one, or sync_cache_put's
 * error. The caller has verified v. */
int sv_cache_put(struct sync_state *s, const uint8_t *k, size_t n, const uint8_t *v, size_t len);
/* The seq of the version of signed key k held in memory, 0 when none. */
uint64_t sv_held_seq(struct sync_state *s, const uint8_t *k, size_t n);

#endif
