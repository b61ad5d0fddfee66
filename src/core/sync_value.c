/* Signed, versioned values and content-addressed values (docs/VALUES.md): the wire keys,
 * the envelope codec and its verification, the engine's store calls for both kinds, and
 * the seq-aware in-memory store the store/fetch module (sync.c) keeps them in. Declared
 * in sync_value.h. */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "sync_state.h"
#include "sync_value.h"

/* The public header's figures are these. */
_Static_assert(SV_HDR == 73, "envelope header: magic, seq, signature");
_Static_assert(SV_PAYLOAD_MAX == SW_SIGNED_VALUE_MAX, "payload bound");
_Static_assert(SV_NAME_MAX == SW_SIGNED_NAME_MAX, "name bound");
_Static_assert(SV_CONTENT_KEY_LEN == SW_CONTENT_KEY_LEN, "content key length");

/* ---- wire keys ------------------------------------------------------------------ */

static int lower_hex(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) return 0;
  return 1;
}

int sv_key_kind(const uint8_t *k, size_t n) {
  if (!k || n < 2 || k[1] != ':') return SV_PLAIN;
  if (k[0] == 'c' && n == SV_CONTENT_KEY_LEN && lower_hex(k + 2, 64)) return SV_CONTENT;
  if (k[0] == 's' && n > SV_SIGNED_PREFIX_LEN && n <= SW_KEY_MAX && lower_hex(k + 2, 64) &&
      k[SV_SIGNED_PREFIX_LEN - 1] == '/' &&
      !memchr(k + SV_SIGNED_PREFIX_LEN, 0, n - SV_SIGNED_PREFIX_LEN))
    return SV_SIGNED;
  return SV_PLAIN;
}

int sv_signed_key(char *out, const uint8_t signer[32], const char *name) {
  if (!out || !signer || !name) return SW_EINVAL;
  size_t nl = strlen(name);
  if (nl == 0 || nl > SV_NAME_MAX) return SW_EINVAL;
  out[0] = 's';
  out[1] = ':';
  crypto_hex_encode(signer, 32, out + 2);
  out[SV_SIGNED_PREFIX_LEN - 1] = '/';
  memcpy(out + SV_SIGNED_PREFIX_LEN, name, nl + 1);
  return (int)(SV_SIGNED_PREFIX_LEN + nl);
}

int sv_key_signer(const uint8_t *k, size_t n, uint8_t signer[32]) {
  if (sv_key_kind(k, n) != SV_SIGNED) return SW_EINVAL;
  char hex[65];
  memcpy(hex, k + 2, 64);
  hex[64] = 0;
  return crypto_hex_decode(hex, signer, 32) == 32 ? SW_OK : SW_EINVAL;
}

void sv_content_key(char *out, const void *v, size_t len) {
  uint8_t d[32];
  crypto_sha256(v, len, d);
  out[0] = 'c';
  out[1] = ':';
  crypto_hex_encode(d, 32, out + 2);
}

/* ---- the envelope ------------------------------------------------------------------ */

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

#define LABEL_LEN (sizeof SV_LABEL - 1)

/* The signed message: label | key length | key | seq | payload, in a new buffer. */
static uint8_t *signed_msg(const uint8_t *k, size_t n, uint64_t seq, const uint8_t *p,
                           size_t plen, size_t *len) {
  *len = LABEL_LEN + 1 + n + 8 + plen;
  uint8_t *m = malloc(*len);
  if (!m) return NULL;
  uint8_t *w = m;
  memcpy(w, SV_LABEL, LABEL_LEN);
  w += LABEL_LEN;
  *w++ = (uint8_t)n;
  memcpy(w, k, n);
  w += n;
  put_u64(w, seq);
  w += 8;
  memcpy(w, p, plen);
  return m;
}

int sv_encode(uint8_t *out, const crypto_signer *signer, const uint8_t *k, size_t n,
              uint64_t seq, const uint8_t *p, size_t plen) {
  if (!out || !signer || !k || !n || n > SW_KEY_MAX || !seq || !p || !plen ||
      plen > SV_PAYLOAD_MAX)
    return SW_EINVAL;
  size_t mlen;
  uint8_t *m = signed_msg(k, n, seq, p, plen, &mlen);
  if (!m) return SW_ENOMEM;
  int rc = crypto_sign(signer, m, mlen, out + 9);
  free(m);
  if (rc) return SW_ECRYPTO;
  out[0] = SV_MAGIC;
  put_u64(out + 1, seq);
  memmove(out + SV_HDR, p, plen); /* p may be out + SV_HDR */
  return SW_OK;
}

