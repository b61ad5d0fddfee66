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

void sync_serve_value(sync_state *s, const uint8_t wire[8], const uint8_t *k, size_t n,
                      const uint8_t *v, size_t vlen) {
  if (!vlen) return; /* 12: empty values are never served */
  core_prove(s->c, wire); /* our CHUNKs count only from a verified address (D6) */
  if (vlen <= SYNC_CHUNK_SIZE) {
    size_t fl = sync_chunk_small_encode(s->frame, k, n, v, vlen);
    if (core_send_ctrl(s->c, wire, s->frame, fl) == SW_OK) s->st.chunks_out++;
    return;
  }
  size_t count = (vlen + SYNC_CHUNK_SIZE - 1) / SYNC_CHUNK_SIZE;
  if (count > 0xFFFE) return;
  transfer *t = NULL;
  for (int i = 0; i < TX_MAX; i++) {
    transfer *x = &s->tx[i];
    if (x->used && x->klen == n && memcmp(x->key, k, n) == 0 && memcmp(x->wire, wire, 8) == 0)
      return; /* 11.2: one transfer per key and peer */
    if (!x->used && !t) t = x;
  }
  if (!t || s->tx_bytes + vlen > TX_BUDGET) return;
  memset(t, 0, sizeof *t);
  t->val = malloc(vlen);
  t->acked = calloc(count, 1);
  t->sends = calloc(count, 1);
  if (!t->val || !t->acked || !t->sends) {
    free(t->val);
    free(t->acked);
    free(t->sends);
    memset(t, 0, sizeof *t);
    return;
  }
  t->used = 1;
  memcpy(t->val, v, vlen);
  t->vlen = vlen;
  s->tx_bytes += vlen;
  memcpy(t->key, k, n);
  t->klen = n;
  memcpy(t->wire, wire, 8);
  t->count = (uint16_t)count;
  t->safety = s->now + SYNC_SAFETY_MS;
  s->st.transfers_started++;
  tx_fill(s, t);
}

/* ---- what peers send us -------------------------------------------------------- */

void sync_serve_want(sync_state *s, const uint8_t wire[8], const sync_frame *fr) {
  cent *e = sync_cache_find(&s->cache, fr->key, fr->klen);
  if (e) {
    sync_cache_touch(&s->cache, e);
    sync_serve_value(s, wire, fr->key, fr->klen, e->val, e->vlen);
    return;
  }
  /* Not in memory: ask the backend (the references do not, 11.2; a value kept only on
   * disk after a restart is then still served). */
  if (memchr(fr->key, 0, fr->klen)) return;
  /* Peers' WANTs may use a quarter of the backend slots, so they never crowd out our
   * own stores and fetches. */
  int serving = 0;
  for (int i = 0; i < STORAGE_MAX; i++) serving += s->reqs[i].state && s->reqs[i].serve;
  if (serving >= STORAGE_MAX / 4) return;
  sreq *r = sync_req_new(s, SYNC_OP_GET, fr->key, fr->klen, NULL, 0);
  if (r) {
    r->serve = 1;
    memcpy(r->wire, wire, 8);
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
    for (int k = 0; k < t->nfl; k++) EARLIER(t->fl[k].due);
    if (t->nfl < SYNC_WINDOW && t->next_new < t->count) EARLIER(t->busy_until);
  }
#undef EARLIER
  return d;
}

void sync_serve_close(sync_state *s) {
  for (int i = 0; i < TX_MAX; i++) tx_free(s, &s->tx[i]);
}
