/* Relayed connections: see relay.h. */
#include "relay.h"

#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "dht.h"
#include "wire.h"

enum { TO_RELAY = 0, FROM_RELAY = 1 };

typedef struct circuit {
  int used;
  uint8_t a[8], b[8]; /* the two ends, in the order the first datagram went */
  sw_addr opener;     /* where a's first datagram came from (the per-address bound) */
  uint64_t started, last, bytes;
} circuit;

typedef struct pending {
  int used;
  uint8_t id[20];
  uint64_t due;
  int rounds; /* relayed dials made so far (RELAY_DIAL_ROUNDS) */
} pending;

typedef struct known_relay {
  uint8_t id[8];
  sw_addr addr;
  uint64_t seen; /* 0: free */
} known_relay;

typedef struct proof {
  uint8_t via[8];
  uint64_t at;
} proof;

typedef struct relay {
  sw_core *c;
  int serving;
  proof proofs[RELAY_PROOFS];
  uint64_t next_ann; /* serving: when RELAY_ANN goes to reference peers again */
  circuit circ[RELAY_CIRCUITS];
  pending pend[RELAY_PENDING];
  known_relay known[RELAY_KNOWN];
  relay_stats st;
  uint8_t buf[WIRE_UDP_MAX];
} relay;

/* ---- the far end's side: sending through a relay ----------------------------------- */

/* The relay forwards only what comes from an address it verified; our NAT may have given
 * us a new mapping since (a rebinding, a router restarted), and the relay's heartbeats
 * to us prove nothing of it. So a proof goes with our relayed traffic, at most once per
 * RELAY_PROVE_MS per relay, in the same datagram and before it. */
static void prove_to_relay(relay *r, const uint8_t via[8]) {
  proof *slot = &r->proofs[0];
  int found = 0;
  for (int i = 0; i < RELAY_PROOFS; i++) {
    if (r->proofs[i].at && memcmp(r->proofs[i].via, via, 8) == 0) {
      slot = &r->proofs[i];
      found = 1;
      break;
    }
    if (r->proofs[i].at < slot->at) slot = &r->proofs[i];
  }
  uint64_t now = core_now(r->c);
  if (found && now - slot->at < RELAY_PROVE_MS) return;
  memcpy(slot->via, via, 8);
  slot->at = now ? now : 1;
  core_prove(r->c, via);
}

static int wrap_send(void *st, const core_path *to, const uint8_t *frame, size_t len) {
  relay *r = st;
  if (len + RELAY_HDR > sizeof r->buf) return SW_EMSGSIZE;
  prove_to_relay(r, to->via);
  r->buf[0] = WIRE_CIRCUIT;
  r->buf[1] = TO_RELAY;
  memcpy(r->buf + 2, to->far, 8);
  memcpy(r->buf + RELAY_HDR, frame, len);
  /* the relay is a connected peer: the request goes in that session's batch */
  return core_send_ctrl(r->c, to->via, r->buf, RELAY_HDR + len);
}

/* ---- the relay's side ---------------------------------------------------------------- */

static int same_pair(const circuit *k, const uint8_t x[8], const uint8_t y[8]) {
  return (memcmp(k->a, x, 8) == 0 && memcmp(k->b, y, 8) == 0) ||
         (memcmp(k->a, y, 8) == 0 && memcmp(k->b, x, 8) == 0);
}

static int same_ip(const sw_addr *p, const sw_addr *q) {
  return p->family == q->family && memcmp(p->ip, q->ip, 16) == 0;
}

/* The circuit between x (at `from`) and y, opened when the bounds allow; NULL when
 * refused. Identities are free to make, addresses are not: one IP holds at most
 * RELAY_PER_ADDR circuits whatever ids it shows. */
