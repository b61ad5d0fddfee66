/* The extended session in the engine: see xsession.h. */
#include "xsession.h"

#include <stdlib.h>
#include <string.h>

#include "cc_bbr.h"
#include "delivery.h"
#include "origin.h"
#include "paths.h"
#include "peers.h"
#include "send.h"

static void hold_drain(sw_core *c, core_peer *p, uint64_t now);

int xsession_enabled(const sw_core *c) { return c->cfg.xsession != 0; }

int xsession_active(const core_peer *p) { return p->xs && p->xs->state == XS_CONFIRMED; }

int xsession_holding(const core_peer *p) {
  const struct core_xs *xs = p->xs;
  if (!xs || xs->releasing) return 0;
  return xs->held_off < xs->held_len || (xs->hold_until && xs->state != XS_CONFIRMED);
}

int xsession_takes(const core_peer *p) { return xsession_active(p) || xsession_holding(p); }

int xsession_refuses_plain(const core_peer *p, uint64_t now) {
  return p->xs && p->xs->heard && now - p->xs->heard_at >= XS_PLAIN_GRACE_MS;
}

/* PROTOCOL.md 4.4: wire ids bytewise, then public keys. The lower side initiates
 * (TRANSPORT.md 2). */
static int we_are_lower(const sw_core *c, const core_peer *p) {
  int d = memcmp(c->me.id, p->wire_id, 8);
  if (!d) d = memcmp(c->me.pub, p->pub, 32);
  return d < 0;
}

/* A session index no other peer of ours uses, in a handshake or in traffic. */
static uint32_t new_index(sw_core *c) {
  for (;;) {
    uint32_t idx;
    int used = 0;
    engine_rand(c, &idx, sizeof idx);
    for (size_t k = 0; k < c->peers_hi && !used; k++) {
      const struct core_xs *xs = c->peers[k].used ? c->peers[k].xs : NULL;
      used = xs && ((xs->keyed && xs->local_index == idx) ||
                    (xs->pending && xs->hs.local_index == idx));
    }
    if (!used) return idx;
  }
}

static uint8_t our_suites(void) {
  return CRYPTO_SUITE_CHACHA | (crypto_cpu_has_aes() ? CRYPTO_SUITE_AESGCM : 0);
}

/* Wall-clock milliseconds for HS_INIT timestamps (they must grow across restarts). */
static uint64_t wall_ms(const sw_core *c, uint64_t now) {
  return now + (uint64_t)c->cfg.unix_offset_ms;
}

static void drop_traffic(struct core_xs *xs) {
  if (xs->keyed) {
    xpkt_tx_free(&xs->tx);
    xpkt_rx_free(&xs->rx);
  }
  if (xs->x && xs->x->peeked) {
    xs->x->doomed = 1; /* a message in its buffer is being delivered: drain frees it */
  } else if (xs->x) {
    xport_free(xs->x);
    free(xs->x);
  }
  xs->x = NULL;
  memset(&xs->tx, 0, sizeof xs->tx);
  memset(&xs->rx, 0, sizeof xs->rx);
  xs->keyed = 0;
  xs->heard = 0;
  xs->state = XS_PLAIN;
}

void xsession_on_close(core_peer *p) {
  if (p->xs && p->xs->state != XS_CONFIRMED) p->xs->hold_until = 0;
}

void xsession_clear(core_peer *p) {
  struct core_xs *xs = p->xs;
  if (!xs) return;
  drop_traffic(xs);
  free(xs->held);
  hs_wipe(&xs->hs);
  memset(xs, 0, sizeof *xs);
  free(xs);
  p->xs = NULL;
}

