/* BBR version 1 behind the congestion seam (cc_bbr.h). Section numbers refer to
 * draft-cardwell-iccrg-bbr-congestion-control-00 ("the draft"). */
#include "cc_bbr.h"

#include <string.h>

#include "xport.h"

_Static_assert(sizeof(cc_bbr) <= CC_ALGO_BYTES, "BBR state must fit the seam");
_Static_assert(CC_BBR_MSS == XPORT_MTU_DEFAULT, "windows count full packets");

/* PROBE_BW's eight pacing-gain phases (draft 4.3.4.3): one phase above 1 to look for
 * more bandwidth, one below to drain what that queued, six at 1. */
static const double cycle_gain[8] = {1.25, 0.75, 1, 1, 1, 1, 1, 1};

static cc_bbr *st(cc_state *s) { return (cc_bbr *)(void *)s->algo.bytes; }
static const cc_bbr *cst(const cc_state *s) {
  return (const cc_bbr *)(const void *)s->algo.bytes;
}

/* ---- the windowed maximum of the bandwidth samples ----
 * Three samples stand for the whole window (Kathleen Nichols' running min/max, which
 * Linux's win_minmax.c also uses): the best, the best of what came after it, and the best
 * of what came after that; each takes over when the one before it grows too old. Time
 * here is the round count, and the window CC_BBR_BW_ROUNDS rounds. */

static void bw_reset(cc_bbr *b, double v, uint32_t r) {
  for (int i = 0; i < 3; i++) {
    b->bw[i] = v;
    b->bw_round[i] = r;
  }
}

static void bw_put(cc_bbr *b, int i, double v, uint32_t r) {
  b->bw[i] = v;
  b->bw_round[i] = r;
}

static void bw_update(cc_bbr *b, double v, uint32_t r) {
  const uint32_t win = CC_BBR_BW_ROUNDS;
  /* a new maximum, or a window with nothing left in it: start over from this one */
  if (v >= b->bw[0] || r - b->bw_round[2] > win) {
    bw_reset(b, v, r);
    return;
  }
  if (v >= b->bw[1]) {
    bw_put(b, 1, v, r);
    bw_put(b, 2, v, r);
  } else if (v >= b->bw[2]) {
    bw_put(b, 2, v, r);
  }
  uint32_t age = r - b->bw_round[0];
  if (age > win) {
    /* the best has left the window: the runners-up move up, this sample comes last */
    bw_put(b, 0, b->bw[1], b->bw_round[1]);
    bw_put(b, 1, b->bw[2], b->bw_round[2]);
    bw_put(b, 2, v, r);
    if (r - b->bw_round[0] > win) {
      bw_put(b, 0, b->bw[1], b->bw_round[1]);
      bw_put(b, 1, b->bw[2], b->bw_round[2]);
    }
  } else if (b->bw_round[1] == b->bw_round[0] && age > win / 4) {
    /* a quarter of the window passed with one sample standing for all: keep a fresher
     * second and third */
    bw_put(b, 1, v, r);
    bw_put(b, 2, v, r);
  } else if (b->bw_round[2] == b->bw_round[1] && age > win / 2) {
    bw_put(b, 2, v, r);
  }
}

/* ---- the model ---- */

static double bw_est(const cc_bbr *b) { return b->bw[0]; }

/* The minimum RTT for products: at least 1 ms, the clock's resolution (a sub-ms path
 * reads 0). */
static double rtprop(const cc_bbr *b) { return b->min_rtt >= 1.0 ? b->min_rtt : 1.0; }

static double pacing_gain(const cc_bbr *b) {
  switch (b->state) {
  case CC_BBR_STARTUP:
    return CC_BBR_HIGH_GAIN;
  case CC_BBR_DRAIN:
    return 1.0 / CC_BBR_HIGH_GAIN;
  case CC_BBR_PROBE_BW:
    return cycle_gain[b->cycle_idx & 7];
  default:
    return 1.0;
  }
}

static double cwnd_gain(const cc_bbr *b) {
  switch (b->state) {
  case CC_BBR_STARTUP:
  case CC_BBR_DRAIN:
    return CC_BBR_HIGH_GAIN;
  case CC_BBR_PROBE_BW:
    return CC_BBR_CWND_GAIN;
  default:
    return 1.0;
  }
}

