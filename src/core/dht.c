/* The DHT module (dht.h): codec, routing table, iterative lookups, stores, topic sets.
 * PROTOCOL.md 14.6 gives the references' behaviour; D17, D18, D24 what we fix. */
#include "dht.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "crypto.h"
#include "merec.h"

/* ---- bounds and timers (ours unless a section is cited) ----------------------- */
#define RPC_MAX 128                 /* outstanding requests */
#define RPC_TIMEOUT_MS 2000         /* 14.6 says 5000; a lookup stuck on a dead node
                                       for 5 s per hop is what we avoid */
#define BOOT_MAX 16                 /* bootstrap addresses kept */
#define BOOT_RETRY_MS 10000         /* re-ask the bootstrap nodes while the table is empty */
#define LOOKUP_MAX 6                /* concurrent lookups */
#define SHORTLIST 48                /* candidates a lookup keeps, closest first */
#define LOOKUP_QUERIES 64           /* queries one lookup may send */
#define STORE_MAX 256               /* STOREd values kept */
#define STORE_BYTES (128u << 10)    /* bytes of STOREd values kept */
#define STORE_PER_SRC 16            /* values kept per source IP */
#define STORE_TTL_MS (30u * 60000u) /* JS re-puts every 18 s; Python's records die */
#define ANN_MAX 1024                /* topic-set records kept */
#define ANN_PER_KEY 64              /* records per topic key */
#define ANN_PER_SRC 32              /* records per source IP */
#define ANN_TTL_MS 180000           /* we re-announce at most every 60 s */
#define ANNOUNCE_TO 8               /* closest answering nodes a topic record goes to
                                       (BitTorrent's announce count) */
#define REPUT_MS 120000             /* the references' STOREs: JS re-puts every 18 s; their
                                       nodes never read them from the network (D24) */
#define CYCLE_FIRST_MS 2000         /* topic lookup + announce: 2, 4, 8 ... 60 s */
#define CYCLE_MAX_MS 60000
#define REFRESH_MS 300000           /* lookup of our own id: keeps our neighbourhood fresh */
#define SWEEP_MS 10000
#define RT_MAX_FAILS 2              /* unanswered requests before a node is dropped */

typedef struct rt_entry {
  uint8_t id[DHT_ID_LEN];
  sw_addr addr;
  uint64_t seen;
  uint8_t fails, used;
} rt_entry;

typedef struct rpc_slot {
  int used, has_id, lookup, type;
  uint32_t id;
  uint8_t nid[DHT_ID_LEN];
  sw_addr to;
  uint64_t expires;
} rpc_slot;

enum { C_NEW = 0, C_ASKED, C_ANSWERED, C_FAILED };
enum { LK_BOOT = 1, LK_TOPIC, LK_STORE };

typedef struct cand {
  uint8_t id[DHT_ID_LEN];
  sw_addr addr;
  int state;
} cand;

typedef struct lookup {
  int used, purpose, qtype, inflight, queries;
  uint8_t target[DHT_ID_LEN];
  cand c[SHORTLIST];
  size_t n;
  char value[DHT_VALUE_MAX + 1]; /* LK_STORE: what to STORE at the end */
} lookup;

typedef struct store_entry {
  uint8_t key[DHT_ID_LEN];
  char *value;
  size_t len;
  sw_addr src;
  uint64_t expires;
} store_entry;

typedef struct ann_entry {
  int used;
  uint8_t key[DHT_ID_LEN], id[DHT_ID_LEN];
  sw_addr addr, src;
  uint64_t expires;
} ann_entry;

typedef struct dht {
  sw_core *core;
  uint8_t self[DHT_ID_LEN];
  rt_entry *buckets[DHT_BUCKETS]; /* K entries each, allocated on first use */
  rpc_slot rpc[RPC_MAX];
  lookup lk[LOOKUP_MAX];
  sw_addr boot[BOOT_MAX];
  size_t nboot;
  store_entry store[STORE_MAX];
  size_t nstore, store_bytes;
  ann_entry *ann; /* ANN_MAX */
  int relay, want_topic;
  uint64_t next_cycle, cycle_gap, next_refresh, next_sweep, next_boot, next_put;
  dht_stats st;
  uint8_t buf[DHT_MAX_DATAGRAM];
  dht_msg scratch;
} dht;

/* ---- helpers ------------------------------------------------------------------ */

/* Exactly n bytes of hex from a JSON string (jansson refuses strings with NULs, so
 * the text ends where its length says): 0, or -1. */
static int unhex(const char *s, uint8_t *out, size_t n) {
  return s && crypto_hex_decode(s, out, n) == (int)n ? 0 : -1;
}

/* <0 when a is closer to t than b (XOR metric, bytewise; 14.6). */
static int dist_cmp(const uint8_t *a, const uint8_t *b, const uint8_t *t) {
  for (int i = 0; i < DHT_ID_LEN; i++) {
    uint8_t x = a[i] ^ t[i], y = b[i] ^ t[i];
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

static int same_ip(const sw_addr *a, const sw_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, 16) == 0;
}

int dht_bucket_index(const uint8_t self[DHT_ID_LEN], const uint8_t other[DHT_ID_LEN]) {
  for (int i = 0; i < DHT_ID_LEN; i++) {
    uint8_t d = self[i] ^ other[i];
    if (!d) continue;
    int hb = 7;
    while (!(d & 0x80)) {
      d = (uint8_t)(d << 1);
      hb--;
    }
    return 8 * i + hb;
  }
  return DHT_BUCKETS - 1; /* 14.6: identical ids */
}

void dht_key(const char *text, uint8_t out[DHT_ID_LEN]) { crypto_sha1(text, strlen(text), out); }

void dht_topic_key(const uint8_t topic[32], uint8_t out[DHT_ID_LEN]) {
  char th[13], text[40];
  crypto_topic_hash(topic, th);
  snprintf(text, sizeof text, "setowire:peers:%s", th);
  dht_key(text, out);
}

/* ---- codec -------------------------------------------------------------------- */

static int get_id(json_t *root, const char *name, uint8_t out[DHT_ID_LEN], int *has) {
  json_t *v = json_object_get(root, name);
  if (!v) return 0;
  if (!json_is_string(v)) return -1;
  if (unhex(json_string_value(v), out, DHT_ID_LEN)) return -1;
  *has = 1;
  return 0;
}

/* Entries {id, ip, port}; invalid ones are skipped, at most max are read. */
static size_t get_nodes(json_t *arr, dht_node *out, size_t max) {
  size_t n = 0, i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    if (n == max) break;
    json_t *id = json_object_get(e, "id"), *ip = json_object_get(e, "ip"),
           *port = json_object_get(e, "port");
    if (!json_is_string(id) || !json_is_string(ip) || !json_is_integer(port)) continue;
    json_int_t p = json_integer_value(port);
    if (p < 1 || p > 65535 || json_string_length(ip) > 45) continue;
    if (unhex(json_string_value(id), out[n].id, DHT_ID_LEN)) continue;
    if (addr_parse_ip(&out[n].addr, json_string_value(ip), (uint16_t)p) != SW_OK) continue;
    n++;
  }
  return n;
}

int dht_parse(const uint8_t *buf, size_t len, dht_msg *m) {
  if (!buf || !m || !len || len > DHT_MAX_DATAGRAM) return SW_EINVAL;
  memset(m, 0, offsetof(dht_msg, value));
  m->value[0] = 0;
  m->value_len = m->nnodes = m->npeers = 0;
  m->has_nodes = m->has_peers = 0;
  m->port = 0;
  memset(&m->ip, 0, sizeof m->ip);
  json_error_t err;
  /* Strings with NUL bytes and duplicate members are refused; trailing bytes too. */
  json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &err);
  if (!root) return SW_EINVAL;
  int rc = SW_EINVAL;
  if (!json_is_object(root)) goto out;
  json_t *t = json_object_get(root, "type");
  if (!json_is_integer(t)) goto out;
  json_int_t type = json_integer_value(t);
  if (type < DHT_PING || type > DHT_PEERS) goto out;
  m->type = (int)type;
  if (get_id(root, "from", m->from, &m->has_from) || get_id(root, "key", m->key, &m->has_key) ||
      get_id(root, "target", m->target, &m->has_target) ||
      get_id(root, "id", m->id, &m->has_id))
    goto out;
  json_t *r = json_object_get(root, "rpcId");
  if (r && !json_is_null(r)) { /* Python writes null in replies to rpc-less requests */
    uint8_t b[4];
    if (!json_is_string(r) || unhex(json_string_value(r), b, 4)) goto out;
    m->rpc = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    m->has_rpc = 1;
  }
  json_t *v = json_object_get(root, "value");
  if (v && !json_is_null(v)) {
    /* The references store strings (me records); anything else is not ours to keep. */
    if (!json_is_string(v) || json_string_length(v) > DHT_VALUE_MAX) goto out;
    m->value_len = json_string_length(v);
    memcpy(m->value, json_string_value(v), m->value_len);
    m->value[m->value_len] = 0;
    m->has_value = 1;
  }
  json_t *nodes = json_object_get(root, "nodes");
  if (nodes) {
    if (!json_is_array(nodes)) goto out;
    m->nnodes = get_nodes(nodes, m->nodes, DHT_MSG_NODES);
    m->has_nodes = 1;
  }
  json_t *peers = json_object_get(root, "peers");
  if (peers) {
    if (!json_is_array(peers)) goto out;
    m->npeers = get_nodes(peers, m->peers, DHT_MSG_PEERS);
    m->has_peers = 1;
  }
  json_t *port = json_object_get(root, "port");
  if (port) {
    if (!json_is_integer(port) || json_integer_value(port) < 1 ||
        json_integer_value(port) > 65535)
      goto out;
    m->port = (uint16_t)json_integer_value(port);
    m->has_port = 1;
  }
  json_t *ip = json_object_get(root, "ip");
  if (ip) {
    if (!json_is_string(ip) || json_string_length(ip) > 45 ||
        addr_parse_ip(&m->ip, json_string_value(ip), 0) != SW_OK)
      goto out;
    m->has_ip = 1;
  }
  /* What each type needs (a JavaScript node crashes without them, D18). */
  switch (m->type) {
    case DHT_STORE: if (!m->has_key || !m->has_value) goto out; break;
    case DHT_FIND_NODE: if (!m->has_target) goto out; break;
    case DHT_FIND_VALUE:
    case DHT_GET_PEERS: if (!m->has_key) goto out; break;
    case DHT_FOUND_VAL: if (!m->has_value) goto out; break;
    case DHT_ANNOUNCE_PEER: if (!m->has_key || !m->has_id || !m->has_port) goto out; break;
    default: break;
  }
  rc = SW_OK;
out:
  json_decref(root);
  return rc;
}

