/* Sessions: see session.h. Section numbers refer to docs/PROTOCOL.md. */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "delivery.h"
#include "dial.h"
#include "guard.h"
#include "liveness.h"
#include "paths.h"
#include "peers.h"
#include "send.h"
#include "xsession.h"

/* ---- restart challenge (PROTOCOL.md 21.3) ---------------------------------------- */

void session_challenge_clear(sw_core *c, core_peer *p) {
  restart_challenge *ch = &p->chal;
  for (unsigned i = 0; i < ch->nheld; i++) free(ch->held[i]);
  c->stats.held_dropped += ch->nheld;
  memset(ch, 0, sizeof *ch);
}

/* A challenge on this path is out and still waits for its answer. */
static int challenge_live(const core_peer *p, const core_path *to, uint64_t now) {
  return p->chal.armed && now < p->chal.deadline && core_path_equal(&p->chal.to, to);
}

/* A fresh challenge on `to`, replacing any other (one per peer). */
static void challenge_arm(sw_core *c, core_peer *p, const core_path *to, uint64_t now) {
  session_challenge_clear(c, p);
  p->chal.armed = 1;
  engine_rand(c, p->chal.nonce, WIRE_CHALLENGE_LEN);
  p->chal.to = *to;
  p->chal.deadline = now + CHALLENGE_MS;
}

/* The pending challenge as a sealed frame at out (SEALED_FRAME_MAX bytes); 0 on failure. */
static size_t build_challenge(core_peer *p, uint8_t *out, uint64_t now) {
  uint8_t inner[1 + WIRE_CHALLENGE_LEN];
  inner[0] = SEALED_CHALLENGE;
  memcpy(inner + 1, p->chal.nonce, WIRE_CHALLENGE_LEN);
  p->chal.sent_at = now;
  return send_build_sealed(p, out, inner, sizeof inner);
}

/* Keep an authenticated frame from the challenged path until the answer. Bounded:
 * beyond HELD_FRAMES or HELD_BYTES the frame is dropped and counted. */
static void challenge_hold(sw_core *c, core_peer *p, const uint8_t *buf, size_t len) {
  restart_challenge *ch = &p->chal;
  for (unsigned i = 0; i < ch->nheld; i++) /* a network duplicate takes no room */
    if (ch->held[i]->len == len && memcmp(ch->held[i]->data + 1, buf + 1, 12) == 0) return;
  held_frame *f = NULL;
  if (ch->nheld < HELD_FRAMES && ch->held_bytes + len <= HELD_BYTES) f = malloc(sizeof *f + len);
  if (!f) {
    c->stats.held_dropped++;
    return;
  }
  f->len = len;
  memcpy(f->data, buf, len);
  ch->held[ch->nheld++] = f;
  ch->held_bytes += len;
}

/* An authenticated frame that looks like a restart of a libsetowire peer may be a
 * recorded old frame (keys are static, D3), so it changes nothing yet. */
void session_suspect(sw_core *c, core_peer *p, const core_path *from, const uint8_t *buf,
                     size_t len, uint64_t now) {
  int again = challenge_live(p, from, now);
  if (!again) challenge_arm(c, p, from, now);
  p->chal.by_frame = 1;
  if (!again || now - p->chal.sent_at >= CHALLENGE_RESEND_MS) {
    uint8_t f[SEALED_FRAME_MAX];
    size_t n = build_challenge(p, f, now);
    if (n) send_raw(c, from, f, n);
  }
  challenge_hold(c, p, buf, len);
}

/* A known libsetowire peer dials us: it may be a restarted process. The HELLO_ACK and a
 * challenge go in one BATCH, in that order, so the challenge reaches the new session
 * right after the HELLO_ACK has created it and is answered at once. */
