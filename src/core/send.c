/* The send path: see send.h. Section numbers refer to docs/PROTOCOL.md. */
#include "send.h"

#include <stdlib.h>
#include <string.h>

#include "delivery.h"
#include "guard.h"
#include "liveness.h"
#include "origin.h"
#include "paths.h"
#include "peers.h"
#include "xsession.h"

static size_t out_rec_cost(size_t len) { return len + sizeof(outq_rec) + 8; }

/* Doubling covers the ring's worst-case split between its end and its front. */
int send_room(const sw_core *c, size_t bytes) {
  size_t need = (size_t)(c->open_batches + 1) * OPEN_BATCH_COST + out_rec_cost(bytes);
  return outq_free_bytes(&c->out) >= 2 * need + CTRL_RESERVE;
}

/* If not, waiting for SW_EV_WRITABLE would wait forever: the caller gets SW_EMSGSIZE. */
int send_fits_ever(const sw_core *c, size_t bytes) {
  return 2 * (OPEN_BATCH_COST + out_rec_cost(bytes)) + CTRL_RESERVE <= c->out.cap;
}

void send_raw(sw_core *c, const core_path *to, const uint8_t *buf, size_t len) {
  if (paths_send(c, to, buf, len)) c->stats.ctrl_dropped++;
}

/* When p's congestion controller lets its next datagram leave: 0 for at once, so that
 * a controller without pacing costs the ring nothing (docs/ARCHITECTURE.md). */
static uint64_t pace(const sw_core *c, const core_peer *p) {
  uint64_t t = cc_next_send(&p->cc, c->last_now);
  return t > c->last_now ? t : 0;
}

/* Whether p's best path takes `bytes` more now: its address validated, or room to hold
 * them until it is (guard.h). */
static int guard_allows(sw_core *c, const core_peer *p, size_t bytes) {
  const core_path *to = paths_best(p);
  return to->relayed || guard_room(c, &to->addr, bytes + OPEN_BATCH_COST);
}

/* Traffic waits for p's address to prove itself: ask again when an ask is due, so that
 * a lost challenge costs a quarter second (GUARD_ASK_MS), not a heartbeat. */
static void guard_ask(sw_core *c, core_peer *p) {
  if (!p->paths[p->best].validated) liveness_validate(c, p, paths_best(p), 0, c->last_now);
}

/* Whether p's controller has room for `bytes` more in flight. */
static int cc_allows(const core_peer *p, size_t bytes) { return cc_room(&p->cc) >= bytes; }

/* ---- batching (PROTOCOL.md 8.2) ----------------------------------------- */

void send_batch_close(sw_core *c, core_peer *p) {
  if (!p->ocount) return;
  const uint8_t *d;
  size_t len;
  if (p->ocount == 1) { /* a group of one goes out as the bare frame */
    d = p->obuf + 4;
    len = p->olen - 4;
  } else {
    p->obuf[0] = WIRE_BATCH;
    p->obuf[1] = (uint8_t)p->ocount;
    d = p->obuf;
    len = p->olen;
  }
  guard_ask(c, p);
  if (paths_send_at(c, paths_best(p), d, len, pace(c, p))) c->stats.flood_dropped++;
  else cc_on_sent(&p->cc, len, c->last_now);
  p->ocount = 0;
  p->olen = 2;
  c->open_batches--;
}

/* Where to build a frame of len bytes for p: inside its open batch when it fits the
 * reference grouping rule, else NULL (the caller sends it alone). */
static uint8_t *batch_slot(sw_core *c, core_peer *p, size_t len) {
  if (len + 2 > WIRE_BATCH_MTU) return NULL;
  /* running size counts length + 2 per frame: olen - 2 is exactly that sum */
  if (p->ocount && (p->olen - 2 + len + 2 > WIRE_BATCH_MTU || p->ocount == BATCH_MAX_FRAMES))
    send_batch_close(c, p);
  if (!p->ocount) c->open_batches++;
  wire_put16(p->obuf + p->olen, (uint16_t)len);
  return p->obuf + p->olen + 2;
}

static void batch_commit(core_peer *p, size_t len) {
  p->olen += 2 + len;
  p->ocount++;
}

