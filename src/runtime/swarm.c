/* The libuv runtime behind the public API: it owns the socket, the clock, DNS and
 * randomness, and drives the sans-I/O core. One loop turn:
 *   poll readable -> feed every ready datagram to the core (recvmmsg)
 *   prepare       -> close open batches, send the queue (sendmmsg), arm the timer
 * so what the application writes during a turn leaves coalesced, once. */
#include <openssl/rand.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <string.h>
#include <uv.h>

#include "core.h"
#include "dht.h"
#include "http.h"
#include "mcast.h"
#include "setowire.h"
#include "sync.h"
#include "udp.h"

#define RX_TURN_LIMIT 16      /* recvmmsg calls per readable event: bounds one turn */
#define CLOSE_DRAIN_MS 2000   /* PROTOCOL.md 19 DRAIN_TIMEOUT: most we wait to send */
#define MAX_RESOLVES 64       /* outstanding name lookups */

typedef struct resolve_req {
  uv_getaddrinfo_t req;
  sw_swarm *swarm;
  uint16_t port;
  int active;
  int purpose; /* what the address is for: RES_* */
} resolve_req;

/* What a resolved name is for. */
enum { RES_DIAL, RES_BOOTSTRAP /* DHT bootstrap node and 15 s fallback */, RES_SEED };

enum { ST_OPEN, ST_DRAINING, ST_CLOSING, ST_CLOSED };

struct sw_swarm {
  uv_loop_t *loop;
  uv_loop_t own_loop;
  int owns_loop;
  sw_core *core;
  int fd, v6;
  uint16_t port;
  uv_poll_t poll;
  uv_timer_t timer;
  uv_prepare_t prepare;
  int poll_events;
  int handles_open;
  int state;
  int announced;
  uint64_t drain_deadline;
  udp_rx rx;
  sw_options opts;
  resolve_req resolves[MAX_RESOLVES];
  http_rt *http;        /* the HTTP client (http.h), or NULL when HTTP discovery is off */
  int lan_fd;           /* the LAN multicast socket (mcast.h), or -1 */
  int dht_fd, dht_v6;   /* the DHT socket (PROTOCOL.md 14.6), or -1 */
  uint16_t dht_port;
  uv_poll_t dht_poll;
  uv_poll_t lan_poll;
};

static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }

static void random_bytes(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  /* A failing CSPRNG is not something to limp on with: refuse to produce keys. */
  if (RAND_bytes(buf, (int)len) != 1) abort();
}

static void core_event(void *ctx, const sw_event *ev) {
  sw_swarm *s = ctx;
  if (s->opts.on_event) s->opts.on_event(s, ev, s->opts.user);
}

static void update_poll(sw_swarm *s);
static int resolve_async(sw_swarm *s, const char *host, uint16_t port, int purpose);

/* Datagrams for a socket we do not have are given up (counted as sent). */
static int send_run(sw_swarm *s, const sw_dgram *d, size_t n) {
  switch (d[0].kind) {
    case SW_SOCK_LAN: return s->lan_fd >= 0 ? udp_send_batch(s->lan_fd, 0, d, n) : (int)n;
    case SW_SOCK_MAIN: return udp_send_batch(s->fd, s->v6, d, n);
    case SW_SOCK_DHT: return s->dht_fd >= 0 ? udp_send_batch(s->dht_fd, s->dht_v6, d, n) : (int)n;
    default: return (int)n;
  }
}

/* Send what the core has queued; returns 1 when everything went. */
static int drain_out(sw_swarm *s) {
  sw_dgram d[UDP_BATCH];
  for (;;) {
    size_t n = sw_core_out_peek(s->core, d, UDP_BATCH);
    if (!n) return 1;
    /* One system call per run of datagrams for the same socket. */
    size_t run = 1;
    while (run < n && d[run].kind == d[0].kind) run++;
    int sent = send_run(s, d, run);
    if (sent < 0) sent = (int)run; /* socket broken: give the datagrams up, not the loop */
    sw_core_out_consume(s->core, (size_t)sent, now_ms());
    if ((size_t)sent < run) return 0;
  }
}