static void ack_and_challenge(sw_core *c, core_peer *p, const core_path *from, uint64_t now) {
  restart_challenge *ch = &p->chal;
  uint8_t b[2 + 2 + WIRE_HELLO_LEN + WIRE_TRAILER_LEN + 2 + SEALED_FRAME_MAX];
  size_t n = wire_hello_encode(b + 4, WIRE_HELLO_ACK, c->me.id, c->me.pub, OWN_CAPS(c)), m = 0;
  int same = challenge_live(p, from, now);
  int other = !same && ch->armed && now < ch->deadline;
  /* A HELLO proves nothing (D8): it never displaces a challenge that an authenticated
   * frame asked for, and repeats one only at the resend pace. */
  if (!(other && ch->by_frame) && !(same && now - ch->sent_at < CHALLENGE_RESEND_MS)) {
    if (!same) challenge_arm(c, p, from, now);
    m = build_challenge(p, b + 4 + n + 2, now);
  }
  if (!m) {
    send_raw(c, from, b + 4, n);
    return;
  }
  b[0] = WIRE_BATCH;
  b[1] = 2;
  wire_put16(b + 2, (uint16_t)n);
  wire_put16(b + 4 + n, (uint16_t)m);
  send_raw(c, from, b, 4 + n + 2 + m);
}

void session_expire(sw_core *c, core_peer *p, uint64_t now) {
  if (p->chal.armed && now >= p->chal.deadline) session_challenge_clear(c, p);
}

uint64_t session_deadline(const core_peer *p) {
  return p->chal.armed ? p->chal.deadline : UINT64_MAX;
}

/* ---- handshake (PROTOCOL.md 4) ----------------------------------------------- */

static core_peer *peer_create(sw_core *c, const wire_hello *h, const core_path *from,
                              const crypto_session_keys *keys, uint64_t now) {
  core_peer *p = peers_take_slot(c);
  if (!p) return NULL;
  p->tx = crypto_aead_new(keys->send_key, 1);
  p->rx = crypto_aead_new(keys->recv_key, 0);
  if (!p->tx || !p->rx) {
    crypto_aead_free(p->tx);
    crypto_aead_free(p->rx);
    p->tx = p->rx = NULL;
    return NULL;
  }
  p->used = 1;
  memcpy(p->wire_id, h->wire_id, 8);
  memcpy(p->pub, h->pub, 32);
  {
    uint8_t d[32];
    crypto_sha256(p->pub, 32, d);
    memcpy(p->full_id, d, sizeof p->full_id);
  }
  p->legacy = !h->extended;
  p->caps = h->caps;
  p->session_id = keys->session_id;
  /* D4: our counter starts at a fresh random point each session, below 2^62 so it
   * can never wrap. The sequence prefix starts at 0: reference receivers expect it. */
  engine_rand(c, &p->send_ctr, sizeof p->send_ctr);
  p->send_ctr &= (1ull << 62) - 1;
  replay_reset(&p->replay);
  jitter_init(&p->jit, 0);
  cc_init(&p->cc, c->cc, now);
  paths_first(p, from);
  p->seen = p->last_pong = p->last_hello = p->created = now;
  p->olen = 2;
  c->npeers++;
  return p;
}

/* A new peer from a HELLO (or HELLO_ACK) that passed the checks: admission, keys, the
 * HELLO_ACK when `ack`, then what a new session starts with. 0 when refused (the
 * events at the end may have changed the table: the peer is not returned). */
