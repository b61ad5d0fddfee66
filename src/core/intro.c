/* Introductions: see intro.h. */
#include "intro.h"

#include <stdlib.h>
#include <string.h>

#include "birthday.h"
#include "core_internal.h"
#include "nat.h"
#include "wire.h"

typedef struct asked {
  uint8_t target[8];
  uint64_t at;      /* when this window's first request went */
  uint64_t next;    /* when to ask again while not connected; 0: no more */
  int tries;        /* requests sent in this window */
  uint8_t nat_sent; /* our NAT type as the last request said it */
} asked;

/* A forward that came before we knew our own NAT type: looked at again once we do. */
typedef struct heard {
  uint8_t requester[8], sender[8];
  sw_addr addr;
  uint8_t nat;
  uint64_t at; /* 0: free */
} heard;

typedef struct intro {
  sw_core *c;
  asked recent[INTRO_TARGETS]; /* targets we asked about, oldest replaced */
  heard early[INTRO_EARLY];    /* forwards heard before our NAT type, oldest replaced */
  uint8_t nat_seen;            /* our NAT type at the last timeout */
  double tokens;
  uint64_t refill_at;
  intro_stats st;
} intro;

/* ---- codec -------------------------------------------------------------------- */

int intro_decode(const uint8_t *b, size_t len, intro_msg *m) {
  size_t off;
  memset(m, 0, sizeof *m);
  if (len < 1) return SW_EINVAL;
  m->type = b[0];
  if (m->type == WIRE_RELAY_REQ) {
    if (len < 18) return SW_EINVAL;
    memcpy(m->requester, b + 1, 8);
    memcpy(m->target, b + 9, 8);
    off = 17;
  } else if (m->type == WIRE_RELAY_FWD) {
    if (len < 10) return SW_EINVAL;
    memcpy(m->requester, b + 1, 8);
    off = 9;
  } else {
    return SW_EINVAL;
  }
  size_t l = b[off];
  char ip[46];
  if (l == 0 || l >= sizeof ip || off + 1 + l + 2 > len || len > off + 1 + l + 2 + 1)
    return SW_EINVAL;
  if (len == off + 1 + l + 2 + 1 && b[len - 1] <= INTRO_NAT_MAX) m->nat = b[len - 1];
  memcpy(ip, b + off + 1, l);
  ip[l] = 0;
  uint16_t port = wire_get16(b + off + 1 + l);
  if (!port || addr_parse_ip(&m->addr, ip, port) != SW_OK) return SW_EINVAL;
  return SW_OK;
}

size_t intro_encode(uint8_t *out, const intro_msg *m) {
  char ip[46];
  if (addr_format_ip(&m->addr, ip, sizeof ip) <= 0) return 0;
  size_t l = strlen(ip), off;
  out[0] = m->type;
  memcpy(out + 1, m->requester, 8);
  if (m->type == WIRE_RELAY_REQ) {
    memcpy(out + 9, m->target, 8);
    off = 17;
  } else {
    off = 9;
  }
  out[off] = (uint8_t)l;
  memcpy(out + off + 1, ip, l);
  wire_put16(out + off + 1 + l, m->addr.port);
  if (m->nat == INTRO_NAT_NONE || m->nat > INTRO_NAT_MAX) return off + 1 + l + 2;
  out[off + 1 + l + 2] = m->nat;
  return off + 1 + l + 2 + 1;
}

/* ---- asking ------------------------------------------------------------------ */

/* The entry for a new request about this target, or NULL when one went within
 * INTRO_TARGET_MS (that window's retries, if any, are already scheduled). */
static asked *ask_now(intro *in, const uint8_t target[8], uint64_t now) {
  asked *oldest = &in->recent[0];
  for (int i = 0; i < INTRO_TARGETS; i++) {
    asked *a = &in->recent[i];
    if (a->at && memcmp(a->target, target, 8) == 0) {
      if (now - a->at < INTRO_TARGET_MS) return NULL;
      oldest = a;
      break;
    }
    if (a->at < oldest->at) oldest = a;
  }
  memcpy(oldest->target, target, 8);
  oldest->at = now ? now : 1;
  oldest->tries = 0;
  oldest->next = 0;
  oldest->nat_sent = INTRO_NAT_NONE;
  return oldest;
}

/* Our address for the request: the public one with its mapped port, else the LAN one.
 * A libsetowire relay uses what it sees instead; a reference relay uses this. */
static const sw_addr *own_addr(sw_core *c) {
  const sw_addr *pub = core_public_addr(c, 4);
  if (pub && pub->port) return pub;
  const sw_addr *lan = core_lan_addr(c);
  return lan->family && lan->port ? lan : NULL;
}

static uint8_t own_nat(sw_core *c) {
  int t = nat_own_type(c);
  return t > 0 && t <= INTRO_NAT_MAX ? (uint8_t)t : INTRO_NAT_NONE;
}

