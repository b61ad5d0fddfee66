/* The libuv runtime behind the public API: it owns the sockets, the clock, DNS and
 * randomness, and drives the sans-I/O core (core.h, the only engine header it uses).
 *
 * Sockets: one table of up to three (main, DHT, LAN multicast), indexed by the core's
 * sw_sock_kind, with one receive pump and one send path for all of them. Probe sockets
 * (SW_SOCK_PROBE, for a birthday punch) are opened on the main socket's address with an
 * ephemeral port the first time the core sends on one, read by the same pump, and
 * closed once a second when the core no longer wants them (sw_core_probe_wanted).
 *
 * When output leaves: "service" closes the open batches, sends the queue (sendmmsg) and
 * re-arms the timer. It runs in the prepare phase (before the loop polls), in the check
 * phase right after the poll phase (so what poll callbacks of any socket, ours or the
 * application's, DNS and HTTP completions queued leaves in the same loop turn), after
 * our own timer, and from an idle handle that every API call and completion arms, so
 * the loop never blocks in poll with output pending whatever callback queued it. What
 * the application writes within one phase still leaves coalesced, once. */
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "core.h"
#include "http.h"
#include "mcast.h"
#include "setowire.h"
#include "sync_value.h"
#include "udp.h"

#define RX_TURN_LIMIT 16      /* recvmmsg calls per readable event: bounds one turn */
#define CLOSE_DRAIN_MS 2000   /* PROTOCOL.md 19 DRAIN_TIMEOUT: most we wait to send */
/* Before the GOAWAYs, most we wait for extended sessions to have every reliable byte
 * acknowledged (a GOAWAY makes the peer drop the session, and what it had not yet
 * received with it). */
#define CLOSE_LINGER_MS 5000
#define MAX_RESOLVES 64       /* outstanding name lookups */
#define NSOCKS 3              /* SW_SOCK_MAIN, SW_SOCK_DHT, SW_SOCK_LAN */
#define PROBE_CHECK_MS 1000   /* how often the open probe sockets are checked */
#define MAX_SIGNALS 8         /* sw_swarm_close_on_signal: signals watched */

typedef struct resolve_req {
  uv_getaddrinfo_t req;
  sw_swarm *swarm;
  uint16_t port;
  int active;
  int purpose; /* what the address is for: RES_* */
} resolve_req;

/* What a resolved name is for. */
enum { RES_DIAL, RES_BOOTSTRAP /* DHT bootstrap node and 15 s fallback */, RES_SEED, RES_STUN };

/* A DHT bootstrap node or a seed from the options, kept until discovery starts. */
typedef struct later_peer {
  char *host; /* as given: a numeric address or a name (resolved then) */
  uint16_t port;
  int seed;   /* 1: a seed (PROTOCOL.md 14.7), 0: a DHT bootstrap node */
} later_peer;

enum { ST_OPEN, ST_DRAINING, ST_CLOSING, ST_CLOSED };

/* One socket of the swarm. */
typedef struct rt_sock {
  sw_swarm *swarm;
  sw_sock_kind kind;
  int fd, v6;      /* fd -1: this socket is off */
  uint16_t port;
  uv_poll_t poll;
  int polling;     /* poll initialised (closed with the swarm) */
  int events;      /* what poll watches */
  udp_state udp;   /* offload state and kernel drop count (udp.h) */
  unsigned probe;  /* SW_SOCK_PROBE: its index */
} rt_sock;

