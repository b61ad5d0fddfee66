/* store / fetch between peers (PROTOCOL.md 11.1-11.4, 12): the module itself. Attach
 * and hooks, store, fetch, the reassembly of received CHUNKs, backend requests and
 * their completions. The codecs are in sync_wire.c, the in-memory store in
 * sync_cache.c, the serving side (WANT, transfers, CHUNK_ACK, HAVE) in sync_serve.c;
 * sync_state.h holds what they share. See sync.h for what we do differently from the
 * references and why. All tables have fixed bounds; byte budgets bound what they hold
 * (D17), and docs/API.md "Memory" gives the figures. */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "sync_state.h"
#include "sync_value.h"

/* ---- backend requests -------------------------------------------------------- */

static void req_free(sync_state *s, sreq *r);

sreq *sync_req_new(sync_state *s, int op, const uint8_t *k, size_t n, const uint8_t *v,
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
    /* A value that looks like one kept with a lifetime gets the header (sync_scope.c). */
    if (op == SYNC_OP_SET && sync_value_looks_wrapped(v, vlen) && sync_req_lifetime(s, r, 0)) {
      req_free(s, r);
      return NULL;
    }
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

static size_t asm_cost(const assembly *a) {
  return a->stream ? a->total : (size_t)a->count * (SYNC_CHUNK_SIZE + 1);
}

static void asm_free(sync_state *s, assembly *a) {
  if (a->used) s->asm_bytes -= asm_cost(a);
  free(a->data);
  free(a->have);
  memset(a, 0, sizeof *a);
}

static void cand_free(sync_state *s, fetch *f) {
  for (int i = 0; i < f->ncand; i++) {
    s->asm_bytes -= f->cand[i].len;
    free(f->cand[i].val);
  }
  memset(f->cand, 0, sizeof f->cand);
  f->ncand = 0;
}

/* Whatever the network was bringing for f: reassemblies and held values. */
static void fetch_drop_network(sync_state *s, fetch *f) {
  int fi = (int)(f - s->fetches);
  for (int i = 0; i < ASM_MAX; i++)
    if (s->asms[i].used && s->asms[i].f == fi) asm_free(s, &s->asms[i]);
  cand_free(s, f);
}

static void fetch_clear(sync_state *s, fetch *f) {
  /* Peers still streaming the value to us (or about to) are told to stop. */
  for (int i = 0; i < f->nasked; i++)
    if ((f->aflag[i] & A_STREAM) && !(f->aflag[i] & (A_NONE | A_GAVE))) {
      size_t n = sync_stream_encode(s->smsg, SYNC_S_CANCEL, (const uint8_t *)f->key, f->klen, 0,
                                    NULL, 0);
      core_stream_send(s->c, f->asked[i], SYNC_STREAM_CHANNEL, s->smsg, n);
    }
  fetch_drop_network(s, f);
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

static int asked_index(const fetch *f, const uint8_t wire[8]) {
  for (int i = 0; i < f->nasked; i++)
    if (memcmp(f->asked[i], wire, 8) == 0) return i;
  return -1;
}

static int asked(const fetch *f, const uint8_t wire[8]) { return asked_index(f, wire) >= 0; }

static void ask(sync_state *s, fetch *f, const uint8_t wire[8]) {
  uint8_t buf[SYNC_STREAM_HDR];
  int ai = asked_index(f, wire);
  if (ai < 0 && f->nasked == ASKED_MAX) return;
  if (ai >= 0 && (f->aflag[ai] & (A_NONE | A_GAVE))) return; /* it answered already */
  /* PROTOCOL.md 21.10: a peer with a confirmed extended session is asked on its stream,
   * and answers there; the others get the WANT of 11.2. */
  size_t n = sync_stream_encode(buf, SYNC_S_WANT, (const uint8_t *)f->key, f->klen, 0, NULL, 0);
  int rc = core_stream_send(s->c, wire, SYNC_STREAM_CHANNEL, buf, n);
  uint8_t flag = A_STREAM;
  if (rc == SW_ENOTCONN) {
    n = sync_want_encode(buf, (const uint8_t *)f->key, f->klen);
    /* The peer accepts our WANT only from a verified address (D6); the proof we sent on
     * connecting may have been lost, so prove it again first. */
    core_prove(s->c, wire);
    rc = core_send_ctrl(s->c, wire, buf, n);
    flag = 0;
  }
  if (rc != SW_OK) return;
  if (ai < 0) {
    ai = f->nasked++;
    memcpy(f->asked[ai], wire, 8);
    f->aflag[ai] = 0;
  }
  f->aflag[ai] |= flag;
}

static int asm_active(const sync_state *s, int fi, const uint8_t wire[8]) {
  for (int i = 0; i < ASM_MAX; i++) {
    const assembly *a = &s->asms[i];
    if (a->used && a->f == fi && memcmp(a->wire, wire, 8) == 0 &&
        (a->stream || s->now - a->last_rx < 2 * SYNC_RTO_MS))
      return 1;
  }
  return 0;
}

/* One WANT round (11.2): to the mesh peers (every peer when the mesh is empty, as
 * JavaScript does), skipping peers already sending us the value and peers that
 * answered. */
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

/* 11.1: HAVE [key] to each mesh peer with a session. */
static void have_mesh(sync_state *s, const uint8_t *k, size_t n) {
  sw_core_peer_info pi[PEERS_SCAN];
  size_t np = sw_core_peers(s->c, pi, PEERS_SCAN);
  sync_key sk = {k, n};
  for (size_t i = 0; i < np && i < PEERS_SCAN; i++)
    if (pi[i].in_mesh) sync_serve_have(s, pi[i].wire_id, &sk, 1);
}

static void waiter_call(const waiter *w, int err, const char *key, const uint8_t *v, size_t len,
                        const uint8_t *peer) {
  key += w->koff; /* the caller's own key */
  if (w->cbx) w->cbx(w->user, err, key, v, len, peer);
  else w->cb(w->user, err, key, v, len);
}

static waiter *waiter_by_id(sync_state *s, uint32_t id) {
  for (int i = 0; id && i < FETCH_MAX; i++) {
    fetch *f = &s->fetches[i];
    for (int k = 0; f->state != F_FREE && k < f->nw; k++)
      if (f->w[k].id == id) return &f->w[k];
  }
  return NULL;
}

/* Tell f's waiters how far a value has come. The last thing a handler does: a callback
 * may change every table. */
static void fetch_progress(sync_state *s, fetch *f, size_t got, size_t total) {
  uint32_t ids[WAITERS_MAX];
  int n = 0;
  char key[SYNC_KEY_MAX + 1];
  memcpy(key, f->key, sizeof key);
  for (int k = 0; k < f->nw; k++)
    if (f->w[k].progress && !f->w[k].canceled) ids[n++] = f->w[k].id;
  for (int i = 0; i < n; i++) {
    waiter *w = waiter_by_id(s, ids[i]); /* still there: an earlier callback may cancel */
    if (w && w->progress && !w->canceled) w->progress(w->user, key + w->koff, got, total);
  }
}

/* Deliver a complete value to every fetch of the key. Takes ownership of value. expires:
 * when a value from the network dies (0: never). */
static void fetch_complete(sync_state *s, fetch *f, uint8_t *value, size_t len,
                           const uint8_t *from_wire, uint64_t expires) {
  waiter w[WAITERS_MAX];
  char key[SYNC_KEY_MAX + 1];
  int nw = f->nw;
  size_t klen = f->klen;
  int scoped = f->scoped;
  uint8_t koff = f->koff, topic[32];
  memcpy(topic, f->topic, sizeof topic);
  memcpy(w, f->w, sizeof w);
  memcpy(key, f->key, sizeof key);
  if (f->ready == value) f->ready = NULL;
  uint8_t peer[8];
  if (from_wire) {
    memcpy(peer, from_wire, 8);
    int ai = asked_index(f, peer);
    if (ai >= 0) f->aflag[ai] |= A_GAVE; /* no CANCEL to the peer that served */
  }
  fetch_clear(s, f);
  if (from_wire) {
    /* A value from the network: keep it (memory, backend) and tell the application. A
     * signed key's version replaces only an older one, and one that went up here is
     * announced so that it spreads (docs/VALUES.md). */
    s->st.values_in++;
    int kind = sv_key_kind((const uint8_t *)key, klen);
    uint64_t before = kind == SV_SIGNED ? sv_held_seq(s, (const uint8_t *)key, klen) : 0;
    /* A value that expires is kept only with its lifetime (sync_scope.c). */
    if (sync_expiry_set(s, (const uint8_t *)key, klen, expires) == SW_OK) {
      int put = sv_cache_put(s, (const uint8_t *)key, klen, value, len);
      if (kind != SV_SIGNED || put == 1) {
        sreq *r = sync_req_new(s, SYNC_OP_SET, (const uint8_t *)key, klen, value, len);
        if (r && expires && sync_req_lifetime(s, r, expires)) { /* no room for the header */
          req_free(s, r);
          r = NULL;
        }
        if (s->backend && !r) s->st.storage_errors++;
      }
      if (kind == SV_SIGNED && put == 1 && before) have_mesh(s, (const uint8_t *)key, klen);
    }
    /* A scoped key shows as the application's key, with its topic. */
    sw_event ev = {.type = SW_EV_SYNC, .peer = peer, .key = scoped ? key + koff : key,
                   .data = value, .len = len, .topic = scoped ? topic : NULL};
    core_emit(s->c, &ev);
  }
  for (int i = 0; i < nw; i++) {
    int err = w[i].canceled ? SW_ECANCELED : SW_OK;
    waiter_call(&w[i], err, key, err ? NULL : value, err ? 0 : len,
                err || !from_wire ? NULL : peer);
  }
  free(value);
}

/* Every waiter of f ends with err. */
static void fetch_fail(sync_state *s, fetch *f, int err) {
  waiter w[WAITERS_MAX];
  char key[SYNC_KEY_MAX + 1];
  int nw = f->nw;
  memcpy(w, f->w, sizeof w);
  memcpy(key, f->key, sizeof key);
  fetch_clear(s, f);
  for (int i = 0; i < nw; i++)
    waiter_call(&w[i], w[i].canceled ? SW_ECANCELED : err, key, NULL, 0, NULL);
}

static void fetch_ready(sync_state *s, fetch *f, const uint8_t *v, size_t len) {
  uint8_t *copy = malloc(len);
  if (!copy) return; /* stays pending: the timeout will answer */
  memcpy(copy, v, len);
  fetch_drop_network(s, f);
  free(f->ready);
  f->ready = copy;
  f->ready_len = len;
  f->state = F_READY;
}

/* ---- which value wins (issue 11 item 5) ------------------------------------------ */

static void have_note(sync_state *s, const uint8_t *k, size_t n, const uint8_t wire[8]) {
  uint32_t h = sync_key_hash(k, n);
  size_t last = (s->have_next + HAVE_SEEN_MAX - 1) % HAVE_SEEN_MAX;
  if (s->have_seen[last].khash == h && memcmp(s->have_seen[last].wire, wire, 8) == 0) return;
  s->have_seen[s->have_next].khash = h;
  memcpy(s->have_seen[s->have_next].wire, wire, 8);
  s->have_next = (s->have_next + 1) % HAVE_SEEN_MAX;
}

static int have_heard(const sync_state *s, const fetch *f, const uint8_t wire[8]) {
  uint32_t h = sync_key_hash((const uint8_t *)f->key, f->klen);
  for (size_t i = 0; i < HAVE_SEEN_MAX; i++)
    if (s->have_seen[i].khash == h && memcmp(s->have_seen[i].wire, wire, 8) == 0) return 1;
  return 0;
}

static int cand_has(const candidate *c, const uint8_t wire[8]) {
  for (int i = 0; i < c->nholders; i++)
    if (memcmp(c->holders[i], wire, 8) == 0) return 1;
  return 0;
}

static void fetch_accept(sync_state *s, fetch *f, int ci) {
  candidate *c = &f->cand[ci];
  uint8_t *v = c->val, wire[8];
  size_t len = c->len;
  memcpy(wire, c->holders[0], 8);
  s->asm_bytes -= len;
  c->val = NULL;
  c->len = 0;
  s->st.rejected_values += (uint64_t)(f->ncand - 1);
  fetch_complete(s, f, v, len, wire, c->expires); /* frees the other candidates */
}

static uint64_t cand_seq(const candidate *c) {
  uint64_t seq = 0;
  if (sv_open(c->val, c->len, &seq, NULL, NULL)) seq = 0;
  return seq;
}

/* The version held here as a candidate of a signed key's fetch: the floor of what it
 * delivers. Skipped when the reassembly budget has no room for it. */
static void cand_local(sync_state *s, fetch *f, const uint8_t *v, size_t len) {
  if (f->ncand == CAND_MAX || s->asm_bytes + len > ASM_BUDGET) return;
  uint8_t *copy = malloc(len);
  if (!copy) return;
  memcpy(copy, v, len);
  candidate *c = &f->cand[f->ncand++];
  memset(c, 0, sizeof *c);
  crypto_sha256(v, len, c->digest);
  c->val = copy;
  c->len = len;
  c->local = 1;
  c->at = s->now;
  s->asm_bytes += len;
  f->decide_at = s->now + VALUE_WAIT_MS;
}

/* Signed and content keys (docs/VALUES.md): every candidate was verified. A content
 * value is taken at once (it is the key's). A signed key's fetch waits for every peer
 * asked to answer, or VALUE_WAIT_MS after its first version (longer while a peer is
 * still sending, within the waiters' time), then delivers the highest seq; on a tie the
 * version held here (peer NULL). */
static int value_decide(sync_state *s, fetch *f, int force) {
  if (!f->ncand) return 0;
  int best = 0;
  if (f->vkind == SV_SIGNED) {
    int pending = 0, fi = (int)(f - s->fetches), sending = 0;
    for (int i = 0; i < f->nasked; i++)
      if (!(f->aflag[i] & (A_NONE | A_GAVE))) {
        pending++;
        sending |= asm_active(s, fi, f->asked[i]);
      }
    if (pending && !force) return 0;
    if (pending && force == 1 && sending) {
      f->decide_at = s->now + VALUE_WAIT_MS;
      return 0;
    }
    for (int i = 1; i < f->ncand; i++) {
      uint64_t a = cand_seq(&f->cand[i]), b = cand_seq(&f->cand[best]);
      if (a > b || (a == b && f->cand[i].local)) best = i;
    }
  }
  candidate *c = &f->cand[best];
  if (!c->local) {
    fetch_accept(s, f, best);
    return 1;
  }
  uint8_t *v = c->val;
  size_t len = c->len;
  s->asm_bytes -= len;
  c->val = NULL;
  c->len = 0;
  fetch_complete(s, f, v, len, NULL, 0); /* the held version: nothing newer came */
  return 1;
}

/* A complete value for a signed or content key: 1 when it may be a candidate, 2 when it
 * is the version held here or offered already (not news: see fetch_offer), 0 when it was
 * refused and counted (forged, or older). */
static int value_acceptable(sync_state *s, fetch *f, const uint8_t *v, size_t len) {
  uint64_t seq = 0;
  if (sv_verify((const uint8_t *)f->key, f->klen, v, len, &seq)) {
    s->st.forged_values++;
    return 0;
  }
  if (f->vkind != SV_SIGNED) return 1;
  uint64_t floor = sv_held_seq(s, (const uint8_t *)f->key, f->klen);
  for (int i = 0; i < f->ncand; i++) {
    uint64_t cs = cand_seq(&f->cand[i]);
    if (cs > floor) floor = cs;
  }
  if (seq < floor) {
    s->st.stale_values++;
    return 0;
  }
  return seq == floor ? 2 : 1;
}

/* Until values are signed (issue 12), a value is taken at once when more than one
 * holder sent it, or when the peer that announced the key with HAVE sent it and no
 * other announcer sent another; otherwise it waits CONFIRM_MS for the other peers
 * asked (longer while one of them is still sending), then the value most holders
 * sent wins, an announced one before an unannounced one, the earliest before the
 * later. force: the waiting is over. 1 when the fetch was completed. */
static int fetch_decide(sync_state *s, fetch *f, int force) {
  if (f->vkind) return value_decide(s, f, force);
  if (!f->ncand) return 0;
  int announced = 0;
  for (int i = 0; i < f->ncand; i++) {
    if (f->cand[i].nholders >= 2) {
      fetch_accept(s, f, i);
      return 1;
    }
    announced += f->cand[i].announced;
  }
  int pending = 0, fi = (int)(f - s->fetches);
  for (int i = 0; i < f->nasked; i++)
    if (!(f->aflag[i] & (A_NONE | A_GAVE))) pending++;
  if (announced == 1 && f->ncand == 1 && f->cand[0].announced) {
    fetch_accept(s, f, 0);
    return 1;
  }
  if (!pending) force = 2;
  if (!force) return 0;
  /* A peer still sending (a reassembly under way) gets its chance, within the waiters'
   * time (force 2: it is over): decide again later. */
  if (force == 1) {
    for (int i = 0; i < f->nasked; i++)
      if (!(f->aflag[i] & (A_NONE | A_GAVE)) && asm_active(s, fi, f->asked[i])) {
        f->decide_at = s->now + CONFIRM_MS;
        return 0;
      }
  }
  int best = 0;
  for (int i = 1; i < f->ncand; i++) {
    const candidate *a = &f->cand[i], *b = &f->cand[best];
    if (a->nholders > b->nholders ||
        (a->nholders == b->nholders && a->announced > b->announced))
      best = i;
  }
  fetch_accept(s, f, best);
  return 1;
}

/* A complete value from wire for f, dying at expires (0: never). Takes ownership of v. */
static void fetch_offer(sync_state *s, fetch *f, const uint8_t wire[8], uint8_t *v, size_t len,
                        uint64_t expires) {
  int ai = asked_index(f, wire);
  if (ai >= 0) f->aflag[ai] |= A_GAVE;
  int ok = f->vkind ? value_acceptable(s, f, v, len) : 1;
  if (ok != 1) {
    free(v);
    /* A version no newer than one we have may answer an earlier WANT of ours (a value
     * under way when this fetch began): it does not count as the peer's answer, and the
     * fetch waits its window for the others (VALUE_WAIT_MS). */
    if (ok == 2 && ai >= 0) f->aflag[ai] &= (uint8_t)~A_GAVE;
    fetch_decide(s, f, 0); /* a forgery may have been the last answer awaited */
    return;
  }
  uint8_t d[32];
  crypto_sha256(v, len, d);
  int ann = have_heard(s, f, wire);
  candidate *c = NULL;
  for (int i = 0; i < f->ncand && !c; i++)
    if (f->cand[i].len == len && memcmp(f->cand[i].digest, d, 32) == 0) c = &f->cand[i];
  if (c) {
    free(v);
    if (!cand_has(c, wire) && c->nholders < ASKED_MAX) memcpy(c->holders[c->nholders++], wire, 8);
    c->announced |= ann;
    if (expires && (!c->expires || expires < c->expires)) c->expires = expires;
  } else if (f->ncand == CAND_MAX || s->asm_bytes + len > ASM_BUDGET) {
    free(v);
    s->st.rejected_values++;
  } else {
    c = &f->cand[f->ncand++];
    memset(c, 0, sizeof *c);
    memcpy(c->digest, d, 32);
    c->val = v;
    c->len = len;
    memcpy(c->holders[0], wire, 8);
    c->nholders = 1;
    c->announced = ann;
    c->at = s->now;
    c->expires = expires;
    s->asm_bytes += len;
    if (f->ncand == 1) f->decide_at = s->now + (f->vkind ? VALUE_WAIT_MS : CONFIRM_MS);
  }
  if (!fetch_decide(s, f, 0)) s->st.held_values++;
}

/* Every peer asked said it holds no such value: SW_ENOTFOUND. 1 when so. */
static int fetch_check_none(sync_state *s, fetch *f) {
  if (f->state != F_NETWORK || !f->nasked || f->ncand) return 0;
  for (int i = 0; i < f->nasked; i++)
    if (!(f->aflag[i] & A_NONE)) return 0;
  fetch_fail(s, f, SW_ENOTFOUND);
  return 1;
}

/* A signed key's fetch always asks the peers (docs/VALUES.md); the version held in
 * memory, or else in the backend, is its floor. Nobody to ask: the held one at once. */
static int value_fetch_start(sync_state *s, fetch *f) {
  cent *e = sync_cache_find(&s->cache, (const uint8_t *)f->key, f->klen);
  if (e) {
    sync_cache_touch(&s->cache, e);
    cand_local(s, f, e->val, e->vlen);
  } else if (sync_req_new(s, SYNC_OP_GET, (const uint8_t *)f->key, f->klen, NULL, 0)) {
    f->state = F_BACKEND;
    return SW_OK;
  }
  f->state = F_NETWORK;
  want_round(s, f);
  if (!f->nasked) f->decide_at = s->now;
  return SW_OK;
}

static void refresh_done(void *user, int err, const char *key, const uint8_t *v, size_t len,
                         const uint8_t *peer) {
  (void)user, (void)err, (void)key, (void)v, (void)len, (void)peer;
}

/* HAVE from wire for a signed key held here and not being fetched: fetch it from that
 * peer (a refresh, docs/VALUES.md); a higher version replaces ours and is announced on
 * (fetch_complete). At most REFRESH_MAX at once: past that the next fetch finds it. */
static void value_refresh(sync_state *s, const uint8_t wire[8], const uint8_t *k, size_t n) {
  if (s->closing || sv_key_kind(k, n) != SV_SIGNED) return;
  cent *e = sync_cache_find(&s->cache, k, n);
  if (!e) return;
  int running = 0;
  fetch *f = NULL;
  for (int i = 0; i < FETCH_MAX; i++) {
    if (s->fetches[i].state == F_FREE) {
      if (!f) f = &s->fetches[i];
    } else {
      running += s->fetches[i].refresh;
    }
  }
  if (!f || running >= REFRESH_MAX) return;
  memset(f, 0, sizeof *f);
  memcpy(f->key, k, n);
  f->key[n] = 0;
  f->klen = n;
  f->vkind = SV_SIGNED;
  f->refresh = 1;
  s->next_waiter_id = s->next_waiter_id % 0x7fffffff + 1;
  f->w[0] = (waiter){.cbx = refresh_done, .deadline = s->now + REFRESH_TIMEOUT_MS,
                     .id = s->next_waiter_id};
  f->nw = 1;
  f->state = F_NETWORK;
  f->next_want = s->now + REFRESH_TIMEOUT_MS; /* no WANT rounds: the announcer alone */
  cand_local(s, f, e->val, e->vlen);
  ask(s, f, wire);
  s->st.refreshes++;
}

int sw_core_fetch_ex(sw_core *c, const char *key, const sw_core_fetch_opts *opts,
                     sw_core_fetch_done_cb cbx, void *user, uint32_t *handle, uint64_t now) {
  sync_state *s = state_of(c);
  if (!s || !key || !cbx) return SW_EINVAL;
  sw_core_fetch_opts o = {0};
  if (opts) o = *opts;
  /* The wire key (a scoped key's, sync_scope.c); callbacks get the caller's. */
  char wk[SYNC_KEY_MAX + 1];
  size_t n;
  uint8_t koff, topic[32];
  int scoped;
  if (sync_scope_key(c, key, o.scope, wk, &n, &koff, topic, &scoped)) return SW_EINVAL;
  key = wk;
  if (s->closing) return SW_ECLOSED;
  s->now = now;
  uint32_t timeout_ms = o.timeout_ms ? o.timeout_ms : SYNC_TIMEOUT_MS;
  s->next_waiter_id = s->next_waiter_id % 0x7fffffff + 1;
  waiter w = {.cbx = cbx, .progress = o.progress, .user = user, .deadline = now + timeout_ms,
              .id = s->next_waiter_id, .koff = koff};
  fetch *f = fetch_find(s, (const uint8_t *)key, n);
  if (f) { /* D30: join the fetch under way; every one completes */
    if (f->nw == WAITERS_MAX) return SW_EFULL;
    f->w[f->nw++] = w;
    if (handle) *handle = w.id;
    if (f->vkind == SV_SIGNED && f->state == F_NETWORK) {
      /* The new caller wants what the peers hold now: those that answered already are
       * asked again (a refresh had asked only the announcer: now the mesh). */
      for (int i = 0; i < f->nasked; i++) f->aflag[i] &= (uint8_t)~(A_NONE | A_GAVE);
      if (f->refresh) want_round(s, f);
      else
        for (int i = 0; i < f->nasked; i++) ask(s, f, f->asked[i]);
      f->refresh = 0;
      if (f->nasked) f->decide_at = now + VALUE_WAIT_MS;
    }
    return SW_OK;
  }
  for (int i = 0; i < FETCH_MAX && !f; i++)
    if (s->fetches[i].state == F_FREE) f = &s->fetches[i];
  if (!f) return SW_EFULL;
  memset(f, 0, sizeof *f);
  memcpy(f->key, key, n + 1);
  f->klen = n;
  f->w[0] = w;
  f->nw = 1;
  f->scoped = scoped;
  f->koff = koff;
  memcpy(f->topic, topic, sizeof topic);
  if (handle) *handle = w.id;
  f->vkind = (uint8_t)sv_key_kind((const uint8_t *)key, n);
  if (f->vkind == SV_SIGNED) return value_fetch_start(s, f);
  /* An unstored or expired key is not ours to give any more. */
  int local = !(o.flags & SW_FETCH_NO_CACHE) && !sync_expiry_dead(s, (const uint8_t *)key, n, now);
  cent *e = local ? sync_cache_find(&s->cache, (const uint8_t *)key, n) : NULL;
  if (e) { /* answered from memory, at the next timeout (never inside this call) */
    sync_cache_touch(&s->cache, e);
    f->state = F_NETWORK;
    fetch_ready(s, f, e->val, e->vlen);
    if (f->state == F_READY) return SW_OK;
  }
  sreq *r = local ? sync_req_new(s, SYNC_OP_GET, (const uint8_t *)key, n, NULL, 0) : NULL;
  if (r) {
    f->state = F_BACKEND;
    return SW_OK;
  }
  f->state = F_NETWORK;
  want_round(s, f);
  return SW_OK;
}

static void plain_done(void *user, int err, const char *key, const uint8_t *v, size_t len,
                       const uint8_t *peer) {
  (void)user, (void)err, (void)key, (void)v, (void)len, (void)peer;
}

int sw_core_fetch(sw_core *c, const char *key, uint32_t timeout_ms, sw_core_fetch_cb cb,
                  void *user, uint64_t now) {
  if (!cb) return SW_EINVAL;
  sw_core_fetch_opts o = {.timeout_ms = timeout_ms};
  uint32_t id = 0;
  int rc = sw_core_fetch_ex(c, key, &o, plain_done, user, &id, now);
  if (rc) return rc;
  waiter *w = waiter_by_id(state_of(c), id);
  w->cbx = NULL; /* the old completion, without the peer */
  w->cb = cb;
  return SW_OK;
}

int sw_core_fetch_cancel(sw_core *c, uint32_t handle, uint64_t now) {
  sync_state *s = state_of(c);
  waiter *w = s ? waiter_by_id(s, handle) : NULL;
  if (!w || w->canceled) return SW_EINVAL;
  s->now = now;
  w->canceled = 1;
  w->progress = NULL;
  w->deadline = 0; /* its completion runs at the next timeout */
  return SW_OK;
}

/* ---- receiving ------------------------------------------------------------------ */

static void on_have(sync_state *s, const uint8_t wire[8], const uint8_t *b, size_t len) {
  size_t off = 2, k;
  const uint8_t *key;
  for (unsigned i = 0; i < b[1] && sync_have_next(b, len, &off, &key, &k); i++) {
    if (!k) continue;
    have_note(s, key, k, wire);
    fetch *f = fetch_find(s, key, k);
    if (f && f->state == F_NETWORK && !asked(f, wire)) ask(s, f, wire);
    else if (!f) value_refresh(s, wire, key, k);
  }
}

static assembly *asm_find(sync_state *s, int fi, const uint8_t wire[8], int stream) {
  for (int i = 0; i < ASM_MAX; i++) {
    assembly *a = &s->asms[i];
    if (a->used && a->f == fi && a->stream == stream && memcmp(a->wire, wire, 8) == 0) return a;
  }
  return NULL;
}

/* A new reassembly of cost bytes for fetch fi from wire, within the bounds (D17, D28). */
static assembly *asm_new(sync_state *s, int fi, const uint8_t wire[8], size_t cost) {
  int per_key = 0;
  assembly *freeslot = NULL;
  for (int i = 0; i < ASM_MAX; i++) {
    assembly *a = &s->asms[i];
    if (!a->used) {
      if (!freeslot) freeslot = a;
    } else if (a->f == fi) {
      per_key++;
    }
  }
  if (!freeslot || per_key >= ASM_PER_KEY || s->asm_bytes + cost > ASM_BUDGET) return NULL;
  memset(freeslot, 0, sizeof *freeslot);
  freeslot->f = fi;
  memcpy(freeslot->wire, wire, 8);
  return freeslot;
}

static assembly *asm_get(sync_state *s, int fi, const uint8_t wire[8], uint16_t count) {
  assembly *a = asm_find(s, fi, wire, 0);
  if (a) return a;
  size_t cost = (size_t)count * (SYNC_CHUNK_SIZE + 1);
  if (!(a = asm_new(s, fi, wire, cost))) return NULL;
  a->data = malloc((size_t)count * SYNC_CHUNK_SIZE);
  a->have = calloc(count, 1);
  if (!a->data || !a->have) {
    free(a->data);
    free(a->have);
    a->data = a->have = NULL;
    return NULL;
  }
  a->used = 1;
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
    fetch_offer(s, f, wire, v, fr->vlen, 0);
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
  if (a->got < a->count) {
    /* Bytes so far; the total is exact once the last piece came (an upper bound before). */
    size_t total = (size_t)(a->count - 1) * SYNC_CHUNK_SIZE +
                   (a->last_len ? a->last_len : SYNC_CHUNK_SIZE);
    size_t got = (size_t)a->got * SYNC_CHUNK_SIZE;
    if (a->last_len) got -= SYNC_CHUNK_SIZE - a->last_len;
    fetch_progress(s, f, got, total);
    return;
  }
  /* Complete: every index present, so the length is exact. */
  size_t total = (size_t)(a->count - 1) * SYNC_CHUNK_SIZE + a->last_len;
  uint8_t *v = a->data;
  a->data = NULL;
  asm_free(s, a);
  fetch_offer(s, f, wire, v, total, 0);
}

/* VALUE and PIECE on the stream (PROTOCOL.md 21.10): in order, so each continues the
 * last; anything inconsistent ends that peer's reassembly. */
static void on_stream_value(sync_state *s, const uint8_t wire[8], const sync_smsg *m) {
  fetch *f = fetch_find(s, m->key, m->klen);
  if (!f || f->state != F_NETWORK || !asked(f, wire)) {
    s->st.ignored++;
    if (m->type != SYNC_S_PIECE) { /* not (or no longer) wanted: stop it */
      size_t n = sync_stream_encode(s->smsg, SYNC_S_CANCEL, m->key, m->klen, 0, NULL, 0);
      core_stream_send(s->c, wire, SYNC_STREAM_CHANNEL, s->smsg, n);
    }
    return;
  }
  int fi = (int)(f - s->fetches);
  assembly *a = asm_find(s, fi, wire, 1);
  if (m->type != SYNC_S_PIECE) { /* VALUE, VALUE_TTL */
    if (a) asm_free(s, a); /* a new VALUE starts the value again */
    if (m->num == 0 || m->num > VALUE_MAX) {
      s->st.malformed++;
      return;
    }
    if (!(a = asm_new(s, fi, wire, m->num)) || !(a->data = malloc(m->num))) {
      s->st.ignored++;
      return;
    }
    a->used = 1;
    a->stream = 1;
    a->total = m->num;
    a->expires = m->type == SYNC_S_VALUE_TTL ? s->now + m->ttl_ms : 0;
    s->asm_bytes += a->total;
  } else if (!a || m->num != a->got_bytes || m->dlen > a->total - a->got_bytes) {
    if (a) asm_free(s, a);
    s->st.malformed++;
    return;
  }
  s->st.stream_pieces_in++;
  memcpy(a->data + a->got_bytes, m->data, m->dlen);
  a->got_bytes += m->dlen;
  a->last_rx = s->now;
  if (a->got_bytes < a->total) {
    fetch_progress(s, f, a->got_bytes, a->total);
    return;
  }
  uint8_t *v = a->data;
  size_t total = a->total;
  uint64_t expires = a->expires;
  a->data = NULL;
  asm_free(s, a);
  fetch_offer(s, f, wire, v, total, expires);
}

static void m_stream(void *mod, const uint8_t wire[8], const uint8_t *buf, size_t len,
                     uint64_t now) {
  sync_state *s = mod;
  s->now = now;
  sync_smsg m;
  if (sync_stream_decode(buf, len, &m)) {
    s->st.malformed++;
    return;
  }
  switch (m.type) {
    case SYNC_S_WANT:
      if (!s->closing) sync_serve_want(s, wire, m.key, m.klen, 1);
      break;
    case SYNC_S_CANCEL: sync_serve_cancel(s, wire, m.key, m.klen); break;
    case SYNC_S_NONE: {
      s->st.nones_in++;
      fetch *f = fetch_find(s, m.key, m.klen);
      int ai = f && f->state == F_NETWORK ? asked_index(f, wire) : -1;
      if (ai < 0) break;
      f->aflag[ai] |= A_NONE;
      if (!fetch_check_none(s, f)) fetch_decide(s, f, 0);
      break;
    }
    default: on_stream_value(s, wire, &m); break;
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
      if (!s->closing) sync_serve_want(s, wire, fr.key, fr.klen, 0);
      break;
    case WIRE_CHUNK: on_chunk(s, wire, from, &fr); break;
    default: sync_serve_ack(s, wire, &fr); break;
  }
}

int sw_core_store(sw_core *c, const char *key, const void *value, size_t len, uint64_t now) {
  sync_state *s = state_of(c);
  if (!s || !key || (!value && len)) return SW_EINVAL;
  size_t n = strlen(key);
  if (n == 0 || n > SYNC_KEY_MAX || len == 0) return SW_EINVAL; /* D29; empty = missing */
  if (len > VALUE_MAX) return SW_EMSGSIZE;
  if (s->closing) return SW_ECLOSED;
  /* Signed and content keys hold only valid values; a signed one only a newer version. */
  uint64_t seq = 0;
  if (sv_verify((const uint8_t *)key, n, value, len, &seq) ||
      (seq && seq <= sv_held_seq(s, (const uint8_t *)key, n)))
    return SW_EINVAL;
  s->now = now;
  if (s->backend && !sync_req_new(s, SYNC_OP_SET, (const uint8_t *)key, n, value, len))
    return SW_EAGAIN; /* nothing kept: the caller retries */
  int rc = sync_cache_put(&s->cache, (const uint8_t *)key, n, value, len);
  if (rc && !s->backend) return rc;
  sync_expiry_set(s, (const uint8_t *)key, n, 0); /* a new value: no lifetime (store_ex sets it) */
  /* Our own pending fetches of this key are answered by it. */
  fetch *f = fetch_find(s, (const uint8_t *)key, n);
  if (f && f->state != F_READY) fetch_ready(s, f, value, len);
  have_mesh(s, (const uint8_t *)key, n);
  return SW_OK;
}

/* ---- module hooks ------------------------------------------------------------------ */

static void m_connection(void *m, const uint8_t wire[8], const sw_addr *addr, uint64_t now) {
  sync_state *s = m;
  (void)addr;
  s->now = now;
  sync_serve_summary(s, wire);
  /* Ours: a new peer is asked at once for what we are waiting for. */
  for (int i = 0; i < FETCH_MAX; i++)
    if (s->fetches[i].state == F_NETWORK) ask(s, &s->fetches[i], wire);
}

static void m_disconnect(void *m, const uint8_t wire[8], uint64_t now) {
  sync_state *s = m;
  s->now = now;
  sync_serve_disconnect(s, wire);
  for (int i = 0; i < ASM_MAX; i++)
    if (s->asms[i].used && memcmp(s->asms[i].wire, wire, 8) == 0) asm_free(s, &s->asms[i]);
}

/* One due piece of fetch work; 1 when something was done (callbacks may have run and
 * changed the tables, so the caller scans again). */
static int fetch_step(sync_state *s, uint64_t now) {
  for (int i = 0; i < FETCH_MAX; i++) {
    fetch *f = &s->fetches[i];
    if (f->state == F_FREE) continue;
    for (int k = 0; k < f->nw; k++) { /* canceled first: they never get a value */
      if (!f->w[k].canceled && (f->state == F_READY || f->w[k].deadline > now)) continue;
      if (!f->w[k].canceled && f->ncand && fetch_decide(s, f, 2)) return 1; /* time's up */
      waiter w = f->w[k];
      char key[SYNC_KEY_MAX + 1];
      memcpy(key, f->key, sizeof key);
      f->w[k] = f->w[--f->nw];
      if (!f->nw) fetch_clear(s, f);
      waiter_call(&w, w.canceled ? SW_ECANCELED : SW_ETIMEDOUT, key, NULL, 0, NULL);
      return 1;
    }
    if (f->state == F_READY) {
      fetch_complete(s, f, f->ready, f->ready_len, NULL, 0);
      return 1;
    }
    if (f->state == F_NETWORK && f->ncand && now >= f->decide_at && fetch_decide(s, f, 1))
      return 1;
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
    /* A peer asked with a datagram WANT whose extended session has come up since, and
     * that is not sending yet, is asked again on the stream at once: it can say NONE. */
    for (int k = 0; f->state == F_NETWORK && k < f->nasked; k++)
      if (!(f->aflag[k] & (A_STREAM | A_NONE | A_GAVE)) &&
          core_stream_room(s->c, f->asked[k], 0) >= 0 && !asm_active(s, i, f->asked[k]))
        ask(s, f, f->asked[k]);
  }
  for (int i = 0; i < ASM_MAX; i++)
    if (s->asms[i].used && now - s->asms[i].last_rx >= ASM_IDLE_MS) asm_free(s, &s->asms[i]);
  sync_serve_timeout(s, now);
  sync_expiry_timeout(s, now);
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
    if (f->state == F_NETWORK && f->ncand) EARLIER(f->decide_at);
  }
  for (int i = 0; i < ASM_MAX; i++)
    if (s->asms[i].used) EARLIER(s->asms[i].last_rx + ASM_IDLE_MS);
#undef EARLIER
  return sync_expiry_deadline(s, sync_serve_deadline(s, d));
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
      waiter_call(&w, SW_ECLOSED, key, NULL, 0, NULL);
    }
    if (f->state != F_FREE) fetch_clear(s, f);
  }
}

