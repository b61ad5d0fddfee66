/* The congestion and pacing seam (docs/ARCHITECTURE.md "Congestion control"): every peer
 * has a cc_state driven by the send path (sent), by whatever acknowledges traffic (acked,
 * with an RTT sample when it has one) and by loss detection (lost). The send path asks it
 * how many bytes may be in flight (room) and when the next datagram may leave (next
 * send time); store/fetch transfers ask it too. An algorithm is a cc_ops table, so
 * NewReno, CUBIC or BBR plug in without touching the send path, as in ngtcp2.
 *
 * The RTT estimator lives here, shared by every algorithm: the smoothed RTT the
 * references compute from PING/PONG (PROTOCOL.md 9.2: start at RTT_INIT, then an
 * exponential average with RTT_ALPHA), plus the minimum and the variation an algorithm
 * with real acknowledgements needs. */
#ifndef SW_CORE_CC_H
#define SW_CORE_CC_H

#include <stddef.h>
#include <stdint.h>

#define CC_RTT_INIT_MS 100.0 /* PROTOCOL.md 19 RTT_INIT */
#define CC_RTT_ALPHA 0.125   /* PROTOCOL.md 19 RTT_ALPHA */
#define CC_ALGO_BYTES 192    /* room an algorithm has for its own per-peer state */

typedef struct cc_rtt {
  double smoothed; /* what the references call the peer's RTT (9.2) */
  double variation;
  double min;      /* 0 until the first sample */
  double latest;
  uint64_t samples;
} cc_rtt;

struct cc_ops;

/* Delivery-rate sampling (draft-cheng-iccrg-delivery-rate-estimation, as Linux's
 * tcp_rate.c and ngtcp2's ngtcp2_rst do it), for a sender that numbers its packets and
 * remembers each one until it is acknowledged or lost (xport.c). What the sender keeps
 * per packet, filled by cc_on_packet_sent and handed back to cc_on_packet_delivered: */
typedef struct cc_pkt {
  uint64_t delivered;       /* the connection's delivered bytes when the packet left */
  uint64_t delivered_time;  /* when the newest of those was acknowledged */
  uint64_t first_sent_time; /* the send time of the packet acknowledged then */
  uint8_t app_limited;      /* the sender had nothing to send when it left */
} cc_pkt;

/* One sample, taken from one acknowledged packet P: the bytes delivered between P's
 * departure and its acknowledgement, over the longer of the send and the ack intervals
 * (the shorter one may be compressed by queues or by batched acknowledgements). */
typedef struct cc_rate_sample {
  double rate;              /* bytes per ms; 0: no valid sample */
  uint64_t delivered;       /* bytes delivered over the interval */
  uint64_t interval;        /* ms, at least 1 (the clock's resolution) */
  uint64_t prior_delivered; /* P.delivered: tells a round trip's end (BBR rounds) */
  double rtt;               /* ms: this packet's age at its acknowledgement */
  uint64_t acked;           /* P's bytes */
  int app_limited;
} cc_rate_sample;

typedef struct cc_state {
  const struct cc_ops *ops;
  cc_rtt rtt;
  uint64_t in_flight; /* bytes sent and not yet acknowledged or lost */
  uint64_t sent_bytes, acked_bytes, lost_bytes;
  /* the delivery-rate sampler's connection state (cc_pkt, cc_rate_sample) */
  uint64_t delivered, delivered_time, first_sent_time;
  uint64_t app_limited; /* 0, or `delivered` at which the application-limited span ends */
  union {
    uint8_t bytes[CC_ALGO_BYTES];
    uint64_t align;
    double align_d;
  } algo;
} cc_state;