struct sw_swarm {
  uv_loop_t *loop;
  uv_loop_t own_loop;
  int owns_loop;
  sw_core *core;
  rt_sock socks[NSOCKS]; /* by sw_sock_kind */
  rt_sock *probes[SW_CORE_PROBE_MAX + 1]; /* probe sockets open, by index (0 unused) */
  unsigned nprobes;
  uint64_t probe_check_at;
  char bind[64];         /* the main socket's bind address ("" any), for probe sockets */
  int blocked;           /* kind whose socket buffer was full at the last send, or -1 */
  uv_timer_t timer;
  uv_prepare_t prepare;
  uv_check_t check;
  uv_idle_t idle;
  int dirty;             /* output may have been queued since the last service */
  int handles_open;
  int state;
  int announced;
  uint64_t drain_deadline;
  int lingering;            /* sw_swarm_close waits for extended sessions' acks */
  uint64_t linger_deadline;
  udp_rx rx;
  sw_options opts;
  resolve_req resolves[MAX_RESOLVES];
  http_rt *http;         /* the HTTP client (http.h), or NULL when HTTP discovery is off */
  /* External loop (sw_swarm_fd/_timeout/_process): libuv hands a new or changed socket
   * watch to the kernel only when the loop next polls, so until then the backend fd
   * would not wake for it. rearm: one of ours changed since the last process;
   * http_watch_seen: the HTTP client's count of changes then. */
  int rearm;
  unsigned long http_watch_seen;
  int in_run;            /* inside sw_swarm_run or sw_swarm_process: no re-entry */
  uv_signal_t sigs[MAX_SIGNALS]; /* sw_swarm_close_on_signal */
  int nsigs;
  /* Discovery starts at the first sw_swarm_join, not at creation: until then the LAN
   * socket stays closed, these names stay unresolved and these nodes uncontacted. */
  int discovering;
  later_peer *later;     /* DHT bootstrap nodes and seeds from the options */
  size_t nlater;
  int stun_defaults;     /* 1: the references' STUN servers, from the first join on */
  char lan_ip[46];       /* the LAN socket's interface (config.h lan_ip) */
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

static rt_sock *sock_of(sw_swarm *s, sw_sock_kind kind) {
  return (unsigned)kind < NSOCKS && s->socks[kind].fd >= 0 ? &s->socks[kind] : NULL;
}

static int resolve_async(sw_swarm *s, const char *host, uint16_t port, int purpose);
static void service(sw_swarm *s);
static void on_idle(uv_idle_t *h);

/* Output may have been queued outside our own callbacks: make sure it leaves before
 * the loop blocks (the idle handle keeps poll from waiting; check or idle sends). */
static void kick(sw_swarm *s) {
  if (s->state >= ST_CLOSING) return;
  s->dirty = 1;
  uv_idle_start(&s->idle, on_idle);
}

/* ---- sending ----------------------------------------------------------------- */

static rt_sock *probe_open(sw_swarm *s, unsigned probe);

/* Datagrams for a socket we do not have are given up (counted as sent). A probe socket
 * is best effort: what it cannot take now is given up too, never waited for. */
static int send_run(sw_swarm *s, const sw_dgram *d, size_t n) {
  if (d[0].kind == SW_SOCK_PROBE) {
    rt_sock *k = probe_open(s, d[0].probe);
    int sent = k ? udp_send_batch(k->fd, k->v6, &k->udp, d, n) : (int)n;
    return sent < (int)n ? (int)n : sent;
  }
  rt_sock *k = sock_of(s, d[0].kind);
  return k ? udp_send_batch(k->fd, k->v6, &k->udp, d, n) : (int)n;
}

/* Send what the core lets go now, until it has nothing more for us (peek 0) or a
 * socket buffer is full (s->blocked). */
static void drain_out(sw_swarm *s) {
  sw_dgram d[UDP_BATCH];
  s->blocked = -1;
  for (;;) {
    size_t n = sw_core_out_peek(s->core, d, UDP_BATCH);
    if (!n) return;
    /* One system call per run of datagrams for the same socket. */
    size_t run = 1;
    while (run < n && d[run].kind == d[0].kind && d[run].probe == d[0].probe) run++;
    int sent = send_run(s, d, run);
    if (sent < 0) sent = (int)run; /* socket broken: give the datagrams up, not the loop */
    sw_core_out_consume(s->core, (size_t)sent, now_ms());
    if ((size_t)sent < run) {
      s->blocked = (int)d[0].kind;
      return;
    }
  }
}

/* ---- receiving: one pump for every socket ------------------------------------ */

static void update_poll(sw_swarm *s);
static void arm_timer(sw_swarm *s);

/* ICMP errors queued on a socket (udp_recv_error): the main socket's end the dial to
 * their address (sw_core_unreachable); the others are only drained. Bounded per wake. */
static int drain_errors(sw_swarm *s, rt_sock *k) {
  sw_addr to;
  int refused, n = 0;
  while (n < UDP_BATCH && udp_recv_error(k->fd, &to, &refused)) {
    n++;
    if (k->kind == SW_SOCK_MAIN) sw_core_unreachable(s->core, &to, refused, now_ms());
  }
  if (n) s->dirty = 1;
  return n;
}

static void pump(sw_swarm *s, rt_sock *k) {
  for (int turn = 0; turn < RX_TURN_LIMIT; turn++) {
    int n = udp_recv_batch(k->fd, &k->udp, &s->rx);
    /* nothing read, or the socket's pending ICMP error instead of data: the error
     * queue keeps the poll awake until it is read */
    if (n <= 0 && drain_errors(s, k) && n < 0) continue;
    if (n <= 0) break;
    uint64_t now = now_ms();
    s->dirty = 1;
    /* A buffer holds one datagram or several the kernel coalesced (seg bytes each, the
     * last possibly shorter); len 0: truncated, not what was sent. */
    for (int i = 0; i < n; i++)
      for (size_t off = 0, len = s->rx.len[i], seg = s->rx.seg[i]; off < len; off += seg) {
        const uint8_t *p = udp_rx_data(&s->rx, i) + off;
        size_t plen = len - off < seg ? len - off : seg;
        if (k->kind == SW_SOCK_PROBE)
          sw_core_probe_datagram(s->core, k->probe, &s->rx.from[i], p, plen, now);
        else
          sw_core_datagram(s->core, k->kind, &s->rx.from[i], p, plen, now);
      }
    if (n < UDP_BATCH || s->state >= ST_CLOSING) break;
    /* Send between receive bursts so replies and floods do not pile up. */
    sw_core_flush(s->core, now);
    drain_out(s);
  }
}

static void on_sock_poll(uv_poll_t *h, int status, int events) {
  rt_sock *k = h->data;
  sw_swarm *s = k->swarm;
  if (s->state >= ST_CLOSING) return;
  if (status < 0) {
    /* libuv stops a poll handle on POLLERR, which a queued ICMP error raises (udp.c,
     * IP_RECVERR): read the errors, watch the socket again, and read what waits. */
    drain_errors(s, k);
    uv_poll_start(&k->poll, k->events, on_sock_poll);
    events = UV_READABLE;
    kick(s);
  }
  if (events & UV_READABLE) pump(s, k);
  if (events & UV_WRITABLE) {
    drain_out(s);
    update_poll(s);
    arm_timer(s); /* the core may let the rest go at a later time */
  }
}

/* Start or change a socket's watch (and note it for sw_swarm_timeout). */
static void watch(sw_swarm *s, rt_sock *k, int events) {
  k->events = events;
  uv_poll_start(&k->poll, events, on_sock_poll);
  s->rearm = 1;
}

/* Every socket is read; the one whose buffer was full is also watched for room. */
static void update_poll(sw_swarm *s) {
  for (int i = 0; i < NSOCKS; i++) {
    rt_sock *k = &s->socks[i];
    if (!k->polling) continue;
    int want = UV_READABLE | (s->blocked == i ? UV_WRITABLE : 0);
    if (want != k->events) watch(s, k, want);
  }
}

/* ---- probe sockets ------------------------------------------------------------ */

static void released(sw_swarm *s);

static void probe_closed(uv_handle_t *h) {
  rt_sock *k = h->data;
  sw_swarm *s = k->swarm;
  udp_close(k->fd);
  free(k);
  released(s);
}

static void probe_close(sw_swarm *s, unsigned probe) {
  rt_sock *k = s->probes[probe];
  s->probes[probe] = NULL;
  s->nprobes--;
  uv_close((uv_handle_t *)&k->poll, probe_closed);
}

/* Probe socket `probe`, opened now if it is not yet; NULL when it cannot be. */
static rt_sock *probe_open(sw_swarm *s, unsigned probe) {
  if (probe == 0 || probe > SW_CORE_PROBE_MAX || s->state >= ST_CLOSING) return NULL;
  if (s->probes[probe]) return s->probes[probe];
  rt_sock *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  *k = (rt_sock){.swarm = s, .kind = SW_SOCK_PROBE, .fd = -1, .probe = probe};
  if (udp_open(s->bind[0] ? s->bind : NULL, 0, &k->fd, &k->port, &k->v6) != SW_OK ||
      uv_poll_init(s->loop, &k->poll, k->fd)) {
    udp_close(k->fd);
    free(k);
    return NULL;
  }
  k->poll.data = k;
  k->polling = 1;
  watch(s, k, UV_READABLE);
  s->handles_open++;
  s->probes[probe] = k;
  if (!s->nprobes++) s->probe_check_at = now_ms() + PROBE_CHECK_MS;
  return k;
}

/* Close the probe sockets the core no longer wants (all of them: everything). */
static void probe_sweep(sw_swarm *s, int all) {
  if (!s->nprobes || (!all && now_ms() < s->probe_check_at)) return;
  for (unsigned i = 1; i <= SW_CORE_PROBE_MAX && s->nprobes; i++)
    if (s->probes[i] && (all || !sw_core_probe_wanted(s->core, i))) probe_close(s, i);
  s->probe_check_at = now_ms() + PROBE_CHECK_MS;
}

/* ---- closing ------------------------------------------------------------------ */

/* One of our handles is released; the last one ends the swarm. */
static void released(sw_swarm *s) {
  if (--s->handles_open) return;
  for (int i = 0; i < NSOCKS; i++) {
    udp_close(s->socks[i].fd);
    s->socks[i].fd = -1;
  }
  s->state = ST_CLOSED;
  sw_event ev = {.type = SW_EV_CLOSE};
  if (s->opts.on_event) s->opts.on_event(s, &ev, s->opts.user);
}

static void handle_closed(uv_handle_t *h) { released(h->data); }
static void poll_closed(uv_handle_t *h) { released(((rt_sock *)h->data)->swarm); }
/* The HTTP client's handles count as one of ours. */
static void http_closed(void *arg) { released(arg); }

static void finish_close(sw_swarm *s) {
  if (s->state == ST_CLOSING || s->state == ST_CLOSED) return;
  s->state = ST_CLOSING;
  for (int i = 0; i < MAX_RESOLVES; i++)
    if (s->resolves[i].active) uv_cancel((uv_req_t *)&s->resolves[i].req);
  uv_close((uv_handle_t *)&s->timer, handle_closed);
  uv_close((uv_handle_t *)&s->prepare, handle_closed);
  uv_close((uv_handle_t *)&s->check, handle_closed);
  uv_close((uv_handle_t *)&s->idle, handle_closed);
  for (int i = 0; i < s->nsigs; i++) uv_close((uv_handle_t *)&s->sigs[i], handle_closed);
  if (s->http) {
    /* every outstanding request is reported (failed) before the core goes */
    http_rt_cancel_all(s->http);
    s->handles_open++;
    http_rt_close(s->http, http_closed, s);
    s->http = NULL;
  }
  for (int i = 0; i < NSOCKS; i++)
    if (s->socks[i].polling) uv_close((uv_handle_t *)&s->socks[i].poll, poll_closed);
  probe_sweep(s, 1);
}

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
  if (!s->core) return;
  sw_core_storage_done(s->core, id, err, value, len, now_ms());
  kick(s); /* a value read may answer a peer or a fetch */
}