/* ---- DATA and FRAG -------------------------------------------------------- */

static void next_nonce(core_peer *p, uint8_t nonce[12]) {
  wire_put32(nonce, p->session_id);
  wire_put64(nonce + 4, p->send_ctr++);
}

/* Build one DATA frame at dst: header, then seal(u32 seq || msg) (PROTOCOL.md 5.1). */
static int build_data(core_peer *p, uint8_t *dst, const uint8_t *msg, size_t len) {
  uint8_t seq[4];
  wire_put32(seq, p->send_seq);
  wire_data_header(dst, p->session_id, p->send_ctr);
  if (crypto_aead_seal(p->tx, dst + 1, seq, 4, msg, len, dst + WIRE_DATA_HDR)) return SW_ECRYPTO;
  p->send_ctr++;
  p->send_seq++;
  return SW_OK;
}

static int send_frag(sw_core *c, core_peer *p, const uint8_t *msg, size_t len) {
  size_t count = (len + WIRE_FRAG_DATA_MAX - 1) / WIRE_FRAG_DATA_MAX;
  uint8_t id[8];
  if (count > 65535) return SW_EMSGSIZE;
  engine_rand(c, id, sizeof id);
  for (size_t i = 0; i < count; i++) {
    size_t off = i * WIRE_FRAG_DATA_MAX;
    size_t n = len - off < WIRE_FRAG_DATA_MAX ? len - off : WIRE_FRAG_DATA_MAX;
    uint8_t *slot = batch_slot(c, p, WIRE_FRAG_HDR + n);
    if (!slot) return SW_EMSGSIZE;
    wire_frag_encode(slot, id, (uint16_t)i, (uint16_t)count, msg + off, n);
    batch_commit(p, WIRE_FRAG_HDR + n);
  }
  return SW_OK;
}

/* A DATA frame too big to share a datagram, alone: built in place in the ring on a
 * direct path, through a copy on a relayed one. */
static int send_data_alone(sw_core *c, core_peer *p, const uint8_t *msg, size_t len) {
  size_t flen = len + WIRE_DATA_OVERHEAD;
  const core_path *to = paths_best(p);
  guard_ask(c, p);
  uint8_t *dst = paths_reserve(c, to, flen);
  if (dst) {
    if (build_data(p, dst, msg, len)) return SW_ECRYPTO;
    paths_commit(c, to, flen, pace(c, p));
  } else if (!to->relayed && guard_validated(c, &to->addr)) {
    return SW_EAGAIN; /* the ring is full */
  } else {
    uint8_t *tmp = malloc(flen);
    int rc = !tmp ? SW_ENOMEM : build_data(p, tmp, msg, len);
    if (rc == SW_OK) rc = paths_send(c, to, tmp, flen);
    free(tmp);
    if (rc) return rc;
  }
  cc_on_sent(&p->cc, flen, c->last_now);
  return SW_OK;
}

static int message_out(sw_core *c, core_peer *p, const uint8_t *msg, size_t len) {
  size_t flen = len + WIRE_DATA_OVERHEAD;
  if (!p->tx) return SW_ENOTCONN;
  if (xsession_holding(p)) return xsession_hold(c, p, msg, len); /* its handshake runs */
  if (xsession_active(p)) return xsession_send(c, p, msg, len); /* TRANSPORT.md 2, 8 */
  if (len > WIRE_MAX_PAYLOAD && c->cfg.legacy_frag && p->legacy) return send_frag(c, p, msg, len);
  if (flen > WIRE_UDP_MAX) return SW_EMSGSIZE;
  uint8_t *slot = batch_slot(c, p, flen);
  if (slot) {
    if (build_data(p, slot, msg, len)) {
      if (!p->ocount) c->open_batches--;
      return SW_ECRYPTO;
    }
    batch_commit(p, flen);
    return SW_OK;
  }
  /* Too big to share a datagram: keep order by closing the open batch first. */
  send_batch_close(c, p);
  return send_data_alone(c, p, msg, len);
}

