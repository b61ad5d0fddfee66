/* NewReno with pacing behind the congestion seam (cc.h), as RFC 9002 section 7 gives it
 * for QUIC: slow start, congestion avoidance, one recovery period per round trip, and a
 * pacer that spreads the window over the smoothed RTT. The extended session's delivery
 * engine (xport.c) drives it with per-packet events (cc_on_packet_acked/_lost). */
#ifndef SW_CORE_CC_NEWRENO_H
#define SW_CORE_CC_NEWRENO_H

#include "cc.h"

/* The datagram size the window is counted in: the extended session's packet plaintext
 * (xport.h XPORT_MTU_DEFAULT). RFC 9002 section 7.2 counts windows in max_datagram_size. */
#define CC_NR_MSS 1200
/* RFC 9002 section 7.2: initial window min(10 * mss, max(14720, 2 * mss)). */
#define CC_NR_INITIAL_WINDOW (10 * CC_NR_MSS < 14720 ? 10 * CC_NR_MSS : 14720)
/* RFC 9002 section 7.2: minimum window 2 * mss. */
#define CC_NR_MIN_WINDOW (2 * CC_NR_MSS)
/* Pacing gain: RFC 9002 section 7.7 suggests N = 1.25 so the pacer does not hold the
 * window back; in slow start the window doubles per round trip, so the pacer runs at 2x
 * (as Linux's pacing does), else slow start would be paced slower than it grows. */
#define CC_NR_PACE_GAIN_SS 2.0
#define CC_NR_PACE_GAIN_CA 1.25
/* Pacer burst: up to the initial window at once, and at least 2 ms of the rate, since
 * time in the engine counts in whole ms. */
#define CC_NR_BURST_MS 2

typedef struct cc_newreno {
  uint64_t cwnd;
  uint64_t ssthresh;
  uint64_t recovery_start; /* send times up to this one belong to the current recovery */
  uint64_t ca_acked;       /* bytes acknowledged towards the next +1 mss in avoidance */
  double credit;           /* pacer: bytes that may leave at credit_at (may be < 0) */
  uint64_t credit_at;
  uint64_t last_full;      /* when a send last found the window at least half used */
  uint8_t in_recovery;
} cc_newreno;

extern const cc_ops cc_newreno_ops;

/* For tests and statistics: the congestion window and slow start threshold. */
uint64_t cc_newreno_cwnd(const cc_state *s);
uint64_t cc_newreno_ssthresh(const cc_state *s);
/* The pacing rate in bytes per ms. */
double cc_newreno_rate(const cc_state *s);

#endif
