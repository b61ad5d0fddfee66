/* The protocol engine: handshake, sessions, DATA, ordering, dedup, flooding, liveness.
 * Sans-I/O; see core.h. Section numbers refer to ../shared/PROTOCOL.md, the project's
 * own rules and extensions to docs/PROTOCOL.md. */
#include "core.h"
#include "core_internal.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "dedup.h"
#include "dht.h"
#include "gossip.h"
#include "httpboot.h"
#include "jitter.h"
#include "lan.h"
#include "outq.h"
#include "peercache.h"
#include "pex.h"
#include "piping.h"
#include "seeds.h"
#include "sync.h"
#include "wire.h"

/* Timers and bounds (PROTOCOL.md 19 unless said otherwise). */
#define DEFAULT_MAX_PEERS 100
#define MAX_ADDRS 4               /* MAX_ADDRS_PEER */
#define PEER_TIMEOUT_MS 60000     /* PEER_TIMEOUT */
#define HEARTBEAT_MS 1000         /* HEARTBEAT_MS */
#define LOSS_MS 5000              /* loss threshold */
#define PUNCH_TRIES 8             /* PUNCH_TRIES */
#define PUNCH_INTERVAL_MS 300     /* PUNCH_INTERVAL */
#define DIAL_EXPIRY_MS 5400       /* PUNCH_TRIES x PUNCH_INTERVAL + 3000 */
#define DIAL_MAX 256              /* ours: bound of the dialing table */
#define MESH_D 6                  /* D_DEFAULT */
#define MESH_LOW 4                /* D_LOW */
#define MESH_HIGH 16              /* D_HIGH */
#define SCORE_MAX 1000            /* 13.1 clamp */
#define RTT_INIT_MS 100.0         /* RTT_INIT */
#define RTT_ALPHA 0.125           /* RTT_ALPHA */
#define FRAG_TIMEOUT_MS 10000     /* FRAG_TIMEOUT */
#define FRAG_SETS 4               /* ours: concurrent fragment sets per reference peer */
#define FRAG_MAX_MESSAGE (1u << 20) /* ours: largest reassembled FRAG message */
#define FRAG_BUDGET (4u << 20)  /* ours: reassembly bytes across all peers (D17) */
#define RESTART_WINDOW_MS 10000   /* ours: a HELLO this recent makes a rewind a restart */
#define RESTART_JUMP (1ull << 40) /* ours: further ahead than one session ever counts */
#define CHALLENGE_MS 5000         /* ours: how long a restart challenge waits for its answer */
#define CHALLENGE_RESEND_MS 250   /* ours: the same challenge again at most this often */
#define HELD_FRAMES 16            /* ours: frames held per peer while it is challenged */
#define HELD_BYTES (64u * 1024u)
#define BATCH_MAX_FRAMES 255      /* the count byte (D27) */
#define DEFAULT_OUT_BYTES (1u << 20)
#define MIN_OUT_BYTES (256u * 1024u) /* room for the largest message to one peer */
#define DEFAULT_DEDUP_LOG2 17 /* 2 x 1 MiB; the references use 2 x 8 MiB of bloom */
#define CTRL_RESERVE (16u * 1024u) /* outq room kept for HELLO/PING/PONG/GOAWAY */
#define OPEN_BATCH_COST 1536       /* outq room one open batch may need when closed */
#define OWN_CAPS WIRE_CAP_SEALED
#define HTTP_MAX 32              /* ours: outstanding HTTP requests */
#define MEET_RATE_PER_S 20       /* ours: dials per second from discovery (D19) */
#define MEET_BURST 40

typedef struct peer_addr {
  sw_addr a;
  double rtt;
  int verified; /* an authenticated frame came from it (D7, D8) */
} peer_addr;

typedef struct frag_set {
  int used;
  uint8_t id[8];
  uint16_t count, got;
  uint32_t last_len;
  uint64_t expires;
  uint8_t *data;   /* count x 1188 bytes */
  uint8_t *have;   /* one byte per index */
} frag_set;

/* An authenticated frame held while its sender is challenged (docs/PROTOCOL.md 4.2). */
typedef struct held_frame {
  size_t len;
  uint8_t data[];
} held_frame;

/* A libsetowire peer that looks restarted must prove it is live at the address (4.2). */
typedef struct restart_challenge {
  int armed;
  int by_frame; /* an authenticated frame asked for it, not only a HELLO */
  uint8_t nonce[WIRE_CHALLENGE_LEN];
  sw_addr to;
  uint64_t deadline, sent_at;
  held_frame *held[HELD_FRAMES]; /* from `to`, in arrival order */
  unsigned nheld;
  size_t held_bytes;
} restart_challenge;

typedef struct core_peer {
  int used;
  uint8_t wire_id[8];
  uint8_t pub[32];
  int legacy;     /* 41-byte HELLO: a reference peer (PROTOCOL.md 18.1) */
  uint8_t caps;   /* capability bits from its trailer */
  crypto_aead *tx, *rx;
  uint32_t session_id;
  uint64_t send_ctr;
  uint32_t send_seq;
  replay_window replay;
  jitter_buf jit;
  peer_addr addrs[MAX_ADDRS];
  int naddr, best;
  uint64_t seen, last_pong, last_ping_sent, last_hello;
  int ping_outstanding;
  double rtt;
  int loss, in_mesh;
  int32_t score;
  /* Open batch (PROTOCOL.md 8.2): 0x13, count, then u16 length + frame entries. */
  uint8_t obuf[2 + WIRE_BATCH_MTU];
  size_t olen;
  unsigned ocount;
  frag_set frags[FRAG_SETS];
  restart_challenge chal;
} core_peer;

typedef struct dial_entry {
  int used;
  int has_id;
  sw_addr to;
  uint8_t id[20];
  int sent;
  uint64_t next_at, expire_at;
} dial_entry;

typedef struct http_slot {
  int state; /* 0 free, 1 queued, 2 taken by the runtime */
  uint32_t id;
  char method[8];
  char *url, *ctype;
  uint8_t *body;
  size_t len;
  uint32_t timeout_ms;
  core_http_cb cb;
  void *ctx;
} http_slot;

struct sw_core {
  sw_core_config cfg;
  crypto_identity me;
  core_peer *peers;
  size_t max_peers, npeers;
  core_peer *last_hit; /* one-entry cache of the address lookup: the hot path */
  dial_entry dials[DIAL_MAX];
  outq out;
  dedup_set seen; /* delivered and own message ids (6.2) */
  unsigned open_batches;
  size_t frag_bytes; /* held by fragment sets, bounded by FRAG_BUDGET */
  uint64_t next_heartbeat;
  uint8_t topic[32];
  int joined, closing, want_writable;
  sw_core_stats stats;
  core_module modules[CORE_MAX_MODULES];
  int nmodules;
  http_slot http[HTTP_MAX];
  uint32_t http_next_id;
  uint64_t last_now; /* the latest time given to any entry point */
  double meet_tokens;
  uint64_t meet_refill_at;
  pubaddr pub; /* our LAN and public addresses (pubaddr.h) */
  uint8_t scratch[WIRE_UDP_MAX];
};

/* ---- small helpers ------------------------------------------------------ */

#define FOR_MODULES(c, m) \
  for (core_module *m = (c)->modules; m < (c)->modules + (c)->nmodules; m++)

static void rnd(sw_core *c, void *buf, size_t n) { c->cfg.random(c->cfg.ctx, buf, n); }

static void emit(sw_core *c, const sw_event *ev) {
  if (c->cfg.on_event) c->cfg.on_event(c->cfg.ctx, ev);
}

