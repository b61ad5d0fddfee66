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
