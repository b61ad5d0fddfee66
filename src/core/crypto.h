/* Identity, session derivation and the DATA AEAD (PROTOCOL.md 2, 4.4, 5.1).
 * Everything here is a thin layer over OpenSSL libcrypto: no primitive is written by
 * hand. Pure functions of their inputs; no clock, no randomness of its own. */
#ifndef SW_CORE_CRYPTO_H
#define SW_CORE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_LEN 32
#define CRYPTO_NONCE_LEN 12 /* PROTOCOL.md 19 NONCE_LEN: u32 session id + u64 counter */
#define CRYPTO_TAG_LEN 16   /* PROTOCOL.md 19 TAG_LEN */

typedef struct crypto_identity {
  uint8_t priv[32];
  uint8_t pub[32];
  uint8_t id[20];  /* SHA-256(pub)[0..19], PROTOCOL.md 2.2 */
} crypto_identity;

void crypto_sha256(const void *data, size_t len, uint8_t out[32]);
void crypto_sha1(const void *data, size_t len, uint8_t out[20]);

/* PROTOCOL.md 14.1 topic hash: the first 12 hex characters of SHA-1 of the topic's
 * lowercase hex text (the text, not the bytes). The key of every discovery source:
 * DHT keys, piping paths, LAN beacons. out holds 13 bytes (NUL-terminated). */
#define CRYPTO_TOPIC_HASH_LEN 12
void crypto_topic_hash(const uint8_t topic[32], char out[CRYPTO_TOPIC_HASH_LEN + 1]);

/* Strict hex decoding: returns the byte count, or SW_EINVAL on odd length or a
 * non-hex character (unlike the JavaScript reference, nothing is silently dropped). */
int crypto_hex_decode(const char *hex, uint8_t *out, size_t outlen);
void crypto_hex_encode(const uint8_t *in, size_t len, char *out /* 2*len+1 */);

/* Private scalar = SHA-256(seed bytes); an empty seed is valid (zero bytes). */
int crypto_identity_from_seed(crypto_identity *id, const uint8_t *seed, size_t len);
/* From seed text: strict hex, at most 256 bytes. SW_EINVAL when malformed. */
int crypto_identity_from_hex(crypto_identity *id, const char *seed_hex);
/* Random identity from 32 caller-supplied random bytes. */
int crypto_identity_from_random(crypto_identity *id, const uint8_t rnd[32]);
/* Recompute pub and id from priv. */
int crypto_identity_complete(crypto_identity *id);

/* 1 when the local side is "lower" and sends with okm[0..31] (PROTOCOL.md 4.4, Python
 * rule): wire ids compared bytewise, ties broken by public key. 0 otherwise. */
int crypto_is_lower(const uint8_t own_wire[8], const uint8_t remote_wire[8],
                    const uint8_t own_pub[32], const uint8_t remote_pub[32]);

typedef struct crypto_session_keys {
  uint8_t send_key[32];
  uint8_t recv_key[32];
  uint32_t session_id;
} crypto_session_keys;

/* X25519 + HKDF-SHA256 (empty salt, info "p2p-v12-session", 68 bytes). Fails with
 * SW_ECRYPTO on a low-order remote key (all-zero shared secret, defect D18). */
int crypto_derive_session(const crypto_identity *own, const uint8_t remote_pub[32],
                          crypto_session_keys *out);

/* One ChaCha20-Poly1305 context per direction, keyed once: per message only the nonce
 * changes, so the hot path never re-schedules a key. */
typedef struct crypto_aead crypto_aead;
crypto_aead *crypto_aead_new(const uint8_t key[32], int encrypt);
void crypto_aead_free(crypto_aead *a);
/* Encrypts pre (prelen bytes, may be 0) followed by in (len bytes) as one plaintext:
 * out gets prelen+len bytes of ciphertext then the 16-byte tag. No associated data.
 * The split lets DATA prepend its sequence number without copying the message. */
int crypto_aead_seal(crypto_aead *a, const uint8_t nonce[12], const uint8_t *pre,
                     size_t prelen, const uint8_t *in, size_t len, uint8_t *out);
