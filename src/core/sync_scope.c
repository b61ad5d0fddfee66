/* Scoped keys, lifetimes and removal for the store/fetch module (issue 12 item 5):
 * sw_core_store_ex, sw_core_unstore, the wire key of a topic-scoped key, and the
 * expiry order. Declared in sync_state.h (and the two calls in core.h).
 *
 * A scoped key travels as "t:" + the topic's 12-character hash (crypto_topic_hash) +
 * "/" + the caller's key: an ordinary key to every peer, reference peers included, so
 * nothing on the wire changes; only the application sees its own key.
 *
 * Lifetimes: every key that expires has one entry, found by a hash of its wire key and
 * ordered by expiry in a binary heap. A timeout pops at most EXPIRY_PER_TICK due
 * entries (the work per tick is bounded whatever the store holds), dropping each from
 * memory and asking the backend to remove its row. An unstored key gets an entry due at
 * once, so the same path removes its row, and until then the key reads as dead (a
 * backend read already under way cannot bring it back). */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "crypto.h"
#include "sync_state.h"
#include "sync_value.h"

#define SCOPE_PREFIX_LEN (2 + CRYPTO_TOPIC_HASH_LEN + 1) /* "t:" hash "/" */

int sync_scope_key(sw_core *c, const char *key, const sw_core_scope *scope, char *out,
                   size_t *outlen, uint8_t *koff, uint8_t topic[32], int *scoped) {
  if (!key) return SW_EINVAL;
  size_t n = strlen(key);
  *koff = 0;
  *scoped = 0;
  /* A signed or content key names its value by the signer or the hash (docs/VALUES.md):
   * it is the same key in every topic, so it is never scoped. */
  if (!scope || scope->global || sv_key_kind((const uint8_t *)key, n) != SV_PLAIN) {
    if (n == 0 || n > SYNC_KEY_MAX) return SW_EINVAL; /* D29 */
    memcpy(out, key, n + 1);
    *outlen = n;
    return SW_OK;
  }
  const uint8_t *t = scope->topic ? scope->topic : core_topic(c);
  if (!t || n == 0 || SCOPE_PREFIX_LEN + n > SYNC_KEY_MAX) return SW_EINVAL;
  char h[CRYPTO_TOPIC_HASH_LEN + 1];
  crypto_topic_hash(t, h);
  out[0] = 't';
  out[1] = ':';
  memcpy(out + 2, h, CRYPTO_TOPIC_HASH_LEN);
  out[2 + CRYPTO_TOPIC_HASH_LEN] = '/';
  memcpy(out + SCOPE_PREFIX_LEN, key, n + 1);
  *outlen = SCOPE_PREFIX_LEN + n;
  *koff = SCOPE_PREFIX_LEN;
  *scoped = 1;
  if (topic) memcpy(topic, t, 32);
  return SW_OK;
}

/* ---- the expiry order ------------------------------------------------------------ */

static size_t xent_cost(size_t klen) { return sizeof(xent) + klen + 1; }

static xent *exp_find(const sync_expiry *x, const uint8_t *k, size_t n) {
  if (!x->buckets) return NULL;
  uint32_t h = sync_key_hash(k, n);
  for (xent *e = x->buckets[h % EXPIRY_BUCKETS]; e; e = e->hnext)
    if (e->hash == h && e->klen == n && memcmp(e->key, k, n) == 0) return e;
  return NULL;
}

static void heap_swap(sync_expiry *x, size_t i, size_t j) {
  xent *t = x->heap[i];
  x->heap[i] = x->heap[j];
  x->heap[j] = t;
  x->heap[i]->pos = (uint32_t)i;
  x->heap[j]->pos = (uint32_t)j;
}

