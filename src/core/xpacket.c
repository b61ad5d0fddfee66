/* Packet protection of the extended session: see xpacket.h and docs/TRANSPORT.md 5-6. */
#include "xpacket.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "setowire.h"

/* HKDF-Expand-SHA256(secret, label, 32) is one HMAC block: HMAC(secret, label || 1). */
static int expand(const uint8_t secret[32], const char *label, uint8_t out[32]) {
  uint8_t in[32];
  size_t n = strlen(label);
  memcpy(in, label, n);
  in[n] = 1;
  return crypto_hmac_sha256(secret, 32, in, n + 1, out);
}

int xpkt_derive(const uint8_t secret[32], uint8_t key[32], uint8_t iv[12],
                uint8_t next_secret[32]) {
  uint8_t full[32];
  int rc = expand(secret, "setowire xkey", key);
  if (!rc) rc = expand(secret, "setowire xiv", full);
  if (!rc) rc = expand(secret, "setowire xku", next_secret);
  memcpy(iv, full, 12);
  OPENSSL_cleanse(full, sizeof full);
  return rc;
}

static const EVP_CIPHER *cipher_of(int suite) {
  if (suite == CRYPTO_SUITE_CHACHA) return EVP_chacha20_poly1305();
  if (suite == CRYPTO_SUITE_AESGCM) return EVP_aes_256_gcm();
  return NULL;
}

/* Key k from a secret: the context is made once and only re-keyed afterwards. */
static int key_set(xpkt_key *k, int suite, const uint8_t secret[32], uint8_t next[32],
                   int enc) {
  uint8_t key[32];
  int rc = xpkt_derive(secret, key, k->iv, next);
  if (rc) return rc;
  if (!k->ctx) {
    k->ctx = EVP_CIPHER_CTX_new();
    if (!k->ctx) rc = SW_ENOMEM;
    else if (EVP_CipherInit_ex(k->ctx, cipher_of(suite), NULL, key, NULL, enc) != 1)
      rc = SW_ECRYPTO;
  } else if (EVP_CipherInit_ex(k->ctx, NULL, NULL, key, NULL, enc) != 1) {
    rc = SW_ECRYPTO;
  }
  OPENSSL_cleanse(key, sizeof key);
  return rc;
}

static void key_free(xpkt_key *k) {
  EVP_CIPHER_CTX_free(k->ctx); /* frees (and clears) the key schedule */
  k->ctx = NULL;
  OPENSSL_cleanse(k->iv, sizeof k->iv);
}

static void nonce_of(const uint8_t iv[12], uint64_t pn, uint8_t nonce[12]) {
  memcpy(nonce, iv, 12);
  for (int i = 0; i < 8; i++) nonce[4 + i] ^= (uint8_t)(pn >> (56 - 8 * i));
}

static void put_header(uint8_t *p, uint8_t flags, uint32_t idx, uint64_t pn) {
  p[0] = XPKT_TYPE;
  p[1] = flags;
  for (int i = 0; i < 4; i++) p[2 + i] = (uint8_t)(idx >> (24 - 8 * i));
  for (int i = 0; i < 8; i++) p[6 + i] = (uint8_t)(pn >> (56 - 8 * i));
}

int xpkt_header_decode(const uint8_t *pkt, size_t len, xpkt_header *out) {
  if (len < XPKT_OVERHEAD || pkt[0] != XPKT_TYPE || (pkt[1] & ~XPKT_FLAG_PHASE))
    return SW_EINVAL;
  out->flags = pkt[1];
  out->receiver_index = 0;
  for (int i = 0; i < 4; i++) out->receiver_index = out->receiver_index << 8 | pkt[2 + i];
  out->pn = 0;
  for (int i = 0; i < 8; i++) out->pn = out->pn << 8 | pkt[6 + i];
  return SW_OK;
}

int xpkt_tx_init(xpkt_tx *tx, int suite, const uint8_t secret[32], uint32_t remote_index,
                 uint64_t now_ms) {
  memset(tx, 0, sizeof *tx);
  if (!cipher_of(suite)) return SW_EINVAL;
  tx->suite = suite;
  tx->remote_index = remote_index;
  tx->phase_start_ms = now_ms;
  int rc = key_set(&tx->key, suite, secret, tx->secret, 1);
  if (rc) xpkt_tx_free(tx);
  return rc;
}