/* Take a finished handshake's keys: the session they make replaces any before it. */
static int install(sw_core *c, core_peer *p, hs_keys *k, int state, uint64_t now) {
  struct core_xs *xs = p->xs;
  drop_traffic(xs);
  xport_limits lim;
  xport_limits_default(&lim);
  if (c->cfg.xsession_buf_max)
    lim.buf_max = c->cfg.xsession_buf_max < XPORT_BUF_MAX ? c->cfg.xsession_buf_max : XPORT_BUF_MAX;
  c->xs_grown.limit =
      c->cfg.xsession_buf_budget ? c->cfg.xsession_buf_budget : XPORT_GROW_BUDGET_DEFAULT;
  lim.budget = &c->xs_grown;
  xs->x = malloc(sizeof *xs->x);
  int rc = xs->x ? SW_OK : SW_ENOMEM;
  const cc_ops *cc = c->cfg.xsession_cc ? c->cfg.xsession_cc : &cc_bbr_ops;
  if (rc == SW_OK && (rc = xport_init(xs->x, &lim, cc, now)) != SW_OK) {
    free(xs->x);
    xs->x = NULL;
  }
  if (rc == SW_OK) rc = xpkt_tx_init(&xs->tx, k->suite, k->send_secret, k->remote_index, now);
  if (rc == SW_OK && (rc = xpkt_rx_init(&xs->rx, k->suite, k->recv_secret, k->local_index))) {
    xpkt_tx_free(&xs->tx);
  }
  if (rc != SW_OK) {
    if (xs->x) {
      xport_free(xs->x);
      free(xs->x);
      xs->x = NULL;
    }
    hs_keys_wipe(k);
    return rc;
  }
  xs->keyed = 1;
  xs->keyed_at = now;
  xs->local_index = k->local_index;
  xs->state = state;
  hs_keys_wipe(k);
  origin_send_binding(c, p, now); /* first on the stream: our signing key (origin.h) */
  return SW_OK;
}

static void send_init(sw_core *c, core_peer *p, uint64_t now) {
  struct core_xs *xs = p->xs;
  if (hs_initiator_write_init(&xs->hs, &c->me, wall_ms(c, now), xs->init) != SW_OK) return;
  send_raw(c, paths_best(p), xs->init, HS_INIT_LEN);
}

static void begin_init(sw_core *c, core_peer *p, uint64_t now) {
  struct core_xs *xs = p->xs;
  uint8_t eph[32];
  hs_wipe(&xs->hs);
  engine_rand(c, eph, sizeof eph);
  int rc = hs_initiator_begin(&xs->hs, p->pub, eph, new_index(c), our_suites());
  memset(eph, 0, sizeof eph);
  if (rc != SW_OK) return;
  xs->pending = 1;
  xs->tries = 1;
  xs->retry_at = now + XS_INIT_RETRY_MS;
  send_init(c, p, now);
}

void xsession_restarted(sw_core *c, core_peer *p, uint64_t now) {
  struct core_xs *xs = p->xs;
  if (!xs) return;
  /* The restarted initiator's new HS_INIT may have come before its proof: those keys
   * are the new process's already. */
  if (!we_are_lower(c, p) && xs->keyed && now - xs->keyed_at < CHALLENGE_MS) return;
  /* Its extended session died with its old process: messages go plain until a new one
   * is made, and the responder takes the new HS_INIT (its timestamp is higher). */
  drop_traffic(xs);
  xs->pending = 0;
  xs->retry_at = UINT64_MAX;
  hs_wipe(&xs->hs);
  xsession_on_peer(c, p, now);
}

/* Our capability bits, sealed (TRANSPORT.md 2): a man in the middle can strip a bit
 * from the HELLO trailer, not from this. */
static void send_caps(sw_core *c, core_peer *p, uint64_t now) {
  struct core_xs *xs = p->xs;
  uint8_t inner[2] = {SEALED_CAPS, (uint8_t)OWN_CAPS(c)};
  send_sealed_to(c, p, paths_best(p), inner, sizeof inner);
  xs->caps_sent++;
  xs->caps_at = xs->caps_heard || xs->caps_sent >= XS_CAPS_TRIES
                    ? UINT64_MAX
                    : now + ((uint64_t)XS_CAPS_RETRY_MS << (xs->caps_sent - 1));
}

void xsession_on_peer(sw_core *c, core_peer *p, uint64_t now) {
  /* A trailer says a libsetowire peer (a reference peer sends none): it gets our CAPS. */
  if (!xsession_enabled(c) || p->legacy || c->closing) return;
  if (!p->xs) {
    p->xs = calloc(1, sizeof *p->xs);
    if (!p->xs) return; /* the plain session goes on */
    p->xs->retry_at = UINT64_MAX;
    p->xs->caps_at = UINT64_MAX;
  }
  if (!p->xs->caps_sent) send_caps(c, p, now);
  if (!(p->caps & WIRE_CAP_XSESSION)) return;
  /* Until the session is confirmed, messages to p wait (TRANSPORT.md 8). */
  if (!p->xs->keyed) p->xs->hold_until = now + XS_HOLD_MS;
  if (p->xs->pending || p->xs->keyed) return;
  if (we_are_lower(c, p)) begin_init(c, p, now);
  else p->xs->self_init_at = now + XS_HIGHER_INIT_MS; /* unless its HS_INIT comes first */
}

