/* The engine's door to its protocol modules (core_internal.h): hooks are called at the
 * right moments, frames and socket kinds are routed, HTTP requests go out once and
 * complete once, and discovery dials are deduplicated and rate-limited (D10, D19). */
#include <string.h>

#include "core.h"
#include "core_internal.h"
#include "dht.h"
#include "mod_echo.h"
#include "pex.h"
#include "testutil.h"
#include "wire.h"

typedef struct probe {
  int connections, disconnects, joins, timeouts, closes, frees;
  int frames, other_kind;
  uint8_t last_type;
  uint64_t deadline;
  uint8_t wire[8];
} probe;

static void p_frame(void *m, const core_path *from, const uint8_t *b, size_t len,
                    uint64_t now) {
  probe *p = m;
  (void)from;
  (void)len;
  (void)now;
  p->frames++;
  p->last_type = b[0];
}
static void p_datagram(void *m, sw_sock_kind kind, const sw_addr *from, const uint8_t *b,
                       size_t len, uint64_t now) {
  (void)kind;
  (void)from;
  (void)b;
  (void)len;
  (void)now;
  ((probe *)m)->other_kind++;
}
static void p_conn(void *m, const uint8_t w[8], const sw_addr *a, uint64_t now) {
  probe *p = m;
  (void)a;
  (void)now;
  p->connections++;
  memcpy(p->wire, w, 8);
}
static void p_disc(void *m, const uint8_t w[8], uint64_t now) {
  (void)w;
  (void)now;
  ((probe *)m)->disconnects++;
}
static void p_join(void *m, uint64_t now) {
  (void)now;
  ((probe *)m)->joins++;
}
static void p_timeout(void *m, uint64_t now) {
  (void)now;
  ((probe *)m)->timeouts++;
}
static uint64_t p_deadline(const void *m) { return ((const probe *)m)->deadline; }
static void p_close(void *m, uint64_t now) {
  (void)now;
  ((probe *)m)->closes++;
}
static void p_free(void *m) { ((probe *)m)->frees++; }

typedef struct side {
  sw_core *c;
  sw_addr addr;
  tu_rng rng;
  probe pr;
} side;

static void side_rand(void *ctx, uint8_t *b, size_t n) { tu_rng_bytes(&((side *)ctx)->rng, b, n); }

static void side_init(side *s, const char *seed, const char *addr) {
  memset(s, 0, sizeof *s);
  s->rng.s = (uint64_t)seed[1];
  s->pr.deadline = UINT64_MAX;
  sw_core_config cfg = {.seed_hex = seed, .random = side_rand, .ctx = s};
  assert_int_equal(sw_core_new(&s->c, &cfg, 0), SW_OK);
  assert_int_equal(addr_parse_hostport(&s->addr, addr), SW_OK);
  static const uint8_t frames[] = {0x77}; /* a type nobody else handles */
  core_module m = {.name = "probe", .frames = frames, .nframes = 1, .on_frame = p_frame,
                   .sockets = CORE_SOCKET(SW_SOCK_DHT) | CORE_SOCKET(SW_SOCK_LAN),
                   .on_datagram = p_datagram, .on_connection = p_conn,
                   .on_disconnect = p_disc, .on_join = p_join, .on_timeout = p_timeout,
                   .deadline = p_deadline, .on_close = p_close, .free = p_free,
                   .state = &s->pr};
  assert_int_equal(core_add_module(s->c, &m), SW_OK);
}

/* Deliver everything queued on a to b, of the given socket kind. */
static size_t move(side *a, side *b, uint64_t now) {
  sw_dgram d[64];
  size_t n, total = 0;
  sw_core_flush(a->c, now);
  while ((n = sw_core_out_peek(a->c, d, 64)) > 0) {
    for (size_t i = 0; i < n; i++)
      if (addr_equal(d[i].to, &b->addr))
        sw_core_datagram(b->c, d[i].kind, &a->addr, d[i].data, d[i].len, now);
    sw_core_out_consume(a->c, n, now);
    total += n;
  }
  return total;
}

static void handshake(side *a, side *b) {
  assert_int_equal(sw_core_dial(a->c, &b->addr, NULL, 0), SW_OK);
  for (int i = 0; i < 3; i++) {
    move(a, b, 0);
    move(b, a, 0);
  }
  assert_int_equal(sw_core_peer_count(a->c), 1);
  assert_int_equal(sw_core_peer_count(b->c), 1);
}

