/* Peer exchange module: see pex.h. Section numbers refer to docs/PROTOCOL.md. */
#include "pex.h"

#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "wire.h"

/* The dials a sender's lists have caused in its current minute. */
typedef struct pex_sender {
  uint8_t wire[8];
  uint64_t since;
  unsigned dials;
  int used;
} pex_sender;

struct pex {
  sw_core *c;
  peercache *pc;
  uint64_t next;
  pex_stats st;
  pex_sender senders[PEX_SENDERS];
};

/* The sender's budget entry, its minute renewed when over; a new sender takes the entry
 * whose minute began longest ago (an evicted sender starts afresh: a verified peer can
 * only come back as itself, so churning entries needs PEX_SENDERS verified peers). */
static pex_sender *sender_of(pex *p, const uint8_t wire[8], uint64_t now) {
  pex_sender *s = NULL, *old = &p->senders[0];
  for (size_t i = 0; i < PEX_SENDERS && !s; i++) {
    pex_sender *x = &p->senders[i];
    if (x->used && memcmp(x->wire, wire, 8) == 0) s = x;
    else if (!x->used || (old->used && x->since < old->since)) old = x;
  }
  if (!s) {
    s = old;
    memset(s, 0, sizeof *s);
    s->used = 1;
    memcpy(s->wire, wire, 8);
    s->since = now;
  }
  if (now - s->since >= PEX_INTERVAL_MS) {
    s->since = now;
    s->dials = 0;
  }
  return s;
}

size_t pex_encode(uint8_t *out, size_t cap, const pex_entry *e, size_t n) {
  size_t off = 2;
  if (n > PEX_MAX) n = PEX_MAX;
  if (cap < 2) return 0;
  out[0] = WIRE_PEX;
  out[1] = (uint8_t)n;
  for (size_t i = 0; i < n; i++) {
    char ip[64];
    int il = addr_format_ip(&e[i].addr, ip, sizeof ip);
    if (il < 0 || il > PEX_IP_MAX) return 0;
    size_t need = 1 + e[i].idlen + 1 + (size_t)il + 2;
    if (off + need > cap) return 0;
    out[off++] = e[i].idlen;
    memcpy(out + off, e[i].id, e[i].idlen);
    off += e[i].idlen;
    out[off++] = (uint8_t)il;
    memcpy(out + off, ip, (size_t)il);
    off += (size_t)il;
    out[off++] = (uint8_t)(e[i].addr.port >> 8);
    out[off++] = (uint8_t)e[i].addr.port;
  }
  return off;
}

int pex_parse(const uint8_t *buf, size_t len, pex_entry *out, size_t max, size_t *n) {
  size_t off = 2, got = 0;
  *n = 0;
  /* 11.6: at least 3 bytes; the references then read `count` entries. */
  if (!buf || len < 3 || buf[0] != WIRE_PEX) return SW_EINVAL;
  unsigned count = buf[1];
  for (unsigned i = 0; i < count && got < max; i++) {
    if (off + 1 > len) break;
    size_t idl = buf[off];
    if (off + 1 + idl + 1 > len) break;
    const uint8_t *id = buf + off + 1;
    size_t ipl = buf[off + 1 + idl];
    const uint8_t *ip = buf + off + 2 + idl;
    if (off + 2 + idl + ipl + 2 > len) break; /* truncated: stop here (11.6) */
    uint16_t port = (uint16_t)(ip[ipl] << 8 | ip[ipl + 1]);
    off += 2 + idl + ipl + 2;
    char text[PEX_IP_MAX + 1];
    if ((idl != 8 && idl != 20) || ipl == 0 || ipl > PEX_IP_MAX || !port) continue;
    memcpy(text, ip, ipl);
    text[ipl] = 0;
    if (strlen(text) != ipl) continue;
    pex_entry *e = &out[got];
    memset(e, 0, sizeof *e);
    if (addr_parse_ip(&e->addr, text, port) != SW_OK) continue;
    memcpy(e->id, id, idl);
    e->idlen = (uint8_t)idl;
    got++;
  }
  *n = got;
  return SW_OK;
}

/* ---- hooks ------------------------------------------------------------------ */