static circuit *circuit_for(relay *r, const uint8_t x[8], const sw_addr *from,
                            const uint8_t y[8], uint64_t now) {
  circuit *free_slot = NULL;
  int per_x = 0, per_addr = 0;
  for (int i = 0; i < RELAY_CIRCUITS; i++) {
    circuit *k = &r->circ[i];
    if (k->used && now - k->last > RELAY_IDLE_MS) k->used = 0;
    if (!k->used) {
      if (!free_slot) free_slot = k;
      continue;
    }
    if (same_pair(k, x, y)) return k;
    per_x += memcmp(k->a, x, 8) == 0 || memcmp(k->b, x, 8) == 0;
    per_addr += same_ip(&k->opener, from);
  }
  if (!free_slot || per_x >= RELAY_PER_PEER || per_addr >= RELAY_PER_ADDR) return NULL;
  /* The target hears us only on a path it verified; the session's first proof may have
   * been lost: prove again as the circuit opens. */
  core_prove(r->c, y);
  memset(free_slot, 0, sizeof *free_slot);
  free_slot->used = 1;
  memcpy(free_slot->a, x, 8);
  memcpy(free_slot->b, y, 8);
  free_slot->opener = *from;
  free_slot->started = free_slot->last = now;
  r->st.circuits++;
  return free_slot;
}

static void forward(relay *r, const uint8_t sender[8], const sw_addr *from, const uint8_t *buf,
                    size_t len, uint64_t now) {
  const uint8_t *target = buf + 2;
  circuit *k = NULL;
  if (len > sizeof r->buf) { /* an IPv6 datagram can exceed what we ever send on */
    r->st.refused++;
    return;
  }
  if (r->serving && core_connected(r->c, target) && memcmp(target, sender, 8) != 0)
    k = circuit_for(r, sender, from, target, now);
  if (!k || k->bytes + len > RELAY_CIRCUIT_BYTES || now - k->started > RELAY_CIRCUIT_MS) {
    r->st.refused++;
    return;
  }
  memcpy(r->buf, buf, len);
  r->buf[1] = FROM_RELAY;
  memcpy(r->buf + 2, sender, 8); /* the origin, as this relay vouches for it */
  if (core_send_ctrl(r->c, target, r->buf, len) != SW_OK) {
    r->st.refused++;
    return;
  }
  k->bytes += len;
  k->last = now;
  r->st.forwarded++;
  r->st.forwarded_bytes += len;
}

/* ---- RELAY_ANN (PROTOCOL.md 11.7, 15.3) ------------------------------------------- */

int relay_ann_decode(const uint8_t *b, size_t len, uint8_t id[8], sw_addr *addr) {
  /* the references' reading: at least 12 bytes, the IP text within the frame */
  if (len < 12 || b[0] != WIRE_RELAY_ANN) return SW_EINVAL;
  size_t l = b[9];
  char ip[46];
  if (l == 0 || l >= sizeof ip || 10 + l + 2 > len) return SW_EINVAL;
  memcpy(ip, b + 10, l);
  ip[l] = 0;
  uint16_t port = wire_get16(b + 10 + l);
  if (!port || addr_parse_ip(addr, ip, port) != SW_OK) return SW_EINVAL;
  memcpy(id, b + 1, 8);
  return SW_OK;
}

size_t relay_ann_encode(uint8_t *out, const uint8_t id[8], const sw_addr *addr) {
  char ip[46];
  if (addr_format_ip(addr, ip, sizeof ip) <= 0 || !addr->port) return 0;
  size_t l = strlen(ip);
  out[0] = WIRE_RELAY_ANN;
  memcpy(out + 1, id, 8);
  out[9] = (uint8_t)l;
  memcpy(out + 10, ip, l);
  wire_put16(out + 10 + l, addr->port);
  return 10 + l + 2;
}

/* Where reference peers may reach us: the public address with its mapped port, else the
 * LAN address (a relay on a public host has them equal). */
static const sw_addr *ann_addr(sw_core *c) {
  const sw_addr *pub = core_public_addr(c, 4);
  if (pub && pub->port) return pub;
  const sw_addr *lan = core_lan_addr(c);
  return lan->family && lan->port ? lan : NULL;
}

/* RELAY_ANN to connected reference peers (only they read it; ours learn relays from the
 * sessions they hold), at most RELAY_ANN_PEERS of them. Sent in each peer's batch. */
