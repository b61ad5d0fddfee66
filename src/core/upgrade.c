/* Relayed -> direct upgrade: see upgrade.h. */
#include "upgrade.h"

#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "wire.h"

enum { IDLE = 0, WAITING, FIRING, ARMED };

typedef struct entry {
  int used, state, attempts, initiator, relayed;
  uint8_t wire[8];
  uint32_t nonce;
  uint64_t noticed, sent_at, fire_at, answered_at;
  size_t naddrs;
  sw_addr addrs[UPGRADE_MAX_ADDRS];
} entry;

typedef struct upgrade {
  sw_core *c;
  entry e[UPGRADE_PEERS];
  uint64_t next_check;
  upgrade_stats st;
} upgrade;

static const uint32_t schedule[UPGRADE_ATTEMPTS] = UPGRADE_SCHEDULE;

/* ---- codec ------------------------------------------------------------------------ */

int upgrade_decode(const uint8_t *b, size_t len, upgrade_msg *m) {
  memset(m, 0, sizeof *m);
  if (len < UPGRADE_HDR || b[0] != WIRE_PUNCH) return SW_EINVAL;
  m->kind = b[1];
  if (m->kind != UPGRADE_CONNECT && m->kind != UPGRADE_SYNC) return SW_EINVAL;
  m->nonce = wire_get32(b + 2);
  size_t n = b[6], off = UPGRADE_HDR;
  if (n > UPGRADE_MAX_ADDRS) return SW_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (off >= len) return SW_EINVAL;
    size_t iplen = b[off] == 4 ? 4 : b[off] == 6 ? 16 : 0;
    if (!iplen || len - off < 1 + iplen + 2) return SW_EINVAL;
    uint16_t port = wire_get16(b + off + 1 + iplen);
    if (!port) return SW_EINVAL;
    addr_from_raw(&m->addrs[i], b + off + 1, iplen, port);
    /* one encoding per address: an IPv4-mapped IPv6 address goes as IPv4 */
    if (m->addrs[i].family != b[off]) return SW_EINVAL;
    off += 1 + iplen + 2;
  }
  if (off != len) return SW_EINVAL;
  m->naddrs = n;
  return SW_OK;
}

size_t upgrade_encode(uint8_t *out, const upgrade_msg *m) {
  if (m->naddrs > UPGRADE_MAX_ADDRS) return 0;
  out[0] = WIRE_PUNCH;
  out[1] = m->kind;
  wire_put32(out + 2, m->nonce);
  out[6] = (uint8_t)m->naddrs;
  size_t off = UPGRADE_HDR;
  for (size_t i = 0; i < m->naddrs; i++) {
    const sw_addr *a = &m->addrs[i];
    size_t iplen = a->family == 4 ? 4 : a->family == 6 ? 16 : 0;
    if (!iplen || !a->port) return 0;
    out[off] = a->family;
    memcpy(out + off + 1, a->ip, iplen);
    wire_put16(out + off + 1 + iplen, a->port);
    off += 1 + iplen + 2;
  }
  return off;
}

/* ---- helpers ----------------------------------------------------------------------- */

static entry *find(upgrade *u, const uint8_t wire[8], int create) {
  entry *slot = NULL;
  for (int i = 0; i < UPGRADE_PEERS; i++) {
    entry *e = &u->e[i];
    if (e->used && memcmp(e->wire, wire, 8) == 0) return e;
    if (!e->used && !slot) slot = e;
  }
  if (!create || !slot) return NULL;
  memset(slot, 0, sizeof *slot);
  slot->used = 1;
  memcpy(slot->wire, wire, 8);
  return slot;
}

/* Where we can be punched to: our public addresses (mapped ports), then the LAN one. */
static size_t own_addrs(sw_core *c, sw_addr *out) {
  size_t n = 0;
  for (int fam = 4; fam <= 6; fam += 2) {
    const sw_addr *p = core_public_addr(c, fam);
    if (p && p->port) out[n++] = *p;
  }
  const sw_addr *lan = core_lan_addr(c);
  if (lan->family && lan->port && (n == 0 || !addr_equal(lan, &out[0]))) out[n++] = *lan;
  return n;
}