/* Hand the core's backend requests to the backend; its completions may come at once. */
static void run_storage(sw_swarm *s) {
  sw_core_storage_req r;
  const sw_storage *st = s->opts.storage;
  while (st && sw_core_storage_take(s->core, &r)) {
    storage_call *sc = malloc(sizeof *sc);
    if (!sc) {
      sw_core_storage_done(s->core, r.id, SW_ENOMEM, NULL, 0, now_ms());
      continue;
    }
    sc->swarm = s;
    sc->id = r.id;
    if (r.op == SW_CORE_STORAGE_GET) st->get(st->self, r.key, storage_done, sc);
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
  int rc = sw_core_store(s->core, key, value, len, now_ms());
  kick(s);
  return rc;
}

/* Scoped keys and lifetimes (src/core/sync_scope.c): opts NULL is scoped to the first
 * joined topic, no expiry. */
int sw_swarm_store_ex(sw_swarm *s, const char *key, const void *value, size_t len,
                      const sw_store_opts *opts) {
  if (!s) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  sw_core_scope sc = {opts && (opts->flags & SW_STORE_GLOBAL), opts ? opts->topic : NULL};
  int rc = sw_core_store_ex(s->core, key, value, len, &sc, opts ? opts->ttl_ms : 0, now_ms());
  kick(s);
  return rc;
}

int sw_swarm_unstore(sw_swarm *s, const char *key, const sw_store_opts *opts) {
  if (!s) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  sw_core_scope sc = {opts && (opts->flags & SW_STORE_GLOBAL), opts ? opts->topic : NULL};
  int rc = sw_core_unstore(s->core, key, &sc, now_ms());
  kick(s);
  return rc;
}

int sw_swarm_fetch(sw_swarm *s, const char *key, uint32_t timeout_ms, sw_fetch_cb cb,
                   void *user) {
  if (!s || !cb) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  fetch_call *fc = malloc(sizeof *fc);
  if (!fc) return SW_ENOMEM;
  *fc = (fetch_call){s, cb, user};
  int rc = sw_core_fetch(s->core, key, timeout_ms, fetch_done, fc, now_ms());
  if (rc) free(fc);
  kick(s);
  return rc;
}

/* sw_swarm_fetch_ex: the handle is the call's context, freed when the completion ran. */
struct sw_fetch {
  sw_swarm *swarm;
  sw_fetch_done_cb cb;
  sw_fetch_progress_cb progress;
  void *user;
  uint32_t id;
  sw_signed_done_cb scb; /* sw_swarm_fetch_signed: instead of cb */
};

static void fetchx_progress(void *user, const char *key, size_t got, size_t total) {
  sw_fetch *h = user;
  if (h->progress) h->progress(h->swarm, key, got, total, h->user);
}

static void fetchx_done(void *user, int err, const char *key, const uint8_t *value, size_t len,
                        const uint8_t *peer) {
  sw_fetch h = *(sw_fetch *)user;
  free(user);
  if (h.scb) { /* the engine verified the envelope: only split it here */
    uint64_t seq = 0;
    const uint8_t *p = NULL;
    size_t plen = 0;
    if (err == SW_OK && sv_open(value, len, &seq, &p, &plen)) err = SW_EINVAL;
    if (err) h.scb(h.swarm, err, key, NULL, 0, 0, NULL, h.user);
    else h.scb(h.swarm, err, key, p, plen, seq, peer, h.user);
    return;
  }
  h.cb(h.swarm, err, key, value, len, peer, h.user);
}

int sw_swarm_fetch_ex(sw_swarm *s, const char *key, const sw_fetch_opts *opts,
                      sw_fetch_done_cb cb, void *user, sw_fetch **handle) {
  if (!s || !cb) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  sw_fetch *h = malloc(sizeof *h);
  if (!h) return SW_ENOMEM;
  *h = (sw_fetch){s, cb, opts ? opts->progress : NULL, user, 0, NULL};
  /* opts NULL: the global key, as sw_swarm_fetch; opts: scoped unless SW_FETCH_GLOBAL. */
  sw_core_scope sc = {!opts || (opts->flags & SW_FETCH_GLOBAL), opts ? opts->topic : NULL};
  sw_core_fetch_opts o = {.timeout_ms = opts ? opts->timeout_ms : 0,
                          .flags = opts ? opts->flags : 0,
                          .progress = h->progress ? fetchx_progress : NULL,
                          .scope = &sc};
  int rc = sw_core_fetch_ex(s->core, key, &o, fetchx_done, h, &h->id, now_ms());
  if (rc) free(h);
  else if (handle) *handle = h;
  kick(s);
  return rc;
}

/* ---- signed and content values (docs/VALUES.md; the engine's sync_value.c) ------ */

int sw_swarm_signing_key(const sw_swarm *s, uint8_t out[SW_SIGNING_KEY_LEN]) {
  if (!s || !out) return SW_EINVAL;
  return sw_core_signing_key(s->core, out);
}

int sw_swarm_store_signed(sw_swarm *s, const char *name, const void *value, size_t len,
                          uint64_t seq) {
  if (!s) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  int rc = sw_core_store_signed(s->core, name, value, len, seq, NULL, now_ms());
  kick(s);
  return rc;
}

int sw_swarm_fetch_signed(sw_swarm *s, const uint8_t signer[SW_SIGNING_KEY_LEN],
                          const char *name, const sw_fetch_opts *opts, sw_signed_done_cb cb,
                          void *user, sw_fetch **handle) {
  char key[SW_KEY_MAX + 1];
  if (!s || !signer || !cb || sv_signed_key(key, signer, name) < 0) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  sw_fetch *h = malloc(sizeof *h);
  if (!h) return SW_ENOMEM;
  *h = (sw_fetch){s, NULL, opts ? opts->progress : NULL, user, 0, cb};
  sw_core_fetch_opts o = {.timeout_ms = opts ? opts->timeout_ms : 0,
                          .progress = h->progress ? fetchx_progress : NULL};
  int rc = sw_core_fetch_ex(s->core, key, &o, fetchx_done, h, &h->id, now_ms());
  if (rc) free(h);
  else if (handle) *handle = h;
  kick(s);
  return rc;
}

int sw_swarm_store_content(sw_swarm *s, const void *value, size_t len,
                           char key_out[SW_CONTENT_KEY_LEN + 1]) {
  if (!s || !key_out) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  int rc = sw_core_store_content(s->core, value, len, key_out, now_ms());
  kick(s);
  return rc;
}

int sw_swarm_fetch_cancel(sw_fetch *h) {
  if (!h || !h->swarm->core) return SW_EINVAL;
  int rc = sw_core_fetch_cancel(h->swarm->core, h->id, now_ms());
  kick(h->swarm); /* the completion runs at the turn this schedules */
  return rc;
}

/* ---- the turn: service, timer ------------------------------------------------ */

static void on_timer(uv_timer_t *h);

static void arm_timer(sw_swarm *s) {
  uint64_t now = now_ms(), t = sw_core_deadline(s->core);
  if (s->state == ST_DRAINING && s->drain_deadline < t) t = s->drain_deadline;
  if (s->lingering && s->linger_deadline < t) t = s->linger_deadline;
  if (t == UINT64_MAX) {
    uv_timer_stop(&s->timer);
    return;
  }
  if (s->nprobes && s->probe_check_at < t) t = s->probe_check_at;
  uv_timer_start(&s->timer, on_timer, t > now ? t - now : 0, 0);
}

static void begin_close(sw_swarm *s, uint64_t now);

/* Backend and HTTP requests out, batches closed, datagrams sent, timer re-armed from
 * the core's deadline (which includes the next time it lets a datagram go). */
static void service(sw_swarm *s) {
  if (s->state >= ST_CLOSING) return;
  run_storage(s);
  http_rt_pump(s->http); /* requests the core queued since the last service */
  /* What the calls above queued (completions may run inside them) is sent below. */
  s->dirty = 0;
  uv_idle_stop(&s->idle);
  uint64_t now = now_ms();
  sw_core_flush(s->core, now);
  drain_out(s);
  probe_sweep(s, 0);
  if (s->lingering && (!sw_core_unacked(s->core) || now >= s->linger_deadline)) {
    begin_close(s, now); /* GOAWAYs queued: sent below or at the next turn */
    drain_out(s);
  }
  if (s->state == ST_DRAINING && (!sw_core_out_pending(s->core) || now >= s->drain_deadline)) {
    sw_core_drop_peers(s->core, SW_REASON_CLOSED); /* a DISCONNECT per peer, then CLOSE */
    finish_close(s);
    return;
  }
  update_poll(s);
  arm_timer(s);
}

/* Every loop turn, before it polls. */
static void on_prepare(uv_prepare_t *h) {
  sw_swarm *s = h->data;
  if (!s->announced) {
    s->announced = 1;
    sw_event ev = {.type = SW_EV_LISTENING, .port = s->socks[SW_SOCK_MAIN].port};
    core_event(s, &ev);
  }
  service(s);
}

/* Right after the poll phase: what its callbacks queued leaves in this turn. A
 * completion that did not kick us (HTTP) is seen by what it left in the core. */
static void on_check(uv_check_t *h) {
  sw_swarm *s = h->data;
  if (s->state >= ST_CLOSING) return;
  if (!s->dirty) {
    sw_core_flush(s->core, now_ms()); /* nothing to do when no batch is open */
    if (!sw_core_out_pending(s->core)) return;
  }
  service(s);
}

/* Armed by kick(): output queued after this turn's check phase (a timer run after the
 * poll, a close callback, an application's prepare or check handle run after ours). */
static void on_idle(uv_idle_t *h) { service(h->data); }

static void on_timer(uv_timer_t *h) {
  sw_swarm *s = h->data;
  uint64_t now = now_ms();
  if (s->state == ST_DRAINING && now >= s->drain_deadline) {
    finish_close(s);
    return;
  }
  sw_core_timeout(s->core, now);
  service(s);
}

/* ---- creation: engine configuration, sockets, core, handles -------------------- */

/* The main socket first (its port goes into LAN beacons and records), then the DHT's
 * own socket (14.6; a fixed port for a bootstrap node). The LAN multicast socket waits
 * for the first join (open_lan). Fills in what the configuration needs of them. */
static int open_sockets(sw_swarm *s, const sw_options *o, config *c) {
  rt_sock *m = &s->socks[SW_SOCK_MAIN], *d = &s->socks[SW_SOCK_DHT];
  int rc = udp_open(o->bind, o->port, &m->fd, &m->port, &m->v6);
  if (rc != SW_OK) return rc;
  if (o->dht && (rc = udp_open(o->bind, o->dht_port, &d->fd, &d->port, &d->v6)) != SW_OK)
    return rc;
  c->core.port = m->port;
  snprintf(s->lan_ip, sizeof s->lan_ip, "%s", c->lan_ip);
  return SW_OK;
}

/* The LAN multicast socket, at the first join. None (no multicast route or interface):
 * LAN discovery is off, the rest works; what the LAN module sends is then given up. */
static void open_lan(sw_swarm *s) {
  rt_sock *l = &s->socks[SW_SOCK_LAN];
  if (!s->opts.lan || mcast_open(s->lan_ip, &l->fd) != SW_OK) {
    l->fd = -1;
    return;
  }
  if (uv_poll_init(s->loop, &l->poll, l->fd)) {
    udp_close(l->fd);
    l->fd = -1;
    return;
  }
  l->poll.data = l;
  l->polling = 1;
  s->handles_open++;
  watch(s, l, UV_READABLE);
}

static void close_sockets(sw_swarm *s) {
  for (int i = 0; i < NSOCKS; i++) {
    udp_close(s->socks[i].fd);
    s->socks[i].fd = -1;
  }
}

static int make_core(sw_swarm *s, config *c) {
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  c->core.unix_offset_ms =
      (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000 - (int64_t)now_ms();
  c->core.random = random_bytes;
  c->core.on_event = core_event;
  c->core.ctx = s;
  c->core.probe_sockets = 1; /* opened on demand: probe_open */
  /* Bootstrap nodes are contacted from the first join on (start_discovery). */
  c->dht.nbootstrap = 0;
  if (s->opts.bind) snprintf(s->bind, sizeof s->bind, "%s", s->opts.bind);
  int rc = sw_core_new(&s->core, &c->core, now_ms());
  if (rc != SW_OK) return rc;
  /* The caller's strings are not kept (the core copied what it needs). */
  s->opts.seed_hex = s->opts.bind = s->opts.lan_addr = NULL;
  s->opts.bootstrap_http = s->opts.piping = NULL;
  s->opts.bootstrap = s->opts.seeds = NULL;
  return SW_OK;
}

static int use_loop(sw_swarm *s, void *uv_loop) {
  if (uv_loop) {
    s->loop = uv_loop;
    return SW_OK;
  }
  if (uv_loop_init(&s->own_loop)) return SW_EIO;
  s->owns_loop = 1;
  s->loop = &s->own_loop;
  return SW_OK;
}

/* The HTTP client, the main socket's poll, timer, prepare, check, idle: all or none.
 * The DHT and LAN polls are optional: without one, that socket is off. */
static int start_handles(sw_swarm *s) {
  int rc;
  if (s->opts.http && (rc = http_rt_new(&s->http, s->loop, s->core)) != SW_OK) return rc;
  rt_sock *m = &s->socks[SW_SOCK_MAIN];
  if (uv_poll_init(s->loop, &m->poll, m->fd)) {
    if (s->http) { /* its timer is the only handle initialised: let the loop release it */
      http_rt_close(s->http, NULL, NULL);
      s->http = NULL;
      uv_run(s->loop, UV_RUN_NOWAIT);
    }
    return SW_EIO;
  }
  /* These cannot fail on an initialised loop. */
  uv_timer_init(s->loop, &s->timer);
  uv_prepare_init(s->loop, &s->prepare);
  uv_check_init(s->loop, &s->check);
  uv_idle_init(s->loop, &s->idle);
  s->timer.data = s->prepare.data = s->check.data = s->idle.data = s;
  m->polling = 1;
  s->handles_open = 5;
  for (int i = 0; i < NSOCKS; i++) {
    rt_sock *k = &s->socks[i];
    k->poll.data = k;
    if (i == SW_SOCK_MAIN || k->fd < 0) continue;
    if (uv_poll_init(s->loop, &k->poll, k->fd)) {
      udp_close(k->fd); /* this socket off; the rest works */
      k->fd = -1;
      continue;
    }
    k->polling = 1;
    s->handles_open++;
  }
  s->blocked = -1;
  update_poll(s);
  s->rearm = 1; /* the loop has not polled yet: an external loop calls process first */
  uv_prepare_start(&s->prepare, on_prepare);
  uv_check_start(&s->check, on_check);
  arm_timer(s);
  return SW_OK;
}

/* Keep the options' DHT bootstrap nodes and seeds (their strings are not kept) for the
 * first join. Entries that do not parse are skipped (sw_swarm_new checked the DHT's). */
static int keep_peers(sw_swarm *s, const sw_options *o) {
  size_t n = (o->bootstrap ? o->nbootstrap : 0) + (o->seeds ? o->nseeds : 0);
  if (!n) return SW_OK;
  if (!(s->later = calloc(n, sizeof *s->later))) return SW_ENOMEM;
  for (int seeds = 0; seeds < 2; seeds++) {
    const char *const *list = seeds ? o->seeds : o->bootstrap;
    size_t cnt = seeds ? o->nseeds : o->nbootstrap;
    for (size_t i = 0; list && i < cnt; i++) {
      char host[256];
      uint16_t port;
      if (!list[i] || addr_split_hostport(list[i], host, sizeof host, &port)) continue;
      later_peer *p = &s->later[s->nlater];
      if (!(p->host = strdup(host))) return SW_ENOMEM;
      p->port = port ? port : CONFIG_DEFAULT_PORT;
      p->seed = seeds;
      s->nlater++;
    }
  }
  return SW_OK;
}

static void free_later(sw_swarm *s) {
  for (size_t i = 0; i < s->nlater; i++) free(s->later[i].host);
  free(s->later);
  s->later = NULL;
  s->nlater = 0;
}

/* Bootstrap nodes are asked for the DHT's neighbourhood and also serve the 15 s HELLO
 * fallback (14.3 step 7); seeds are dialled (14.7). Numeric addresses now, names once
 * resolved. */
static void add_peers(sw_swarm *s) {
  for (size_t i = 0; i < s->nlater; i++) {
    const later_peer *p = &s->later[i];
    sw_addr a;
    if (addr_parse_ip(&a, p->host, p->port) != SW_OK) {
      resolve_async(s, p->host, p->port, p->seed ? RES_SEED : RES_BOOTSTRAP);
    } else if (p->seed) {
      sw_core_add_seed(s->core, &a, now_ms());
    } else {
      if (sock_of(s, SW_SOCK_DHT)) sw_core_dht_bootstrap(s->core, &a, now_ms());
      sw_core_add_fallback(s->core, &a);
    }
  }
}

/* STUN servers (PROTOCOL.md 15.5): numeric ones now, names once resolved. */
static void add_stun(sw_swarm *s, const char *const *list, size_t n) {
  for (size_t i = 0; list && i < n; i++) {
    char host[256];
    uint16_t port;
    sw_addr a;
    if (!list[i] || addr_split_hostport(list[i], host, sizeof host, &port)) continue;
    if (!port) port = CONFIG_STUN_PORT;
    if (addr_parse_ip(&a, host, port) != SW_OK) resolve_async(s, host, port, RES_STUN);
    else sw_core_add_stun_server(s->core, &a, now_ms());
  }
}

/* Discovery starts (the first join): the LAN socket, DHT bootstrap nodes and seeds,
 * the references' STUN servers when no server was named. HTTP bootstrap and piping
 * start in the core at the same join (httpboot.c, piping.c). */
static void start_discovery(sw_swarm *s) {
  static const char *const defaults[] = {CONFIG_STUN_DEFAULTS};
  if (s->discovering || s->state != ST_OPEN) return;
  s->discovering = 1;
  open_lan(s);
  add_peers(s);
  free_later(s);
  if (s->stun_defaults) add_stun(s, defaults, sizeof defaults / sizeof *defaults);
}

int sw_swarm_nat(const sw_swarm *s, char *addr, size_t addrlen, const char **type) {
  sw_addr a;
  if (!s || !s->core || !sw_core_nat(s->core, &a, type)) return 0;
  if (addr && addrlen) addr_format(&a, addr, addrlen);
  return 1;
}

int sw_swarm_new(sw_swarm **out, const sw_options *opts, void *uv_loop) {
  sw_options o;
  config cfg;
  int rc;
  if (!out) return SW_EINVAL;
  *out = NULL;
  if (config_upgrade(&o, opts) != SW_OK) return SW_EINVAL;
  if ((rc = config_from_options(&cfg, &o)) != SW_OK) return rc;
  sw_swarm *s = calloc(1, sizeof *s);
  if (!s) return SW_ENOMEM;
  s->opts = o;
  for (int i = 0; i < NSOCKS; i++)
    s->socks[i] = (rt_sock){.swarm = s, .kind = (sw_sock_kind)i, .fd = -1};
  if ((rc = keep_peers(s, &o)) != SW_OK || (rc = udp_rx_init(&s->rx)) != SW_OK ||
      (rc = open_sockets(s, &o, &cfg)) != SW_OK ||
      (rc = make_core(s, &cfg)) != SW_OK || (rc = use_loop(s, uv_loop)) != SW_OK ||
      (rc = start_handles(s)) != SW_OK)
    goto fail;
  /* STUN servers the application named are asked now; the references' list only once
   * a topic is joined (start_discovery). */
  if (!o.no_stun && o.nstun) add_stun(s, o.stun, o.nstun);
  s->stun_defaults = !o.no_stun && !o.nstun && !o.no_default_servers;
  *out = s;
  return SW_OK;
fail:
  /* Handles are only initialised once everything before succeeded; none to close. */
  if (s->owns_loop) uv_loop_close(&s->own_loop);
  free_later(s);
  close_sockets(s);
  udp_rx_free(&s->rx);
  sw_core_free(s->core);
  free(s);
  return rc;
}

/* ---- public API ------------------------------------------------------------ */

/* One turn at a time, so that handles the application added to the owned loop
 * (sw_swarm_loop) do not keep this running after SW_EV_CLOSE. */
int sw_swarm_run(sw_swarm *s) {
  if (!s || !s->owns_loop || s->in_run) return SW_EINVAL;
  s->in_run = 1;
  while (s->state != ST_CLOSED && uv_run(s->loop, UV_RUN_ONCE)) {
  }
  s->in_run = 0;
  return SW_OK;
}

/* ---- driving the owned loop from another event loop -------------------------- */

/* libuv's backend descriptor (epoll, kqueue, event ports) is readable whenever one of
 * the loop's watched descriptors is ready (our sockets, DNS and HTTP completions,
 * signals), so one descriptor stands for all of them. */
int sw_swarm_fd(const sw_swarm *s) {
  if (!s || !s->owns_loop) return SW_EINVAL;
  int fd = uv_backend_fd(s->loop);
  return fd >= 0 ? fd : SW_EIO;
}

int sw_swarm_timeout(const sw_swarm *s) {
  if (!s || !s->owns_loop || s->state == ST_CLOSED) return -1;
  /* A watch libuv has not handed to the kernel yet, or output waiting (kick's idle
   * handle, which uv_backend_timeout counts as due now): process at once. */
  if (s->rearm || (s->dirty && s->state < ST_CLOSING) ||
      http_rt_watch_changes(s->http) != s->http_watch_seen)
    return 0;
  int t = uv_backend_timeout(s->loop);
  if (t <= 0) return t;
  /* uv_backend_timeout counts from the loop's clock as of its last turn: take off the
   * time that went by since. */
  uint64_t now = now_ms(), loop_now = uv_now(s->loop);
  uint64_t late = now > loop_now ? now - loop_now : 0;
  return late >= (uint64_t)t ? 0 : t - (int)late;
}

int sw_swarm_process(sw_swarm *s) {
  if (!s || !s->owns_loop || s->in_run) return SW_EINVAL;
  if (s->state == ST_CLOSED) return SW_ECLOSED;
  s->in_run = 1;
  s->rearm = 0; /* changes made from here to the poll phase are polled in this turn */
  s->http_watch_seen = http_rt_watch_changes(s->http);
  /* One turn that does not block: due timers (ours runs the core's timeouts and sends),
   * the idle handle armed by calls made since the last turn, prepare (sends), the poll
   * phase (every ready socket read, replies queued), check (sends what the poll phase
   * and the callbacks it ran queued), close callbacks (SW_EV_CLOSE). */
  uv_run(s->loop, UV_RUN_NOWAIT);
  s->in_run = 0;
  return s->state == ST_CLOSED ? SW_ECLOSED : SW_OK;
}

void *sw_swarm_loop(sw_swarm *s) { return s ? s->loop : NULL; }

/* A signal closes the swarm as sw_swarm_close does; a second one while it still drains
 * ends the drain at once. */
static void on_signal(uv_signal_t *h, int signum) {
  sw_swarm *s = h->data;
  (void)signum;
  if (s->state == ST_OPEN && s->lingering) begin_close(s, now_ms()); /* stop waiting for acks */
  else if (s->state == ST_OPEN) sw_swarm_close(s);
  else if (s->state == ST_DRAINING) finish_close(s);
}

int sw_swarm_close_on_signal(sw_swarm *s, int signum) {
  if (!s || signum <= 0 || signum >= NSIG || signum == SIGKILL || signum == SIGSTOP)
    return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  for (int i = 0; i < s->nsigs; i++)
    if (s->sigs[i].signum == signum) return SW_OK;
  if (s->nsigs == MAX_SIGNALS) return SW_EFULL;
  uv_signal_t *h = &s->sigs[s->nsigs];
  if (uv_signal_init(s->loop, h)) return SW_EIO;
  /* Initialised: it is closed with the swarm's handles from now on, started or not. */
  h->data = s;
  s->nsigs++;
  s->handles_open++;
  s->rearm = 1; /* libuv's signal pipe is watched from the next poll */
  return uv_signal_start(h, on_signal, signum) ? SW_EINVAL : SW_OK;
}

static void begin_close(sw_swarm *s, uint64_t now) {
  s->lingering = 0;
  run_storage(s); /* values stored just before closing still reach the backend */
  sw_core_close(s->core, now);
  s->state = ST_DRAINING;
  s->drain_deadline = now + CLOSE_DRAIN_MS;
}

int sw_swarm_close(sw_swarm *s) {
  if (!s) return SW_EINVAL;
  if (s->state != ST_OPEN || s->lingering) return SW_OK;
  uint64_t now = now_ms();
  sw_core_flush(s->core, now); /* what was written last counts as unacknowledged */
  if (sw_core_unacked(s->core)) {
    /* Extended sessions still owe their peers bytes: keep running (acknowledgements,
     * retransmissions) until they are all acknowledged, then close as below. */
    s->lingering = 1;
    s->linger_deadline = now + CLOSE_LINGER_MS;
    arm_timer(s);
    kick(s);
    return SW_OK;
  }
  begin_close(s, now);
  arm_timer(s);
  kick(s); /* the GOAWAYs leave in this turn */
  return SW_OK;
}

void sw_swarm_free(sw_swarm *s) {
  if (!s) return;
  if (s->state != ST_CLOSED && s->handles_open) {
    /* Never ran to SW_EV_CLOSE: close the handles now and let the loop finish them. */
    finish_close(s);
    uv_run(s->loop, UV_RUN_NOWAIT);
  }
  if (s->owns_loop) {
    uv_run(&s->own_loop, UV_RUN_NOWAIT); /* close callbacks of the application's handles */
    uv_loop_close(&s->own_loop);
  }
  free_later(s);
  close_sockets(s);
  udp_rx_free(&s->rx);
  sw_core_free(s->core);
  free(s);
}

void sw_swarm_id(const sw_swarm *s, uint8_t out[SW_ID_LEN]) { sw_core_identity(s->core, NULL, out); }

uint16_t sw_swarm_port(const sw_swarm *s) { return s->socks[SW_SOCK_MAIN].port; }

uint16_t sw_swarm_dht_port(const sw_swarm *s) {
  return s && s->socks[SW_SOCK_DHT].fd >= 0 ? s->socks[SW_SOCK_DHT].port : 0;
}

int sw_swarm_join(sw_swarm *s, const uint8_t topic[SW_TOPIC_LEN]) {
  if (!s) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  int rc = sw_core_join(s->core, topic);
  if (rc == SW_OK) start_discovery(s);
  kick(s);
  return rc;
}

int sw_swarm_leave(sw_swarm *s, const uint8_t topic[SW_TOPIC_LEN]) {
  if (!s) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  int rc = sw_core_leave(s->core, topic);
  kick(s);
  return rc;
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
      else if (ai->ai_family == AF_INET6 && s->socks[SW_SOCK_MAIN].v6)
        addr_from_raw(&a, ((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr.s6_addr, 16,
                      r->port);
      else
        continue;
      if (r->purpose == RES_BOOTSTRAP) {
        if (sock_of(s, SW_SOCK_DHT)) sw_core_dht_bootstrap(s->core, &a, now_ms());
        sw_core_add_fallback(s->core, &a);
      } else if (r->purpose == RES_SEED) {
        sw_core_add_seed(s->core, &a, now_ms());
      } else if (r->purpose == RES_STUN) {
        sw_core_add_stun_server(s->core, &a, now_ms());
      } else {
        sw_core_dial(s->core, &a, NULL, now_ms());
      }
    }
    kick(s);
  }
  uv_freeaddrinfo(res);
  released(s); /* the lookup no longer holds the swarm open (SW_EV_CLOSE may follow) */
}

int sw_swarm_connect(sw_swarm *s, const char *host_port) {
  char host[256];
  uint16_t port;
  sw_addr a;
  if (!s || !host_port) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  if (addr_split_hostport(host_port, host, sizeof host, &port)) return SW_EINVAL;
  if (!port) port = CONFIG_DEFAULT_PORT; /* PROTOCOL.md 19: default port for "host:0" */
  if (addr_parse_ip(&a, host, port) != SW_OK) return resolve_async(s, host, port, RES_DIAL);
  if (a.family == 6 && !s->socks[SW_SOCK_MAIN].v6) return SW_EINVAL;
  int rc = sw_core_dial(s->core, &a, NULL, now_ms());
  kick(s);
  return rc;
}

static int resolve_async(sw_swarm *s, const char *host, uint16_t port, int purpose) {
  for (int i = 0; i < MAX_RESOLVES; i++) {
    resolve_req *r = &s->resolves[i];
    if (r->active) continue;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;
    int v6 = s->socks[purpose == RES_BOOTSTRAP ? SW_SOCK_DHT : SW_SOCK_MAIN].v6;
    hints.ai_family = v6 ? AF_UNSPEC : AF_INET;
    r->swarm = s;
    r->port = port;
    r->purpose = purpose;
    if (uv_getaddrinfo(s->loop, &r->req, on_resolved, host, NULL, &hints)) return SW_EINVAL;
    r->active = 1;
    s->handles_open++; /* the swarm is not closed while a lookup may still call back */
    return SW_OK;
  }
  return SW_EFULL;
}

int sw_swarm_broadcast(sw_swarm *s, const void *data, size_t len) {
  if (!s) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  int rc = sw_core_broadcast(s->core, data, len, now_ms());
  kick(s);
  return rc;
}

int sw_swarm_write(sw_swarm *s, const uint8_t peer[SW_WIRE_ID_LEN], const void *data,
                   size_t len) {
  if (!s) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  int rc = sw_core_write(s->core, peer, data, len, now_ms());
  kick(s);
  return rc;
}

int sw_swarm_send(sw_swarm *s, const uint8_t peer[SW_WIRE_ID_LEN], const void *data, size_t len,
                  unsigned flags) {
  if (!s) return SW_EINVAL;
  if (s->state != ST_OPEN) return SW_ECLOSED;
  int rc = sw_core_send(s->core, peer, data, len, flags, now_ms());
  kick(s);
  return rc;
}

int sw_swarm_peer_stats(const sw_swarm *s, const uint8_t peer[SW_WIRE_ID_LEN],
                        sw_peer_stats *out) {
  if (!s || !peer || !out) return SW_EINVAL;
  int rc = sw_core_peer_stats(s->core, peer, out);
  if (rc) return rc;
  for (int i = 0; i < NSOCKS; i++) out->rx_kernel_dropped += s->socks[i].udp.rx_dropped;
  return SW_OK;
}

int sw_swarm_get_stats(const sw_swarm *s, sw_swarm_stats *out) {
  if (!s || !out) return SW_EINVAL;
  memset(out, 0, sizeof *out);
  for (int i = 0; i < NSOCKS; i++) out->rx_kernel_dropped += s->socks[i].udp.rx_dropped;
  sw_core_stats cs;
  sw_core_get_stats(s->core, &cs);
  out->bad_signatures = cs.bad_signatures;
  return SW_OK;
}

int sw_swarm_peer_signing_key(const sw_swarm *s, const uint8_t peer[SW_WIRE_ID_LEN],
                              uint8_t out[32]) {
  if (!s || !peer || !out) return SW_EINVAL;
  return sw_core_peer_signing_key(s->core, peer, out);
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