static void announce(relay *r, const uint8_t *only) {
  const sw_addr *me = ann_addr(r->c);
  uint8_t f[RELAY_ANN_MAX];
  size_t n = me ? relay_ann_encode(f, core_identity(r->c)->id, me) : 0;
  if (!n) return;
  sw_core_peer_info peers[RELAY_ANN_PEERS];
  size_t np = sw_core_peers(r->c, peers, RELAY_ANN_PEERS);
  for (size_t i = 0; i < np && i < RELAY_ANN_PEERS; i++) {
    if (!peers[i].reference || (only && memcmp(only, peers[i].wire_id, 8) != 0)) continue;
    if (core_send_ctrl(r->c, peers[i].wire_id, f, n) == SW_OK) r->st.anns_sent++;
  }
}

/* A RELAY_ANN from a verified peer: remember the relay (RELAY_KNOWN, oldest replaced).
 * Informational: a reference relay carries no CIRCUIT, so ours never route through it. */
static void on_ann(relay *r, const core_path *from, const uint8_t *buf, size_t len,
                   uint64_t now) {
  uint8_t id[8];
  sw_addr addr;
  if (!(core_peer_at(r->c, from, NULL) & CORE_PEER_VERIFIED) ||
      relay_ann_decode(buf, len, id, &addr) ||
      memcmp(id, core_identity(r->c)->id, 8) == 0) {
    r->st.refused++;
    return;
  }
  r->st.anns_in++;
  known_relay *slot = &r->known[0];
  for (int i = 0; i < RELAY_KNOWN; i++) {
    known_relay *k = &r->known[i];
    if (k->seen && memcmp(k->id, id, 8) == 0) {
      slot = k;
      break;
    }
    if (k->seen < slot->seen) slot = k;
  }
  memcpy(slot->id, id, 8);
  slot->addr = addr;
  slot->seen = now ? now : 1;
}

static void relay_frame(void *m, const core_path *from, const uint8_t *buf, size_t len,
                        uint64_t now) {
  relay *r = m;
  uint8_t sender[8];
  if (buf[0] == WIRE_RELAY_ANN) {
    on_ann(r, from, buf, len, now);
    return;
  }
  /* Only from a peer that proved its key on this path (D6), never nested in a relay. */
  if (len <= RELAY_HDR || from->relayed || !core_verified_peer(r->c, from, sender) ||
      buf[1] > FROM_RELAY) {
    r->st.refused++;
    return;
  }
  if (buf[1] == TO_RELAY) {
    forward(r, sender, &from->addr, buf, len, now);
    return;
  }
  /* We are the far end: the inner datagram re-enters on the relayed path. */
  core_path path = {.addr = from->addr, .relayed = 1};
  memcpy(path.via, sender, 8);
  memcpy(path.far, buf + 2, 8);
  r->st.delivered++;
  core_datagram_relayed(r->c, &path, buf + RELAY_HDR, len - RELAY_HDR, now);
}

/* ---- falling back to a relay ---------------------------------------------------------- */

static void relay_meet(void *m, const sw_addr *addr, const uint8_t *full_id, uint64_t now) {
  relay *r = m;
  (void)addr;
  if (!full_id) return;
  pending *slot = NULL;
  for (int i = 0; i < RELAY_PENDING; i++) {
    pending *p = &r->pend[i];
    if (p->used && memcmp(p->id, full_id, 20) == 0) return; /* already watched */
    if (!p->used && !slot) slot = p;
  }
  if (!slot) return;
  slot->used = 1;
  memcpy(slot->id, full_id, 20);
  slot->due = now + RELAY_AFTER_MS;
  slot->rounds = 0;
}

/* Dial the peer through up to RELAY_TRY libsetowire peers we hold a session with. */
static void dial_relayed(relay *r, const uint8_t id[20], uint64_t now) {
  sw_core_peer_info peers[16];
  size_t n = sw_core_peers(r->c, peers, 16), tried = 0;
  for (size_t i = 0; i < n && i < 16 && tried < RELAY_TRY; i++) {
    if (peers[i].reference || memcmp(peers[i].wire_id, id, 8) == 0) continue;
    core_prove(r->c, peers[i].wire_id); /* the relay hears only a path it verified */
    core_path path = {.addr = peers[i].addr, .relayed = 1};
    memcpy(path.via, peers[i].wire_id, 8);
    memcpy(path.far, id, 8);
    if (core_dial_path(r->c, &path, now) == SW_OK) {
      tried++;
      r->st.dials++;
    }
  }
}