static void test_hooks(void **state) {
  (void)state;
  side a, b;
  side_init(&a, "a1", "10.0.0.1:1");
  side_init(&b, "b2", "10.0.0.2:2");
  handshake(&a, &b);
  assert_int_equal(a.pr.connections, 1);
  assert_int_equal(b.pr.connections, 1);
  assert_memory_equal(a.pr.wire, core_identity(b.c)->id, 8);
  assert_true(core_connected(a.c, a.pr.wire));
  /* the sealed proof verified each side's address */
  uint8_t w[8];
  core_path pb = core_path_direct(&b.addr);
  assert_true(core_verified_peer(a.c, &pb, w));
  assert_memory_equal(w, a.pr.wire, 8);
  sw_addr stranger;
  addr_parse_hostport(&stranger, "10.9.9.9:9");
  core_path ps = core_path_direct(&stranger);
  assert_false(core_verified_peer(a.c, &ps, NULL));

  /* routing: an unhandled main-socket type and other socket kinds reach the module */
  static const uint8_t f[3] = {0x77, 1, 2};
  sw_core_datagram(a.c, SW_SOCK_MAIN, &stranger, f, sizeof f, 1);
  sw_core_datagram(a.c, SW_SOCK_DHT, &stranger, f, sizeof f, 1);
  sw_core_datagram(a.c, SW_SOCK_LAN, &stranger, f, 1, 1);
  assert_int_equal(a.pr.frames, 1);
  assert_int_equal(a.pr.other_kind, 2);
  /* a type the engine handles never reaches it */
  static const uint8_t ping[2] = {0x03, 0};
  sw_core_datagram(a.c, SW_SOCK_MAIN, &b.addr, ping, 2, 1);
  assert_int_equal(a.pr.frames, 1);
  assert_int_equal(move(&a, &b, 1), 1); /* the PONG */

  /* control frames to a peer arrive as frames, coalesced like data */
  static const uint8_t ctrl[4] = {0x77, 9, 9, 9};
  assert_int_equal(core_send_ctrl(a.c, a.pr.wire, ctrl, sizeof ctrl), SW_OK);
  assert_int_equal(core_send_ctrl(a.c, a.pr.wire, ctrl, sizeof ctrl), SW_OK);
  uint8_t nobody[8] = {0};
  assert_int_equal(core_send_ctrl(a.c, nobody, ctrl, sizeof ctrl), SW_ENOTCONN);
  assert_int_equal(move(&a, &b, 2), 1); /* one BATCH datagram */
  assert_int_equal(b.pr.frames, 2);

  /* join, timeout, deadline */
  uint8_t topic[32] = {1};
  assert_null(core_topic(a.c));
  sw_core_join(a.c, topic);
  assert_int_equal(a.pr.joins, 1);
  assert_memory_equal(core_topic(a.c), topic, 32);
  a.pr.deadline = 5;
  assert_true(sw_core_deadline(a.c) <= 5);
  sw_core_timeout(a.c, 5);
  assert_true(a.pr.timeouts >= 1);

  /* disconnect after the 60 s silence, close, free */
  for (uint64_t t = 1000; t <= 62000; t += 1000) sw_core_timeout(a.c, t);
  assert_int_equal(a.pr.disconnects, 1);
  sw_core_close(a.c, 62000);
  assert_int_equal(a.pr.closes, 1);
  sw_core_free(a.c);
  sw_core_free(b.c);
  assert_int_equal(a.pr.frees, 1);
  assert_int_equal(b.pr.frees, 1);
}

typedef struct http_seen {
  int calls, status;
  size_t len;
  char body[64];
} http_seen;

static void http_cb(void *ctx, int status, const uint8_t *body, size_t len, uint64_t now) {
  http_seen *h = ctx;
  (void)now;
  h->calls++;
  h->status = status;
  h->len = len;
  if (len) memcpy(h->body, body, len < 63 ? len : 63);
}

static void test_http_requests(void **state) {
  (void)state;
  side a;
  side_init(&a, "a1", "10.0.0.1:1");
  http_seen r1 = {0}, r2 = {0};
  sw_http_request q;
  assert_int_equal(sw_core_http_take(a.c, &q), 0);
  int id1 = core_http(a.c, "POST", "http://127.0.0.1:1/announce", "application/json",
                      (const uint8_t *)"{}", 2, 8000, http_cb, &r1);
  int id2 = core_http(a.c, "GET", "http://127.0.0.1:1/peers", NULL, NULL, 0, 8000, http_cb, &r2);
  assert_true(id1 > 0 && id2 > 0 && id1 != id2);
  assert_int_equal(sw_core_http_take(a.c, &q), 1);
  assert_int_equal(q.id, (uint32_t)id1);
  assert_string_equal(q.method, "POST");
  assert_string_equal(q.url, "http://127.0.0.1:1/announce");
  assert_string_equal(q.content_type, "application/json");
  assert_int_equal(q.len, 2);
  assert_int_equal(q.timeout_ms, 8000);
  /* each request is handed out once */
  assert_int_equal(sw_core_http_take(a.c, &q), 1);
  assert_int_equal(q.id, (uint32_t)id2);
  assert_null(q.content_type);
  assert_int_equal(sw_core_http_take(a.c, &q), 0);
  /* and completes once; unknown or repeated ids are ignored */
  sw_core_http_done(a.c, (uint32_t)id2, 200, (const uint8_t *)"[]", 2, 10);
  sw_core_http_done(a.c, (uint32_t)id2, 200, (const uint8_t *)"[]", 2, 10);
  sw_core_http_done(a.c, 999999, 200, NULL, 0, 10);
  assert_int_equal(r2.calls, 1);
  assert_int_equal(r2.status, 200);
  assert_string_equal(r2.body, "[]");
  sw_core_http_done(a.c, (uint32_t)id1, -1, NULL, 0, 10);
  assert_int_equal(r1.calls, 1);
  assert_int_equal(r1.status, -1);
  /* a bounded table */
  int n = 0;
  while (core_http(a.c, "GET", "http://127.0.0.1:1/x", NULL, NULL, 0, 1, http_cb, &r1) > 0) n++;
  assert_true(n >= 8 && n <= 64);
  assert_int_equal(core_http(a.c, "GET", "http://127.0.0.1:1/x", NULL, NULL, 0, 1, http_cb, &r1),
                   SW_EFULL);
  /* requests still pending at free are released without a call (ASan checks) */
  sw_core_free(a.c);
}