/* in holds ciphertext followed by the tag (len includes the tag). out gets len-16 bytes.
 * Returns 0, or SW_ECRYPTO when authentication fails. */
int crypto_aead_open(crypto_aead *a, const uint8_t nonce[12], const uint8_t *in, size_t len,
                     uint8_t *out);

/* Helpers for the extended session (docs/TRANSPORT.md): handshake.c and xpacket.c. */

/* HMAC-SHA256 of data under key. */
int crypto_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
                       uint8_t out[32]);
/* X25519 public key of a private scalar (32 caller-supplied random bytes). */
int crypto_x25519_pub(const uint8_t priv[32], uint8_t pub[32]);
/* X25519(priv, pub); SW_ECRYPTO on a low-order pub (all-zero result). */
int crypto_x25519(const uint8_t priv[32], const uint8_t pub[32], uint8_t shared[32]);

/* The AEAD of one extended-session suite (TRANSPORT.md 5). */
#define CRYPTO_SUITE_CHACHA 1 /* ChaCha20-Poly1305, the default and the fallback */
#define CRYPTO_SUITE_AESGCM 2 /* AES-256-GCM, offered only with AES instructions */
/* 1 when this CPU has AES (and carry-less multiply) instructions OpenSSL's GCM uses. */
int crypto_cpu_has_aes(void);
/* One-shot AEAD with associated data, for handshake messages (not the hot path).
 * seal: out gets len bytes then the tag; open: in holds len bytes of ciphertext and
 * tag (len includes the tag), out gets len-16; SW_ECRYPTO when it does not authenticate. */
int crypto_aead_seal_ad(int suite, const uint8_t key[32], const uint8_t nonce[12],
                        const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
                        uint8_t *out);
int crypto_aead_open_ad(int suite, const uint8_t key[32], const uint8_t nonce[12],
                        const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
                        uint8_t *out);

/* Signing (docs/VALUES.md): an identity's X25519 key cannot sign, so each identity also
 * has an Ed25519 key derived from its X25519 private scalar (HMAC-SHA256 keyed by the
 * scalar over CRYPTO_SIGN_LABEL gives the Ed25519 seed). The same identity always has
 * the same signing key; knowing the signing key reveals nothing of the X25519 key. */
#define CRYPTO_SIGN_PUB_LEN 32
#define CRYPTO_SIGN_LEN 64
#define CRYPTO_SIGN_LABEL "setowire signing key v1"
typedef struct crypto_signer {
  uint8_t seed[32]; /* Ed25519 private seed */
  uint8_t pub[CRYPTO_SIGN_PUB_LEN];
} crypto_signer;
/* Derive the signing key of id. SW_OK or SW_ECRYPTO. */
int crypto_signer_from_identity(crypto_signer *s, const crypto_identity *id);
/* Ed25519 signature of msg (pure Ed25519, RFC 8032). SW_OK or SW_ECRYPTO. */
int crypto_sign(const crypto_signer *s, const void *msg, size_t len,
                uint8_t sig[CRYPTO_SIGN_LEN]);
/* SW_OK when sig is pub's signature of msg, SW_ECRYPTO otherwise (a malformed key
 * included). */
int crypto_verify(const uint8_t pub[CRYPTO_SIGN_PUB_LEN], const void *msg, size_t len,
                  const uint8_t sig[CRYPTO_SIGN_LEN]);
/* A signing key made ready once for many signatures (signed origins sign every such
 * message): crypto_sign recomputes the public point each call, which is half its cost. */
typedef struct crypto_sign_ctx crypto_sign_ctx;
crypto_sign_ctx *crypto_sign_ctx_new(const crypto_signer *s); /* NULL on failure */
void crypto_sign_ctx_free(crypto_sign_ctx *k);
/* As crypto_sign, with the same result. */
int crypto_sign_ctx_sign(crypto_sign_ctx *k, const void *msg, size_t len,
                         uint8_t sig[CRYPTO_SIGN_LEN]);

#endif
