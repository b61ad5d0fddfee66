/* simnet: see simnet.h. Layout: the event heap, the links, the nodes and what they
 * record, the runner, then the API wrappers. */
#include "simnet.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define MAX_HOSTS 65024        /* 10.0.0.0/16 without .0 and .255 hosts */
#define STUCK_TIMEOUTS 10000   /* timeouts at one instant before we call a core stuck */

enum { EV_DGRAM = 1, EV_TIMER = 2 };

/* One scheduled event: a datagram copy arriving, or a node's deadline. */
typedef struct sim_ev {
  uint64_t at, order; /* heap key: time, then insertion order (FIFO, deterministic) */
  int kind;
  int src;            /* EV_DGRAM: the sending node; EV_TIMER: the node */
  uint32_t gen;       /* EV_TIMER: the node's generation when it was scheduled */
  sw_addr from, to;   /* EV_DGRAM */
  int sock;           /* EV_DGRAM: the socket kind it travels between */
  uint8_t *data;
  size_t len;
} sim_ev;

/* Per directed pair: own impairments and/or a cut. */
typedef struct link_rule {
  int a, b;
  int has_link;
  sim_link link;
  int down;
} link_rule;

typedef struct sim_node {
  simnet *net;
  int index;
  sw_core *core;      /* NULL once killed */
  sw_addr addr;
  sw_addr dht_addr;   /* the node's DHT socket: its host, another port */
  int host;           /* index into net->owner */
  char seed_hex[65];
  uint8_t id[SW_ID_LEN];
  tu_rng rng;         /* the core's own random source */
  uint32_t gen;       /* bumped when the core is replaced: stale timers are ignored */
  uint64_t timer_at;  /* time of the live timer event, UINT64_MAX: none */
  uint64_t stuck_at;
  unsigned stuck_count;
  sim_node_stats st;
  sim_record *log;
  size_t nlog, caplog, log_bytes;
} sim_node;

struct simnet {
  uint64_t seed, now, order;
  tu_rng rng; /* the network's randomness; nodes' streams are drawn from it too */
  sim_ev *heap;
  size_t nheap, capheap;
  size_t inflight, inflight_bytes;
  sim_link dflt;
  link_rule *rules;
  size_t nrules, caprules;
  sim_node **nodes;
  int nnodes;
  int *owner; /* host number -> node index, -1: nobody */
  int nhosts;
  simnet_hook hook;
  void *hook_ctx;
  simnet_config_fn config;
  void *config_ctx;
  int trace;
  simnet_stats st;
  char fault[256];
};

static void set_fault(simnet *net, const char *fmt, ...) {
  va_list ap;
  if (net->fault[0]) return; /* keep the first cause */
  va_start(ap, fmt);
  vsnprintf(net->fault, sizeof net->fault, fmt, ap);
  va_end(ap);
}

/* ---- randomness --------------------------------------------------------- */

static double rng_unit(simnet *net) { /* uniform in [0, 1) */
  return (double)(tu_rng_next(&net->rng) >> 11) * (1.0 / 9007199254740992.0);
}

static int chance(simnet *net, double p) { return p > 0 && rng_unit(net) < p; }

static uint32_t rng_upto(simnet *net, uint32_t n) { /* uniform in [0, n] */
  return n ? (uint32_t)(tu_rng_next(&net->rng) % ((uint64_t)n + 1)) : 0;
}

/* ---- the event heap (a binary min-heap on (at, order)) -------------------- */

static int ev_before(const sim_ev *x, const sim_ev *y) {
  return x->at != y->at ? x->at < y->at : x->order < y->order;
}

static int heap_push(simnet *net, sim_ev *ev) {
  if (net->nheap == net->capheap) {
    size_t cap = net->capheap ? 2 * net->capheap : 256;
    sim_ev *h = realloc(net->heap, cap * sizeof *h);
    if (!h) {
      set_fault(net, "out of memory for the event heap");
      return -1;
    }
    net->heap = h;
    net->capheap = cap;
  }
  ev->order = net->order++;
  size_t i = net->nheap++;
  while (i > 0) { /* sift up */
    size_t parent = (i - 1) / 2;
    if (!ev_before(ev, &net->heap[parent])) break;
    net->heap[i] = net->heap[parent];
    i = parent;
  }
  net->heap[i] = *ev;
  return 0;
}

