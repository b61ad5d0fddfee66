#include "crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include "setowire.h"

/* PROTOCOL.md 4.4 / 19: HKDF info label and output length. */
static const char kSessionInfo[] = "p2p-v12-session";
#define SESSION_OKM_LEN 68

struct crypto_aead {
  EVP_CIPHER_CTX *ctx;
  int encrypt;
};

void crypto_sha256(const void *data, size_t len, uint8_t out[32]) {
  unsigned int n = 32;
  EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void crypto_sha1(const void *data, size_t len, uint8_t out[20]) {
  unsigned int n = 20;
  EVP_Digest(data, len, out, &n, EVP_sha1(), NULL);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int crypto_hex_decode(const char *hex, uint8_t *out, size_t outlen) {
  size_t n = strlen(hex);
  if (n % 2 || n / 2 > outlen) return SW_EINVAL;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return SW_EINVAL;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return (int)(n / 2);
}

void crypto_hex_encode(const uint8_t *in, size_t len, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * len] = 0;
}

void crypto_topic_hash(const uint8_t topic[32], char out[CRYPTO_TOPIC_HASH_LEN + 1]) {
  char text[65];
  uint8_t d[20];
  crypto_hex_encode(topic, 32, text);
  crypto_sha1(text, 64, d);
  crypto_hex_encode(d, CRYPTO_TOPIC_HASH_LEN / 2, out);
}

int crypto_identity_complete(crypto_identity *id) {
  size_t publen = 32;
  uint8_t h[32];
  EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, id->priv, 32);
  if (!pk) return SW_ECRYPTO;
  int ok = EVP_PKEY_get_raw_public_key(pk, id->pub, &publen) == 1 && publen == 32;
  EVP_PKEY_free(pk);
  if (!ok) return SW_ECRYPTO;
  crypto_sha256(id->pub, 32, h);
  memcpy(id->id, h, 20);
  return SW_OK;
}

int crypto_identity_from_seed(crypto_identity *id, const uint8_t *seed, size_t len) {
  crypto_sha256(seed, len, id->priv);
  return crypto_identity_complete(id);
}

int crypto_identity_from_hex(crypto_identity *id, const char *seed_hex) {
  uint8_t seed[256];
  if (!seed_hex) return SW_EINVAL;
  int n = crypto_hex_decode(seed_hex, seed, sizeof seed);
  if (n < 0) return SW_EINVAL;
  int rc = crypto_identity_from_seed(id, seed, (size_t)n);
  OPENSSL_cleanse(seed, sizeof seed);
  return rc;
}

int crypto_identity_from_random(crypto_identity *id, const uint8_t rnd[32]) {
  memcpy(id->priv, rnd, 32);
  return crypto_identity_complete(id);
}

int crypto_is_lower(const uint8_t own_wire[8], const uint8_t remote_wire[8],
                    const uint8_t own_pub[32], const uint8_t remote_pub[32]) {
  int c = memcmp(own_wire, remote_wire, 8);
  if (c) return c < 0;
  return memcmp(own_pub, remote_pub, 32) < 0;
}

static int x25519_shared(const crypto_identity *own, const uint8_t remote_pub[32],
                         uint8_t shared[32]) {
  static const uint8_t zero[32];
  size_t n = 32;
  int rc = SW_ECRYPTO;
  EVP_PKEY *mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, own->priv, 32);
  EVP_PKEY *theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, remote_pub, 32);
  EVP_PKEY_CTX *ctx = mine ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
  if (ctx && theirs && EVP_PKEY_derive_init(ctx) == 1 &&
      EVP_PKEY_derive_set_peer(ctx, theirs) == 1 && EVP_PKEY_derive(ctx, shared, &n) == 1 &&
      n == 32 && CRYPTO_memcmp(shared, zero, 32) != 0)
    rc = SW_OK;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(theirs);
  EVP_PKEY_free(mine);
  return rc;
}

int crypto_derive_session(const crypto_identity *own, const uint8_t remote_pub[32],
                          crypto_session_keys *out) {
  uint8_t shared[32], okm[SESSION_OKM_LEN];
  int rc = x25519_shared(own, remote_pub, shared);
  if (rc) return rc;
  EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
  EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
  OSSL_PARAM params[4];
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
  params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared, 32);
  params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)kSessionInfo,
                                                sizeof kSessionInfo - 1);
  params[3] = OSSL_PARAM_construct_end();
  rc = (kctx && EVP_KDF_derive(kctx, okm, sizeof okm, params) == 1) ? SW_OK : SW_ECRYPTO;
  EVP_KDF_CTX_free(kctx);
  EVP_KDF_free(kdf);
  OPENSSL_cleanse(shared, sizeof shared);
  if (rc) return rc;
  uint8_t own_wire[8], remote_wire[8], h[32];
  memcpy(own_wire, own->id, 8);
  crypto_sha256(remote_pub, 32, h);
  memcpy(remote_wire, h, 8);
  int lower = crypto_is_lower(own_wire, remote_wire, own->pub, remote_pub);
  memcpy(out->send_key, okm + (lower ? 0 : 32), 32);
  memcpy(out->recv_key, okm + (lower ? 32 : 0), 32);
  out->session_id = (uint32_t)okm[64] << 24 | (uint32_t)okm[65] << 16 |
                    (uint32_t)okm[66] << 8 | okm[67];
  OPENSSL_cleanse(okm, sizeof okm);
  return SW_OK;
}