int sv_open(const uint8_t *v, size_t len, uint64_t *seq, const uint8_t **p, size_t *plen) {
  if (!v || len <= SV_HDR || v[0] != SV_MAGIC) return SW_EINVAL;
  uint64_t s = get_u64(v + 1);
  if (!s) return SW_EINVAL;
  if (seq) *seq = s;
  if (p) *p = v + SV_HDR;
  if (plen) *plen = len - SV_HDR;
  return SW_OK;
}

int sv_verify(const uint8_t *k, size_t n, const uint8_t *v, size_t len, uint64_t *seq) {
  if (seq) *seq = 0;
  int kind = sv_key_kind(k, n);
  if (kind == SV_PLAIN) return SW_OK;
  if (!v || !len) return SW_EINVAL;
  if (kind == SV_CONTENT) {
    char want[SV_CONTENT_KEY_LEN + 1];
    sv_content_key(want, v, len);
    return memcmp(want, k, SV_CONTENT_KEY_LEN) == 0 ? SW_OK : SW_EINVAL;
  }
  uint64_t s;
  const uint8_t *p;
  size_t plen;
  uint8_t signer[32];
  if (sv_open(v, len, &s, &p, &plen) || sv_key_signer(k, n, signer)) return SW_EINVAL;
  size_t mlen;
  uint8_t *m = signed_msg(k, n, s, p, plen, &mlen);
  if (!m) return SW_ENOMEM;
  int rc = crypto_verify(signer, m, mlen, v + 9);
  free(m);
  if (rc) return SW_EINVAL;
  if (seq) *seq = s;
  return SW_OK;
}

/* ---- the in-memory store ------------------------------------------------------------ */

uint64_t sv_held_seq(sync_state *s, const uint8_t *k, size_t n) {
  cent *e = sync_cache_find(&s->cache, k, n);
  uint64_t seq = 0;
  if (e && sv_open(e->val, e->vlen, &seq, NULL, NULL)) seq = 0;
  return seq;
}

int sv_cache_put(sync_state *s, const uint8_t *k, size_t n, const uint8_t *v, size_t len) {
  if (sv_key_kind(k, n) == SV_SIGNED) {
    uint64_t seq = 0;
    if (sv_open(v, len, &seq, NULL, NULL)) return 0;
    if (sv_held_seq(s, k, n) >= seq) return 0; /* a holder keeps only the highest */
  }
  int rc = sync_cache_put(&s->cache, k, n, v, len);
  return rc ? rc : 1;
}

/* ---- the engine's calls ----------------------------------------------------------------- */

int sw_core_signing_key(sw_core *c, uint8_t out[32]) {
  if (!c || !out) return SW_EINVAL;
  crypto_signer sg;
  if (crypto_signer_from_identity(&sg, core_identity(c))) return SW_ECRYPTO;
  memcpy(out, sg.pub, 32);
  memset(&sg, 0, sizeof sg);
  return SW_OK;
}

int sw_core_store_signed(sw_core *c, const char *name, const void *payload, size_t len,
                         uint64_t seq, uint64_t *seq_out, uint64_t now) {
  sync_state *s = c ? core_module_state(c, "sync") : NULL;
  if (!s || !name || !payload || !len) return SW_EINVAL;
  if (len > SV_PAYLOAD_MAX) return SW_EMSGSIZE;
  crypto_signer sg;
  if (crypto_signer_from_identity(&sg, core_identity(c))) return SW_ECRYPTO;
  char key[SW_KEY_MAX + 1];
  int kl = sv_signed_key(key, sg.pub, name);
  if (kl < 0) {
    memset(&sg, 0, sizeof sg);
    return kl;
  }
  uint64_t held = sv_held_seq(s, (const uint8_t *)key, (size_t)kl);
  if (!seq) seq = held + 1;
  if (seq <= held || seq == UINT64_MAX) {
    memset(&sg, 0, sizeof sg);
    return SW_EINVAL;
  }
  uint8_t *env = malloc(SV_HDR + len);
  int rc = env ? sv_encode(env, &sg, (const uint8_t *)key, (size_t)kl, seq, payload, len)
               : SW_ENOMEM;
  memset(&sg, 0, sizeof sg);
  if (rc == SW_OK) rc = sw_core_store(c, key, env, SV_HDR + len, now);
  free(env);
  if (rc == SW_OK && seq_out) *seq_out = seq;
  return rc;
}

int sw_core_store_content(sw_core *c, const void *v, size_t len, char *key_out, uint64_t now) {
  if (!c || !v || !len || !key_out) return SW_EINVAL;
  if (len > SW_VALUE_MAX) return SW_EMSGSIZE;
  char key[SV_CONTENT_KEY_LEN + 1];
  sv_content_key(key, v, len);
  int rc = sw_core_store(c, key, v, len, now);
  if (rc == SW_OK) memcpy(key_out, key, sizeof key);
  return rc;
}