/* The extended session is off with p after all: no handshake, what is held goes plain. */
static void stop(core_peer *p) {
  struct core_xs *xs = p->xs;
  xs->pending = 0;
  xs->retry_at = UINT64_MAX;
  hs_wipe(&xs->hs);
  xs->hold_until = 0;
  if (xs->state != XS_CONFIRMED) drop_traffic(xs);
}

void xsession_on_caps(sw_core *c, core_peer *p, uint8_t caps, uint64_t now) {
  if (!xsession_enabled(c) || c->closing) return;
  uint8_t was = p->legacy ? 0 : p->caps;
  int repeat = p->xs && p->xs->caps_heard;
  /* Authenticated: the peer is libsetowire, with these bits, whatever its HELLO said (a
   * trailer stripped whole made it look like a reference peer). */
  p->legacy = 0;
  p->caps = caps;
  if (p->xs && (was & WIRE_CAP_XSESSION) && !(caps & WIRE_CAP_XSESSION)) stop(p);
  else if (!p->xs || ((was ^ caps) & WIRE_CAP_XSESSION)) xsession_on_peer(c, p, now);
  if (!p->xs) return;
  p->xs->caps_heard = 1;
  p->xs->caps_at = UINT64_MAX;
  /* It sends its CAPS again only while ours has not arrived: answer it, a bounded number
   * of times (two copies of its CAPS, held together until its address proved itself,
   * would otherwise make two peers that both heard answer each other for ever). */
  if (repeat && p->xs->caps_sent < XS_CAPS_TRIES) send_caps(c, p, now);
}

/* ---- messages held while the handshake runs ------------------------------------ */

