/* Signed origins: see origin.h. */
#include "origin.h"

#include <stdlib.h>
#include <string.h>

#include "peers.h"
#include "xsession.h"

typedef struct origin_binding {
  uint8_t id[20];                   /* the peer's full id */
  uint8_t key[CRYPTO_SIGN_PUB_LEN]; /* its signing key */
  uint64_t used;                    /* the table's clock when last learnt or used */
} origin_binding;

struct origin_keys {
  int have_signer;
  crypto_signer signer; /* ours, derived once from the identity */
  crypto_sign_ctx *sctx; /* the same, ready to sign many messages */
  origin_binding *b;    /* grows by doubling up to ORIGIN_BINDINGS */
  size_t n, cap;
  uint64_t clock;       /* counts uses, for least-recently-used */
};

static struct origin_keys *state(sw_core *c) {
  if (!c->okeys) c->okeys = calloc(1, sizeof *c->okeys);
  return c->okeys;
}

static const crypto_signer *signer(sw_core *c) {
  struct origin_keys *k = state(c);
  if (!k) return NULL;
  if (!k->have_signer) {
    if (crypto_signer_from_identity(&k->signer, &c->me) != SW_OK) return NULL;
    if (!(k->sctx = crypto_sign_ctx_new(&k->signer))) return NULL;
    k->have_signer = 1;
  }
  return &k->signer;
}

int origin_own_key(sw_core *c, uint8_t out[32]) {
  const crypto_signer *s = signer(c);
  if (!s) return c->okeys ? SW_ECRYPTO : SW_ENOMEM;
  memcpy(out, s->pub, CRYPTO_SIGN_PUB_LEN);
  return SW_OK;
}

static origin_binding *find(const struct origin_keys *k, const uint8_t id[20]) {
  for (size_t i = 0; k && i < k->n; i++)
    if (memcmp(k->b[i].id, id, 20) == 0) return &k->b[i];
  return NULL;
}

static void learn(sw_core *c, const uint8_t id[20], const uint8_t key[32]) {
  struct origin_keys *k = state(c);
  if (!k) return;
  origin_binding *e = find(k, id);
  if (!e && k->n < k->cap) e = &k->b[k->n++];
  if (!e && k->cap < ORIGIN_BINDINGS) {
    size_t cap = k->cap ? 2 * k->cap : 16;
    origin_binding *grown = realloc(k->b, cap * sizeof *grown);
    if (grown) {
      k->b = grown;
      k->cap = cap;
      e = &k->b[k->n++];
    }
  }
  if (!e) { /* full (or no memory to grow): the least recently used one goes */
    if (!k->n) return;
    e = &k->b[0];
    for (size_t i = 1; i < k->n; i++)
      if (k->b[i].used < e->used) e = &k->b[i];
  }
  memcpy(e->id, id, 20);
  memcpy(e->key, key, CRYPTO_SIGN_PUB_LEN);
  e->used = ++k->clock;
}

/* The bytes a binding's proof signs: label, full id, signing key. */
static size_t binding_text(uint8_t *out, const uint8_t id[20], const uint8_t key[32]) {
  static const char label[] = ORIGIN_BIND_LABEL;
  memcpy(out, label, sizeof label - 1);
  memcpy(out + sizeof label - 1, id, 20);
  memcpy(out + sizeof label - 1 + 20, key, CRYPTO_SIGN_PUB_LEN);
  return sizeof label - 1 + 20 + CRYPTO_SIGN_PUB_LEN;
}

void origin_send_binding(sw_core *c, core_peer *p, uint64_t now) {
  const crypto_signer *s = signer(c);
  if (!s || !p->xs || !p->xs->x) return; /* then nobody can check what we sign: no harm */
  uint8_t text[sizeof ORIGIN_BIND_LABEL + 20 + 32], m[1 + ORIGIN_BINDING_LEN];
  size_t tl = binding_text(text, c->me.id, s->pub);
  m[0] = ORIGIN_CHANNEL;
  m[1] = ORIGIN_MSG_BINDING;
  memcpy(m + 2, s->pub, CRYPTO_SIGN_PUB_LEN);
  if (crypto_sign(s, text, tl, m + 2 + CRYPTO_SIGN_PUB_LEN) != SW_OK) return;
  /* a fresh stream has room for it: nothing was written into it yet */
  (void)xport_send(p->xs->x, m, sizeof m, XPORT_RELIABLE | XPORT_ENGINE, now);
}