/* RELAY_REQ about target to a few of our verified peers. */
static void request(intro *in, asked *a, const uint8_t *full_id) {
  const sw_addr *me = own_addr(in->c);
  if (!me) return;
  intro_msg req = {.type = WIRE_RELAY_REQ, .addr = *me, .nat = own_nat(in->c)};
  a->nat_sent = req.nat;
  memcpy(req.requester, core_identity(in->c)->id, 8);
  memcpy(req.target, full_id, 8);
  uint8_t frame[INTRO_FRAME_MAX];
  size_t n = intro_encode(frame, &req);
  if (!n) return;
  sw_core_peer_info peers[INTRO_ASK_PEERS * 4];
  size_t np = sw_core_peers(in->c, peers, sizeof peers / sizeof *peers), asked_n = 0;
  for (size_t i = 0; i < np && i < sizeof peers / sizeof *peers && asked_n < INTRO_ASK_PEERS;
       i++) {
    if (peers[i].reference || memcmp(peers[i].wire_id, full_id, 8) == 0) continue;
    /* The peer hears us only on a path it verified: the proof sent when the session
     * formed can be lost or overtaken, so one goes again, in the same batch, first. */
    core_prove(in->c, peers[i].wire_id);
    if (core_send_ctrl(in->c, peers[i].wire_id, frame, n) == SW_OK) {
      asked_n++;
      in->st.requests_sent++;
    }
  }
}

static void intro_meet(void *m, const sw_addr *addr, const uint8_t *full_id, uint64_t now) {
  intro *in = m;
  (void)addr;
  asked *a;
  if (!full_id || (a = ask_now(in, full_id, now)) == NULL) return;
  request(in, a, a->target);
  a->tries = 1;
  a->next = INTRO_TRIES > 1 ? now + INTRO_RETRY_MS : 0;
}

/* Neither RELAY_REQ nor RELAY_FWD is acknowledged: while we are not connected to the
 * target, ask again, INTRO_TRIES requests in all, INTRO_RETRY_MS apart. */
static void retry(intro *in, uint64_t now) {
  for (int i = 0; i < INTRO_TARGETS; i++) {
    asked *a = &in->recent[i];
    if (!a->next || now < a->next) continue;
    if (core_connected(in->c, a->target) || a->tries >= INTRO_TRIES) {
      a->next = 0;
      continue;
    }
    request(in, a, a->target);
    in->st.retries++;
    a->tries++;
    a->next = a->tries < INTRO_TRIES ? now + INTRO_RETRY_MS : 0;
  }
}

/* ---- answering ------------------------------------------------------------------- */

/* A forward told us the requester's NAT type and we know ours. A hard side facing an
 * easy one (birthday.h): both must know. Ours goes back the same way, as a request of
 * our own through the peer that forwarded (once per target per INTRO_TARGET_MS, and the
 * requester has just asked about us, so the two never ping-pong). */
static void pair_types(intro *in, const uint8_t requester[8], const uint8_t sender[8],
                       const sw_addr *addr, uint8_t nat, uint64_t now) {
  uint8_t mine = own_nat(in->c);
  if (!birthday_role(mine, nat)) return;
  birthday_intro(in->c, requester, addr, nat, now);
  const sw_addr *me = own_addr(in->c);
  asked *a;
  if (!me || (a = ask_now(in, requester, now)) == NULL) return;
  a->nat_sent = mine;
  intro_msg back = {.type = WIRE_RELAY_REQ, .addr = *me, .nat = mine};
  memcpy(back.requester, core_identity(in->c)->id, 8);
  memcpy(back.target, requester, 8);
  uint8_t frame[INTRO_FRAME_MAX];
  size_t n = intro_encode(frame, &back);
  core_prove(in->c, sender);
  if (n && core_send_ctrl(in->c, sender, frame, n) == SW_OK) in->st.requests_sent++;
}

/* The forward budget grows with the peers we serve: a rendezvous that hundreds of peers
 * joined gets, from its own PEX round, up to PEX_MAX meets from each of them at once, and
 * each meet asks it for an introduction. One request makes at most one forward, from a
 * verified peer in its own name to a connected target, so this bounds our traffic, not
 * an amplification. */
static int fwd_allowed(intro *in, uint64_t now) {
  if (now > in->refill_at) {
    double np = (double)sw_core_peer_count(in->c);
    double cap = INTRO_FWD_BURST + np * INTRO_FWD_PEER_BURST;
    in->tokens +=
        (double)(now - in->refill_at) * (INTRO_FWD_PER_S + np * INTRO_FWD_PEER_PER_S) / 1000.0;
    if (in->tokens > cap) in->tokens = cap;
    in->refill_at = now;
  }
  if (in->tokens < 1) return 0;
  in->tokens -= 1;
  return 1;
}

