/* The NAT module: see nat.h. */
#include "nat.h"

#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "natclass.h"
#include "relay.h"
#include "stun.h"

/* What a request in flight is for. */
enum {
  T_MAP,       /* test I: a server's primary address (every server, in a round) */
  T_CHANGE_IP, /* CHANGE-REQUEST change IP and port, to A */
  T_CHANGE_PT, /* CHANGE-REQUEST change port, to A */
  T_MAP_B,     /* test II: A's alternate IP at A's port */
  T_MAP_B2,    /* test III: A's alternate IP and port */
  T_REFRESH,   /* A again, in the steady state */
  T_KINDS
};

enum { P_IDLE, P_MAP, P_FILTER, P_MAP2, P_STEADY, P_WAIT };

#define TXN_MAX (NAT_SERVERS_MAX + 4)

typedef struct txn {
  int used, done, answered;
  int kind, server;
  uint8_t tid[STUN_TID_LEN];
  sw_addr to;
  unsigned change;
  uint64_t next_at, give_up_at, rto;
  sw_addr mapped, other, from;
  int has_other;
  int pad; /* the request carries PADDING (stun.h STUN_OPT_PAD) */
} txn;

typedef struct nat {
  sw_core *c;
  sw_addr servers[NAT_SERVERS_MAX];
  int nservers;
  int phase, closing;
  txn t[TXN_MAX];
  txn ra;               /* A's answer, kept for the classification */
  nat_probe pa, pb, pb2;
  nat_tri change_ip, change_pt;
  uint64_t next_round, retry_ms;
  sw_addr published;    /* the last address reported */
  nat_type type;        /* the last type reported */
  int reported;
  nat_stats st;
} nat;

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* ---- requests ----------------------------------------------------------------- */

static void txn_send(nat *n, txn *t) {
  uint8_t buf[64];
  int len = stun_encode_request(buf, sizeof buf, t->tid, t->change | (t->pad ? STUN_OPT_PAD : 0));
  if (len <= 0) return;
  core_send(n->c, SW_SOCK_MAIN, &t->to, buf, (size_t)len);
  n->st.requests++;
}

static txn *txn_start(nat *n, int kind, int server, const sw_addr *to, unsigned change,
                      uint64_t now) {
  for (int i = 0; i < TXN_MAX; i++) {
    txn *t = &n->t[i];
    if (t->used) continue;
    memset(t, 0, sizeof *t);
    t->used = 1;
    t->kind = kind;
    t->server = server;
    t->to = *to;
    t->change = change;
    /* A server answers at most 3x the request (ours does, stunsrv.h): a bare IPv6 request
     * buys XOR-MAPPED-ADDRESS only, so a mapping request to an IPv6 server is padded to pay
     * for OTHER-ADDRESS. (A bare IPv4 request buys it already.) */
    t->pad = kind == T_MAP && to->family == 6;
    core_rand(n->c, t->tid, sizeof t->tid);
    t->rto = NAT_RTO_MS;
    t->next_at = now + t->rto;
    t->give_up_at = now + NAT_GIVE_UP_MS;
    txn_send(n, t);
    return t;
  }
  return NULL;
}

static void txns_clear(nat *n) { memset(n->t, 0, sizeof n->t); }

/* Whether every txn of the given kinds is done. */
static int all_done(const nat *n) {
  for (int i = 0; i < TXN_MAX; i++)
    if (n->t[i].used && !n->t[i].done) return 0;
  return 1;
}

/* ---- rounds ------------------------------------------------------------------- */

static void round_start(nat *n, uint64_t now) {
  txns_clear(n);
  memset(&n->pa, 0, sizeof n->pa);
  memset(&n->pb, 0, sizeof n->pb);
  memset(&n->pb2, 0, sizeof n->pb2);
  n->change_ip = n->change_pt = NAT_UNTESTED;
  n->phase = P_MAP;
  n->st.rounds++;
  for (int i = 0; i < n->nservers; i++) txn_start(n, T_MAP, i, &n->servers[i], 0, now);
}