static sim_ev heap_pop(simnet *net) {
  sim_ev top = net->heap[0], last = net->heap[--net->nheap];
  size_t i = 0, n = net->nheap;
  for (;;) { /* sift down */
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && ev_before(&net->heap[c + 1], &net->heap[c])) c++;
    if (!ev_before(&net->heap[c], &last)) break;
    net->heap[i] = net->heap[c];
    i = c;
  }
  if (n) net->heap[i] = last;
  return top;
}

/* ---- links ---------------------------------------------------------------- */

static link_rule *rule_get(simnet *net, int a, int b, int create) {
  for (size_t i = 0; i < net->nrules; i++)
    if (net->rules[i].a == a && net->rules[i].b == b) return &net->rules[i];
  if (!create) return NULL;
  if (net->nrules == net->caprules) {
    size_t cap = net->caprules ? 2 * net->caprules : 16;
    link_rule *r = realloc(net->rules, cap * sizeof *r);
    if (!r) {
      set_fault(net, "out of memory for link rules");
      return NULL;
    }
    net->rules = r;
    net->caprules = cap;
  }
  link_rule *r = &net->rules[net->nrules++];
  memset(r, 0, sizeof *r);
  r->a = a;
  r->b = b;
  return r;
}

static const sim_link *link_of(simnet *net, int a, int b, int *down) {
  const link_rule *r = rule_get(net, a, b, 0);
  *down = r && r->down;
  return r && r->has_link ? &r->link : &net->dflt;
}

void simnet_set_default_link(simnet *net, const sim_link *l) { net->dflt = *l; }

void simnet_set_link(simnet *net, int a, int b, const sim_link *l) {
  for (int dir = 0; dir < 2; dir++) {
    link_rule *r = dir ? rule_get(net, b, a, 1) : rule_get(net, a, b, 1);
    if (!r) return;
    r->has_link = 1;
    r->link = *l;
  }
}

void simnet_partition(simnet *net, int a, int b, int down) {
  for (int dir = 0; dir < 2; dir++) {
    link_rule *r = dir ? rule_get(net, b, a, 1) : rule_get(net, a, b, 1);
    if (r) r->down = down;
  }
}

/* ---- addresses ------------------------------------------------------------ */

/* Host h is 10.0.(h / 254).(h % 254 + 1), port 40000 + h % 20000: never .0 or .255. */
static void host_addr(int h, sw_addr *a) {
  uint8_t ip[4] = {10, 0, (uint8_t)(h / 254), (uint8_t)(h % 254 + 1)};
  addr_from_raw(a, ip, 4, (uint16_t)(40000 + h % 20000));
}

/* Its DHT socket: port 20000 + h % 20000, never one of the main ports. */
static void host_dht_addr(int h, sw_addr *a) {
  host_addr(h, a);
  a->port = (uint16_t)(20000 + h % 20000);
}

static sim_node *node_at_kind(simnet *net, const sw_addr *a, int sock) {
  if (a->family != 4 || a->ip[0] != 10 || a->ip[1] != 0 || a->ip[3] == 0) return NULL;
  int h = a->ip[2] * 254 + a->ip[3] - 1;
  if (h >= net->nhosts || net->owner[h] < 0) return NULL;
  sim_node *n = net->nodes[net->owner[h]];
  const sw_addr *own = sock == SW_SOCK_DHT ? &n->dht_addr : &n->addr;
  return n->core && addr_equal(own, a) ? n : NULL;
}

static int new_host(simnet *net) {
  if (net->nhosts == MAX_HOSTS) return -1;
  int *o = realloc(net->owner, (size_t)(net->nhosts + 1) * sizeof *o);
  if (!o) return -1;
  net->owner = o;
  net->owner[net->nhosts] = -1;
  return net->nhosts++;
}

/* ---- tracing -------------------------------------------------------------- */

