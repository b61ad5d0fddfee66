/* store / fetch between peers: HAVE, WANT, CHUNK (both forms), CHUNK_ACK and the
 * sliding window (PROTOCOL.md 11.1-11.4, 12). See sync.h for what we do differently
 * from the references and why. All tables below have fixed bounds; byte budgets bound
 * what they hold (D17), and docs/API.md "Memory" gives the figures. */
#include "sync.h"

#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "wire.h"

#define CACHE_BUCKETS 4096             /* hash chains of the in-memory store */
#define DEFAULT_CACHE_BYTES (64u << 20) /* ours: the references have no byte bound (D17) */
#define VALUE_MAX SW_VALUE_MAX         /* ours: 16 MiB, below the wire's 58 981 500 */
#define FETCH_MAX 64                   /* keys being fetched at once */
#define WAITERS_MAX 16                 /* concurrent fetches of one key (D30) */
#define ASKED_MAX 16                   /* peers asked per key */
#define ASM_MAX 16                     /* reassemblies at once, per key and peer (D28) */
#define ASM_PER_KEY 4
#define ASM_BUDGET (48u << 20)         /* reassembly bytes (D17) */
#define ASM_IDLE_MS SYNC_TIMEOUT_MS    /* a reassembly with no chunk this long is dropped */
#define TX_MAX 32                      /* outgoing windowed transfers */
#define TX_BUDGET (64u << 20)          /* bytes of values held by transfers */
#define TX_SENDS_MAX 10                /* sends of one chunk before giving up (D19) */
#define TX_LOST_AFTER 3                /* acks of later sends that declare a chunk lost */
#define TX_BUSY_RETRY_MS 20            /* the send queue was full: try again this soon */
#define WANT_RETRY_MS 2000             /* ours: WANT again while nothing arrives */
#define STORAGE_MAX 64                 /* outstanding backend requests */
#define STORAGE_BUDGET (64u << 20)     /* value bytes held for backend writes */
#define HAVE_FRAME_MAX (WIRE_BATCH_MTU - 2) /* a HAVE shares a datagram with others */
#define PEERS_SCAN 128                 /* peers considered for one WANT round */

typedef struct cent {
  struct cent *prev, *next; /* least recently used first */
  struct cent *hnext;
  uint32_t hash;
  uint8_t *val;
  size_t vlen;
  size_t klen;
  char key[]; /* NUL-terminated */
} cent;

typedef struct waiter {
  sw_core_fetch_cb cb;
  void *user;
  uint64_t deadline;
} waiter;

enum { F_FREE = 0, F_BACKEND, F_NETWORK, F_READY };

typedef struct fetch {
  int state;
  char key[SYNC_KEY_MAX + 1];
  size_t klen;
  waiter w[WAITERS_MAX];
  int nw;
  uint8_t *ready; /* F_READY: the value, delivered at the next timeout */
  size_t ready_len;
  uint64_t next_want;
  uint8_t asked[ASKED_MAX][8];
  int nasked;
} fetch;

typedef struct assembly {
  int used;
  int f; /* index in fetches */
  uint8_t wire[8];
  uint16_t count, got;
  size_t last_len;
  uint8_t *data, *have;
  uint64_t last_rx;
} assembly;

typedef struct inflight {
  uint16_t idx;
  uint32_t seq;
  uint64_t due, sent_at;
} inflight;

typedef struct transfer {
  int used;
  uint8_t key[SYNC_KEY_MAX];
  size_t klen;
  uint8_t wire[8];
  uint8_t *val;
  size_t vlen;
  uint16_t count, next_new, nacked;
  uint8_t *acked, *sends;
  inflight fl[SYNC_WINDOW];
  int nfl;
  uint32_t seq;
  uint64_t srtt; /* smoothed round trip of chunks sent once (Karn), 0 until known */
  uint64_t safety, busy_until;
} transfer;

typedef struct sreq {
  int state; /* 0 free, 1 queued, 2 taken */
  uint32_t id;
  int op;
  char key[SYNC_KEY_MAX + 1];
  uint8_t *value;
  size_t len;
  int serve; /* GET for a peer's WANT: serve wire when found */
  uint8_t wire[8];
} sreq;

typedef struct sync_state {
  sw_core *c;
  size_t cache_max, cache_bytes_max;
  int backend, closing;
  cent *buckets[CACHE_BUCKETS];
  cent *lru_head, *lru_tail;
  size_t ncache, cache_bytes;
  fetch fetches[FETCH_MAX];
  assembly asms[ASM_MAX];
  size_t asm_bytes;
  transfer tx[TX_MAX];
  size_t tx_bytes;
  sreq reqs[STORAGE_MAX];
  size_t req_bytes;
  uint32_t next_req_id;
  uint64_t now;
  sync_stats st;
  uint8_t frame[8 + SYNC_KEY_MAX + SYNC_CHUNK_SIZE];
} sync_state;

/* ---- codecs --------------------------------------------------------------- */