static void intro_frame(void *m, const core_path *from, const uint8_t *buf, size_t len,
                        uint64_t now) {
  intro *in = m;
  uint8_t sender[8];
  intro_msg msg;
  /* D6, D25: introductions only from peers that proved their key on this path. */
  if (!core_verified_peer(in->c, from, sender) || intro_decode(buf, len, &msg)) {
    in->st.refused++;
    return;
  }
  if (msg.type == WIRE_RELAY_REQ) {
    in->st.requests_in++;
    /* Only in the sender's own name, only to a peer we have, and at our pace. */
    if (memcmp(msg.requester, sender, 8) != 0 || !core_connected(in->c, msg.target) ||
        memcmp(msg.target, sender, 8) == 0 || !fwd_allowed(in, now)) {
      in->st.refused++;
      return;
    }
    /* The address we see the requester at is its NAT's mapping: the one the target can
     * punch toward. A relayed requester has none to give. */
    if (from->relayed) return;
    intro_msg fwd = {.type = WIRE_RELAY_FWD, .addr = from->addr, .nat = msg.nat};
    memcpy(fwd.requester, sender, 8);
    uint8_t frame[INTRO_FRAME_MAX];
    size_t n = intro_encode(frame, &fwd);
    core_prove(in->c, msg.target); /* as above: the target hears only a verified path */
    if (n && core_send_ctrl(in->c, msg.target, frame, n) == SW_OK) in->st.forwards_sent++;
    return;
  }
  in->st.forwards_in++;
  /* Connected only through a relay still punches: the direct path replaces it (15.7). */
  if (memcmp(msg.requester, core_identity(in->c)->id, 8) == 0 ||
      core_connected_direct(in->c, msg.requester))
    return;
  /* The meet gate dials (rate-limited, D19); the HELLO that answers proves the key. */
  if (core_meet(in->c, &msg.addr, NULL, now) == SW_OK) in->st.dials++;
  if (msg.nat == INTRO_NAT_NONE || from->relayed) return;
  if (own_nat(in->c) != INTRO_NAT_NONE) {
    pair_types(in, msg.requester, sender, &msg.addr, msg.nat, now);
    return;
  }
  /* Our own type is not known yet (STUN takes seconds): looked at again once it is. */
  heard *h = &in->early[0];
  for (int i = 1; i < INTRO_EARLY; i++)
    if (in->early[i].at < h->at) h = &in->early[i];
  memcpy(h->requester, msg.requester, 8);
  memcpy(h->sender, sender, 8);
  h->addr = msg.addr;
  h->nat = msg.nat;
  h->at = now ? now : 1;
}

/* Once our NAT type is known (or changes): requests that went without it go again, and
 * forwards heard before it are looked at, for INTRO_EARLY_MS after they happened. */
static void intro_timeout(void *m, uint64_t now) {
  intro *in = m;
  retry(in, now);
  uint8_t mine = own_nat(in->c);
  if (mine == in->nat_seen) return;
  in->nat_seen = mine;
  if (mine == INTRO_NAT_NONE) return;
  for (int i = 0; i < INTRO_TARGETS; i++) {
    asked *a = &in->recent[i];
    if (a->at && now - a->at < INTRO_EARLY_MS && a->nat_sent != mine &&
        !core_connected_direct(in->c, a->target))
      request(in, a, a->target);
  }
  for (int i = 0; i < INTRO_EARLY; i++) {
    heard *h = &in->early[i];
    if (!h->at) continue;
    if (now - h->at < INTRO_EARLY_MS && !core_connected_direct(in->c, h->requester))
      pair_types(in, h->requester, h->sender, &h->addr, h->nat, now);
    h->at = 0;
  }
}

static uint64_t intro_deadline(const void *m) {
  const intro *in = m;
  uint64_t t = UINT64_MAX;
  for (int i = 0; i < INTRO_TARGETS; i++)
    if (in->recent[i].next && in->recent[i].next < t) t = in->recent[i].next;
  return t;
}

static void intro_close(void *m, uint64_t now) {
  intro *in = m;
  (void)now;
  for (int i = 0; i < INTRO_TARGETS; i++) in->recent[i].next = 0;
}

/* ---- module ------------------------------------------------------------------------ */

static size_t intro_memory(const void *m) {
  (void)m;
  return sizeof(intro);
}

static int intro_attach(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  static const uint8_t frames[] = {WIRE_RELAY_REQ, WIRE_RELAY_FWD};
  if (!cfg->intro) return SW_OK;
  intro *in = calloc(1, sizeof *in);
  if (!in) return SW_ENOMEM;
  in->c = c;
  in->tokens = INTRO_FWD_BURST;
  in->refill_at = now;
  core_module m = {.name = "intro", .frames = frames, .nframes = sizeof frames,
                   .on_frame = intro_frame, .on_meet = intro_meet,
                   .on_timeout = intro_timeout, .deadline = intro_deadline,
                   .on_close = intro_close, .free = free,
                   .memory = intro_memory, .state = in};
  int rc = core_add_module(c, &m);
  if (rc) free(in);
  return rc;
}

const core_module_def intro_module = {"intro", intro_attach};

int intro_get_stats(sw_core *c, intro_stats *out) {
  intro *in = core_module_state(c, "intro");
  if (!in) return SW_EINVAL;
  *out = in->st;
  return SW_OK;
}