static void relay_timeout(void *m, uint64_t now) {
  relay *r = m;
  if (r->serving && now >= r->next_ann) {
    r->next_ann = now + RELAY_ANN_MS;
    announce(r, NULL);
  }
  for (int i = 0; i < RELAY_PENDING; i++) {
    pending *p = &r->pend[i];
    if (!p->used || now < p->due) continue;
    /* A relayed HELLO or its answer can be lost like any datagram, and nothing else
     * repeats it (core_dial_path sends once): a few rounds, then the watch ends. */
    if (core_connected(r->c, p->id) || p->rounds >= RELAY_DIAL_ROUNDS) {
      p->used = 0;
      continue;
    }
    p->rounds++;
    p->due = now + RELAY_DIAL_EVERY_MS;
    dial_relayed(r, p->id, now);
  }
}

static uint64_t relay_deadline(const void *m) {
  const relay *r = m;
  uint64_t t = r->serving ? r->next_ann : UINT64_MAX;
  for (int i = 0; i < RELAY_PENDING; i++)
    if (r->pend[i].used && r->pend[i].due < t) t = r->pend[i].due;
  return t;
}

static void relay_close(void *m, uint64_t now) {
  relay *r = m;
  (void)now;
  memset(r->pend, 0, sizeof r->pend);
  r->serving = 0;
}

/* A reference peer that connects to a serving relay hears of it at once, not up to
 * RELAY_ANN_MS later. */
static void relay_connection(void *m, const uint8_t wire[8], const sw_addr *addr,
                             uint64_t now) {
  relay *r = m;
  (void)addr;
  (void)now;
  if (r->serving) announce(r, wire);
}

static size_t relay_memory(const void *m) {
  (void)m;
  return sizeof(relay);
}

static int relay_attach(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  static const uint8_t frames[] = {WIRE_CIRCUIT, WIRE_RELAY_ANN};
  if (!cfg->relayed) return SW_OK;
  relay *r = calloc(1, sizeof *r);
  if (!r) return SW_ENOMEM;
  r->c = c;
  r->serving = cfg->relay_serve;
  r->next_ann = now;
  core_module m = {.name = "relay", .frames = frames, .nframes = sizeof frames,
                   .on_frame = relay_frame, .on_meet = relay_meet,
                   .on_connection = relay_connection, .on_timeout = relay_timeout,
                   .deadline = relay_deadline, .on_close = relay_close, .free = free,
                   .memory = relay_memory, .state = r};
  int rc = core_add_module(c, &m);
  if (rc) {
    free(r);
    return rc;
  }
  core_set_relay(c, wrap_send, r);
  return SW_OK;
}

const core_module_def relay_module = {"relay", relay_attach};

void relay_serve(sw_core *c, int on) {
  relay *r = core_module_state(c, "relay");
  if (!r) return;
  if (on && !r->serving) r->next_ann = 0; /* announce on the next timeout */
  r->serving = on;
  /* 15.3: a relay also says so in the DHT (a relay: record), however it became one */
  dht_set_relay(c, on);
}

size_t relay_known(sw_core *c, uint8_t (*ids)[8], sw_addr *addrs, size_t max) {
  relay *r = core_module_state(c, "relay");
  size_t n = 0;
  for (int i = 0; r && i < RELAY_KNOWN; i++) {
    if (!r->known[i].seen) continue;
    if (n < max) {
      if (ids) memcpy(ids[n], r->known[i].id, 8);
      if (addrs) addrs[n] = r->known[i].addr;
    }
    n++;
  }
  return n;
}

int relay_get_stats(sw_core *c, relay_stats *out, int *serving) {
  relay *r = core_module_state(c, "relay");
  if (!r) return SW_EINVAL;
  if (out) *out = r->st;
  if (serving) *serving = r->serving;
  return SW_OK;
}