static int hello_new_peer(sw_core *c, const core_path *from, const wire_hello *h, int ack,
                                 uint64_t now) {
  /* D20: at the bound, refuse without a HELLO_ACK, so no one-sided session forms;
   * unproven peers give way first, and bounds per IP and prefix hold (admit.h). */
  if (!admit_peer(c, from, now)) return 0;
  crypto_session_keys keys;
  if (crypto_derive_session(&c->me, h->pub, &keys)) return 0; /* D18: low-order key */
  core_peer *p = peer_create(c, h, from, &keys, now);
  memset(&keys, 0, sizeof keys);
  if (!p) return 0;
  if (ack) send_hello(c, WIRE_HELLO_ACK, from);
  liveness_validate(c, p, from, 0, now); /* before anything else is sent there */
  uint8_t topic[32];
  int found_for = dial_topic(c, from, p->wire_id, topic); /* before the dial is forgotten */
  dial_forget(c, from, p->wire_id);
  /* Prove the key at once to a libsetowire peer, which verifies this path; then the
   * mesh (its GRAFT must come after the proof, which creates nothing). */
  if (p->caps & WIRE_CAP_SEALED) send_sealed(c, p, SEALED_PROOF);
  if (delivery_mesh_count(c) < MESH_D) delivery_mesh_add(c, p);
  xsession_on_peer(c, p, now); /* both advertise XSESSION: the lower side initiates */
  char text[SW_ADDRSTRLEN];
  uint8_t id[8];
  memcpy(id, p->wire_id, 8);
  addr_format(&from->addr, text, sizeof text);
  sw_event ev = {.type = SW_EV_CONNECTION, .peer = id, .addr = text,
                 .via = from->relayed ? from->via : NULL, .topic = found_for ? topic : NULL};
  engine_emit(c, &ev);
  sw_addr where = from->addr;
  FOR_MODULES(c, m) if (m->on_connection) m->on_connection(m->state, id, &where, now);
  return 1;
}

void session_on_hello(void *core, const core_path *from, const uint8_t *buf, size_t len,
                      uint64_t now) {
  sw_core *c = core;
  wire_hello h;
  uint8_t digest[32];
  if (wire_hello_decode(buf, len, &h)) return;
  crypto_sha256(h.pub, 32, digest);
  /* D2: the claimed wire id must be the key's. D9: never a session with ourselves. */
  if (memcmp(digest, h.wire_id, 8) != 0) return;
  if (memcmp(h.wire_id, c->me.id, 8) == 0 || memcmp(h.pub, c->me.pub, 32) == 0) return;

  core_peer *p = peers_find(c, h.wire_id);
  if (p) {
    if (memcmp(p->pub, h.pub, 32) != 0) return; /* D2: a known id keeps its key */
    p->last_hello = now;
    int pi = paths_index(p, from);
    if (pi >= 0) paths_touch(p, pi, now, -1);
    /* Answer on any path: a restarted peer dials from a new one (D35); the new path is
     * adopted only once authenticated DATA arrives along it. */
    if (h.type == WIRE_HELLO && !c->closing) {
      if (p->caps & h.caps & WIRE_CAP_SEALED) ack_and_challenge(c, p, from, now);
      else send_hello(c, WIRE_HELLO_ACK, from);
    }
    return;
  }
  if (c->closing) return;
  /* When we dialled this address knowing the full id, the answer must be that id. */
  if (!dial_answer_matches(c, from, digest)) return;
  /* Under load (admit.h), a stranger's HELLO makes no state but a few bytes in its
   * address's guard record: the peer is made when the address answers a PING
   * (guard_pend_pong). The HELLO_ACK is the same bytes for everyone, and what we
   * dial, or what comes through a relay, goes on as before. */
  if (!from->relayed && !from->sock && !dial_active(c, from) &&
      !guard_validated(c, &from->addr) && admit_loaded(c)) {
    c->stats.rx_dropped++;
    if (guard_pend(c, &from->addr, buf, len, now) && h.type == WIRE_HELLO)
      send_hello(c, WIRE_HELLO_ACK, from);
    return;
  }
  hello_new_peer(c, from, &h, h.type == WIRE_HELLO, now);
}

int session_hello_answered(sw_core *c, const sw_addr *from, const uint8_t *buf, size_t len,
                           uint64_t now) {
  wire_hello h;
  uint8_t digest[32];
  core_path path = core_path_direct(from);
  if (c->closing || wire_hello_decode(buf, len, &h)) return 0;
  crypto_sha256(h.pub, 32, digest);
  if (memcmp(digest, h.wire_id, 8) != 0 || peers_find(c, h.wire_id)) return 0;
  if (!dial_answer_matches(c, &path, digest)) return 0;
  if (memcmp(h.wire_id, c->me.id, 8) == 0 || memcmp(h.pub, c->me.pub, 32) == 0) return 0;
  if (!hello_new_peer(c, &path, &h, 0, now)) return 0;
  return h.extended && (h.caps & WIRE_CAP_SEALED) ? 2 : 1; /* as peer_create reads it */
}

