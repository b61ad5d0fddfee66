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
#include "crypto.h"
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

/* ---- the guards ------------------------------------------------------------------ */

int dht_same_ip(const sw_addr *a, const sw_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, 16) == 0;
}

/* Bytes of the network prefix a limit counts together: /24 or /48. */
static size_t net_bytes(const sw_addr *a) { return a->family == 4 ? 3 : 6; }

int dht_same_net(const sw_addr *a, const sw_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, net_bytes(a)) == 0;
}

static proven_entry *proven_find(dht *d, const sw_addr *a, uint64_t now) {
  for (int i = 0; i < PROVEN_MAX; i++)
    if (d->proven[i].until > now && addr_equal(&d->proven[i].addr, a)) return &d->proven[i];
  return NULL;
}

void dht_proven_add(dht *d, const sw_addr *addr, uint64_t now) {
  proven_entry *e = proven_find(d, addr, now);
  if (!e) { /* a free or expired slot, else the one closest to expiry */
    e = &d->proven[0];
    for (int i = 1; i < PROVEN_MAX && e->until > now; i++)
      if (d->proven[i].until < e->until) e = &d->proven[i];
    e->addr = *addr;
  }
  e->until = now + PROVEN_TTL_MS;
}

/* The secrets rotate every TOKEN_PERIOD_MS; the previous one stays valid. */
static void secret_roll(dht *d, uint64_t now) {
  if (now < d->secret_at + TOKEN_PERIOD_MS) return;
  if (now < d->secret_at + 2 * (uint64_t)TOKEN_PERIOD_MS)
    memcpy(d->secret[1], d->secret[0], 32);
  else
    core_rand(d->core, d->secret[1], 32); /* both periods passed: nothing old holds */
  core_rand(d->core, d->secret[0], 32);
  d->secret_at = now;
}

/* A token: the first DHT_TOKEN_LEN bytes of HMAC-SHA-256(secret, family || IP). */
static void token_make(const uint8_t secret[32], const sw_addr *a, uint8_t out[DHT_TOKEN_LEN]) {
  uint8_t in[17], mac[32];
  in[0] = (uint8_t)a->family;
  memcpy(in + 1, a->ip, 16);
  crypto_hmac_sha256(secret, 32, in, sizeof in, mac);
  memcpy(out, mac, DHT_TOKEN_LEN);
}

static int token_ok(dht *d, const sw_addr *a, const uint8_t tok[DHT_TOKEN_LEN], uint64_t now) {
  secret_roll(d, now);
  uint8_t t[DHT_TOKEN_LEN];
  int ok = 0;
  for (int i = 0; i < 2; i++) {
    token_make(d->secret[i], a, t);
    uint8_t diff = 0;
    for (int j = 0; j < DHT_TOKEN_LEN; j++) diff |= (uint8_t)(t[j] ^ tok[j]);
    ok |= diff == 0;
  }
  return ok;
}

static void tokcache_put(dht *d, const sw_addr *a, const uint8_t tok[DHT_TOKEN_LEN],
                         uint64_t now) {
  tok_entry *e = &d->toks[0];
  for (int i = 0; i < TOKCACHE_MAX; i++) {
    if (d->toks[i].at && addr_equal(&d->toks[i].addr, a)) {
      e = &d->toks[i];
      break;
    }
    if (d->toks[i].at < e->at) e = &d->toks[i];
  }
  e->addr = *a;
  memcpy(e->token, tok, DHT_TOKEN_LEN);
  e->at = now ? now : 1;
}

void dht_token_attach(dht *d, const sw_addr *to, dht_msg *m, int pad) {
  for (int i = 0; i < TOKCACHE_MAX; i++)
    if (d->toks[i].at && addr_equal(&d->toks[i].addr, to)) {
      m->has_token = 1;
      memcpy(m->token, d->toks[i].token, DHT_TOKEN_LEN);
      return;
    }
  if (pad) m->pad = REQ_PAD_TO; /* REQ_PAD_TO characters of filler */
}

/* One token from the bucket of a's address (bits 0) or prefix (bits 1): 1, or 0 when it
 * is empty. The table is LRU; an evicted bucket starts full again. */
static int rl_take(dht *d, const sw_addr *a, int net, uint32_t rate, uint32_t burst,
                   uint64_t now) {
  size_t nb = net ? net_bytes(a) : 16;
  rl_entry *e = NULL, *old = &d->rl[0];
  for (int i = 0; i < RL_MAX; i++) {
    rl_entry *x = &d->rl[i];
    if (x->family == a->family && x->bits == net && memcmp(x->ip, a->ip, nb) == 0) {
      e = x;
      break;
    }
    if (x->last < old->last) old = x;
  }
  if (!e) {
    e = old;
    memset(e, 0, sizeof *e);
    e->family = (uint8_t)a->family;
    e->bits = (uint8_t)net;
    memcpy(e->ip, a->ip, nb);
    e->milli = burst * 1000u;
    e->last = now;
  }
  /* rate per second = milli-tokens per ms */
  uint64_t add = now > e->last ? (now - e->last) * rate : 0;
  if (now > e->last) e->last = now;
  e->milli = add >= burst * 1000u - e->milli ? burst * 1000u : e->milli + (uint32_t)add;
  if (e->milli < 1000) return 0;
  e->milli -= 1000;
  return 1;
}