static void report(nat *n, const sw_addr *mapped, nat_type type, uint64_t now) {
  core_learn_public_addr(n->c, mapped, PUBADDR_SRC_STUN, now);
  if (n->reported && addr_equal(&n->published, mapped) && n->type == type) return;
  if (n->reported) n->st.changes++;
  n->reported = 1;
  n->published = *mapped;
  n->type = type;
  /* PROTOCOL.md 15.3: a node anyone can reach serves as a relay for those who cannot. */
  if (type == NAT_TYPE_OPEN || type == NAT_TYPE_FULL_CONE) relay_serve(n->c, 1);
  char text[SW_ADDRSTRLEN];
  addr_format(mapped, text, sizeof text);
  sw_event ev = {.type = SW_EV_NAT, .addr = text, .nat_type = natclass_type_name(type)};
  core_emit(n->c, &ev);
}

static void classify(nat *n, uint64_t now) {
  const sw_addr *lan = core_lan_addr(n->c);
  natclass_input in = {.locals = lan, .nlocals = lan->family ? 1 : 0, .a = n->pa, .b = n->pb,
                       .b2 = n->pb2, .change_ip_port = n->change_ip,
                       .change_port = n->change_pt};
  natclass_result r = natclass_classify(&in);
  report(n, &n->pa.mapped, r.type, now);
  txns_clear(n);
  n->phase = P_STEADY;
  n->retry_ms = NAT_RETRY_MIN_MS;
  n->next_round = now + NAT_REFRESH_MS;
}

/* The mapping round is over: pick A, then the next probes. */
static void after_map(nat *n, uint64_t now) {
  const txn *a = NULL, *b = NULL;
  for (int i = 0; i < TXN_MAX && !a; i++) /* A: the first in list order, alternate first */
    if (n->t[i].answered && n->t[i].has_other) a = &n->t[i];
  for (int i = 0; i < TXN_MAX && !a; i++)
    if (n->t[i].answered) a = &n->t[i];
  if (!a) {
    n->st.failed_rounds++;
    txns_clear(n);
    n->phase = P_WAIT;
    n->next_round = now + n->retry_ms;
    n->retry_ms = min64(n->retry_ms * 2, NAT_RETRY_MAX_MS);
    return;
  }
  n->ra = *a;
  n->pa = (nat_probe){.answered = 1, .server = a->to, .mapped = a->mapped};
  /* The address is published at once; the label follows the remaining probes. */
  core_learn_public_addr(n->c, &a->mapped, PUBADDR_SRC_STUN, now);
  if (!a->has_other) {
    for (int i = 0; i < TXN_MAX && !b; i++) {
      const txn *x = &n->t[i];
      if (x->answered && x != a && x->to.family == a->to.family &&
          memcmp(x->to.ip, a->to.ip, 16) != 0)
        b = x;
    }
    if (b) n->pb = (nat_probe){.answered = 1, .server = b->to, .mapped = b->mapped};
    classify(n, now);
    return;
  }
  sw_addr to = a->to;
  txns_clear(n);
  n->phase = P_FILTER;
  txn_start(n, T_CHANGE_IP, 0, &to, STUN_CHANGE_IP | STUN_CHANGE_PORT, now);
  txn_start(n, T_CHANGE_PT, 0, &to, STUN_CHANGE_PORT, now);
}

static void after_filter(nat *n, uint64_t now) {
  for (int i = 0; i < TXN_MAX; i++) {
    const txn *t = &n->t[i];
    if (!t->used) continue;
    /* No answer: the filter stopped it, or it was lost three times: "no" either way. */
    nat_tri r = t->answered ? NAT_YES : NAT_NO;
    if (t->kind == T_CHANGE_IP) n->change_ip = r;
    if (t->kind == T_CHANGE_PT) n->change_pt = r;
  }
  txns_clear(n);
  n->phase = P_MAP2;
  sw_addr b = n->ra.other, b2 = n->ra.other;
  b.port = n->ra.to.port;
  txn_start(n, T_MAP_B, 0, &b, 0, now);
  if (b2.port != b.port) txn_start(n, T_MAP_B2, 0, &b2, 0, now);
}