int send_message(sw_core *c, core_peer *p, const uint8_t *msg, size_t len) {
  int rc = message_out(c, p, msg, len);
  if (rc == SW_OK) {
    p->msgs_sent++;
    p->bytes_sent += len;
  }
  return rc;
}

/* ---- sealed control and HELLO -------------------------------------------- */

size_t send_build_sealed(core_peer *p, uint8_t *out, const uint8_t *inner, size_t n) {
  if (!p->tx) return 0;
  out[0] = WIRE_SEALED;
  next_nonce(p, out + 1);
  if (crypto_aead_seal(p->tx, out + 1, NULL, 0, inner, n, out + WIRE_DATA_HDR)) return 0;
  return WIRE_DATA_HDR + n + CRYPTO_TAG_LEN;
}

void send_sealed_to(sw_core *c, core_peer *p, const core_path *to, const uint8_t *inner,
                    size_t n) {
  uint8_t buf[SEALED_FRAME_MAX];
  size_t len = send_build_sealed(p, buf, inner, n);
  if (len) send_raw(c, to, buf, len);
}

void send_sealed(sw_core *c, core_peer *p, uint8_t inner) {
  send_sealed_to(c, p, paths_best(p), &inner, 1);
}

void send_hello(sw_core *c, uint8_t type, const core_path *to) {
  uint8_t buf[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  size_t n = wire_hello_encode(buf, type, c->me.id, c->me.pub, OWN_CAPS(c));
  send_raw(c, to, buf, n);
}

/* ---- the output ring, as the runtime drains it ------------------------------- */

void sw_core_flush(sw_core *c, uint64_t now) {
  /* The extended sessions' packets first (what was written this turn, and
   * acknowledgements): on a relayed path they join the relay's batch, closed below. */
  for (size_t k = 0; k < c->peers_hi; k++)
    if (c->peers[k].used && c->peers[k].xs) xsession_flush(c, &c->peers[k], now);
  /* Closing a batch on a relayed path hands it to the relay module, which may put it in
   * the relay's own batch: a second pass closes that one. A relay never relays through
   * a relay, so two passes suffice; the bound is only a guard. */
  for (int pass = 0; c->open_batches && pass < 4; pass++)
    for (size_t k = 0; k < c->peers_hi; k++)
      if (c->peers[k].used && c->peers[k].ocount) send_batch_close(c, &c->peers[k]);
  if (c->want_unicast) unicast_waiters(c, now);
}

size_t sw_core_out_peek(sw_core *c, sw_dgram *out, size_t max) {
  size_t cursor = c->out.head, n = 0;
  while (n < max && n < c->out.count) {
    const outq_rec *r = outq_peek(&c->out, &cursor);
    /* The pacer holds this one: it and what follows wait for sw_core_deadline. */
    if (r->not_before > c->last_now) break;
    out[n].kind = (sw_sock_kind)r->kind;
    out[n].probe = r->probe;
    out[n].to = &r->to;
    out[n].data = outq_rec_data(r);
    out[n].len = r->len;
    n++;
  }
  return n;
}

/* After SW_EAGAIN, SW_EV_WRITABLE once the ring is half free again and no peer's
 * controller is without room. */
static void check_writable(sw_core *c) {
  if (!c->want_writable || outq_free_bytes(&c->out) < c->out.cap / 2) return;
  for (size_t k = 0; k < c->peers_hi; k++)
    if (c->peers[k].used && cc_room(&c->peers[k].cc) < OPEN_BATCH_COST) return;
  c->want_writable = 0;
  sw_event ev = {.type = SW_EV_WRITABLE};
  engine_emit(c, &ev);
}

void sw_core_out_consume(sw_core *c, size_t n, uint64_t now) {
  (void)now;
  for (size_t i = 0; i < n && c->out.count; i++) outq_pop(&c->out);
  c->stats.tx_datagrams += n;
  check_writable(c);
}

/* Held datagrams count (guard.h): a closing runtime drains them too, once their address
 * answers, within its drain timeout. */
size_t sw_core_out_pending(const sw_core *c) { return c->out.count + guard_held_count(&c->guard); }

size_t sw_core_unacked(const sw_core *c) {
  size_t n = 0;
  for (size_t k = 0; k < c->peers_hi; k++) {
    const core_peer *p = &c->peers[k];
    if (p->used && p->xs && p->xs->x) n += (size_t)(p->xs->x->snd_end - p->xs->x->snd_base);
  }
  return n;
}

/* ---- API: write, broadcast, and sends with flags --------------------------------- */


static int check_message(const sw_core *c, const void *data, size_t len) {
  if (c->closing) return SW_ECLOSED;
  if (!data && len) return SW_EINVAL;
  if (len > SW_MAX_MESSAGE) return SW_EMSGSIZE;
  return SW_OK;
}

/* Our own mesh message's origin (TRANSPORT-delivery.md, stream kind 4): our id and a
 * fresh message id. NULL when the
 * message cannot carry one (a datagram, or too big for a kind 4 entry). Only peers that
 * advertise WIRE_CAP_ORIGIN get it; older builds of ours get kind 0. With SW_SEND_SIGNED
 * the caller signs it (origin_sign: the signature follows, XPORT_SIGNED_HDR in all) for
 * the peers that advertise WIRE_CAP_SIGNED. */
static const uint8_t *own_origin(sw_core *c, uint8_t hdr[XPORT_ORIGIN_HDR], size_t len,
                                 unsigned flags, uint64_t now) {
  if (flags & (SW_SEND_DATAGRAM | SW_SEND_UNICAST) || len > XPORT_ORIGIN_MAX_MSG) return NULL;
  memcpy(hdr, c->me.id, 20);
  if (c->msgid_left < 8) {
    engine_rand(c, c->msgid_pool, sizeof c->msgid_pool);
    c->msgid_left = sizeof c->msgid_pool;
  }
  c->msgid_left -= 8;
  memcpy(hdr + 20, c->msgid_pool + c->msgid_left, 8);
  /* Not added to the duplicate set: a kind 4 entry whose author is us is refused by
   * that id before any lookup (delivery.c), and a copy without its origin (through a
   * reference peer) is caught by its content, which the caller remembers. */
  (void)now;
  return hdr;
}

/* One message into p's extended session: reliable (a MSG stream entry, of kind 4 when
 * `origin` is given, of kind 5 when it is signed and p takes kind 5) or a DATAGRAM frame,
 * for the mesh or for p alone (XPORT_DIRECT). */
static int xs_message(sw_core *c, core_peer *p, const void *data, size_t len, unsigned flags,
                      const uint8_t *origin) {
  xport *x = p->xs->x;
  unsigned xf = (flags & SW_SEND_DATAGRAM ? 0 : XPORT_RELIABLE) |
                (flags & SW_SEND_UNICAST ? XPORT_DIRECT : 0);
  if (len > ((flags & SW_SEND_DATAGRAM) ? xport_dgram_max(x) : (size_t)XPORT_MAX_MSG))
    return SW_EMSGSIZE;
  int rc = !origin ? xport_send(x, data, len, xf, c->last_now)
           : (flags & SW_SEND_SIGNED) && (p->caps & WIRE_CAP_SIGNED)
               ? xport_send_signed(x, origin, data, len, c->last_now)
               : xport_send_origin(x, origin, data, len, c->last_now);
  if (rc == SW_OK) {
    p->msgs_sent++;
    p->bytes_sent += len;
  }
  return rc;
}

/* Room in p's extended session for one message; when there is none, xport_writable
 * reports it later (SW_EV_WRITABLE). */
static int xs_room(core_peer *p, size_t len, unsigned flags) {
  if (!(flags & SW_SEND_DATAGRAM))
    return xsession_room(p, len + (flags & SW_SEND_SIGNED ? XPORT_SIGNED_HDR : XPORT_ORIGIN_HDR));
  xport *x = p->xs->x;
  if (sizeof x->dq - x->dq_len >= 2 + len) return 1;
  if (!x->want_room) x->want_room = 1; /* a datagram waits for the queue to drain */
  return 0;
}

/* One message to one peer with a session: over its extended session when there is one
 * (flags say how), else as plain DATA (a plain session carries nothing else). */
static int send_one(sw_core *c, core_peer *p, const void *data, size_t len, unsigned flags) {
  /* While its handshake runs (or what was held is still going out) a message waits in
   * the hold, in order (TRANSPORT.md 8): a datagram too, which then travels reliably.
   * A unicast cannot be held (the hold keeps no flags): SW_EAGAIN, then WRITABLE. */
  if (xsession_holding(p)) {
    if (!(flags & SW_SEND_UNICAST)) return send_message(c, p, data, len);
    p->xs->hold_want = 1;
    return SW_EAGAIN;
  }
  if (xsession_active(p)) {
    uint8_t hdr[XPORT_SIGNED_HDR];
    const uint8_t *origin =
        p->caps & WIRE_CAP_ORIGIN ? own_origin(c, hdr, len, flags, c->last_now) : NULL;
    if (origin && (flags & SW_SEND_SIGNED) && (p->caps & WIRE_CAP_SIGNED)) {
      int rc = origin_sign(c, hdr, data, len);
      if (rc) return rc;
    }
    return xs_message(c, p, data, len, flags, origin);
  }
  if (!send_fits_ever(c, len + WIRE_DATA_OVERHEAD)) return SW_EMSGSIZE;
  if (!send_room(c, len + WIRE_DATA_OVERHEAD) || !cc_allows(p, len + WIRE_DATA_OVERHEAD) ||
      !guard_allows(c, p, len + WIRE_DATA_OVERHEAD)) { /* an unproven address: THREATS.md */
    c->want_writable = 1;
    return SW_EAGAIN;
  }
  return send_message(c, p, data, len);
}

int sw_core_write(sw_core *c, const uint8_t peer[8], const void *data, size_t len,
                  uint64_t now) {
  int rc = check_message(c, data, len);
  if (rc) return rc;
  c->last_now = now;
  core_peer *p = peer ? peers_find(c, peer) : NULL;
  if (!p || !p->tx) return SW_ENOTCONN;
  rc = send_one(c, p, data, len, 0);
  if (rc == SW_OK) delivery_remember_own(c, data, len, now);
  return rc;
}

/* To every peer with a session, all or nothing; flags: 0 or SW_SEND_DATAGRAM. */
static int broadcast(sw_core *c, const void *data, size_t len, unsigned flags, uint64_t now) {
  size_t n = 0, nx = 0, lo = c->max_peers, hi = 0; /* the loops below: slots lo..hi-1 */
  for (size_t k = 0; k < c->peers_hi; k++) {
    const core_peer *p = &c->peers[k];
    if (!p->used || !p->tx) continue;
    if (xsession_takes(p)) nx++;
    else n++;
    if (k < lo) lo = k;
    hi = k + 1;
  }
  if (!n && !nx) return 0;
  /* All or nothing: a broadcast is never half queued. The extended sessions first:
   * each has its own send buffer. */
  for (size_t k = lo; nx && k < hi; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used || !p->tx || !xsession_takes(p)) continue;
    if (xsession_holding(p)) { /* its handshake runs: held in order (TRANSPORT.md 8) */
      if (!xsession_room(p, len)) return SW_EAGAIN;
      continue;
    }
    if ((flags & SW_SEND_DATAGRAM) && len > xport_dgram_max(p->xs->x)) return SW_EMSGSIZE;
    if (!xs_room(p, len, flags)) return SW_EAGAIN;
  }
  size_t need = n * (len + WIRE_DATA_OVERHEAD + sizeof(outq_rec) + 8 + OPEN_BATCH_COST);
  if (!send_fits_ever(c, need)) return SW_EMSGSIZE; /* raise send_buffer_bytes */
  if (!send_room(c, need)) {
    c->want_writable = 1;
    return SW_EAGAIN;
  }
  for (size_t k = lo; k < hi; k++) {
    core_peer *p = &c->peers[k];
    if (p->used && p->tx && !xsession_takes(p) &&
        (!cc_allows(p, len + WIRE_DATA_OVERHEAD) ||
         !guard_allows(c, p, len + WIRE_DATA_OVERHEAD))) {
      c->want_writable = 1;
      return SW_EAGAIN;
    }
  }
  int sent = 0, rc;
  uint8_t hdr[XPORT_SIGNED_HDR]; /* one message id for all: it is one message */
  const uint8_t *origin = nx ? own_origin(c, hdr, len, flags, now) : NULL;
  if (origin && (flags & SW_SEND_SIGNED)) { /* one signature for all, if anyone takes it */
    int want = 0;
    for (size_t k = lo; k < hi && !want; k++) {
      const core_peer *p = &c->peers[k];
      want = p->used && p->tx && xsession_active(p) && !xsession_holding(p) &&
             (p->caps & WIRE_CAP_SIGNED);
    }
    if (want && (rc = origin_sign(c, hdr, data, len)) != SW_OK) return rc;
  }
  for (size_t k = lo; k < hi; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used || !p->tx) continue;
    rc = xsession_active(p) && !xsession_holding(p)
             ? xs_message(c, p, data, len, flags, p->caps & WIRE_CAP_ORIGIN ? origin : NULL)
             : send_message(c, p, data, len);
    if (rc) return rc;
    sent++;
  }
  delivery_remember_own(c, data, len, now);
  return sent;
}

