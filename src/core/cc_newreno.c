/* NewReno with pacing (cc_newreno.h), RFC 9002 section 7. */
#include "cc_newreno.h"

#include <string.h>

_Static_assert(sizeof(cc_newreno) <= CC_ALGO_BYTES, "NewReno state must fit the seam");

static cc_newreno *st(cc_state *s) { return (cc_newreno *)(void *)s->algo.bytes; }
static const cc_newreno *cst(const cc_state *s) {
  return (const cc_newreno *)(const void *)s->algo.bytes;
}

static double srtt_ms(const cc_state *s) {
  double r = s->rtt.smoothed;
  return r >= 1.0 ? r : 1.0; /* whole ms: the clock's resolution */
}

double cc_newreno_rate(const cc_state *s) {
  const cc_newreno *n = cst(s);
  double gain = n->cwnd < n->ssthresh ? CC_NR_PACE_GAIN_SS : CC_NR_PACE_GAIN_CA;
  return gain * (double)n->cwnd / srtt_ms(s);
}

static double burst(const cc_state *s) {
  double b = cc_newreno_rate(s) * CC_NR_BURST_MS;
  return b > CC_NR_INITIAL_WINDOW ? b : CC_NR_INITIAL_WINDOW;
}

/* Pacer credit at `now`: what was left, plus the rate since, up to the burst. */
static double credit_now(const cc_state *s, uint64_t now) {
  const cc_newreno *n = cst(s);
  double c = n->credit;
  if (now > n->credit_at) c += cc_newreno_rate(s) * (double)(now - n->credit_at);
  double b = burst(s);
  return c < b ? c : b;
}

static void nr_init(cc_state *s, uint64_t now) {
  cc_newreno *n = st(s);
  memset(n, 0, sizeof *n);
  n->cwnd = CC_NR_INITIAL_WINDOW;
  n->ssthresh = UINT64_MAX;
  n->credit = CC_NR_INITIAL_WINDOW;
  n->credit_at = now;
}

static void nr_sent(cc_state *s, size_t bytes, uint64_t now) {
  cc_newreno *n = st(s);
  double c = credit_now(s, now);
  n->credit = c - (double)bytes;
  if (now > n->credit_at) n->credit_at = now;
  if (s->in_flight >= n->cwnd / 2) n->last_full = now;
}

/* RFC 9002 section 7.3: slow start grows by the bytes acknowledged, congestion avoidance
 * by one mss per window acknowledged; nothing grows for packets sent before the current
 * recovery period began (7.3.2). */
static void nr_acked(cc_state *s, size_t bytes, uint64_t sent_at, uint64_t now) {
  cc_newreno *n = st(s);
  (void)now;
  if (n->in_recovery) {
    if (sent_at <= n->recovery_start) return;
    n->in_recovery = 0; /* a packet sent in recovery arrived: recovery is over */
  }
  /* RFC 9002 section 7.8: a sender that does not fill its window (the application or the
   * peer's receive window limits it) learns nothing about the path, and the window would
   * otherwise grow without bound: a packet sent more than a round trip after the window
   * was last half full does not grow it. */
  if (sent_at > n->last_full + (uint64_t)srtt_ms(s)) return;
  if (n->cwnd < n->ssthresh) {
    n->cwnd += bytes;
    return;
  }
  n->ca_acked += bytes;
  if (n->ca_acked >= n->cwnd) {
    n->ca_acked -= n->cwnd;
    n->cwnd += CC_NR_MSS;
  }
}

/* RFC 9002 section 7.3.2: a loss of a packet sent after the recovery period began starts a
 * new one, halving the window (kLossReductionFactor 0.5), never below the minimum. */
static void nr_lost(cc_state *s, size_t bytes, uint64_t sent_at, uint64_t now) {
  cc_newreno *n = st(s);
  (void)bytes;
  if (n->in_recovery && sent_at <= n->recovery_start) return;
  n->in_recovery = 1;
  n->recovery_start = now;
  n->ssthresh = n->cwnd / 2;
  if (n->ssthresh < CC_NR_MIN_WINDOW) n->ssthresh = CC_NR_MIN_WINDOW;
  n->cwnd = n->ssthresh;
  n->ca_acked = 0;
}

/* RFC 9002 section 7.6.2: persistent congestion collapses the window to the minimum; the
 * loss that revealed it has already set ssthresh. */
static void nr_persistent(cc_state *s, uint64_t now) {
  cc_newreno *n = st(s);
  (void)now;
  n->cwnd = CC_NR_MIN_WINDOW;
  n->ca_acked = 0;
  n->in_recovery = 0;
}

static size_t nr_room(const cc_state *s) {
  const cc_newreno *n = cst(s);
  return s->in_flight >= n->cwnd ? 0 : (size_t)(n->cwnd - s->in_flight);
}

/* The pacer lets a datagram leave while it has credit; otherwise at the time the rate
 * brings the credit back above zero. */
static uint64_t nr_next_send(const cc_state *s, uint64_t now) {
  double c = credit_now(s, now);
  if (c > 0) return now;
  double wait = -c / cc_newreno_rate(s);
  uint64_t ms = (uint64_t)wait;
  if ((double)ms < wait) ms++; /* the integer ceiling, without libm */
  return now + (ms < 1 ? 1 : ms);
}

uint64_t cc_newreno_cwnd(const cc_state *s) { return cst(s)->cwnd; }
uint64_t cc_newreno_ssthresh(const cc_state *s) { return cst(s)->ssthresh; }

const cc_ops cc_newreno_ops = {
    .name = "newreno",
    .init = nr_init,
    .on_sent = nr_sent,
    .room = nr_room,
    .next_send = nr_next_send,
    .on_packet_acked = nr_acked,
    .on_packet_lost = nr_lost,
    .on_persistent_congestion = nr_persistent,
};
