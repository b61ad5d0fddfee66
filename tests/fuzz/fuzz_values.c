/* libFuzzer target: the two parsers of signed data between our peers.
 *   - a stored value checked against its key (docs/VALUES.md, sync_value.h): plain,
 *     content (c:<sha256>) and signed (s:<signer>/<name>) keys, the envelope;
 *   - the signing binding a peer sends on channel 0x02 and the kind 5 signature check
 *     (docs/TRANSPORT-delivery.md "Signed origins", origin.h).
 *
 * Input: byte 0 selects the path.
 *   0 mod 3: byte 1 is a key length n; the key is the next n bytes, the value the rest.
 *            sv_verify may accept only what holds: a signed key's value splits as an
 *            envelope with seq >= 1, a content key's value hashes to the key. Then the
 *            rest is signed under a signed key of a fixed signer: it must verify, and
 *            with any one byte changed (chosen by the input) it must not.
 *   1 mod 3: the rest is a binding message from a peer whose full id is its first 20
 *            bytes (or zeros): random bytes must never bind a key (no valid proof);
 *            then a kind 5 header + message from the same bytes is checked: never
 *            ORIGIN_VALID for an author whose binding was never proven.
 *   2 mod 3: a valid binding built here, then the input as a message under it: a
 *            signature made here verifies (VALID), the input's own does not (FORGED)
 *            unless it equals ours.
 * One core lives across inputs (its binding table is bounded, 1 024). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "crypto.h"
#include "origin.h"
#include "sync_value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what) {
  fprintf(stderr, "fuzz_values: %s\n", what);
  abort();
}

static uint64_t g_rng = 0x7a1e5;
static void frand(void *ctx, uint8_t *b, size_t n) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    b[i] = (uint8_t)(g_rng >> 56);
  }
}

static sw_core *g_c;
static crypto_signer g_signer; /* a writer of signed values and of bindings */
static uint8_t g_writer_id[20];

static void setup(void) {
  sw_core_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed_hex = "7a1e";
  cfg.random = frand;
  if (sw_core_new(&g_c, &cfg, 0)) die("sw_core_new");
  crypto_identity w;
  if (crypto_identity_from_seed(&w, (const uint8_t *)"w", 1) ||
      crypto_signer_from_identity(&g_signer, &w))
    die("writer identity");
  memcpy(g_writer_id, w.id, 20);
}

static void value_path(const uint8_t *d, size_t len) {
  if (len < 1) return;
  size_t n = d[0];
  if (n > len - 1) n = len - 1;
  const uint8_t *k = d + 1, *v = d + 1 + n;
  size_t vlen = len - 1 - n;
  /* copies of their exact sizes, so ASan sees a read past either */
  uint8_t *kc = malloc(n ? n : 1), *vc = malloc(vlen ? vlen : 1);
  if (!kc || !vc) goto out;
  memcpy(kc, k, n);
  memcpy(vc, v, vlen);
  int kind = sv_key_kind(kc, n);
  uint64_t seq = 0;
  if (sv_verify(kc, n, vc, vlen, &seq) == SW_OK) {
    if (kind == SV_SIGNED) {
      uint64_t s2;
      const uint8_t *p;
      size_t plen;
      if (sv_open(vc, vlen, &s2, &p, &plen) != SW_OK || s2 != seq || seq < 1)
        die("a signed value accepted that is no envelope");
    } else if (kind == SV_CONTENT) {
      uint8_t h[32];
      char hex[65];
      crypto_sha256(vc, vlen, h);
      crypto_hex_encode(h, 32, hex);
      if (n != 66 || memcmp(kc + 2, hex, 64) != 0) die("a content value of another hash");
    }
  }
  /* the round trip: our own envelope of the value bytes verifies; one change breaks it */
  if (vlen && vlen <= 4096) {
    char key[SW_KEY_MAX + 1];
    if (sv_signed_key(key, g_signer.pub, "fuzz") < 0) die("signed key");
    size_t kl = strlen(key);
    uint8_t *env = malloc(SV_HDR + vlen);
    if (!env) goto out;
    uint64_t want = 1 + (d[0] % 7);
    if (sv_encode(env, &g_signer, (const uint8_t *)key, kl, want, vc, vlen) != SW_OK)
      die("encode");
    uint64_t got = 0;
    if (sv_verify((const uint8_t *)key, kl, env, SV_HDR + vlen, &got) != SW_OK || got != want)
      die("our own envelope does not verify");
    size_t at = (size_t)vc[0] * 131u % (SV_HDR + vlen);
    env[at] ^= (uint8_t)(1u << (vc[vlen - 1] % 8));
    if (sv_verify((const uint8_t *)key, kl, env, SV_HDR + vlen, NULL) == SW_OK)
      die("a changed envelope verifies");
    free(env);
  }
out:
  free(kc);
  free(vc);
}