static const char *frame_name(const uint8_t *d, size_t len) {
  if (!len) return "empty";
  switch (d[0]) {
    case WIRE_DATA: return "DATA";
    case WIRE_PING: return "PING";
    case WIRE_PONG: return "PONG";
    case WIRE_GOAWAY: return "GOAWAY";
    case WIRE_FRAG: return "FRAG";
    case WIRE_BATCH: return "BATCH";
    case WIRE_SEALED: return "SEALED";
    case WIRE_HELLO: return "HELLO";
    case WIRE_HELLO_ACK: return "HELLO_ACK";
    default: return "other";
  }
}

static void trace_dgram(simnet *net, int src, const sw_addr *to, const uint8_t *d, size_t len,
                        const char *what) {
  char a[SW_ADDRSTRLEN];
  if (!net->trace) return;
  addr_format(to, a, sizeof a);
  fprintf(stderr, "[%8" PRIu64 "] n%d -> %s %s %zu B: %s\n", net->now, src, a,
          frame_name(d, len), len, what);
}

static const char *event_name(sw_event_type t) {
  switch (t) {
    case SW_EV_CONNECTION: return "CONNECTION";
    case SW_EV_DATA: return "DATA";
    case SW_EV_DISCONNECT: return "DISCONNECT";
    case SW_EV_WRITABLE: return "WRITABLE";
    case SW_EV_CLOSE: return "CLOSE";
    default: return "event";
  }
}

/* ---- nodes: what they record ---------------------------------------------- */

static void record(sim_node *n, const sw_event *ev) {
  size_t bytes = ev->type == SW_EV_DATA ? ev->len : 0;
  if (n->nlog == SIMNET_LOG_MAX || n->log_bytes + bytes > SIMNET_LOG_MAX_BYTES) {
    n->st.log_dropped++;
    return;
  }
  if (n->nlog == n->caplog) {
    size_t cap = n->caplog ? 2 * n->caplog : 64;
    sim_record *l = realloc(n->log, cap * sizeof *l);
    if (!l) {
      n->st.log_dropped++;
      return;
    }
    n->log = l;
    n->caplog = cap;
  }
  sim_record *r = &n->log[n->nlog];
  memset(r, 0, sizeof *r);
  r->t_ms = n->net->now;
  r->type = ev->type;
  if (ev->peer) memcpy(r->peer, ev->peer, SW_WIRE_ID_LEN);
  if (bytes) {
    r->data = malloc(bytes);
    if (!r->data) {
      n->st.log_dropped++;
      return;
    }
    memcpy(r->data, ev->data, bytes);
    r->len = bytes;
  }
  n->log_bytes += bytes;
  n->nlog++;
}

static void on_event(void *ctx, const sw_event *ev) {
  sim_node *n = ctx;
  simnet *net = n->net;
  switch (ev->type) {
    case SW_EV_CONNECTION: n->st.connections++; break;
    case SW_EV_DISCONNECT: n->st.disconnects++; break;
    case SW_EV_DATA: n->st.data++; break;
    default: break;
  }
  record(n, ev);
  if (net->trace)
    fprintf(stderr, "[%8" PRIu64 "] n%d %s peer %s len %zu\n", net->now, n->index,
            event_name(ev->type), ev->peer ? tu_hex(ev->peer, SW_WIRE_ID_LEN) : "-", ev->len);
  if (net->hook) net->hook(net->hook_ctx, net, n->index, ev);
}

static void node_random(void *ctx, uint8_t *buf, size_t len) {
  tu_rng_bytes(&((sim_node *)ctx)->rng, buf, len);
}

/* Create node n's core at host h (-1: a fresh one) with a fresh random stream. */
static int node_boot(simnet *net, sim_node *n, int h) {
  if (h < 0) h = new_host(net);
  if (h < 0) {
    set_fault(net, "out of simulated addresses");
    return -1;
  }
  n->rng.s = tu_rng_next(&net->rng);
  sw_core_config cfg = {.seed_hex = n->seed_hex, .random = node_random,
                        .on_event = on_event, .ctx = n};
  host_addr(h, &n->addr);
  host_dht_addr(h, &n->dht_addr);
  if (net->config) net->config(net->config_ctx, net, n->index, &cfg);
  if (sw_core_new(&n->core, &cfg, net->now) != SW_OK) {
    set_fault(net, "sw_core_new failed for node %d", n->index);
    return -1;
  }
  sw_core_identity(n->core, NULL, n->id);
  n->host = h;
  net->owner[h] = n->index;
  n->gen++;
  n->timer_at = UINT64_MAX;
  simnet_kick(net, n->index);
  return 0;
}