int sw_core_broadcast(sw_core *c, const void *data, size_t len, uint64_t now) {
  int rc = check_message(c, data, len);
  if (rc) return rc;
  c->last_now = now;
  return broadcast(c, data, len, 0, now);
}

/* Whether an extended session with p may still come (being made, or awaited from the
 * initiator), so that a unicast waits for it rather than fail. */
static int xs_coming(const sw_core *c, const core_peer *p) {
  const struct core_xs *xs = p->xs;
  if (!xs || p->legacy || xsession_active(p)) return 0;
  if (xsession_holding(p)) return 1;
  /* every libsetowire peer gets the state for the sealed CAPS: only one that says it
   * speaks the extended session, to a core that does too, is waited for */
  if (!xsession_enabled(c) || !(p->caps & WIRE_CAP_XSESSION)) return 0;
  return xs->pending || xs->keyed || xs->tries < XS_INIT_TRIES; /* not given up */
}

/* A unicast to p, which has no extended session: SW_EAGAIN while one is being made
 * (SW_EV_WRITABLE when it is, or when it is given up), else SW_ENOTSUP: a reference
 * peer, or ours without the extended session, would flood it on. */
static int unicast_refused(sw_core *c, core_peer *p, uint64_t now) {
  if (!xs_coming(c, p)) {
    p->unicast_wait_since = 0; /* a later handshake (a restart) gets a wait of its own */
    return SW_ENOTSUP;
  }
  if (!p->unicast_wait_since) p->unicast_wait_since = now ? now : 1;
  if (now - p->unicast_wait_since >= UNICAST_WAIT_MS) return SW_ENOTSUP;
  p->unicast_waiting = 1;
  c->want_unicast = 1;
  return SW_EAGAIN;
}

