/* BBR (version 1) behind the congestion seam (cc.h): a model-based controller that paces
 * at its estimate of the path's bottleneck bandwidth and keeps about two bandwidth-delay
 * products in flight, instead of reading every loss as congestion. It follows the
 * structure of draft-cardwell-iccrg-bbr-congestion-control-00 (the IETF description of
 * BBRv1, as Linux's tcp_bbr.c implements it): STARTUP, DRAIN, PROBE_BW, PROBE_RTT; a
 * windowed maximum of delivery-rate samples (cc.h cc_rate_sample) over 10 round trips;
 * a minimum RTT over 10 s; pacing rate = gain x bandwidth; window = gain x BDP.
 *
 * The extended session's delivery engine (xport.c) drives it through the per-packet
 * rate sampling of the seam. Random loss does not shrink the model, so a path that drops
 * 1 % or 10 % of packets at random keeps most of its bandwidth (docs/TRANSPORT-delivery.md
 * "Congestion control"). Local to the sender: no wire change. */
#ifndef SW_CORE_CC_BBR_H
#define SW_CORE_CC_BBR_H

#include "cc.h"

/* The packet size windows are counted in: the extended session's full packet plaintext
 * (xport.h XPORT_MTU_DEFAULT; checked in cc_bbr.c). */
#define CC_BBR_MSS 1372
/* Initial window: 10 packets, as TCP (RFC 6928) and the draft's InitialCwnd. */
#define CC_BBR_INITIAL_WINDOW (10 * CC_BBR_MSS)
/* The draft's BBRMinPipeCwnd: 4 packets, the floor of the window and the window of
 * PROBE_RTT. */
#define CC_BBR_MIN_WINDOW (4 * CC_BBR_MSS)
/* The draft's BBRHighGain, 2/ln(2): the smallest gain that doubles the sending rate
 * every round trip in STARTUP. DRAIN paces at its inverse. */
#define CC_BBR_HIGH_GAIN 2.885
/* PROBE_BW's window gain (the draft's cwnd_gain 2): room for delayed and aggregated
 * acknowledgements. */
#define CC_BBR_CWND_GAIN 2.0
/* The draft's BtlBwFilterLen: the bandwidth estimate is the maximum over 10 rounds. */
#define CC_BBR_BW_ROUNDS 10
/* The draft's MinRTTFilterLen (10 s) and ProbeRTTDuration (200 ms). */
#define CC_BBR_MIN_RTT_WINDOW_MS 10000
#define CC_BBR_PROBE_RTT_MS 200
/* The draft's full-pipe test: STARTUP ends after 3 rounds in which the bandwidth
 * estimate did not grow by 25 %. */
#define CC_BBR_FULL_BW_GROWTH 1.25
#define CC_BBR_FULL_BW_ROUNDS 3
/* Linux's bbr_pacing_margin_percent: pace 1 % below the estimate, so that a queue an
 * estimate a little too high would build drains. */
#define CC_BBR_PACING_MARGIN 0.99
/* Our addition, not BBRv1's: a loss is congestive when the RTT around it shows a queue,
 * more than the minimum RTT plus a quarter of it (at least 2 ms, the clock's resolution
 * twice). BBRv1 ignores every loss, so flows sharing a shallow queue overfill it together
 * (each keeps two BDPs of its own estimate in flight) and stay at a high loss rate, and
 * the share each gets never converges. On a congestive loss, at most once per round, the
 * window is capped at 0.7 of itself (BBRv2's beta); the cap grows by one packet per round
 * without one and goes once it is above the model's window (additive increase,
 * multiplicative decrease: what makes flows converge to equal shares). A random loss on a
 * path without a queue changes nothing. */
#define CC_BBR_QUEUE_FRACTION 0.25
#define CC_BBR_QUEUE_MIN_MS 2.0
#define CC_BBR_BETA 0.7
/* While capped, the pacer runs at 1.25 x cap / min RTT at least (RFC 9002 section 7.7's
 * pacing gain for a window-limited sender), so the cap, not the pacer, limits. */
#define CC_BBR_CAP_PACE_GAIN 1.25
/* Pacer burst: at least 2 ms of the rate (the engine's clock counts whole ms, so a
 * sender can only be woken once per ms) and at least the initial window. */
#define CC_BBR_BURST_MS 2
/* The engine's clock resolution, ms. A path whose minimum RTT reads below it (0: the
 * acknowledgement came within the tick its packet left in) is not paced: its window
 * alone limits (cc_bbr.c below_clock, docs/TRANSPORT-delivery.md "Limits"). */
#define CC_BBR_CLOCK_MS 1.0
/* The pacer never makes a datagram wait longer than this (a bound, not a tuning: the
 * rate's floor of 4 packets per min RTT keeps waits far shorter). */
#define CC_BBR_MAX_WAIT_MS 1000

enum { CC_BBR_STARTUP = 0, CC_BBR_DRAIN = 1, CC_BBR_PROBE_BW = 2, CC_BBR_PROBE_RTT = 3 };

typedef struct cc_bbr {
  double bw[3];            /* the windowed maximum: best, second, third (minmax) */
  uint32_t bw_round[3];    /* the round each was taken in */
  uint32_t round_count;    /* round trips counted by delivery */
  double pacing_rate;      /* bytes per ms */
  double credit;           /* pacer: bytes that may leave at credit_at (may be < 0) */
  uint64_t credit_at;
  double full_bw;          /* full-pipe test: the bandwidth to beat by 25 % */
  double min_rtt;          /* ms; < 0: no sample yet */
  uint64_t min_rtt_stamp;
  uint64_t cwnd, prior_cwnd;
  uint64_t next_round_delivered;
  uint64_t cycle_stamp;          /* PROBE_BW: when the current gain phase began */
  uint64_t probe_rtt_done_stamp; /* PROBE_RTT: when it may end (0: not yet known) */
  uint8_t state, cycle_idx, full_bw_count, filled, round_start, probe_rtt_round_done;
  uint8_t lost; /* a packet was declared lost since the last sample */
  uint64_t inflight_hi;   /* the cap of congestive losses (0: none) */
  uint32_t hi_cut_round;  /* the round of the last cut */
} cc_bbr;

extern const cc_ops cc_bbr_ops;

/* For tests and statistics. */
uint64_t cc_bbr_cwnd(const cc_state *s);
double cc_bbr_bw(const cc_state *s);        /* bytes per ms: the windowed maximum */
double cc_bbr_rate(const cc_state *s);      /* bytes per ms: the pacing rate */
double cc_bbr_min_rtt(const cc_state *s);   /* ms; < 0: none yet */
uint64_t cc_bbr_inflight_hi(const cc_state *s); /* the congestive-loss cap; 0: none */
int cc_bbr_state(const cc_state *s);        /* CC_BBR_* */
const char *cc_bbr_state_name(int state);

#endif