void origin_on_message(sw_core *c, core_peer *p, const uint8_t *msg, size_t len,
                       uint64_t now) {
  (void)now;
  if (len != ORIGIN_BINDING_LEN || msg[0] != ORIGIN_MSG_BINDING) return; /* not ours to read */
  const uint8_t *key = msg + 1, *sig = msg + 1 + CRYPTO_SIGN_PUB_LEN;
  /* Unchanged since we last checked it: no signature to check again. */
  origin_binding *e = find(c->okeys, p->full_id);
  if (e && memcmp(e->key, key, CRYPTO_SIGN_PUB_LEN) == 0) {
    e->used = ++c->okeys->clock;
    return;
  }
  uint8_t text[sizeof ORIGIN_BIND_LABEL + 20 + 32];
  size_t tl = binding_text(text, p->full_id, key);
  if (crypto_verify(key, text, tl, sig) != SW_OK) return; /* a key it does not hold */
  learn(c, p->full_id, key);
}

/* label || author id || message id || message, signed or checked in one call. */
static int with_text(const uint8_t *hdr, const void *msg, size_t len,
                     int (*fn)(void *arg, const uint8_t *text, size_t tl, uint8_t *sig),
                     void *arg, uint8_t *sig) {
  static const char label[] = ORIGIN_SIG_LABEL;
  uint8_t small[1024], *t = small;
  size_t tl = sizeof label - 1 + XPORT_ORIGIN_HDR + len;
  if (tl > sizeof small && !(t = malloc(tl))) return SW_ENOMEM;
  memcpy(t, label, sizeof label - 1);
  memcpy(t + sizeof label - 1, hdr, XPORT_ORIGIN_HDR);
  if (len) memcpy(t + sizeof label - 1 + XPORT_ORIGIN_HDR, msg, len);
  int rc = fn(arg, t, tl, sig);
  if (t != small) free(t);
  return rc;
}

static int do_sign(void *arg, const uint8_t *text, size_t tl, uint8_t *sig) {
  return crypto_sign_ctx_sign(arg, text, tl, sig);
}

static int do_verify(void *arg, const uint8_t *text, size_t tl, uint8_t *sig) {
  return crypto_verify(arg, text, tl, sig);
}

int origin_sign(sw_core *c, uint8_t hdr[XPORT_SIGNED_HDR], const void *msg, size_t len) {
  const crypto_signer *s = signer(c);
  if (!s) return c->okeys ? SW_ECRYPTO : SW_ENOMEM;
  return with_text(hdr, msg, len, do_sign, c->okeys->sctx, hdr + XPORT_ORIGIN_HDR);
}

int origin_verify(sw_core *c, const uint8_t *hdr, const uint8_t *msg, size_t len) {
  origin_binding *e = find(c->okeys, hdr);
  if (!e) return ORIGIN_UNKNOWN;
  e->used = ++c->okeys->clock;
  uint8_t key[CRYPTO_SIGN_PUB_LEN], sig[CRYPTO_SIGN_LEN];
  memcpy(key, e->key, sizeof key);
  memcpy(sig, hdr + XPORT_ORIGIN_HDR, sizeof sig);
  int rc = with_text(hdr, msg, len, do_verify, key, sig);
  /* Out of memory says nothing of the signature: as if no binding were known. */
  return rc == SW_OK ? ORIGIN_VALID : rc == SW_ENOMEM ? ORIGIN_UNKNOWN : ORIGIN_FORGED;
}

int origin_key_of(sw_core *c, const uint8_t *id, size_t idlen, uint8_t out[32]) {
  struct origin_keys *k = c->okeys;
  origin_binding *best = NULL;
  for (size_t i = 0; k && i < k->n && idlen <= 20; i++)
    if (memcmp(k->b[i].id, id, idlen) == 0 && (!best || k->b[i].used > best->used))
      best = &k->b[i];
  if (!best) return SW_ENOTFOUND;
  memcpy(out, best->key, CRYPTO_SIGN_PUB_LEN);
  return SW_OK;
}

void origin_free(sw_core *c) {
  if (!c->okeys) return;
  free(c->okeys->b);
  crypto_sign_ctx_free(c->okeys->sctx);
  memset(c->okeys, 0, sizeof *c->okeys); /* the signing seed */
  free(c->okeys);
  c->okeys = NULL;
}

size_t origin_memory(const sw_core *c) {
  return c->okeys ? sizeof *c->okeys + c->okeys->cap * sizeof(origin_binding) : 0;
}

int sw_core_peer_signing_key(sw_core *c, const uint8_t peer[8], uint8_t out[32]) {
  if (!c || !peer || !out) return SW_EINVAL;
  const core_peer *p = peers_find(c, peer);
  if (p && p->tx) return origin_key_of(c, p->full_id, sizeof p->full_id, out);
  /* gone (or not yet here): a binding kept from an earlier session still answers */
  return origin_key_of(c, peer, 8, out) == SW_OK ? SW_OK : SW_ENOTCONN;
}