static void after_map2(nat *n, uint64_t now) {
  for (int i = 0; i < TXN_MAX; i++) {
    const txn *t = &n->t[i];
    if (!t->used || !t->answered) continue;
    nat_probe p = {.answered = 1, .server = t->to, .mapped = t->mapped};
    if (t->kind == T_MAP_B) n->pb = p;
    if (t->kind == T_MAP_B2) n->pb2 = p;
  }
  classify(n, now);
}

static void after_refresh(nat *n, uint64_t now) {
  const txn *t = &n->t[0];
  int moved = t->used && t->answered && !addr_equal(&t->mapped, &n->published);
  txns_clear(n);
  n->phase = P_STEADY;
  n->next_round = now + NAT_REFRESH_MS;
  /* A new mapping (the NAT re-mapped us, or we moved): learn it all again. */
  if (moved) round_start(n, now);
}

static void advance(nat *n, uint64_t now) {
  if (!all_done(n)) return;
  switch (n->phase) {
    case P_MAP: after_map(n, now); break;
    case P_FILTER: after_filter(n, now); break;
    case P_MAP2: after_map2(n, now); break;
    case P_STEADY:
      if (n->t[0].used) after_refresh(n, now); /* a refresh went out and is over */
      break;
    default: break;
  }
}

/* ---- answers ------------------------------------------------------------------- */

static int nat_claim(void *m, const sw_addr *from, const uint8_t *buf, size_t len,
                     uint64_t now) {
  nat *n = m;
  stun_msg msg;
  if (len < STUN_HDR_LEN || !stun_is_message(buf, len)) return 0;
  txn *t = NULL;
  for (int i = 0; i < TXN_MAX && !t; i++)
    if (n->t[i].used && !n->t[i].done && memcmp(n->t[i].tid, buf + 8, STUN_TID_LEN) == 0)
      t = &n->t[i];
  if (!t) return 0; /* not an answer we wait for: perhaps a frame after all */
  if (stun_decode(buf, len, &msg) != STUN_OK || !stun_response_for(&msg, t->tid)) {
    n->st.ignored++;
    return 1; /* our transaction id: never a frame, but not a usable answer */
  }
  /* From where the request went, or for a change, from where the change says. */
  int from_ok = t->change ? natclass_change_honoured(&t->to, from, t->change)
                          : addr_equal(&t->to, from);
  const sw_addr *mapped = stun_mapped(&msg);
  if (from_ok && t->pad && msg.cls == STUN_CLASS_ERROR && msg.error_code == 420) {
    /* a server that does not know PADDING: ask again without it, under a new id */
    n->st.ignored++;
    t->pad = 0;
    core_rand(n->c, t->tid, sizeof t->tid);
    txn_send(n, t);
    return 1;
  }
  if (!from_ok || msg.cls != STUN_CLASS_SUCCESS || !mapped) {
    n->st.ignored++;
    /* an error answer ends the transaction: the server will not do better */
    if (from_ok && msg.cls == STUN_CLASS_ERROR) t->done = 1;
    advance(n, now);
    return 1;
  }
  n->st.answers++;
  t->done = t->answered = 1;
  t->mapped = *mapped;
  t->from = *from;
  if (msg.present & STUN_HAS_OTHER) {
    t->has_other = 1;
    t->other = msg.other;
  }
  advance(n, now);
  return 1;
}

/* ---- hooks ----------------------------------------------------------------------- */