static void test_meet_gate(void **state) {
  (void)state;
  side a, b;
  side_init(&a, "a1", "10.0.0.1:1");
  side_init(&b, "b2", "10.0.0.2:2");
  /* our own id is refused (D9) */
  assert_int_equal(core_meet(a.c, &b.addr, core_identity(a.c)->id, 0), SW_EINVAL);
  /* a dial sends HELLOs; meeting the same address again does not dial twice */
  assert_int_equal(core_meet(a.c, &b.addr, core_identity(b.c)->id, 0), SW_OK);
  assert_int_equal(core_meet(a.c, &b.addr, NULL, 0), SW_OK);
  assert_int_equal(sw_core_out_pending(a.c), 1);
  /* a record naming a connected peer by its full id is not dialled (D10) */
  move(&a, &b, 0);
  move(&b, &a, 0);
  assert_int_equal(sw_core_peer_count(a.c), 1);
  sw_core_out_consume(a.c, sw_core_out_pending(a.c), 0);
  sw_addr other;
  addr_parse_hostport(&other, "10.0.0.3:3");
  assert_int_equal(core_meet(a.c, &other, core_identity(b.c)->id, 0), SW_OK);
  assert_int_equal(sw_core_out_pending(a.c), 0);
  /* D19: a flood of discovery records is rate-limited */
  int ok = 0, limited = 0;
  for (int i = 0; i < 200; i++) {
    sw_addr x;
    char text[32];
    snprintf(text, sizeof text, "10.1.%d.%d:%d", i / 250, i % 250 + 1, 1000 + i);
    addr_parse_hostport(&x, text);
    int rc = core_meet(a.c, &x, NULL, 1);
    ok += rc == SW_OK;
    limited += rc == SW_EFULL;
  }
  assert_true(ok >= 20 && ok <= 60);
  assert_int_equal(ok + limited, 200);
  /* tokens come back with time */
  sw_addr later;
  addr_parse_hostport(&later, "10.2.0.1:1");
  assert_int_equal(core_meet(a.c, &later, NULL, 2001), SW_OK);
  sw_core_free(a.c);
  sw_core_free(b.c);
}

static void nop_frame(void *m, const core_path *from, const uint8_t *b, size_t len,
                      uint64_t now) {
  (void)m;
  (void)from;
  (void)b;
  (void)len;
  (void)now;
}
static void nop_datagram(void *m, sw_sock_kind kind, const sw_addr *from, const uint8_t *b,
                         size_t len, uint64_t now) {
  (void)m;
  (void)kind;
  (void)from;
  (void)b;
  (void)len;
  (void)now;
}

