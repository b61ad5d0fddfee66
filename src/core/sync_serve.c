/* The serving side of the store/fetch module: a peer's WANT answered from memory or the
 * backend (PROTOCOL.md 11.2), values sent as one CHUNK or as a windowed transfer with
 * its acks, retransmissions and safety timer (11.3, 11.4), and the HAVE summaries
 * (11.1). Declared in sync_state.h. */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "sync_state.h"

/* ---- transfers (11.4) ---------------------------------------------------------- */

static void tx_free(sync_state *s, transfer *t) {
  if (t->used) s->tx_bytes -= t->vlen;
  free(t->val);
  free(t->acked);
  free(t->sends);
  memset(t, 0, sizeof *t);
}

/* Bytes of value chunk i (the seam counts payload; framing is noise at this scale). */
static size_t chunk_bytes(const transfer *t, uint16_t i) {
  size_t off = (size_t)i * SYNC_CHUNK_SIZE;
  return off >= t->vlen ? 0 : t->vlen - off < SYNC_CHUNK_SIZE ? t->vlen - off : SYNC_CHUNK_SIZE;
}

static int tx_send(sync_state *s, transfer *t, uint16_t i) {
  size_t off = (size_t)i * SYNC_CHUNK_SIZE;
  size_t dl = t->vlen - off < SYNC_CHUNK_SIZE ? t->vlen - off : SYNC_CHUNK_SIZE;
  size_t n = sync_chunk_large_encode(s->frame, t->key, t->klen, i, t->count, t->val + off, dl);
  int rc = core_send_ctrl(s->c, t->wire, s->frame, n);
  if (rc == SW_OK) {
    if (t->sends[i]) s->st.retransmits++;
    t->sends[i]++;
    s->st.chunks_out++;
  }
  return rc;
}

/* Keep SYNC_WINDOW chunks in flight: lost ones are resent in their slot, so a loss
 * never shrinks the window (the references let it erode, and let duplicate acks
 * widen it, D28). */
static void tx_fill(sync_state *s, transfer *t) {
  while (t->nfl < SYNC_WINDOW && t->next_new < t->count && s->now >= t->busy_until) {
    uint16_t i = t->next_new;
    int rc = tx_send(s, t, i);
    if (rc == SW_EAGAIN) {
      t->busy_until = s->now + TX_BUSY_RETRY_MS;
      return;
    }
    if (rc != SW_OK) { /* the peer is gone */
      s->st.transfers_abandoned++;
      tx_free(s, t);
      return;
    }
    t->fl[t->nfl++] = (inflight){i, ++t->seq, s->now + SYNC_RTO_MS, s->now};
    t->next_new++;
  }
}

/* Resend one in-flight chunk; 0, or -1 when the transfer was dropped. */
static int tx_resend(sync_state *s, transfer *t, inflight *x) {
  core_cc_lost(s->c, t->wire, chunk_bytes(t, x->idx)); /* its RTO fired */
  if (t->sends[x->idx] >= TX_SENDS_MAX) { /* D19: retransmissions are capped */
    s->st.transfers_abandoned++;
    tx_free(s, t);
    return -1;
  }
  int rc = tx_send(s, t, x->idx);
  if (rc == SW_EAGAIN) {
    x->due = s->now + TX_BUSY_RETRY_MS;
    return 0;
  }
  if (rc != SW_OK) {
    s->st.transfers_abandoned++;
    tx_free(s, t);
    return -1;
  }
  x->seq = ++t->seq;
  x->due = s->now + SYNC_RTO_MS;
  x->sent_at = s->now;
  return 0;
}

static void tx_on_ack(sync_state *s, transfer *t, uint16_t idx) {
  if (idx >= t->count || t->acked[idx]) return; /* out of range or duplicate: nothing */
  t->acked[idx] = 1;
  t->nacked++;
  uint32_t seq = 0;
  for (int i = 0; i < t->nfl; i++) {
    if (t->fl[i].idx != idx) continue;
    seq = t->fl[i].seq;
    double sample = -1; /* only a chunk sent once gives a clean RTT sample */
    if (t->sends[idx] == 1) {
      uint64_t rtt = s->now - t->fl[i].sent_at;
      t->srtt = t->srtt ? (7 * t->srtt + rtt) / 8 : rtt;
      sample = (double)rtt;
    }
    core_cc_acked(s->c, t->wire, chunk_bytes(t, idx), sample);
    t->fl[i] = t->fl[--t->nfl];
    break;
  }
  if (t->nacked == t->count) {
    s->st.transfers_done++;
    tx_free(s, t);
    return;
  }
  /* Fast retransmit: a chunk sent TX_LOST_AFTER sends before one just acknowledged,
   * and out for longer than 1.5 round trips, is presumed lost without waiting for its
   * 1 500 ms timer (the time rule keeps reordering from triggering it). */
  for (int i = 0; i < t->nfl; i++)
    if (seq && t->fl[i].seq + TX_LOST_AFTER <= seq &&
        s->now - t->fl[i].sent_at > t->srtt + t->srtt / 2)
      if (tx_resend(s, t, &t->fl[i])) return;
  tx_fill(s, t);
}

