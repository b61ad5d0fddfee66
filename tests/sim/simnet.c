/* simnet: see simnet.h. Layout: the event heap, the links, addresses, NATs, the nodes
 * and what they record, endpoints, the network, the runner, then the API wrappers. */
#include "simnet.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define MAX_HOSTS 65024        /* 10.0.0.0/16 without .0 and .255 hosts */
#define STUCK_TIMEOUTS 10000   /* timeouts at one instant before we call a core stuck */

#define NAT_PORT_MIN 1024
#define NAT_DEFAULT_TIMEOUT_MS 30000u        /* Linux nf_conntrack_udp_timeout */
#define NAT_DEFAULT_TIMEOUT_BIDIR_MS 120000u /* ... _udp_timeout_stream */
#define NAT_DEFAULT_MAX_MAPPINGS 4096u
#define NAT_MAX_MAPPINGS 60000u
#define LAN_SLOT_FIRST 2   /* .1 is the NAT itself */
#define LAN_SLOT_LAST 254

enum { EV_DGRAM = 1, EV_TIMER = 2 };
enum { HOST_FREE = 0, HOST_NODE, HOST_NAT, HOST_EP }; /* what owns a public host */

/* One scheduled event: a datagram copy arriving, or a node's deadline. */
typedef struct sim_ev {
  uint64_t at, order; /* heap key: time, then insertion order (FIFO, deterministic) */
  int kind;
  int src;            /* EV_DGRAM: the sender (node, or SIMNET_EP(e)); EV_TIMER: the node */
  uint32_t gen;       /* EV_TIMER: the node's generation when it was scheduled */
  sw_addr from, to;   /* EV_DGRAM: as on the wire (from: after the sender's NAT) */
  int sock;           /* EV_DGRAM: the socket kind it travels between, -1: any (endpoint) */
  int lan;            /* EV_DGRAM: a NAT's index if it stays on that NAT's LAN, else -1 */
  int src_nat;        /* EV_DGRAM: the NAT the sender sits behind, -1: none */
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

/* A filter permission: the mapping has sent to `remote` (RFC 4787 section 5). It lives
 * as a mapping does: timeout after its last use, longer once inbound traffic used it. */
typedef struct nat_perm {
  sw_addr remote;
  uint64_t last_ms;
  int inbound;
} nat_perm;

typedef struct nat_map {
  sw_addr internal;   /* the private socket */
  sw_addr remote;     /* the destination it was made for (the key for AD / APD) */
  uint16_t ext_port;
  uint64_t last_ms;   /* last refresh */
  int inbound;        /* an inbound datagram passed: the longer timeout applies */
  nat_perm *perms;    /* only when filtering is not endpoint-independent */
  size_t nperms, capperms;
} nat_map;

typedef struct sim_nat {
  sim_nat_config cfg; /* defaults filled */
  int index;
  int host;           /* its public host */
  sw_addr pub;        /* its public IP, port 0 */
  int lan_owner[256]; /* last octet of a LAN address -> node index, -1: nobody */
  int next_slot;
  tu_rng rng;         /* random ports; drawn from the net's seed at creation */
  uint16_t next_port; /* SEQUENTIAL (and the fallback of PRESERVE) */
  nat_map *maps;
  size_t nmaps, capmaps;
  sim_nat_stats st;
} sim_nat;

typedef struct sim_endpoint {
  int index;
  int host;
  sw_addr addr;
  simnet_endpoint_fn fn;
  void *ctx;
  sim_endpoint_stats st;
} sim_endpoint;

typedef struct host_owner {
  int kind; /* HOST_* */
  int idx;  /* node, NAT or (first) endpoint index */
} host_owner;

typedef struct sim_node {
  simnet *net;
  int index;
  sw_core *core;      /* NULL once killed */
  sw_addr addr;
  sw_addr dht_addr;   /* the node's DHT socket: its host, another port */
  int nat;            /* the NAT it sits behind, -1: open */
  int host;           /* open: index into net->owner; behind a NAT: its LAN slot */
  uint16_t port_req;  /* behind a NAT: the main port asked for, 0: derived */
  char seed_hex[65];
  uint8_t id[SW_ID_LEN];
  tu_rng rng;         /* the core's own random source */
  uint32_t gen;       /* bumped when the core is replaced: stale timers are ignored */
  uint64_t timer_at;  /* time of the live timer event, UINT64_MAX: none */
  uint64_t stuck_at;
  unsigned stuck_count;
  sim_node_stats st;
  uint8_t probe_open[(SW_CORE_PROBE_MAX + 8) / 8]; /* probe sockets open, bit k */
  unsigned nprobes;          /* how many */
  uint64_t probe_check_at;   /* next time the core is asked which it still wants */
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
  host_owner *owner; /* host number -> what sits there */
  int nhosts;
  sim_nat **nats;
  int nnats;
  sim_endpoint **eps;
  int neps;
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

/* The public host number of a, or -1 when a is not a host of the simulated internet. */
static int host_of(const simnet *net, const sw_addr *a) {
  if (a->family != 4 || a->ip[0] != 10 || a->ip[1] != 0 || a->ip[3] == 0 || a->ip[3] == 255)
    return -1;
  int h = a->ip[2] * 254 + a->ip[3] - 1;
  return h < net->nhosts ? h : -1;
}

/* Probe socket k of a node (SW_SOCK_PROBE): its main address's IP, port
 * SIMNET_PROBE_PORT + k; as a socket id inside the simulator, SIM_SOCK_PROBE(k). */
#define SIM_SOCK_PROBE(k) (0x100 + (int)(k))

static int probe_is_open(const sim_node *n, unsigned k) {
  return k >= 1 && k <= SW_CORE_PROBE_MAX && (n->probe_open[k / 8] >> (k % 8) & 1);
}

/* The open probe socket of n at a, or 0. */
static unsigned probe_at(const sim_node *n, const sw_addr *a) {
  if (!n->nprobes || a->family != n->addr.family ||
      memcmp(a->ip, n->addr.ip, sizeof a->ip) != 0 || a->port <= SIMNET_PROBE_PORT ||
      a->port > SIMNET_PROBE_PORT + SW_CORE_PROBE_MAX)
    return 0;
  unsigned k = (unsigned)(a->port - SIMNET_PROBE_PORT);
  return probe_is_open(n, k) ? k : 0;
}

/* Which socket of node n is at address a: its kind (SIM_SOCK_PROBE(k) for a probe
 * socket), or -1. want: the sender's socket, -1: any. Main and probe sockets speak the
 * same protocol: a datagram from either may reach either. */
static int sock_match(const sim_node *n, const sw_addr *a, int want) {
  if (!n->core) return -1;
  int mainish = want < 0 || want == SW_SOCK_MAIN || want >= SIM_SOCK_PROBE(0);
  if (mainish && addr_equal(&n->addr, a)) return SW_SOCK_MAIN;
  if ((want == SW_SOCK_DHT || want < 0) && addr_equal(&n->dht_addr, a)) return SW_SOCK_DHT;
  unsigned k = mainish ? probe_at(n, a) : 0;
  return k ? SIM_SOCK_PROBE(k) : -1;
}

/* The open node with a socket of kind `want` (-1: either) at a; *got: which socket. */
static sim_node *node_at_kind(simnet *net, const sw_addr *a, int want, int *got) {
  int h = host_of(net, a);
  if (h < 0 || net->owner[h].kind != HOST_NODE) return NULL;
  sim_node *n = net->nodes[net->owner[h].idx];
  *got = sock_match(n, a, want);
  return *got >= 0 ? n : NULL;
}

static int on_lan(const sim_nat *x, const sw_addr *a) {
  return a->family == 4 && memcmp(a->ip, x->cfg.lan_prefix, 3) == 0;
}

/* The node on NAT x's LAN with a socket of kind `want` (-1: either) at a. */
static sim_node *lan_node(simnet *net, const sim_nat *x, const sw_addr *a, int want, int *got) {
  if (!on_lan(x, a) || x->lan_owner[a->ip[3]] < 0) return NULL;
  sim_node *n = net->nodes[x->lan_owner[a->ip[3]]];
  *got = sock_match(n, a, want);
  return *got >= 0 ? n : NULL;
}

static sim_endpoint *endpoint_at(simnet *net, const sw_addr *a) {
  int h = host_of(net, a);
  if (h < 0 || net->owner[h].kind != HOST_EP) return NULL;
  for (int e = net->owner[h].idx; e < net->neps; e++)
    if (net->eps[e]->host == h && addr_equal(&net->eps[e]->addr, a)) return net->eps[e];
  return NULL;
}

static int new_host(simnet *net) {
  if (net->nhosts == MAX_HOSTS) return -1;
  host_owner *o = realloc(net->owner, (size_t)(net->nhosts + 1) * sizeof *o);
  if (!o) return -1;
  net->owner = o;
  net->owner[net->nhosts] = (host_owner){HOST_FREE, -1};
  return net->nhosts++;
}

/* ---- NATs ------------------------------------------------------------------- */

static uint64_t nat_expiry(const sim_nat *x, uint64_t last_ms, int inbound) {
  return last_ms + (inbound ? x->cfg.timeout_bidir_ms : x->cfg.timeout_ms);
}

static int map_live(const simnet *net, const sim_nat *x, const nat_map *m) {
  return net->now < nat_expiry(x, m->last_ms, m->inbound);
}

static int perm_live(const simnet *net, const sim_nat *x, const nat_perm *p) {
  return net->now < nat_expiry(x, p->last_ms, p->inbound);
}

/* Remove the mappings whose time is up (in order: the table stays deterministic). */
static void nat_sweep(simnet *net, sim_nat *x) {
  size_t k = 0;
  for (size_t i = 0; i < x->nmaps; i++) {
    if (map_live(net, x, &x->maps[i])) {
      x->maps[k++] = x->maps[i];
    } else {
      free(x->maps[i].perms);
      x->st.mappings_expired++;
    }
  }
  x->nmaps = k;
}

static int same_ip(const sw_addr *a, const sw_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, sizeof a->ip) == 0;
}

/* Does mapping m serve datagrams from `internal` to `remote` (mapping behaviour)? */
static int map_serves(const sim_nat *x, const nat_map *m, const sw_addr *internal,
                      const sw_addr *remote) {
  if (!addr_equal(&m->internal, internal)) return 0;
  switch (x->cfg.mapping) {
    case SIM_NAT_EI: return 1;
    case SIM_NAT_AD: return same_ip(&m->remote, remote);
    default: return addr_equal(&m->remote, remote);
  }
}

/* The live mapping for (internal -> remote), without sweeping or refreshing. */
static nat_map *nat_find_out(const simnet *net, sim_nat *x, const sw_addr *internal,
                             const sw_addr *remote) {
  for (size_t i = 0; i < x->nmaps; i++)
    if (map_live(net, x, &x->maps[i]) && map_serves(x, &x->maps[i], internal, remote))
      return &x->maps[i];
  return NULL;
}

static nat_map *nat_find_port(const simnet *net, sim_nat *x, uint16_t port) {
  for (size_t i = 0; i < x->nmaps; i++)
    if (x->maps[i].ext_port == port && map_live(net, x, &x->maps[i])) return &x->maps[i];
  return NULL;
}

/* A free external port (the table is swept). 0 if none. */
static uint16_t nat_pick_port(simnet *net, sim_nat *x, uint16_t internal_port) {
  const uint32_t span = 65536 - NAT_PORT_MIN;
  switch (x->cfg.ports) {
    case SIM_NAT_PORT_PRESERVE:
      if (internal_port >= NAT_PORT_MIN && !nat_find_port(net, x, internal_port))
        return internal_port;
      x->st.port_not_preserved++;
      break;
    case SIM_NAT_PORT_RANDOM:
      for (int tries = 0; tries < 1000; tries++) {
        uint16_t p = (uint16_t)(NAT_PORT_MIN + tu_rng_next(&x->rng) % span);
        if (!nat_find_port(net, x, p)) return p;
      }
      break; /* crowded: take the next free one in order */
    default: break;
  }
  for (uint32_t i = 0; i < span; i++) {
    uint16_t p = x->next_port < NAT_PORT_MIN ? (uint16_t)NAT_PORT_MIN : x->next_port;
    x->next_port = (uint16_t)(p + 1); /* wraps to 0, then back to NAT_PORT_MIN */
    if (!nat_find_port(net, x, p)) return p;
  }
  return 0;
}

/* Note that m sent to (outbound) or admitted from (inbound) `remote`. */
static void perm_touch(simnet *net, sim_nat *x, nat_map *m, const sw_addr *remote,
                       int inbound) {
  if (x->cfg.filtering == SIM_NAT_EI) return;
  if (inbound) { /* refresh what admitted it; AD: any permission for that address */
    for (size_t i = 0; i < m->nperms; i++) {
      nat_perm *p = &m->perms[i];
      int match = x->cfg.filtering == SIM_NAT_AD ? same_ip(&p->remote, remote)
                                                 : addr_equal(&p->remote, remote);
      if (match && perm_live(net, x, p)) {
        p->last_ms = net->now;
        p->inbound = 1;
      }
    }
    return;
  }
  size_t k = 0;
  for (size_t i = 0; i < m->nperms; i++) { /* drop dead permissions, find ours */
    if (!perm_live(net, x, &m->perms[i])) continue;
    m->perms[k++] = m->perms[i];
  }
  m->nperms = k;
  for (size_t i = 0; i < m->nperms; i++) {
    if (addr_equal(&m->perms[i].remote, remote)) {
      m->perms[i].last_ms = net->now;
      return;
    }
  }
  if (m->nperms == SIMNET_NAT_MAX_PERMS) { /* replace the least recently used */
    size_t old = 0;
    for (size_t i = 1; i < m->nperms; i++)
      if (m->perms[i].last_ms < m->perms[old].last_ms) old = i;
    memmove(&m->perms[old], &m->perms[old + 1], (m->nperms - old - 1) * sizeof *m->perms);
    m->nperms--;
    x->st.perms_evicted++;
  }
  if (m->nperms == m->capperms) {
    size_t cap = m->capperms ? 2 * m->capperms : 4;
    nat_perm *pp = realloc(m->perms, cap * sizeof *pp);
    if (!pp) {
      set_fault(net, "out of memory for NAT permissions");
      return;
    }
    m->perms = pp;
    m->capperms = cap;
  }
  m->perms[m->nperms++] = (nat_perm){.remote = *remote, .last_ms = net->now};
}

/* Translate a datagram from `internal` to `remote` leaving NAT x: the mapping (found or
 * made, refreshed), or NULL when it must be dropped (no room). */
static nat_map *nat_outbound(simnet *net, sim_nat *x, const sw_addr *internal,
                             const sw_addr *remote) {
  nat_sweep(net, x);
  nat_map *m = nat_find_out(net, x, internal, remote);
  if (!m) {
    uint16_t port = 0;
    if (x->nmaps < x->cfg.max_mappings) port = nat_pick_port(net, x, internal->port);
    if (!port) {
      x->st.full++;
      return NULL;
    }
    if (x->nmaps == x->capmaps) {
      size_t cap = x->capmaps ? 2 * x->capmaps : 16;
      nat_map *mm = realloc(x->maps, cap * sizeof *mm);
      if (!mm) {
        set_fault(net, "out of memory for NAT mappings");
        return NULL;
      }
      x->maps = mm;
      x->capmaps = cap;
    }
    m = &x->maps[x->nmaps++];
    memset(m, 0, sizeof *m);
    m->internal = *internal;
    m->remote = *remote;
    m->ext_port = port;
    x->st.mappings_created++;
  }
  m->last_ms = net->now;
  perm_touch(net, x, m, remote, 0);
  x->st.out++;
  return m;
}

/* A datagram from `from` reaches NAT x's public port: the mapping that takes it in, or
 * NULL (dropped; *why says which rule). */
static nat_map *nat_inbound(simnet *net, sim_nat *x, const sw_addr *from, uint16_t port,
                            const char **why) {
  nat_sweep(net, x);
  nat_map *m = nat_find_port(net, x, port);
  if (!m) {
    x->st.no_mapping++;
    *why = "NAT: no mapping";
    return NULL;
  }
  int pass = x->cfg.filtering == SIM_NAT_EI;
  for (size_t i = 0; !pass && i < m->nperms; i++) {
    const nat_perm *p = &m->perms[i];
    pass = perm_live(net, x, p) && (x->cfg.filtering == SIM_NAT_AD
                                        ? same_ip(&p->remote, from)
                                        : addr_equal(&p->remote, from));
  }
  if (!pass) {
    x->st.filtered++;
    *why = "NAT: filtered";
    return NULL;
  }
  x->st.in++;
  if (!x->cfg.no_inbound_refresh) {
    m->last_ms = net->now;
    m->inbound = 1;
    perm_touch(net, x, m, from, 1);
  }
  return m;
}

void simnet_nat_preset(sim_nat_config *cfg, sim_nat_type type) {
  memset(cfg, 0, sizeof *cfg);
  cfg->hairpin = 1;
  switch (type) {
    case SIM_NAT_RESTRICTED_CONE: cfg->filtering = SIM_NAT_AD; break;
    case SIM_NAT_PORT_RESTRICTED: cfg->filtering = SIM_NAT_APD; break;
    case SIM_NAT_SYMMETRIC:
    case SIM_NAT_SYMMETRIC_SEQ:
      cfg->mapping = cfg->filtering = SIM_NAT_APD;
      cfg->ports = type == SIM_NAT_SYMMETRIC ? SIM_NAT_PORT_RANDOM : SIM_NAT_PORT_SEQUENTIAL;
      break;
    default: break; /* open, full cone: EI, EI, preserve */
  }
}

const char *simnet_nat_type_name(sim_nat_type type) {
  switch (type) {
    case SIM_NAT_OPEN: return "open";
    case SIM_NAT_FULL_CONE: return "full-cone";
    case SIM_NAT_RESTRICTED_CONE: return "restricted";
    case SIM_NAT_PORT_RESTRICTED: return "port-restr";
    case SIM_NAT_SYMMETRIC: return "symmetric";
    case SIM_NAT_SYMMETRIC_SEQ: return "symm-seq";
    default: return "?";
  }
}

int simnet_add_nat(simnet *net, const sim_nat_config *cfg) {
  if (net->nnats == SIMNET_MAX_NATS) return -1;
  if (cfg->lan_prefix[0] == 10 && cfg->lan_prefix[1] == 0) return -1; /* the internet */
  if ((unsigned)cfg->mapping > SIM_NAT_APD || (unsigned)cfg->filtering > SIM_NAT_APD ||
      (unsigned)cfg->ports > SIM_NAT_PORT_RANDOM)
    return -1;
  sim_nat *x = calloc(1, sizeof *x);
  sim_nat **arr = realloc(net->nats, (size_t)(net->nnats + 1) * sizeof *arr);
  if (arr) net->nats = arr;
  int h = x && arr ? new_host(net) : -1;
  if (h < 0) {
    free(x);
    set_fault(net, "out of memory or addresses for a NAT");
    return -1;
  }
  x->cfg = *cfg;
  if (!x->cfg.timeout_ms) x->cfg.timeout_ms = NAT_DEFAULT_TIMEOUT_MS;
  if (!x->cfg.timeout_bidir_ms) x->cfg.timeout_bidir_ms = NAT_DEFAULT_TIMEOUT_BIDIR_MS;
  if (!x->cfg.max_mappings) x->cfg.max_mappings = NAT_DEFAULT_MAX_MAPPINGS;
  if (x->cfg.max_mappings > NAT_MAX_MAPPINGS) x->cfg.max_mappings = NAT_MAX_MAPPINGS;
  x->index = net->nnats;
  if (!x->cfg.lan_prefix[0] && !x->cfg.lan_prefix[1] && !x->cfg.lan_prefix[2]) {
    x->cfg.lan_prefix[0] = 172;
    x->cfg.lan_prefix[1] = (uint8_t)(16 + x->index / 256);
    x->cfg.lan_prefix[2] = (uint8_t)(x->index % 256);
  }
  for (int i = 0; i < 256; i++) x->lan_owner[i] = -1;
  x->next_slot = LAN_SLOT_FIRST;
  x->host = h;
  host_addr(h, &x->pub);
  x->pub.port = 0;
  x->rng.s = tu_rng_next(&net->rng);
  x->next_port = (uint16_t)(NAT_PORT_MIN + tu_rng_next(&x->rng) % 50000);
  net->owner[h] = (host_owner){HOST_NAT, x->index};
  net->nats[net->nnats++] = x;
  return x->index;
}

int simnet_add_nat_type(simnet *net, sim_nat_type type) {
  sim_nat_config cfg;
  if (type == SIM_NAT_OPEN || (unsigned)type >= SIM_NAT_TYPE_COUNT) return -1;
  simnet_nat_preset(&cfg, type);
  return simnet_add_nat(net, &cfg);
}

int simnet_nat_count(const simnet *net) { return net->nnats; }
const sim_nat_config *simnet_nat_config(const simnet *net, int nat) {
  return &net->nats[nat]->cfg;
}
const sw_addr *simnet_nat_public(const simnet *net, int nat) { return &net->nats[nat]->pub; }
const sim_nat_stats *simnet_nat_stats(const simnet *net, int nat) {
  return &net->nats[nat]->st;
}

size_t simnet_nat_mappings(simnet *net, int nat) {
  nat_sweep(net, net->nats[nat]);
  return net->nats[nat]->nmaps;
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

/* Node n's addresses at LAN slot `slot` of NAT x. */
static void lan_addrs(const sim_nat *x, int slot, uint16_t port_req, sim_node *n) {
  uint8_t ip[4] = {x->cfg.lan_prefix[0], x->cfg.lan_prefix[1], x->cfg.lan_prefix[2],
                   (uint8_t)slot};
  uint16_t port = port_req ? port_req : (uint16_t)(40000 + slot);
  uint16_t dht = port_req ? (uint16_t)(port_req == 65535 ? 65534 : port_req + 1)
                          : (uint16_t)(20000 + slot);
  addr_from_raw(&n->addr, ip, 4, port);
  addr_from_raw(&n->dht_addr, ip, 4, dht);
}

/* Create node n's core at host (open) or LAN slot (behind a NAT) h, -1: a fresh one,
 * with a fresh random stream. */
static int node_boot(simnet *net, sim_node *n, int h) {
  sim_nat *x = n->nat >= 0 ? net->nats[n->nat] : NULL;
  if (h < 0 && !x) h = new_host(net);
  if (h < 0 && x) h = x->next_slot <= LAN_SLOT_LAST ? x->next_slot++ : -1;
  if (h < 0) {
    set_fault(net, "out of simulated addresses");
    return -1;
  }
  n->rng.s = tu_rng_next(&net->rng);
  /* probe_sockets: the simulator opens them as the runtime would (put_on_wire). */
  sw_core_config cfg = {.seed_hex = n->seed_hex, .random = node_random,
                        .on_event = on_event, .ctx = n, .probe_sockets = 1};
  if (x) {
    lan_addrs(x, h, n->port_req, n);
  } else {
    host_addr(h, &n->addr);
    host_dht_addr(h, &n->dht_addr);
  }
  if (net->config) net->config(net->config_ctx, net, n->index, &cfg);
  if (sw_core_new(&n->core, &cfg, net->now) != SW_OK) {
    set_fault(net, "sw_core_new failed for node %d", n->index);
    return -1;
  }
  sw_core_identity(n->core, NULL, n->id);
  n->host = h;
  if (x)
    x->lan_owner[h] = n->index;
  else
    net->owner[h] = (host_owner){HOST_NODE, n->index};
  n->gen++;
  n->timer_at = UINT64_MAX;
  simnet_kick(net, n->index);
  return 0;
}

static void node_halt(simnet *net, sim_node *n) {
  if (!n->core) return;
  sw_core_free(n->core);
  n->core = NULL;
  memset(n->probe_open, 0, sizeof n->probe_open); /* the process's sockets go with it */
  n->nprobes = 0;
  n->probe_check_at = 0;
  if (n->nat >= 0)
    net->nats[n->nat]->lan_owner[n->host] = -1;
  else
    net->owner[n->host] = (host_owner){HOST_FREE, -1};
  n->gen++; /* its pending timer is now stale */
  n->timer_at = UINT64_MAX;
}

int simnet_add_node(simnet *net, const char *seed_hex) {
  return simnet_add_node_behind(net, seed_hex, -1, 0);
}

int simnet_add_node_behind(simnet *net, const char *seed_hex, int nat, uint16_t port) {
  if (net->nnodes == SIMNET_MAX_NODES || nat >= net->nnats || nat < -1) return -1;
  if (nat >= 0 && net->nats[nat]->next_slot > LAN_SLOT_LAST) return -1;
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
  n->nat = nat;
  n->port_req = nat >= 0 ? port : 0;
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
int simnet_node_nat(const simnet *net, int i) { return net->nodes[i]->nat; }
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

/* ---- endpoints ------------------------------------------------------------- */

int simnet_add_endpoint(simnet *net, int same_host_as, uint16_t port, simnet_endpoint_fn fn,
                        void *ctx) {
  if (net->neps == SIMNET_MAX_ENDPOINTS || same_host_as >= net->neps) return -1;
  if (!port) port = SIMNET_ENDPOINT_PORT;
  sim_endpoint *e = calloc(1, sizeof *e);
  sim_endpoint **arr = realloc(net->eps, (size_t)(net->neps + 1) * sizeof *arr);
  if (arr) net->eps = arr;
  int h = !e || !arr ? -1 : same_host_as >= 0 ? net->eps[same_host_as]->host : new_host(net);
  if (h < 0) {
    free(e);
    set_fault(net, "out of memory or addresses for an endpoint");
    return -1;
  }
  host_addr(h, &e->addr);
  e->addr.port = port;
  if (endpoint_at(net, &e->addr)) { /* that socket exists already */
    free(e);
    return -1;
  }
  e->index = net->neps;
  e->host = h;
  e->fn = fn;
  e->ctx = ctx;
  if (same_host_as < 0) net->owner[h] = (host_owner){HOST_EP, e->index};
  net->eps[net->neps++] = e;
  return e->index;
}

const sw_addr *simnet_endpoint_addr(const simnet *net, int ep) { return &net->eps[ep]->addr; }
const sim_endpoint_stats *simnet_endpoint_stats(const simnet *net, int ep) {
  return &net->eps[ep]->st;
}

/* ---- the network ------------------------------------------------------------ */

static const char *who(int src, char *buf, size_t len) {
  if (src >= SIMNET_MAX_NODES)
    snprintf(buf, len, "e%d", src - SIMNET_MAX_NODES);
  else
    snprintf(buf, len, "n%d", src);
  return buf;
}

static void trace_dgram(simnet *net, int src, const sw_addr *to, const uint8_t *d, size_t len,
                        const char *what) {
  char a[SW_ADDRSTRLEN], w[16];
  if (!net->trace) return;
  addr_format(to, a, sizeof a);
  fprintf(stderr, "[%8" PRIu64 "] %s -> %s %s %zu B: %s\n", net->now, who(src, w, sizeof w),
          a, frame_name(d, len), len, what);
}

/* Put a datagram on the network. src: the sender (node index or SIMNET_EP(e)); src_nat:
 * the NAT it sits behind or -1; from: its socket's own address; kind: its socket kind
 * (-1 for an endpoint: any socket of the receiver). Behind a NAT, a datagram to the
 * sender's own LAN stays there, any other leaves translated; the receiving NAT filters
 * on arrival (run_dgram). */
static void send_dgram(simnet *net, int src, int src_nat, const sw_addr *from, int kind,
                       const sw_addr *to, const uint8_t *data, size_t len) {
  sim_nat *x = src_nat >= 0 ? net->nats[src_nat] : NULL;
  sim_ev ev = {.kind = EV_DGRAM, .src = src, .from = *from, .to = *to, .sock = kind,
               .lan = -1, .src_nat = src_nat, .len = len};
  int dst = -1, got, h, routable = 0;
  sim_node *n;
  net->st.sent++;
  /* main and DHT sockets exist here; LAN (multicast) traffic goes nowhere yet */
  if (kind == SW_SOCK_LAN || (kind > SW_SOCK_LAN && kind < SIM_SOCK_PROBE(1))) {
  } else if (x && on_lan(x, to)) {
    ev.lan = src_nat;
    n = lan_node(net, x, to, kind, &got);
    dst = n ? n->index : -1;
    routable = n != NULL;
  } else if ((h = host_of(net, to)) >= 0) {
    switch (net->owner[h].kind) {
      case HOST_NODE:
        n = node_at_kind(net, to, kind, &got);
        dst = n ? n->index : -1;
        routable = n != NULL;
        break;
      case HOST_EP: {
        sim_endpoint *e = endpoint_at(net, to);
        dst = e ? SIMNET_EP(e->index) : -1;
        routable = e != NULL;
        break;
      }
      case HOST_NAT: { /* the NAT decides on arrival; this picks the link to use */
        sim_nat *y = net->nats[net->owner[h].idx];
        nat_map *m = nat_find_port(net, y, to->port);
        n = m ? lan_node(net, y, &m->internal, kind, &got) : NULL;
        dst = n ? n->index : -1;
        routable = 1;
        break;
      }
      default: break;
    }
  }
  if (!routable) {
    net->st.unroutable++;
    trace_dgram(net, src, to, data, len, "unroutable");
    return;
  }
  if (x && ev.lan < 0) { /* leaves the LAN through the sender's NAT */
    nat_map *m = nat_outbound(net, x, from, to);
    if (!m) {
      net->st.nat_dropped++;
      trace_dgram(net, src, to, data, len, "NAT: no room for a mapping");
      return;
    }
    ev.from = x->pub;
    ev.from.port = m->ext_port;
  }
  int down = 0;
  const sim_link *l = dst >= 0 ? link_of(net, src, dst, &down) : &net->dflt;
  if (down) {
    net->st.partitioned++;
    trace_dgram(net, src, to, data, len, "cut");
    return;
  }
  if (chance(net, l->loss)) {
    net->st.lost++;
    trace_dgram(net, src, to, data, len, "lost");
    return;
  }
  int copies = 1 + chance(net, l->dup);
  net->st.duplicated += (uint64_t)(copies - 1);
  for (int c = 0; c < copies; c++) {
    if (net->inflight == SIMNET_MAX_INFLIGHT ||
        net->inflight_bytes + len > SIMNET_MAX_INFLIGHT_BYTES) {
      net->st.overflow++;
      continue;
    }
    ev.at = net->now + l->delay_ms + rng_upto(net, l->jitter_ms);
    ev.data = malloc(len ? len : 1);
    if (!ev.data) {
      set_fault(net, "out of memory for a datagram");
      return;
    }
    if (len) memcpy(ev.data, data, len);
    if (heap_push(net, &ev)) {
      free(ev.data);
      return;
    }
    net->inflight++;
    net->inflight_bytes += len;
    trace_dgram(net, src, to, data, len, c ? "sent (duplicate)" : "sent");
  }
}

static void put_on_wire(simnet *net, sim_node *from, const sw_dgram *d) {
  from->st.tx_datagrams++;
  if (d->kind == SW_SOCK_PROBE) { /* as the runtime: opened the first time it is used */
    unsigned k = d->probe;
    if (k < 1 || k > SW_CORE_PROBE_MAX) return;
    if (!probe_is_open(from, k)) {
      from->probe_open[k / 8] |= (uint8_t)(1u << (k % 8));
      from->nprobes++;
      from->st.probes_opened++;
      if (!from->probe_check_at) from->probe_check_at = net->now + 1000;
    }
    sw_addr a = from->addr;
    a.port = (uint16_t)(SIMNET_PROBE_PORT + k);
    send_dgram(net, from->index, from->nat, &a, SIM_SOCK_PROBE(k), d->to, d->data, d->len);
    return;
  }
  send_dgram(net, from->index, from->nat, d->kind == SW_SOCK_DHT ? &from->dht_addr : &from->addr,
             (int)d->kind, d->to, d->data, d->len);
}

int simnet_send_raw(simnet *net, int i, sw_sock_kind kind, const sw_addr *to,
                    const void *data, size_t len) {
  sim_node *n = net->nodes[i];
  if (!n->core) return SW_ECLOSED;
  if (kind != SW_SOCK_MAIN && kind != SW_SOCK_DHT) return SW_EINVAL;
  n->st.tx_datagrams++;
  send_dgram(net, i, n->nat, kind == SW_SOCK_DHT ? &n->dht_addr : &n->addr, (int)kind, to,
             data, len);
  return SW_OK;
}

int simnet_endpoint_send(simnet *net, int ep, const sw_addr *to, const void *data,
                         size_t len) {
  const sim_endpoint *e = net->eps[ep];
  send_dgram(net, SIMNET_EP(ep), -1, &e->addr, -1, to, data, len);
  return SW_OK;
}

int simnet_nat_mapped(simnet *net, int i, sw_sock_kind kind, const sw_addr *remote,
                      sw_addr *out) {
  const sim_node *n = net->nodes[i];
  const sw_addr *own = kind == SW_SOCK_DHT ? &n->dht_addr : &n->addr;
  if (n->nat < 0 || on_lan(net->nats[n->nat], remote)) {
    *out = *own;
    return 1;
  }
  sim_nat *x = net->nats[n->nat];
  const nat_map *m = nat_find_out(net, x, own, remote);
  if (!m) return 0;
  *out = x->pub;
  out->port = m->ext_port;
  return 1;
}

/* After any step of node i: close its batches, put its datagrams on the network,
 * and make sure a timer event exists for its next deadline. */
void simnet_kick(simnet *net, int i) {
  sim_node *n = net->nodes[i];
  sw_dgram d[64];
  size_t k;
  if (!n->core) return;
  sw_core_flush(n->core, net->now);
  /* As the runtime: probe sockets the core no longer wants close, checked every second. */
  if (n->nprobes && net->now >= n->probe_check_at) {
    for (unsigned p = 1; p <= SW_CORE_PROBE_MAX; p++)
      if (probe_is_open(n, p) && !sw_core_probe_wanted(n->core, p)) {
        n->probe_open[p / 8] &= (uint8_t)~(1u << (p % 8));
        n->nprobes--;
      }
    n->probe_check_at = n->nprobes ? net->now + 1000 : 0;
  }
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
  sim_node *to = NULL;
  sim_endpoint *ep = NULL;
  const char *why = NULL;
  int got = -1, h;
  if (ev->lan >= 0) {
    to = lan_node(net, net->nats[ev->lan], &ev->to, ev->sock, &got);
  } else if ((h = host_of(net, &ev->to)) >= 0) {
    switch (net->owner[h].kind) {
      case HOST_NODE: to = node_at_kind(net, &ev->to, ev->sock, &got); break;
      case HOST_EP: ep = endpoint_at(net, &ev->to); break;
      case HOST_NAT: {
        sim_nat *x = net->nats[net->owner[h].idx];
        if (ev->src_nat == x->index && !x->cfg.hairpin) {
          x->st.hairpin_dropped++;
          why = "NAT: no hairpinning";
          break;
        }
        if (ev->src_nat == x->index) x->st.hairpinned++;
        nat_map *m = nat_inbound(net, x, &ev->from, ev->to.port, &why);
        if (m) to = lan_node(net, x, &m->internal, ev->sock, &got);
        break;
      }
      default: break;
    }
  }
  int dst = to ? to->index : ep ? SIMNET_EP(ep->index) : -1, down = 0;
  if (dst >= 0) link_of(net, ev->src, dst, &down);
  if (why) {
    net->st.nat_dropped++;
    trace_dgram(net, ev->src, &ev->to, ev->data, ev->len, why);
  } else if (dst < 0) {
    net->st.unroutable++;
    trace_dgram(net, ev->src, &ev->to, ev->data, ev->len, "arrived: nobody there");
  } else if (down) {
    net->st.partitioned++;
    trace_dgram(net, ev->src, &ev->to, ev->data, ev->len, "arrived: link cut");
  } else if (ep) {
    net->st.delivered++;
    ep->st.rx++;
    ep->st.last_rx_ms = net->now;
    ep->st.last_from = ev->from;
    trace_dgram(net, ev->src, &ev->to, ev->data, ev->len, "delivered");
    if (ep->fn) ep->fn(ep->ctx, net, ep->index, &ev->from, ev->data, ev->len);
  } else {
    net->st.delivered++;
    to->st.rx_datagrams++;
    to->st.last_rx_ms = net->now;
    to->st.last_rx_from = ev->from;
    to->st.last_rx_kind = got;
    trace_dgram(net, ev->src, &ev->to, ev->data, ev->len, "delivered");
    if (got >= SIM_SOCK_PROBE(1))
      sw_core_probe_datagram(to->core, (unsigned)(got - SIM_SOCK_PROBE(0)), &ev->from, ev->data,
                             ev->len, net->now);
    else
      sw_core_datagram(to->core, (sw_sock_kind)got, &ev->from, ev->data, ev->len, net->now);
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
  for (int i = 0; i < net->nnats; i++) {
    for (size_t k = 0; k < net->nats[i]->nmaps; k++) free(net->nats[i]->maps[k].perms);
    free(net->nats[i]->maps);
    free(net->nats[i]);
  }
  free(net->nats);
  for (int i = 0; i < net->neps; i++) free(net->eps[i]);
  free(net->eps);
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

int simnet_dial_addr(simnet *net, int from, int to, const sw_addr *addr) {
  sim_node *n = net->nodes[from];
  if (!n->core) return SW_ECLOSED;
  int rc = sw_core_dial(n->core, addr, net->nodes[to]->id, net->now);
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

unsigned simnet_probe_sockets(const simnet *net, int i) { return net->nodes[i]->nprobes; }