/* One owner per frame type and per socket kind: a second claim is refused, whole. */
static void test_registry_claims(void **state) {
  (void)state;
  side a;
  memset(&a, 0, sizeof a);
  a.rng.s = 7;
  static const core_module_def *const mods[] = {&pex_module, &dht_module, NULL};
  dht_config dc = {0};
  sw_core_config cfg = {.seed_hex = "a1", .random = side_rand, .ctx = &a, .pex = 1,
                        .dht = &dc, .modules = mods};
  assert_int_equal(sw_core_new(&a.c, &cfg, 0), SW_OK);
  assert_non_null(core_module_state(a.c, "pex"));
  assert_non_null(core_module_state(a.c, "dht"));
  assert_null(core_module_state(a.c, "lan")); /* not in the list: not attached */

  static const uint8_t pex_type[] = {WIRE_PEX};
  static const uint8_t data_type[] = {WIRE_DATA};
  static const uint8_t batch_type[] = {WIRE_BATCH};
  static const uint8_t free_and_pex[] = {0x78, WIRE_PEX};
  static const uint8_t twice[] = {0x79, 0x79};
  static const uint8_t free_type[] = {0x78};
  core_module m = {.name = "claimer", .nframes = 1, .on_frame = nop_frame};
  m.frames = pex_type; /* a module's type */
  assert_int_equal(core_add_module(a.c, &m), SW_EINVAL);
  m.frames = data_type; /* the engine's own */
  assert_int_equal(core_add_module(a.c, &m), SW_EINVAL);
  m.frames = batch_type;
  assert_int_equal(core_add_module(a.c, &m), SW_EINVAL);
  m.frames = twice; /* the same type twice in one claim */
  m.nframes = 2;
  assert_int_equal(core_add_module(a.c, &m), SW_EINVAL);
  m.frames = free_and_pex; /* refused whole: 0x78 stays free */
  assert_int_equal(core_add_module(a.c, &m), SW_EINVAL);
  assert_null(core_module_state(a.c, "claimer"));
  m.frames = free_type;
  m.nframes = 1;
  assert_int_equal(core_add_module(a.c, &m), SW_OK);
  m.name = "again";
  assert_int_equal(core_add_module(a.c, &m), SW_EINVAL);
  /* socket kinds: the DHT's is taken, the main socket is never a module's */
  core_module k = {.name = "socket", .sockets = CORE_SOCKET(SW_SOCK_DHT),
                   .on_datagram = nop_datagram};
  assert_int_equal(core_add_module(a.c, &k), SW_EINVAL);
  k.sockets = CORE_SOCKET(SW_SOCK_MAIN);
  assert_int_equal(core_add_module(a.c, &k), SW_EINVAL);
  k.sockets = CORE_SOCKET(SW_SOCK_LAN);
  assert_int_equal(core_add_module(a.c, &k), SW_OK);
  /* a claim without its handler is malformed */
  core_module h = {.name = "nohandler", .frames = pex_type, .nframes = 1};
  assert_int_equal(core_add_module(a.c, &h), SW_EINVAL);
  sw_core_free(a.c);

  /* two modules of a list that claim one type: the engine refuses to start */
  static const core_module_def *const clash[] = {&echo_module, &echo_module, NULL};
  sw_core_config bad = {.seed_hex = "a1", .random = side_rand, .ctx = &a, .modules = clash};
  sw_core *c = NULL;
  assert_int_equal(sw_core_new(&c, &bad, 0), SW_EINVAL);
  assert_null(c);
}

/* A new module with its own frame type: its file pair (mod_echo.c) and one line in the
 * list. Its frames reach it through the registry, inside BATCHes too, and only verified
 * peers are heard. */
static void test_new_module(void **state) {
  (void)state;
  static const core_module_def *const mods[] = {&echo_module, NULL};
  side a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.rng.s = 1;
  b.rng.s = 2;
  sw_core_config ca = {.seed_hex = "a1", .random = side_rand, .ctx = &a, .modules = mods};
  sw_core_config cb = {.seed_hex = "b2", .random = side_rand, .ctx = &b, .modules = mods};
  assert_int_equal(sw_core_new(&a.c, &ca, 0), SW_OK);
  assert_int_equal(sw_core_new(&b.c, &cb, 0), SW_OK);
  addr_parse_hostport(&a.addr, "10.0.0.1:1");
  addr_parse_hostport(&b.addr, "10.0.0.2:2");
  handshake(&a, &b);
  uint8_t bw[8];
  memcpy(bw, core_identity(b.c)->id, 8);
  assert_int_equal(echo_request(a.c, bw, "one"), SW_OK);
  assert_int_equal(echo_request(a.c, bw, "two"), SW_OK); /* coalesced into one BATCH */
  assert_int_equal(move(&a, &b, 1), 1);
  assert_int_equal(echo_stats_of(b.c)->requests, 2);
  move(&b, &a, 1);
  assert_int_equal(echo_stats_of(a.c)->replies, 2);
  /* from an address that proved nothing: heard by the registry, refused by the module */
  static const uint8_t forged[] = {ECHO_TYPE, ECHO_REQUEST, 'x'};
  sw_addr stranger;
  addr_parse_hostport(&stranger, "10.9.9.9:9");
  sw_core_datagram(b.c, SW_SOCK_MAIN, &stranger, forged, sizeof forged, 2);
  assert_int_equal(echo_stats_of(b.c)->refused, 1);
  assert_int_equal(echo_stats_of(b.c)->requests, 2);
  sw_core_free(a.c);
  sw_core_free(b.c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hooks),
      cmocka_unit_test(test_http_requests),
      cmocka_unit_test(test_meet_gate),
      cmocka_unit_test(test_registry_claims),
      cmocka_unit_test(test_new_module),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
