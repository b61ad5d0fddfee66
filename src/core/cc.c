/* The congestion seam (cc.h): the shared RTT estimator and byte accounting, and the
 * default controller. */
#include "cc.h"

#include <math.h>
#include <string.h>

void cc_init(cc_state *s, const cc_ops *ops, uint64_t now) {
  memset(s, 0, sizeof *s);
  s->ops = ops ? ops : &cc_unlimited;
  s->rtt.smoothed = CC_RTT_INIT_MS;
  s->rtt.variation = CC_RTT_INIT_MS / 2;
  if (s->ops->init) s->ops->init(s, now);
}

void cc_rtt_sample(cc_state *s, double sample) {
  cc_rtt *r = &s->rtt;
  if (!(sample >= 0)) return; /* also refuses NaN */
  r->latest = sample;
  if (!r->samples || sample < r->min) r->min = sample;
  /* PROTOCOL.md 9.2 step 4: the smoothed value moves by RTT_ALPHA of the difference,
   * from RTT_INIT on, as the references do, so the figure a user reads is theirs. */
  r->variation += 0.25 * (fabs(r->smoothed - sample) - r->variation);
  r->smoothed += CC_RTT_ALPHA * (sample - r->smoothed);
  r->samples++;
}

void cc_on_sent(cc_state *s, size_t bytes, uint64_t now) {
  s->in_flight += bytes;
  s->sent_bytes += bytes;
  if (s->ops->on_sent) s->ops->on_sent(s, bytes, now);
}

static void leave_flight(cc_state *s, size_t bytes) {
  s->in_flight = bytes < s->in_flight ? s->in_flight - bytes : 0;
}

void cc_on_acked(cc_state *s, size_t bytes, double rtt_ms, uint64_t now) {
  cc_rtt_sample(s, rtt_ms);
  leave_flight(s, bytes);
  s->acked_bytes += bytes;
  if (s->ops->on_acked) s->ops->on_acked(s, bytes, now);
}

void cc_on_lost(cc_state *s, size_t bytes, uint64_t now) {
  leave_flight(s, bytes);
  s->lost_bytes += bytes;
  if (s->ops->on_lost) s->ops->on_lost(s, bytes, now);
}

/* ---- delivery-rate sampling (cc.h cc_pkt) ---- */

void cc_on_packet_sent(cc_state *s, size_t bytes, uint64_t now, cc_pkt *p) {
  /* a flight that starts from nothing starts its intervals now (the draft's "restart
   * from idle"), else the idle time would count as time spent delivering */
  if (!s->in_flight) s->first_sent_time = s->delivered_time = now;
  p->delivered = s->delivered;
  p->delivered_time = s->delivered_time;
  p->first_sent_time = s->first_sent_time;
  p->app_limited = s->app_limited != 0;
  cc_on_sent(s, bytes, now);
}

void cc_on_packet_delivered(cc_state *s, size_t bytes, uint64_t sent_at, const cc_pkt *p,
                            double rtt_ms, uint64_t now) {
  cc_on_packet_acked(s, bytes, sent_at, rtt_ms, now);
  s->delivered += bytes;
  s->delivered_time = now;
  /* the send interval of later packets starts at the newest packet acknowledged */
  if (sent_at > s->first_sent_time) s->first_sent_time = sent_at;
  if (s->app_limited && s->delivered > s->app_limited) s->app_limited = 0;
  if (!s->ops->on_rate_sample) return;
  cc_rate_sample rs;
  memset(&rs, 0, sizeof rs);
  rs.delivered = s->delivered - p->delivered;
  rs.prior_delivered = p->delivered;
  rs.acked = bytes;
  rs.app_limited = p->app_limited;
  rs.rtt = now >= sent_at ? (double)(now - sent_at) : 0;
  uint64_t send_el = sent_at >= p->first_sent_time ? sent_at - p->first_sent_time : 0;
  uint64_t ack_el = now >= p->delivered_time ? now - p->delivered_time : 0;
  uint64_t iv = send_el > ack_el ? send_el : ack_el;
  /* The clock counts whole ms: an interval read as 0 lasted less than 1 ms, so 1 ms
   * gives a rate no higher than the true one. An interval shorter than the minimum
   * RTT (by more than the clock's 1 ms) can only come from compressed acknowledgements:
   * no sample (the draft's rule). */
  rs.interval = iv ? iv : 1;
  if (s->rtt.samples && (double)iv + 1 < s->rtt.min) rs.rate = 0;
  else rs.rate = (double)rs.delivered / (double)rs.interval;
  s->ops->on_rate_sample(s, &rs, now);
}

void cc_on_app_limited(cc_state *s) {
  if (!cc_room(s)) return; /* the controller, not the application, holds the sender */
  uint64_t end = s->delivered + s->in_flight;
  s->app_limited = end ? end : 1;
}

size_t cc_room(const cc_state *s) { return s->ops->room ? s->ops->room(s) : SIZE_MAX; }

uint64_t cc_next_send(const cc_state *s, uint64_t now) {
  return s->ops->next_send ? s->ops->next_send(s, now) : now;
}

/* Nothing acknowledges reference traffic, so in_flight only grows: it is not a window. */
static size_t unlimited_room(const cc_state *s) {
  (void)s;
  return SIZE_MAX;
}

const cc_ops cc_unlimited = {.name = "unlimited", .room = unlimited_room};