static json_t *nodes_json(const dht_node *n, size_t count) {
  json_t *a = json_array();
  char idh[41], ip[64];
  for (size_t i = 0; a && i < count; i++) {
    crypto_hex_encode(n[i].id, DHT_ID_LEN, idh);
    if (addr_format_ip(&n[i].addr, ip, sizeof ip) <= 0) continue;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(idh));
    json_object_set_new(o, "ip", json_string(ip));
    json_object_set_new(o, "port", json_integer(n[i].addr.port));
    json_array_append_new(a, o);
  }
  return a;
}

int dht_encode(const dht_msg *m, uint8_t *out, size_t cap) {
  char h[41], ip[64];
  json_t *o = json_object();
  if (!o) return SW_ENOMEM;
  /* Member order of the references (vectors/dht.json): type, from, body, rpcId. */
  json_object_set_new(o, "type", json_integer(m->type));
  if (m->has_from) {
    crypto_hex_encode(m->from, DHT_ID_LEN, h);
    json_object_set_new(o, "from", json_string(h));
  }
  if (m->has_target) {
    crypto_hex_encode(m->target, DHT_ID_LEN, h);
    json_object_set_new(o, "target", json_string(h));
  }
  if (m->has_key) {
    crypto_hex_encode(m->key, DHT_ID_LEN, h);
    json_object_set_new(o, "key", json_string(h));
  }
  if (m->has_id) {
    crypto_hex_encode(m->id, DHT_ID_LEN, h);
    json_object_set_new(o, "id", json_string(h));
  }
  if (m->has_port) json_object_set_new(o, "port", json_integer(m->port));
  if (m->has_value) json_object_set_new(o, "value", json_stringn(m->value, m->value_len));
  if (m->has_peers) json_object_set_new(o, "peers", nodes_json(m->peers, m->npeers));
  if (m->has_nodes) json_object_set_new(o, "nodes", nodes_json(m->nodes, m->nnodes));
  if (m->has_ip && addr_format_ip(&m->ip, ip, sizeof ip) > 0)
    json_object_set_new(o, "ip", json_string(ip));
  if (m->has_rpc) {
    uint8_t rb[4] = {(uint8_t)(m->rpc >> 24), (uint8_t)(m->rpc >> 16), (uint8_t)(m->rpc >> 8),
                     (uint8_t)m->rpc};
    crypto_hex_encode(rb, 4, h); /* 14.6: 4 bytes as 8 hex characters */
    json_object_set_new(o, "rpcId", json_string(h));
  }
  size_t n = json_dumpb(o, (char *)out, cap, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (!n || n > cap) return SW_EMSGSIZE;
  return (int)n;
}

/* ---- routing table ------------------------------------------------------------- */

static size_t rt_count(const dht *d) {
  size_t n = 0;
  for (int b = 0; b < DHT_BUCKETS; b++)
    if (d->buckets[b])
      for (int i = 0; i < DHT_K; i++) n += d->buckets[b][i].used;
  return n;
}

/* 14.6: a node we heard from directly. A full bucket keeps its nodes unless one of
 * them stopped answering (the references discard the newcomer always). */
static void rt_add(dht *d, const uint8_t id[DHT_ID_LEN], const sw_addr *addr, uint64_t now) {
  if (memcmp(id, d->self, DHT_ID_LEN) == 0) return;
  int b = dht_bucket_index(d->self, id);
  if (!d->buckets[b]) {
    d->buckets[b] = calloc(DHT_K, sizeof(rt_entry));
    if (!d->buckets[b]) return;
  }
  rt_entry *e = d->buckets[b], *slot = NULL, *worst = NULL;
  for (int i = 0; i < DHT_K; i++) {
    if (e[i].used && memcmp(e[i].id, id, DHT_ID_LEN) == 0) {
      e[i].addr = *addr;
      e[i].seen = now;
      e[i].fails = 0;
      return;
    }
    if (!e[i].used && !slot) slot = &e[i];
    if (e[i].used && e[i].fails && (!worst || e[i].fails > worst->fails)) worst = &e[i];
  }
  if (!slot) slot = worst;
  if (!slot) return;
  memcpy(slot->id, id, DHT_ID_LEN);
  slot->addr = *addr;
  slot->seen = now;
  slot->fails = 0;
  slot->used = 1;
}

static rt_entry *rt_find(dht *d, const uint8_t id[DHT_ID_LEN]) {
  rt_entry *e = d->buckets[dht_bucket_index(d->self, id)];
  if (!e) return NULL;
  for (int i = 0; i < DHT_K; i++)
    if (e[i].used && memcmp(e[i].id, id, DHT_ID_LEN) == 0) return &e[i];
  return NULL;
}

static void rt_failed(dht *d, const uint8_t id[DHT_ID_LEN]) {
  rt_entry *e = rt_find(d, id);
  if (e && ++e->fails >= RT_MAX_FAILS) e->used = 0;
}

/* Up to max known nodes closest to target, closest first. */
static size_t rt_closest(const dht *d, const uint8_t *target, dht_node *out, size_t max) {
  size_t n = 0;
  for (int b = 0; b < DHT_BUCKETS; b++) {
    const rt_entry *e = d->buckets[b];
    if (!e) continue;
    for (int i = 0; i < DHT_K; i++) {
      if (!e[i].used) continue;
      size_t pos = n;
      while (pos > 0 && dist_cmp(e[i].id, out[pos - 1].id, target) < 0) pos--;
      if (pos >= max) continue;
      size_t last = n < max ? n : max - 1;
      memmove(&out[pos + 1], &out[pos], (last - pos) * sizeof *out);
      memcpy(out[pos].id, e[i].id, DHT_ID_LEN);
      out[pos].addr = e[i].addr;
      if (n < max) n++;
    }
  }
  return n;
}

/* ---- sending -------------------------------------------------------------------- */

static void send_msg(dht *d, const sw_addr *to, dht_msg *m) {
  m->has_from = 1;
  memcpy(m->from, d->self, DHT_ID_LEN);
  int n = dht_encode(m, d->buf, sizeof d->buf);
  if (n <= 0) return;
  core_send(d->core, SW_SOCK_DHT, to, d->buf, (size_t)n);
  d->st.tx++;
}

static rpc_slot *rpc_new(dht *d, uint64_t now) {
  for (int i = 0; i < RPC_MAX; i++) {
    rpc_slot *r = &d->rpc[i];
    if (r->used) continue;
    memset(r, 0, sizeof *r);
    r->used = 1;
    r->lookup = -1;
    r->expires = now + RPC_TIMEOUT_MS;
    for (;;) { /* 14.6: 4 random bytes; unique among ours so a reply finds its request */
      core_rand(d->core, &r->id, sizeof r->id);
      int dup = 0;
      for (int j = 0; j < RPC_MAX; j++)
        if (j != i && d->rpc[j].used && d->rpc[j].id == r->id) dup = 1;
      if (!dup) break;
    }
    return r;
  }
  return NULL;
}

/* A request expecting a reply; id may be NULL (a bootstrap address). */
static int request(dht *d, const sw_addr *to, const uint8_t *id, dht_msg *m, int lk,
                   uint64_t now) {
  rpc_slot *r = rpc_new(d, now);
  if (!r) return SW_EFULL;
  r->to = *to;
  r->lookup = lk;
  r->type = m->type;
  if (id) {
    r->has_id = 1;
    memcpy(r->nid, id, DHT_ID_LEN);
  }
  m->has_rpc = 1;
  m->rpc = r->id;
  send_msg(d, to, m);
  return SW_OK;
}

/* ---- lookups -------------------------------------------------------------------- */

static void lk_add(lookup *l, const uint8_t *self, const dht_node *n) {
  if (memcmp(n->id, self, DHT_ID_LEN) == 0) return;
  size_t pos = l->n;
  for (size_t i = 0; i < l->n; i++) {
    if (memcmp(l->c[i].id, n->id, DHT_ID_LEN) == 0) return;
  }
  while (pos > 0 && dist_cmp(n->id, l->c[pos - 1].id, l->target) < 0) pos--;
  if (pos >= SHORTLIST) return;
  size_t last = l->n < SHORTLIST ? l->n : SHORTLIST - 1;
  memmove(&l->c[pos + 1], &l->c[pos], (last - pos) * sizeof l->c[0]);
  memcpy(l->c[pos].id, n->id, DHT_ID_LEN);
  l->c[pos].addr = n->addr;
  l->c[pos].state = C_NEW;
  if (l->n < SHORTLIST) l->n++;
}

static void lk_finish(dht *d, int li, uint64_t now);

/* Ask the closest unasked candidates among the K closest; finish when all of those
 * answered or failed and nothing is in flight. */
static void lk_step(dht *d, int li, uint64_t now) {
  lookup *l = &d->lk[li];
  size_t top = 0;
  for (size_t i = 0; i < l->n && top < DHT_K && l->inflight < DHT_ALPHA; i++) {
    cand *c = &l->c[i];
    if (c->state == C_FAILED) continue;
    top++;
    if (c->state != C_NEW || l->queries >= LOOKUP_QUERIES) continue;
    dht_msg *m = &d->scratch;
    memset(m, 0, offsetof(dht_msg, value));
    m->has_nodes = m->has_peers = m->has_value = 0;
    m->type = l->qtype;
    if (l->qtype == DHT_FIND_NODE) {
      m->has_target = 1;
      memcpy(m->target, l->target, DHT_ID_LEN);
    } else {
      m->has_key = 1;
      memcpy(m->key, l->target, DHT_ID_LEN);
    }
    if (request(d, &c->addr, c->id, m, li, now) != SW_OK) break;
    c->state = C_ASKED;
    l->inflight++;
    l->queries++;
  }
  if (l->inflight == 0) lk_finish(d, li, now);
}

static int lk_start(dht *d, int purpose, const uint8_t *target, const char *value,
                    uint64_t now) {
  for (int li = 0; li < LOOKUP_MAX; li++) {
    lookup *l = &d->lk[li];
    if (l->used) continue;
    memset(l, 0, sizeof *l);
    l->used = 1;
    l->purpose = purpose;
    l->qtype = purpose == LK_TOPIC ? DHT_GET_PEERS : DHT_FIND_NODE;
    memcpy(l->target, target, DHT_ID_LEN);
    if (value) snprintf(l->value, sizeof l->value, "%s", value);
    dht_node near[DHT_K];
    size_t n = rt_closest(d, target, near, DHT_K);
    for (size_t i = 0; i < n; i++) lk_add(l, d->self, &near[i]);
    d->st.lookups++;
    lk_step(d, li, now);
    return li;
  }
  return SW_EFULL;
}

static int lk_running(const dht *d, int purpose) {
  for (int li = 0; li < LOOKUP_MAX; li++)
    if (d->lk[li].used && d->lk[li].purpose == purpose) return 1;
  return 0;
}

static void put_record(dht *d, const char *prefix, const char *value, uint64_t now) {
  const uint8_t *topic = core_topic(d->core);
  if (!topic) return;
  char th[13], idh[41], text[80];
  uint8_t key[DHT_ID_LEN];
  crypto_topic_hash(topic, th);
  crypto_hex_encode(core_identity(d->core)->id, 20, idh);
  snprintf(text, sizeof text, "%s:%s:%s", prefix, th, idh); /* 14.6 announce key */
  dht_key(text, key);
  lk_start(d, LK_STORE, key, value, now);
}

static void lk_finish(dht *d, int li, uint64_t now) {
  lookup *l = &d->lk[li];
  l->used = 0;
  d->st.lookups_done++;
  size_t sent = 0;
  uint16_t main_port = core_lan_addr(d->core)->port;
  if (l->purpose == LK_TOPIC && main_port) {
    /* Announce to the closest that answered (our extension, PROTOCOL.md 21.4). */
    for (size_t i = 0; i < l->n && sent < ANNOUNCE_TO; i++) {
      if (l->c[i].state != C_ANSWERED) continue;
      dht_msg *m = &d->scratch;
      memset(m, 0, offsetof(dht_msg, value));
      m->has_nodes = m->has_peers = m->has_value = 0;
      m->type = DHT_ANNOUNCE_PEER;
      m->has_key = m->has_id = m->has_port = 1;
      memcpy(m->key, l->target, DHT_ID_LEN);
      memcpy(m->id, core_identity(d->core)->id, DHT_ID_LEN);
      /* The receiver pairs this port with the IP it sees us at: the mapped port when
       * STUN found it, else the local one (right behind a port-preserving NAT). */
      sw_addr pub;
      m->port = pubaddr_record_endpoint(d->core, 0, &pub) ? pub.port : main_port;
      request(d, &l->c[i].addr, l->c[i].id, m, -1, now);
      sent++;
    }
    /* And the references' STOREs, so their nodes see what they expect (14.6). */
    if (now < d->next_put) return;
    d->next_put = now + REPUT_MS;
    /* The references' records carry one (ip, port) pair and our DHT observation only
     * an IP: with no mapped port known, the IP goes with our local port, as these
     * records always have (ip_only_ok, pubaddr.h); JavaScript's form without ip/port
     * while no public IP is known at all. */
    char rec[DHT_VALUE_MAX];
    sw_addr pub;
    if (merec_build_own(d->core, MEREC_FULL_OMIT, 1, rec, sizeof rec))
      put_record(d, "topic", rec, now);
    if (d->relay && pubaddr_record_endpoint(d->core, 1, &pub) &&
        merec_build(rec, sizeof rec, MEREC_ENDPOINT, core_identity(d->core)->id, &pub,
                    core_lan_addr(d->core)))
      put_record(d, "relay", rec, now);
  } else if (l->purpose == LK_STORE) {
    for (size_t i = 0; i < l->n && sent < DHT_K; i++) {
      if (l->c[i].state != C_ANSWERED) continue;
      dht_msg *m = &d->scratch;
      memset(m, 0, offsetof(dht_msg, value));
      m->has_nodes = m->has_peers = 0;
      m->type = DHT_STORE; /* 14.6: no rpcId, no reply */
      m->has_key = 1;
      memcpy(m->key, l->target, DHT_ID_LEN);
      m->has_value = 1;
      m->value_len = strlen(l->value);
      memcpy(m->value, l->value, m->value_len + 1);
      send_msg(d, &l->c[i].addr, m);
      sent++;
    }
    if (!sent) d->next_put = 0; /* nobody to store at: try again next cycle */
  }
}

static void start_cycle(dht *d, uint64_t now) {
  /* With an empty table the cycle waits: a bootstrap reply brings it forward. */
  if (!core_topic(d->core) || lk_running(d, LK_TOPIC) || rt_count(d) == 0) return;
  uint8_t key[DHT_ID_LEN];
  dht_topic_key(core_topic(d->core), key);
  lk_start(d, LK_TOPIC, key, NULL, now);
}

static void ask_bootstrap(dht *d, uint64_t now) {
  d->next_boot = now + BOOT_RETRY_MS;
  for (size_t i = 0; i < d->nboot; i++) {
    dht_msg *m = &d->scratch;
    memset(m, 0, offsetof(dht_msg, value));
    m->has_nodes = m->has_peers = m->has_value = 0;
    m->type = DHT_FIND_NODE; /* 14.6 bootstrap: FIND_NODE for our own id */
    m->has_target = 1;
    memcpy(m->target, d->self, DHT_ID_LEN);
    request(d, &d->boot[i], NULL, m, -1, now);
  }
}

/* ---- stores --------------------------------------------------------------------- */

static void store_drop(dht *d, size_t i) {
  d->store_bytes -= d->store[i].len;
  free(d->store[i].value);
  d->store[i] = d->store[--d->nstore];
}

static void store_put(dht *d, const uint8_t key[DHT_ID_LEN], const char *v, size_t len,
                      const sw_addr *src, uint64_t now) {
  size_t from_src = 0, oldest_src = SIZE_MAX, oldest = SIZE_MAX;
  for (size_t i = 0; i < d->nstore; i++) {
    store_entry *e = &d->store[i];
    if (memcmp(e->key, key, DHT_ID_LEN) == 0) { /* a new value replaces the old */
      store_drop(d, i);
      break;
    }
  }
  for (size_t i = 0; i < d->nstore; i++) {
    store_entry *e = &d->store[i];
    if (same_ip(&e->src, src)) {
      from_src++;
      if (oldest_src == SIZE_MAX || e->expires < d->store[oldest_src].expires) oldest_src = i;
    }
    if (oldest == SIZE_MAX || e->expires < d->store[oldest].expires) oldest = i;
  }
  if (from_src >= STORE_PER_SRC) {
    store_drop(d, oldest_src);
  } else {
    while (d->nstore && (d->nstore >= STORE_MAX || d->store_bytes + len > STORE_BYTES)) {
      oldest = 0;
      for (size_t i = 1; i < d->nstore; i++)
        if (d->store[i].expires < d->store[oldest].expires) oldest = i;
      store_drop(d, oldest);
    }
  }
  char *copy = malloc(len + 1);
  if (!copy) return;
  memcpy(copy, v, len);
  copy[len] = 0;
  store_entry *e = &d->store[d->nstore++];
  memcpy(e->key, key, DHT_ID_LEN);
  e->value = copy;
  e->len = len;
  e->src = *src;
  e->expires = now + STORE_TTL_MS;
  d->store_bytes += len;
}

static const store_entry *store_get(const dht *d, const uint8_t key[DHT_ID_LEN], uint64_t now) {
  for (size_t i = 0; i < d->nstore; i++)
    if (memcmp(d->store[i].key, key, DHT_ID_LEN) == 0 && d->store[i].expires > now)
      return &d->store[i];
  return NULL;
}

static void ann_put(dht *d, const uint8_t key[DHT_ID_LEN], const uint8_t id[DHT_ID_LEN],
                    const sw_addr *addr, const sw_addr *src, uint64_t now) {
  ann_entry *same = NULL, *free_slot = NULL, *old_key = NULL, *old_src = NULL, *old_all = NULL;
  size_t nkey = 0, nsrc = 0;
  for (int i = 0; i < ANN_MAX; i++) {
    ann_entry *e = &d->ann[i];
    if (!e->used || e->expires <= now) {
      e->used = 0;
      if (!free_slot) free_slot = e;
      continue;
    }
    if (memcmp(e->key, key, DHT_ID_LEN) == 0) {
      if (memcmp(e->id, id, DHT_ID_LEN) == 0) same = e;
      nkey++;
      if (!old_key || e->expires < old_key->expires) old_key = e;
    }
    if (same_ip(&e->src, src)) {
      nsrc++;
      if (!old_src || e->expires < old_src->expires) old_src = e;
    }
    if (!old_all || e->expires < old_all->expires) old_all = e;
  }
  ann_entry *slot = same;
  if (!slot && nsrc >= ANN_PER_SRC) slot = old_src;
  if (!slot && nkey >= ANN_PER_KEY) slot = old_key;
  if (!slot) slot = free_slot ? free_slot : old_all;
  if (!slot) return;
  slot->used = 1;
  memcpy(slot->key, key, DHT_ID_LEN);
  memcpy(slot->id, id, DHT_ID_LEN);
  slot->addr = *addr;
  slot->src = *src;
  slot->expires = now + ANN_TTL_MS;
}

static void sweep(dht *d, uint64_t now) {
  d->next_sweep = now + SWEEP_MS;
  for (size_t i = 0; i < d->nstore;) {
    if (d->store[i].expires <= now)
      store_drop(d, i);
    else
      i++;
  }
  for (int i = 0; i < ANN_MAX; i++)
    if (d->ann[i].used && d->ann[i].expires <= now) d->ann[i].used = 0;
}

/* ---- receiving ------------------------------------------------------------------ */

static void reset_msg(dht_msg *m, int type) {
  memset(m, 0, offsetof(dht_msg, value));
  m->has_nodes = m->has_peers = m->has_value = 0;
  m->nnodes = m->npeers = 0;
  m->type = type;
}

static void meet_peers(dht *d, const dht_msg *in, uint64_t now) {
  const uint8_t *me = core_identity(d->core)->id;
  for (size_t i = 0; i < in->npeers; i++) {
    if (memcmp(in->peers[i].id, me, 20) == 0) continue; /* D9: never ourselves */
    d->st.peers_found++;
    /* the full id: the answering key must hash to it (DESIGN "meet" path) */
    if (core_meet(d->core, &in->peers[i].addr, in->peers[i].id, now) == SW_OK) d->st.meets++;
  }
}

static void on_reply(dht *d, rpc_slot *r, const dht_msg *in, const sw_addr *from,
                     uint64_t now) {
  int li = r->lookup;
  int was_boot = !r->has_id;
  r->used = 0;
  if (in->has_ip && in->type == DHT_PEERS) /* our IP as that node saw it (no port) */
    core_learn_public_addr(d->core, &in->ip, PUBADDR_SRC_DHT, now);
  if (in->type == DHT_PEERS) meet_peers(d, in, now);
  if (li >= 0 && d->lk[li].used) {
    lookup *l = &d->lk[li];
    l->inflight--;
    for (size_t i = 0; i < l->n; i++)
      if (addr_equal(&l->c[i].addr, from) && l->c[i].state == C_ASKED)
        l->c[i].state = C_ANSWERED;
    for (size_t i = 0; i < in->nnodes; i++) lk_add(l, d->self, &in->nodes[i]);
    lk_step(d, li, now);
    return;
  }
  if (was_boot && in->has_from) {
    /* A bootstrap node told us its id: look ourselves up through it, then the topic. */
    if (!lk_running(d, LK_BOOT)) {
      int nl = lk_start(d, LK_BOOT, d->self, NULL, now);
      if (nl >= 0 && d->lk[nl].used) {
        for (size_t i = 0; i < in->nnodes; i++) lk_add(&d->lk[nl], d->self, &in->nodes[i]);
        lk_step(d, nl, now);
      }
    }
    if (d->want_topic && !lk_running(d, LK_TOPIC) && d->next_cycle > now + 500)
      d->next_cycle = now + 500; /* let the self lookup fill the table first */
  }
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
      m->nnodes = rt_closest(d, in->target, m->nodes, DHT_K);
      break;
    case DHT_FIND_VALUE: {
      const store_entry *e = store_get(d, in->key, now);
      if (e) {
        reset_msg(m, DHT_FOUND_VAL);
        m->has_value = 1;
        m->value_len = e->len;
        memcpy(m->value, e->value, e->len + 1);
      } else {
        reset_msg(m, DHT_FOUND_NODE);
        m->has_nodes = 1;
        m->nnodes = rt_closest(d, in->key, m->nodes, DHT_K);
      }
      break;
    }
    case DHT_STORE:
      store_put(d, in->key, in->value, in->value_len, from, now);
      return; /* 14.6: no reply */
    case DHT_GET_PEERS:
      reset_msg(m, DHT_PEERS);
      m->has_peers = m->has_nodes = m->has_ip = 1;
      m->ip = *from;
      m->ip.port = 0;
      for (int i = ANN_MAX - 1; i >= 0 && m->npeers < DHT_MSG_PEERS; i--) {
        const ann_entry *e = &d->ann[i];
        if (!e->used || e->expires <= now || memcmp(e->key, in->key, DHT_ID_LEN)) continue;
        memcpy(m->peers[m->npeers].id, e->id, DHT_ID_LEN);
        m->peers[m->npeers++].addr = e->addr;
      }
      m->nnodes = rt_closest(d, in->key, m->nodes, DHT_K);
      break;
    case DHT_ANNOUNCE_PEER: {
      sw_addr a = *from; /* the announcer's IP as we see it, its main port */
      a.port = in->port;
      ann_put(d, in->key, in->id, &a, from, now);
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
  send_msg(d, from, m);
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
  if (in->has_from) rt_add(d, in->from, from, now); /* 14.6 step 1 */
  if (in->has_rpc) { /* step 2; we also require the address we asked */
    for (int i = 0; i < RPC_MAX; i++) {
      rpc_slot *r = &d->rpc[i];
      if (r->used && r->id == in->rpc && addr_equal(&r->to, from) &&
          in->type != DHT_PING && in->type != DHT_FIND_NODE && in->type != DHT_FIND_VALUE &&
          in->type != DHT_GET_PEERS && in->type != DHT_ANNOUNCE_PEER) {
        on_reply(d, r, in, from, now);
        free(in);
        return;
      }
    }
  }
  answer(d, in, from, now);
  free(in);
}

/* ---- timers ----------------------------------------------------------------------- */

static void on_timeout(void *st, uint64_t now) {
  dht *d = st;
  for (int i = 0; i < RPC_MAX; i++) {
    rpc_slot *r = &d->rpc[i];
    if (!r->used || r->expires > now) continue;
    r->used = 0;
    /* Only requests every node answers count against it: reference nodes ignore our
     * types 8-10 (PROTOCOL.md 21.4) and must stay in the table. */
    if (r->has_id && r->type <= DHT_FIND_VALUE) rt_failed(d, r->nid);
    int li = r->lookup;
    if (li >= 0 && d->lk[li].used) {
      lookup *l = &d->lk[li];
      l->inflight--;
      for (size_t k = 0; k < l->n; k++)
        if (addr_equal(&l->c[k].addr, &r->to) && l->c[k].state == C_ASKED)
          l->c[k].state = C_FAILED;
      lk_step(d, li, now);
    }
  }
  if (d->nboot && now >= d->next_boot) {
    if (rt_count(d) == 0)
      ask_bootstrap(d, now);
    else
      d->next_boot = UINT64_MAX;
  }
  if (now >= d->next_refresh) {
    d->next_refresh = now + REFRESH_MS;
    if (rt_count(d) && !lk_running(d, LK_BOOT)) lk_start(d, LK_BOOT, d->self, NULL, now);
  }
  if (d->want_topic && now >= d->next_cycle) {
    d->next_cycle = now + d->cycle_gap;
    d->cycle_gap = d->cycle_gap * 2 > CYCLE_MAX_MS ? CYCLE_MAX_MS : d->cycle_gap * 2;
    start_cycle(d, now);
  }
  if (now >= d->next_sweep) sweep(d, now);
}

static uint64_t deadline(const void *st) {
  const dht *d = st;
  uint64_t t = d->next_sweep < d->next_refresh ? d->next_sweep : d->next_refresh;
  if (d->nboot && d->next_boot < t) t = d->next_boot;
  if (d->want_topic && d->next_cycle < t) t = d->next_cycle;
  for (int i = 0; i < RPC_MAX; i++)
    if (d->rpc[i].used && d->rpc[i].expires < t) t = d->rpc[i].expires;
  return t;
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
  if (d->want_topic && !lk_running(d, LK_TOPIC) && d->next_cycle > now) d->next_cycle = now;
}

static void on_close(void *st, uint64_t now) {
  dht *d = st;
  d->want_topic = 0;
  d->nboot = 0;
  d->next_refresh = d->next_sweep = UINT64_MAX;
  for (int i = 0; i < LOOKUP_MAX; i++) d->lk[i].used = 0;
  memset(d->rpc, 0, sizeof d->rpc);
}

static void dht_free(void *st) {
  dht *d = st;
  for (int b = 0; b < DHT_BUCKETS; b++) free(d->buckets[b]);
  for (size_t i = 0; i < d->nstore; i++) free(d->store[i].value);
  free(d->ann);
  free(d);
}

static size_t memory(const void *st) {
  const dht *d = st;
  size_t n = sizeof *d + ANN_MAX * sizeof(ann_entry) + d->store_bytes + d->nstore;
  for (int b = 0; b < DHT_BUCKETS; b++)
    if (d->buckets[b]) n += DHT_K * sizeof(rt_entry);
  return n;
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
  out->table_nodes = rt_count(d);
  out->stored_values = d->nstore;
  out->stored_peers = 0;
  for (int i = 0; i < ANN_MAX; i++) out->stored_peers += d->ann[i].used;
  return 1;
}

static int attach_from_config(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  return cfg->dht ? dht_attach(c, cfg->dht, now) : SW_OK;
}

const core_module_def dht_module = {"dht", attach_from_config};
