/* HTTP bootstrap endpoint of setowire-node: see bootsrv.h. The records are discovery
 * data, unauthenticated like everything else the references publish (D23): we only
 * bound what a client can make us keep (entries, per-source entries, body size,
 * connections) and answer with well-formed records. */
#include "bootsrv.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hex.h"

#define BODY_MAX 2048      /* an announce body is ~100 bytes; more is refused (413) */
#define CONN_MAX 256       /* simultaneous connections */
#define CONN_PER_IP 16     /* simultaneous connections from one client address */
#define CONN_TIMEOUT_S 10  /* idle connections are dropped */

typedef struct entry {
  int used;
  char id[41];               /* "" when the record had none */
  char ip[INET6_ADDRSTRLEN];
  uint16_t port;
  char src[INET6_ADDRSTRLEN]; /* client address that announced it (per-source bound) */
  uint64_t last_seen;        /* ms, monotonic */
} entry;

struct bootsrv {
  bootsrv_config cfg;
  struct MHD_Daemon *d;
  uv_loop_t *loop;
  uv_poll_t poll;
  uv_timer_t timer;
  int closing_handles;
  void (*closed)(void *);
  void *closed_arg;
  bootsrv_announce_fn on_announce;
  void *ctx;
  entry *tab;
  bootsrv_stats st;
  uint16_t bound_port;
};

typedef struct req {
  size_t len;
  int too_big;
  char body[BODY_MAX + 1];
} req;

static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }

static void expire(bootsrv *b, uint64_t now) {
  for (size_t i = 0; i < b->cfg.max_entries; i++) {
    entry *e = &b->tab[i];
    if (e->used && now - e->last_seen >= b->cfg.ttl_ms) {
      e->used = 0;
      b->st.entries--;
      b->st.expired++;
    }
  }
}

static int is_hex40(const char *s) {
  uint8_t id[20];
  return crypto_hex_decode(s, id, sizeof id) == (int)sizeof id;
}

/* Validate an announce body and store it. HTTP status to answer. */
static unsigned store(bootsrv *b, const char *body, size_t len, const char *src) {
  json_error_t err;
  json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
  if (!json_is_object(o)) {
    json_decref(o);
    return MHD_HTTP_BAD_REQUEST;
  }
  const char *id = json_string_value(json_object_get(o, "id"));
  const char *ip = json_string_value(json_object_get(o, "ip"));
  json_t *jp = json_object_get(o, "port");
  json_int_t port = json_is_integer(jp) ? json_integer_value(jp) : 0;
  uint8_t raw[16];
  int ok = ip && (inet_pton(AF_INET, ip, raw) == 1 || inet_pton(AF_INET6, ip, raw) == 1) &&
           port > 0 && port <= 65535 && (!id || is_hex40(id));
  if (!ok) {
    json_decref(o);
    return MHD_HTTP_BAD_REQUEST;
  }
  uint64_t now = now_ms();
  expire(b, now);
  entry *slot = NULL, *oldest = NULL, *free_slot = NULL;
  size_t from_src = 0;
  for (size_t i = 0; i < b->cfg.max_entries; i++) {
    entry *e = &b->tab[i];
    if (!e->used) {
      if (!free_slot) free_slot = e;
      continue;
    }
    /* one record per id; records without an id are keyed by their address */
    if (id ? strcasecmp(e->id, id) == 0
           : (!e->id[0] && e->port == port && strcmp(e->ip, ip) == 0))
      slot = e;
    if (strcmp(e->src, src) == 0) from_src++;
    if (!oldest || e->last_seen < oldest->last_seen) oldest = e;
  }
  if (!slot) {
    if (from_src >= b->cfg.per_source) {
      json_decref(o);
      return MHD_HTTP_TOO_MANY_REQUESTS;
    }
    slot = free_slot ? free_slot : oldest;
    if (slot == free_slot) b->st.entries++;
  }
  memset(slot, 0, sizeof *slot);
  slot->used = 1;
  if (id) {
    for (int i = 0; i < 40; i++) slot->id[i] = (char)(id[i] | 0x20); /* lowercase hex */
  }
  snprintf(slot->ip, sizeof slot->ip, "%s", ip);
  slot->port = (uint16_t)port;
  snprintf(slot->src, sizeof slot->src, "%s", src);
  slot->last_seen = now;
  json_decref(o);
  b->st.announces++;
  if (b->on_announce) b->on_announce(b->ctx, slot->id, slot->ip, slot->port, src);
  return MHD_HTTP_OK;
}

