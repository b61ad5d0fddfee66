/* The DHT module (dht.h): attach, the engine's hooks, answering other nodes' requests,
 * the timers and the public entry points. PROTOCOL.md 14.6 gives the references'
 * behaviour; D17, D18, D24 what we fix. The codec is in dht_wire.c, the tables in
 * dht_table.c, the lookups and their requests in dht_lookup.c (dht_state.h). */
#include "dht.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "dht_state.h"

/* ---- sending -------------------------------------------------------------------- */

void dht_send(dht *d, const sw_addr *to, dht_msg *m) {
  m->has_from = 1;
  memcpy(m->from, d->self, DHT_ID_LEN);
  int n = dht_encode(m, d->buf, sizeof d->buf);
  if (n <= 0) return;
  core_send(d->core, SW_SOCK_DHT, to, d->buf, (size_t)n);
  d->st.tx++;
}

/* ---- receiving ------------------------------------------------------------------ */

static void reset_msg(dht_msg *m, int type) {
  memset(m, 0, offsetof(dht_msg, value));
  m->has_nodes = m->has_peers = m->has_value = 0;
  m->nnodes = m->npeers = 0;
  m->type = type;
}

static void answer(dht *d, const dht_msg *in, const sw_addr *from, uint64_t now) {
  dht_msg *m = &d->scratch;
  switch (in->type) {
    case DHT_PING:
      reset_msg(m, DHT_PONG);
      break;
    case DHT_FIND_NODE:
      reset_msg(m, DHT_FOUND_NODE);
      m->has_nodes = 1;
      m->nnodes = dht_table_closest(d, in->target, m->nodes, DHT_K);
      break;
    case DHT_FIND_VALUE: {
      const store_entry *e = dht_table_store_get(d, in->key, now);
      if (e) {
        reset_msg(m, DHT_FOUND_VAL);
        m->has_value = 1;
        m->value_len = e->len;
        memcpy(m->value, e->value, e->len + 1);
      } else {
        reset_msg(m, DHT_FOUND_NODE);
        m->has_nodes = 1;
        m->nnodes = dht_table_closest(d, in->key, m->nodes, DHT_K);
      }
      break;
    }
    case DHT_STORE:
      dht_table_store_put(d, in->key, in->value, in->value_len, from, now);
      return; /* 14.6: no reply */
    case DHT_GET_PEERS:
      reset_msg(m, DHT_PEERS);
      m->has_peers = m->has_nodes = m->has_ip = 1;
      m->ip = *from;
      m->ip.port = 0;
      m->npeers = dht_table_ann_get(d, in->key, m->peers, DHT_MSG_PEERS, now);
      m->nnodes = dht_table_closest(d, in->key, m->nodes, DHT_K);
      break;
    case DHT_ANNOUNCE_PEER: {
      sw_addr a = *from; /* the announcer's IP as we see it, its main port */
      a.port = in->port;
      dht_table_ann_put(d, in->key, in->id, &a, from, now);
      reset_msg(m, DHT_PONG);
      break;
    }
    default:
      return; /* replies nobody waits for */
  }
  if (in->has_rpc) {
    m->has_rpc = 1;
    m->rpc = in->rpc;
  }
  dht_send(d, from, m);
}

static void on_datagram(void *st, sw_sock_kind kind, const sw_addr *from, const uint8_t *buf,
                       size_t len, uint64_t now) {
  dht *d = st;
  if (kind != SW_SOCK_DHT) return;
  d->st.rx++;
  dht_msg *in = malloc(sizeof *in); /* scratch stays free for the reply */
  if (!in) return;
  if (dht_parse(buf, len, in) != SW_OK) {
    d->st.rx_bad++;
    free(in);
    return;
  }
  if (in->has_from) dht_table_add(d, in->from, from, now); /* 14.6 step 1 */
  if (!dht_lookup_reply(d, in, from, now)) answer(d, in, from, now); /* step 2 */
  free(in);
}

/* ---- timers ----------------------------------------------------------------------- */

static void on_timeout(void *st, uint64_t now) {
  dht *d = st;
  dht_lookup_timeout(d, now);
  if (d->nboot && now >= d->next_boot) {
    if (dht_table_count(d) == 0)
      dht_lookup_bootstrap(d, now);
    else
      d->next_boot = UINT64_MAX;
  }
  if (now >= d->next_refresh) {
    d->next_refresh = now + REFRESH_MS;
    if (dht_table_count(d) && !dht_lookup_running(d, LK_BOOT))
      dht_lookup_start(d, LK_BOOT, d->self, NULL, now);
  }
  if (d->want_topic && now >= d->next_cycle) {
    d->next_cycle = now + d->cycle_gap;
    d->cycle_gap = d->cycle_gap * 2 > CYCLE_MAX_MS ? CYCLE_MAX_MS : d->cycle_gap * 2;
    dht_lookup_cycle(d, now);
  }
  if (now >= d->next_sweep) dht_table_sweep(d, now);
}