static void node_halt(simnet *net, sim_node *n) {
  if (!n->core) return;
  sw_core_free(n->core);
  n->core = NULL;
  net->owner[n->host] = -1;
  n->gen++; /* its pending timer is now stale */
  n->timer_at = UINT64_MAX;
}

int simnet_add_node(simnet *net, const char *seed_hex) {
  if (net->nnodes == SIMNET_MAX_NODES) return -1;
  sim_node *n = calloc(1, sizeof *n);
  sim_node **arr = realloc(net->nodes, (size_t)(net->nnodes + 1) * sizeof *arr);
  if (!n || !arr) {
    free(n);
    if (arr) net->nodes = arr;
    set_fault(net, "out of memory for a node");
    return -1;
  }
  net->nodes = arr;
  n->net = net;
  n->index = net->nnodes;
  if (seed_hex) {
    snprintf(n->seed_hex, sizeof n->seed_hex, "%s", seed_hex);
  } else {
    uint8_t s[32];
    tu_rng_bytes(&net->rng, s, sizeof s);
    snprintf(n->seed_hex, sizeof n->seed_hex, "%s", tu_hex(s, sizeof s));
  }
  net->nodes[net->nnodes++] = n;
  if (node_boot(net, n, -1)) return -1;
  return n->index;
}

int simnet_restart_node(simnet *net, int i, int keep_address) {
  sim_node *n = net->nodes[i];
  node_halt(net, n);
  return node_boot(net, n, keep_address ? n->host : -1);
}

void simnet_kill_node(simnet *net, int i) { node_halt(net, net->nodes[i]); }

int simnet_node_count(const simnet *net) { return net->nnodes; }
sw_core *simnet_core(simnet *net, int i) { return net->nodes[i]->core; }
const sw_addr *simnet_addr(const simnet *net, int i) { return &net->nodes[i]->addr; }
const sw_addr *simnet_dht_addr(const simnet *net, int i) { return &net->nodes[i]->dht_addr; }

void simnet_set_config(simnet *net, simnet_config_fn fn, void *ctx) {
  net->config = fn;
  net->config_ctx = ctx;
}
const uint8_t *simnet_id(const simnet *net, int i) { return net->nodes[i]->id; }

int simnet_node_by_wire(const simnet *net, const uint8_t wire[SW_WIRE_ID_LEN]) {
  for (int i = 0; i < net->nnodes; i++)
    if (memcmp(net->nodes[i]->id, wire, SW_WIRE_ID_LEN) == 0) return i;
  return -1;
}

/* ---- the network ------------------------------------------------------------ */

static void put_on_wire(simnet *net, sim_node *from, const sw_dgram *d) {
  net->st.sent++;
  from->st.tx_datagrams++;
  /* main and DHT sockets exist here; LAN traffic goes nowhere yet */
  sim_node *to = d->kind == SW_SOCK_MAIN || d->kind == SW_SOCK_DHT
                     ? node_at_kind(net, d->to, d->kind)
                     : NULL;
  if (!to) {
    net->st.unroutable++;
    trace_dgram(net, from->index, d->to, d->data, d->len, "unroutable");
    return;
  }
  int down;
  const sim_link *l = link_of(net, from->index, to->index, &down);
  if (down) {
    net->st.partitioned++;
    trace_dgram(net, from->index, d->to, d->data, d->len, "cut");
    return;
  }
  if (chance(net, l->loss)) {
    net->st.lost++;
    trace_dgram(net, from->index, d->to, d->data, d->len, "lost");
    return;
  }
  int copies = 1 + chance(net, l->dup);
  net->st.duplicated += (uint64_t)(copies - 1);
  for (int c = 0; c < copies; c++) {
    if (net->inflight == SIMNET_MAX_INFLIGHT ||
        net->inflight_bytes + d->len > SIMNET_MAX_INFLIGHT_BYTES) {
      net->st.overflow++;
      continue;
    }
    sim_ev ev = {.at = net->now + l->delay_ms + rng_upto(net, l->jitter_ms),
                 .kind = EV_DGRAM, .src = from->index,
                 .from = d->kind == SW_SOCK_DHT ? from->dht_addr : from->addr, .to = *d->to,
                 .sock = d->kind, .len = d->len};
    ev.data = malloc(d->len ? d->len : 1);
    if (!ev.data) {
      set_fault(net, "out of memory for a datagram");
      return;
    }
    memcpy(ev.data, d->data, d->len);
    if (heap_push(net, &ev)) {
      free(ev.data);
      return;
    }
    net->inflight++;
    net->inflight_bytes += d->len;
    trace_dgram(net, from->index, d->to, d->data, d->len, c ? "sent (duplicate)" : "sent");
  }
}