int sync_decode(const uint8_t *b, size_t len, sync_frame *f) {
  memset(f, 0, sizeof *f);
  if (!b || len < 1) return SW_EINVAL;
  f->type = b[0];
  switch (b[0]) {
    case WIRE_HAVE: /* 11.1: length >= 3; entries are read by sync_have_next */
      if (len < 3) return SW_EINVAL;
      f->nkeys = b[1];
      return SW_OK;
    case WIRE_WANT: /* 11.2: length >= 3 and 2 + k */
      if (len < 3 || b[1] == 0 || len < 2u + b[1]) return SW_EINVAL;
      f->key = b + 2;
      f->klen = b[1];
      return SW_OK;
    case WIRE_CHUNK: { /* 11.3 */
      size_t k = len >= 2 ? b[1] : 0, o;
      if (len < 4 || k == 0 || 2 + k + 2 > len) return SW_EINVAL;
      f->key = b + 2;
      f->klen = k;
      o = 2 + k;
      uint16_t v = wire_get16(b + o);
      o += 2;
      if (v != SYNC_LARGE_MARK) {
        if (o + v > len) return SW_EINVAL; /* extra bytes are ignored, as in 11.3 */
        f->value = b + o;
        f->vlen = v;
        return SW_OK;
      }
      if (o + 4 > len) return SW_EINVAL;
      f->large = 1;
      f->index = wire_get16(b + o);
      f->count = wire_get16(b + o + 2);
      f->value = b + o + 4;
      f->vlen = len - o - 4; /* the rest of the frame */
      return SW_OK;
    }
    case WIRE_CHUNK_ACK: /* 11.4: length >= 5, k + 2 after offset 2 */
      if (len < 5 || b[1] == 0 || 2u + b[1] + 2 > len) return SW_EINVAL;
      f->key = b + 2;
      f->klen = b[1];
      f->index = wire_get16(b + 2 + b[1]);
      return SW_OK;
    default: return SW_EINVAL;
  }
}

int sync_have_next(const uint8_t *b, size_t len, size_t *off, const uint8_t **key,
                   size_t *klen) {
  size_t o = *off;
  if (o >= len) return 0;
  size_t k = b[o++];
  if (o + k > len) return 0;
  *key = b + o;
  *klen = k;
  *off = o + k;
  return 1;
}

size_t sync_want_encode(uint8_t *out, const uint8_t *key, size_t klen) {
  out[0] = WIRE_WANT;
  out[1] = (uint8_t)klen;
  memcpy(out + 2, key, klen);
  return 2 + klen;
}

size_t sync_chunk_small_encode(uint8_t *out, const uint8_t *key, size_t klen,
                               const uint8_t *v, size_t vlen) {
  out[0] = WIRE_CHUNK;
  out[1] = (uint8_t)klen;
  memcpy(out + 2, key, klen);
  wire_put16(out + 2 + klen, (uint16_t)vlen);
  memcpy(out + 4 + klen, v, vlen);
  return 4 + klen + vlen;
}

size_t sync_chunk_large_encode(uint8_t *out, const uint8_t *key, size_t klen, uint16_t index,
                               uint16_t count, const uint8_t *data, size_t dlen) {
  out[0] = WIRE_CHUNK;
  out[1] = (uint8_t)klen;
  memcpy(out + 2, key, klen);
  wire_put16(out + 2 + klen, SYNC_LARGE_MARK);
  wire_put16(out + 4 + klen, index);
  wire_put16(out + 6 + klen, count);
  memcpy(out + 8 + klen, data, dlen);
  return 8 + klen + dlen;
}

size_t sync_ack_encode(uint8_t *out, const uint8_t *key, size_t klen, uint16_t index) {
  out[0] = WIRE_CHUNK_ACK;
  out[1] = (uint8_t)klen;
  memcpy(out + 2, key, klen);
  wire_put16(out + 2 + klen, index);
  return 4 + klen;
}

size_t sync_have_encode(uint8_t *out, size_t cap, const sync_key *keys, size_t n) {
  size_t o = 2, count = 0;
  if (cap < 2) return 0;
  for (size_t i = 0; i < n && count < 255; i++) {
    if (keys[i].len == 0 || keys[i].len > SYNC_KEY_MAX || o + 1 + keys[i].len > cap) break;
    out[o++] = (uint8_t)keys[i].len;
    memcpy(out + o, keys[i].p, keys[i].len);
    o += keys[i].len;
    count++;
  }
  out[0] = WIRE_HAVE;
  out[1] = (uint8_t)count;
  return o;
}

/* ---- the in-memory store: LRU, bounded in entries and bytes (12, D17) ------ */

static uint32_t key_hash(const uint8_t *k, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ k[i]) * 16777619u;
  return h;
}

static cent *cache_find(sync_state *s, const uint8_t *k, size_t n) {
  uint32_t h = key_hash(k, n);
  for (cent *e = s->buckets[h % CACHE_BUCKETS]; e; e = e->hnext)
    if (e->hash == h && e->klen == n && memcmp(e->key, k, n) == 0) return e;
  return NULL;
}