void xpkt_tx_free(xpkt_tx *tx) {
  key_free(&tx->key);
  OPENSSL_cleanse(tx, sizeof *tx);
}

/* tx->secret holds the next secret already: key it and derive the one after. */
int xpkt_tx_update(xpkt_tx *tx, uint64_t now_ms) {
  uint8_t s[32];
  memcpy(s, tx->secret, 32);
  int rc = key_set(&tx->key, tx->suite, s, tx->secret, 1);
  OPENSSL_cleanse(s, sizeof s);
  if (rc) return rc;
  tx->phase ^= 1;
  tx->phase_packets = 0;
  tx->phase_start_ms = now_ms;
  tx->updates++;
  return SW_OK;
}

/* Encrypt len bytes from src to dst (equal lengths: both suites are stream ciphers). */
static int seal_part(EVP_CIPHER_CTX *ctx, uint8_t *dst, const uint8_t *src, size_t len) {
  int n = 0;
  if (!len) return SW_OK;
  return EVP_CipherUpdate(ctx, dst, &n, src, (int)len) == 1 && (size_t)n == len ? SW_OK
                                                                                : SW_ECRYPTO;
}

int xpkt_seal_v(xpkt_tx *tx, uint64_t now_ms, const uint8_t *payload, size_t len,
                const xseg *segs, size_t nsegs, uint8_t *out, size_t outcap) {
  uint8_t nonce[12];
  int n = 0, f = 0;
  EVP_CIPHER_CTX *ctx;
  if (len > 65535 || outcap < len + XPKT_OVERHEAD) return SW_EINVAL;
  for (size_t i = 0, end = 0; i < nsegs; end = segs[i].at + segs[i].len, i++)
    if (segs[i].at < end || segs[i].at > len || segs[i].len > len - segs[i].at) return SW_EINVAL;
  if (tx->next_pn >= XPKT_PN_MAX) return XPKT_EEXHAUSTED;
  if (tx->phase_packets >= XPKT_UPDATE_PACKETS ||
      (now_ms > tx->phase_start_ms && now_ms - tx->phase_start_ms >= XPKT_UPDATE_MS)) {
    int rc = xpkt_tx_update(tx, now_ms);
    if (rc) return rc;
  }
  uint64_t pn = tx->next_pn;
  put_header(out, tx->phase, tx->remote_index, pn);
  nonce_of(tx->key.iv, pn, nonce);
  ctx = tx->key.ctx;
  if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, -1) != 1 ||
      EVP_CipherUpdate(ctx, NULL, &n, out, XPKT_HDR_LEN) != 1)
    return SW_ECRYPTO;
  /* The plaintext in order: payload's own bytes between the pieces, each piece from
   * where it lies (xseg.h), all into out after the header. */
  uint8_t *body = out + XPKT_HDR_LEN;
  size_t pos = 0;
  for (size_t i = 0; i < nsegs; i++) {
    if (seal_part(ctx, body + pos, payload + pos, segs[i].at - pos) ||
        seal_part(ctx, body + segs[i].at, segs[i].src, segs[i].len))
      return SW_ECRYPTO;
    pos = segs[i].at + segs[i].len;
  }
  if (seal_part(ctx, body + pos, payload + pos, len - pos)) return SW_ECRYPTO;
  if (EVP_CipherFinal_ex(ctx, body + len, &f) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CRYPTO_TAG_LEN, body + len) != 1)
    return SW_ECRYPTO;
  tx->next_pn++;
  tx->phase_packets++;
  return (int)(len + XPKT_OVERHEAD);
}

int xpkt_seal(xpkt_tx *tx, uint64_t now_ms, const uint8_t *payload, size_t len, uint8_t *out,
              size_t outcap) {
  return xpkt_seal_v(tx, now_ms, payload, len, NULL, 0, out, outcap);
}

