/* The main socket's address guard: see guard.h and docs/THREATS.md "Main socket". */
#include "guard.h"

#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "paths.h"
#include "session.h"

static guard_rec *find(guard_table *g, const sw_addr *a) {
  size_t h = (size_t)addr_hash(a);
  for (size_t i = 0; i < GUARD_PROBE; i++) {
    guard_rec *r = &g->recs[(h + i) & (GUARD_SLOTS - 1)];
    if (r->used && addr_equal(&r->addr, a)) return r;
  }
  return NULL;
}

static void drop_held(sw_core *c, guard_rec *r) {
  for (guard_held *h = r->held, *next; h; h = next) {
    next = h->next;
    c->guard.held_bytes -= h->len;
    c->guard.nheld--;
    c->stats.ctrl_dropped++;
    free(h);
  }
  r->held = r->held_tail = NULL;
  r->nheld = 0;
  r->held_bytes = 0;
}

/* The record of `a`, made when missing. A new one takes a free slot of its window, else
 * an unvalidated one, those that sent the fewest datagrams (counted up to
 * GUARD_DGRAMS_KEEP) first and of them the longest silent, else a validated one silent
 * GUARD_IDLE_MS: a flood of forged sources, one datagram each, only ever pushes out other
 * unproven addresses, and those that keep talking (a peer waiting for its proof) last.
 * NULL when none. */
static guard_rec *get(sw_core *c, const sw_addr *a, uint64_t now) {
  guard_table *g = &c->guard;
  guard_rec *r = find(g, a);
  if (r) return r;
  size_t h = (size_t)addr_hash(a);
  guard_rec *victim = NULL;
  for (size_t i = 0; i < GUARD_PROBE; i++) {
    guard_rec *q = &g->recs[(h + i) & (GUARD_SLOTS - 1)];
    if (!q->used) {
      victim = q;
      break;
    }
    if (q->validated && now - q->last < GUARD_IDLE_MS) continue;
    if (!victim || (victim->validated && !q->validated) ||
        (victim->validated == q->validated &&
         (q->dgrams < victim->dgrams || (q->dgrams == victim->dgrams && q->last < victim->last))))
      victim = q;
  }
  if (!victim) return NULL;
  if (victim->used) drop_held(c, victim);
  memset(victim, 0, sizeof *victim);
  victim->used = 1;
  victim->addr = *a;
  victim->last = now;
  return victim;
}

void guard_recv(sw_core *c, const sw_addr *from, size_t len, uint64_t now) {
  guard_rec *r = get(c, from, now);
  if (!r) return;
  r->in += len;
  r->last = now;
  if (r->dgrams < GUARD_DGRAMS_KEEP) r->dgrams++;
}

int guard_validated(sw_core *c, const sw_addr *a) {
  const guard_rec *r = find(&c->guard, a);
  return r && r->validated;
}

/* The HELLO kept under load at r (guard_pend), taken now that its address answered.
 * Only where no peer is being handled (a PONG from an address without one, the
 * heartbeat): making a peer may evict an unproven one. */
static void take_pending(sw_core *c, guard_rec *r, uint64_t now) {
  if (!r || !r->pend_len) return;
  uint8_t hello[sizeof r->pend];
  size_t len = r->pend_len;
  int fresh = now - r->pend_at < GUARD_PEND_MS;
  memcpy(hello, r->pend, len);
  r->pend_len = 0;
  sw_addr a = r->addr;
  if (fresh) session_hello_answered(c, &a, hello, len, now);
}

static void validate(sw_core *c, guard_rec *r, uint64_t now) {
  if (r->validated) return;
  r->validated = 1;
  r->has_nonce = 0;
  r->pings_out = 0;
  /* What waited leaves first, in its order; then the paths that waited on it move. */
  for (guard_held *h = r->held, *next; h; h = next) {
    next = h->next;
    c->guard.held_bytes -= h->len;
    c->guard.nheld--;
    if (outq_push_at(&c->out, h->sock, &r->addr, h->data, h->len, 0)) c->stats.ctrl_dropped++;
    free(h);
  }
  r->held = r->held_tail = NULL;
  r->nheld = 0;
  r->held_bytes = 0;
  sw_addr a = r->addr;
  paths_validated(c, &a, now);
}