/* ---- who is served, and how many slots they hold (issue 11 item 5) ---------------- */

int sync_serve_allowed(sync_state *s, const uint8_t wire[8], int stream) {
  /* A WANT on an extended session's stream comes from a peer the handshake validated:
   * HS_INIT and HS_RESP went both ways and a packet under its keys authenticated, so it
   * receives where it is. A plain WANT passed D6 (m_frame: a verified path, or a
   * reference peer's registered address), all the plain protocol can say. This is the
   * one place to put a stronger notion of a validated peer. */
  (void)stream;
  return core_connected(s->c, wire);
}

static int peer_addr(sync_state *s, const uint8_t wire[8], sw_addr *out) {
  sw_core_peer_info pi[PEERS_SCAN];
  size_t n = sw_core_peers(s->c, pi, PEERS_SCAN);
  for (size_t i = 0; i < n && i < PEERS_SCAN; i++)
    if (memcmp(pi[i].wire_id, wire, 8) == 0) {
      *out = pi[i].addr;
      return 1;
    }
  return 0;
}

static int same_ip(const sw_addr *a, const sw_addr *b) {
  return a->family && a->family == b->family && memcmp(a->ip, b->ip, sizeof a->ip) == 0;
}

/* Whether a and b share a /24 (IPv4) or a /48 (IPv6): one operator's addresses, mostly. */
static int same_prefix(const sw_addr *a, const sw_addr *b) {
  if (!a->family || a->family != b->family) return 0;
  return memcmp(a->ip, b->ip, a->family == 4 ? 3 : 6) == 0;
}

/* A free transfer slot for k to wire holding vlen bytes, or NULL: one transfer per key
 * and peer (11.2), at most TX_PER_PEER per peer, TX_PER_ADDR per IP address (so many
 * identities behind one address cannot hold every slot) and TX_PER_PREFIX per /24 or /48
 * (nor a few addresses of one network), TX_BUDGET bytes. */
static transfer *tx_admit(sync_state *s, const uint8_t wire[8], const uint8_t *k, size_t n,
                          size_t vlen) {
  sw_addr a;
  memset(&a, 0, sizeof a);
  peer_addr(s, wire, &a);
  transfer *t = NULL;
  int per_peer = 0, per_addr = 0, per_prefix = 0;
  for (int i = 0; i < TX_MAX; i++) {
    transfer *x = &s->tx[i];
    if (!x->used) {
      if (!t) t = x;
      continue;
    }
    if (memcmp(x->wire, wire, 8) == 0) {
      if (x->klen == n && memcmp(x->key, k, n) == 0) return NULL; /* under way already */
      per_peer++;
    }
    if (same_ip(&x->addr, &a)) per_addr++;
    if (same_prefix(&x->addr, &a)) per_prefix++;
  }
  if (per_peer >= TX_PER_PEER || per_addr >= TX_PER_ADDR || per_prefix >= TX_PER_PREFIX) {
    s->st.refused_caps++;
    return NULL;
  }
  if (!t || s->tx_bytes + vlen > TX_BUDGET) return NULL;
  memset(t, 0, sizeof *t);
  t->val = malloc(vlen);
  if (!t->val) return NULL;
  t->used = 1;
  t->addr = a;
  memcpy(t->key, k, n);
  t->klen = n;
  memcpy(t->wire, wire, 8);
  t->vlen = vlen;
  s->tx_bytes += vlen;
  t->safety = s->now + SYNC_SAFETY_MS;
  s->st.transfers_started++;
  return t;
}

/* ---- transfers on the stream (PROTOCOL.md 21.10) ------------------------------------ */

static void send_none(sync_state *s, const uint8_t wire[8], const uint8_t *k, size_t n);

/* Queue as much of the value as the stream's send buffer takes; the rest when it has
 * room again (the session's window and congestion control pace it, not us). */

