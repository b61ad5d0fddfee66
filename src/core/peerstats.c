/* sw_core_peer_stats: one peer's counters, from the engine's per-peer counts and, for
 * an extended session, its delivery engine (xport.h). */
#include <string.h>

#include "engine.h"
#include "peers.h"
#include "xsession.h"

int sw_core_peer_stats(const sw_core *c, const uint8_t peer[8], sw_peer_stats *out) {
  if (!c || !peer || !out) return SW_EINVAL;
  memset(out, 0, sizeof *out);
  const core_peer *p = NULL;
  for (size_t k = 0; k < c->peers_hi && !p; k++)
    if (c->peers[k].used && memcmp(c->peers[k].wire_id, peer, 8) == 0) p = &c->peers[k];
  if (!p || !p->tx) return SW_ENOTCONN;
  memcpy(out->id, p->wire_id, 8);
  out->reference = p->legacy;
  out->msgs_sent = p->msgs_sent;
  out->bytes_sent = p->bytes_sent;
  out->msgs_received = p->msgs_received;
  out->bytes_received = p->bytes_received;
  const xport *x = p->xs && p->xs->keyed ? p->xs->x : NULL;
  if (!x) {
    out->queued_bytes = p->ocount ? p->olen - 2 : 0;
    out->srtt_ms = cc_srtt(&p->cc);
    return SW_OK;
  }
  xport_stats st;
  xport_stats_get(x, &st);
  out->extended = xsession_active(p);
  out->datagrams_sent = st.dgrams_sent;
  out->datagrams_received = st.dgrams_received;
  out->queued_bytes = st.queued;
  out->retransmitted_bytes = st.retransmitted_bytes;
  out->packets_sent = st.packets_sent;
  out->packets_lost = st.packets_lost;
  out->packets_spurious = st.packets_spurious;
  out->datagrams_dropped = st.dgrams_dropped;
  out->cwnd_bytes = st.cwnd;
  out->in_flight_bytes = st.in_flight;
  out->send_window_bytes = x->snd_max > x->snd_next ? x->snd_max - x->snd_next : 0;
  out->recv_window_bytes = x->rcv_adv > x->rcv_contig ? x->rcv_adv - x->rcv_contig : 0;
  out->srtt_ms = st.srtt_ms;
  out->rttvar_ms = st.rttvar_ms;
  out->send_buffer_bytes = st.send_buf;
  out->recv_buffer_bytes = st.recv_buf;
  return SW_OK;
}
