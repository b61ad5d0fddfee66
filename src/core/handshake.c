/* The extended session's handshake: see handshake.h and docs/TRANSPORT.md 3-4. */
#include "handshake.h"

#include <openssl/crypto.h>
#include <string.h>

#include "setowire.h"

/* Exactly 32 bytes, so h starts as the name itself (Noise 5.2 InitializeSymmetric). */
static const char kProtocolName[] = "Noise_IK_25519_ChaChaPoly_SHA256";
static const char kPrologue[] = "setowire xsession 1";
static const char kMac1Label[] = "setowire xsession mac1";

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put64(uint8_t *p, uint64_t v) {
  put32(p, (uint32_t)(v >> 32));
  put32(p + 4, (uint32_t)v);
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

void hs_wipe(hs_state *s) { OPENSSL_cleanse(s, sizeof *s); }
void hs_keys_wipe(hs_keys *k) { OPENSSL_cleanse(k, sizeof *k); }

/* --- Noise symmetric state (Noise 5.2), SHA-256 and ChaCha20-Poly1305 --- */

static void mix_hash(hs_state *s, const uint8_t *data, size_t len) {
  uint8_t buf[32 + HS_INIT_LEN];
  if (len > sizeof buf - 32) return; /* never: callers pass fixed small sizes */
  memcpy(buf, s->h, 32);
  memcpy(buf + 32, data, len);
  crypto_sha256(buf, 32 + len, s->h);
}

/* Noise HKDF with two outputs: temp = HMAC(ck, ikm); o1 = HMAC(temp, 1);
 * o2 = HMAC(temp, o1 || 2). */
static int hkdf2(const uint8_t ck[32], const uint8_t *ikm, size_t ikmlen, uint8_t o1[32],
                 uint8_t o2[32]) {
  uint8_t temp[32], in[33];
  int rc = crypto_hmac_sha256(ck, 32, ikm, ikmlen, temp);
  in[0] = 1;
  if (!rc) rc = crypto_hmac_sha256(temp, 32, in, 1, o1);
  memcpy(in, o1, 32);
  in[32] = 2;
  if (!rc) rc = crypto_hmac_sha256(temp, 32, in, 33, o2);
  OPENSSL_cleanse(temp, sizeof temp);
  OPENSSL_cleanse(in, sizeof in);
  return rc;
}

static int mix_key(hs_state *s, const uint8_t dh[32]) {
  uint8_t ck[32];
  int rc = hkdf2(s->ck, dh, 32, ck, s->k);
  memcpy(s->ck, ck, 32);
  s->n = 0;
  OPENSSL_cleanse(ck, sizeof ck);
  return rc;
}

static int mix_dh(hs_state *s, const uint8_t priv[32], const uint8_t pub[32]) {
  uint8_t dh[32];
  int rc = crypto_x25519(priv, pub, dh);
  if (!rc) rc = mix_key(s, dh);
  OPENSSL_cleanse(dh, sizeof dh);
  return rc;
}

/* Noise ChaChaPoly nonce: 32 zero bits, then n as 64 bits little-endian. */
static void noise_nonce(uint64_t n, uint8_t nonce[12]) {
  memset(nonce, 0, 4);
  for (int i = 0; i < 8; i++) nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

static int encrypt_and_hash(hs_state *s, const uint8_t *pt, size_t len, uint8_t *out) {
  uint8_t nonce[12];
  noise_nonce(s->n, nonce);
  int rc = crypto_aead_seal_ad(CRYPTO_SUITE_CHACHA, s->k, nonce, s->h, 32, pt, len, out);
  if (rc) return rc;
  s->n++;
  mix_hash(s, out, len + CRYPTO_TAG_LEN);
  return SW_OK;
}

static int decrypt_and_hash(hs_state *s, const uint8_t *ct, size_t len, uint8_t *out) {
  uint8_t nonce[12];
  noise_nonce(s->n, nonce);
  int rc = crypto_aead_open_ad(CRYPTO_SUITE_CHACHA, s->k, nonce, s->h, 32, ct, len, out);
  if (rc) return SW_ECRYPTO;
  s->n++;
  mix_hash(s, ct, len);
  return SW_OK;
}

/* InitializeSymmetric, the prologue and the pre-message (<- s: the responder's key). */
static void sym_init(hs_state *s, const uint8_t responder_pub[32]) {
  memcpy(s->h, kProtocolName, 32);
  memcpy(s->ck, s->h, 32);
  memset(s->k, 0, 32);
  s->n = 0;
  mix_hash(s, (const uint8_t *)kPrologue, sizeof kPrologue - 1);
  mix_hash(s, responder_pub, 32);
}

/* --- mac1: proves the sender knows the receiver's static public key --- */

static int mac1(const uint8_t receiver_pub[32], const uint8_t *msg, size_t len,
                uint8_t out[HS_MAC_LEN]) {
  uint8_t in[sizeof kMac1Label - 1 + 32], key[32], full[32];
  memcpy(in, kMac1Label, sizeof kMac1Label - 1);
  memcpy(in + sizeof kMac1Label - 1, receiver_pub, 32);
  crypto_sha256(in, sizeof in, key);
  int rc = crypto_hmac_sha256(key, 32, msg, len, full);
  memcpy(out, full, HS_MAC_LEN);
  return rc;
}

/* --- initiator --- */

int hs_initiator_begin(hs_state *s, const uint8_t responder_pub[32], const uint8_t eph_rnd[32],
                       uint32_t local_index, uint8_t suites) {
  memset(s, 0, sizeof *s);
  s->role = HS_ROLE_INITIATOR;
  memcpy(s->rs, responder_pub, 32);
  memcpy(s->e_priv, eph_rnd, 32);
  s->local_index = local_index;
  s->suites = (uint8_t)(suites | CRYPTO_SUITE_CHACHA);
  return crypto_x25519_pub(s->e_priv, s->e_pub);
}

/* INIT: type(1) sender_index(4) e(32) enc_s(48) enc_payload(28) mac1(16) cookie(16) */
#define INIT_E 5
#define INIT_S 37
#define INIT_P 85
#define INIT_MAC1 113
#define INIT_COOKIE 129
#define INIT_PAYLOAD_LEN 12

int hs_initiator_write_init(hs_state *s, const crypto_identity *self, uint64_t timestamp,
                            uint8_t out[HS_INIT_LEN]) {
  uint8_t payload[INIT_PAYLOAD_LEN] = {0};
  int rc;
  if (s->role != HS_ROLE_INITIATOR || s->step > 1) return SW_EINVAL;
  sym_init(s, s->rs);
  out[0] = HS_TYPE_INIT;
  put32(out + 1, s->local_index);
  mix_hash(s, out, 5); /* the clear header is authenticated like the prologue */
  memcpy(out + INIT_E, s->e_pub, 32);
  mix_hash(s, s->e_pub, 32);                                     /* e */
  if ((rc = mix_dh(s, s->e_priv, s->rs))) return rc;             /* es */
  if ((rc = encrypt_and_hash(s, self->pub, 32, out + INIT_S))) return rc; /* s */
  if ((rc = mix_dh(s, self->priv, s->rs))) return rc;            /* ss */
  put64(payload, timestamp);
  payload[8] = s->suites;
  if ((rc = encrypt_and_hash(s, payload, sizeof payload, out + INIT_P))) return rc;
  if ((rc = mac1(s->rs, out, INIT_MAC1, out + INIT_MAC1))) return rc;
  memcpy(s->last_mac1, out + INIT_MAC1, HS_MAC_LEN);
  if (s->has_cookie)
    memcpy(out + INIT_COOKIE, s->cookie, HS_COOKIE_LEN);
  else
    memset(out + INIT_COOKIE, 0, HS_COOKIE_LEN);
  s->timestamp = timestamp;
  s->step = 1;
  return SW_OK;
}

/* RETRY: type(1) receiver_index(4) cookie(16) echo of the INIT's mac1(16) */
int hs_initiator_on_retry(hs_state *s, const uint8_t *msg, size_t len) {
  if (s->role != HS_ROLE_INITIATOR || s->step != 1) return SW_EINVAL;
  if (len < HS_RETRY_LEN || msg[0] != HS_TYPE_RETRY) return SW_EINVAL;
  if (get32(msg + 1) != s->local_index) return SW_EINVAL;
  if (CRYPTO_memcmp(msg + 21, s->last_mac1, HS_MAC_LEN) != 0) return SW_EINVAL;
  memcpy(s->cookie, msg + 5, HS_COOKIE_LEN);
  s->has_cookie = 1;
  return SW_OK;
}

/* RESP: type(1) sender_index(4) receiver_index(4) e(32) enc_payload(20) mac1(16) */
#define RESP_E 9
#define RESP_P 41
#define RESP_MAC1 61
#define RESP_PAYLOAD_LEN 4

static int split(hs_state *s, int initiator, hs_keys *out, int suite) {
  uint8_t t1[32], t2[32];
  int rc = hkdf2(s->ck, NULL, 0, t1, t2);
  if (rc) return rc;
  memcpy(out->send_secret, initiator ? t1 : t2, 32);
  memcpy(out->recv_secret, initiator ? t2 : t1, 32);
  memcpy(out->hash, s->h, 32);
  memcpy(out->remote_static, s->rs, 32);
  out->local_index = s->local_index;
  out->remote_index = s->remote_index;
  out->suite = suite;
  OPENSSL_cleanse(t1, sizeof t1);
  OPENSSL_cleanse(t2, sizeof t2);
  /* Nothing left can recompute the traffic secrets: that is the forward secrecy. */
  OPENSSL_cleanse(s->e_priv, sizeof s->e_priv);
  OPENSSL_cleanse(s->ck, sizeof s->ck);
  OPENSSL_cleanse(s->k, sizeof s->k);
  s->step = 2;
  return SW_OK;
}

int hs_initiator_read_resp(hs_state *s, const crypto_identity *self, const uint8_t *msg,
                           size_t len, hs_keys *out) {
  uint8_t m[HS_MAC_LEN], payload[RESP_PAYLOAD_LEN];
  int rc;
  if (s->role != HS_ROLE_INITIATOR || s->step != 1) return SW_EINVAL;
  if (len < HS_RESP_LEN || msg[0] != HS_TYPE_RESP) return SW_EINVAL;
  if (get32(msg + 5) != s->local_index) return SW_EINVAL;
  if (mac1(self->pub, msg, RESP_MAC1, m) || CRYPTO_memcmp(m, msg + RESP_MAC1, HS_MAC_LEN))
    return SW_EINVAL;
  /* Work on a copy: a forged RESP must leave the handshake able to take the real one. */
  hs_state t = *s;
  mix_hash(&t, msg, 9);
  memcpy(t.re, msg + RESP_E, 32);
  mix_hash(&t, t.re, 32);                                         /* e */
  if ((rc = mix_dh(&t, t.e_priv, t.re))) goto fail;               /* ee */
  if ((rc = mix_dh(&t, self->priv, t.re))) goto fail;             /* se */
  if ((rc = decrypt_and_hash(&t, msg + RESP_P, RESP_PAYLOAD_LEN + CRYPTO_TAG_LEN, payload)))
    goto fail;
  int suite = payload[0];
  if (suite != CRYPTO_SUITE_CHACHA && !(suite == CRYPTO_SUITE_AESGCM && (t.suites & suite))) {
    rc = SW_ECRYPTO;
    goto fail;
  }
  t.remote_index = get32(msg + 1);
  rc = split(&t, 1, out, suite);
  if (!rc) *s = t;
fail:
  OPENSSL_cleanse(&t, sizeof t);
  return rc;
}

/* --- responder --- */

void hs_cookie_init(hs_cookie_key *ck, const uint8_t rnd[32]) { memcpy(ck->secret, rnd, 32); }

/* cookie = HMAC(secret, period || initiator ephemeral || source address)[0..15] */
static int make_cookie(const hs_cookie_key *ck, uint64_t period, const uint8_t e[32],
                       const void *addr, size_t addrlen, uint8_t out[HS_COOKIE_LEN]) {
  uint8_t in[8 + 32 + 64], full[32];
  if (addrlen > 64) return SW_EINVAL;
  put64(in, period);
  memcpy(in + 8, e, 32);
  if (addrlen) memcpy(in + 40, addr, addrlen);
  int rc = crypto_hmac_sha256(ck->secret, 32, in, 40 + addrlen, full);
  memcpy(out, full, HS_COOKIE_LEN);
  return rc;
}

int hs_responder_screen(const crypto_identity *self, const hs_cookie_key *ck, int under_load,
                        const uint8_t *msg, size_t len, const void *addr, size_t addrlen,
                        uint64_t now_ms, uint8_t retry[HS_RETRY_LEN]) {
  uint8_t m[HS_MAC_LEN], c[HS_COOKIE_LEN];
  if (len < HS_INIT_LEN || msg[0] != HS_TYPE_INIT || addrlen > 64) return SW_EINVAL;
  if (mac1(self->pub, msg, INIT_MAC1, m) || CRYPTO_memcmp(m, msg + INIT_MAC1, HS_MAC_LEN))
    return SW_EINVAL;
  if (!under_load) return 0;
  uint64_t period = now_ms / HS_COOKIE_PERIOD_MS;
  for (int back = 0; back < 2 && back <= (int)(period > 0); back++) {
    if (make_cookie(ck, period - (uint64_t)back, msg + INIT_E, addr, addrlen, c))
      return SW_ECRYPTO;
    if (!CRYPTO_memcmp(c, msg + INIT_COOKIE, HS_COOKIE_LEN)) return 0;
  }
  if (make_cookie(ck, period, msg + INIT_E, addr, addrlen, c)) return SW_ECRYPTO;
  retry[0] = HS_TYPE_RETRY;
  memcpy(retry + 1, msg + 1, 4);
  memcpy(retry + 5, c, HS_COOKIE_LEN);
  memcpy(retry + 21, msg + INIT_MAC1, HS_MAC_LEN);
  return HS_SEND_RETRY;
}

int hs_responder_read_init(hs_state *s, const crypto_identity *self, const uint8_t *msg,
                           size_t len, const uint8_t *expect_pub) {
  uint8_t payload[INIT_PAYLOAD_LEN];
  int rc;
  if (len < HS_INIT_LEN || msg[0] != HS_TYPE_INIT) return SW_EINVAL;
  memset(s, 0, sizeof *s);
  s->role = HS_ROLE_RESPONDER;
  sym_init(s, self->pub);
  mix_hash(s, msg, 5);
  memcpy(s->re, msg + INIT_E, 32);
  mix_hash(s, s->re, 32);                                          /* e */
  if ((rc = mix_dh(s, self->priv, s->re))) goto fail;              /* es */
  if ((rc = decrypt_and_hash(s, msg + INIT_S, 32 + CRYPTO_TAG_LEN, s->rs))) goto fail; /* s */
  if ((rc = mix_dh(s, self->priv, s->rs))) goto fail;              /* ss */
  if ((rc = decrypt_and_hash(s, msg + INIT_P, INIT_PAYLOAD_LEN + CRYPTO_TAG_LEN, payload)))
    goto fail;
  if (expect_pub && CRYPTO_memcmp(expect_pub, s->rs, 32)) {
    rc = SW_ECRYPTO;
    goto fail;
  }
  s->remote_index = get32(msg + 1);
  s->timestamp = get64(payload);
  s->suites = (uint8_t)(payload[8] | CRYPTO_SUITE_CHACHA);
  s->step = 1;
  return SW_OK;
fail:
  hs_wipe(s);
  return rc;
}

int hs_responder_write_resp(hs_state *s, const crypto_identity *self,
                            const uint8_t eph_rnd[32], uint32_t local_index, uint8_t suites,
                            uint8_t out[HS_RESP_LEN], hs_keys *keys) {
  uint8_t payload[RESP_PAYLOAD_LEN] = {0};
  int rc;
  if (s->role != HS_ROLE_RESPONDER || s->step != 1) return SW_EINVAL;
  memcpy(s->e_priv, eph_rnd, 32);
  if ((rc = crypto_x25519_pub(s->e_priv, s->e_pub))) return rc;
  s->local_index = local_index;
  out[0] = HS_TYPE_RESP;
  put32(out + 1, local_index);
  put32(out + 5, s->remote_index);
  mix_hash(s, out, 9);
  memcpy(out + RESP_E, s->e_pub, 32);
  mix_hash(s, s->e_pub, 32);                             /* e */
  if ((rc = mix_dh(s, s->e_priv, s->re))) return rc;     /* ee */
  if ((rc = mix_dh(s, s->e_priv, s->rs))) return rc;     /* se */
  int suite = (s->suites & suites & CRYPTO_SUITE_AESGCM) ? CRYPTO_SUITE_AESGCM
                                                          : CRYPTO_SUITE_CHACHA;
  payload[0] = (uint8_t)suite;
  if ((rc = encrypt_and_hash(s, payload, sizeof payload, out + RESP_P))) return rc;
  if ((rc = mac1(s->rs, out, RESP_MAC1, out + RESP_MAC1))) return rc;
  (void)self;
  return split(s, 0, keys, suite);
}

int hs_replay_fresh(uint64_t *last_ts, uint64_t ts) {
  if (ts <= *last_ts) return 0;
  *last_ts = ts;
  return 1;
}

int hs_header_decode(const uint8_t *msg, size_t len, hs_header *out) {
  memset(out, 0, sizeof *out);
  if (!len) return SW_EINVAL;
  out->type = msg[0];
  switch (msg[0]) {
  case HS_TYPE_INIT:
    if (len < HS_INIT_LEN) return SW_EINVAL;
    out->sender_index = get32(msg + 1);
    return SW_OK;
  case HS_TYPE_RESP:
    if (len < HS_RESP_LEN) return SW_EINVAL;
    out->sender_index = get32(msg + 1);
    out->receiver_index = get32(msg + 5);
    return SW_OK;
  case HS_TYPE_RETRY:
    if (len < HS_RETRY_LEN) return SW_EINVAL;
    out->receiver_index = get32(msg + 1);
    return SW_OK;
  default:
    return SW_EINVAL;
  }
}
