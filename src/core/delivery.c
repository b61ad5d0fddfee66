/* Delivery and the mesh: see delivery.h. */
#include "delivery.h"

#include <string.h>

#include "crypto.h"
#include "gossip.h"
#include "origin.h"
#include "peers.h"
#include "send.h"
#include "session.h"
#include "xsession.h"

/* The full id (SW_ID_LEN bytes) of a peer: SHA-256 of its public key (PROTOCOL.md 2.2). */
static void full_id(const core_peer *p, uint8_t out[20]) {
  memcpy(out, p->full_id, sizeof p->full_id); /* computed once, at the HELLO */
}

static uint64_t ld64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8); /* host order: the key never leaves the process */
  return v;
}

uint64_t delivery_origin_key(const uint8_t *hdr) {
  /* A few multiplies, not a hash of the 28 bytes: the author id is a SHA-256 prefix and
   * the message id 64 random bits, so their bits are uniform already; the key only has
   * to spread them over the duplicate set's slots and be unlikely to equal the content
   * key of another message. A peer that forges a colliding (author, id) pair only hides
   * its own message: the ids it would have to hit are 64 random bits it never saw. */
  uint32_t tail;
  memcpy(&tail, hdr + 16, 4);
  uint64_t a = ld64(hdr) * 0x9E3779B185EBCA87ull ^ ld64(hdr + 8);
  uint64_t k = (a ^ (a >> 31) ^ tail) * 0xC2B2AE3D27D4EB4Full ^ ld64(hdr + 20);
  k *= 0x165667B19E3779F9ull;
  return k ^ (k >> 32) ^ 0x6f726967696e2121ull;
}

void delivery_prefetch_origin(const sw_core *c, const uint8_t *hdr) {
  dedup_set_prefetch(&c->seen, delivery_origin_key(hdr));
}

/* One mesh message, with its origin header (author id, message id) when it came in a
 * kind 4 entry, and the author's signature after it (XPORT_SIGNED_HDR bytes) when in a
 * kind 5 one: deliver it once, flood it on. */
static void deliver(sw_core *c, core_peer *from, const uint8_t *hdr, int sig,
                    const uint8_t *msg, size_t len, uint64_t now) {
  uint8_t id[8], origin[XPORT_SIGNED_HDR];
  int checked = ORIGIN_UNKNOWN;
  from->msgs_received++;
  from->bytes_received += len;
  uint64_t content = dedup_id(msg, len);
  if (hdr) {
    /* Between our peers: once per (author, message id), so two authors' identical
     * messages are both delivered; our own messages never come back. */
    uint64_t key = delivery_origin_key(hdr), checked_key = key ^ 0x7369676e6564ull;
    if (memcmp(hdr, c->me.id, 20) == 0 || (sig && dedup_set_has(&c->seen, checked_key))) {
      c->stats.duplicates++;
      return;
    }
    /* A signature that is not its author's: dropped, and not remembered, so that the
     * genuine message that a forger raced is still taken when it comes (origin.h). */
    if (sig && (checked = origin_verify(c, hdr, msg, len)) == ORIGIN_FORGED) {
      c->stats.bad_signatures++;
      return;
    }
    /* Once per (author, message id); but a copy whose signature checked out is taken
     * even after an unchecked one (stripped on the way, perhaps altered), so that a
     * relay cannot suppress a signed message where its author's key is known. */
    if (dedup_set_has(&c->seen, key) && checked != ORIGIN_VALID) {
      c->stats.duplicates++;
      return;
    }
    if (checked == ORIGIN_VALID) dedup_set_add(&c->seen, checked_key, now);
    dedup_set_add(&c->seen, key, now);
    /* A copy of it that a reference peer floods to us later is the same message. */
    dedup_set_add(&c->seen, content, now);
    memcpy(origin, hdr, sig ? XPORT_SIGNED_HDR : XPORT_ORIGIN_HDR); /* the handler may
                                                    * reuse what msg points into */
  } else if (dedup_set_seen(&c->seen, content, now)) {
    c->stats.duplicates++;
    return;
  }
  memcpy(id, from->wire_id, 8);
  c->stats.delivered++;
  gossip_info gi;
  if (!hdr && gossip_check(msg, len, &gi)) {
    /* D14: a reference's gossip object is not application data; it is still flooded
     * below, as reference nodes do. Meeting the peer it names is optional (D19). */
    c->stats.gossip++;
    if (c->cfg.gossip_meet && gi.addr.family && memcmp(gi.wire, c->me.id, 8) != 0 &&
        !peers_find(c, gi.wire))
      core_meet(c, &gi.addr, NULL, now);
  } else {
    uint8_t first[20];
    int direct = 0;
    if (hdr) {
      full_id(from, first);
      direct = memcmp(first, origin, 20) == 0;
    }
    sw_event ev = {.type = SW_EV_DATA, .peer = id, .data = msg, .len = len,
                   .origin = hdr ? origin : NULL, .origin_direct = direct,
                   .origin_signed = checked == ORIGIN_VALID};
    engine_emit(c, &ev);
  }
  if (c->npeers < 2) return; /* the only peer is the last hop: nobody to flood to */
  for (size_t k = 0; k < c->peers_hi; k++) {
    core_peer *q = &c->peers[k];
    if (!q->used || !q->in_mesh || !q->tx || memcmp(q->wire_id, id, 8) == 0) continue;
    if (!send_room(c, len + WIRE_DATA_OVERHEAD) || cc_room(&q->cc) < len + WIRE_DATA_OVERHEAD) {
      c->stats.flood_dropped++;
      continue;
    }
    /* The origin travels on between our peers, with its signature unchanged to those
     * that take it (whether we could check it or not); a plain session carries the
     * bytes only. */
    int rc;
    if (hdr && xsession_active(q) && (q->caps & WIRE_CAP_ORIGIN)) {
      rc = sig && (q->caps & WIRE_CAP_SIGNED) ? xport_send_signed(q->xs->x, origin, msg, len, now)
                                              : xport_send_origin(q->xs->x, origin, msg, len, now);
      if (rc == SW_OK) {
        q->msgs_sent++; /* as send_message counts it */
        q->bytes_sent += len;
      }
    } else {
      rc = send_message(c, q, msg, len);
    }
    if (rc) c->stats.flood_dropped++;
  }
}