void unicast_waiters(sw_core *c, uint64_t now) {
  int done = 0, waiting = 0;
  for (size_t k = 0; k < c->peers_hi; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used || !p->unicast_waiting) continue;
    if (xsession_active(p) || !xs_coming(c, p) || now - p->unicast_wait_since >= UNICAST_WAIT_MS) {
      if (xsession_active(p)) p->unicast_wait_since = 0;
      p->unicast_waiting = 0;
      done = 1;
    } else {
      waiting = 1;
    }
  }
  c->want_unicast = waiting;
  if (done) {
    sw_event ev = {.type = SW_EV_WRITABLE};
    engine_emit(c, &ev);
  }
}

int sw_core_send(sw_core *c, const uint8_t *peer, const void *data, size_t len, unsigned flags,
                 uint64_t now) {
  if (flags & ~(unsigned)(SW_SEND_DATAGRAM | SW_SEND_UNICAST | SW_SEND_SIGNED)) return SW_EINVAL;
  if ((flags & SW_SEND_UNICAST) && !peer) return SW_EINVAL;
  /* a signature goes with an origin, which only mesh messages carry */
  if ((flags & SW_SEND_SIGNED) && (flags & (SW_SEND_DATAGRAM | SW_SEND_UNICAST))) return SW_EINVAL;
  int rc = check_message(c, data, len);
  if (rc) return rc;
  if ((flags & SW_SEND_SIGNED) && len > XPORT_SIGNED_MAX_MSG) return SW_EMSGSIZE;
  c->last_now = now;
  if (!peer) return broadcast(c, data, len, flags, now);
  core_peer *p = peers_find(c, peer);
  if (!p || !p->tx) return SW_ENOTCONN;
  if (flags & SW_SEND_UNICAST) {
    if (!xsession_active(p)) return unicast_refused(c, p, now);
    p->unicast_wait_since = 0;
    rc = xs_message(c, p, data, len, flags, NULL); /* not remembered: it never comes back */
    return rc ? rc : 1;
  }
  rc = send_one(c, p, data, len, flags);
  if (rc) return rc;
  delivery_remember_own(c, data, len, now);
  return 1;
}