static void m_close(void *m, uint64_t now) {
  sync_state *s = m;
  s->now = now;
  s->closing = 1;
  fail_all(s);
  sync_serve_close(s);
}

static void m_free(void *m) {
  sync_state *s = m;
  s->closing = 1;
  fail_all(s);
  sync_serve_close(s);
  for (int i = 0; i < STORAGE_MAX; i++) req_free(s, &s->reqs[i]);
  sync_cache_clear(&s->cache);
  sync_expiry_clear(s);
  free(s);
}

static size_t m_memory(const void *m) {
  const sync_state *s = m;
  return sizeof *s + s->cache.bytes + s->asm_bytes + s->tx_bytes + s->req_bytes + s->exp.bytes;
}

int sync_attach(sw_core *c, size_t cache_max, size_t cache_bytes, int backend) {
  sync_state *s = calloc(1, sizeof *s);
  if (!s) return SW_ENOMEM;
  s->c = c;
  sync_cache_init(&s->cache, cache_max, cache_bytes);
  s->backend = backend;
  static const uint8_t frames[] = {WIRE_HAVE, WIRE_WANT, WIRE_CHUNK, WIRE_CHUNK_ACK};
  core_module mod = {.name = "sync", .frames = frames, .nframes = sizeof frames,
                     .on_frame = m_frame, .on_connection = m_connection,
                     .on_disconnect = m_disconnect, .on_timeout = m_timeout,
                     .deadline = m_deadline, .on_close = m_close, .free = m_free,
                     .memory = m_memory, .stream_channel = SYNC_STREAM_CHANNEL,
                     .on_stream = m_stream, .state = s};
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
  int op = r->op, serve_it = r->serve, stream = r->stream;
  uint8_t wire[8];
  memcpy(wire, r->wire, 8);
  req_free(s, r); /* first: what follows may queue new requests */
  if (op != SYNC_OP_GET) return;
  /* An unstored or expired key whose row is still there reads as missing. */
  int found = !err && value && len && !sync_expiry_dead(s, (const uint8_t *)key, n, now) &&
              sync_backend_value(s, (const uint8_t *)key, n, &value, &len, now) &&
              len <= VALUE_MAX;
  if (found && sv_verify((const uint8_t *)key, n, value, len, NULL)) { /* docs/VALUES.md */
    s->st.forged_values++;
    found = 0;
  }
  if (found) sv_cache_put(s, (const uint8_t *)key, n, value, len);
  if (serve_it) {
    if (found && !s->closing && core_connected(c, wire))
      sync_serve_value(s, wire, (const uint8_t *)key, n, value, len, stream);
    else if (!found && stream && !s->closing) { /* PROTOCOL.md 21.10: say so */
      size_t m = sync_stream_encode(s->smsg, SYNC_S_NONE, (const uint8_t *)key, n, 0, NULL, 0);
      if (core_stream_send(c, wire, SYNC_STREAM_CHANNEL, s->smsg, m) == SW_OK) s->st.nones_out++;
    }
    return;
  }
  fetch *f = fetch_find(s, (const uint8_t *)key, n);
  if (!f || f->state != F_BACKEND) return;
  if (found && f->vkind == SV_SIGNED) { /* the floor; the peers may hold a newer one */
    cand_local(s, f, value, len);
    f->state = F_NETWORK;
    want_round(s, f);
    if (!f->nasked) f->decide_at = s->now;
    return;
  }
  if (found) {
    uint8_t *v = malloc(len);
    if (v) {
      memcpy(v, value, len);
      fetch_complete(s, f, v, len, NULL, 0);
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
  out->cache_entries = s->cache.n;
  out->cache_bytes = s->cache.bytes;
  out->reassembly_bytes = s->asm_bytes;
  out->transfer_bytes = s->tx_bytes;
  return SW_OK;
}

static int attach_from_config(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  if (!cfg->sync) return SW_OK;
  int rc = sync_attach(c, cfg->store_cache_max, cfg->store_cache_bytes, cfg->storage);
  if (!rc) state_of(c)->unix_offset = cfg->unix_offset_ms;
  return rc;
}

const core_module_def sync_module = {"sync", attach_from_config};