static void nat_timeout(void *m, uint64_t now) {
  nat *n = m;
  if (n->closing || !n->nservers) return;
  for (int i = 0; i < TXN_MAX; i++) {
    txn *t = &n->t[i];
    if (!t->used || t->done) continue;
    if (now >= t->give_up_at) {
      t->done = 1;
    } else if (now >= t->next_at) {
      txn_send(n, t);
      t->rto *= 2;
      t->next_at = now + t->rto;
    }
  }
  if ((n->phase == P_WAIT || n->phase == P_IDLE) && now >= n->next_round) {
    round_start(n, now);
  } else if (n->phase == P_STEADY && all_done(n) && now >= n->next_round) {
    txns_clear(n);
    txn_start(n, T_REFRESH, 0, &n->ra.to, 0, now);
    n->next_round = UINT64_MAX;
  }
  advance(n, now);
}

static uint64_t nat_deadline(const void *m) {
  const nat *n = m;
  uint64_t t = UINT64_MAX;
  if (n->closing || !n->nservers) return t;
  for (int i = 0; i < TXN_MAX; i++)
    if (n->t[i].used && !n->t[i].done) t = min64(t, min64(n->t[i].next_at, n->t[i].give_up_at));
  if (n->phase == P_WAIT || n->phase == P_IDLE || (n->phase == P_STEADY && all_done(n)))
    t = min64(t, n->next_round);
  return t;
}

static void nat_close(void *m, uint64_t now) {
  nat *n = m;
  (void)now;
  n->closing = 1;
  txns_clear(n);
}

static size_t nat_memory(const void *m) {
  (void)m;
  return sizeof(nat);
}

static int nat_attach(sw_core *c, const sw_core_config *cfg, uint64_t now) {
  (void)now;
  if (!cfg->nat) return SW_OK;
  nat *n = calloc(1, sizeof *n);
  if (!n) return SW_ENOMEM;
  n->c = c;
  n->phase = P_IDLE;
  n->next_round = UINT64_MAX;
  n->retry_ms = NAT_RETRY_MIN_MS;
  core_module m = {.name = "nat", .claim = nat_claim, .on_timeout = nat_timeout,
                   .deadline = nat_deadline, .on_close = nat_close, .free = free,
                   .memory = nat_memory, .state = n};
  int rc = core_add_module(c, &m);
  if (rc) free(n);
  return rc;
}

const core_module_def nat_module = {"nat", nat_attach};

int sw_core_add_stun_server(sw_core *c, const sw_addr *addr, uint64_t now) {
  nat *n = core_module_state(c, "nat");
  if (!n || !addr || (addr->family != 4 && addr->family != 6) || !addr->port) return SW_EINVAL;
  for (int i = 0; i < n->nservers; i++)
    if (addr_equal(&n->servers[i], addr)) return SW_OK;
  if (n->nservers == NAT_SERVERS_MAX) return SW_EFULL;
  n->servers[n->nservers++] = *addr;
  /* The first server starts probing; later ones join the next round, a moment later,
   * so that a list resolved name by name is probed together. */
  if (n->phase == P_IDLE && !n->closing) n->next_round = min64(n->next_round, now + 50);
  return SW_OK;
}

int sw_core_nat(const sw_core *c, sw_addr *public_addr, const char **type) {
  const nat *n = core_module_state((sw_core *)c, "nat");
  if (!n || !n->reported) return 0;
  if (public_addr) *public_addr = n->published;
  if (type) *type = natclass_type_name(n->type);
  return 1;
}

int nat_own_type(sw_core *c) {
  const nat *n = core_module_state(c, "nat");
  return n && n->reported ? (int)n->type : (int)NAT_TYPE_UNKNOWN;
}

int nat_get(sw_core *c, sw_addr *public_addr, const char **type, nat_stats *st) {
  nat *n = core_module_state(c, "nat");
  if (!n) return 0;
  if (public_addr) *public_addr = n->published;
  if (type) *type = natclass_type_name(n->reported ? n->type : NAT_TYPE_UNKNOWN);
  if (st) *st = n->st;
  return 1;
}