static void lru_unlink(sync_state *s, cent *e) {
  if (e->prev) e->prev->next = e->next; else s->lru_head = e->next;
  if (e->next) e->next->prev = e->prev; else s->lru_tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_append(sync_state *s, cent *e) {
  e->prev = s->lru_tail;
  e->next = NULL;
  if (s->lru_tail) s->lru_tail->next = e; else s->lru_head = e;
  s->lru_tail = e;
}

static size_t cent_cost(size_t klen, size_t vlen) { return sizeof(cent) + klen + 1 + vlen; }

static void cache_remove(sync_state *s, cent *e) {
  cent **pp = &s->buckets[e->hash % CACHE_BUCKETS];
  while (*pp != e) pp = &(*pp)->hnext;
  *pp = e->hnext;
  lru_unlink(s, e);
  s->ncache--;
  s->cache_bytes -= cent_cost(e->klen, e->vlen);
  free(e->val);
  free(e);
}

/* Touching moves an entry to the most recently used end (the references' "LRU" is in
 * fact FIFO, 12; ours is a true LRU, a local choice). */
static void cache_touch(sync_state *s, cent *e) {
  lru_unlink(s, e);
  lru_append(s, e);
}

static int cache_put(sync_state *s, const uint8_t *k, size_t n, const uint8_t *v, size_t vlen) {
  size_t cost = cent_cost(n, vlen);
  if (cost > s->cache_bytes_max) return SW_EMSGSIZE;
  cent *old = cache_find(s, k, n);
  if (old) cache_remove(s, old);
  while (s->lru_head && (s->ncache >= s->cache_max || s->cache_bytes + cost > s->cache_bytes_max))
    cache_remove(s, s->lru_head);
  cent *e = malloc(sizeof *e + n + 1);
  uint8_t *copy = malloc(vlen);
  if (!e || !copy) {
    free(e);
    free(copy);
    return SW_ENOMEM;
  }
  memcpy(copy, v, vlen);
  memcpy(e->key, k, n);
  e->key[n] = 0;
  e->klen = n;
  e->val = copy;
  e->vlen = vlen;
  e->hash = key_hash(k, n);
  e->prev = e->next = NULL;
  e->hnext = s->buckets[e->hash % CACHE_BUCKETS];
  s->buckets[e->hash % CACHE_BUCKETS] = e;
  lru_append(s, e);
  s->ncache++;
  s->cache_bytes += cost;
  return SW_OK;
}

/* ---- backend requests -------------------------------------------------------- */

static sreq *req_new(sync_state *s, int op, const uint8_t *k, size_t n, const uint8_t *v,
                     size_t vlen) {
  if (!s->backend) return NULL;
  if (op == SYNC_OP_SET && s->req_bytes + vlen > STORAGE_BUDGET) return NULL;
  for (int i = 0; i < STORAGE_MAX; i++) {
    sreq *r = &s->reqs[i];
    if (r->state) continue;
    memset(r, 0, sizeof *r);
    if (op == SYNC_OP_SET) {
      r->value = malloc(vlen ? vlen : 1);
      if (!r->value) return NULL;
      memcpy(r->value, v, vlen);
      r->len = vlen;
      s->req_bytes += vlen;
    }
    memcpy(r->key, k, n);
    r->key[n] = 0;
    r->op = op;
    s->next_req_id = s->next_req_id % 0x7fffffff + 1;
    r->id = s->next_req_id;
    r->state = 1;
    return r;
  }
  return NULL;
}

static void req_free(sync_state *s, sreq *r) {
  if (r->op == SYNC_OP_SET) s->req_bytes -= r->len;
  free(r->value);
  memset(r, 0, sizeof *r);
}

/* ---- fetches ------------------------------------------------------------------ */

static sync_state *state_of(sw_core *c) { return core_module_state(c, "sync"); }

static fetch *fetch_find(sync_state *s, const uint8_t *k, size_t n) {
  for (int i = 0; i < FETCH_MAX; i++) {
    fetch *f = &s->fetches[i];
    if (f->state != F_FREE && f->klen == n && memcmp(f->key, k, n) == 0) return f;
  }
  return NULL;
}

static void asm_free(sync_state *s, assembly *a) {
  if (a->used) s->asm_bytes -= (size_t)a->count * (SYNC_CHUNK_SIZE + 1);
  free(a->data);
  free(a->have);
  memset(a, 0, sizeof *a);
}

static void fetch_clear(sync_state *s, fetch *f) {
  int fi = (int)(f - s->fetches);
  for (int i = 0; i < ASM_MAX; i++)
    if (s->asms[i].used && s->asms[i].f == fi) asm_free(s, &s->asms[i]);
  free(f->ready);
  memset(f, 0, sizeof *f);
}

static int peer_accepted(sw_core *c, const core_path *from, uint8_t wire[8]) {
  int fl = core_peer_at(c, from, wire);
  /* D6: control frames only from an address the peer proved with an authenticated
   * frame. A libsetowire peer proves its address with the sealed frame it sends on
   * connecting. A reference peer proves it only with DATA, which it may never send: it
   * sends its HAVE summary on connecting, and its CHUNKs, before any DATA (interop test
   * test_sync_interop). For reference peers the registered address (the one the
   * handshake came from, or one verified since) is therefore enough, which is what the
   * references themselves require (PROTOCOL.md Appendix A). */
  return (fl & CORE_PEER_VERIFIED) || ((fl & CORE_PEER_MAPPED) && (fl & CORE_PEER_LEGACY));
}

static int asked(const fetch *f, const uint8_t wire[8]) {
  for (int i = 0; i < f->nasked; i++)
    if (memcmp(f->asked[i], wire, 8) == 0) return 1;
  return 0;
}

static void ask(sync_state *s, fetch *f, const uint8_t wire[8]) {
  uint8_t buf[2 + SYNC_KEY_MAX];
  int known = asked(f, wire);
  if (!known && f->nasked == ASKED_MAX) return;
  size_t n = sync_want_encode(buf, (const uint8_t *)f->key, f->klen);
  /* The peer accepts our WANT only from a verified address (D6); the proof we sent on
   * connecting may have been lost, so prove it again first. */
  core_prove(s->c, wire);
  if (core_send_ctrl(s->c, wire, buf, n) != SW_OK) return;
  if (!known) memcpy(f->asked[f->nasked++], wire, 8);
}

static int asm_active(const sync_state *s, int fi, const uint8_t wire[8]) {
  for (int i = 0; i < ASM_MAX; i++) {
    const assembly *a = &s->asms[i];
    if (a->used && a->f == fi && memcmp(a->wire, wire, 8) == 0 &&
        s->now - a->last_rx < 2 * SYNC_RTO_MS)
      return 1;
  }
  return 0;
}

/* One WANT round (11.2): to the mesh peers (every peer when the mesh is empty, as
 * JavaScript does), skipping peers already sending us the value. */
static void want_round(sync_state *s, fetch *f) {
  sw_core_peer_info pi[PEERS_SCAN];
  size_t n = sw_core_peers(s->c, pi, PEERS_SCAN);
  if (n > PEERS_SCAN) n = PEERS_SCAN;
  int mesh = 0;
  for (size_t i = 0; i < n; i++) mesh |= pi[i].in_mesh;
  int fi = (int)(f - s->fetches);
  for (size_t i = 0; i < n; i++) {
    if (mesh && !pi[i].in_mesh) continue;
    if (asm_active(s, fi, pi[i].wire_id)) continue;
    ask(s, f, pi[i].wire_id);
  }
  f->next_want = s->now + WANT_RETRY_MS;
}

/* Deliver a complete value to every fetch of the key. Takes ownership of value. */
static void fetch_complete(sync_state *s, fetch *f, uint8_t *value, size_t len,
                           const uint8_t *from_wire) {
  waiter w[WAITERS_MAX];
  char key[SYNC_KEY_MAX + 1];
  int nw = f->nw;
  size_t klen = f->klen;
  memcpy(w, f->w, sizeof w);
  memcpy(key, f->key, sizeof key);
  if (f->ready == value) f->ready = NULL;
  fetch_clear(s, f);
  if (from_wire) {
    /* A value from the network: keep it (memory, backend) and tell the application. */
    s->st.values_in++;
    cache_put(s, (const uint8_t *)key, klen, value, len);
    sreq *r = req_new(s, SYNC_OP_SET, (const uint8_t *)key, klen, value, len);
    if (s->backend && !r) s->st.storage_errors++;
    uint8_t peer[8];
    memcpy(peer, from_wire, 8);
    sw_event ev = {.type = SW_EV_SYNC, .peer = peer, .key = key, .data = value, .len = len};
    core_emit(s->c, &ev);
  }
  for (int i = 0; i < nw; i++) w[i].cb(w[i].user, SW_OK, key, value, len);
  free(value);
}

static void fetch_ready(sync_state *s, fetch *f, const uint8_t *v, size_t len) {
  uint8_t *copy = malloc(len);
  if (!copy) return; /* stays pending: the timeout will answer */
  memcpy(copy, v, len);
  for (int i = 0; i < ASM_MAX; i++)
    if (s->asms[i].used && s->asms[i].f == (int)(f - s->fetches)) asm_free(s, &s->asms[i]);
  free(f->ready);
  f->ready = copy;
  f->ready_len = len;
  f->state = F_READY;
}

int sw_core_fetch(sw_core *c, const char *key, uint32_t timeout_ms, sw_core_fetch_cb cb,
                  void *user, uint64_t now) {
  sync_state *s = state_of(c);
  if (!s || !key || !cb) return SW_EINVAL;
  size_t n = strlen(key);
  if (n == 0 || n > SYNC_KEY_MAX) return SW_EINVAL; /* D29 */
  if (s->closing) return SW_ECLOSED;
  s->now = now;
  if (!timeout_ms) timeout_ms = SYNC_TIMEOUT_MS;
  fetch *f = fetch_find(s, (const uint8_t *)key, n);
  if (f) { /* D30: join the fetch under way; every one completes */
    if (f->nw == WAITERS_MAX) return SW_EFULL;
    f->w[f->nw++] = (waiter){cb, user, now + timeout_ms};
    return SW_OK;
  }
  for (int i = 0; i < FETCH_MAX && !f; i++)
    if (s->fetches[i].state == F_FREE) f = &s->fetches[i];
  if (!f) return SW_EFULL;
  memset(f, 0, sizeof *f);
  memcpy(f->key, key, n + 1);
  f->klen = n;
  f->w[0] = (waiter){cb, user, now + timeout_ms};
  f->nw = 1;
  cent *e = cache_find(s, (const uint8_t *)key, n);
  if (e) { /* answered from memory, at the next timeout (never inside this call) */
    cache_touch(s, e);
    f->state = F_NETWORK;
    fetch_ready(s, f, e->val, e->vlen);
    if (f->state == F_READY) return SW_OK;
  }
  sreq *r = req_new(s, SYNC_OP_GET, (const uint8_t *)key, n, NULL, 0);
  if (r) {
    f->state = F_BACKEND;
    return SW_OK;
  }
  f->state = F_NETWORK;
  want_round(s, f);
  return SW_OK;
}

/* ---- transfers (11.4) ---------------------------------------------------------- */

static void tx_free(sync_state *s, transfer *t) {
  if (t->used) s->tx_bytes -= t->vlen;
  free(t->val);
  free(t->acked);
  free(t->sends);
  memset(t, 0, sizeof *t);
}

/* Bytes of value chunk i (the seam counts payload; framing is noise at this scale). */
static size_t chunk_bytes(const transfer *t, uint16_t i) {
  size_t off = (size_t)i * SYNC_CHUNK_SIZE;
  return off >= t->vlen ? 0 : t->vlen - off < SYNC_CHUNK_SIZE ? t->vlen - off : SYNC_CHUNK_SIZE;
}

static int tx_send(sync_state *s, transfer *t, uint16_t i) {
  size_t off = (size_t)i * SYNC_CHUNK_SIZE;
  size_t dl = t->vlen - off < SYNC_CHUNK_SIZE ? t->vlen - off : SYNC_CHUNK_SIZE;
  size_t n = sync_chunk_large_encode(s->frame, t->key, t->klen, i, t->count, t->val + off, dl);
  int rc = core_send_ctrl(s->c, t->wire, s->frame, n);
  if (rc == SW_OK) {
    if (t->sends[i]) s->st.retransmits++;
    t->sends[i]++;
    s->st.chunks_out++;
  }
  return rc;
}

/* Keep SYNC_WINDOW chunks in flight: lost ones are resent in their slot, so a loss
 * never shrinks the window (the references let it erode, and let duplicate acks
 * widen it, D28). */
static void tx_fill(sync_state *s, transfer *t) {
  while (t->nfl < SYNC_WINDOW && t->next_new < t->count && s->now >= t->busy_until) {
    uint16_t i = t->next_new;
    int rc = tx_send(s, t, i);
    if (rc == SW_EAGAIN) {
      t->busy_until = s->now + TX_BUSY_RETRY_MS;
      return;
    }
    if (rc != SW_OK) { /* the peer is gone */
      s->st.transfers_abandoned++;
      tx_free(s, t);
      return;
    }
    t->fl[t->nfl++] = (inflight){i, ++t->seq, s->now + SYNC_RTO_MS, s->now};
    t->next_new++;
  }
}

/* Resend one in-flight chunk; 0, or -1 when the transfer was dropped. */
static int tx_resend(sync_state *s, transfer *t, inflight *x) {
  core_cc_lost(s->c, t->wire, chunk_bytes(t, x->idx)); /* its RTO fired */
  if (t->sends[x->idx] >= TX_SENDS_MAX) { /* D19: retransmissions are capped */
    s->st.transfers_abandoned++;
    tx_free(s, t);
    return -1;
  }
  int rc = tx_send(s, t, x->idx);
  if (rc == SW_EAGAIN) {
    x->due = s->now + TX_BUSY_RETRY_MS;
    return 0;
  }
  if (rc != SW_OK) {
    s->st.transfers_abandoned++;
    tx_free(s, t);
    return -1;
  }
  x->seq = ++t->seq;
  x->due = s->now + SYNC_RTO_MS;
  x->sent_at = s->now;
  return 0;
}

static void tx_on_ack(sync_state *s, transfer *t, uint16_t idx) {
  if (idx >= t->count || t->acked[idx]) return; /* out of range or duplicate: nothing */
  t->acked[idx] = 1;
  t->nacked++;
  uint32_t seq = 0;
  for (int i = 0; i < t->nfl; i++) {
    if (t->fl[i].idx != idx) continue;
    seq = t->fl[i].seq;
    double sample = -1; /* only a chunk sent once gives a clean RTT sample */
    if (t->sends[idx] == 1) {
      uint64_t rtt = s->now - t->fl[i].sent_at;
      t->srtt = t->srtt ? (7 * t->srtt + rtt) / 8 : rtt;
      sample = (double)rtt;
    }
    core_cc_acked(s->c, t->wire, chunk_bytes(t, idx), sample);
    t->fl[i] = t->fl[--t->nfl];
    break;
  }
  if (t->nacked == t->count) {
    s->st.transfers_done++;
    tx_free(s, t);
    return;
  }
  /* Fast retransmit: a chunk sent TX_LOST_AFTER sends before one just acknowledged,
   * and out for longer than 1.5 round trips, is presumed lost without waiting for its
   * 1 500 ms timer (the time rule keeps reordering from triggering it). */
  for (int i = 0; i < t->nfl; i++)
    if (seq && t->fl[i].seq + TX_LOST_AFTER <= seq &&
        s->now - t->fl[i].sent_at > t->srtt + t->srtt / 2)
      if (tx_resend(s, t, &t->fl[i])) return;
  tx_fill(s, t);
}

static void serve(sync_state *s, const uint8_t wire[8], const uint8_t *k, size_t n,
                  const uint8_t *v, size_t vlen) {
  if (!vlen) return; /* 12: empty values are never served */
  core_prove(s->c, wire); /* our CHUNKs count only from a verified address (D6) */
  if (vlen <= SYNC_CHUNK_SIZE) {
    size_t fl = sync_chunk_small_encode(s->frame, k, n, v, vlen);
    if (core_send_ctrl(s->c, wire, s->frame, fl) == SW_OK) s->st.chunks_out++;
    return;
  }
  size_t count = (vlen + SYNC_CHUNK_SIZE - 1) / SYNC_CHUNK_SIZE;
  if (count > 0xFFFE) return;
  transfer *t = NULL;
  for (int i = 0; i < TX_MAX; i++) {
    transfer *x = &s->tx[i];
    if (x->used && x->klen == n && memcmp(x->key, k, n) == 0 && memcmp(x->wire, wire, 8) == 0)
      return; /* 11.2: one transfer per key and peer */
    if (!x->used && !t) t = x;
  }
  if (!t || s->tx_bytes + vlen > TX_BUDGET) return;
  memset(t, 0, sizeof *t);
  t->val = malloc(vlen);
  t->acked = calloc(count, 1);
  t->sends = calloc(count, 1);
  if (!t->val || !t->acked || !t->sends) {
    free(t->val);
    free(t->acked);
    free(t->sends);
    memset(t, 0, sizeof *t);
    return;
  }
  t->used = 1;
  memcpy(t->val, v, vlen);
  t->vlen = vlen;
  s->tx_bytes += vlen;
  memcpy(t->key, k, n);
  t->klen = n;
  memcpy(t->wire, wire, 8);
  t->count = (uint16_t)count;
  t->safety = s->now + SYNC_SAFETY_MS;
  s->st.transfers_started++;
  tx_fill(s, t);
}

/* ---- receiving ------------------------------------------------------------------ */

static void on_have(sync_state *s, const uint8_t wire[8], const uint8_t *b, size_t len) {
  size_t off = 2, k;
  const uint8_t *key;
  for (unsigned i = 0; i < b[1] && sync_have_next(b, len, &off, &key, &k); i++) {
    fetch *f = k ? fetch_find(s, key, k) : NULL;
    if (f && f->state == F_NETWORK && !asked(f, wire)) ask(s, f, wire);
  }
}

static void on_want(sync_state *s, const uint8_t wire[8], const sync_frame *fr) {
  cent *e = cache_find(s, fr->key, fr->klen);
  if (e) {
    cache_touch(s, e);
    serve(s, wire, fr->key, fr->klen, e->val, e->vlen);
    return;
  }
  /* Not in memory: ask the backend (the references do not, 11.2; a value kept only on
   * disk after a restart is then still served). */
  if (memchr(fr->key, 0, fr->klen)) return;
  /* Peers' WANTs may use a quarter of the backend slots, so they never crowd out our
   * own stores and fetches. */
  int serving = 0;
  for (int i = 0; i < STORAGE_MAX; i++) serving += s->reqs[i].state && s->reqs[i].serve;
  if (serving >= STORAGE_MAX / 4) return;
  sreq *r = req_new(s, SYNC_OP_GET, fr->key, fr->klen, NULL, 0);
  if (r) {
    r->serve = 1;
    memcpy(r->wire, wire, 8);
  }
}

static assembly *asm_get(sync_state *s, int fi, const uint8_t wire[8], uint16_t count) {
  int per_key = 0;
  assembly *freeslot = NULL;
  for (int i = 0; i < ASM_MAX; i++) {
    assembly *a = &s->asms[i];
    if (!a->used) {
      if (!freeslot) freeslot = a;
      continue;
    }
    if (a->f != fi) continue;
    if (memcmp(a->wire, wire, 8) == 0) return a;
    per_key++;
  }
  size_t cost = (size_t)count * (SYNC_CHUNK_SIZE + 1);
  if (!freeslot || per_key >= ASM_PER_KEY || s->asm_bytes + cost > ASM_BUDGET) return NULL;
  assembly *a = freeslot;
  a->data = malloc((size_t)count * SYNC_CHUNK_SIZE);
  a->have = calloc(count, 1);
  if (!a->data || !a->have) {
    free(a->data);
    free(a->have);
    a->data = a->have = NULL;
    return NULL;
  }
  a->used = 1;
  a->f = fi;
  memcpy(a->wire, wire, 8);
  a->count = count;
  s->asm_bytes += cost;
  return a;
}

static void on_chunk(sync_state *s, const uint8_t wire[8], const core_path *from,
                     const sync_frame *fr) {
  fetch *f = fetch_find(s, fr->key, fr->klen);
  /* D6: only values we asked this peer for; anything else is ignored (and not acked). */
  if (!f || f->state != F_NETWORK || !asked(f, wire)) {
    s->st.ignored++;
    return;
  }
  s->st.chunks_in++;
  if (!fr->large) {
    if (!fr->vlen) return; /* empty behaves as missing (12) */
    uint8_t *v = malloc(fr->vlen);
    if (!v) return;
    memcpy(v, fr->value, fr->vlen);
    fetch_complete(s, f, v, fr->vlen, wire);
    return;
  }
  /* D28/D17: a consistent set only. Every piece but the last is full, the last is not
   * empty, the count fits our value bound. */
  uint16_t count = fr->count;
  if (count == 0 || count == 0xFFFF || fr->index >= count ||
      (size_t)count * SYNC_CHUNK_SIZE > VALUE_MAX + SYNC_CHUNK_SIZE - 1 ||
      fr->vlen == 0 || fr->vlen > SYNC_CHUNK_SIZE ||
      (fr->index + 1u < count && fr->vlen != SYNC_CHUNK_SIZE)) {
    s->st.malformed++;
    return;
  }
  int fi = (int)(f - s->fetches);
  assembly *a = asm_get(s, fi, wire, count);
  if (!a || a->count != count) {
    s->st.ignored++;
    return;
  }
  a->last_rx = s->now;
  if (!a->have[fr->index]) {
    memcpy(a->data + (size_t)fr->index * SYNC_CHUNK_SIZE, fr->value, fr->vlen);
    a->have[fr->index] = 1;
    if (fr->index + 1u == count) a->last_len = fr->vlen;
    a->got++;
  }
  /* Ack every copy (the sender may have missed our last ack), to the source address
   * the chunk came from, not the peer's best address (D28). */
  uint8_t ack[4 + SYNC_KEY_MAX];
  size_t an = sync_ack_encode(ack, fr->key, fr->klen, fr->index);
  core_send_path(s->c, from, ack, an);
  s->st.acks_out++;
  if (a->got < a->count) return;
  /* Complete: every index present, so the length is exact. */
  size_t total = (size_t)(a->count - 1) * SYNC_CHUNK_SIZE + a->last_len;
  uint8_t *v = a->data;
  a->data = NULL;
  asm_free(s, a);
  fetch_complete(s, f, v, total, wire);
}

static void on_ack(sync_state *s, const uint8_t wire[8], const sync_frame *fr) {
  s->st.acks_in++;
  for (int i = 0; i < TX_MAX; i++) {
    transfer *t = &s->tx[i];
    if (t->used && t->klen == fr->klen && memcmp(t->key, fr->key, fr->klen) == 0 &&
        memcmp(t->wire, wire, 8) == 0) {
      tx_on_ack(s, t, fr->index);
      return;
    }
  }
}

static void m_frame(void *m, const core_path *from, const uint8_t *buf, size_t len,
                    uint64_t now) {
  sync_state *s = m;
  if (!len) return;
  uint8_t t = buf[0];
  s->now = now;
  uint8_t wire[8];
  if (!peer_accepted(s->c, from, wire)) {
    s->st.ignored++;
    return;
  }
  sync_frame fr;
  if (sync_decode(buf, len, &fr)) {
    s->st.malformed++;
    return;
  }
  switch (t) {
    case WIRE_HAVE: on_have(s, wire, buf, len); break;
    case WIRE_WANT:
      if (!s->closing) on_want(s, wire, &fr);
      break;
    case WIRE_CHUNK: on_chunk(s, wire, from, &fr); break;
    default: on_ack(s, wire, &fr); break;
  }
}

/* ---- store ---------------------------------------------------------------------- */

static void send_have(sync_state *s, const uint8_t wire[8], const sync_key *keys, size_t n) {
  uint8_t buf[HAVE_FRAME_MAX];
  size_t len = sync_have_encode(buf, sizeof buf, keys, n);
  if (buf[1]) core_send_ctrl(s->c, wire, buf, len);
}

int sw_core_store(sw_core *c, const char *key, const void *value, size_t len, uint64_t now) {
  sync_state *s = state_of(c);
  if (!s || !key || (!value && len)) return SW_EINVAL;
  size_t n = strlen(key);
  if (n == 0 || n > SYNC_KEY_MAX || len == 0) return SW_EINVAL; /* D29; empty = missing */
  if (len > VALUE_MAX) return SW_EMSGSIZE;
  if (s->closing) return SW_ECLOSED;
  s->now = now;
  if (s->backend && !req_new(s, SYNC_OP_SET, (const uint8_t *)key, n, value, len))
    return SW_EAGAIN; /* nothing kept: the caller retries */
  int rc = cache_put(s, (const uint8_t *)key, n, value, len);
  if (rc && !s->backend) return rc;
  /* Our own pending fetches of this key are answered by it. */
  fetch *f = fetch_find(s, (const uint8_t *)key, n);
  if (f && f->state != F_READY) fetch_ready(s, f, value, len);
  /* 11.1: HAVE [key] to each mesh peer with a session. */
  sw_core_peer_info pi[PEERS_SCAN];
  size_t np = sw_core_peers(c, pi, PEERS_SCAN);
  sync_key k = {(const uint8_t *)key, n};
  for (size_t i = 0; i < np && i < PEERS_SCAN; i++)
    if (pi[i].in_mesh) send_have(s, pi[i].wire_id, &k, 1);
  return SW_OK;
}

/* ---- module hooks ------------------------------------------------------------------ */

static void m_connection(void *m, const uint8_t wire[8], const sw_addr *addr, uint64_t now) {
  sync_state *s = m;
  sync_key keys[SYNC_HAVE_BATCH];
  size_t n = 0;
  (void)addr;
  s->now = now;
  /* 11.1: the first keys of the store, oldest first. */
  for (cent *e = s->lru_head; e && n < SYNC_HAVE_BATCH; e = e->next)
    keys[n++] = (sync_key){(const uint8_t *)e->key, e->klen};
  if (n) send_have(s, wire, keys, n);
  /* Ours: a new peer is asked at once for what we are waiting for. */
  for (int i = 0; i < FETCH_MAX; i++)
    if (s->fetches[i].state == F_NETWORK) ask(s, &s->fetches[i], wire);
}

static void m_disconnect(void *m, const uint8_t wire[8], uint64_t now) {
  sync_state *s = m;
  s->now = now;
  for (int i = 0; i < TX_MAX; i++)
    if (s->tx[i].used && memcmp(s->tx[i].wire, wire, 8) == 0) {
      s->st.transfers_abandoned++;
      tx_free(s, &s->tx[i]);
    }
  for (int i = 0; i < ASM_MAX; i++)
    if (s->asms[i].used && memcmp(s->asms[i].wire, wire, 8) == 0) asm_free(s, &s->asms[i]);
}

/* One due piece of fetch work; 1 when something was done (callbacks may have run and
 * changed the tables, so the caller scans again). */
static int fetch_step(sync_state *s, uint64_t now) {
  for (int i = 0; i < FETCH_MAX; i++) {
    fetch *f = &s->fetches[i];
    if (f->state == F_FREE) continue;
    if (f->state == F_READY) {
      fetch_complete(s, f, f->ready, f->ready_len, NULL);
      return 1;
    }
    for (int k = 0; k < f->nw; k++) {
      if (f->w[k].deadline > now) continue;
      waiter w = f->w[k];
      char key[SYNC_KEY_MAX + 1];
      memcpy(key, f->key, sizeof key);
      f->w[k] = f->w[--f->nw];
      if (!f->nw) fetch_clear(s, f);
      w.cb(w.user, SW_ETIMEDOUT, key, NULL, 0);
      return 1;
    }
  }
  return 0;
}

static void m_timeout(void *m, uint64_t now) {
  sync_state *s = m;
  s->now = now;
  while (fetch_step(s, now)) {
  }
  for (int i = 0; i < FETCH_MAX; i++) {
    fetch *f = &s->fetches[i];
    if (f->state == F_NETWORK && now >= f->next_want) want_round(s, f);
  }
  for (int i = 0; i < ASM_MAX; i++)
    if (s->asms[i].used && now - s->asms[i].last_rx >= ASM_IDLE_MS) asm_free(s, &s->asms[i]);
  for (int i = 0; i < TX_MAX; i++) {
    transfer *t = &s->tx[i];
    if (!t->used) continue;
    if (now >= t->safety) { /* 11.4: the safety timer ends the transfer in any case */
      s->st.transfers_abandoned++;
      tx_free(s, t);
      continue;
    }
    int proved = 0;
    for (int k = 0; t->used && k < t->nfl; k++) {
      if (t->fl[k].due > now) continue;
      if (!proved++) core_prove(s->c, t->wire); /* silence may mean our proof was lost */
      tx_resend(s, t, &t->fl[k]);
    }
    if (t->used) tx_fill(s, t);
  }
}

static uint64_t m_deadline(const void *m) {
  const sync_state *s = m;
  uint64_t d = UINT64_MAX;
#define EARLIER(x) do { if ((x) < d) d = (x); } while (0)
  for (int i = 0; i < FETCH_MAX; i++) {
    const fetch *f = &s->fetches[i];
    if (f->state == F_FREE) continue;
    if (f->state == F_READY) return 0;
    for (int k = 0; k < f->nw; k++) EARLIER(f->w[k].deadline);
    if (f->state == F_NETWORK) EARLIER(f->next_want);
  }
  for (int i = 0; i < ASM_MAX; i++)
    if (s->asms[i].used) EARLIER(s->asms[i].last_rx + ASM_IDLE_MS);
  for (int i = 0; i < TX_MAX; i++) {
    const transfer *t = &s->tx[i];
    if (!t->used) continue;
    EARLIER(t->safety);
    for (int k = 0; k < t->nfl; k++) EARLIER(t->fl[k].due);
    if (t->nfl < SYNC_WINDOW && t->next_new < t->count) EARLIER(t->busy_until);
  }
#undef EARLIER
  return d;
}

/* Every pending fetch ends with SW_ECLOSED, at once: no timeout comes after a close. */
static void fail_all(sync_state *s) {
  for (int i = 0; i < FETCH_MAX; i++) {
    fetch *f = &s->fetches[i];
    while (f->state != F_FREE && f->nw) {
      waiter w = f->w[--f->nw];
      char key[SYNC_KEY_MAX + 1];
      memcpy(key, f->key, sizeof key);
      if (!f->nw) fetch_clear(s, f);
      w.cb(w.user, SW_ECLOSED, key, NULL, 0);
    }
    if (f->state != F_FREE) fetch_clear(s, f);
  }
}

static void m_close(void *m, uint64_t now) {
  sync_state *s = m;
  s->now = now;
  s->closing = 1;
  fail_all(s);
  for (int i = 0; i < TX_MAX; i++) tx_free(s, &s->tx[i]);
}

static void m_free(void *m) {
  sync_state *s = m;
  s->closing = 1;
  fail_all(s);
  for (int i = 0; i < TX_MAX; i++) tx_free(s, &s->tx[i]);
  for (int i = 0; i < STORAGE_MAX; i++) req_free(s, &s->reqs[i]);
  while (s->lru_head) cache_remove(s, s->lru_head);
  free(s);
}

static size_t m_memory(const void *m) {
  const sync_state *s = m;
  return sizeof *s + s->cache_bytes + s->asm_bytes + s->tx_bytes + s->req_bytes;
}

int sync_attach(sw_core *c, size_t cache_max, size_t cache_bytes, int backend) {
  sync_state *s = calloc(1, sizeof *s);
  if (!s) return SW_ENOMEM;
  s->c = c;
  s->cache_max = cache_max ? cache_max : SYNC_CACHE_MAX;
  s->cache_bytes_max = cache_bytes ? cache_bytes : DEFAULT_CACHE_BYTES;
  s->backend = backend;
  static const uint8_t frames[] = {WIRE_HAVE, WIRE_WANT, WIRE_CHUNK, WIRE_CHUNK_ACK};
  core_module mod = {.name = "sync", .frames = frames, .nframes = sizeof frames,
                     .on_frame = m_frame, .on_connection = m_connection,
                     .on_disconnect = m_disconnect, .on_timeout = m_timeout,
                     .deadline = m_deadline, .on_close = m_close, .free = m_free,
                     .memory = m_memory, .state = s};
  int rc = core_add_module(c, &mod);
  if (rc) free(s);
  return rc;
}

/* ---- backend completions ------------------------------------------------------------ */

int sw_core_storage_take(sw_core *c, sw_core_storage_req *out) {
  sync_state *s = state_of(c);
  if (!s) return 0;
  for (int i = 0; i < STORAGE_MAX; i++) {
    sreq *r = &s->reqs[i];
    if (r->state != 1) continue;
    r->state = 2;
    out->id = r->id;
    out->op = r->op;
    out->key = r->key;
    out->value = r->value;
    out->len = r->len;
    return 1;
  }
  return 0;
}

void sw_core_storage_done(sw_core *c, uint32_t id, int err, const uint8_t *value, size_t len,
                          uint64_t now) {
  sync_state *s = state_of(c);
  if (!s) return;
  s->now = now;
  sreq *r = NULL;
  for (int i = 0; i < STORAGE_MAX && !r; i++)
    if (s->reqs[i].state == 2 && s->reqs[i].id == id) r = &s->reqs[i];
  if (!r) return;
  if (err) s->st.storage_errors++;
  char key[SYNC_KEY_MAX + 1];
  size_t n = strlen(r->key);
  memcpy(key, r->key, n + 1);
  int op = r->op, serve_it = r->serve;
  uint8_t wire[8];
  memcpy(wire, r->wire, 8);
  req_free(s, r); /* first: what follows may queue new requests */
  if (op != SYNC_OP_GET) return;
  int found = !err && value && len && len <= VALUE_MAX;
  if (found) cache_put(s, (const uint8_t *)key, n, value, len);
  if (serve_it) {
    if (found && !s->closing && core_connected(c, wire))
      serve(s, wire, (const uint8_t *)key, n, value, len);
    return;
  }
  fetch *f = fetch_find(s, (const uint8_t *)key, n);
  if (!f || f->state != F_BACKEND) return;
  if (found) {
    uint8_t *v = malloc(len);
    if (v) {
      memcpy(v, value, len);
      fetch_complete(s, f, v, len, NULL);
      return;
    }
  }
  f->state = F_NETWORK;
  want_round(s, f);
}

int sync_get_stats(sw_core *c, sync_stats *out) {
  sync_state *s = state_of(c);
  if (!s) return SW_EINVAL;
  *out = s->st;
  out->cache_entries = s->ncache;
  out->cache_bytes = s->cache_bytes;
  out->reassembly_bytes = s->asm_bytes;
  out->transfer_bytes = s->tx_bytes;
  return SW_OK;
}

static int attach_from_config(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  return cfg->sync ? sync_attach(c, cfg->store_cache_max, cfg->store_cache_bytes, cfg->storage)
                   : SW_OK;
}

const core_module_def sync_module = {"sync", attach_from_config};