crypto_aead *crypto_aead_new(const uint8_t key[32], int encrypt) {
  crypto_aead *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->encrypt = encrypt;
  a->ctx = EVP_CIPHER_CTX_new();
  if (!a->ctx ||
      EVP_CipherInit_ex(a->ctx, EVP_chacha20_poly1305(), NULL, key, NULL, encrypt) != 1) {
    crypto_aead_free(a);
    return NULL;
  }
  return a;
}

void crypto_aead_free(crypto_aead *a) {
  if (!a) return;
  EVP_CIPHER_CTX_free(a->ctx);
  free(a);
}

int crypto_aead_seal(crypto_aead *a, const uint8_t nonce[12], const uint8_t *pre,
                     size_t prelen, const uint8_t *in, size_t len, uint8_t *out) {
  int n1 = 0, n2 = 0, f = 0;
  if (len > INT32_MAX - 64 || prelen > 64) return SW_EINVAL;
  if (EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, 1) != 1) return SW_ECRYPTO;
  if (prelen && EVP_CipherUpdate(a->ctx, out, &n1, pre, (int)prelen) != 1) return SW_ECRYPTO;
  if (len && EVP_CipherUpdate(a->ctx, out + n1, &n2, in, (int)len) != 1) return SW_ECRYPTO;
  if (EVP_CipherFinal_ex(a->ctx, out + n1 + n2, &f) != 1) return SW_ECRYPTO;
  if (EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, CRYPTO_TAG_LEN, out + prelen + len) !=
      1)
    return SW_ECRYPTO;
  return SW_OK;
}

int crypto_aead_open(crypto_aead *a, const uint8_t nonce[12], const uint8_t *in, size_t len,
                     uint8_t *out) {
  int n = 0, f = 0;
  uint8_t tag[CRYPTO_TAG_LEN];
  if (len < CRYPTO_TAG_LEN || len > INT32_MAX) return SW_ECRYPTO;
  size_t clen = len - CRYPTO_TAG_LEN;
  memcpy(tag, in + clen, CRYPTO_TAG_LEN);
  if (EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, 0) != 1) return SW_ECRYPTO;
  if (clen && EVP_CipherUpdate(a->ctx, out, &n, in, (int)clen) != 1) return SW_ECRYPTO;
  if (EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, CRYPTO_TAG_LEN, tag) != 1)
    return SW_ECRYPTO;
  if (EVP_CipherFinal_ex(a->ctx, out + n, &f) != 1) return SW_ECRYPTO;
  return SW_OK;
}

int crypto_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
                       uint8_t out[32]) {
  unsigned int n = 32;
  if (keylen > INT32_MAX) return SW_EINVAL;
  if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n) || n != 32) return SW_ECRYPTO;
  return SW_OK;
}

int crypto_x25519_pub(const uint8_t priv[32], uint8_t pub[32]) {
  size_t publen = 32;
  EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
  if (!pk) return SW_ECRYPTO;
  int ok = EVP_PKEY_get_raw_public_key(pk, pub, &publen) == 1 && publen == 32;
  EVP_PKEY_free(pk);
  return ok ? SW_OK : SW_ECRYPTO;
}

int crypto_x25519(const uint8_t priv[32], const uint8_t pub[32], uint8_t shared[32]) {
  crypto_identity tmp;
  memcpy(tmp.priv, priv, 32);
  int rc = x25519_shared(&tmp, pub, shared);
  OPENSSL_cleanse(tmp.priv, sizeof tmp.priv);
  return rc;
}

/* OpenSSL 3 does not export its CPU capability vector, so ask the CPU the same
 * question its AES-NI/ARMv8 GCM paths do: AES rounds and carry-less multiply. */
int crypto_cpu_has_aes(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#elif defined(__aarch64__) && defined(__linux__)
  unsigned long hw = getauxval(AT_HWCAP);
  return (hw & HWCAP_AES) && (hw & HWCAP_PMULL);
#else
  return 0;
#endif
}

static const EVP_CIPHER *suite_cipher(int suite) {
  if (suite == CRYPTO_SUITE_CHACHA) return EVP_chacha20_poly1305();
  if (suite == CRYPTO_SUITE_AESGCM) return EVP_aes_256_gcm();
  return NULL;
}