static int by_recent(const void *x, const void *y) {
  const entry *a = *(const entry *const *)x, *c = *(const entry *const *)y;
  return a->last_seen < c->last_seen ? 1 : a->last_seen > c->last_seen ? -1 : 0;
}

/* The freshest records, newest first, as a JSON array text (malloc'd). */
static char *peers_json(bootsrv *b) {
  expire(b, now_ms());
  entry **v = malloc(sizeof *v * (b->cfg.max_entries ? b->cfg.max_entries : 1));
  if (!v) return NULL;
  size_t n = 0;
  for (size_t i = 0; i < b->cfg.max_entries; i++)
    if (b->tab[i].used) v[n++] = &b->tab[i];
  qsort(v, n, sizeof *v, by_recent);
  if (n > b->cfg.peers_max) n = b->cfg.peers_max;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < n; i++) {
    json_t *o = json_object();
    if (v[i]->id[0]) json_object_set_new(o, "id", json_string(v[i]->id));
    json_object_set_new(o, "ip", json_string(v[i]->ip));
    json_object_set_new(o, "port", json_integer(v[i]->port));
    json_array_append_new(arr, o);
  }
  free(v);
  char *s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
  json_decref(arr);
  return s;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result rc = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return rc;
}

static void client_addr(struct MHD_Connection *conn, char *out, size_t cap) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  snprintf(out, cap, "?");
  if (!ci || !ci->client_addr) return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
  } else if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) inet_ntop(AF_INET, &a6->s6_addr[12], out, (socklen_t)cap);
    else inet_ntop(AF_INET6, a6, out, (socklen_t)cap);
  }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_len, void **con_cls) {
  bootsrv *b = cls;
  (void)version;
  int post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
  if (strcmp(url, "/announce") == 0 && post) {
    req *r = *con_cls;
    if (!r) { /* first call: headers only */
      r = calloc(1, sizeof *r);
      if (!r) return MHD_NO;
      *con_cls = r;
      return MHD_YES;
    }
    if (*upload_len) {
      if (r->len + *upload_len > BODY_MAX) r->too_big = 1;
      else memcpy(r->body + r->len, upload, *upload_len), r->len += *upload_len;
      *upload_len = 0;
      return MHD_YES;
    }
    if (r->too_big) {
      b->st.rejected++;
      return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "{\"error\":\"body too large\"}");
    }
    char src[INET6_ADDRSTRLEN];
    client_addr(conn, src, sizeof src);
    unsigned st = store(b, r->body, r->len, src);
    if (st != MHD_HTTP_OK) b->st.rejected++;
    return reply(conn, st,
                 st == MHD_HTTP_OK ? "{\"ok\":true}"
                 : st == MHD_HTTP_TOO_MANY_REQUESTS ? "{\"error\":\"too many entries from this address\"}"
                                                   : "{\"error\":\"expected {\\\"id\\\",\\\"ip\\\",\\\"port\\\"}\"}");
  }
  if (strcmp(url, "/peers") == 0 && get) {
    b->st.gets++;
    char *s = peers_json(b);
    if (!s) return MHD_NO;
    enum MHD_Result rc = reply(conn, MHD_HTTP_OK, s);
    free(s);
    return rc;
  }
  if (strcmp(url, "/announce") == 0 || strcmp(url, "/peers") == 0)
    return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "{\"error\":\"method not allowed\"}");
  return reply(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  free(*con_cls);
  *con_cls = NULL;
}

