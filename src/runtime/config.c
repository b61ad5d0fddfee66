/* Options to engine configuration: see config.h. */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "cc_bbr.h"
#include "cc_newreno.h"
#include "mcast.h"

void sw_options_init(sw_options *o) {
  memset(o, 0, sizeof *o);
  o->version = SW_OPTIONS_VERSION;
  o->max_peers = 100;
  o->send_buffer_bytes = 1u << 20;
  o->lan = o->dht = o->http = 1;
  o->pex = 1;
  o->sync = 1;
  o->store_cache_max = 10000; /* PROTOCOL.md 19 SYNC_CACHE_MAX */
  o->store_cache_bytes = 64u << 20;
  o->transport = 1; /* the extended session with libsetowire peers (docs/TRANSPORT.md) */
  o->dial_timeout_ms = 5400; /* PROTOCOL.md 19: PUNCH_TRIES x PUNCH_INTERVAL + 3000 */
  o->dial_retries = 0;
  o->dial_retry_ms = 1000;
  o->peer_timeout_ms = 60000; /* PEER_TIMEOUT */
  o->keepalive_ms = 1000;     /* HEARTBEAT_MS */
  o->transport_buffer_max = 4u << 20;     /* XPORT_GROW_MAX_DEFAULT */
  o->transport_buffer_budget = 64u << 20; /* XPORT_GROW_BUDGET_DEFAULT */
}

/* The lifecycle options (0: default) within their documented bounds. */
static int lifecycle_ok(const sw_options *o) {
  uint32_t peer = o->peer_timeout_ms ? o->peer_timeout_ms : 60000;
  uint32_t keep = o->keepalive_ms ? o->keepalive_ms : 1000;
  if (o->dial_timeout_ms && (o->dial_timeout_ms < 300 || o->dial_timeout_ms > 600000))
    return 0;
  if (o->dial_retries > 16) return 0;
  if (o->dial_retry_ms && (o->dial_retry_ms < 100 || o->dial_retry_ms > 60000)) return 0;
  if (peer < 1000 || peer > 3600000) return 0;
  return keep >= 100 && keep <= 60000 && keep < peer;
}

/* Version 1 had a `stun` field that never had an effect, and no STUN server list: a
 * version-1 program goes on without STUN, as it always ran. */
static void from_v1(sw_options *o, const sw_options_v1 *v) {
  sw_options_init(o); /* fields v1 never had take their defaults */
  o->seed_hex = v->seed_hex;
  o->bind = v->bind;
  o->port = v->port;
  o->max_peers = v->max_peers;
  o->legacy_frag = v->legacy_frag;
  o->send_buffer_bytes = v->send_buffer_bytes;
  o->lan = v->lan;
  o->dht = v->dht;
  o->http = v->http;
  o->on_event = v->on_event;
  o->user = v->user;
  o->sync = v->sync;
  o->storage = v->storage;
  o->store_cache_max = v->store_cache_max;
  o->store_cache_bytes = v->store_cache_bytes;
  o->lan_addr = v->lan_addr;
  o->pex = v->pex;
  o->load_peers = v->load_peers;
  o->save_peers = v->save_peers;
  o->peers_ctx = v->peers_ctx;
  o->bootstrap_http = v->bootstrap_http;
  o->n_bootstrap_http = v->n_bootstrap_http;
  o->piping = v->piping;
  o->n_piping = v->n_piping;
  o->no_default_servers = v->no_default_servers;
  o->bootstrap = v->bootstrap;
  o->nbootstrap = v->nbootstrap;
  o->dht_port = v->dht_port;
  o->seeds = v->seeds;
  o->nseeds = v->nseeds;
  o->relay = v->relay;
  o->no_stun = 1;
}

/* Version 2 is version 3 without its tail: the tail takes its defaults. */
#define V2_END (offsetof(sw_options_v2, no_stun) + sizeof(int)) /* its last field's end */
_Static_assert(offsetof(sw_options, no_stun) == offsetof(sw_options_v2, no_stun) &&
                   offsetof(sw_options, transport) >= V2_END,
               "sw_options_v2 must be a prefix of sw_options");
static void from_v2(sw_options *o, const sw_options_v2 *v) {
  sw_options_init(o);
  memcpy(o, v, V2_END); /* not its tail padding: `transport` may sit there in v3 */
  o->version = SW_OPTIONS_VERSION;
}