static void handle_closed(uv_handle_t *h) {
  sw_swarm *s = h->data;
  if (--s->handles_open) return;
  udp_close(s->fd);
  s->fd = -1;
  if (s->lan_fd >= 0) close(s->lan_fd);
  s->lan_fd = -1;
  udp_close(s->dht_fd);
  s->dht_fd = -1;
  s->state = ST_CLOSED;
  sw_event ev = {.type = SW_EV_CLOSE};
  if (s->opts.on_event) s->opts.on_event(s, &ev, s->opts.user);
}

/* The HTTP client's handles count as one of ours (handle_closed reads only ->data). */
static void http_closed(void *arg) { handle_closed((uv_handle_t *)&((sw_swarm *)arg)->prepare); }

static void finish_close(sw_swarm *s) {
  if (s->state == ST_CLOSING || s->state == ST_CLOSED) return;
  s->state = ST_CLOSING;
  for (int i = 0; i < MAX_RESOLVES; i++)
    if (s->resolves[i].active) uv_cancel((uv_req_t *)&s->resolves[i].req);
  uv_close((uv_handle_t *)&s->poll, handle_closed);
  uv_close((uv_handle_t *)&s->timer, handle_closed);
  uv_close((uv_handle_t *)&s->prepare, handle_closed);
  if (s->http) {
    /* every outstanding request is reported (failed) before the core goes */
    http_rt_cancel_all(s->http);
    s->handles_open++;
    http_rt_close(s->http, http_closed, s);
    s->http = NULL;
  }
  if (s->lan_fd >= 0) uv_close((uv_handle_t *)&s->lan_poll, handle_closed);
  if (s->dht_fd >= 0) uv_close((uv_handle_t *)&s->dht_poll, handle_closed);
}

static void arm_timer(sw_swarm *s);

/* ---- store / fetch: the runtime calls the storage backend for the core -------- */

typedef struct storage_call {
  sw_swarm *swarm;
  uint32_t id;
} storage_call;

static void storage_done(void *req, int err, const uint8_t *value, size_t len) {
  storage_call *sc = req;
  sw_swarm *s = sc->swarm;
  uint32_t id = sc->id;
  free(sc);
  if (s->core) sync_storage_done(s->core, id, err, value, len, now_ms());
}

/* Hand the core's backend requests to the backend; its completions may come at once. */
static void run_storage(sw_swarm *s) {
  sync_storage_req r;
  const sw_storage *st = s->opts.storage;
  while (st && sync_storage_take(s->core, &r)) {
    storage_call *sc = malloc(sizeof *sc);
    if (!sc) {
      sync_storage_done(s->core, r.id, SW_ENOMEM, NULL, 0, now_ms());
      continue;
    }
    sc->swarm = s;
    sc->id = r.id;
    if (r.op == SYNC_OP_GET) st->get(st->self, r.key, storage_done, sc);
    else st->set(st->self, r.key, r.value, r.len, storage_done, sc);
  }
}

typedef struct fetch_call {
  sw_swarm *swarm;
  sw_fetch_cb cb;
  void *user;
} fetch_call;

static void fetch_done(void *user, int err, const char *key, const uint8_t *value, size_t len) {
  fetch_call fc = *(fetch_call *)user;
  free(user);
  fc.cb(fc.swarm, err, key, value, len, fc.user);
}

int sw_swarm_store(sw_swarm *s, const char *key, const void *value, size_t len) {
  if (!s) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  return sync_store(s->core, key, value, len, now_ms());
}

int sw_swarm_fetch(sw_swarm *s, const char *key, uint32_t timeout_ms, sw_fetch_cb cb,
                   void *user) {
  if (!s || !cb) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  fetch_call *fc = malloc(sizeof *fc);
  if (!fc) return SW_ENOMEM;
  *fc = (fetch_call){s, cb, user};
  int rc = sync_fetch(s->core, key, timeout_ms, fetch_done, fc, now_ms());
  if (rc) free(fc);
  return rc;
}

/* Every loop turn, before it blocks: flush, send, re-arm. */
static void on_prepare(uv_prepare_t *h) {
  sw_swarm *s = h->data;
  uint64_t now = now_ms();
  if (!s->announced) {
    s->announced = 1;
    sw_event ev = {.type = SW_EV_LISTENING, .port = s->port};
    core_event(s, &ev);
  }
  if (s->state >= ST_CLOSING) return;
  run_storage(s);
  http_rt_pump(s->http); /* requests the core queued during this turn */
  sw_core_flush(s->core, now);
  int all = drain_out(s);
  if (s->state == ST_DRAINING && (all || now >= s->drain_deadline)) {
    finish_close(s);
    return;
  }
  update_poll(s);
  arm_timer(s);
}