typedef struct cc_ops {
  const char *name;
  void (*init)(cc_state *s, uint64_t now);
  void (*on_sent)(cc_state *s, size_t bytes, uint64_t now);
  void (*on_acked)(cc_state *s, size_t bytes, uint64_t now);
  void (*on_lost)(cc_state *s, size_t bytes, uint64_t now);
  /* Bytes that may be put in flight now (SIZE_MAX: no limit). */
  size_t (*room)(const cc_state *s);
  /* Earliest time the next datagram may leave (<= now: at once). */
  uint64_t (*next_send)(const cc_state *s, uint64_t now);
  /* Optional, for a sender that numbers its packets and knows when each left (the
   * extended session's xport.c): the same events with the send time of the packet, which
   * RFC 9002 section 7.3.2 needs so that one recovery period answers all the losses of one
   * round trip. Called after the accounting of cc_on_acked / cc_on_lost. */
  void (*on_packet_acked)(cc_state *s, size_t bytes, uint64_t sent_at, uint64_t now);
  void (*on_packet_lost)(cc_state *s, size_t bytes, uint64_t sent_at, uint64_t now);
  /* Optional: every packet over a span of several probe timeouts was lost (RFC 9002
   * section 7.6): the path may have changed, start again from the minimum window. */
  void (*on_persistent_congestion)(cc_state *s, uint64_t now);
  /* Optional, for a sender that keeps a cc_pkt per packet: the delivery-rate sample of
   * one acknowledged packet (cc_on_packet_delivered), after on_packet_acked. */
  void (*on_rate_sample)(cc_state *s, const cc_rate_sample *rs, uint64_t now);
} cc_ops;

/* Today's behaviour, the default: no window, no pacing. Between our peers nothing is
 * acknowledged yet, so nothing here could limit without losing data (8.3). */
extern const cc_ops cc_unlimited;

void cc_init(cc_state *s, const cc_ops *ops, uint64_t now);
/* An RTT sample in ms (a PONG today, acknowledgements later). */
void cc_rtt_sample(cc_state *s, double sample_ms);

static inline double cc_srtt(const cc_state *s) { return s->rtt.smoothed; }

void cc_on_sent(cc_state *s, size_t bytes, uint64_t now);
/* rtt_ms: a sample taken with this acknowledgement, or a negative value for none. */
void cc_on_acked(cc_state *s, size_t bytes, double rtt_ms, uint64_t now);
void cc_on_lost(cc_state *s, size_t bytes, uint64_t now);
size_t cc_room(const cc_state *s);
uint64_t cc_next_send(const cc_state *s, uint64_t now);

/* The per-packet events: the accounting and hooks of cc_on_acked / cc_on_lost, then the
 * packet hooks with the time the packet was sent. */
static inline void cc_on_packet_acked(cc_state *s, size_t bytes, uint64_t sent_at, double rtt_ms,
                                      uint64_t now) {
  cc_on_acked(s, bytes, rtt_ms, now);
  if (s->ops->on_packet_acked) s->ops->on_packet_acked(s, bytes, sent_at, now);
}
static inline void cc_on_packet_lost(cc_state *s, size_t bytes, uint64_t sent_at, uint64_t now) {
  cc_on_lost(s, bytes, now);
  if (s->ops->on_packet_lost) s->ops->on_packet_lost(s, bytes, sent_at, now);
}
/* Rate sampling. A sender that keeps a cc_pkt per packet calls cc_on_packet_sent instead
 * of cc_on_sent, cc_on_packet_delivered instead of cc_on_packet_acked, and
 * cc_on_app_limited whenever it has nothing to send though the controller has room (so
 * the samples taken while the application, not the path, set the pace are marked and
 * cannot lower a bandwidth estimate). */
void cc_on_packet_sent(cc_state *s, size_t bytes, uint64_t now, cc_pkt *p);
void cc_on_packet_delivered(cc_state *s, size_t bytes, uint64_t sent_at, const cc_pkt *p,
                            double rtt_ms, uint64_t now);
void cc_on_app_limited(cc_state *s);

static inline void cc_on_persistent_congestion(cc_state *s, uint64_t now) {
  if (s->ops->on_persistent_congestion) s->ops->on_persistent_congestion(s, now);
}

#endif