/* After any step of node i: close its batches, put its datagrams on the network,
 * and make sure a timer event exists for its next deadline. */
void simnet_kick(simnet *net, int i) {
  sim_node *n = net->nodes[i];
  sw_dgram d[64];
  size_t k;
  if (!n->core) return;
  sw_core_flush(n->core, net->now);
  while ((k = sw_core_out_peek(n->core, d, 64)) > 0) {
    for (size_t j = 0; j < k; j++) put_on_wire(net, n, &d[j]);
    sw_core_out_consume(n->core, k, net->now);
  }
  uint64_t due = sw_core_deadline(n->core);
  if (due == UINT64_MAX) return;
  if (due < net->now) due = net->now;
  if (due < n->timer_at) { /* a later timer already queued goes stale, see run_timer */
    sim_ev ev = {.at = due, .kind = EV_TIMER, .src = i, .gen = n->gen};
    if (heap_push(net, &ev) == 0) n->timer_at = due;
  }
}

static void run_timer(simnet *net, const sim_ev *ev) {
  sim_node *n = net->nodes[ev->src];
  if (!n->core || ev->gen != n->gen || ev->at != n->timer_at) return; /* stale */
  n->timer_at = UINT64_MAX;
  if (sw_core_deadline(n->core) <= net->now) {
    if (n->stuck_at != net->now) {
      n->stuck_at = net->now;
      n->stuck_count = 0;
    }
    if (++n->stuck_count > STUCK_TIMEOUTS) {
      set_fault(net, "node %d: deadline stays at or before t=%" PRIu64 " after timeout",
                n->index, net->now);
      return;
    }
    sw_core_timeout(n->core, net->now);
  }
  simnet_kick(net, n->index);
}

static void run_dgram(simnet *net, sim_ev *ev) {
  net->inflight--;
  net->inflight_bytes -= ev->len;
  sim_node *to = node_at_kind(net, &ev->to, ev->sock);
  int down = 0;
  if (to) link_of(net, ev->src, to->index, &down);
  if (!to) {
    net->st.unroutable++;
    trace_dgram(net, ev->src, &ev->to, ev->data, ev->len, "arrived: nobody there");
  } else if (down) {
    net->st.partitioned++;
    trace_dgram(net, ev->src, &ev->to, ev->data, ev->len, "arrived: link cut");
  } else {
    net->st.delivered++;
    to->st.rx_datagrams++;
    to->st.last_rx_ms = net->now;
    trace_dgram(net, ev->src, &ev->to, ev->data, ev->len, "delivered");
    sw_core_datagram(to->core, (sw_sock_kind)ev->sock, &ev->from, ev->data, ev->len, net->now);
    simnet_kick(net, to->index);
  }
  free(ev->data);
}

/* ---- the runner ------------------------------------------------------------- */

int simnet_step(simnet *net, uint64_t limit_ms) {
  if (net->fault[0] || !net->nheap || net->heap[0].at > limit_ms) return 0;
  sim_ev ev = heap_pop(net);
  net->now = ev.at;
  net->st.steps++;
  if (ev.kind == EV_TIMER)
    run_timer(net, &ev);
  else
    run_dgram(net, &ev);
  return 1;
}

void simnet_run_until(simnet *net, uint64_t t_ms) {
  while (simnet_step(net, t_ms)) {
  }
  if (t_ms > net->now && !net->fault[0]) net->now = t_ms;
}