static int aead_once(int suite, const uint8_t key[32], const uint8_t nonce[12],
                     const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
                     uint8_t *out, int enc) {
  const EVP_CIPHER *c = suite_cipher(suite);
  int n = 0, f = 0, ok = 0;
  size_t clen = len;
  if (!c || len > INT32_MAX - 64 || adlen > INT32_MAX) return SW_EINVAL;
  if (!enc) {
    if (len < CRYPTO_TAG_LEN) return SW_ECRYPTO;
    clen = len - CRYPTO_TAG_LEN;
  }
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return SW_ENOMEM;
  if (EVP_CipherInit_ex(ctx, c, NULL, key, nonce, enc) != 1) goto out;
  if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, CRYPTO_TAG_LEN,
                                  (void *)(in + clen)) != 1)
    goto out;
  if (adlen && EVP_CipherUpdate(ctx, NULL, &n, ad, (int)adlen) != 1) goto out;
  n = 0;
  if (clen && EVP_CipherUpdate(ctx, out, &n, in, (int)clen) != 1) goto out;
  if (EVP_CipherFinal_ex(ctx, out + n, &f) != 1) goto out;
  if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CRYPTO_TAG_LEN, out + clen) != 1)
    goto out;
  ok = 1;
out:
  EVP_CIPHER_CTX_free(ctx);
  return ok ? SW_OK : SW_ECRYPTO;
}

int crypto_aead_seal_ad(int suite, const uint8_t key[32], const uint8_t nonce[12],
                        const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
                        uint8_t *out) {
  return aead_once(suite, key, nonce, ad, adlen, in, len, out, 1);
}

int crypto_aead_open_ad(int suite, const uint8_t key[32], const uint8_t nonce[12],
                        const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
                        uint8_t *out) {
  return aead_once(suite, key, nonce, ad, adlen, in, len, out, 0);
}

int crypto_signer_from_identity(crypto_signer *s, const crypto_identity *id) {
  static const char label[] = CRYPTO_SIGN_LABEL;
  if (crypto_hmac_sha256(id->priv, sizeof id->priv, (const uint8_t *)label, sizeof label - 1,
                         s->seed) != SW_OK)
    return SW_ECRYPTO;
  size_t publen = CRYPTO_SIGN_PUB_LEN;
  EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, s->seed, 32);
  int ok = pk && EVP_PKEY_get_raw_public_key(pk, s->pub, &publen) == 1 &&
           publen == CRYPTO_SIGN_PUB_LEN;
  EVP_PKEY_free(pk);
  return ok ? SW_OK : SW_ECRYPTO;
}

int crypto_sign(const crypto_signer *s, const void *msg, size_t len,
                uint8_t sig[CRYPTO_SIGN_LEN]) {
  size_t siglen = CRYPTO_SIGN_LEN;
  EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, s->seed, 32);
  EVP_MD_CTX *md = pk ? EVP_MD_CTX_new() : NULL;
  int ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, pk) == 1 &&
           EVP_DigestSign(md, sig, &siglen, msg, len) == 1 && siglen == CRYPTO_SIGN_LEN;
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pk);
  return ok ? SW_OK : SW_ECRYPTO;
}

int crypto_verify(const uint8_t pub[CRYPTO_SIGN_PUB_LEN], const void *msg, size_t len,
                  const uint8_t sig[CRYPTO_SIGN_LEN]) {
  EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, CRYPTO_SIGN_PUB_LEN);
  EVP_MD_CTX *md = pk ? EVP_MD_CTX_new() : NULL;
  int ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1 &&
           EVP_DigestVerify(md, sig, CRYPTO_SIGN_LEN, msg, len) == 1;
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pk);
  return ok ? SW_OK : SW_ECRYPTO;
}

struct crypto_sign_ctx {
  EVP_PKEY *pk;
  EVP_MD_CTX *md;
};

crypto_sign_ctx *crypto_sign_ctx_new(const crypto_signer *s) {
  crypto_sign_ctx *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, s->seed, 32);
  k->md = k->pk ? EVP_MD_CTX_new() : NULL;
  if (!k->md) {
    crypto_sign_ctx_free(k);
    return NULL;
  }
  return k;
}

void crypto_sign_ctx_free(crypto_sign_ctx *k) {
  if (!k) return;
  EVP_MD_CTX_free(k->md);
  EVP_PKEY_free(k->pk);
  free(k);
}

int crypto_sign_ctx_sign(crypto_sign_ctx *k, const void *msg, size_t len,
                         uint8_t sig[CRYPTO_SIGN_LEN]) {
  size_t siglen = CRYPTO_SIGN_LEN;
  int ok = EVP_DigestSignInit(k->md, NULL, NULL, NULL, k->pk) == 1 &&
           EVP_DigestSign(k->md, sig, &siglen, msg, len) == 1 && siglen == CRYPTO_SIGN_LEN;
  return ok ? SW_OK : SW_ECRYPTO;
}