static void on_timer(uv_timer_t *h) {
  sw_swarm *s = h->data;
  uint64_t now = now_ms();
  if (s->state == ST_DRAINING && now >= s->drain_deadline) {
    finish_close(s);
    return;
  }
  sw_core_timeout(s->core, now);
}

static void arm_timer(sw_swarm *s) {
  uint64_t now = now_ms(), t = sw_core_deadline(s->core);
  if (s->state == ST_DRAINING && s->drain_deadline < t) t = s->drain_deadline;
  if (t == UINT64_MAX) {
    uv_timer_stop(&s->timer);
    return;
  }
  uv_timer_start(&s->timer, on_timer, t > now ? t - now : 0, 0);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  sw_swarm *s = h->data;
  if (status < 0 || s->state >= ST_CLOSING) return;
  if (events & UV_READABLE) {
    for (int turn = 0; turn < RX_TURN_LIMIT; turn++) {
      int n = udp_recv_batch(s->fd, &s->rx);
      if (n <= 0) break;
      uint64_t now = now_ms();
      for (int i = 0; i < n; i++)
        if (s->rx.len[i])
          sw_core_datagram(s->core, SW_SOCK_MAIN, &s->rx.from[i], udp_rx_data(&s->rx, i),
                           s->rx.len[i], now);
      if (n < UDP_BATCH) break;
      /* Send between receive bursts so replies and floods do not pile up. */
      sw_core_flush(s->core, now);
      drain_out(s);
    }
  }
  if (events & UV_WRITABLE) drain_out(s);
}

/* Beacons from the LAN socket go to the core's LAN module (lan.c). */
static void on_lan_poll(uv_poll_t *h, int status, int events) {
  sw_swarm *s = h->data;
  if (status < 0 || s->state >= ST_CLOSING || !(events & UV_READABLE)) return;
  for (int turn = 0; turn < RX_TURN_LIMIT; turn++) {
    int n = udp_recv_batch(s->lan_fd, &s->rx);
    if (n <= 0) break;
    uint64_t now = now_ms();
    for (int i = 0; i < n; i++)
      sw_core_datagram(s->core, SW_SOCK_LAN, &s->rx.from[i], udp_rx_data(&s->rx, i),
                       s->rx.len[i], now);
    if (n < UDP_BATCH) break;
  }
}

/* DHT messages go to the core's DHT module (dht.c). */
static void on_dht_poll(uv_poll_t *h, int status, int events) {
  sw_swarm *s = h->data;
  if (status < 0 || s->state >= ST_CLOSING || !(events & UV_READABLE)) return;
  for (int turn = 0; turn < RX_TURN_LIMIT; turn++) {
    int n = udp_recv_batch(s->dht_fd, &s->rx);
    if (n <= 0) break;
    uint64_t now = now_ms();
    for (int i = 0; i < n; i++)
      sw_core_datagram(s->core, SW_SOCK_DHT, &s->rx.from[i], udp_rx_data(&s->rx, i),
                       s->rx.len[i], now);
    if (n < UDP_BATCH) break;
  }
}

static void update_poll(sw_swarm *s) {
  int want = UV_READABLE | (sw_core_out_pending(s->core) ? UV_WRITABLE : 0);
  if (want != s->poll_events) {
    s->poll_events = want;
    uv_poll_start(&s->poll, want, on_poll);
  }
}

/* ---- public API ------------------------------------------------------------ */

void sw_options_init(sw_options *o) {
  memset(o, 0, sizeof *o);
  o->version = SW_OPTIONS_VERSION;
  o->max_peers = 100;
  o->send_buffer_bytes = 1u << 20;
  o->lan = o->dht = o->stun = o->http = 1;
  o->pex = 1;
  o->sync = 1;
  o->store_cache_max = 10000; /* PROTOCOL.md 19 SYNC_CACHE_MAX */
  o->store_cache_bytes = 64u << 20;
}

