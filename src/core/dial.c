/* Dialling and the meet gate: see dial.h. */
#include "dial.h"

#include <string.h>

#include "paths.h"
#include "peers.h"
#include "send.h"

static dial_entry *dial_find(sw_core *c, const sw_addr *a) {
  for (int i = 0; i < c->dial_hi; i++)
    if (c->dials[i].used && addr_equal(&c->dials[i].to, a)) return &c->dials[i];
  return NULL;
}

int dial_active(sw_core *c, const core_path *path) {
  return !path->relayed && dial_find(c, &path->addr) != NULL;
}

void dial_forget(sw_core *c, const core_path *path, const uint8_t wire[8]) {
  /* An address that answered wanted the dial: it leaves the per-minute count (dial.h). */
  if (!path->relayed)
    for (int i = 0; i < DIAL_HIST; i++)
      if (c->meet_hist[i].at && addr_equal(&c->meet_hist[i].to, &path->addr))
        c->meet_hist[i].at = 0;
  for (int i = 0; i < c->dial_hi; i++) {
    dial_entry *d = &c->dials[i];
    if (!d->used) continue;
    if ((!path->relayed && addr_equal(&d->to, &path->addr)) ||
        (d->has_id && memcmp(d->id, wire, 8) == 0))
      d->used = 0;
  }
}

int dial_answer_matches(sw_core *c, const core_path *path, const uint8_t digest[32]) {
  if (path->relayed) return 1; /* a relayed answer was not dialled by address */
  dial_entry *d = dial_find(c, &path->addr);
  return !(d && d->has_id && memcmp(digest, d->id, 20) != 0);
}

/* SW_EV_DIAL_FAILED for a dial that ended without a session, unless a session with the
 * peer formed some other way meanwhile (another address, an incoming HELLO). */
static void dial_failed(sw_core *c, const dial_entry *d) {
  int pi;
  core_path path = core_path_direct(&d->to);
  if (paths_find_peer(c, &path, &pi) || (d->has_id && peers_find(c, d->id))) return;
  int reason = d->icmp ? d->icmp
               : c->npeers >= c->max_peers ? SW_REASON_TABLE_FULL
                                           : SW_REASON_TIMEOUT;
  char text[SW_ADDRSTRLEN];
  uint8_t topic[32];
  addr_format(&d->to, text, sizeof text);
  if (d->has_topic) memcpy(topic, d->topic, 32);
  sw_event ev = {.type = SW_EV_DIAL_FAILED, .addr = text, .reason = reason,
                 .topic = d->has_topic ? topic : NULL};
  engine_emit(c, &ev);
}

/* An attempt ran out (or an ICMP error ended it): the next one after the backoff, or the
 * dial is over. */
static void dial_attempt_over(sw_core *c, dial_entry *d, uint64_t now) {
  if (d->attempt < c->cfg.dial_retries && !c->closing) {
    uint64_t delay = (uint64_t)c->cfg.dial_retry_ms << d->attempt;
    d->attempt++;
    d->sent = 0;
    d->icmp = 0;
    d->next_at = now + delay;
    d->expire_at = d->next_at + c->cfg.dial_timeout_ms;
    return;
  }
  dial_entry ended = *d;
  d->used = 0; /* before the event: its handler may dial again */
  dial_failed(c, &ended);
}

void dial_run(sw_core *c, uint64_t now) {
  for (int i = 0; i < c->dial_hi; i++) {
    dial_entry *d = &c->dials[i];
    if (!d->used) continue;
    if (now >= d->expire_at || d->icmp) {
      dial_attempt_over(c, d, now);
      continue;
    }
    core_path to = core_path_direct(&d->to);
    while (d->sent < PUNCH_TRIES && now >= d->next_at && d->next_at < d->expire_at) {
      send_hello(c, WIRE_HELLO, &to);
      d->sent++;
      d->next_at += PUNCH_INTERVAL_MS;
    }
  }
  while (c->dial_hi > 0 && !c->dials[c->dial_hi - 1].used) c->dial_hi--;
}