static int peer_addr_index(const core_peer *p, const sw_addr *a) {
  for (int i = 0; i < p->naddr; i++)
    if (addr_equal(&p->addrs[i].a, a)) return i;
  return -1;
}

static core_peer *peer_by_addr(sw_core *c, const sw_addr *a, int *ai) {
  if (c->last_hit && c->last_hit->used) {
    int i = peer_addr_index(c->last_hit, a);
    if (i >= 0) {
      *ai = i;
      return c->last_hit;
    }
  }
  for (size_t k = 0; k < c->max_peers; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    int i = peer_addr_index(p, a);
    if (i >= 0) {
      *ai = i;
      c->last_hit = p;
      return p;
    }
  }
  return NULL;
}

static core_peer *peer_by_wire(sw_core *c, const uint8_t wire[8]) {
  for (size_t k = 0; k < c->max_peers; k++)
    if (c->peers[k].used && memcmp(c->peers[k].wire_id, wire, 8) == 0) return &c->peers[k];
  return NULL;
}

static const sw_addr *peer_best(const core_peer *p) { return &p->addrs[p->best].a; }

static void choose_best(core_peer *p) {
  /* Only verified addresses may become best (D8), unless none is verified yet. */
  int best = -1;
  for (int i = 0; i < p->naddr; i++) {
    if (!p->addrs[i].verified) continue;
    if (best < 0 || p->addrs[i].rtt < p->addrs[best].rtt) best = i;
  }
  p->best = best < 0 ? 0 : best;
}

/* Add a verified address (after an authenticated frame from it). */
static int peer_add_addr(core_peer *p, const sw_addr *a) {
  int i = peer_addr_index(p, a);
  if (i >= 0) {
    p->addrs[i].verified = 1;
    return i;
  }
  if (p->naddr == MAX_ADDRS) {
    /* Replace the worst address other than the best one. */
    int worst = -1;
    for (int k = 0; k < p->naddr; k++)
      if (k != p->best && (worst < 0 || p->addrs[k].rtt > p->addrs[worst].rtt)) worst = k;
    i = worst;
  } else {
    i = p->naddr++;
  }
  p->addrs[i].a = *a;
  p->addrs[i].rtt = p->rtt;
  p->addrs[i].verified = 1;
  return i;
}

static void touch(core_peer *p, int ai, uint64_t now, double sample) {
  p->seen = p->last_pong = now;
  p->loss = 0;
  if (ai >= 0) {
    p->addrs[ai].rtt = sample >= 0 ? sample : p->rtt;
    choose_best(p);
  }
}

static size_t out_rec_cost(size_t len) { return len + sizeof(outq_rec) + 8; }

/* Room for data of `bytes` more, keeping what open batches and control frames need.
 * Doubling covers the ring's worst-case split between its end and its front. */
static int data_room(const sw_core *c, size_t bytes) {
  size_t need = (size_t)(c->open_batches + 1) * OPEN_BATCH_COST + out_rec_cost(bytes);
  return outq_free_bytes(&c->out) >= 2 * need + CTRL_RESERVE;
}

/* Whether `bytes` could ever be queued, even with the ring empty: if not, waiting for
 * SW_EV_WRITABLE would wait forever, so the caller gets SW_EMSGSIZE instead. */
static int data_fits_ever(const sw_core *c, size_t bytes) {
  return 2 * (OPEN_BATCH_COST + out_rec_cost(bytes)) + CTRL_RESERVE <= c->out.cap;
}

static void send_raw(sw_core *c, const sw_addr *to, const uint8_t *buf, size_t len) {
  if (outq_push(&c->out, SW_SOCK_MAIN, to, buf, len)) c->stats.ctrl_dropped++;
}

/* ---- batching (PROTOCOL.md 8.2) ----------------------------------------- */

static void batch_close(sw_core *c, core_peer *p) {
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
  if (outq_push(&c->out, SW_SOCK_MAIN, peer_best(p), d, len)) c->stats.flood_dropped++;
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
    batch_close(c, p);
  if (!p->ocount) c->open_batches++;
  wire_put16(p->obuf + p->olen, (uint16_t)len);
  return p->obuf + p->olen + 2;
}

static void batch_commit(core_peer *p, size_t len) {
  p->olen += 2 + len;
  p->ocount++;
}

/* ---- sending ------------------------------------------------------------ */

static void next_nonce(core_peer *p, uint8_t nonce[12]) {
  wire_put32(nonce, p->session_id);
  wire_put64(nonce + 4, p->send_ctr++);
}

/* Build one DATA frame at dst: header, then seal(u32 seq || msg). */
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
  rnd(c, id, sizeof id);
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

/* Send one message to one peer. The caller has checked room (data_room). */
static int send_message(sw_core *c, core_peer *p, const uint8_t *msg, size_t len) {
  size_t flen = len + WIRE_DATA_OVERHEAD;
  if (!p->tx) return SW_ENOTCONN;
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
  batch_close(c, p);
  uint8_t *dst = outq_reserve(&c->out, flen);
  if (!dst) return SW_EAGAIN;
  if (build_data(p, dst, msg, len)) return SW_ECRYPTO;
  outq_commit(&c->out, SW_SOCK_MAIN, peer_best(p), flen);
  return SW_OK;
}

#define SEALED_INNER_MAX (1 + WIRE_CHALLENGE_LEN)
#define SEALED_FRAME_MAX (WIRE_DATA_HDR + SEALED_INNER_MAX + CRYPTO_TAG_LEN)

/* Build a sealed control frame at out (SEALED_FRAME_MAX bytes of room); returns its
 * length, 0 on failure. */
static size_t build_sealed(core_peer *p, uint8_t *out, const uint8_t *inner, size_t n) {
  if (!p->tx) return 0;
  out[0] = WIRE_SEALED;
  next_nonce(p, out + 1);
  if (crypto_aead_seal(p->tx, out + 1, NULL, 0, inner, n, out + WIRE_DATA_HDR)) return 0;
  return WIRE_DATA_HDR + n + CRYPTO_TAG_LEN;
}

static void send_sealed_to(sw_core *c, core_peer *p, const sw_addr *to, const uint8_t *inner,
                           size_t n) {
  uint8_t buf[SEALED_FRAME_MAX];
  size_t len = build_sealed(p, buf, inner, n);
  if (len) send_raw(c, to, buf, len);
}

static void send_sealed(sw_core *c, core_peer *p, uint8_t inner) {
  send_sealed_to(c, p, peer_best(p), &inner, 1);
}

static void send_hello(sw_core *c, uint8_t type, const sw_addr *to) {
  uint8_t buf[WIRE_HELLO_LEN + WIRE_TRAILER_LEN];
  size_t n = wire_hello_encode(buf, type, c->me.id, c->me.pub, OWN_CAPS);
  send_raw(c, to, buf, n);
}

/* ---- delivery (PROTOCOL.md 6) -------------------------------------------- */