int simnet_run_until_cond(simnet *net, uint64_t t_max_ms, simnet_cond cond, void *ctx) {
  for (;;) {
    if (cond(net, ctx)) return 1;
    if (!simnet_step(net, t_max_ms)) break;
  }
  if (t_max_ms > net->now && !net->fault[0]) net->now = t_max_ms;
  return cond(net, ctx);
}

/* ---- lifecycle and observation ---------------------------------------------- */

simnet *simnet_new(uint64_t seed) {
  simnet *net = calloc(1, sizeof *net);
  if (!net) return NULL;
  net->seed = seed;
  net->rng.s = seed;
  net->dflt.delay_ms = 10;
  const char *t = getenv("SIMNET_TRACE");
  net->trace = t && *t && strcmp(t, "0") != 0;
  return net;
}

void simnet_free(simnet *net) {
  if (!net) return;
  for (size_t i = 0; i < net->nheap; i++) free(net->heap[i].data);
  free(net->heap);
  for (int i = 0; i < net->nnodes; i++) {
    sim_node *n = net->nodes[i];
    if (n->core) sw_core_free(n->core);
    for (size_t k = 0; k < n->nlog; k++) free(n->log[k].data);
    free(n->log);
    free(n);
  }
  free(net->nodes);
  free(net->owner);
  free(net->rules);
  free(net);
}

uint64_t simnet_seed(const simnet *net) { return net->seed; }
uint64_t simnet_now(const simnet *net) { return net->now; }
void simnet_set_hook(simnet *net, simnet_hook fn, void *ctx) {
  net->hook = fn;
  net->hook_ctx = ctx;
}
const simnet_stats *simnet_get_stats(const simnet *net) { return &net->st; }
const sim_node_stats *simnet_node_stats(const simnet *net, int i) { return &net->nodes[i]->st; }
const char *simnet_fault(const simnet *net) { return net->fault[0] ? net->fault : NULL; }

size_t simnet_log(const simnet *net, int i, const sim_record **out) {
  *out = net->nodes[i]->log;
  return net->nodes[i]->nlog;
}

size_t simnet_count(const simnet *net, int i, sw_event_type type, const uint8_t *peer,
                    uint64_t since_ms) {
  const sim_node *n = net->nodes[i];
  size_t c = 0;
  for (size_t k = 0; k < n->nlog; k++) {
    const sim_record *r = &n->log[k];
    c += r->type == type && r->t_ms >= since_ms &&
         (!peer || memcmp(r->peer, peer, SW_WIRE_ID_LEN) == 0);
  }
  return c;
}

size_t simnet_seeds(const uint64_t *dflt, size_t n, uint64_t *out) {
  const char *s = getenv("SIMNET_SEED");
  if (s && *s) {
    out[0] = strtoull(s, NULL, 0);
    return 1;
  }
  memcpy(out, dflt, n * sizeof *out);
  return n;
}

/* ---- API calls of a node's application ------------------------------------ */

int simnet_dial(simnet *net, int from, int to) {
  sim_node *n = net->nodes[from];
  if (!n->core) return SW_ECLOSED;
  int rc = sw_core_dial(n->core, &net->nodes[to]->addr, net->nodes[to]->id, net->now);
  simnet_kick(net, from);
  return rc;
}

int simnet_write(simnet *net, int from, int to, const void *data, size_t len) {
  sim_node *n = net->nodes[from];
  if (!n->core) return SW_ECLOSED;
  int rc = sw_core_write(n->core, net->nodes[to]->id, data, len, net->now);
  simnet_kick(net, from);
  return rc;
}

int simnet_broadcast(simnet *net, int from, const void *data, size_t len) {
  sim_node *n = net->nodes[from];
  if (!n->core) return SW_ECLOSED;
  int rc = sw_core_broadcast(n->core, data, len, net->now);
  simnet_kick(net, from);
  return rc;
}

int simnet_close(simnet *net, int i) {
  sim_node *n = net->nodes[i];
  if (!n->core) return SW_ECLOSED;
  int rc = sw_core_close(n->core, net->now);
  simnet_kick(net, i);
  return rc;
}