static void put_u32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8);
  b[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static int hold_fits(const struct core_xs *xs, size_t len) {
  return xs->held_len - xs->held_off + 4 + len <= XS_HOLD_BYTES;
}

int xsession_hold(sw_core *c, core_peer *p, const uint8_t *msg, size_t len) {
  struct core_xs *xs = p->xs;
  (void)c;
  if (!hold_fits(xs, len)) {
    xs->hold_want = 1;
    return SW_EAGAIN;
  }
  if (xs->held_off) { /* released ones in front: make the room reusable */
    memmove(xs->held, xs->held + xs->held_off, xs->held_len - xs->held_off);
    xs->held_len -= xs->held_off;
    xs->held_off = 0;
  }
  size_t need = xs->held_len + 4 + len;
  if (need > xs->held_cap) {
    size_t cap = xs->held_cap ? xs->held_cap : 4096;
    while (cap < need) cap *= 2;
    if (cap > XS_HOLD_BYTES) cap = XS_HOLD_BYTES;
    uint8_t *b = realloc(xs->held, cap);
    if (!b) return SW_ENOMEM;
    xs->held = b;
    xs->held_cap = cap;
  }
  put_u32(xs->held + xs->held_len, (uint32_t)len);
  if (len) memcpy(xs->held + xs->held_len + 4, msg, len);
  xs->held_len += 4 + len;
  return SW_OK;
}

/* Release held messages, in order, to where they now go: into the extended session once
 * it is confirmed, plain once the hold ended without it; nothing while the handshake
 * still runs. What finds no room stays held, and the next flush or timer goes on. */
static void hold_drain(sw_core *c, core_peer *p, uint64_t now) {
  struct core_xs *xs = p->xs;
  int confirmed = xs->state == XS_CONFIRMED && xs->x;
  if (xs->held_off >= xs->held_len || (!confirmed && xs->hold_until)) return;
  while (xs->held_off < xs->held_len) {
    const uint8_t *h = xs->held + xs->held_off;
    size_t len = get_u32(h);
    int rc;
    if (confirmed) {
      rc = xport_send(xs->x, h + 4, len, XPORT_RELIABLE, now);
      if (rc == SW_EAGAIN) break;
    } else {
      if (!send_room(c, len + WIRE_DATA_OVERHEAD) || cc_room(&p->cc) < len + WIRE_DATA_OVERHEAD)
        break;
      xs->releasing = 1; /* send_message takes its plain path */
      rc = send_message(c, p, h + 4, len);
      xs->releasing = 0;
    }
    if (rc != SW_OK) c->stats.flood_dropped++;
    xs->held_off += 4 + len;
  }
  if (xs->held_off >= xs->held_len) {
    free(xs->held);
    xs->held = NULL;
    xs->held_off = xs->held_len = xs->held_cap = 0;
  }
  if (xs->hold_want && xs->held_len - xs->held_off <= XS_HOLD_BYTES / 2) {
    xs->hold_want = 0;
    sw_event ev = {.type = SW_EV_WRITABLE};
    engine_emit(c, &ev); /* last: the handler may write, or remove the peer */
  }
}

/* ---- handshake messages (TRANSPORT.md 4) ------------------------------------- */

static core_peer *pending_by_index(sw_core *c, uint32_t idx) {
  for (size_t k = 0; k < c->peers_hi; k++) {
    core_peer *p = &c->peers[k];
    if (p->used && p->xs && p->xs->pending && p->xs->hs.local_index == idx) return p;
  }
  return NULL;
}

/* The responder's load (TRANSPORT.md 4.3; XS_LOAD_*). */
static int under_load(sw_core *c, uint64_t now) {
  if (now - c->xs_load_at >= 1000) {
    c->xs_load_at = now;
    c->xs_load_n = 0;
  }
  if (c->xs_load_n >= XS_LOAD_PER_S) return 1;
  unsigned unconfirmed = 0;
  for (size_t k = 0; k < c->peers_hi; k++) {
    const struct core_xs *xs = c->peers[k].used ? c->peers[k].xs : NULL;
    unconfirmed += xs && xs->keyed && xs->state == XS_RESP_SENT;
  }
  return unconfirmed >= XS_LOAD_UNCONFIRMED;
}

/* The source a cookie is bound to: the address, and the relay and far end of a relayed
 * path (only we read it). */
static size_t path_bytes(const core_path *p, uint8_t out[64]) {
  out[0] = p->addr.family;
  memcpy(out + 1, p->addr.ip, 16);
  out[17] = (uint8_t)(p->addr.port >> 8);
  out[18] = (uint8_t)p->addr.port;
  out[19] = p->relayed;
  memcpy(out + 20, p->relayed ? p->via : (const uint8_t[8]){0}, 8);
  memcpy(out + 28, p->relayed ? p->far : (const uint8_t[8]){0}, 8);
  return 36;
}

static void on_init(sw_core *c, const core_path *from, const uint8_t *buf, size_t len,
                    uint64_t now) {
  uint8_t retry[HS_RETRY_LEN], src[64];
  size_t srclen = path_bytes(from, src);
  /* An address a peer has proven needs no cookie; under load any other one does. */
  int load = !core_verified_peer(c, from, NULL) && under_load(c, now);
  int sc = hs_responder_screen(&c->me, &c->xs_cookie, load, buf, len, src, srclen,
                               wall_ms(c, now), retry);
  if (sc == HS_SEND_RETRY) { /* no state: 37 bytes, less than the HS_INIT's 145 */
    send_raw(c, from, retry, HS_RETRY_LEN);
    return;
  }
  if (sc != 0) return;
  /* The peer is the one whose static key the INIT carries, not the one at `from`: a
   * restarted peer's INIT comes from a path we adopt only later (D35). */
  hs_state s;
  hs_keys k;
  uint8_t eph[32], resp[HS_RESP_LEN], digest[32];
  memset(&s, 0, sizeof s);
  if (hs_responder_read_init(&s, &c->me, buf, len, NULL) != SW_OK) {
    hs_wipe(&s);
    return;
  }
  crypto_sha256(s.rs, 32, digest);
  core_peer *p = peers_find(c, digest);
  /* Only from a libsetowire peer we hold a session with, under the key it has. From the
   * higher side only when we (lower) have no extended session and run no handshake of
   * our own: when two HS_INITs cross, the lower side's wins (TRANSPORT.md 2). */
  if (!p || !p->xs || memcmp(p->pub, s.rs, 32) != 0 ||
      (we_are_lower(c, p) && (p->xs->pending || p->xs->keyed))) {
    hs_wipe(&s);
    return;
  }
  struct core_xs *xs = p->xs;
  if (xs->has_resp && len == HS_INIT_LEN && memcmp(buf, xs->last_init, HS_INIT_LEN) == 0) {
    hs_wipe(&s);
    send_raw(c, from, xs->last_resp, HS_RESP_LEN); /* a retransmission: the same answer */
    return;
  }
  if (!hs_replay_fresh(&xs->last_ts, s.timestamp)) {
    hs_wipe(&s);
    return;
  }
  if (xs->pending) { /* ours crossed the lower side's: it wins, ours is dropped */
    xs->pending = 0;
    xs->retry_at = UINT64_MAX;
    hs_wipe(&xs->hs);
  }
  xs->self_init_at = 0;
  /* An authenticated HS_INIT says the peer speaks the extended session, whatever its
   * HELLO said (a stripped bit whose CAPS was lost too). */
  p->caps |= WIRE_CAP_XSESSION;
  engine_rand(c, eph, sizeof eph);
  int rc = hs_responder_write_resp(&s, &c->me, eph, new_index(c), our_suites(), resp, &k);
  memset(eph, 0, sizeof eph);
  hs_wipe(&s);
  if (rc != SW_OK || install(c, p, &k, XS_RESP_SENT, now) != SW_OK) return;
  c->xs_load_n++;
  memcpy(xs->last_init, buf, HS_INIT_LEN);
  memcpy(xs->last_resp, resp, HS_RESP_LEN);
  xs->has_resp = 1;
  send_raw(c, from, resp, HS_RESP_LEN);
}

static void on_resp(sw_core *c, const uint8_t *buf, size_t len, uint32_t idx, uint64_t now) {
  core_peer *p = pending_by_index(c, idx);
  if (!p) return;
  struct core_xs *xs = p->xs;
  hs_keys k;
  if (hs_initiator_read_resp(&xs->hs, &c->me, buf, len, &k) != SW_OK) return;
  xs->pending = 0;
  xs->retry_at = UINT64_MAX;
  hs_wipe(&xs->hs);
  if (install(c, p, &k, XS_CONFIRMED, now) != SW_OK) return;
  /* TRANSPORT.md 8: our first packet confirms the keys to the responder; a PING makes one at once. */
  xs->x->ping_pending = 1;
  xs->hold_until = 0;
  hold_drain(c, p, now); /* what was written meanwhile goes first, in order */
}

static void on_retry(sw_core *c, const uint8_t *buf, size_t len, uint32_t idx, uint64_t now) {
  core_peer *p = pending_by_index(c, idx);
  if (!p || hs_initiator_on_retry(&p->xs->hs, buf, len) != SW_OK) return;
  send_init(c, p, now);
}

void xsession_on_handshake(void *core, const core_path *from, const uint8_t *buf, size_t len,
                           uint64_t now) {
  sw_core *c = core;
  hs_header h;
  if (!xsession_enabled(c) || c->closing || hs_header_decode(buf, len, &h) != SW_OK) return;
  if (h.type == HS_TYPE_INIT) on_init(c, from, buf, len, now);
  else if (h.type == HS_TYPE_RESP) on_resp(c, buf, len, h.receiver_index, now);
  else if (h.type == HS_TYPE_RETRY) on_retry(c, buf, len, h.receiver_index, now);
}

/* ---- packets (TRANSPORT.md 5, 7) --------------------------------------------- */

static core_peer *keyed_by_index(sw_core *c, uint32_t idx) {
  for (size_t k = 0; k < c->peers_hi; k++) {
    core_peer *p = &c->peers[k];
    if (p->used && p->xs && p->xs->keyed && p->xs->local_index == idx) return p;
  }
  return NULL;
}

/* One complete message from p's stream to where it goes. */
static void deliver_one(sw_core *c, core_peer *p, uint8_t *buf, size_t n, unsigned flags,
                        uint64_t now) {
  if (flags & XPORT_ENGINE) { /* a module's own message (TRANSPORT.md 7.1): no flood */
    if (n >= 1 && buf[0] == ORIGIN_CHANNEL) { /* the engine's own: a signing binding */
      origin_on_message(c, p, buf + 1, n - 1, now);
      return;
    }
    uint8_t wire[8];
    memcpy(wire, p->wire_id, 8);
    FOR_MODULES(c, m) if (n >= 1 && m->on_stream && m->stream_channel == buf[0]) {
      m->on_stream(m->state, wire, buf + 1, n - 1, now);
      break;
    }
    return;
  }
  if (p->score < SCORE_MAX) p->score++;
  if (flags & XPORT_DIRECT) delivery_direct(c, p, buf, n); /* a unicast: no flood */
  else if (flags & XPORT_ORIGIN) delivery_origin(c, p, buf, n, now); /* kind 4 */
  else if (flags & XPORT_SIGNED) delivery_signed(c, p, buf, n, now); /* kind 5 */
  else delivery_deliver(c, p, buf, n, now);
}

/* Small messages are read DRAIN_BATCH at a time, and the duplicate set's lines for all
 * of them are asked for before the first is looked up: the lookups' cache misses overlap
 * instead of stalling one after the other. */
#define DRAIN_BATCH 32
#define DRAIN_BYTES 8192

/* Hand every complete message to delivery, as plain DATA's would be. */
static void drain(sw_core *c, core_peer *p, uint64_t now) {
  uint8_t *big = NULL;
  uint8_t batch[DRAIN_BYTES];
  size_t at[DRAIN_BATCH], len[DRAIN_BATCH];
  unsigned fl[DRAIN_BATCH];
  for (;;) {
    if (!p->used || !p->xs || !p->xs->x) break; /* an event handler may remove the peer */
    xport *x = p->xs->x;
    size_t nb = 0, used = 0;
    int n = 0;
    while (nb < DRAIN_BATCH) {
      n = xport_recv_ex(x, batch + used, sizeof batch - used, &fl[nb]);
      if (n < 0) break;
      at[nb] = used;
      len[nb++] = (size_t)n;
      used += (size_t)n;
    }
    if (!nb) {
      if (n != SW_EMSGSIZE) break;
      /* Larger than the batch's room: delivered from where it lies in the receive
       * buffer when it does not wrap, and read past only once delivery returns. If an
       * event handler removed the peer meanwhile, the engine was kept for this and goes
       * now (drop_traffic). */
      const uint8_t *msg;
      unsigned mflags;
      n = xport_recv_peek(x, &msg, &mflags);
      if (n >= 0) {
        deliver_one(c, p, (uint8_t *)msg, (size_t)n, mflags, now);
        if (x->doomed) {
          xport_free(x);
          free(x);
        } else {
          xport_recv_done(x);
        }
        continue;
      }
      if (n != SW_ENOTSUP) break;
      /* A message around the buffer's end: copied, into a buffer of this call's own
       * (not the engine's scratch, where a datagram fed in from the handler would be
       * opened over it). */
      if (!big && !(big = malloc(XPORT_MAX_MSG))) break;
      unsigned flags;
      n = xport_recv_ex(x, big, XPORT_MAX_MSG, &flags);
      if (n < 0) break;
      deliver_one(c, p, big, (size_t)n, flags, now);
      continue;
    }
    for (size_t i = 0; i < nb; i++)
      if ((fl[i] & XPORT_ORIGIN) && len[i] >= XPORT_ORIGIN_HDR)
        delivery_prefetch_origin(c, batch + at[i]);
    for (size_t i = 0; i < nb; i++) {
      if (!p->used || !p->xs || !p->xs->x) break; /* removed: the rest goes with it */
      deliver_one(c, p, batch + at[i], len[i], fl[i], now);
    }
  }
  free(big);
}

void xsession_on_packet(void *core, const core_path *from, const uint8_t *buf, size_t len,
                        uint64_t now) {
  sw_core *c = core;
  xpkt_header h;
  if (!xsession_enabled(c) || xpkt_header_decode(buf, len, &h) != SW_OK) return;
  core_peer *p = keyed_by_index(c, h.receiver_index);
  if (!p) return;
  struct core_xs *xs = p->xs;
  /* A packet fed in from inside an event handler while a message of this session is
   * delivered from its receive buffer (drain): on arrival the buffer may grow, which
   * moves it. Dropped unopened, as the network might; the peer sends its contents
   * again (docs/TRANSPORT-delivery.md "Receiving without a copy"). */
  if (xs->x && xs->x->peeked) {
    c->stats.rx_dropped++;
    return;
  }
  uint64_t pn;
  int n = xpkt_open(&xs->rx, now, buf, len, c->scratch, sizeof c->scratch, &pn);
  if (n < 0) {
    if (n == SW_ECRYPTO) c->stats.rx_auth_fail++;
    return;
  }
  if (xport_on_packet(xs->x, pn, c->scratch, (size_t)n, now) != SW_OK) return;
  /* The first packet that authenticates confirms the keys (TRANSPORT.md 8), and says the
   * peer now sends its messages here: its plain DATA is refused from now on (TRANSPORT.md
   * 2), after a grace period for plain DATA it sent before and the network reordered. */
  xs->state = XS_CONFIRMED;
  xs->hold_until = 0;
  hold_drain(c, p, now); /* what was written meanwhile goes first, in order */
  if (!p->used || p->xs != xs) return; /* the WRITABLE handler removed the peer */
  if (!xs->heard) xs->heard_at = now;
  xs->heard = 1;
  /* An authenticated packet proves its path, as a plain frame does (D8, D35): a peer
   * whose NAT rebinds is followed to its new address. */
  int pi = paths_proven(c, p, from, paths_index(p, from));
  paths_touch(p, pi, now, -1);
  drain(c, p, now);
  if (p->used && p->xs && p->xs->x && xport_writable(p->xs->x)) {
    sw_event ev = {.type = SW_EV_WRITABLE};
    engine_emit(c, &ev);
  }
}

/* ---- sending -------------------------------------------------------------------- */

int xsession_room(core_peer *p, size_t len) {
  if (xsession_holding(p)) {
    if (hold_fits(p->xs, len)) return 1;
    p->xs->hold_want = 1;
    return 0;
  }
  xport *x = p->xs->x;
  size_t need = len + xport_varint_len(len);
  if (x->lim.send_buf - (size_t)(x->snd_end - x->snd_base) >= need) return 1;
  if (x->want_room < need) x->want_room = need; /* xport_writable says when it fits */
  return 0;
}

int xsession_send(sw_core *c, core_peer *p, const uint8_t *msg, size_t len) {
  if (len > XPORT_MAX_MSG) return SW_EMSGSIZE;
  return xport_send(p->xs->x, msg, len, XPORT_RELIABLE, c->last_now);
}

int xsession_send_channel(sw_core *c, core_peer *p, uint8_t channel, const uint8_t *msg,
                          size_t len) {
  if (len + 1 > XPORT_MAX_MSG) return SW_EMSGSIZE;
  uint8_t small[2048], *buf = len + 1 <= sizeof small ? small : malloc(len + 1);
  if (!buf) return SW_ENOMEM;
  buf[0] = channel;
  if (len) memcpy(buf + 1, msg, len);
  int rc = xport_send(p->xs->x, buf, len + 1, XPORT_RELIABLE | XPORT_ENGINE, c->last_now);
  if (buf != small) free(buf);
  return rc;
}

/* The name xport_pmtu_path gets for a path, and the largest packet it may try there:
 * above the base size only on a direct path to a loopback address, the one place where
 * the sender knows no datagram is cut into IP fragments (the socket does not set DF, so
 * elsewhere an acknowledged probe would prove only that fragments got through). */
static uint64_t path_key(const core_path *to) {
  uint64_t h = 0xcbf29ce484222325ull;
  const uint8_t *b = (const uint8_t *)&to->addr;
  for (size_t i = 0; i < sizeof to->addr; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return (h ^ to->relayed ^ (uint64_t)to->sock << 8) | 1;
}

static size_t path_max(const sw_core *c, const core_path *to) {
  static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const sw_addr *a = &to->addr;
  int lo = (a->family == 4 && a->ip[0] == 127) || (a->family == 6 && !memcmp(a->ip, v6lo, 16));
  /* and only with an output ring that holds such packets with room to spare */
  return !to->relayed && lo && send_fits_ever(c, XS_PMTU_LOOPBACK + XPKT_OVERHEAD)
             ? XS_PMTU_LOOPBACK
             : 0;
}

void xsession_flush(sw_core *c, core_peer *p, uint64_t now) {
  if (p->xs) hold_drain(c, p, now);
  struct core_xs *xs = p->used ? p->xs : NULL;
  if (!xs || !xs->keyed || xs->state != XS_CONFIRMED) return;
  const core_path *to = paths_best(p);
  xport_pmtu_path(xs->x, path_key(to), path_max(c, to), now);
  uint8_t local[XPORT_MTU_DEFAULT + XPKT_OVERHEAD];
  uint64_t pn;
  /* Nothing is built that the output ring cannot take: what xport does not send now it
   * sends later, so a full ring costs only time. The packet is built and sealed in
   * place in the ring where it can (no copy), else in `local` at the base size. */
  for (;;) {
    const xport *x = xs->x; /* room for a size probe too, while one may be due */
    size_t max = (x->pmtu_max > x->lim.mtu ? x->pmtu_max : x->lim.mtu) + XPKT_OVERHEAD;
    if (!send_room(c, max)) break;
    uint8_t *dst = paths_reserve(c, to, max);
    uint8_t *pkt = dst ? dst : local;
    size_t cap = dst ? max : sizeof local;
    xseg segs[XSEG_MAX];
    size_t nsegs;
    /* the stream bytes are sealed from the send ring, not copied into the plaintext */
    size_t n = xport_build_v(xs->x, now, pkt + XPKT_HDR_LEN, cap - XPKT_OVERHEAD, &pn, segs,
                             &nsegs);
    if (!n) break;
    xs->tx.next_pn = pn; /* the packet number is the delivery engine's */
    int m = xpkt_seal_v(&xs->tx, now, pkt + XPKT_HDR_LEN, n, segs, nsegs, pkt, cap);
    if (m < 0) break; /* exhausted: a new handshake is needed (not yet wired) */
    if (dst) {
      /* the record goes where a packet of this length goes (the same place unless the
       * ring wraps between the two lengths) */
      uint8_t *at = paths_reserve(c, to, (size_t)m); /* not NULL: a longer one fitted */
      if (!at) break;
      if (at != dst) memmove(at, dst, (size_t)m);
      paths_commit(c, to, (size_t)m, 0);
    } else if (paths_send(c, to, pkt, (size_t)m)) {
      c->stats.flood_dropped++;
    }
  }
}

/* ---- timers ---------------------------------------------------------------------- */

uint64_t xsession_deadline(const core_peer *p, uint64_t now) {
  const struct core_xs *xs = p->xs;
  if (!xs) return UINT64_MAX;
  uint64_t t = xs->pending ? xs->retry_at : UINT64_MAX;
  if (xs->hold_until && xs->state != XS_CONFIRMED && xs->hold_until < t) t = xs->hold_until;
  if (xs->caps_at < t) t = xs->caps_at;
  if (xs->self_init_at && xs->self_init_at < t) t = xs->self_init_at;
  if (xs->keyed && xs->state == XS_CONFIRMED) {
    uint64_t d = xport_deadline(xs->x, now);
    if (d < t) t = d;
  }
  return t;
}

void xsession_timeout(sw_core *c, core_peer *p, uint64_t now) {
  struct core_xs *xs = p->xs;
  if (!xs) return;
  if (xs->pending && now >= xs->retry_at) {
    if (xs->tries >= XS_INIT_TRIES) { /* TRANSPORT.md 4.5: give up */
      xs->pending = 0;
      xs->retry_at = UINT64_MAX;
      xs->hold_until = 0;
      hs_wipe(&xs->hs);
    } else {
      send_raw(c, paths_best(p), xs->init, HS_INIT_LEN); /* byte for byte (TRANSPORT.md 4.5) */
      xs->retry_at = now + ((uint64_t)XS_INIT_RETRY_MS << xs->tries);
      xs->tries++;
    }
  }
  if (now >= xs->caps_at) send_caps(c, p, now);
  if (xs->self_init_at && now >= xs->self_init_at) {
    xs->self_init_at = 0;
    if (!xs->pending && !xs->keyed && (p->caps & WIRE_CAP_XSESSION)) begin_init(c, p, now);
  }
  if (xs->hold_until && xs->state != XS_CONFIRMED && now >= xs->hold_until)
    xs->hold_until = 0; /* not confirmed in time: what is held goes plain */
  if (xs->keyed && xs->state == XS_CONFIRMED && now >= xport_deadline(xs->x, now))
    xport_timeout(xs->x, now);
  xsession_flush(c, p, now);
}

size_t xsession_memory(const core_peer *p) {
  const struct core_xs *xs = p->xs;
  if (!xs) return 0;
  size_t n = sizeof *xs + xs->held_cap;
  if (xs->x) {
    const xport_limits *l = &xs->x->lim;
    n += sizeof *xs->x + l->send_buf + l->recv_buf + 2 * ((l->send_buf + 63) / 64 * 8) +
         (l->recv_buf + 63) / 64 * 8;
  }
  return n;
}