int sw_swarm_new(sw_swarm **out, const sw_options *opts, void *uv_loop) {
  int rc;
  if (!out || !opts || opts->version != SW_OPTIONS_VERSION) return SW_EINVAL;
  *out = NULL;
  sw_swarm *s = calloc(1, sizeof *s);
  if (!s) return SW_ENOMEM;
  s->opts = *opts;
  s->fd = -1;
  s->lan_fd = -1;
  s->dht_fd = -1;
  /* DHT bootstrap nodes: numeric ones now, names once resolved (after the loop is set). */
  sw_addr boot[16];
  dht_config dc = {.bootstrap = boot};
  if (opts->nbootstrap > 64) {
    free(s);
    return SW_EINVAL;
  }
  for (size_t i = 0; i < opts->nbootstrap; i++) {
    char host[256];
    uint16_t bport;
    sw_addr a;
    if (!opts->bootstrap[i] ||
        addr_split_hostport(opts->bootstrap[i], host, sizeof host, &bport)) {
      free(s);
      return SW_EINVAL;
    }
    if (!bport) bport = 49737; /* PROTOCOL.md 14.7: port 0 means 49737 */
    if (addr_parse_ip(&a, host, bport) == SW_OK && dc.nbootstrap < 16) boot[dc.nbootstrap++] = a;
  }
  /* The main socket first: its port goes into LAN beacons. */
  if ((rc = udp_rx_init(&s->rx)) != SW_OK) goto fail;
  if ((rc = udp_open(opts->bind, opts->port, &s->fd, &s->port, &s->v6)) != SW_OK) goto fail;
  char lan_ip[46];
  mcast_local_ip(opts->lan_addr, opts->bind, lan_ip, sizeof lan_ip);
  /* No multicast socket (no multicast route, no interface): LAN discovery is off. */
  if (opts->lan && mcast_open(lan_ip, &s->lan_fd) != SW_OK) s->lan_fd = -1;
  /* The DHT's own socket (14.6); a fixed port for a bootstrap node (setowire-node). */
  if (opts->dht &&
      (rc = udp_open(opts->bind, opts->dht_port, &s->dht_fd, &s->dht_port, &s->dht_v6)) != SW_OK)
    goto fail;
  dc.relay = opts->relay;
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  sw_core_config cfg = {.seed_hex = opts->seed_hex,
                        .max_peers = opts->max_peers,
                        .legacy_frag = opts->legacy_frag,
                        .out_buffer_bytes = opts->send_buffer_bytes,
                        .sync = opts->sync,
                        .store_cache_max = opts->store_cache_max,
                        .store_cache_bytes = opts->store_cache_bytes,
                        .storage = opts->storage != NULL,
                        .lan = s->lan_fd >= 0,
                        .lan_ip = lan_ip,
                        .port = s->port,
                        .pex = opts->pex,
                        .peer_cache = 1,
                        .unix_offset_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000 -
                                          (int64_t)now_ms(),
                        .load_peers = opts->load_peers,
                        .save_peers = opts->save_peers,
                        .peers_ctx = opts->peers_ctx,
                        .http = opts->http,
                        .bootstrap_http = opts->bootstrap_http,
                        .n_bootstrap_http = opts->n_bootstrap_http,
                        .piping = opts->piping,
                        .n_piping = opts->n_piping,
                        .no_default_servers = opts->no_default_servers,
                        .dht = opts->dht ? &dc : NULL,
                        .random = random_bytes,
                        .on_event = core_event,
                        .ctx = s};
  if ((rc = sw_core_new(&s->core, &cfg, now_ms())) != SW_OK) goto fail;
  s->opts.seed_hex = NULL; /* the caller's text is not kept */
  s->opts.bind = NULL;
  s->opts.lan_addr = NULL;
  s->opts.bootstrap_http = s->opts.piping = NULL; /* copied by the core */
  s->opts.bootstrap = NULL;
  s->opts.seeds = NULL;
  if (uv_loop) {
    s->loop = uv_loop;
  } else {
    if (uv_loop_init(&s->own_loop)) {
      rc = SW_EIO;
      goto fail;
    }
    s->owns_loop = 1;
    s->loop = &s->own_loop;
  }
  if (opts->http && (rc = http_rt_new(&s->http, s->loop, s->core)) != SW_OK) goto fail;
  if (uv_poll_init(s->loop, &s->poll, s->fd) || uv_timer_init(s->loop, &s->timer) ||
      uv_prepare_init(s->loop, &s->prepare)) {
    rc = SW_EIO;
    if (s->http) { /* its timer is the only handle initialised: let the loop release it */
      http_rt_close(s->http, NULL, NULL);
      uv_run(s->loop, UV_RUN_NOWAIT);
    }
    goto fail;
  }
  s->poll.data = s->timer.data = s->prepare.data = s;
  s->handles_open = 3;
  if (s->lan_fd >= 0) {
    if (uv_poll_init(s->loop, &s->lan_poll, s->lan_fd)) {
      close(s->lan_fd); /* LAN off; the rest works */
      s->lan_fd = -1;
    } else {
      s->lan_poll.data = s;
      s->handles_open++;
      uv_poll_start(&s->lan_poll, UV_READABLE, on_lan_poll);
    }
  }
  if (s->dht_fd >= 0) {
    if (uv_poll_init(s->loop, &s->dht_poll, s->dht_fd)) {
      udp_close(s->dht_fd); /* DHT off; the rest works */
      s->dht_fd = -1;
    } else {
      s->dht_poll.data = s;
      s->handles_open++;
      uv_poll_start(&s->dht_poll, UV_READABLE, on_dht_poll);
    }
  }
  /* Bootstrap nodes also serve the 15 s HELLO fallback (14.3 step 7); seeds are dialled
   * at join (14.7). Numeric addresses now, names once resolved. */
  for (size_t i = 0; i < opts->nbootstrap; i++) {
    char host[256];
    uint16_t bport;
    sw_addr a;
    if (addr_split_hostport(opts->bootstrap[i], host, sizeof host, &bport)) continue;
    if (addr_parse_ip(&a, host, bport ? bport : 49737) == SW_OK)
      sw_core_add_fallback(s->core, &a);
    else
      resolve_async(s, host, bport ? bport : 49737, RES_BOOTSTRAP);
  }
  for (size_t i = 0; i < opts->nseeds; i++) {
    char host[256];
    uint16_t sport;
    sw_addr a;
    if (addr_split_hostport(opts->seeds[i], host, sizeof host, &sport)) continue;
    if (addr_parse_ip(&a, host, sport ? sport : 49737) == SW_OK)
      sw_core_add_seed(s->core, &a, now_ms());
    else
      resolve_async(s, host, sport ? sport : 49737, RES_SEED);
  }
  uv_prepare_start(&s->prepare, on_prepare);
  update_poll(s);
  arm_timer(s);
  *out = s;
  return SW_OK;
fail:
  /* Handles are only initialised once everything before succeeded; none to close. */
  if (s->owns_loop) uv_loop_close(&s->own_loop);
  udp_close(s->fd);
  if (s->lan_fd >= 0) close(s->lan_fd);
  udp_close(s->dht_fd);
  udp_rx_free(&s->rx);
  sw_core_free(s->core);
  free(s);
  return rc;
}