int config_upgrade(sw_options *out, const sw_options *opts) {
  if (!out || !opts) return SW_EINVAL;
  /* Every version starts with `int version`. */
  switch (opts->version) {
    case 1: from_v1(out, (const sw_options_v1 *)(const void *)opts); return SW_OK;
    case 2: from_v2(out, (const sw_options_v2 *)(const void *)opts); return SW_OK;
    case SW_OPTIONS_VERSION: *out = *opts; return SW_OK;
    default: return SW_EINVAL;
  }
}

/* DHT bootstrap nodes: every entry must parse; numeric ones go to the engine now
 * (at most CONFIG_BOOT_KEPT), names are resolved by the runtime once its loop runs. */
static int bootstrap_nodes(config *c, const sw_options *o) {
  if (o->nbootstrap > CONFIG_BOOT_MAX || (o->nbootstrap && !o->bootstrap)) return SW_EINVAL;
  for (size_t i = 0; i < o->nbootstrap; i++) {
    char host[256];
    uint16_t port;
    sw_addr a;
    if (!o->bootstrap[i] || addr_split_hostport(o->bootstrap[i], host, sizeof host, &port))
      return SW_EINVAL;
    if (!port) port = CONFIG_DEFAULT_PORT;
    if (addr_parse_ip(&a, host, port) == SW_OK && c->dht.nbootstrap < CONFIG_BOOT_KEPT)
      c->boot[c->dht.nbootstrap++] = a;
  }
  return SW_OK;
}

int config_from_options(config *c, const sw_options *o) {
  if (!c || !o || o->version != SW_OPTIONS_VERSION) return SW_EINVAL;
  memset(c, 0, sizeof *c);
  c->dht.bootstrap = c->boot;
  int rc = bootstrap_nodes(c, o);
  if (rc != SW_OK) return rc;
  /* Beacons, DHT and HTTP records announce this address (PROTOCOL.md 14.2 `lip`). */
  mcast_local_ip(o->lan_addr, o->bind, c->lan_ip, sizeof c->lan_ip);
  c->dht.relay = o->relay;
  if (!lifecycle_ok(o)) return SW_EINVAL;
  if (o->congestion < SW_CC_DEFAULT || o->congestion > SW_CC_NEWRENO) return SW_EINVAL;
  if (o->transport_buffer_max > (64u << 20)) return SW_EINVAL; /* XPORT_BUF_MAX */
  if (o->nstun > CONFIG_STUN_MAX || (o->nstun && !o->stun)) return SW_EINVAL;
  for (size_t i = 0; i < o->nstun; i++) {
    char host[256];
    uint16_t port;
    if (!o->stun[i] || addr_split_hostport(o->stun[i], host, sizeof host, &port))
      return SW_EINVAL;
  }
  c->core = (sw_core_config){.seed_hex = o->seed_hex,
                             .max_peers = o->max_peers,
                             .legacy_frag = o->legacy_frag,
                             .out_buffer_bytes = o->send_buffer_bytes,
                             .sync = o->sync,
                             .store_cache_max = o->store_cache_max,
                             .store_cache_bytes = o->store_cache_bytes,
                             .storage = o->storage != NULL,
                             .lan = o->lan,
                             .lan_ip = c->lan_ip,
                             .pex = o->pex,
                             .peer_cache = 1,
                             .load_peers = o->load_peers,
                             .save_peers = o->save_peers,
                             .peers_ctx = o->peers_ctx,
                             .http = o->http,
                             .bootstrap_http = o->bootstrap_http,
                             .n_bootstrap_http = o->n_bootstrap_http,
                             .piping = o->piping,
                             .n_piping = o->n_piping,
                             .no_default_servers = o->no_default_servers,
                             .nat = !o->no_stun && (o->nstun || !o->no_default_servers),
                             .intro = 1,
                             .relayed = 1,
                             .relay_serve = o->relay,
                             .xsession = o->transport,
                             .xsession_cc = o->congestion == SW_CC_NEWRENO ? &cc_newreno_ops
                                            : o->congestion == SW_CC_BBR   ? &cc_bbr_ops
                                                                           : NULL,
                             .xsession_buf_max = o->transport_buffer_max,
                             .xsession_buf_budget = o->transport_buffer_budget,
                             .dial_timeout_ms = o->dial_timeout_ms,
                             .dial_retries = o->dial_retries,
                             .dial_retry_ms = o->dial_retry_ms,
                             .peer_timeout_ms = o->peer_timeout_ms,
                             .keepalive_ms = o->keepalive_ms,
                             .dht = o->dht ? &c->dht : NULL};
  return SW_OK;
}