/* An answer to a handshake frame, or a PONG: no bigger than what it answers, and what
 * ends the wait (the PONG is how the far side, under load, takes our HELLO: session.c),
 * so it overtakes what waits (still under the limit). */
static int is_answer(const uint8_t *d, size_t len) {
  if (d[0] == WIRE_HELLO_ACK || d[0] == HS_TYPE_RESP || d[0] == HS_TYPE_RETRY ||
      d[0] == WIRE_PONG)
    return 1;
  return d[0] == WIRE_BATCH && len > 4 && d[4] == WIRE_HELLO_ACK; /* with a challenge */
}

int guard_room(sw_core *c, const sw_addr *to, size_t len) {
  const guard_table *g = &c->guard;
  const guard_rec *r = find(&c->guard, to);
  if (!r || r->validated) return 1; /* nowhere to hold it: guard_send decides */
  if (!r->held && r->out + len <= GUARD_AMP_FACTOR * r->in) return 1;
  return r->nheld < GUARD_HELD_DGRAMS && r->held_bytes + len <= GUARD_HELD_BYTES &&
         g->held_bytes + len <= GUARD_HELD_TOTAL;
}

int guard_send(sw_core *c, uint32_t sock, const sw_addr *to, const uint8_t *d, size_t len,
               uint64_t not_before) {
  guard_table *g = &c->guard;
  uint64_t now = c->last_now;
  guard_rec *r = find(g, to);
  if (r) r->last = now;
  /* Validated, or the HELLO of our own dial (guard.h). */
  if ((r && r->validated) || (len >= WIRE_HELLO_LEN && d[0] == WIRE_HELLO))
    return outq_push_at(&c->out, sock, to, d, len, not_before);
  if (!r) return SW_ENOTCONN; /* never heard from: nothing may go there but a dial */
  /* Nothing overtakes what waits, except the probe that would end the wait. A goodbye
   * at close (guard.h) does not either, since the peer would drop us before what waits
   * arrives; but it needs no budget and is never refused a place in the queue. */
  int urgent = g->urgent || is_answer(d, len), bye = g->goodbye;
  if ((!r->held || urgent) && (bye || r->out + len <= GUARD_AMP_FACTOR * r->in)) {
    int rc = outq_push_at(&c->out, sock, to, d, len, not_before);
    if (rc == SW_OK) r->out += len;
    return rc;
  }
  if (!bye && (urgent || r->nheld >= GUARD_HELD_DGRAMS || r->held_bytes + len > GUARD_HELD_BYTES ||
               g->held_bytes + len > GUARD_HELD_TOTAL))
    return SW_EFULL;
  guard_held *h = malloc(sizeof *h + len);
  if (!h) return SW_ENOMEM;
  h->next = NULL;
  h->at = now;
  h->sock = sock;
  h->len = len;
  memcpy(h->data, d, len);
  if (r->held_tail) r->held_tail->next = h;
  else r->held = h;
  r->held_tail = h;
  r->nheld++;
  r->held_bytes += len;
  if (!g->nheld || now < g->held_min) g->held_min = now;
  if (!g->nheld || now > g->held_max) g->held_max = now;
  g->held_bytes += len;
  g->nheld++;
  return SW_OK;
}

const uint8_t *guard_challenge(sw_core *c, const sw_addr *to, int force, uint64_t now) {
  guard_rec *r = find(&c->guard, to);
  if (!r || r->validated) return NULL;
  if (!force && r->has_nonce && now - r->chal_at < GUARD_ASK_MS) return NULL;
  /* The same nonce again while it is young, so that an answer on its way still counts;
   * then a new one: an answer to an old one proves only an old presence. */
  if (!r->has_nonce || now - r->nonce_at >= GUARD_PROOF_MS / 2) {
    engine_rand(c, r->nonce, WIRE_CHALLENGE_LEN);
    r->has_nonce = 1;
    r->nonce_at = now;
  }
  r->chal_at = now;
  return r->nonce;
}

int guard_ping_due(sw_core *c, const sw_addr *to, uint64_t now) {
  guard_rec *r = find(&c->guard, to);
  if (!r || r->validated) return 0;
  if (r->pings_out && now - r->ping_at < GUARD_ASK_MS) return 0;
  r->pings_out = 1;
  r->ping_at = now;
  return 1;
}

/* The first PONG within GUARD_PONG_MS of our validation PING, from an address that has
 * sent none unasked lately, answers it. Anything else poisons the address for a while. */