static void run_mhd(bootsrv *b);

static void on_timer(uv_timer_t *t) { run_mhd(t->data); }

static void on_poll(uv_poll_t *p, int status, int events) {
  (void)status;
  (void)events;
  run_mhd(p->data);
}

/* Let MHD do its work, then wake up again when it asks to (its epoll fd is watched
 * by the poll handle; the timeout covers idle connections and buffered work). */
static void run_mhd(bootsrv *b) {
  if (b->closing_handles) return;
  MHD_run(b->d);
  MHD_UNSIGNED_LONG_LONG t;
  if (MHD_get_timeout(b->d, &t) == MHD_YES)
    uv_timer_start(&b->timer, on_timer, t > 60000 ? 60000 : (uint64_t)t, 0);
  else
    uv_timer_start(&b->timer, on_timer, 1000, 0);
}

int bootsrv_start(bootsrv **out, uv_loop_t *loop, const bootsrv_config *cfg,
                  bootsrv_announce_fn on_announce, void *ctx) {
  *out = NULL;
  if (!cfg->port || !cfg->max_entries || !cfg->per_source) return -1;
  bootsrv *b = calloc(1, sizeof *b);
  if (!b) return -1;
  b->cfg = *cfg;
  b->tab = calloc(cfg->max_entries, sizeof *b->tab);
  if (!b->tab) {
    free(b);
    return -1;
  }
  b->loop = loop;
  b->on_announce = on_announce;
  b->ctx = ctx;
  unsigned flags = MHD_USE_EPOLL;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr *sa = NULL;
  if (cfg->bind) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->bind, &s4->sin_addr) == 1) {
      s4->sin_family = AF_INET;
      s4->sin_port = htons(cfg->port);
    } else if (inet_pton(AF_INET6, cfg->bind, &s6->sin6_addr) == 1) {
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons(cfg->port);
      flags |= MHD_USE_IPv6;
    } else {
      free(b->tab);
      free(b);
      return -1;
    }
    sa = (struct sockaddr *)&ss;
  } else {
    flags |= MHD_USE_DUAL_STACK;
  }
  b->d = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, b,
                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_MAX,
                          MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CONN_PER_IP,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, b,
                          sa ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, sa, MHD_OPTION_END);
  if (!b->d) {
    free(b->tab);
    free(b);
    return -1;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(b->d, MHD_DAEMON_INFO_EPOLL_FD);
  const union MHD_DaemonInfo *pi = MHD_get_daemon_info(b->d, MHD_DAEMON_INFO_BIND_PORT);
  b->bound_port = pi ? pi->port : cfg->port;
  if (!di || uv_poll_init(loop, &b->poll, di->epoll_fd) || uv_timer_init(loop, &b->timer)) {
    MHD_stop_daemon(b->d);
    free(b->tab);
    free(b);
    return -1;
  }
  b->poll.data = b->timer.data = b;
  uv_poll_start(&b->poll, UV_READABLE, on_poll);
  run_mhd(b);
  *out = b;
  return 0;
}

uint16_t bootsrv_port(const bootsrv *b) { return b->bound_port; }

void bootsrv_get_stats(bootsrv *b, bootsrv_stats *out) {
  expire(b, now_ms());
  *out = b->st;
}

static void handle_closed(uv_handle_t *h) {
  bootsrv *b = h->data;
  if (--b->closing_handles > 0) return;
  void (*cb)(void *) = b->closed;
  void *arg = b->closed_arg;
  MHD_stop_daemon(b->d); /* after the poll handle is gone: MHD closes its epoll fd */
  free(b->tab);
  free(b);
  if (cb) cb(arg);
}

void bootsrv_stop(bootsrv *b, void (*closed)(void *arg), void *arg) {
  if (!b || b->closing_handles) return;
  b->closed = closed;
  b->closed_arg = arg;
  b->closing_handles = 2;
  uv_close((uv_handle_t *)&b->poll, handle_closed);
  uv_close((uv_handle_t *)&b->timer, handle_closed);
}