void delivery_deliver(sw_core *c, core_peer *from, const uint8_t *msg, size_t len,
                      uint64_t now) {
  deliver(c, from, NULL, 0, msg, len, now);
}

void delivery_origin(sw_core *c, core_peer *from, const uint8_t *entry, size_t len,
                     uint64_t now) {
  if (len < XPORT_ORIGIN_HDR) return; /* xport_recv_ex never hands one shorter */
  deliver(c, from, entry, 0, entry + XPORT_ORIGIN_HDR, len - XPORT_ORIGIN_HDR, now);
}

void delivery_signed(sw_core *c, core_peer *from, const uint8_t *entry, size_t len,
                     uint64_t now) {
  if (len < XPORT_SIGNED_HDR) return; /* xport_recv_ex never hands one shorter */
  deliver(c, from, entry, 1, entry + XPORT_SIGNED_HDR, len - XPORT_SIGNED_HDR, now);
}

void delivery_direct(sw_core *c, core_peer *from, const uint8_t *msg, size_t len) {
  uint8_t id[8], origin[20];
  memcpy(id, from->wire_id, 8); /* the handler may remove the peer */
  full_id(from, origin);        /* a unicast is never relayed: its sender wrote it */
  from->msgs_received++;
  from->bytes_received += len;
  c->stats.delivered++;
  sw_event ev = {.type = SW_EV_DATA, .peer = id, .data = msg, .len = len, .origin = origin,
                 .origin_direct = 1};
  engine_emit(c, &ev);
}

void delivery_drain(sw_core *c, core_peer *p, uint64_t now) {
  const uint8_t *msg;
  size_t len;
  while (p->used && jitter_next(&p->jit, now, &msg, &len)) delivery_deliver(c, p, msg, len, now);
}

void delivery_on_data(void *core, const core_path *from, const uint8_t *buf, size_t len,
                      uint64_t now) {
  sw_core *c = core;
  size_t n;
  int restart;
  if (len < WIRE_DATA_MIN) return;
  core_peer *p = session_open(c, from, buf, len, &n, &restart, now);
  if (!p) return;
  if (restart == SESSION_SUSPECT) {
    session_suspect(c, p, from, buf, len, now);
    return;
  }
  if (xsession_refuses_plain(p, now)) { /* TRANSPORT.md 2: its messages come in XPACKETs now */
    c->stats.rx_dropped++;
    return;
  }
  if (p->score < SCORE_MAX) p->score++;
  const uint8_t *inner = c->scratch;
  if (n < 4) { /* PROTOCOL.md 5.2 step 8: the short path, no sequence number */
    delivery_deliver(c, p, inner, n, now);
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
  if (jitter_offer(&p->jit, seq, inner + 4, n - 4, now) == JITTER_NOW)
    delivery_deliver(c, p, inner + 4, n - 4, now);
  delivery_drain(c, p, now);
}

void delivery_remember_own(sw_core *c, const void *data, size_t len, uint64_t now) {
  /* Even with a single peer: a peer met while the message travels can flood it back. */
  dedup_set_add(&c->seen, dedup_id(data, len), now);
}

size_t delivery_mesh_count(const sw_core *c) {
  size_t n = 0;
  for (size_t k = 0; k < c->peers_hi; k++) n += c->peers[k].used && c->peers[k].in_mesh;
  return n;
}

void delivery_mesh_add(sw_core *c, core_peer *p) {
  if (p->in_mesh) return;
  p->in_mesh = 1;
  /* The mesh is chosen by each side alone: a peer that nobody chose would never hear a
   * flood. Telling a libsetowire peer lets it choose us back (PROTOCOL.md 21.2). */
  if (p->caps & WIRE_CAP_SEALED) send_sealed(c, p, SEALED_GRAFT);
}

void delivery_graft_again(sw_core *c, core_peer *p) {
  if (p->in_mesh && p->tx && (p->caps & WIRE_CAP_SEALED)) send_sealed(c, p, SEALED_GRAFT);
}

void delivery_on_graft(sw_core *c, core_peer *p) {
  if (!p->in_mesh && p->tx && delivery_mesh_count(c) < MESH_GRAFTED_MAX) p->in_mesh = 1;
}

void delivery_maintain_mesh(sw_core *c) {
  size_t m = delivery_mesh_count(c);
  while (m < MESH_LOW) {
    core_peer *best = NULL;
    for (size_t k = 0; k < c->peers_hi; k++) {
      core_peer *q = &c->peers[k];
      if (q->used && !q->in_mesh && q->tx && (!best || q->score > best->score)) best = q;
    }
    if (!best) break;
    delivery_mesh_add(c, best);
    m++;
  }
  /* Above D_HIGH only through GRAFTs (peers that chose us): trimming them to D_HIGH would
   * leave them, again, in nobody's mesh. */
  while (m > MESH_GRAFTED_MAX) {
    core_peer *worst = NULL;
    for (size_t k = 0; k < c->peers_hi; k++) {
      core_peer *q = &c->peers[k];
      if (q->used && q->in_mesh && (!worst || q->score < worst->score)) worst = q;
    }
    worst->in_mesh = 0;
    m--;
  }
}