int xpkt_rx_init(xpkt_rx *rx, int suite, const uint8_t secret[32], uint32_t local_index) {
  uint8_t s1[32];
  memset(rx, 0, sizeof *rx);
  if (!cipher_of(suite)) return SW_EINVAL;
  rx->suite = suite;
  rx->local_index = local_index;
  replay_reset(&rx->win);
  int rc = key_set(&rx->cur, suite, secret, s1, 0);
  if (!rc) rc = key_set(&rx->next, suite, s1, rx->next_secret, 0);
  OPENSSL_cleanse(s1, sizeof s1);
  if (rc) xpkt_rx_free(rx);
  return rc;
}

void xpkt_rx_free(xpkt_rx *rx) {
  key_free(&rx->cur);
  key_free(&rx->prev);
  key_free(&rx->next);
  OPENSSL_cleanse(rx, sizeof *rx);
}

static int open_with(xpkt_key *k, const uint8_t *pkt, size_t len, uint64_t pn, uint8_t *out) {
  uint8_t nonce[12];
  int n = 0, f = 0;
  size_t clen = len - XPKT_OVERHEAD;
  EVP_CIPHER_CTX *ctx = k->ctx;
  nonce_of(k->iv, pn, nonce);
  if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, -1) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, CRYPTO_TAG_LEN,
                          (void *)(pkt + len - CRYPTO_TAG_LEN)) != 1 ||
      EVP_CipherUpdate(ctx, NULL, &n, pkt, XPKT_HDR_LEN) != 1)
    return SW_ECRYPTO;
  n = 0;
  if (clen && EVP_CipherUpdate(ctx, out, &n, pkt + XPKT_HDR_LEN, (int)clen) != 1)
    return SW_ECRYPTO;
  if (EVP_CipherFinal_ex(ctx, out + n, &f) != 1) return SW_ECRYPTO;
  return SW_OK;
}

/* The next key authenticated a packet: it becomes current, current becomes previous,
 * and the key after it is derived now (the only derivation, and only once per update). */
static int rotate(xpkt_rx *rx, uint64_t now_ms, uint64_t pn) {
  uint8_t s[32];
  xpkt_key spare = rx->prev;
  rx->prev = rx->cur;
  rx->cur = rx->next;
  rx->next = spare;
  rx->has_prev = 1;
  rx->prev_until_ms = now_ms + XPKT_PREV_KEEP_MS;
  rx->phase ^= 1;
  rx->phase_first_pn = pn;
  rx->updates++;
  memcpy(s, rx->next_secret, 32);
  int rc = key_set(&rx->next, rx->suite, s, rx->next_secret, 0);
  OPENSSL_cleanse(s, sizeof s);
  return rc;
}

int xpkt_open(xpkt_rx *rx, uint64_t now_ms, const uint8_t *pkt, size_t len, uint8_t *out,
              size_t outcap, uint64_t *pn_out) {
  xpkt_header h;
  if (xpkt_header_decode(pkt, len, &h) || h.receiver_index != rx->local_index ||
      outcap < len - XPKT_OVERHEAD || len - XPKT_OVERHEAD > INT32_MAX)
    return SW_EINVAL;
  if (rx->has_prev && now_ms >= rx->prev_until_ms) {
    key_free(&rx->prev); /* forward secrecy inside the session: the old key is gone */
    rx->has_prev = 0;
  }
  if (!replay_check(&rx->win, h.pn)) {
    rx->replays++;
    return XPKT_EREPLAY;
  }
  int phase = h.flags & XPKT_FLAG_PHASE;
  xpkt_key *k;
  if (phase == rx->phase)
    k = &rx->cur;
  else if (rx->has_prev && h.pn < rx->phase_first_pn)
    k = &rx->prev;
  else
    k = &rx->next;
  if (!k->ctx || open_with(k, pkt, len, h.pn, out)) {
    rx->failures++;
    return SW_ECRYPTO;
  }
  if (k == &rx->next) {
    int rc = rotate(rx, now_ms, h.pn);
    if (rc) return rc;
  } else if (k == &rx->cur && h.pn < rx->phase_first_pn) {
    rx->phase_first_pn = h.pn;
  }
  replay_commit(&rx->win, h.pn);
  if (pn_out) *pn_out = h.pn;
  return (int)(len - XPKT_OVERHEAD);
}