/* Deliver once (content dedup, 6.2), then flood to the mesh except the last hop (6.3). */
static void deliver(sw_core *c, core_peer *from, const uint8_t *msg, size_t len, uint64_t now) {
  uint8_t id[8];
  if (dedup_set_seen(&c->seen, dedup_xor_hash(msg, len), now)) {
    c->stats.duplicates++;
    return;
  }
  memcpy(id, from->wire_id, 8);
  c->stats.delivered++;
  gossip_info gi;
  if (gossip_check(msg, len, &gi)) {
    /* D14: a reference's gossip object is not application data; it is still flooded
     * below, as reference nodes do. Meeting the peer it names is optional (D19). */
    c->stats.gossip++;
    if (c->cfg.gossip_meet && gi.addr.family && memcmp(gi.wire, c->me.id, 8) != 0 &&
        !peer_by_wire(c, gi.wire))
      core_meet(c, &gi.addr, NULL, now);
  } else {
    sw_event ev = {.type = SW_EV_DATA, .peer = id, .data = msg, .len = len};
    emit(c, &ev);
  }
  if (c->npeers < 2) return; /* the only peer is the last hop: nobody to flood to */
  for (size_t k = 0; k < c->max_peers; k++) {
    core_peer *q = &c->peers[k];
    if (!q->used || !q->in_mesh || !q->tx || memcmp(q->wire_id, id, 8) == 0) continue;
    if (!data_room(c, len + WIRE_DATA_OVERHEAD) || send_message(c, q, msg, len))
      c->stats.flood_dropped++;
  }
}

typedef struct deliver_ctx {
  sw_core *c;
  core_peer *p;
  uint64_t now;
} deliver_ctx;

static void deliver_cb(void *ctx, const uint8_t *data, size_t len) {
  deliver_ctx *d = ctx;
  deliver(d->c, d->p, data, len, d->now);
}

/* ---- peers --------------------------------------------------------------- */

static void frag_set_free(sw_core *c, frag_set *f) {
  if (f->used) c->frag_bytes -= (size_t)f->count * (WIRE_FRAG_DATA_MAX + 1);
  free(f->data);
  free(f->have);
  memset(f, 0, sizeof *f);
}

/* ---- restart challenge (docs/PROTOCOL.md 4.2) ---------------------------------- */

/* Forget the challenge and the frames it held: they were never proven. */
static void challenge_clear(sw_core *c, core_peer *p) {
  restart_challenge *ch = &p->chal;
  for (unsigned i = 0; i < ch->nheld; i++) free(ch->held[i]);
  c->stats.held_dropped += ch->nheld;
  memset(ch, 0, sizeof *ch);
}

/* A challenge to this address is out and still waits for its answer. */
static int challenge_live(const core_peer *p, const sw_addr *to, uint64_t now) {
  return p->chal.armed && now < p->chal.deadline && addr_equal(&p->chal.to, to);
}

/* A fresh challenge to `to`, replacing any other (one per peer). */
static void challenge_arm(sw_core *c, core_peer *p, const sw_addr *to, uint64_t now) {
  challenge_clear(c, p);
  p->chal.armed = 1;
  rnd(c, p->chal.nonce, WIRE_CHALLENGE_LEN);
  p->chal.to = *to;
  p->chal.deadline = now + CHALLENGE_MS;
}

/* The pending challenge as a sealed frame at out (SEALED_FRAME_MAX bytes); 0 on failure. */
static size_t build_challenge(core_peer *p, uint8_t *out, uint64_t now) {
  uint8_t inner[1 + WIRE_CHALLENGE_LEN];
  inner[0] = SEALED_CHALLENGE;
  memcpy(inner + 1, p->chal.nonce, WIRE_CHALLENGE_LEN);
  p->chal.sent_at = now;
  return build_sealed(p, out, inner, sizeof inner);
}

/* Keep an authenticated frame from the challenged address until the answer. Bounded:
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

/* An authenticated frame that looks like a restart of a libsetowire peer: it may be a
 * recorded old frame (keys are static, D3), so it changes nothing yet. Challenge its
 * source address and hold the frame; only the answer proves the restart. */