static int pong_answers(guard_rec *r, uint64_t now) {
  if (r->pings_out && now - r->ping_at <= GUARD_PONG_MS && now >= r->poisoned_until) return 1;
  r->pings_out = 0;
  r->poisoned_until = now + GUARD_POISON_MS;
  return 0;
}

void guard_on_pong(sw_core *c, const sw_addr *from, uint64_t now) {
  guard_rec *r = find(&c->guard, from);
  if (!r || r->validated) return;
  if (pong_answers(r, now)) validate(c, r, now);
}

int guard_pend(sw_core *c, const sw_addr *from, const uint8_t *hello, size_t len, uint64_t now) {
  guard_rec *r = find(&c->guard, from);
  if (!r) return 0;
  if (len > sizeof r->pend) len = sizeof r->pend;
  memcpy(r->pend, hello, len);
  r->pend_len = (uint8_t)len;
  r->pend_at = now;
  return 1;
}

void guard_pend_pong(sw_core *c, const sw_addr *from, uint64_t now) {
  guard_rec *r = find(&c->guard, from);
  if (!r || r->validated || !r->pend_len) return;
  if (now - r->pend_at >= GUARD_PEND_MS) {
    r->pend_len = 0;
    return;
  }
  if (!pong_answers(r, now)) return;
  r->pings_out = 0;
  wire_hello h;
  if (wire_hello_decode(r->pend, r->pend_len, &h)) {
    r->pend_len = 0;
    return;
  }
  /* A reference's address: the PONG validates it, the same proof guard_on_pong takes,
   * and the HELLO is taken on the validated address (validate). A libsetowire peer
   * proves its address by its challenge, as any: its peer is made, still unproven. */
  if (!(h.caps & WIRE_CAP_SEALED)) validate(c, r, now);
  take_pending(c, r, now);
}

void guard_pend_heartbeat(sw_core *c, uint64_t now) {
  for (size_t i = 0; i < GUARD_SLOTS; i++) {
    guard_rec *r = &c->guard.recs[i];
    if (!r->used || !r->pend_len) continue;
    if (now - r->pend_at >= GUARD_PEND_MS) r->pend_len = 0;
    else if (r->validated) take_pending(c, r, now); /* proven some other way meanwhile */
  }
}

void guard_on_response(sw_core *c, const sw_addr *from, const uint8_t *nonce, uint64_t now) {
  guard_rec *r = find(&c->guard, from);
  if (!r || r->validated || !r->has_nonce || now - r->nonce_at > GUARD_PROOF_MS) return;
  if (memcmp(r->nonce, nonce, WIRE_CHALLENGE_LEN) == 0) validate(c, r, now);
}

void guard_proven(sw_core *c, const sw_addr *a, uint64_t now) {
  guard_rec *r = get(c, a, now);
  if (r) validate(c, r, now);
}

void guard_expire(sw_core *c, uint64_t now) {
  guard_table *g = &c->guard;
  if (!g->held_bytes) return;
  /* Only the first datagram of each queue is looked at (below), and every first one was
   * held within [held_min, held_max]: if none of those times is due, nothing is. */
  if (now >= g->held_max && now - g->held_min < GUARD_HELD_MS) return;
  uint64_t lo = UINT64_MAX, hi = 0;
  for (size_t i = 0; i < GUARD_SLOTS; i++) {
    guard_rec *r = &c->guard.recs[i];
    if (!r->used) continue;
    while (r->held && now - r->held->at >= GUARD_HELD_MS) {
      guard_held *h = r->held;
      r->held = h->next;
      if (!r->held) r->held_tail = NULL;
      r->nheld--;
      r->held_bytes -= h->len;
      c->guard.held_bytes -= h->len;
      c->guard.nheld--;
      c->stats.ctrl_dropped++;
      free(h);
    }
    if (r->held) {
      if (r->held->at < lo) lo = r->held->at;
      if (r->held->at > hi) hi = r->held->at;
    }
  }
  g->held_min = lo;
  g->held_max = hi;
}

void guard_free(sw_core *c) {
  if (!c->guard.nheld) return; /* nothing waits anywhere: no slot to look at */
  for (size_t i = 0; i < GUARD_SLOTS; i++)
    if (c->guard.recs[i].used) drop_held(c, &c->guard.recs[i]);
}