static int send_msg(upgrade *u, const uint8_t wire[8], uint8_t kind, uint32_t nonce,
                    int with_addrs) {
  upgrade_msg m = {.kind = kind, .nonce = nonce};
  if (with_addrs) m.naddrs = own_addrs(u->c, m.addrs);
  uint8_t f[UPGRADE_FRAME_MAX];
  size_t n = upgrade_encode(f, &m);
  if (!n) return SW_EINVAL;
  /* The peer hears us only on a path it verified: the proof goes first, in one batch. */
  core_prove(u->c, wire);
  return core_send_ctrl(u->c, wire, f, n);
}

/* Fire: the punch schedule toward each of the peer's addresses, through the meet gate. */
static void fire(upgrade *u, entry *e, uint64_t now) {
  for (size_t i = 0; i < e->naddrs; i++) core_meet(u->c, &e->addrs[i], NULL, now);
  u->st.fired++;
  e->state = IDLE;
}

/* ---- the initiator's clock ---------------------------------------------------------- */

/* Follow the peers whose best path is relayed; forget those that are gone or direct. */
static void check_peers(upgrade *u, uint64_t now) {
  sw_core_peer_info peers[64];
  size_t n = sw_core_peers(u->c, peers, 64);
  if (n > 64) n = 64;
  const uint8_t *me = core_identity(u->c)->id;
  for (int i = 0; i < UPGRADE_PEERS; i++) u->e[i].relayed = 0;
  for (size_t k = 0; k < n; k++) {
    if (peers[k].reference || !peers[k].relayed || !peers[k].verified) continue;
    entry *e = find(u, peers[k].wire_id, 1);
    if (!e) continue;
    if (!e->noticed) {
      e->noticed = now ? now : 1;
      e->initiator = memcmp(me, peers[k].wire_id, 8) < 0;
    }
    e->relayed = 1;
  }
  for (int i = 0; i < UPGRADE_PEERS; i++) {
    entry *e = &u->e[i];
    if (!e->used || e->relayed) continue;
    /* direct now, or gone: an attempt of ours that ends direct is an upgrade */
    if (e->attempts && core_connected(u->c, e->wire)) u->st.upgraded++;
    e->used = 0;
  }
}

static void initiate(upgrade *u, entry *e, uint64_t now) {
  if (!e->initiator || e->state != IDLE || e->attempts >= UPGRADE_ATTEMPTS) return;
  if (now < e->noticed + schedule[e->attempts]) return;
  core_rand(u->c, &e->nonce, sizeof e->nonce);
  if (send_msg(u, e->wire, UPGRADE_CONNECT, e->nonce, 1) != SW_OK) return;
  e->attempts++;
  if (e->attempts == UPGRADE_ATTEMPTS) u->st.exhausted++;
  e->state = WAITING;
  e->sent_at = now;
  u->st.connects_sent++;
}

static void upgrade_timeout(void *m, uint64_t now) {
  upgrade *u = m;
  if (now >= u->next_check) {
    u->next_check = now + UPGRADE_CHECK_MS;
    check_peers(u, now);
  }
  for (int i = 0; i < UPGRADE_PEERS; i++) {
    entry *e = &u->e[i];
    if (!e->used) continue;
    if ((e->state == WAITING || e->state == ARMED) && now - e->sent_at > UPGRADE_WAIT_MS)
      e->state = IDLE;
    if (e->state == FIRING && now >= e->fire_at) fire(u, e, now);
    if (e->relayed) initiate(u, e, now);
  }
}

static uint64_t upgrade_deadline(const void *m) {
  const upgrade *u = m;
  uint64_t t = u->next_check;
  for (int i = 0; i < UPGRADE_PEERS; i++) {
    const entry *e = &u->e[i];
    if (!e->used) continue;
    uint64_t d = UINT64_MAX;
    if (e->state == FIRING) d = e->fire_at;
    else if (e->state != IDLE) d = e->sent_at + UPGRADE_WAIT_MS + 1;
    else if (e->relayed && e->initiator && e->attempts < UPGRADE_ATTEMPTS)
      d = e->noticed + schedule[e->attempts];
    if (d < t) t = d;
  }
  return t;
}

/* ---- the frame ------------------------------------------------------------------------ */

static void take_addrs(entry *e, const upgrade_msg *msg) {
  e->naddrs = msg->naddrs;
  memcpy(e->addrs, msg->addrs, sizeof e->addrs);
}