static void tx_stream_pump(sync_state *s, transfer *t) {
  while (t->sent < t->vlen) {
    size_t dl = t->vlen - t->sent < SYNC_STREAM_PIECE ? t->vlen - t->sent : SYNC_STREAM_PIECE;
    uint8_t type = t->sent ? SYNC_S_PIECE : SYNC_S_VALUE;
    uint32_t num = (uint32_t)(t->sent ? t->sent : t->vlen);
    size_t n;
    if (!t->sent && t->expires) {
      /* A value that expires goes with the time it has left (VALUE_TTL), so that the
       * fetcher's copy dies with ours; one that died while waiting is not sent. */
      if (t->expires <= s->now) {
        send_none(s, t->wire, t->key, t->klen);
        s->st.transfers_abandoned++;
        tx_free(s, t);
        return;
      }
      uint64_t left = t->expires - s->now;
      n = sync_stream_encode_ttl(s->smsg, t->key, t->klen, num,
                                 left > UINT32_MAX ? UINT32_MAX : (uint32_t)left, t->val, dl);
    } else {
      n = sync_stream_encode(s->smsg, type, t->key, t->klen, num, t->val + t->sent, dl);
    }
    int room = core_stream_room(s->c, t->wire, n);
    int rc = room > 0 ? core_stream_send(s->c, t->wire, SYNC_STREAM_CHANNEL, s->smsg, n)
                      : room == 0 ? SW_EAGAIN : SW_ENOTCONN;
    if (rc == SW_EAGAIN) {
      t->busy_until = s->now + STREAM_RETRY_MS;
      return;
    }
    if (rc != SW_OK) { /* the session is gone */
      s->st.transfers_abandoned++;
      tx_free(s, t);
      return;
    }
    t->sent += dl;
    t->safety = s->now + SYNC_SAFETY_MS; /* it moves */
  }
  s->st.transfers_done++;
  s->st.stream_served++;
  tx_free(s, t);
}

static void send_none(sync_state *s, const uint8_t wire[8], const uint8_t *k, size_t n) {
  size_t m = sync_stream_encode(s->smsg, SYNC_S_NONE, k, n, 0, NULL, 0);
  if (core_stream_send(s->c, wire, SYNC_STREAM_CHANNEL, s->smsg, m) == SW_OK) s->st.nones_out++;
}

void sync_serve_value(sync_state *s, const uint8_t wire[8], const uint8_t *k, size_t n,
                      const uint8_t *v, size_t vlen, int stream) {
  if (!vlen) return; /* 12: empty values are never served */
  if (stream) {
    transfer *t = tx_admit(s, wire, k, n, vlen);
    if (!t) return; /* the peer asks again (sync.c want_round) */
    memcpy(t->val, v, vlen);
    t->stream = 1;
    t->expires = sync_expiry_get(s, k, n);
    tx_stream_pump(s, t);
    return;
  }
  core_prove(s->c, wire); /* our CHUNKs count only from a verified address (D6) */
  if (vlen <= SYNC_CHUNK_SIZE) {
    size_t fl = sync_chunk_small_encode(s->frame, k, n, v, vlen);
    if (core_send_ctrl(s->c, wire, s->frame, fl) == SW_OK) s->st.chunks_out++;
    return;
  }
  size_t count = (vlen + SYNC_CHUNK_SIZE - 1) / SYNC_CHUNK_SIZE;
  if (count > 0xFFFE) return;
  transfer *t = tx_admit(s, wire, k, n, vlen);
  if (!t) return;
  t->acked = calloc(count, 1);
  t->sends = calloc(count, 1);
  if (!t->acked || !t->sends) {
    tx_free(s, t);
    return;
  }
  memcpy(t->val, v, vlen);
  t->count = (uint16_t)count;
  tx_fill(s, t);
}

/* ---- what peers send us -------------------------------------------------------- */