static void challenge_suspect(sw_core *c, core_peer *p, const sw_addr *from, const uint8_t *buf,
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
static void ack_and_challenge(sw_core *c, core_peer *p, const sw_addr *from, uint64_t now) {
  restart_challenge *ch = &p->chal;
  uint8_t b[2 + 2 + WIRE_HELLO_LEN + WIRE_TRAILER_LEN + 2 + SEALED_FRAME_MAX];
  size_t n = wire_hello_encode(b + 4, WIRE_HELLO_ACK, c->me.id, c->me.pub, OWN_CAPS), m = 0;
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

static void peer_clear(sw_core *c, core_peer *p) {
  if (p->ocount) c->open_batches--;
  challenge_clear(c, p);
  crypto_aead_free(p->tx);
  crypto_aead_free(p->rx);
  jitter_free(&p->jit);
  for (int i = 0; i < FRAG_SETS; i++) frag_set_free(c, &p->frags[i]);
  if (c->last_hit == p) c->last_hit = NULL;
  memset(p, 0, sizeof *p);
}

static void peer_remove(sw_core *c, core_peer *p) {
  uint8_t id[8];
  memcpy(id, p->wire_id, 8);
  peer_clear(c, p);
  c->npeers--;
  sw_event ev = {.type = SW_EV_DISCONNECT, .peer = id};
  emit(c, &ev);
  FOR_MODULES(c, m) if (m->on_disconnect) m->on_disconnect(m->state, id, c->last_now);
}

static size_t mesh_count(const sw_core *c) {
  size_t n = 0;
  for (size_t k = 0; k < c->max_peers; k++) n += c->peers[k].used && c->peers[k].in_mesh;
  return n;
}

static void dial_forget(sw_core *c, const sw_addr *a, const uint8_t wire[8]) {
  for (int i = 0; i < DIAL_MAX; i++) {
    dial_entry *d = &c->dials[i];
    if (!d->used) continue;
    if (addr_equal(&d->to, a) || (d->has_id && memcmp(d->id, wire, 8) == 0)) d->used = 0;
  }
}

static dial_entry *dial_find(sw_core *c, const sw_addr *a) {
  for (int i = 0; i < DIAL_MAX; i++)
    if (c->dials[i].used && addr_equal(&c->dials[i].to, a)) return &c->dials[i];
  return NULL;
}

static core_peer *peer_create(sw_core *c, const wire_hello *h, const sw_addr *from,
                              const crypto_session_keys *keys, uint64_t now) {
  core_peer *p = NULL;
  for (size_t k = 0; k < c->max_peers && !p; k++)
    if (!c->peers[k].used) p = &c->peers[k];
  if (!p) return NULL;
  memset(p, 0, sizeof *p);
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
  p->legacy = !h->extended;
  p->caps = h->caps;
  p->session_id = keys->session_id;
  /* D4: our counter starts at a fresh random point each session, below 2^62 so it
   * can never wrap. The sequence prefix starts at 0: reference receivers expect it. */
  rnd(c, &p->send_ctr, sizeof p->send_ctr);
  p->send_ctr &= (1ull << 62) - 1;
  replay_reset(&p->replay);
  jitter_init(&p->jit, 0);
  p->rtt = RTT_INIT_MS;
  p->addrs[0].a = *from;
  p->addrs[0].rtt = RTT_INIT_MS;
  p->naddr = 1;
  p->seen = p->last_pong = p->last_hello = now;
  p->olen = 2;
  c->npeers++;
  return p;
}

static void on_hello(sw_core *c, const sw_addr *from, const uint8_t *buf, size_t len,
                     uint64_t now) {
  wire_hello h;
  uint8_t digest[32];
  if (wire_hello_decode(buf, len, &h)) return;
  crypto_sha256(h.pub, 32, digest);
  /* D2: the claimed wire id must be the key's. D9: never a session with ourselves. */
  if (memcmp(digest, h.wire_id, 8) != 0) return;
  if (memcmp(h.wire_id, c->me.id, 8) == 0 || memcmp(h.pub, c->me.pub, 32) == 0) return;

  core_peer *p = peer_by_wire(c, h.wire_id);
  if (p) {
    if (memcmp(p->pub, h.pub, 32) != 0) return; /* D2: a known id keeps its key */
    p->last_hello = now;
    int ai = peer_addr_index(p, from);
    if (ai >= 0) touch(p, ai, now, -1);
    /* Answer from any address: a restarted peer dials from a new one (D35); the new
     * address is adopted only once authenticated DATA arrives from it. */
    if (h.type == WIRE_HELLO && !c->closing) {
      if (p->caps & h.caps & WIRE_CAP_SEALED) ack_and_challenge(c, p, from, now);
      else send_hello(c, WIRE_HELLO_ACK, from);
    }
    return;
  }
  if (c->closing) return;
  /* When we dialled this address knowing the full id, the answer must be that id. */
  dial_entry *d = dial_find(c, from);
  if (d && d->has_id && memcmp(digest, d->id, 20) != 0) return;
  /* D20: at the bound, refuse without a HELLO_ACK, so no one-sided session forms. */
  if (c->npeers >= c->max_peers) return;
  crypto_session_keys keys;
  if (crypto_derive_session(&c->me, h.pub, &keys)) return; /* D18: low-order key */
  p = peer_create(c, &h, from, &keys, now);
  memset(&keys, 0, sizeof keys);
  if (!p) return;
  if (h.type == WIRE_HELLO) send_hello(c, WIRE_HELLO_ACK, from);
  dial_forget(c, from, p->wire_id);
  if (mesh_count(c) < MESH_D) p->in_mesh = 1;
  /* Prove the key at once to a libsetowire peer, which verifies this address. */
  if (p->caps & WIRE_CAP_SEALED) send_sealed(c, p, SEALED_PROOF);
  char text[SW_ADDRSTRLEN];
  uint8_t id[8];
  memcpy(id, p->wire_id, 8);
  addr_format(from, text, sizeof text);
  sw_event ev = {.type = SW_EV_CONNECTION, .peer = id, .addr = text};
  emit(c, &ev);
  sw_addr where = *from;
  FOR_MODULES(c, m) if (m->on_connection) m->on_connection(m->state, id, &where, now);
}

/* Record an authenticated frame's counter and what it proves about its address. */
static void frame_accepted(core_peer *p, const sw_addr *from, int ai, uint64_t ctr, uint64_t now) {
  replay_commit(&p->replay, ctr);
  if (ai < 0) {
    ai = peer_add_addr(p, from);
    /* It just proved itself: the peer is there now (D35). Its other addresses must
     * prove themselves again, or their older, lower RTT would win them back in touch()
     * and everything would go on to where the peer no longer is. */
    for (int k = 0; k < p->naddr; k++) p->addrs[k].verified = k == ai;
    p->best = ai;
  } else {
    p->addrs[ai].verified = 1;
  }
  touch(p, ai, now, -1);
}

/* What open_frame found: *restart is one of these. */
enum { FRAME_NEW = 0, FRAME_RESTART = 1, FRAME_SUSPECT = 2 };

/* Authenticate an encrypted frame (DATA or SEALED) and find its peer. The plaintext
 * lands in c->scratch. Returns the peer, or NULL when the frame is to be dropped. With
 * FRAME_SUSPECT nothing is recorded: the frame is a libsetowire peer's restart, or a
 * replay, until the peer answers a challenge (docs/PROTOCOL.md 4.2). */
static core_peer *open_frame(sw_core *c, const sw_addr *from, const uint8_t *buf, size_t len,
                             size_t *ptlen, int *restart, uint64_t now) {
  int ai = -1;
  core_peer *p = peer_by_addr(c, from, &ai);
  const uint8_t *nonce = buf + 1;
  uint32_t sid = wire_get32(nonce);
  uint64_t ctr = wire_get64(nonce + 4);
  size_t clen = len - WIRE_DATA_HDR;
  *restart = FRAME_NEW;
  if (p) {
    if (!p->rx || crypto_aead_open(p->rx, nonce, buf + WIRE_DATA_HDR, clen, c->scratch)) {
      c->stats.rx_auth_fail++;
      return NULL;
    }
  } else {
    /* Unknown address: the session id in the nonce names the session without trial
     * decryption across peers (D8), so a NAT rebinding or a restart is followed. */
    for (size_t k = 0; k < c->max_peers && !p; k++) {
      core_peer *q = &c->peers[k];
      if (q->used && q->rx && q->session_id == sid &&
          crypto_aead_open(q->rx, nonce, buf + WIRE_DATA_HDR, clen, c->scratch) == 0)
        p = q;
    }
    if (!p) {
      c->stats.rx_auth_fail++;
      return NULL;
    }
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
     * a new address, or a HELLO from it moments ago. From a libsetowire peer a counter
     * already seen inside the window is a network duplicate, never a restart. */
    int duplicate = !fresh && !p->legacy && p->replay.top - ctr < REPLAY_BITS;
    int evidence = ai < 0 || now - p->last_hello <= RESTART_WINDOW_MS;
    if (!duplicate && evidence && sealed) {
      /* Keys are static (D3): a recorded old frame looks just the same. A libsetowire
       * peer proves its restart by answering a challenge (4.2). */
      *restart = FRAME_SUSPECT;
      return p;
    }
    if (!duplicate && evidence) {
      replay_reset(&p->replay);
      *restart = FRAME_RESTART;
      c->stats.restarts++;
    } else if (!fresh || sealed) {
      /* From a libsetowire peer a jump without evidence is an old session replayed:
       * taking it would put the window past everything its live session sends. */
      c->stats.rx_replay++;
      return NULL;
    }
  }
  frame_accepted(p, from, ai, ctr, now);
  return p;
}

static void on_data(sw_core *c, const sw_addr *from, const uint8_t *buf, size_t len,
                    uint64_t now) {
  size_t n;
  int restart;
  if (len < WIRE_DATA_MIN) return;
  core_peer *p = open_frame(c, from, buf, len, &n, &restart, now);
  if (!p) return;
  if (restart == FRAME_SUSPECT) {
    challenge_suspect(c, p, from, buf, len, now);
    return;
  }
  if (p->score < SCORE_MAX) p->score++;
  const uint8_t *inner = c->scratch;
  if (n < 4) { /* PROTOCOL.md 5.2 step 8: the short path, no sequence number */
    deliver(c, p, inner, n, now);
    return;
  }
  uint32_t seq = wire_get32(inner);
  /* A session's sequence starts at 0 (5.1), whichever of its frames revealed it: the
   * frames that one overtook must still be taken. And a peer whose session outlived
   * ours (we restarted; D12 seen from the other side) goes on from where it was:
   * centre the window on its first frame, so those it overtook wait their turn too. */
  if (restart) jitter_reset(&p->jit, 0);
  if (p->jit.next == 0 && !p->jit.count && seq >= JITTER_SLOTS)
    jitter_reset(&p->jit, seq - JITTER_SLOTS / 2);
  deliver_ctx d = {c, p, now};
  jitter_push(&p->jit, seq, inner + 4, n - 4, now, deliver_cb, &d);
}

static void on_sealed(sw_core *c, const sw_addr *from, const uint8_t *buf, size_t len,
                      uint64_t now);

/* The challenged address answered from a new session: the peer did restart. Take the
 * new session as an unchallenged restart is taken (replay window, address, jitter
 * buffer), then the frames held meanwhile, in arrival order, through the normal path. */
static void restart_proven(sw_core *c, core_peer *p, const sw_addr *from, uint64_t ctr,
                           uint64_t now) {
  restart_challenge held = p->chal;
  memset(&p->chal, 0, sizeof p->chal); /* the held frames are this function's now */
  replay_reset(&p->replay);
  c->stats.restarts++;
  frame_accepted(p, from, peer_addr_index(p, from), ctr, now);
  jitter_reset(&p->jit, 0);
  for (unsigned i = 0; i < held.nheld; i++) {
    held_frame *f = held.held[i];
    /* looked up anew each time: a held sealed GOAWAY may have removed the peer */
    if (f->data[0] == WIRE_DATA) on_data(c, from, f->data, f->len, now);
    else on_sealed(c, from, f->data, f->len, now);
    free(f);
  }
}

static void on_sealed(sw_core *c, const sw_addr *from, const uint8_t *buf, size_t len,
                      uint64_t now) {
  size_t n;
  int restart;
  if (len < WIRE_DATA_MIN + 1) return;
  core_peer *p = open_frame(c, from, buf, len, &n, &restart, now);
  if (!p || n < 1) return;
  const uint8_t *in = c->scratch;
  /* our challenge's nonce, from the address it went to, before it expired */
  int answer = in[0] == SEALED_RESPONSE && n == 1 + WIRE_CHALLENGE_LEN &&
               challenge_live(p, from, now) &&
               memcmp(in + 1, p->chal.nonce, WIRE_CHALLENGE_LEN) == 0;
  if (restart == FRAME_SUSPECT) {
    if (answer) restart_proven(c, p, from, wire_get64(buf + 5), now);
    else if (in[0] == SEALED_RESPONSE) c->stats.rx_dropped++; /* not an answer to ours */
    else challenge_suspect(c, p, from, buf, len, now);
    return;
  }
  if (restart) jitter_reset(&p->jit, 0);
  if (in[0] == SEALED_GOAWAY) {
    peer_remove(c, p);
  } else if (in[0] == SEALED_CHALLENGE && n == 1 + WIRE_CHALLENGE_LEN) {
    uint8_t r[1 + WIRE_CHALLENGE_LEN];
    r[0] = SEALED_RESPONSE;
    memcpy(r + 1, in + 1, WIRE_CHALLENGE_LEN);
    send_sealed_to(c, p, from, r, sizeof r); /* where the challenge came from */
  } else if (answer) {
    /* The session we have answered at the challenged address: no restart there, so
     * what was held in its name was replayed. */
    challenge_clear(c, p);
  }
}

static void on_ping(sw_core *c, const sw_addr *from, uint64_t now) {
  int ai;
  core_peer *p = peer_by_addr(c, from, &ai);
  /* D19: answer only peers we know at this address; a PONG to anyone else would be
   * reflection and would disclose our full id. */
  if (!p) return;
  touch(p, ai, now, -1);
  uint8_t pong[WIRE_PONG_LEN];
  send_raw(c, from, pong, wire_pong_encode(pong, c->me.id));
}

static void on_pong(sw_core *c, const sw_addr *from, uint64_t now) {
  int ai;
  core_peer *p = peer_by_addr(c, from, &ai);
  if (!p) return; /* D8: an id inside a PONG never adds an address */
  double sample = p->ping_outstanding ? (double)(now - p->last_ping_sent) : p->rtt;
  p->ping_outstanding = 0;
  p->rtt += RTT_ALPHA * (sample - p->rtt); /* PROTOCOL.md 9.2 step 4 */
  touch(p, ai, now, sample);
}

static void on_goaway(sw_core *c, const sw_addr *from) {
  int ai;
  core_peer *p = peer_by_addr(c, from, &ai);
  /* D7: honoured only from an address that has sent authenticated frames, and only
   * from reference peers: a libsetowire peer says goodbye sealed, so a plain GOAWAY
   * in its name can only be forged (a replayed old frame can verify an address). */
  if (p && p->legacy && p->addrs[ai].verified) peer_remove(c, p);
}

static void on_frag(sw_core *c, const sw_addr *from, const uint8_t *buf, size_t len,
                    uint64_t now) {
  int ai;
  wire_frag f;
  core_peer *p = peer_by_addr(c, from, &ai);
  /* Plaintext FRAG only from a peer that identified itself as a reference (D1). */
  if (!p || !p->legacy || wire_frag_decode(buf, len, &f)) {
    c->stats.rx_dropped++;
    return;
  }
  if ((size_t)f.count * WIRE_FRAG_DATA_MAX > FRAG_MAX_MESSAGE) return;
  /* Every piece but the last is full-size; anything else is not a reference sender. */
  if (f.index + 1 < f.count && f.len != WIRE_FRAG_DATA_MAX) return;
  frag_set *s = NULL, *oldest = &p->frags[0];
  for (int i = 0; i < FRAG_SETS; i++) {
    frag_set *x = &p->frags[i];
    if (x->used && memcmp(x->id, f.frag_id, 8) == 0) s = x;
    if (!x->used || (oldest->used && x->expires < oldest->expires)) oldest = x;
  }
  if (!s) {
    size_t cost = (size_t)f.count * (WIRE_FRAG_DATA_MAX + 1);
    s = oldest;
    if (s->used) frag_set_free(c, s);
    if (c->frag_bytes + cost > FRAG_BUDGET) {
      c->stats.rx_dropped++;
      return;
    }
    s->data = malloc((size_t)f.count * WIRE_FRAG_DATA_MAX);
    s->have = calloc(f.count, 1);
    if (!s->data || !s->have) {
      free(s->data);
      free(s->have);
      memset(s, 0, sizeof *s);
      return;
    }
    c->frag_bytes += cost;
    s->used = 1;
    memcpy(s->id, f.frag_id, 8);
    s->count = f.count;
    s->expires = now + FRAG_TIMEOUT_MS;
  }
  if (f.count != s->count || s->have[f.index]) return;
  memcpy(s->data + (size_t)f.index * WIRE_FRAG_DATA_MAX, f.data, f.len);
  s->have[f.index] = 1;
  if (f.index + 1 == f.count) s->last_len = (uint32_t)f.len;
  if (++s->got < s->count) return;
  size_t total = (size_t)(s->count - 1) * WIRE_FRAG_DATA_MAX + s->last_len;
  uint8_t *msg = s->data;
  s->data = NULL;
  frag_set_free(c, s);
  deliver(c, p, msg, total, now);
  free(msg);
}

static void dispatch(sw_core *c, const sw_addr *from, const uint8_t *buf, size_t len,
                     uint64_t now, int depth) {
  /* PROTOCOL.md 3 step 1: shorter than 2 bytes is dropped (so is a 1-byte GOAWAY). */
  if (len < 2) return;
  switch (buf[0]) {
    case WIRE_HELLO:
    case WIRE_HELLO_ACK: on_hello(c, from, buf, len, now); break;
    case WIRE_DATA: on_data(c, from, buf, len, now); break;
    case WIRE_PING: on_ping(c, from, now); break;
    case WIRE_PONG: on_pong(c, from, now); break;
    case WIRE_GOAWAY: on_goaway(c, from); break;
    case WIRE_FRAG: on_frag(c, from, buf, len, now); break;
    case WIRE_SEALED: on_sealed(c, from, buf, len, now); break;
    case WIRE_BATCH: {
      wire_batch_iter it;
      const uint8_t *f;
      size_t fl;
      /* The references never nest; one level of nesting is tolerated, no more (D18). */
      if (depth >= 2 || wire_batch_begin(&it, buf, len)) return;
      while (wire_batch_next(&it, &f, &fl)) dispatch(c, from, f, fl, now, depth + 1);
      break;
    }
    default: /* frames of the modules; unknown types are ignored, as in 1.1 */
      FOR_MODULES(c, m) {
        if (m->on_datagram && m->on_datagram(m->state, SW_SOCK_MAIN, from, buf, len, now)) break;
      }
      break;
  }
}

void sw_core_datagram(sw_core *c, sw_sock_kind kind, const sw_addr *from, const uint8_t *buf,
                      size_t len, uint64_t now) {
  c->stats.rx_datagrams++;
  c->last_now = now;
  if (!from || !buf) return;
  if (kind != SW_SOCK_MAIN) {
    FOR_MODULES(c, m) {
      if (m->on_datagram && m->on_datagram(m->state, kind, from, buf, len, now)) break;
    }
    return;
  }
  dispatch(c, from, buf, len, now, 0);
}

/* ---- timers --------------------------------------------------------------- */

static void run_dials(sw_core *c, uint64_t now) {
  for (int i = 0; i < DIAL_MAX; i++) {
    dial_entry *d = &c->dials[i];
    if (!d->used) continue;
    if (now >= d->expire_at) {
      d->used = 0;
      continue;
    }
    while (d->sent < PUNCH_TRIES && now >= d->next_at) {
      send_hello(c, WIRE_HELLO, &d->to);
      d->sent++;
      d->next_at += PUNCH_INTERVAL_MS;
    }
  }
}

static void maintain_mesh(sw_core *c) {
  size_t m = mesh_count(c);
  /* PROTOCOL.md 13.2: refill below D_LOW with the best scores, trim above D_HIGH. */
  while (m < MESH_LOW) {
    core_peer *best = NULL;
    for (size_t k = 0; k < c->max_peers; k++) {
      core_peer *q = &c->peers[k];
      if (q->used && !q->in_mesh && q->tx && (!best || q->score > best->score)) best = q;
    }
    if (!best) break;
    best->in_mesh = 1;
    m++;
  }
  while (m > MESH_HIGH) {
    core_peer *worst = NULL;
    for (size_t k = 0; k < c->max_peers; k++) {
      core_peer *q = &c->peers[k];
      if (q->used && q->in_mesh && (!worst || q->score < worst->score)) worst = q;
    }
    worst->in_mesh = 0;
    m--;
  }
}

static void heartbeat(sw_core *c, uint64_t now) {
  for (size_t k = 0; k < c->max_peers; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    if (now - p->seen > PEER_TIMEOUT_MS) { /* PROTOCOL.md 9.4 */
      peer_remove(c, p);
      continue;
    }
    if (now - p->last_pong > LOSS_MS) p->loss = 1;
  }
  maintain_mesh(c);
  uint8_t ping[WIRE_PING_LEN];
  wire_ping_encode(ping, now, c->me.id);
  for (size_t k = 0; k < c->max_peers; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    send_raw(c, peer_best(p), ping, sizeof ping);
    p->last_ping_sent = now;
    p->ping_outstanding = 1;
  }
}

static void expire_frags(sw_core *c, core_peer *p, uint64_t now) {
  for (int i = 0; i < FRAG_SETS; i++)
    if (p->frags[i].used && now >= p->frags[i].expires) frag_set_free(c, &p->frags[i]);
}

void sw_core_timeout(sw_core *c, uint64_t now) {
  c->last_now = now;
  run_dials(c, now);
  for (size_t k = 0; k < c->max_peers; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    deliver_ctx d = {c, p, now};
    jitter_expire(&p->jit, now, deliver_cb, &d);
    if (p->used) expire_frags(c, p, now);
    if (p->used && p->chal.armed && now >= p->chal.deadline) challenge_clear(c, p);
  }
  FOR_MODULES(c, m) if (m->on_timeout) m->on_timeout(m->state, now);
  if (now >= c->next_heartbeat && !c->closing) {
    heartbeat(c, now);
    c->next_heartbeat = now + HEARTBEAT_MS;
  }
}

uint64_t sw_core_deadline(const sw_core *c) {
  uint64_t t = c->closing ? UINT64_MAX : c->next_heartbeat;
  for (int i = 0; i < DIAL_MAX; i++) {
    const dial_entry *d = &c->dials[i];
    if (!d->used) continue;
    uint64_t x = d->sent < PUNCH_TRIES ? d->next_at : d->expire_at;
    if (x < t) t = x;
  }
  for (size_t k = 0; k < c->max_peers; k++) {
    const core_peer *p = &c->peers[k];
    if (!p->used) continue;
    uint64_t j = jitter_deadline(&p->jit);
    if (j < t) t = j;
    for (int i = 0; i < FRAG_SETS; i++)
      if (p->frags[i].used && p->frags[i].expires < t) t = p->frags[i].expires;
    if (p->chal.armed && p->chal.deadline < t) t = p->chal.deadline;
  }
  for (const core_module *m = c->modules; m < c->modules + c->nmodules; m++) {
    uint64_t x = m->deadline ? m->deadline(m->state) : UINT64_MAX;
    if (x < t) t = x;
  }
  return t;
}

void sw_core_flush(sw_core *c, uint64_t now) {
  (void)now;
  if (!c->open_batches) return;
  for (size_t k = 0; k < c->max_peers; k++)
    if (c->peers[k].used && c->peers[k].ocount) batch_close(c, &c->peers[k]);
}

/* ---- output --------------------------------------------------------------- */

size_t sw_core_out_peek(sw_core *c, sw_dgram *out, size_t max) {
  size_t cursor = c->out.head, n = 0;
  while (n < max && n < c->out.count) {
    const outq_rec *r = outq_peek(&c->out, &cursor);
    out[n].kind = (sw_sock_kind)r->kind;
    out[n].to = &r->to;
    out[n].data = outq_rec_data(r);
    out[n].len = r->len;
    n++;
  }
  return n;
}

void sw_core_out_consume(sw_core *c, size_t n, uint64_t now) {
  (void)now;
  for (size_t i = 0; i < n && c->out.count; i++) outq_pop(&c->out);
  c->stats.tx_datagrams += n;
  if (c->want_writable && outq_free_bytes(&c->out) >= c->out.cap / 2) {
    c->want_writable = 0;
    sw_event ev = {.type = SW_EV_WRITABLE};
    emit(c, &ev);
  }
}

size_t sw_core_out_pending(const sw_core *c) { return c->out.count; }

/* ---- API ------------------------------------------------------------------ */

static int check_message(const sw_core *c, const void *data, size_t len) {
  if (c->closing) return SW_ECLOSED;
  if (!data && len) return SW_EINVAL;
  if (len > SW_MAX_MESSAGE) return SW_EMSGSIZE;
  return SW_OK;
}

/* Our own message must not come back to us through the mesh (a local fix, 6.2). Even
 * with a single peer: a peer met while the message travels can flood it back. */
static void remember_own(sw_core *c, const void *data, size_t len, uint64_t now) {
  dedup_set_add(&c->seen, dedup_xor_hash(data, len), now);
}

int sw_core_write(sw_core *c, const uint8_t peer[8], const void *data, size_t len,
                  uint64_t now) {
  int rc = check_message(c, data, len);
  if (rc) return rc;
  core_peer *p = peer ? peer_by_wire(c, peer) : NULL;
  if (!p || !p->tx) return SW_ENOTCONN;
  if (!data_fits_ever(c, len + WIRE_DATA_OVERHEAD)) return SW_EMSGSIZE;
  if (!data_room(c, len + WIRE_DATA_OVERHEAD)) {
    c->want_writable = 1;
    return SW_EAGAIN;
  }
  rc = send_message(c, p, data, len);
  if (rc == SW_OK) remember_own(c, data, len, now);
  return rc;
}

int sw_core_broadcast(sw_core *c, const void *data, size_t len, uint64_t now) {
  int rc = check_message(c, data, len);
  if (rc) return rc;
  size_t n = 0;
  for (size_t k = 0; k < c->max_peers; k++) n += c->peers[k].used && c->peers[k].tx;
  if (!n) return 0;
  /* All or nothing: a broadcast is never half queued. */
  size_t need = n * (len + WIRE_DATA_OVERHEAD + sizeof(outq_rec) + 8 + OPEN_BATCH_COST);
  if (!data_fits_ever(c, need)) return SW_EMSGSIZE; /* raise send_buffer_bytes */
  if (!data_room(c, need)) {
    c->want_writable = 1;
    return SW_EAGAIN;
  }
  int sent = 0;
  for (size_t k = 0; k < c->max_peers; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used || !p->tx) continue;
    rc = send_message(c, p, data, len);
    if (rc) return rc;
    sent++;
  }
  remember_own(c, data, len, now);
  return sent;
}

int sw_core_dial(sw_core *c, const sw_addr *to, const uint8_t *full_id, uint64_t now) {
  int ai;
  if (!to || (to->family != 4 && to->family != 6) || !to->port) return SW_EINVAL;
  if (c->closing) return SW_ECLOSED;
  if (peer_by_addr(c, to, &ai)) return SW_OK;              /* already connected */
  if (full_id && peer_by_wire(c, full_id)) return SW_OK;
  if (full_id && memcmp(full_id, c->me.id, 20) == 0) return SW_EINVAL; /* D9 */
  if (dial_find(c, to)) return SW_OK;                      /* already dialling */
  for (int i = 0; i < DIAL_MAX; i++) {
    dial_entry *d = &c->dials[i];
    if (d->used) continue;
    memset(d, 0, sizeof *d);
    d->used = 1;
    d->to = *to;
    if (full_id) {
      d->has_id = 1;
      memcpy(d->id, full_id, 20);
    }
    d->next_at = now;
    d->expire_at = now + DIAL_EXPIRY_MS;
    run_dials(c, now);
    return SW_OK;
  }
  return SW_EFULL;
}

int sw_core_join(sw_core *c, const uint8_t topic[32]) {
  if (!topic) return SW_EINVAL;
  memcpy(c->topic, topic, 32);
  c->joined = 1;
  FOR_MODULES(c, m) if (m->on_join) m->on_join(m->state, c->last_now);
  return SW_OK;
}

int sw_core_close(sw_core *c, uint64_t now) {
  static const uint8_t goaway[WIRE_GOAWAY_LEN] = {WIRE_GOAWAY, 0};
  if (c->closing) return SW_OK;
  sw_core_flush(c, now); /* queued messages leave before the goodbye */
  c->closing = 1;
  for (size_t k = 0; k < c->max_peers; k++) {
    core_peer *p = &c->peers[k];
    if (!p->used) continue;
    if (p->caps & WIRE_CAP_SEALED) send_sealed(c, p, SEALED_GOAWAY);
    send_raw(c, peer_best(p), goaway, sizeof goaway); /* D7: 2 bytes, so references act */
  }
  for (int i = 0; i < DIAL_MAX; i++) c->dials[i].used = 0;
  FOR_MODULES(c, m) if (m->on_close) m->on_close(m->state, now);
  return SW_OK;
}

size_t sw_core_peer_count(const sw_core *c) { return c->npeers; }

void sw_core_get_stats(const sw_core *c, sw_core_stats *out) { *out = c->stats; }

size_t sw_core_peers(const sw_core *c, sw_core_peer_info *out, size_t max) {
  size_t n = 0;
  for (size_t k = 0; k < c->max_peers; k++) {
    const core_peer *p = &c->peers[k];
    if (!p->used) continue;
    if (n < max) {
      memcpy(out[n].wire_id, p->wire_id, 8);
      out[n].addr = *peer_best(p);
      out[n].rtt_ms = p->rtt;
      out[n].in_mesh = p->in_mesh;
      out[n].reference = p->legacy;
      out[n].verified = p->addrs[p->best].verified;
    }
    n++;
  }
  return n;
}

size_t sw_core_memory(const sw_core *c) {
  size_t n = sizeof *c + c->max_peers * sizeof(core_peer) + c->out.cap +
             dedup_set_bytes(&c->seen);
  for (const core_module *m = c->modules; m < c->modules + c->nmodules; m++)
    if (m->memory) n += m->memory(m->state);
  return n;
}

void sw_core_identity(const sw_core *c, uint8_t pub[32], uint8_t id[20]) {
  if (pub) memcpy(pub, c->me.pub, 32);
  if (id) memcpy(id, c->me.id, 20);
}

int sw_core_new(sw_core **out, const sw_core_config *cfg, uint64_t now) {
  int rc;
  *out = NULL;
  if (!cfg || !cfg->random) return SW_EINVAL;
  sw_core *c = calloc(1, sizeof *c);
  if (!c) return SW_ENOMEM;
  c->cfg = *cfg;
  pubaddr_init(&c->pub, cfg->lan_ip, cfg->port);
  c->cfg.seed_hex = NULL; /* not kept: the caller owns the text */
  c->cfg.lan_ip = NULL;   /* pubaddr.c copies what it needs */
  c->cfg.dht = NULL;      /* dht.c copies what it needs */
  c->cfg.bootstrap_http = c->cfg.piping = NULL; /* httpboot.c, piping.c copy them */
  if (cfg->seed_hex) {
    rc = crypto_identity_from_hex(&c->me, cfg->seed_hex);
  } else {
    uint8_t r[32];
    cfg->random(cfg->ctx, r, sizeof r);
    rc = crypto_identity_from_random(&c->me, r);
  }
  if (rc) {
    free(c);
    return rc;
  }
  c->max_peers = cfg->max_peers ? cfg->max_peers : DEFAULT_MAX_PEERS;
  c->peers = calloc(c->max_peers, sizeof *c->peers);
  size_t outbytes = cfg->out_buffer_bytes ? cfg->out_buffer_bytes : DEFAULT_OUT_BYTES;
  if (outbytes < MIN_OUT_BYTES) {
    free(c->peers);
    free(c);
    return SW_EINVAL;
  }
  if (!c->peers || (rc = outq_init(&c->out, outbytes)) != SW_OK ||
      (rc = dedup_set_init(&c->seen, cfg->dedup_slots_log2 ? cfg->dedup_slots_log2
                                                           : DEFAULT_DEDUP_LOG2, now))) {
    sw_core_free(c);
    return rc ? rc : SW_ENOMEM;
  }
  c->next_heartbeat = now + HEARTBEAT_MS; /* PROTOCOL.md 9.4: first tick 1 s after start */
  c->meet_tokens = MEET_BURST;
  c->meet_refill_at = now;
  /* Discovery modules, in their own files (lan.c, pex.c, peercache.c). */
  peercache *pc = NULL;
  if ((cfg->peer_cache && (rc = peercache_attach(c, cfg, now, &pc)) != SW_OK) ||
      (cfg->pex && (rc = pex_attach(c, pc, now, NULL)) != SW_OK) ||
      (cfg->lan && (rc = lan_attach(c, cfg, now, NULL)) != SW_OK)) {
    sw_core_free(c);
    return rc;
  }
  if (cfg->dht && (rc = dht_attach(c, cfg->dht, now)) != SW_OK) {
    sw_core_free(c);
    return rc;
  }
  if (cfg->http && ((rc = httpboot_attach(c, cfg, now, NULL)) != SW_OK ||
                    (rc = piping_attach(c, cfg, now, NULL)) != SW_OK)) {
    sw_core_free(c);
    return rc;
  }
  if (cfg->sync && (rc = sync_attach(c, cfg->store_cache_max, cfg->store_cache_bytes,
                                     cfg->storage)) != SW_OK) {
    sw_core_free(c);
    return rc;
  }
  if ((rc = seeds_attach(c)) != SW_OK) {
    sw_core_free(c);
    return rc;
  }
  *out = c;
  return SW_OK;
}

static void http_slot_free(http_slot *h) {
  free(h->url);
  free(h->ctype);
  free(h->body);
  memset(h, 0, sizeof *h);
}

void sw_core_free(sw_core *c) {
  if (!c) return;
  FOR_MODULES(c, m) if (m->free) m->free(m->state);
  for (int i = 0; i < HTTP_MAX; i++) http_slot_free(&c->http[i]);
  if (c->peers)
    for (size_t k = 0; k < c->max_peers; k++)
      if (c->peers[k].used) peer_clear(c, &c->peers[k]);
  free(c->peers);
  outq_free(&c->out);
  dedup_set_free(&c->seen);
  memset(&c->me, 0, sizeof c->me);
  free(c);
}

/* ---- services to modules (core_internal.h) ------------------------------- */

int core_add_module(sw_core *c, const core_module *m) {
  if (c->nmodules == CORE_MAX_MODULES) return SW_EFULL;
  c->modules[c->nmodules++] = *m;
  return SW_OK;
}

void core_send(sw_core *c, sw_sock_kind kind, const sw_addr *to, const uint8_t *d, size_t len) {
  if (outq_push(&c->out, (uint8_t)kind, to, d, len)) c->stats.ctrl_dropped++;
}

int core_send_ctrl(sw_core *c, const uint8_t wire[8], const uint8_t *frame, size_t len) {
  core_peer *p = peer_by_wire(c, wire);
  if (!p) return SW_ENOTCONN;
  if (c->closing) return SW_ECLOSED;
  if (len + 2 > WIRE_BATCH_MTU) {
    /* too big to share a datagram: alone, after what is already queued */
    if (len > WIRE_UDP_MAX) return SW_EMSGSIZE;
    if (!data_room(c, len)) return SW_EAGAIN;
    batch_close(c, p);
    return outq_push(&c->out, SW_SOCK_MAIN, peer_best(p), frame, len);
  }
  if (!data_room(c, len)) return SW_EAGAIN;
  uint8_t *slot = batch_slot(c, p, len);
  memcpy(slot, frame, len);
  batch_commit(p, len);
  return SW_OK;
}

int core_meet(sw_core *c, const sw_addr *addr, const uint8_t *full_id, uint64_t now) {
  /* D19: a token bucket bounds the HELLOs discovery data can make us send. */
  if (now > c->meet_refill_at) {
    c->meet_tokens += (double)(now - c->meet_refill_at) * MEET_RATE_PER_S / 1000.0;
    if (c->meet_tokens > MEET_BURST) c->meet_tokens = MEET_BURST;
    c->meet_refill_at = now;
  }
  int ai;
  if (full_id && (memcmp(full_id, c->me.id, 20) == 0)) return SW_EINVAL; /* D9 */
  if (full_id && peer_by_wire(c, full_id)) return SW_OK; /* D10: compare wire ids */
  if (peer_by_addr(c, addr, &ai) || dial_find(c, addr)) return SW_OK;
  if (c->meet_tokens < 1) return SW_EFULL;
  c->meet_tokens -= 1;
  return sw_core_dial(c, addr, full_id, now);
}

void core_rand(sw_core *c, void *buf, size_t n) { rnd(c, buf, n); }

const crypto_identity *core_identity(const sw_core *c) { return &c->me; }

const uint8_t *core_topic(const sw_core *c) { return c->joined ? c->topic : NULL; }

int core_connected(const sw_core *c, const uint8_t wire[8]) {
  return peer_by_wire((sw_core *)c, wire) != NULL;
}

int core_verified_peer(sw_core *c, const sw_addr *from, uint8_t wire[8]) {
  int ai;
  core_peer *p = peer_by_addr(c, from, &ai);
  if (!p || !p->addrs[ai].verified) return 0;
  if (wire) memcpy(wire, p->wire_id, 8);
  return 1;
}

int core_peer_at(sw_core *c, const sw_addr *from, uint8_t wire[8]) {
  int ai;
  core_peer *p = peer_by_addr(c, from, &ai);
  if (!p) return 0;
  if (wire) memcpy(wire, p->wire_id, 8);
  return CORE_PEER_MAPPED | (p->addrs[ai].verified ? CORE_PEER_VERIFIED : 0) |
         (p->legacy ? CORE_PEER_LEGACY : 0);
}

void *core_module_state(sw_core *c, const char *name) {
  FOR_MODULES(c, m) if (m->name && strcmp(m->name, name) == 0) return m->state;
  return NULL;
}

void core_prove(sw_core *c, const uint8_t wire[8]) {
  core_peer *p = peer_by_wire(c, wire);
  if (p && p->tx && (p->caps & WIRE_CAP_SEALED) && !c->closing) send_sealed(c, p, SEALED_PROOF);
}

void core_emit(sw_core *c, const sw_event *ev) { emit(c, ev); }

const pubaddr *core_pubaddr(const sw_core *c) { return &c->pub; }

void core_learn_public_addr(sw_core *c, const sw_addr *a, int source, uint64_t now) {
  if (!pubaddr_learn(&c->pub, a, source, now)) return;
  FOR_MODULES(c, m) if (m->on_public_addr) m->on_public_addr(m->state, a->family, now);
}

int core_http(sw_core *c, const char *method, const char *url, const char *content_type,
              const uint8_t *body, size_t len, uint32_t timeout_ms, core_http_cb cb, void *ctx) {
  if (!method || strlen(method) >= sizeof c->http[0].method || !url || !cb) return SW_EINVAL;
  if (c->closing) return SW_ECLOSED;
  for (int i = 0; i < HTTP_MAX; i++) {
    http_slot *h = &c->http[i];
    if (h->state) continue;
    h->url = strdup(url);
    h->ctype = content_type ? strdup(content_type) : NULL;
    h->body = len ? malloc(len) : NULL;
    if (!h->url || (content_type && !h->ctype) || (len && !h->body)) {
      http_slot_free(h);
      return SW_ENOMEM;
    }
    if (len) memcpy(h->body, body, len);
    memcpy(h->method, method, strlen(method) + 1);
    h->len = len;
    h->timeout_ms = timeout_ms;
    h->cb = cb;
    h->ctx = ctx;
    c->http_next_id = c->http_next_id % 0x7fffffff + 1; /* 1 .. 2^31-1 */
    h->id = c->http_next_id;
    h->state = 1;
    return (int)h->id;
  }
  return SW_EFULL;
}

int sw_core_http_take(sw_core *c, sw_http_request *out) {
  for (int i = 0; i < HTTP_MAX; i++) {
    http_slot *h = &c->http[i];
    if (h->state != 1) continue;
    h->state = 2;
    out->id = h->id;
    out->method = h->method;
    out->url = h->url;
    out->content_type = h->ctype;
    out->body = h->body;
    out->len = h->len;
    out->timeout_ms = h->timeout_ms;
    return 1;
  }
  return 0;
}

void sw_core_http_done(sw_core *c, uint32_t id, int status, const uint8_t *body, size_t len,
                       uint64_t now) {
  c->last_now = now;
  for (int i = 0; i < HTTP_MAX; i++) {
    http_slot *h = &c->http[i];
    if (h->state != 2 || h->id != id) continue;
    core_http_cb cb = h->cb;
    void *ctx = h->ctx;
    http_slot_free(h); /* free first: the callback may ask for the next request */
    cb(ctx, status, body, len, now);
    return;
  }
}