uint64_t dial_deadline(const sw_core *c) {
  uint64_t t = UINT64_MAX;
  for (int i = 0; i < c->dial_hi; i++) {
    const dial_entry *d = &c->dials[i];
    if (!d->used) continue;
    uint64_t x = d->expire_at;
    if (d->sent < PUNCH_TRIES && d->next_at < x) x = d->next_at;
    if (x < t) t = x;
  }
  return t;
}

int dial_topic(sw_core *c, const core_path *path, const uint8_t wire[8], uint8_t out[32]) {
  for (int i = 0; i < c->dial_hi; i++) {
    const dial_entry *d = &c->dials[i];
    if (!d->used || !d->has_topic) continue;
    if ((!path->relayed && addr_equal(&d->to, &path->addr)) ||
        (d->has_id && memcmp(d->id, wire, 8) == 0)) {
      memcpy(out, d->topic, 32);
      return 1;
    }
  }
  return 0;
}

void sw_core_unreachable(sw_core *c, const sw_addr *to, int refused, uint64_t now) {
  if (!to) return;
  c->last_now = now;
  dial_entry *d = dial_find(c, to);
  if (!d || d->sent == 0) return; /* nothing of ours went there in this attempt */
  d->icmp = refused ? SW_REASON_REFUSED : SW_REASON_UNREACHABLE;
  dial_run(c, now);
}

void dial_cancel_all(sw_core *c) {
  for (int i = 0; i < c->dial_hi; i++) c->dials[i].used = 0;
  c->dial_hi = 0;
}

int sw_core_dial(sw_core *c, const sw_addr *to, const uint8_t *full_id, uint64_t now) {
  int pi;
  if (!to || (to->family != 4 && to->family != 6) || !to->port) return SW_EINVAL;
  if (c->closing) return SW_ECLOSED;
  core_path path = core_path_direct(to);
  if (paths_find_peer(c, &path, &pi)) return SW_OK;        /* already connected */
  if (full_id && peers_find(c, full_id)) return SW_OK;
  if (full_id && memcmp(full_id, c->me.id, 20) == 0) return SW_EINVAL; /* D9 */
  if (dial_find(c, to)) return SW_OK;                      /* already dialling */
  for (int i = 0; i < DIAL_MAX; i++) {
    dial_entry *d = &c->dials[i];
    if (d->used) continue;
    memset(d, 0, sizeof *d);
    d->used = 1;
    if (i >= c->dial_hi) c->dial_hi = i + 1;
    d->to = *to;
    if (full_id) {
      d->has_id = 1;
      memcpy(d->id, full_id, 20);
    }
    d->next_at = now;
    d->expire_at = now + c->cfg.dial_timeout_ms;
    dial_run(c, now);
    return SW_OK;
  }
  return SW_EFULL;
}

/* ---- per-IP and per-prefix bounds on discovery dials (dial.h) ---------------------- */

static int dial_local(const sw_addr *a) {
  static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return (a->family == 4 && a->ip[0] == 127) || (a->family == 6 && !memcmp(a->ip, v6lo, 16));
}

static int dial_same_ip(const sw_addr *a, const sw_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

static int dial_same_prefix(const sw_addr *a, const sw_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, a->family == 4 ? 3 : 6) == 0;
}

/* Whether discovery may start a dial to `a` now: fewer than DIAL_PER_IP dials in flight
 * to its IP and DIAL_PER_PREFIX to its /24 (/48), and fewer than DIAL_IP_PER_MIN and
 * DIAL_PREFIX_PER_MIN started there by discovery in the last minute. */
static int dial_prefix_room(const sw_core *c, const sw_addr *a, uint64_t now) {
  if (dial_local(a)) return 1;
  int ip = 0, prefix = 0;
  for (int i = 0; i < c->dial_hi; i++) {
    const dial_entry *d = &c->dials[i];
    if (!d->used || !dial_same_prefix(&d->to, a)) continue;
    prefix++;
    ip += dial_same_ip(&d->to, a);
  }
  if (ip >= DIAL_PER_IP || prefix >= DIAL_PER_PREFIX) return 0;
  ip = prefix = 0;
  for (int i = 0; i < DIAL_HIST; i++) {
    const sw_addr *t = &c->meet_hist[i].to;
    uint64_t at = c->meet_hist[i].at;
    if (!at || now - at >= 60000 || !dial_same_prefix(t, a)) continue;
    prefix++;
    ip += dial_same_ip(t, a);
  }
  return ip < DIAL_IP_PER_MIN && prefix < DIAL_PREFIX_PER_MIN;
}