/* Draft 4.2.2: the bytes a sender hands the pacer at once: one packet below 1.2 Mbit/s
 * (150 bytes per ms), two below 24 Mbit/s (3000 bytes per ms), else 1 ms of the rate up
 * to 64 KiB. */
static double send_quantum(const cc_bbr *b) {
  if (b->pacing_rate < 150) return CC_BBR_MSS;
  if (b->pacing_rate < 3000) return 2 * CC_BBR_MSS;
  return b->pacing_rate < 65536 ? b->pacing_rate : 65536;
}

/* Draft 4.2.3.2 BBRInflight: gain x BDP, plus three quanta for the batching of sends and
 * acknowledgements; the initial window before any RTT sample. */
static uint64_t inflight_for(const cc_bbr *b, double gain) {
  if (b->min_rtt < 0 || bw_est(b) <= 0) return CC_BBR_INITIAL_WINDOW;
  double w = gain * bw_est(b) * rtprop(b) + 3 * send_quantum(b);
  return (uint64_t)w;
}

/* Draft 4.2.1: pace at gain x bandwidth; until the pipe is full, never lower the rate
 * (an early, small sample must not slow STARTUP down). */
static void set_pacing(cc_state *s, double gain) {
  cc_bbr *b = st(s);
  double rate = gain * bw_est(b) * CC_BBR_PACING_MARGIN;
  /* Under a congestive-loss cap the cap must be what limits (its additive increase is
   * what converges competing flows), not a bandwidth estimate that only says what the
   * flow's share was: pace fast enough for the cap to bind. */
  if (b->inflight_hi) {
    double capped = CC_BBR_CAP_PACE_GAIN * (double)b->cwnd / rtprop(b);
    if (capped > rate) rate = capped;
  }
  /* never below the minimum window per min RTT: a stall's tiny samples must not leave
   * the pacer waiting for seconds */
  double floor = CC_BBR_MIN_WINDOW / rtprop(b);
  if (rate > 0 && rate < floor) rate = floor;
  if (rate > 0 && (b->filled || rate > b->pacing_rate)) b->pacing_rate = rate;
}

/* ---- the pacer: a token bucket at the pacing rate ---- */

static double burst(const cc_bbr *b) {
  double v = b->pacing_rate * CC_BBR_BURST_MS;
  return v > CC_BBR_INITIAL_WINDOW ? v : CC_BBR_INITIAL_WINDOW;
}

static double credit_now(const cc_bbr *b, uint64_t now) {
  double c = b->credit;
  if (now > b->credit_at) c += b->pacing_rate * (double)(now - b->credit_at);
  double m = burst(b);
  return c < m ? c : m;
}

/* ---- states ---- */

static void enter_probe_bw(cc_state *s, uint64_t now) {
  cc_bbr *b = st(s);
  b->state = CC_BBR_PROBE_BW;
  /* Draft 4.3.4.4: start at a random phase other than the draining one, so flows do not
   * probe in step. The engine has no random source here: the time and the bytes
   * delivered so far differ from flow to flow. */
  uint64_t h = (now ^ (s->delivered << 7)) * 0x9e3779b97f4a7c15ull;
  unsigned k = (unsigned)(h >> 61) % 7; /* 0..6 */
  b->cycle_idx = (uint8_t)(k >= 1 ? k + 1 : 0);
  b->cycle_stamp = now;
}

/* Draft 4.3.4.3 BBRIsNextCyclePhase. */
static void check_cycle(cc_state *s, const cc_rate_sample *rs, uint64_t now) {
  cc_bbr *b = st(s);
  double g = cycle_gain[b->cycle_idx & 7];
  uint64_t prior_inflight = s->in_flight + rs->acked;
  int full_length = (double)(now - b->cycle_stamp) > b->min_rtt;
  int next;
  if (g == 1.0) next = full_length;
  else if (g > 1.0) next = full_length && (b->lost || prior_inflight >= inflight_for(b, g));
  else next = full_length || prior_inflight <= inflight_for(b, 1.0);
  if (next) {
    b->cycle_idx = (uint8_t)((b->cycle_idx + 1) & 7);
    b->cycle_stamp = now;
  }
}