/* ---- receiving ------------------------------------------------------------------ */

static void reset_msg(dht_msg *m, int type) {
  memset(m, 0, offsetof(dht_msg, value));
  m->has_nodes = m->has_peers = m->has_value = 0;
  m->nnodes = m->npeers = 0;
  m->type = type;
}

/* Send an answer of ours to a request of len bytes: whole to a proven source; to
 * another one at most AMP_FACTOR x len bytes, its lists cut from the end (nodes first)
 * and a value given up for nodes, or nothing when even that does not fit. */
static void send_answer(dht *d, const sw_addr *to, dht_msg *m, size_t len, int proven) {
  m->has_from = 1;
  memcpy(m->from, d->self, DHT_ID_LEN);
  size_t cap = proven ? sizeof d->buf : AMP_FACTOR * len;
  if (cap > sizeof d->buf) cap = sizeof d->buf;
  int n = dht_encode(m, d->buf, sizeof d->buf);
  int cut = 0;
  while (n > 0 && (size_t)n > cap) {
    cut = 1;
    if (m->type == DHT_FOUND_VAL) { /* the value does not fit: the nodes instead */
      m->type = DHT_FOUND_NODE;
      m->has_value = 0;
      m->has_nodes = 1;
      m->nnodes = dht_table_closest(d, d->scratch_key, m->nodes, DHT_K);
    } else if (m->nnodes) {
      /* drop about as many entries as the excess needs (~60 bytes each), at least one */
      size_t k = ((size_t)n - cap) / 64 + 1;
      m->nnodes = m->nnodes > k ? m->nnodes - k : 0;
    } else if (m->npeers) {
      size_t k = ((size_t)n - cap) / 64 + 1;
      m->npeers = m->npeers > k ? m->npeers - k : 0;
    } else {
      d->st.tx_withheld++;
      return;
    }
    n = dht_encode(m, d->buf, sizeof d->buf);
  }
  if (n <= 0) return;
  if (cut) d->st.tx_truncated++;
  if (!proven) {
    d->st.unproven_in += len;
    d->st.unproven_out += (uint64_t)n;
  }
  core_send(d->core, SW_SOCK_DHT, to, d->buf, (size_t)n);
  d->st.tx++;
}

static int is_request(int type) {
  return type == DHT_PING || type == DHT_STORE || type == DHT_FIND_NODE ||
         type == DHT_FIND_VALUE || type == DHT_GET_PEERS || type == DHT_ANNOUNCE_PEER;
}

static void answer(dht *d, const dht_msg *in, const sw_addr *from, size_t len, uint64_t now) {
  /* Rate limits: per address, and per prefix for sources not proven. */
  int proven = proven_find(d, from, now) != NULL;
  if (!rl_take(d, from, 0, RL_IP_RATE, RL_IP_BURST, now) ||
      (!proven && !rl_take(d, from, 1, RL_NET_RATE, RL_NET_BURST, now))) {
    d->st.rx_limited++;
    return;
  }
  int tok_valid = in->has_token && token_ok(d, from, in->token, now);
  if (tok_valid) { /* it echoed what we sent to this IP: it receives there */
    dht_proven_add(d, from, now);
    proven = 1;
  }
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
      memcpy(d->scratch_key, in->key, DHT_ID_LEN);
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
      /* With a token it must be ours for this IP; without one (the references') it goes
       * to the small tokenless space (dht_table_store_put). 14.6: no reply. */
      if ((in->has_token && !tok_valid) ||
          dht_table_store_put(d, in->key, in->value, in->value_len, from, tok_valid, now))
        d->st.writes_refused++;
      return;
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
      if (!tok_valid || dht_table_ann_put(d, in->key, in->id, &a, from, now)) {
        d->st.writes_refused++;
        return; /* no PONG: nothing was recorded */
      }
      reset_msg(m, DHT_PONG);
      break;
    }
    default:
      return; /* replies nobody waits for */
  }
  /* A write token for the asker's IP, to our own nodes only (their requests carry a
   * token or a pad; the references' never do, and they never see one). */
  if (in->has_token || in->has_pad) {
    secret_roll(d, now);
    m->has_token = 1;
    token_make(d->secret[0], from, m->token);
  }
  if (in->has_rpc) {
    m->has_rpc = 1;
    m->rpc = in->rpc;
  }
  send_answer(d, from, m, len, proven);
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
  if (dht_lookup_reply(d, in, from, now)) { /* step 2: it answered what we sent there */
    dht_proven_add(d, from, now);
    if (in->has_token) tokcache_put(d, from, in->token, now);
  } else if (is_request(in->type)) {
    answer(d, in, from, len, now);
  }
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
    if (dht_table_count(d) && !dht_lookup_running(d, LK_BOOT, -1))
      dht_lookup_start(d, LK_BOOT, d->self, NULL, -1, now);
  }
  for (int ti = 0; ti < SW_MAX_TOPICS; ti++) { /* each joined topic on its own cycle */
    dht_topic *t = &d->topics[ti];
    if (!t->used || now < t->next_cycle) continue;
    if (dht_lookup_cycle(d, ti, now) == SW_EFULL) {
      t->next_cycle = now + CYCLE_BUSY_MS; /* the other topics' lookups hold every slot */
      continue;
    }
    t->next_cycle = now + t->cycle_gap;
    t->cycle_gap = t->cycle_gap * 2 > CYCLE_MAX_MS ? CYCLE_MAX_MS : t->cycle_gap * 2;
  }
  if (now >= d->next_sweep) dht_table_sweep(d, now);
}