void sync_serve_want(sync_state *s, const uint8_t wire[8], const uint8_t *k, size_t n,
                     int stream) {
  if (!sync_serve_allowed(s, wire, stream)) {
    s->st.ignored++;
    return;
  }
  /* An unstored or expired key is served by nobody here, not even by the backend. */
  if (sync_expiry_dead(s, k, n, s->now)) {
    if (stream) send_none(s, wire, k, n);
    return;
  }
  cent *e = sync_cache_find(&s->cache, k, n);
  if (e) {
    sync_cache_touch(&s->cache, e);
    sync_serve_value(s, wire, k, n, e->val, e->vlen, stream);
    return;
  }
  /* Not in memory: ask the backend (the references do not, 11.2; a value kept only on
   * disk after a restart is then still served). */
  if (memchr(k, 0, n) || !s->backend) {
    if (stream) send_none(s, wire, k, n);
    return;
  }
  /* Peers' WANTs may use a quarter of the backend slots, so they never crowd out our
   * own stores and fetches. */
  int serving = 0;
  for (int i = 0; i < STORAGE_MAX; i++) serving += s->reqs[i].state && s->reqs[i].serve;
  if (serving >= STORAGE_MAX / 4) return;
  sreq *r = sync_req_new(s, SYNC_OP_GET, k, n, NULL, 0);
  if (r) {
    r->serve = 1;
    r->stream = stream;
    memcpy(r->wire, wire, 8);
  }
}

void sync_serve_cancel(sync_state *s, const uint8_t wire[8], const uint8_t *k, size_t n) {
  for (int i = 0; i < TX_MAX; i++) {
    transfer *t = &s->tx[i];
    if (t->used && t->stream && t->klen == n && memcmp(t->key, k, n) == 0 &&
        memcmp(t->wire, wire, 8) == 0) {
      s->st.transfers_abandoned++;
      tx_free(s, t);
    }
  }
}

void sync_serve_ack(sync_state *s, const uint8_t wire[8], const sync_frame *fr) {
  s->st.acks_in++;
  for (int i = 0; i < TX_MAX; i++) {
    transfer *t = &s->tx[i];
    if (t->used && t->klen == fr->klen && memcmp(t->key, fr->key, fr->klen) == 0 &&
        memcmp(t->wire, wire, 8) == 0) {
      tx_on_ack(s, t, fr->index);
      return;
    }
  }
}

/* ---- HAVE ------------------------------------------------------------------------ */

void sync_serve_have(sync_state *s, const uint8_t wire[8], const sync_key *keys, size_t n) {
  uint8_t buf[HAVE_FRAME_MAX];
  size_t len = sync_have_encode(buf, sizeof buf, keys, n);
  if (buf[1]) core_send_ctrl(s->c, wire, buf, len);
}

/* ---- the module's hooks, for transfers ---------------------------------------------- */

void sync_serve_summary(sync_state *s, const uint8_t wire[8]) {
  sync_key keys[SYNC_HAVE_BATCH];
  /* 11.1: the first keys of the store, oldest first. */
  size_t n = sync_cache_oldest(&s->cache, keys, SYNC_HAVE_BATCH);
  if (n) sync_serve_have(s, wire, keys, n);
}

void sync_serve_disconnect(sync_state *s, const uint8_t wire[8]) {
  for (int i = 0; i < TX_MAX; i++)
    if (s->tx[i].used && memcmp(s->tx[i].wire, wire, 8) == 0) {
      s->st.transfers_abandoned++;
      tx_free(s, &s->tx[i]);
    }
}

void sync_serve_timeout(sync_state *s, uint64_t now) {
  for (int i = 0; i < TX_MAX; i++) {
    transfer *t = &s->tx[i];
    if (!t->used) continue;
    if (now >= t->safety) { /* 11.4: the safety timer ends the transfer in any case */
      s->st.transfers_abandoned++;
      tx_free(s, t);
      continue;
    }
    if (t->stream) {
      if (now >= t->busy_until) tx_stream_pump(s, t);
      continue;
    }
    int proved = 0;
    for (int k = 0; t->used && k < t->nfl; k++) {
      if (t->fl[k].due > now) continue;
      if (!proved++) core_prove(s->c, t->wire); /* silence may mean our proof was lost */
      tx_resend(s, t, &t->fl[k]);
    }
    if (t->used) tx_fill(s, t);
  }
}

uint64_t sync_serve_deadline(const sync_state *s, uint64_t d) {
#define EARLIER(x) do { if ((x) < d) d = (x); } while (0)
  for (int i = 0; i < TX_MAX; i++) {
    const transfer *t = &s->tx[i];
    if (!t->used) continue;
    EARLIER(t->safety);
    if (t->stream) {
      EARLIER(t->busy_until);
      continue;
    }
    for (int k = 0; k < t->nfl; k++) EARLIER(t->fl[k].due);
    if (t->nfl < SYNC_WINDOW && t->next_new < t->count) EARLIER(t->busy_until);
  }
#undef EARLIER
  return d;
}

void sync_serve_close(sync_state *s) {
  for (int i = 0; i < TX_MAX; i++) tx_free(s, &s->tx[i]);
}