/* Draft 4.3.2.2: the pipe is full once three rounds in a row failed to grow the estimate
 * by 25 %; samples the application limited prove nothing. */
static void check_full_pipe(cc_bbr *b, const cc_rate_sample *rs) {
  if (b->filled || !b->round_start || rs->app_limited) return;
  if (bw_est(b) >= b->full_bw * CC_BBR_FULL_BW_GROWTH) {
    b->full_bw = bw_est(b);
    b->full_bw_count = 0;
    return;
  }
  if (++b->full_bw_count >= CC_BBR_FULL_BW_ROUNDS) b->filled = 1;
}

/* Draft 4.3.3 and 4.3.4: STARTUP ends in DRAIN, which ends once the queue it built is
 * gone (in flight no more than one BDP). */
static void check_drain(cc_state *s, uint64_t now) {
  cc_bbr *b = st(s);
  if (b->state == CC_BBR_STARTUP && b->filled) b->state = CC_BBR_DRAIN;
  if (b->state == CC_BBR_DRAIN && s->in_flight <= inflight_for(b, 1.0)) enter_probe_bw(s, now);
}

static void exit_probe_rtt(cc_state *s, uint64_t now) {
  cc_bbr *b = st(s);
  if (b->prior_cwnd > b->cwnd) b->cwnd = b->prior_cwnd; /* draft 4.2.3.4 */
  if (b->filled) enter_probe_bw(s, now);
  else b->state = CC_BBR_STARTUP;
}

/* Draft 4.3.5: the minimum RTT over 10 s; when it has not been seen again for that long,
 * PROBE_RTT drains the queue (4 packets in flight) for 200 ms and one round, so that the
 * flow, and others sharing the queue, measure the path's own RTT. */
static void update_min_rtt(cc_state *s, const cc_rate_sample *rs, uint64_t now) {
  cc_bbr *b = st(s);
  int expired = now > b->min_rtt_stamp + CC_BBR_MIN_RTT_WINDOW_MS;
  if (rs->rtt >= 0 && (b->min_rtt < 0 || rs->rtt <= b->min_rtt || expired)) {
    b->min_rtt = rs->rtt;
    b->min_rtt_stamp = now;
  }
  if (expired && b->state != CC_BBR_PROBE_RTT) {
    b->state = CC_BBR_PROBE_RTT;
    b->prior_cwnd = b->cwnd;
    b->probe_rtt_done_stamp = 0;
  }
  if (b->state != CC_BBR_PROBE_RTT) return;
  /* what is delivered in PROBE_RTT says nothing of the bandwidth */
  uint64_t end = s->delivered + s->in_flight;
  s->app_limited = end ? end : 1;
  if (!b->probe_rtt_done_stamp && s->in_flight <= CC_BBR_MIN_WINDOW) {
    b->probe_rtt_done_stamp = now + CC_BBR_PROBE_RTT_MS;
    b->probe_rtt_round_done = 0;
    b->next_round_delivered = s->delivered;
  } else if (b->probe_rtt_done_stamp) {
    if (b->round_start) b->probe_rtt_round_done = 1;
    if (b->probe_rtt_round_done && now > b->probe_rtt_done_stamp) {
      b->min_rtt_stamp = now;
      exit_probe_rtt(s, now);
    }
  }
}

/* Draft 4.2.3: grow towards gain x BDP by what was acknowledged (before the pipe is
 * full, grow regardless, like slow start); never below 4 packets; 4 packets in
 * PROBE_RTT. */
static void set_cwnd(cc_state *s, uint64_t acked) {
  cc_bbr *b = st(s);
  uint64_t target = inflight_for(b, cwnd_gain(b));
  /* under a congestive-loss cap the cap is the target, whatever the model says: the
   * model's bandwidth is only this flow's past share */
  if (b->inflight_hi) target = b->inflight_hi;
  if (b->filled || b->inflight_hi) {
    uint64_t w = b->cwnd + acked;
    b->cwnd = w < target ? w : target;
  } else if (b->cwnd < target || s->delivered < CC_BBR_INITIAL_WINDOW) {
    b->cwnd += acked;
  }
  if (b->cwnd < CC_BBR_MIN_WINDOW) b->cwnd = CC_BBR_MIN_WINDOW;
  if (b->state == CC_BBR_PROBE_RTT && b->cwnd > CC_BBR_MIN_WINDOW) b->cwnd = CC_BBR_MIN_WINDOW;
}