static void dial_prefix_note(sw_core *c, const sw_addr *a, uint64_t now) {
  unsigned k = c->meet_hist_next++ % DIAL_HIST;
  c->meet_hist[k].at = now ? now : 1;
  c->meet_hist[k].to = *a;
}

int core_meet(sw_core *c, const sw_addr *addr, const uint8_t *full_id, uint64_t now) {
  return core_meet_topic(c, addr, full_id, NULL, now);
}

/* A dial a topic's discovery asked for carries the topic (sw_event.topic); the first
 * topic to ask keeps it. */
static void dial_set_topic(sw_core *c, const sw_addr *addr, const uint8_t *topic) {
  dial_entry *d = topic ? dial_find(c, addr) : NULL;
  if (!d || d->has_topic) return;
  d->has_topic = 1;
  memcpy(d->topic, topic, 32);
}

int core_meet_topic(sw_core *c, const sw_addr *addr, const uint8_t *full_id,
                    const uint8_t *topic, uint64_t now) {
  /* D19: a token bucket bounds the HELLOs discovery data can make us send. */
  if (now > c->meet_refill_at) {
    c->meet_tokens += (double)(now - c->meet_refill_at) * MEET_RATE_PER_S / 1000.0;
    if (c->meet_tokens > MEET_BURST) c->meet_tokens = MEET_BURST;
    c->meet_refill_at = now;
  }
  int pi;
  if (full_id && (memcmp(full_id, c->me.id, 20) == 0)) return SW_EINVAL; /* D9 */
  if (full_id && peers_find(c, full_id)) return SW_OK; /* D10: compare wire ids */
  core_path path = core_path_direct(addr);
  if (paths_find_peer(c, &path, &pi)) return SW_OK;
  dial_entry *d = dial_find(c, addr);
  if (d) {
    dial_set_topic(c, addr, topic);
    /* Already dialling this address, started without an id (an introduction's dial):
     * the id now known binds the answer, and the modules hear of the meet, which they
     * would otherwise never do (no relayed fallback, no introduction for it). */
    if (full_id && !d->has_id) {
      d->has_id = 1;
      memcpy(d->id, full_id, 20);
      FOR_MODULES(c, m) if (m->on_meet) m->on_meet(m->state, addr, full_id, now);
    }
    return SW_OK;
  }
  if (c->meet_tokens < 1) return SW_EFULL;
  /* One victim's network is not ours to flood, however many records name it. */
  if (!dial_prefix_room(c, addr, now)) return SW_EFULL;
  c->meet_tokens -= 1;
  int rc = sw_core_dial(c, addr, full_id, now);
  if (rc == SW_OK) {
    dial_prefix_note(c, addr, now);
    dial_set_topic(c, addr, topic);
  }
  if (rc == SW_OK) FOR_MODULES(c, m) if (m->on_meet) m->on_meet(m->state, addr, full_id, now);
  return rc;
}

int core_dial_path(sw_core *c, const core_path *path, uint64_t now) {
  int pi;
  (void)now;
  if (!path) return SW_EINVAL;
  if (!path->relayed && !path->sock) return sw_core_dial(c, &path->addr, NULL, now);
  if (c->closing) return SW_ECLOSED;
  if (paths_find_peer(c, path, &pi)) return SW_OK;
  send_hello(c, WIRE_HELLO, path);
  return SW_OK;
}

int core_hello(sw_core *c, const core_path *path) {
  int pi;
  if (!path) return SW_EINVAL;
  if (c->closing) return SW_ECLOSED;
  if (paths_find_peer(c, path, &pi)) return SW_OK;
  send_hello(c, WIRE_HELLO, path);
  return SW_OK;
}