static uint64_t deadline(const void *st) {
  const dht *d = st;
  uint64_t t = d->next_sweep < d->next_refresh ? d->next_sweep : d->next_refresh;
  if (d->nboot && d->next_boot < t) t = d->next_boot;
  if (d->want_topic && d->next_cycle < t) t = d->next_cycle;
  return dht_lookup_deadline(d, t);
}

static void on_join(void *st, uint64_t now) {
  dht *d = st;
  d->want_topic = 1;
  d->cycle_gap = CYCLE_FIRST_MS;
  d->next_cycle = now; /* 14.3 step 1: at discovery start */
}

/* Our public address changed: STORE the records again with the next topic lookup, and
 * start one now unless one is running (its end puts them). */
static void on_public_addr(void *st, int family, uint64_t now) {
  dht *d = st;
  (void)family;
  d->next_put = 0;
  if (d->want_topic && !dht_lookup_running(d, LK_TOPIC) && d->next_cycle > now)
    d->next_cycle = now;
}

static void on_close(void *st, uint64_t now) {
  dht *d = st;
  d->want_topic = 0;
  d->nboot = 0;
  d->next_refresh = d->next_sweep = UINT64_MAX;
  dht_lookup_close(d);
}

static void dht_free(void *st) {
  dht *d = st;
  dht_table_free(d);
  free(d);
}

static size_t memory(const void *st) {
  const dht *d = st;
  return sizeof *d + ANN_MAX * sizeof(ann_entry) + d->store_bytes + d->nstore +
         dht_table_memory(d);
}

/* ---- public ------------------------------------------------------------------------ */

int dht_attach(sw_core *c, const dht_config *cfg, uint64_t now) {
  dht *d = calloc(1, sizeof *d);
  if (!d) return SW_ENOMEM;
  d->ann = calloc(ANN_MAX, sizeof *d->ann);
  if (!d->ann) {
    free(d);
    return SW_ENOMEM;
  }
  d->core = c;
  if (cfg && cfg->node_id)
    memcpy(d->self, cfg->node_id, DHT_ID_LEN);
  else
    core_rand(c, d->self, DHT_ID_LEN); /* 14.6: random, unrelated to the identity */
  d->relay = cfg ? cfg->relay : 0;
  d->next_cycle = d->next_boot = UINT64_MAX;
  d->next_refresh = now + REFRESH_MS;
  d->next_sweep = now + SWEEP_MS;
  core_module m = {.name = "dht", .sockets = CORE_SOCKET(SW_SOCK_DHT), .on_datagram = on_datagram, .on_join = on_join,
                   .on_timeout = on_timeout, .deadline = deadline, .on_close = on_close,
                   .free = dht_free, .memory = memory, .on_public_addr = on_public_addr,
                   .state = d};
  int rc = core_add_module(c, &m);
  if (rc) {
    dht_free(d);
    return rc;
  }
  for (size_t i = 0; cfg && i < cfg->nbootstrap; i++)
    sw_core_dht_bootstrap(c, &cfg->bootstrap[i], now);
  return SW_OK;
}

static dht *dht_of(sw_core *c) { return core_module_state(c, "dht"); }

int sw_core_dht_bootstrap(sw_core *c, const sw_addr *addr, uint64_t now) {
  dht *d = dht_of(c);
  if (!d || !addr || !addr->family || !addr->port) return SW_EINVAL;
  for (size_t i = 0; i < d->nboot; i++)
    if (addr_equal(&d->boot[i], addr)) return SW_OK;
  if (d->nboot == BOOT_MAX) return SW_EFULL;
  d->boot[d->nboot++] = *addr;
  d->next_boot = now; /* asked on the next timeout */
  return SW_OK;
}

void dht_set_relay(sw_core *c, int on) {
  dht *d = dht_of(c);
  if (!d) return;
  if (on && !d->relay) d->next_put = 0; /* with the next topic lookup */
  d->relay = on;
}

int sw_core_dht_id(sw_core *c, uint8_t out[DHT_ID_LEN]) {
  dht *d = dht_of(c);
  if (!d) return 0;
  memcpy(out, d->self, DHT_ID_LEN);
  return 1;
}

int sw_core_dht_stats(sw_core *c, dht_stats *out) {
  dht *d = dht_of(c);
  if (!d) return 0;
  *out = d->st;
  out->table_nodes = dht_table_count(d);
  out->stored_values = d->nstore;
  out->stored_peers = dht_table_ann_count(d);
  return 1;
}

static int attach_from_config(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  return cfg->dht ? dht_attach(c, cfg->dht, now) : SW_OK;
}

const core_module_def dht_module = {"dht", attach_from_config};