/* ---- the seam's operations ---- */

static void bbr_init(cc_state *s, uint64_t now) {
  cc_bbr *b = st(s);
  memset(b, 0, sizeof *b);
  b->cwnd = CC_BBR_INITIAL_WINDOW;
  b->min_rtt = -1;
  b->min_rtt_stamp = now;
  b->state = CC_BBR_STARTUP;
  /* draft 4.2.1 BBRInitPacingRate: the initial window over the RTT, at the high gain */
  b->pacing_rate = CC_BBR_HIGH_GAIN * CC_BBR_INITIAL_WINDOW / s->rtt.smoothed;
  b->credit = CC_BBR_INITIAL_WINDOW;
  b->credit_at = now;
}

static void bbr_sent(cc_state *s, size_t bytes, uint64_t now) {
  cc_bbr *b = st(s);
  /* Draft 4.3.4.5: a flow that starts again from idle in PROBE_BW paces at the estimate
   * (not at a draining or probing gain). */
  if (s->in_flight == bytes && s->app_limited && b->state == CC_BBR_PROBE_BW) set_pacing(s, 1.0);
  b->credit = credit_now(b, now) - (double)bytes;
  if (now > b->credit_at) b->credit_at = now;
}

/* A loss while the RTT shows a queue (cc_bbr.h CC_BBR_QUEUE_FRACTION): cap the window,
 * once per round. */
static void bbr_lost(cc_state *s, size_t bytes, uint64_t sent_at, uint64_t now) {
  cc_bbr *b = st(s);
  (void)bytes;
  (void)sent_at;
  (void)now;
  b->lost = 1; /* ends a probing phase early */
  if (b->min_rtt < 0 || !s->rtt.samples) return;
  /* The queue is read from the newest RTT sample: the age of the most recently sent
   * packet acknowledged (RFC 9002's latest_rtt; Linux BBR's ca_rtt), not of every packet
   * an ACK covers. After a lost ACK the next one acknowledges packets that waited for it,
   * at ages of a probe timeout or more: read as a queue, random loss capped the window at
   * every lost ACK (issue 10: at 10 % loss on loopback, to 5-12 packets). */
  double q = rtprop(b) * CC_BBR_QUEUE_FRACTION;
  if (s->rtt.latest <= rtprop(b) + (q > CC_BBR_QUEUE_MIN_MS ? q : CC_BBR_QUEUE_MIN_MS))
    return;
  if (b->inflight_hi && b->hi_cut_round == b->round_count) return;
  uint64_t base = b->inflight_hi && b->inflight_hi < b->cwnd ? b->inflight_hi : b->cwnd;
  uint64_t hi = (uint64_t)((double)base * CC_BBR_BETA);
  b->inflight_hi = hi > CC_BBR_MIN_WINDOW ? hi : CC_BBR_MIN_WINDOW;
  b->hi_cut_round = b->round_count;
  if (b->cwnd > b->inflight_hi) b->cwnd = b->inflight_hi;
}

/* RFC 9002 section 7.6 (the draft's retransmission timeout, 4.2.3.4): everything over
 * several probe periods was lost; fall back to 4 packets, the model regrows the window
 * within a round or two if the path is still there. */
static void bbr_persistent(cc_state *s, uint64_t now) {
  cc_bbr *b = st(s);
  (void)now;
  if (b->cwnd > b->prior_cwnd) b->prior_cwnd = b->cwnd;
  b->cwnd = CC_BBR_MIN_WINDOW;
  b->round_start = 1;
}