static void upgrade_frame(void *m, const core_path *from, const uint8_t *buf, size_t len,
                          uint64_t now) {
  upgrade *u = m;
  uint8_t sender[8];
  upgrade_msg msg;
  /* Only over a relayed path the sender proved its key on (D6), only from our peers:
   * a direct peer has nothing to upgrade, and a reference peer never sends it. */
  if (!from->relayed ||
      (core_peer_at(u->c, from, sender) & (CORE_PEER_VERIFIED | CORE_PEER_LEGACY)) !=
          CORE_PEER_VERIFIED ||
      upgrade_decode(buf, len, &msg)) {
    u->st.refused++;
    return;
  }
  int initiator = memcmp(core_identity(u->c)->id, sender, 8) < 0;
  entry *e = find(u, sender, !initiator);
  if (msg.kind == UPGRADE_CONNECT) {
    u->st.connects_in++;
    if (initiator) {
      /* The answer to our CONNECT: the relayed RTT is measured; SYNC, then fire at half
       * of it, when the SYNC reaches the other side. */
      if (!e || e->state != WAITING || e->nonce != msg.nonce || now - e->sent_at >
          UPGRADE_RTT_MAX_MS) {
        u->st.refused++;
        return;
      }
      take_addrs(e, &msg);
      if (send_msg(u, sender, UPGRADE_SYNC, e->nonce, 0) != SW_OK) {
        e->state = IDLE;
        return;
      }
      u->st.syncs_sent++;
      e->state = FIRING;
      e->fire_at = now + (now - e->sent_at) / 2;
      if (e->fire_at == now) fire(u, e, now);
      return;
    }
    if (!e || (e->answered_at && now - e->answered_at < UPGRADE_ANSWER_MS)) {
      u->st.refused++;
      return;
    }
    take_addrs(e, &msg);
    e->nonce = msg.nonce;
    e->answered_at = e->sent_at = now;
    e->state = ARMED;
    if (send_msg(u, sender, UPGRADE_CONNECT, msg.nonce, 1) != SW_OK) e->state = IDLE;
    return;
  }
  u->st.syncs_in++;
  if (initiator || !e || e->state != ARMED || e->nonce != msg.nonce) {
    u->st.refused++;
    return;
  }
  fire(u, e, now);
}

/* ---- module ------------------------------------------------------------------------------ */

static void upgrade_connection(void *m, const uint8_t wire[8], const sw_addr *addr,
                               uint64_t now) {
  upgrade *u = m;
  (void)wire;
  (void)addr;
  /* a relayed session's path proves itself within a round trip: look soon */
  if (u->next_check > now + 500) u->next_check = now + 500;
}

static void upgrade_disconnect(void *m, const uint8_t wire[8], uint64_t now) {
  upgrade *u = m;
  (void)now;
  entry *e = find(u, wire, 0);
  if (e) e->used = 0;
}

static void upgrade_close(void *m, uint64_t now) {
  upgrade *u = m;
  (void)now;
  memset(u->e, 0, sizeof u->e);
  u->next_check = UINT64_MAX;
}

static size_t upgrade_memory(const void *m) {
  (void)m;
  return sizeof(upgrade);
}

static int upgrade_attach(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  static const uint8_t frames[] = {WIRE_PUNCH};
  if (!cfg->relayed) return SW_OK;
  upgrade *u = calloc(1, sizeof *u);
  if (!u) return SW_ENOMEM;
  u->c = c;
  u->next_check = now + UPGRADE_CHECK_MS;
  core_module m = {.name = "upgrade", .frames = frames, .nframes = 1,
                   .on_frame = upgrade_frame, .on_connection = upgrade_connection,
                   .on_disconnect = upgrade_disconnect, .on_timeout = upgrade_timeout,
                   .deadline = upgrade_deadline, .on_close = upgrade_close, .free = free,
                   .memory = upgrade_memory, .state = u};
  int rc = core_add_module(c, &m);
  if (rc) free(u);
  return rc;
}

const core_module_def upgrade_module = {"upgrade", upgrade_attach};

int upgrade_get_stats(sw_core *c, upgrade_stats *out) {
  upgrade *u = core_module_state(c, "upgrade");
  if (!u) return SW_EINVAL;
  *out = u->st;
  return SW_OK;
}
