/* The DHT's iterative lookups (PROTOCOL.md 14.6: alpha 3, K 20, over the network, D24)
 * and the RPC slots of the requests they, the bootstrap and the announces send: a reply
 * finds its request by rpcId and address, a request unanswered in RPC_TIMEOUT_MS
 * fails. A topic lookup ends in announces and the references' STOREs; replies listing
 * peers end in core_meet. Declared in dht_state.h. */
#include <stdio.h>
#include <string.h>

#include "core_internal.h"
#include "dht_state.h"
#include "merec.h"

/* ---- requests ------------------------------------------------------------------- */

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
  dht_token_attach(d, to, m, 1);
  dht_send(d, to, m);
  return SW_OK;
}

/* ---- lookups -------------------------------------------------------------------- */

static void lk_add(lookup *l, const uint8_t *self, const dht_node *n) {
  if (memcmp(n->id, self, DHT_ID_LEN) == 0) return;
  size_t pos = l->n;
  for (size_t i = 0; i < l->n; i++) {
    if (memcmp(l->c[i].id, n->id, DHT_ID_LEN) == 0) return;
  }
  while (pos > 0 && dht_dist_cmp(n->id, l->c[pos - 1].id, l->target) < 0) pos--;
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

int dht_lookup_start(dht *d, int purpose, const uint8_t *target, const char *value, int topic,
                     uint64_t now) {
  for (int li = 0; li < LOOKUP_MAX; li++) {
    lookup *l = &d->lk[li];
    if (l->used) continue;
    memset(l, 0, sizeof *l);
    l->used = 1;
    l->purpose = purpose;
    l->topic = topic;
    l->qtype = purpose == LK_TOPIC ? DHT_GET_PEERS : DHT_FIND_NODE;
    memcpy(l->target, target, DHT_ID_LEN);
    if (value) snprintf(l->value, sizeof l->value, "%s", value);
    dht_node near[DHT_K];
    size_t n = dht_table_closest(d, target, near, DHT_K);
    for (size_t i = 0; i < n; i++) lk_add(l, d->self, &near[i]);
    d->st.lookups++;
    lk_step(d, li, now);
    return li;
  }
  return SW_EFULL;
}

int dht_lookup_running(const dht *d, int purpose, int topic) {
  for (int li = 0; li < LOOKUP_MAX; li++)
    if (d->lk[li].used && d->lk[li].purpose == purpose && (topic < 0 || d->lk[li].topic == topic))
      return 1;
  return 0;
}

void dht_lookup_forget_topic(dht *d, int ti) {
  for (int li = 0; li < LOOKUP_MAX; li++)
    if (d->lk[li].used && d->lk[li].topic == ti) d->lk[li].topic = -1;
}

static void put_record(dht *d, int ti, const char *prefix, const char *value, uint64_t now) {
  const uint8_t *topic = d->topics[ti].topic;
  char th[13], idh[41], text[80];
  uint8_t key[DHT_ID_LEN];
  crypto_topic_hash(topic, th);
  crypto_hex_encode(core_identity(d->core)->id, 20, idh);
  snprintf(text, sizeof text, "%s:%s:%s", prefix, th, idh); /* 14.6 announce key */
  dht_key(text, key);
  dht_lookup_start(d, LK_STORE, key, value, ti, now);
}

static void lk_finish(dht *d, int li, uint64_t now) {
  lookup *l = &d->lk[li];
  l->used = 0;
  d->st.lookups_done++;
  size_t sent = 0;
  uint16_t main_port = core_lan_addr(d->core)->port;
  int ti = l->topic;
  if (ti < 0) return; /* a topic lookup or STORE of a topic left meanwhile: nothing */
  dht_topic *t = &d->topics[ti];
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
    if (now < t->next_put) return;
    t->next_put = now + REPUT_MS;
    /* The references' records carry one (ip, port) pair and our DHT observation only
     * an IP: with no mapped port known, the IP goes with our local port, as these
     * records always have (ip_only_ok, pubaddr.h); JavaScript's form without ip/port
     * while no public IP is known at all. */
    char rec[DHT_VALUE_MAX];
    sw_addr pub;
    if (merec_build_own(d->core, MEREC_FULL_OMIT, 1, rec, sizeof rec))
      put_record(d, ti, "topic", rec, now);
    if (d->relay && pubaddr_record_endpoint(d->core, 1, &pub) &&
        merec_build(rec, sizeof rec, MEREC_ENDPOINT, core_identity(d->core)->id, &pub,
                    core_lan_addr(d->core)))
      put_record(d, ti, "relay", rec, now);
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
      dht_token_attach(d, &l->c[i].addr, m, 0);
      dht_send(d, &l->c[i].addr, m);
      sent++;
    }
    if (!sent) t->next_put = 0; /* nobody to store at: try again next cycle */
  }
}