static void binding_path(const uint8_t *d, size_t len) {
  core_peer p;
  memset(&p, 0, sizeof p);
  if (len >= 20) memcpy(p.full_id, d, 20);
  if (!memcmp(p.full_id, g_writer_id, 20)) return; /* path 2 binds that one for real */
  uint8_t *m = malloc(len ? len : 1);
  if (!m) return;
  memcpy(m, d, len);
  origin_on_message(g_c, &p, m, len, 0);
  uint8_t key[32];
  if (origin_key_of(g_c, p.full_id, 20, key) == SW_OK) die("a binding without proof");
  if (len >= XPORT_SIGNED_HDR) {
    uint8_t hdr[XPORT_SIGNED_HDR];
    memcpy(hdr, m, XPORT_SIGNED_HDR);
    memcpy(hdr, p.full_id, 20);
    if (origin_verify(g_c, hdr, m + XPORT_SIGNED_HDR, len - XPORT_SIGNED_HDR) == ORIGIN_VALID)
      die("a signature checked against a key never proven");
  }
  free(m);
}

static int sign_text(const uint8_t *hdr, const uint8_t *msg, size_t len, uint8_t sig[64]) {
  static const char label[] = ORIGIN_SIG_LABEL;
  size_t tl = sizeof label - 1 + 28 + len;
  uint8_t *t = malloc(tl);
  if (!t) return SW_ENOMEM;
  memcpy(t, label, sizeof label - 1);
  memcpy(t + sizeof label - 1, hdr, 28);
  if (len) memcpy(t + sizeof label - 1 + 28, msg, len);
  int rc = crypto_sign(&g_signer, t, tl, sig);
  free(t);
  return rc;
}

static void signed_path(const uint8_t *d, size_t len) {
  core_peer p;
  memset(&p, 0, sizeof p);
  memcpy(p.full_id, g_writer_id, 20);
  static const char blabel[] = ORIGIN_BIND_LABEL;
  uint8_t text[sizeof blabel - 1 + 20 + 32], b[ORIGIN_BINDING_LEN];
  memcpy(text, blabel, sizeof blabel - 1);
  memcpy(text + sizeof blabel - 1, g_writer_id, 20);
  memcpy(text + sizeof blabel - 1 + 20, g_signer.pub, 32);
  b[0] = ORIGIN_MSG_BINDING;
  memcpy(b + 1, g_signer.pub, 32);
  if (crypto_sign(&g_signer, text, sizeof text, b + 33)) die("sign binding");
  origin_on_message(g_c, &p, b, sizeof b, 0);
  uint8_t key[32];
  if (origin_key_of(g_c, g_writer_id, 20, key) || memcmp(key, g_signer.pub, 32))
    die("a proven binding not kept");
  uint8_t hdr[XPORT_SIGNED_HDR];
  memset(hdr, 0, sizeof hdr);
  memcpy(hdr, g_writer_id, 20);
  if (len >= 8) memcpy(hdr + 20, d, 8);
  const uint8_t *msg = len > 8 ? d + 8 : d;
  size_t ml = len > 8 ? len - 8 : 0;
  if (len >= 8 + 64) memcpy(hdr + 28, d + len - 64, 64); /* the input's own signature */
  uint8_t good[64];
  if (sign_text(hdr, msg, ml, good)) return;
  int theirs = origin_verify(g_c, hdr, msg, ml);
  if (theirs == ORIGIN_VALID && memcmp(hdr + 28, good, 64) != 0) {
    /* Ed25519 signatures are not unique in principle only for malleable encodings,
     * which OpenSSL refuses: another valid one here would be a forgery. */
    die("a signature that is not the writer's verified");
  }
  if (theirs == ORIGIN_UNKNOWN) die("a bound author reported unknown");
  memcpy(hdr + 28, good, 64);
  if (origin_verify(g_c, hdr, msg, ml) != ORIGIN_VALID) die("the writer's signature refused");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g_c) setup();
  if (size < 1) return 0;
  switch (data[0] % 3) {
    case 0: value_path(data + 1, size - 1); break;
    case 1: binding_path(data + 1, size - 1); break;
    default: signed_path(data + 1, size - 1); break;
  }
  return 0;
}