/* ---- authenticating frames (PROTOCOL.md 5.2) ------------------------------------ */

/* Record an authenticated frame's counter and what it proves about its path. */
static void frame_accepted(sw_core *c, core_peer *p, const core_path *from, int pi,
                           uint64_t ctr, uint64_t now) {
  core_path was = *paths_best(p);
  replay_commit(&p->replay, ctr);
  pi = paths_proven(c, p, from, pi);
  paths_touch(p, pi, now, -1);
  paths_moved(c, p, &was);
}

core_peer *session_open(sw_core *c, const core_path *from, const uint8_t *buf, size_t len,
                        size_t *ptlen, int *restart, uint64_t now) {
  int pi = -1;
  core_peer *p = paths_find_peer(c, from, &pi);
  const uint8_t *nonce = buf + 1;
  uint32_t sid = wire_get32(nonce);
  uint64_t ctr = wire_get64(nonce + 4);
  size_t clen = len - WIRE_DATA_HDR;
  *restart = SESSION_SAME;
  /* The session id names the session: a frame of another one than the path's peer (a
   * forged HELLO took the address first) is looked up by its id below. */
  if (p && p->session_id != sid) p = NULL;
  if (p) {
    if (!p->rx || crypto_aead_open(p->rx, nonce, buf + WIRE_DATA_HDR, clen, c->scratch)) {
      c->stats.rx_auth_fail++;
      return NULL;
    }
  } else {
    /* Unknown path: the session id in the nonce names the session without trial
     * decryption across peers (D8), so a NAT rebinding or a restart is followed. */
    for (size_t k = 0; k < c->peers_hi && !p; k++) {
      core_peer *q = &c->peers[k];
      if (q->used && q->rx && q->session_id == sid &&
          crypto_aead_open(q->rx, nonce, buf + WIRE_DATA_HDR, clen, c->scratch) == 0)
        p = q;
    }
    if (!p) {
      c->stats.rx_auth_fail++;
      return NULL;
    }
    pi = paths_index(p, from); /* it may have this path too, behind another peer */
  }
  int fresh = replay_check(&p->replay, ctr);
  /* A libsetowire peer starts every session at a random 62-bit counter (D4), so its
   * next session is as likely to jump far ahead of the window as to rewind below it. */
  int jumped = fresh && !p->legacy && p->replay.started && ctr > p->replay.top &&
               ctr - p->replay.top > RESTART_JUMP;
  int sealed = (p->caps & WIRE_CAP_SEALED) != 0;
  *ptlen = clen - CRYPTO_TAG_LEN;
  if (!fresh || jumped) {
    /* A rewound counter that authenticates is a replay, or the remote restarted its
     * session (references restart at 0, D5/D12). Believe a restart only with evidence:
     * a new path, or a HELLO from it moments ago. From a libsetowire peer a counter
     * already seen inside the window is a network duplicate, never a restart. */
    int duplicate = !fresh && !p->legacy && p->replay.top - ctr < REPLAY_BITS;
    int evidence = pi < 0 || now - p->last_hello <= RESTART_WINDOW_MS;
    /* A reference's new session counts from 0 again (D4): its window is anchored there,
     * and a rewind that lands LEGACY_RESTART_CTR or higher is this session's frame
     * replayed, whatever the evidence (a HELLO or a source address is easily forged). */
    if (p->legacy && ctr >= LEGACY_RESTART_CTR) evidence = 0;
    if (!duplicate && evidence && sealed) {
      /* Keys are static (D3): a recorded old frame looks just the same. A libsetowire
       * peer proves its restart by answering a challenge (21.3). */
      *restart = SESSION_SUSPECT;
      return p;
    }
    if (!duplicate && evidence) {
      replay_reset(&p->replay);
      *restart = SESSION_RESTART;
      c->stats.restarts++;
    } else if (!fresh || sealed) {
      /* From a libsetowire peer a jump without evidence is an old session replayed:
       * taking it would put the window past everything its live session sends. */
      c->stats.rx_replay++;
      return NULL;
    }
  }
  frame_accepted(c, p, from, pi, ctr, now);
  return p;
}