int sw_swarm_run(sw_swarm *s) {
  if (!s || !s->owns_loop) return SW_EINVAL;
  while (s->state != ST_CLOSED && uv_run(s->loop, UV_RUN_DEFAULT)) {
  }
  return SW_OK;
}

int sw_swarm_close(sw_swarm *s) {
  if (!s) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_OK;
  uint64_t now = now_ms();
  run_storage(s); /* values stored just before closing still reach the backend */
  sw_core_close(s->core, now);
  s->state = ST_DRAINING;
  s->drain_deadline = now + CLOSE_DRAIN_MS;
  arm_timer(s);
  return SW_OK;
}

void sw_swarm_free(sw_swarm *s) {
  if (!s) return;
  if (s->state != ST_CLOSED && s->handles_open) {
    /* Never ran to SW_EV_CLOSE: close the handles now and let the loop finish them. */
    finish_close(s);
    uv_run(s->loop, UV_RUN_NOWAIT);
  }
  if (s->owns_loop) uv_loop_close(&s->own_loop);
  udp_close(s->fd);
  udp_rx_free(&s->rx);
  sw_core_free(s->core);
  free(s);
}

void sw_swarm_id(const sw_swarm *s, uint8_t out[SW_ID_LEN]) { sw_core_identity(s->core, NULL, out); }