static uint64_t deadline(const void *st) {
  const dht *d = st;
  uint64_t t = d->next_sweep < d->next_refresh ? d->next_sweep : d->next_refresh;
  if (d->nboot && d->next_boot < t) t = d->next_boot;
  for (int ti = 0; ti < SW_MAX_TOPICS; ti++)
    if (d->topics[ti].used && d->topics[ti].next_cycle < t) t = d->topics[ti].next_cycle;
  return dht_lookup_deadline(d, t);
}

/* A topic was joined (the engine's newest): its own cycle, starting now. */
static void on_join(void *st, uint64_t now) {
  dht *d = st;
  const uint8_t *topic = core_topic_at(d->core, core_topic_count(d->core) - 1);
  dht_topic *t = NULL;
  if (!topic) return;
  for (int ti = 0; ti < SW_MAX_TOPICS; ti++) {
    if (d->topics[ti].used && memcmp(d->topics[ti].topic, topic, 32) == 0) return;
    if (!d->topics[ti].used && !t) t = &d->topics[ti];
  }
  if (!t) return; /* as many slots as the engine has topics */
  memset(t, 0, sizeof *t);
  t->used = 1;
  memcpy(t->topic, topic, 32);
  t->cycle_gap = CYCLE_FIRST_MS;
  t->next_cycle = now; /* 14.3 step 1: at discovery start */
}

/* A topic was left: no more lookups, announces or STOREs for it; what was announced and
 * stored expires at the nodes that hold it (ANN_TTL_MS, the references' store times). */
static void on_leave(void *st, const uint8_t topic[32], uint64_t now) {
  dht *d = st;
  (void)now;
  for (int ti = 0; ti < SW_MAX_TOPICS; ti++)
    if (d->topics[ti].used && memcmp(d->topics[ti].topic, topic, 32) == 0) {
      d->topics[ti].used = 0;
      dht_lookup_forget_topic(d, ti);
    }
}

/* Our public address changed: STORE the records again with the next topic lookup, and
 * start one now unless one is running (its end puts them). */
static void on_public_addr(void *st, int family, uint64_t now) {
  dht *d = st;
  (void)family;
  for (int ti = 0; ti < SW_MAX_TOPICS; ti++) {
    dht_topic *t = &d->topics[ti];
    t->next_put = 0;
    if (t->used && !dht_lookup_running(d, LK_TOPIC, ti) && t->next_cycle > now)
      t->next_cycle = now;
  }
}

static void on_close(void *st, uint64_t now) {
  dht *d = st;
  for (int ti = 0; ti < SW_MAX_TOPICS; ti++) d->topics[ti].used = 0;
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
  core_rand(c, d->secret[0], 32);
  core_rand(c, d->secret[1], 32);
  d->secret_at = now;
  d->next_boot = UINT64_MAX;
  d->next_refresh = now + REFRESH_MS;
  d->next_sweep = now + SWEEP_MS;
  core_module m = {.name = "dht", .sockets = CORE_SOCKET(SW_SOCK_DHT), .on_datagram = on_datagram, .on_join = on_join,
                   .on_timeout = on_timeout, .deadline = deadline, .on_close = on_close,
                   .free = dht_free, .memory = memory, .on_public_addr = on_public_addr,
                   .state = d, .on_leave = on_leave};
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
  if (on && !d->relay) /* with the next topic lookups */
    for (int ti = 0; ti < SW_MAX_TOPICS; ti++) d->topics[ti].next_put = 0;
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