/* The challenged path answered from a new session: the peer did restart. Take the new
 * session as an unchallenged restart is taken (replay window, path, reorder buffer),
 * then the frames held meanwhile, in arrival order, through the normal path. */
static void restart_proven(sw_core *c, core_peer *p, const core_path *from, uint64_t ctr,
                           uint64_t now) {
  restart_challenge held = p->chal;
  memset(&p->chal, 0, sizeof p->chal); /* the held frames are this function's now */
  replay_reset(&p->replay);
  c->stats.restarts++;
  frame_accepted(c, p, from, paths_index(p, from), ctr, now);
  jitter_reset(&p->jit, 0);
  xsession_restarted(c, p, now);
  for (unsigned i = 0; i < held.nheld; i++) {
    held_frame *f = held.held[i];
    /* looked up anew each time: a held sealed GOAWAY may have removed the peer */
    if (f->data[0] == WIRE_DATA) delivery_on_data(c, from, f->data, f->len, now);
    else session_on_sealed(c, from, f->data, f->len, now);
    free(f);
  }
}

void session_on_sealed(void *core, const core_path *from, const uint8_t *buf, size_t len,
                       uint64_t now) {
  sw_core *c = core;
  size_t n;
  int restart;
  if (len < WIRE_DATA_MIN + 1) return;
  core_peer *p = session_open(c, from, buf, len, &n, &restart, now);
  if (!p || n < 1) return;
  const uint8_t *in = c->scratch;
  /* the answer to a validation challenge (guard.h): from the address it went to */
  if (in[0] == SEALED_RESPONSE && n == 1 + WIRE_CHALLENGE_LEN && !from->relayed &&
      !guard_validated(c, &from->addr)) {
    uint8_t nonce[WIRE_CHALLENGE_LEN];
    memcpy(nonce, in + 1, WIRE_CHALLENGE_LEN); /* the scratch is reused below */
    guard_on_response(c, &from->addr, nonce, now);
    if (!p->used) return;
  }
  /* our challenge's nonce, on the path it went to, before it expired */
  int answer = in[0] == SEALED_RESPONSE && n == 1 + WIRE_CHALLENGE_LEN &&
               challenge_live(p, from, now) &&
               memcmp(in + 1, p->chal.nonce, WIRE_CHALLENGE_LEN) == 0;
  if (answer && !from->relayed) {
    guard_proven(c, &from->addr, now); /* our restart nonce went only there */
    if (!p->used) return;
  }
  if (restart == SESSION_SUSPECT) {
    if (answer) restart_proven(c, p, from, wire_get64(buf + 5), now);
    else if (in[0] == SEALED_RESPONSE) c->stats.rx_dropped++; /* not an answer to ours */
    else session_suspect(c, p, from, buf, len, now);
    return;
  }
  if (restart) jitter_reset(&p->jit, 0);
  if (in[0] == SEALED_GOAWAY) {
    peers_remove(c, p, SW_REASON_GOODBYE);
  } else if (in[0] == SEALED_CHALLENGE && n == 1 + WIRE_CHALLENGE_LEN) {
    uint8_t r[1 + WIRE_CHALLENGE_LEN];
    r[0] = SEALED_RESPONSE;
    memcpy(r + 1, in + 1, WIRE_CHALLENGE_LEN);
    c->guard.urgent = 1; /* an answer that ends a wait: it overtakes what waits (guard.h) */
    send_sealed_to(c, p, from, r, sizeof r); /* where the challenge came from */
    c->guard.urgent = 0;
  } else if (in[0] == SEALED_GRAFT && n == 1) {
    delivery_on_graft(c, p);
  } else if (in[0] == SEALED_CAPS && n == 2) {
    xsession_on_caps(c, p, in[1], now); /* TRANSPORT.md 2: against a stripped bit */
  } else if (answer) {
    /* The session we have answered on the challenged path: no restart there, so what
     * was held in its name was replayed. */
    session_challenge_clear(c, p);
  }
}