uint16_t sw_swarm_port(const sw_swarm *s) { return s->port; }

uint16_t sw_swarm_dht_port(const sw_swarm *s) { return s && s->dht_fd >= 0 ? s->dht_port : 0; }

int sw_swarm_join(sw_swarm *s, const uint8_t topic[SW_TOPIC_LEN]) {
  if (!s) return SW_EINVAL;
  return sw_core_join(s->core, topic);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  resolve_req *r = (resolve_req *)req;
  sw_swarm *s = r->swarm;
  r->active = 0;
  if (status == 0 && s->state == ST_OPEN) {
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
      sw_addr a;
      if (ai->ai_family == AF_INET)
        addr_from_raw(&a, (const uint8_t *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4,
                      r->port);
      else if (ai->ai_family == AF_INET6 && s->v6)
        addr_from_raw(&a, ((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr.s6_addr, 16,
                      r->port);
      else
        continue;
      if (r->purpose == RES_BOOTSTRAP) {
        if (s->dht_fd >= 0) sw_core_dht_bootstrap(s->core, &a, now_ms());
        sw_core_add_fallback(s->core, &a);
      } else if (r->purpose == RES_SEED) {
        sw_core_add_seed(s->core, &a, now_ms());
      } else {
        sw_core_dial(s->core, &a, NULL, now_ms());
      }
    }
  }
  uv_freeaddrinfo(res);
}

int sw_swarm_connect(sw_swarm *s, const char *host_port) {
  char host[256];
  uint16_t port;
  sw_addr a;
  if (!s || !host_port) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  if (addr_split_hostport(host_port, host, sizeof host, &port)) return SW_EINVAL;
  if (!port) port = 49737; /* PROTOCOL.md 19: default port for "host:0" */
  if (addr_parse_ip(&a, host, port) == SW_OK) {
    if (a.family == 6 && !s->v6) return SW_EINVAL;
    return sw_core_dial(s->core, &a, NULL, now_ms());
  }
  return resolve_async(s, host, port, RES_DIAL);
}

static int resolve_async(sw_swarm *s, const char *host, uint16_t port, int purpose) {
  for (int i = 0; i < MAX_RESOLVES; i++) {
    resolve_req *r = &s->resolves[i];
    if (r->active) continue;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_family = (purpose == RES_BOOTSTRAP ? s->dht_v6 : s->v6) ? AF_UNSPEC : AF_INET;
    r->swarm = s;
    r->port = port;
    r->purpose = purpose;
    if (uv_getaddrinfo(s->loop, &r->req, on_resolved, host, NULL, &hints)) return SW_EINVAL;
    r->active = 1;
    return SW_OK;
  }
  return SW_EFULL;
}

int sw_swarm_broadcast(sw_swarm *s, const void *data, size_t len) {
  if (!s) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  return sw_core_broadcast(s->core, data, len, now_ms());
}

int sw_swarm_write(sw_swarm *s, const uint8_t peer[SW_WIRE_ID_LEN], const void *data,
                   size_t len) {
  if (!s) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  return sw_core_write(s->core, peer, data, len, now_ms());
}

size_t sw_swarm_peer_count(const sw_swarm *s) { return s ? sw_core_peer_count(s->core) : 0; }

size_t sw_swarm_peers(const sw_swarm *s, sw_peer_info *out, size_t max) {
  if (!s) return 0;
  size_t total = sw_core_peer_count(s->core);
  size_t want = out && max < total ? max : out ? total : 0;
  if (!want) return total;
  sw_core_peer_info *pi = calloc(want, sizeof *pi);
  if (!pi) return 0; /* documented: nothing filled when memory is short */
  size_t n = sw_core_peers(s->core, pi, want);
  for (size_t i = 0; i < n && i < want; i++) {
    memcpy(out[i].id, pi[i].wire_id, SW_WIRE_ID_LEN);
    if (addr_format(&pi[i].addr, out[i].addr, sizeof out[i].addr) < 0) out[i].addr[0] = 0;
    out[i].rtt_ms = pi[i].rtt_ms;
    out[i].in_mesh = pi[i].in_mesh;
  }
  free(pi);
  return total;
}