static void pex_frame(void *m, const core_path *from, const uint8_t *buf, size_t len,
                      uint64_t now) {
  pex *p = m;
  uint8_t sender[8];
  pex_entry e[PEX_MAX];
  size_t n;
  if (!len || buf[0] != WIRE_PEX) return;
  p->st.received++;
  /* D6/D19: a peer list only from a peer that has proved its key from this address. */
  if (!core_verified_peer(p->c, from, sender)) {
    p->st.unverified++;
    return;
  }
  if (pex_parse(buf, len, e, PEX_MAX, &n)) return;
  const uint8_t *me = core_identity(p->c)->id;
  pex_sender *s = sender_of(p, sender, now);
  for (size_t i = 0; i < n; i++) {
    p->st.entries++;
    if (memcmp(e[i].id, me, 8) == 0 || core_connected(p->c, e[i].id)) {
      p->st.skipped++;
      continue;
    }
    /* What a peer says is a hint (issue 11): kept apart from the peers we met, and
     * dialled within the sender's own budget, so one peer's lists cannot spend the
     * engine's meet tokens (core_meet, D19) that other discovery needs. A 20-byte id
     * is checked on the answer. */
    peercache_hint(p->pc, e[i].id, e[i].idlen, &e[i].addr, now);
    if (s->dials >= PEX_DIALS) {
      p->st.over_budget++;
      continue;
    }
    if (core_meet(p->c, &e[i].addr, e[i].idlen == 20 ? e[i].id : NULL, now) == SW_OK) {
      p->st.met++;
      s->dials++;
    }
  }
  return;
}

/* 11.6: every 60 s, each peer gets up to 20 of the others. Only peers whose address
 * is verified are listed (we do not pass on addresses we were never answered from),
 * and a reference peer gets IPv4 entries only (it cannot use others, D21).
 * Ours, beyond the references: the 20 are drawn at random for each recipient (the
 * references take the first 20 in table order, so with more peers than that everyone
 * hears of the same 20 and the rest stay unknown to each other), and a libsetowire
 * recipient gets 20-byte full ids (a reference one the 8-byte wire ids it expects): with
 * the full id the meet gate asks for an introduction, and can fall back to a relay, for
 * the entry; with a wire id alone it can only send HELLOs, which a restricted NAT
 * drops. */
static void pex_timeout(void *m, uint64_t now) {
  pex *p = m;
  if (now < p->next) return;
  p->next = now + PEX_INTERVAL_MS;
  size_t total = sw_core_peer_count(p->c);
  if (total < 2) return;
  sw_core_peer_info *info = calloc(total, sizeof *info);
  size_t *pick = calloc(total, sizeof *pick);
  if (!info || !pick) {
    free(info);
    free(pick);
    return;
  }
  size_t n = sw_core_peers(p->c, info, total);
  if (n > total) n = total;
  for (size_t r = 0; r < n; r++) {
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
      if (i == r || !info[i].verified) continue;
      if (info[r].reference && info[i].addr.family != 4) continue;
      pick[np++] = i;
    }
    /* The first min(np, PEX_MAX) of a partial Fisher-Yates shuffle. */
    size_t k = 0;
    pex_entry e[PEX_MAX];
    for (; k < np && k < PEX_MAX; k++) {
      uint32_t rnd;
      core_rand(p->c, &rnd, sizeof rnd);
      size_t j = k + rnd % (np - k), t = pick[k];
      pick[k] = pick[j];
      pick[j] = t;
      const sw_core_peer_info *q = &info[pick[k]];
      memset(&e[k], 0, sizeof e[k]);
      if (!info[r].reference && core_peer_full_id(p->c, q->wire_id, e[k].id)) {
        e[k].idlen = 20;
      } else {
        memcpy(e[k].id, q->wire_id, 8);
        e[k].idlen = 8; /* the references' layout */
      }
      e[k].addr = q->addr;
    }
    if (!k) continue;
    uint8_t frame[PEX_FRAME_MAX];
    size_t len = pex_encode(frame, sizeof frame, e, k);
    if (len && core_send_ctrl(p->c, info[r].wire_id, frame, len) == SW_OK) p->st.sent++;
  }
  free(pick);
  free(info);
}

static uint64_t pex_deadline(const void *m) { return ((const pex *)m)->next; }

static void pex_close(void *m, uint64_t now) {
  (void)now;
  ((pex *)m)->next = UINT64_MAX;
}

static void pex_free(void *m) { free(m); }

static size_t pex_memory(const void *m) {
  (void)m;
  return sizeof(pex);
}

void pex_get_stats(const pex *p, pex_stats *out) { *out = p->st; }

int pex_attach(sw_core *c, peercache *pc, uint64_t now, pex **out) {
  pex *p = calloc(1, sizeof *p);
  if (!p) return SW_ENOMEM;
  p->c = c;
  p->pc = pc;
  p->next = now + PEX_INTERVAL_MS; /* 11.6: the first 60 s after start */
  static const uint8_t frames[] = {WIRE_PEX};
  core_module m = {.name = "pex", .frames = frames, .nframes = 1, .on_frame = pex_frame, .on_timeout = pex_timeout,
                   .deadline = pex_deadline, .on_close = pex_close, .free = pex_free,
                   .memory = pex_memory, .state = p};
  int rc = core_add_module(c, &m);
  if (rc) {
    free(p);
    return rc;
  }
  if (out) *out = p;
  return SW_OK;
}

static int attach_from_config(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  return cfg->pex ? pex_attach(c, core_module_state(c, "peercache"), now, NULL) : SW_OK;
}

const core_module_def pex_module = {"pex", attach_from_config};