static void heap_up(sync_expiry *x, size_t i) {
  while (i > 0 && x->heap[(i - 1) / 2]->at > x->heap[i]->at) {
    heap_swap(x, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static void heap_down(sync_expiry *x, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < x->n && x->heap[l]->at < x->heap[m]->at) m = l;
    if (r < x->n && x->heap[r]->at < x->heap[m]->at) m = r;
    if (m == i) return;
    heap_swap(x, i, m);
    i = m;
  }
}

static void exp_remove(sync_expiry *x, xent *e) {
  xent **pp = &x->buckets[e->hash % EXPIRY_BUCKETS];
  while (*pp != e) pp = &(*pp)->hnext;
  *pp = e->hnext;
  size_t i = e->pos;
  x->n--;
  if (i != x->n) {
    x->heap[i] = x->heap[x->n];
    x->heap[i]->pos = (uint32_t)i;
    heap_up(x, i);
    heap_down(x, x->heap[i]->pos);
  }
  x->bytes -= xent_cost(e->klen);
  free(e);
}

uint64_t sync_expiry_get(const sync_state *s, const uint8_t *k, size_t n) {
  const xent *e = exp_find(&s->exp, k, n);
  return e ? e->at : 0;
}

int sync_expiry_dead(const sync_state *s, const uint8_t *k, size_t n, uint64_t now) {
  uint64_t at = sync_expiry_get(s, k, n);
  return at && at <= now;
}

int sync_expiry_set(sync_state *s, const uint8_t *k, size_t n, uint64_t at) {
  sync_expiry *x = &s->exp;
  xent *e = exp_find(x, k, n);
  if (!at) {
    if (e) exp_remove(x, e);
    return SW_OK;
  }
  if (e) {
    e->at = at;
    e->removing = 0;
    heap_up(x, e->pos);
    heap_down(x, e->pos);
    return SW_OK;
  }
  if (x->n >= EXPIRY_MAX) return SW_EFULL;
  if (!x->buckets) {
    if (!(x->buckets = calloc(EXPIRY_BUCKETS, sizeof *x->buckets))) return SW_ENOMEM;
    x->bytes += EXPIRY_BUCKETS * sizeof *x->buckets;
  }
  if (x->n == x->cap) {
    size_t cap = x->cap ? 2 * x->cap : 64;
    if (cap > EXPIRY_MAX) cap = EXPIRY_MAX;
    xent **h = realloc(x->heap, cap * sizeof *h);
    if (!h) return SW_ENOMEM;
    x->heap = h;
    x->bytes += (cap - x->cap) * sizeof *h;
    x->cap = cap;
  }
  if (!(e = malloc(sizeof *e + n + 1))) return SW_ENOMEM;
  memcpy(e->key, k, n);
  e->key[n] = 0;
  e->klen = n;
  e->at = at;
  e->removing = 0;
  e->hash = sync_key_hash(k, n);
  x->bytes += xent_cost(n);
  e->hnext = x->buckets[e->hash % EXPIRY_BUCKETS];
  x->buckets[e->hash % EXPIRY_BUCKETS] = e;
  e->pos = (uint32_t)x->n;
  x->heap[x->n++] = e;
  heap_up(x, e->pos);
  return SW_OK;
}

int sync_req_remove(sync_state *s, const uint8_t *k, size_t n) {
  if (!s->backend) return SW_OK;
  /* A SET of the key still queued (not taken by the runtime) would land after our
   * removal if both waited: it becomes the removal instead. */
  for (int i = 0; i < STORAGE_MAX; i++) {
    sreq *r = &s->reqs[i];
    if (r->state == 1 && r->op == SYNC_OP_SET && strlen(r->key) == n &&
        memcmp(r->key, k, n) == 0) {
      s->req_bytes -= r->len;
      r->len = 0;
      return SW_OK;
    }
  }
  static const uint8_t none[1] = {0};
  return sync_req_new(s, SYNC_OP_SET, k, n, none, 0) ? SW_OK : SW_EAGAIN;
}

void sync_expiry_timeout(sync_state *s, uint64_t now) {
  sync_expiry *x = &s->exp;
  if (now < x->retry_at) return;
  for (int done = 0; x->n && x->heap[0]->at <= now && done < EXPIRY_PER_TICK; done++) {
    xent *e = x->heap[0];
    if (!e->removing && sync_req_remove(s, (const uint8_t *)e->key, e->klen)) {
      x->retry_at = now + EXPIRY_RETRY_MS; /* the backend queue is full */
      return;
    }
    if (sync_cache_remove(&s->cache, (const uint8_t *)e->key, e->klen)) s->st.expired++;
    exp_remove(x, e);
  }
}

uint64_t sync_expiry_deadline(const sync_state *s, uint64_t d) {
  const sync_expiry *x = &s->exp;
  if (!x->n) return d;
  uint64_t at = x->heap[0]->at;
  if (at < x->retry_at) at = x->retry_at;
  return at < d ? at : d;
}

void sync_expiry_clear(sync_state *s) {
  sync_expiry *x = &s->exp;
  for (size_t i = 0; i < x->n; i++) free(x->heap[i]);
  free(x->heap);
  free(x->buckets);
  memset(x, 0, sizeof *x);
}

/* ---- lifetimes in the backend ----------------------------------------------------
 * A value with a lifetime is kept in the backend behind a 16-byte header: 8 bytes of
 * mark, then the Unix time in ms at which it dies (big-endian; 0: never). The lifetime
 * thus survives a restart: a value read back after its time is not served and its row
 * is removed. Values without a lifetime are stored as they are, unless they begin with
 * the mark themselves: those get a header with time 0, so nothing is ever misread. */

static const uint8_t LIFE_MARK[8] = {0xff, 'S', 'W', 'T', 'T', 'L', 0x00, 0x01};
#define LIFE_HDR 16

int sync_value_looks_wrapped(const uint8_t *v, size_t len) {
  return len >= sizeof LIFE_MARK && memcmp(v, LIFE_MARK, sizeof LIFE_MARK) == 0;
}

int sync_req_lifetime(sync_state *s, sreq *r, uint64_t at) {
  int64_t unix_at = at ? (int64_t)at + s->unix_offset : 0;
  uint64_t t = unix_at > 0 ? (uint64_t)unix_at : at ? 1 : 0;
  if (r->wrapped) { /* the header is there already: set its time */
    wire_put64(r->value + 8, t);
    return SW_OK;
  }
  uint8_t *v = malloc(r->len + LIFE_HDR);
  if (!v) return SW_ENOMEM;
  memcpy(v, LIFE_MARK, sizeof LIFE_MARK);
  wire_put64(v + 8, t);
  if (r->len) memcpy(v + LIFE_HDR, r->value, r->len);
  free(r->value);
  r->value = v;
  r->len += LIFE_HDR;
  r->wrapped = 1;
  s->req_bytes += LIFE_HDR;
  return SW_OK;
}

/* The queued (not yet taken) SET of k, or NULL. */
static sreq *req_queued_set(sync_state *s, const uint8_t *k, size_t n) {
  for (int i = 0; i < STORAGE_MAX; i++) {
    sreq *r = &s->reqs[i];
    if (r->state == 1 && r->op == SYNC_OP_SET && r->len && strlen(r->key) == n &&
        memcmp(r->key, k, n) == 0)
      return r;
  }
  return NULL;
}

int sync_backend_value(sync_state *s, const uint8_t *k, size_t n, const uint8_t **v, size_t *len,
                       uint64_t now) {
  if (!sync_value_looks_wrapped(*v, *len)) return 1;
  if (*len <= LIFE_HDR) return 0;
  uint64_t unix_at = wire_get64(*v + 8);
  *v += LIFE_HDR;
  *len -= LIFE_HDR;
  if (!unix_at) return 1;
  int64_t at = (int64_t)unix_at - s->unix_offset;
  if (at <= 0 || (uint64_t)at <= now) { /* died while we were away: remove the row */
    sync_cache_remove(&s->cache, k, n);
    sync_req_remove(s, k, n);
    return 0;
  }
  return sync_expiry_set(s, k, n, (uint64_t)at) == SW_OK;
}

/* ---- the calls --------------------------------------------------------------------- */

static sync_state *scope_state(sw_core *c) { return core_module_state(c, "sync"); }

int sw_core_store_ex(sw_core *c, const char *key, const void *value, size_t len,
                     const sw_core_scope *scope, uint32_t ttl_ms, uint64_t now) {
  sync_state *s = scope_state(c);
  char wk[SYNC_KEY_MAX + 1];
  size_t n;
  uint8_t koff;
  int scoped;
  if (!s || sync_scope_key(c, key, scope, wk, &n, &koff, NULL, &scoped)) return SW_EINVAL;
  if (ttl_ms && s->exp.n >= EXPIRY_MAX && !exp_find(&s->exp, (const uint8_t *)wk, n))
    return SW_EFULL; /* before anything is kept */
  int rc = sw_core_store(c, wk, value, len, now); /* clears an earlier lifetime */
  if (rc || !ttl_ms) return rc;
  rc = sync_expiry_set(s, (const uint8_t *)wk, n, now + ttl_ms);
  /* The backend write sw_core_store queued (not taken yet: the runtime takes requests
   * after this call) carries the lifetime too. */
  sreq *r = req_queued_set(s, (const uint8_t *)wk, n);
  if (!rc && r) rc = sync_req_lifetime(s, r, now + ttl_ms);
  if (rc) sw_core_unstore(c, wk, NULL, now); /* no lifetime: keep nothing */
  return rc;
}

int sw_core_unstore(sw_core *c, const char *key, const sw_core_scope *scope, uint64_t now) {
  sync_state *s = scope_state(c);
  char wk[SYNC_KEY_MAX + 1];
  size_t n;
  uint8_t koff;
  int scoped;
  if (!s || sync_scope_key(c, key, scope, wk, &n, &koff, NULL, &scoped)) return SW_EINVAL;
  if (s->closing) return SW_ECLOSED;
  s->now = now;
  const uint8_t *k = (const uint8_t *)wk;
  if (s->backend) {
    /* The backend removal is queued now (a program may close right after); the key
     * also reads as dead until the next timeout, so that a backend read already under
     * way cannot bring the value back. When the queue is full the timeout queues it. */
    int queued = sync_req_remove(s, k, n) == SW_OK;
    if (sync_expiry_set(s, k, n, now ? now : 1)) {
      if (!queued) return SW_EAGAIN; /* nothing changed: the caller retries */
    } else {
      exp_find(&s->exp, k, n)->removing = queued;
    }
  } else {
    sync_expiry_set(s, k, n, 0);
  }
  sync_cache_remove(&s->cache, k, n);
  s->st.unstored++;
  return SW_OK;
}