/* ---- services to modules (core_internal.h) ---------------------------------- */

void core_cc_acked(sw_core *c, const uint8_t wire[8], size_t bytes, double rtt_ms) {
  core_peer *p = peers_find(c, wire);
  if (!p) return;
  cc_on_acked(&p->cc, bytes, rtt_ms, c->last_now);
  check_writable(c);
}

void core_cc_lost(sw_core *c, const uint8_t wire[8], size_t bytes) {
  core_peer *p = peers_find(c, wire);
  if (p) cc_on_lost(&p->cc, bytes, c->last_now);
}

void core_send(sw_core *c, sw_sock_kind kind, const sw_addr *to, const uint8_t *d, size_t len) {
  if (outq_push(&c->out, (uint8_t)kind, to, d, len)) c->stats.ctrl_dropped++;
}

void core_send_path(sw_core *c, const core_path *to, const uint8_t *d, size_t len) {
  send_raw(c, to, d, len);
}

int core_send_ctrl(sw_core *c, const uint8_t wire[8], const uint8_t *frame, size_t len) {
  core_peer *p = peers_find(c, wire);
  if (!p) return SW_ENOTCONN;
  if (c->closing) return SW_ECLOSED;
  if (len + 2 > WIRE_BATCH_MTU) {
    /* too big to share a datagram: alone, after what is already queued */
    if (len > WIRE_UDP_MAX) return SW_EMSGSIZE;
    if (!send_room(c, len) || !cc_allows(p, len)) return SW_EAGAIN;
    send_batch_close(c, p);
    int rc = paths_send_at(c, paths_best(p), frame, len, pace(c, p));
    if (rc == SW_OK) cc_on_sent(&p->cc, len, c->last_now);
    return rc;
  }
  if (!send_room(c, len) || !cc_allows(p, len)) return SW_EAGAIN;
  uint8_t *slot = batch_slot(c, p, len);
  memcpy(slot, frame, len);
  batch_commit(p, len);
  return SW_OK;
}

/* ---- a module's messages on the extended session's stream (core_internal.h) ------- */

int core_stream_room(sw_core *c, const uint8_t wire[8], size_t len) {
  core_peer *p = peers_find(c, wire);
  if (!p || !p->tx || c->closing || !xsession_active(p)) return SW_ENOTCONN;
  xport *x = p->xs->x;
  /* Asked without leaving the application a wish: its SW_EV_WRITABLE is for its own
   * refused writes (xsession_room). The wait still counts for growing the ring. */
  size_t need = 1 + len + xport_varint_len(1 + len + XPORT_ENTRY_ENGINE);
  if (x->lim.send_buf - (size_t)(x->snd_end - x->snd_base) >= need) return 1;
  if (len) xport_want_room(x, need);
  return 0;
}

int core_stream_send(sw_core *c, const uint8_t wire[8], uint8_t channel, const uint8_t *msg,
                     size_t len) {
  core_peer *p = peers_find(c, wire);
  if (!p || !p->tx) return SW_ENOTCONN;
  if (c->closing) return SW_ECLOSED;
  if (!xsession_active(p)) return SW_ENOTCONN;
  if (len > CORE_STREAM_MAX) return SW_EMSGSIZE;
  return xsession_send_channel(c, p, channel, msg, len);
}