static void bbr_sample(cc_state *s, const cc_rate_sample *rs, uint64_t now) {
  cc_bbr *b = st(s);
  /* draft 4.5.1: a round trip ends when a packet sent after it began is acknowledged */
  b->round_start = 0;
  if (rs->prior_delivered >= b->next_round_delivered) {
    b->next_round_delivered = s->delivered;
    b->round_count++;
    b->round_start = 1;
    /* a round without a congestive loss: the cap grows by a packet, and goes once it is
     * twice the model's own window */
    if (b->inflight_hi && b->round_count - b->hi_cut_round > 1) {
      b->inflight_hi += CC_BBR_MSS;
      if (b->inflight_hi > 2 * inflight_for(b, cwnd_gain(b))) b->inflight_hi = 0;
    }
  }
  /* draft 4.5.2.2: application-limited samples count only when they raise the estimate */
  if (rs->rate > 0 && (rs->rate >= bw_est(b) || !rs->app_limited))
    bw_update(b, rs->rate, b->round_count);
  if (b->min_rtt < 0 && rs->rtt >= 0) {
    /* the first RTT sample: pace the window over it, as Linux does, rather than over the
     * 100 ms guess of bbr_init */
    double r = CC_BBR_HIGH_GAIN * (double)b->cwnd / (rs->rtt >= 1.0 ? rs->rtt : 1.0);
    if (r > b->pacing_rate) b->pacing_rate = r;
  }
  if (b->state == CC_BBR_PROBE_BW) check_cycle(s, rs, now);
  check_full_pipe(b, rs);
  check_drain(s, now);
  update_min_rtt(s, rs, now);
  set_pacing(s, pacing_gain(b));
  set_cwnd(s, rs->acked);
  b->lost = 0;
}

static size_t bbr_room(const cc_state *s) {
  uint64_t w = cst(s)->cwnd;
  return s->in_flight >= w ? 0 : (size_t)(w - s->in_flight);
}

/* A path whose round trip is below the clock's resolution (its minimum RTT reads 0 ms,
 * cc_bbr.h CC_BBR_CLOCK_MS) is faster than the engine can measure: every rate sample's
 * interval is counted as a whole ms though several round trips fit in it, so the
 * estimate is at most one window per ms, and a pacer at that estimate would hold the flow
 * there (issue 10: ~120 MB/s on loopback with 128 KiB buffers). A pacer that can wake a
 * sender once per ms cannot spread packets finer than a round trip on such a path anyway:
 * the window alone limits. */
static int below_clock(const cc_bbr *b) { return b->min_rtt >= 0 && b->min_rtt < CC_BBR_CLOCK_MS; }

static uint64_t bbr_next_send(const cc_state *s, uint64_t now) {
  const cc_bbr *b = cst(s);
  if (below_clock(b)) return now;
  double c = credit_now(b, now);
  if (c > 0) return now;
  double wait = -c / b->pacing_rate;
  if (!(wait < CC_BBR_MAX_WAIT_MS)) wait = CC_BBR_MAX_WAIT_MS; /* also NaN */
  uint64_t ms = (uint64_t)wait;
  if ((double)ms < wait) ms++;
  return now + (ms < 1 ? 1 : ms);
}

uint64_t cc_bbr_cwnd(const cc_state *s) { return cst(s)->cwnd; }
double cc_bbr_bw(const cc_state *s) { return bw_est(cst(s)); }
double cc_bbr_rate(const cc_state *s) { return cst(s)->pacing_rate; }
double cc_bbr_min_rtt(const cc_state *s) { return cst(s)->min_rtt; }
uint64_t cc_bbr_inflight_hi(const cc_state *s) { return cst(s)->inflight_hi; }
int cc_bbr_state(const cc_state *s) { return cst(s)->state; }

const char *cc_bbr_state_name(int state) {
  static const char *const names[] = {"STARTUP", "DRAIN", "PROBE_BW", "PROBE_RTT"};
  return state >= 0 && state < 4 ? names[state] : "?";
}

const cc_ops cc_bbr_ops = {
    .name = "bbr",
    .init = bbr_init,
    .on_sent = bbr_sent,
    .room = bbr_room,
    .next_send = bbr_next_send,
    .on_packet_lost = bbr_lost,
    .on_persistent_congestion = bbr_persistent,
    .on_rate_sample = bbr_sample,
};