int dht_lookup_cycle(dht *d, int ti, uint64_t now) {
  /* With an empty table the cycle waits: a bootstrap reply brings it forward. */
  if (!d->topics[ti].used || dht_lookup_running(d, LK_TOPIC, ti) || dht_table_count(d) == 0)
    return SW_OK;
  uint8_t key[DHT_ID_LEN];
  dht_topic_key(d->topics[ti].topic, key);
  return dht_lookup_start(d, LK_TOPIC, key, NULL, ti, now) < 0 ? SW_EFULL : SW_OK;
}

void dht_lookup_bootstrap(dht *d, uint64_t now) {
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

/* ---- replies and timeouts ---------------------------------------------------------- */

/* Peers a GET_PEERS answer lists: met for the topic of the lookup that asked (topic
 * NULL when none, or when that topic was left: then nobody is met). */
static void meet_peers(dht *d, const dht_msg *in, int li, uint64_t now) {
  const uint8_t *me = core_identity(d->core)->id;
  const uint8_t *topic = NULL;
  if (li >= 0 && d->lk[li].used && d->lk[li].purpose == LK_TOPIC) {
    if (d->lk[li].topic < 0) return;
    topic = d->topics[d->lk[li].topic].topic;
  }
  for (size_t i = 0; i < in->npeers; i++) {
    if (memcmp(in->peers[i].id, me, 20) == 0) continue; /* D9: never ourselves */
    d->st.peers_found++;
    /* the full id: the answering key must hash to it (DESIGN "meet" path) */
    if (core_meet_topic(d->core, &in->peers[i].addr, in->peers[i].id, topic, now) == SW_OK)
      d->st.meets++;
  }
}

static void on_reply(dht *d, rpc_slot *r, const dht_msg *in, const sw_addr *from,
                     uint64_t now) {
  int li = r->lookup;
  int was_boot = !r->has_id;
  r->used = 0;
  if (in->has_ip && in->type == DHT_PEERS) /* our IP as that node saw it (no port) */
    core_learn_public_addr(d->core, &in->ip, PUBADDR_SRC_DHT, now);
  if (in->type == DHT_PEERS) meet_peers(d, in, li, now);
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
    if (!dht_lookup_running(d, LK_BOOT, -1)) {
      int nl = dht_lookup_start(d, LK_BOOT, d->self, NULL, -1, now);
      if (nl >= 0 && d->lk[nl].used) {
        for (size_t i = 0; i < in->nnodes; i++) lk_add(&d->lk[nl], d->self, &in->nodes[i]);
        lk_step(d, nl, now);
      }
    }
    for (int ti = 0; ti < SW_MAX_TOPICS; ti++) {
      dht_topic *t = &d->topics[ti];
      if (t->used && !dht_lookup_running(d, LK_TOPIC, ti) && t->next_cycle > now + 500)
        t->next_cycle = now + 500; /* let the self lookup fill the table first */
    }
  }
}

int dht_lookup_reply(dht *d, const dht_msg *in, const sw_addr *from, uint64_t now) {
  if (!in->has_rpc) return 0;
  for (int i = 0; i < RPC_MAX; i++) { /* 14.6 step 2; we also require the address we asked */
    rpc_slot *r = &d->rpc[i];
    if (r->used && r->id == in->rpc && addr_equal(&r->to, from) && in->type != DHT_PING &&
        in->type != DHT_FIND_NODE && in->type != DHT_FIND_VALUE &&
        in->type != DHT_GET_PEERS && in->type != DHT_ANNOUNCE_PEER) {
      on_reply(d, r, in, from, now);
      return 1;
    }
  }
  return 0;
}

void dht_lookup_timeout(dht *d, uint64_t now) {
  for (int i = 0; i < RPC_MAX; i++) {
    rpc_slot *r = &d->rpc[i];
    if (!r->used || r->expires > now) continue;
    r->used = 0;
    /* Only requests every node answers count against it: reference nodes ignore our
     * types 8-10 (PROTOCOL.md 21.4) and must stay in the table. */
    if (r->has_id && r->type <= DHT_FIND_VALUE) dht_table_failed(d, r->nid);
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
}

uint64_t dht_lookup_deadline(const dht *d, uint64_t t) {
  for (int i = 0; i < RPC_MAX; i++)
    if (d->rpc[i].used && d->rpc[i].expires < t) t = d->rpc[i].expires;
  return t;
}

void dht_lookup_close(dht *d) {
  for (int i = 0; i < LOOKUP_MAX; i++) d->lk[i].used = 0;
  memset(d->rpc, 0, sizeof d->rpc);
}
