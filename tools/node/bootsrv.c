/* HTTP bootstrap endpoint of setowire-node: see bootsrv.h. The records are discovery
 * data, unsigned like everything the references publish (D23): the node cannot know
 * whether a record is true, so it binds each record to the client address that posted
 * it, lets no other address replace or re-point it, bounds what one address or prefix
 * can make it keep or hold open, and answers GET /peers fairly across prefixes, so a
 * flood from a few addresses neither evicts nor hides the records of everyone else.
 * The rules and values are in docs/THREATS.md, "HTTP bootstrap". */
#include "bootsrv.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "hex.h"

#define BUCKETS 1024       /* per-address POST token buckets kept */
#define SCAN_MS 250        /* deadline check period */

/* A client address in binary: family and 16 bytes (IPv4 in the first 4). */
typedef struct addrkey {
  uint8_t fam; /* 0 unknown, 4, 6 */
  uint8_t a[16];
} addrkey;

typedef struct entry {
  int used;
  char id[41];               /* "" when the record had none */
  char ip[INET6_ADDRSTRLEN];
  uint16_t port;
  char src[INET6_ADDRSTRLEN]; /* client address that announced it */
  addrkey srck;
  uint64_t last_seen;        /* ms, monotonic */
} entry;

typedef struct bucket {
  addrkey k;
  double tokens;
  uint64_t t;
} bucket;

/* One TCP connection (MHD's socket context), on the bootsrv's list for the deadline
 * check. */
typedef struct conn {
  struct conn *prev, *next;
  int fd;
  addrkey k;
  uint64_t start;   /* ms: accepted, or the previous request on it completed */
  int answered;     /* a response is queued for the current request, or it was cut */
} conn;

struct bootsrv {
  bootsrv_config cfg;
  struct MHD_Daemon *d;
  uv_loop_t *loop;
  uv_poll_t poll;
  uv_timer_t timer, scan;
  int closing_handles;
  void (*closed)(void *);
  void *closed_arg;
  bootsrv_announce_fn on_announce;
  void *ctx;
  entry *tab;
  bucket buckets[BUCKETS];
  conn *conns;
  size_t nconns;
  bootsrv_stats st;
  uint16_t bound_port;
};

typedef struct req {
  size_t len;
  int too_big;
  char body[BOOTSRV_BODY_MAX + 1];
} req;

static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }

static int key_eq(const addrkey *x, const addrkey *y) {
  return x->fam == y->fam && memcmp(x->a, y->a, 16) == 0;
}

/* Same /24 (IPv4) or /48 (IPv6). */
static int prefix_eq(const addrkey *x, const addrkey *y) {
  if (x->fam != y->fam) return 0;
  return memcmp(x->a, y->a, x->fam == 4 ? 3 : 6) == 0;
}

static int key_from_text(const char *s, addrkey *k) {
  memset(k, 0, sizeof *k);
  if (inet_pton(AF_INET, s, k->a) == 1) {
    k->fam = 4;
    return 0;
  }
  struct in6_addr a6; /* aligned, for the macro */
  if (inet_pton(AF_INET6, s, &a6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      k->fam = 4;
      memcpy(k->a, &a6.s6_addr[12], 4);
    } else {
      k->fam = 6;
      memcpy(k->a, &a6, 16);
    }
    return 0;
  }
  return -1;
}

static void key_from_sa(const struct sockaddr *sa, addrkey *k, char *text, size_t cap) {
  memset(k, 0, sizeof *k);
  snprintf(text, cap, "?");
  if (!sa) return;
  if (sa->sa_family == AF_INET) {
    k->fam = 4;
    memcpy(k->a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
      k->fam = 4;
      memcpy(k->a, &a6->s6_addr[12], 4);
    } else {
      k->fam = 6;
      memcpy(k->a, a6, 16);
    }
  } else {
    return;
  }
  inet_ntop(k->fam == 4 ? AF_INET : AF_INET6, k->a, text, (socklen_t)cap);
}

static void client_addr(struct MHD_Connection *mc, addrkey *k, char *text, size_t cap) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  key_from_sa(ci ? ci->client_addr : NULL, k, text, cap);
}

static conn *conn_of(struct MHD_Connection *mc) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

/* One token from the source's bucket, or 0 when it is empty. The table is bounded:
 * a new source takes the slot of the source whose bucket has been full the longest
 * (one that has not posted for burst/rate seconds is indistinguishable from new). */
static int take_token(bootsrv *b, const addrkey *k, uint64_t now) {
  bucket *hit = NULL, *victim = NULL;
  for (size_t i = 0; i < BUCKETS; i++) {
    bucket *x = &b->buckets[i];
    if (x->k.fam && key_eq(&x->k, k)) {
      hit = x;
      break;
    }
    if (!victim || !x->k.fam || (victim->k.fam && x->t < victim->t)) victim = x;
  }
  if (!hit) {
    hit = victim;
    hit->k = *k;
    hit->tokens = b->cfg.post_burst;
    hit->t = now;
  }
  hit->tokens += (double)(now - hit->t) * b->cfg.post_rate / 1000.0;
  if (hit->tokens > b->cfg.post_burst) hit->tokens = b->cfg.post_burst;
  hit->t = now;
  if (hit->tokens < 1.0) return 0;
  hit->tokens -= 1.0;
  return 1;
}

/* Write a complete short answer straight to the socket and shut it down: for
 * connections MHD has not handed to us as a request (too many from one address) or
 * that missed their deadline. MHD then reads end-of-stream and closes its side. Only
 * while no response of MHD's is queued on that connection. */
static void cut(conn *c, unsigned status) {
  char buf[160];
  const char *why = status == MHD_HTTP_REQUEST_TIMEOUT ? "Request Timeout" : "Too Many Requests";
  int n = snprintf(buf, sizeof buf,
                   "HTTP/1.1 %u %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                   status, why);
  if (c->fd >= 0 && n > 0) {
    ssize_t w = send(c->fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w; /* best effort: the close below is what matters */
    shutdown(c->fd, SHUT_RDWR);
  }
  c->answered = 1;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **sock_ctx,
                          enum MHD_ConnectionNotificationCode toe) {
  bootsrv *b = cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    conn *c = calloc(1, sizeof *c);
    if (!c) return; /* untracked: MHD's own limits and idle timeout still apply */
    char text[INET6_ADDRSTRLEN];
    client_addr(mc, &c->k, text, sizeof text);
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    c->fd = fi ? fi->connect_fd : -1;
    c->start = now_ms();
    unsigned same_ip = 0, same_prefix = 0;
    for (conn *o = b->conns; o; o = o->next) {
      if (o->answered) continue; /* already being closed */
      if (key_eq(&o->k, &c->k)) same_ip++;
      if (prefix_eq(&o->k, &c->k)) same_prefix++;
    }
    c->next = b->conns;
    if (b->conns) b->conns->prev = c;
    b->conns = c;
    b->nconns++;
    *sock_ctx = c;
    if (same_ip >= b->cfg.conns_per_ip || same_prefix >= BOOTSRV_CONNS_PER_PREFIX) {
      b->st.limited++;
      cut(c, MHD_HTTP_TOO_MANY_REQUESTS);
    }
  } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    conn *c = *sock_ctx;
    if (!c) return;
    if (c->prev) c->prev->next = c->next;
    else b->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    b->nconns--;
    free(c);
    *sock_ctx = NULL;
  }
}

/* Every SCAN_MS: cut each connection whose request is not answered by its deadline,
 * however slowly its bytes keep coming (MHD's own timeout is per read). */
static void on_scan(uv_timer_t *t) {
  bootsrv *b = t->data;
  uint64_t now = now_ms();
  for (conn *c = b->conns; c; c = c->next) {
    if (!c->answered && now - c->start >= b->cfg.deadline_ms) {
      b->st.timeouts++;
      cut(c, MHD_HTTP_REQUEST_TIMEOUT);
    }
  }
}

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

/* Does e stand for the same peer as the record (id, or ip and port without an id)? */
static int same_record(const entry *e, const char *id, const char *ip, json_int_t port) {
  if (id) return strcasecmp(e->id, id) == 0;
  return !e->id[0] && e->port == port && strcmp(e->ip, ip) == 0;
}

/* Validate an announce body and store it. HTTP status to answer.
 *
 * A record lives under (id, posting address). The address that posted it may refresh
 * and re-point it; another address may not touch it, and adds an entry of its own for
 * the same id only when the record's ip is that address itself (the node then lists
 * both; dialers check the id against the key, D2). A new entry counts against its
 * address's and prefix's bounds; in a full table it replaces the oldest entry of its
 * own address, else of its own prefix, else it is refused: records of other prefixes
 * are never evicted to make room. */
static unsigned store(bootsrv *b, const char *body, size_t len, const addrkey *sk,
                      const char *src) {
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
  addrkey rk;
  int ok = ip && key_from_text(ip, &rk) == 0 && port > 0 && port <= 65535 &&
           (!id || is_hex40(id));
  if (!ok) {
    json_decref(o);
    return MHD_HTTP_BAD_REQUEST;
  }
  uint64_t now = now_ms();
  expire(b, now);
  entry *slot = NULL, *free_slot = NULL, *oldest_src = NULL, *oldest_prefix = NULL;
  size_t from_src = 0, from_prefix = 0, others = 0;
  for (size_t i = 0; i < b->cfg.max_entries; i++) {
    entry *e = &b->tab[i];
    if (!e->used) {
      if (!free_slot) free_slot = e;
      continue;
    }
    int mine = key_eq(&e->srck, sk);
    if (same_record(e, id, ip, port)) {
      if (mine) slot = e;
      else others++;
    }
    if (mine) {
      from_src++;
      if (!oldest_src || e->last_seen < oldest_src->last_seen) oldest_src = e;
    }
    if (prefix_eq(&e->srck, sk)) {
      from_prefix++;
      if (!oldest_prefix || e->last_seen < oldest_prefix->last_seen) oldest_prefix = e;
    }
  }
  unsigned status = MHD_HTTP_OK;
  if (!slot) {
    if (others && !key_eq(&rk, sk)) {
      status = MHD_HTTP_CONFLICT;
    } else if (from_src >= b->cfg.per_source || from_prefix >= b->cfg.per_prefix) {
      status = MHD_HTTP_TOO_MANY_REQUESTS;
    } else if (free_slot) {
      slot = free_slot;
      b->st.entries++;
    } else if (oldest_src || oldest_prefix) {
      slot = oldest_src ? oldest_src : oldest_prefix;
    } else {
      status = MHD_HTTP_SERVICE_UNAVAILABLE;
    }
  }
  if (status != MHD_HTTP_OK) {
    json_decref(o);
    return status;
  }
  memset(slot, 0, sizeof *slot);
  slot->used = 1;
  if (id) {
    for (int i = 0; i < 40; i++) slot->id[i] = (char)(id[i] | 0x20); /* lowercase hex */
  }
  snprintf(slot->ip, sizeof slot->ip, "%s", ip);
  slot->port = (uint16_t)port;
  snprintf(slot->src, sizeof slot->src, "%s", src);
  slot->srck = *sk;
  slot->last_seen = now;
  json_decref(o);
  b->st.announces++;
  if (b->on_announce) b->on_announce(b->ctx, slot->id, slot->ip, slot->port, src);
  return MHD_HTTP_OK;
}

typedef struct ranked {
  const entry *e;
  size_t rank; /* how many newer entries its prefix has */
} ranked;

static int by_prefix_recent(const void *x, const void *y) {
  const ranked *a = x, *c = y;
  if (a->e->srck.fam != c->e->srck.fam) return a->e->srck.fam < c->e->srck.fam ? -1 : 1;
  int m = memcmp(a->e->srck.a, c->e->srck.a, a->e->srck.fam == 4 ? 3 : 6);
  if (m) return m;
  return a->e->last_seen < c->e->last_seen ? 1 : a->e->last_seen > c->e->last_seen ? -1 : 0;
}

static int by_rank_recent(const void *x, const void *y) {
  const ranked *a = x, *c = y;
  if (a->rank != c->rank) return a->rank < c->rank ? -1 : 1;
  return a->e->last_seen < c->e->last_seen ? 1 : a->e->last_seen > c->e->last_seen ? -1 : 0;
}

/* The answer to GET /peers as a JSON array text (malloc'd): the newest record of each
 * client prefix first (newest first among them), then the second newest of each, and
 * so on up to peers_max, so that many records from a few prefixes cannot push every
 * other record out of the answer. */
static char *peers_json(bootsrv *b) {
  expire(b, now_ms());
  ranked *v = malloc(sizeof *v * (b->cfg.max_entries ? b->cfg.max_entries : 1));
  if (!v) return NULL;
  size_t n = 0;
  for (size_t i = 0; i < b->cfg.max_entries; i++)
    if (b->tab[i].used) v[n++] = (ranked){&b->tab[i], 0};
  qsort(v, n, sizeof *v, by_prefix_recent);
  for (size_t i = 1; i < n; i++)
    if (prefix_eq(&v[i].e->srck, &v[i - 1].e->srck)) v[i].rank = v[i - 1].rank + 1;
  qsort(v, n, sizeof *v, by_rank_recent);
  if (n > b->cfg.peers_max) n = b->cfg.peers_max;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < n; i++) {
    json_t *o = json_object();
    if (v[i].e->id[0]) json_object_set_new(o, "id", json_string(v[i].e->id));
    json_object_set_new(o, "ip", json_string(v[i].e->ip));
    json_object_set_new(o, "port", json_integer(v[i].e->port));
    json_array_append_new(arr, o);
  }
  free(v);
  char *s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
  json_decref(arr);
  return s;
}

static enum MHD_Result reply(struct MHD_Connection *mc, unsigned status, const char *text) {
  conn *c = conn_of(mc);
  if (c) {
    if (c->answered) return MHD_NO; /* cut already: the socket is shut */
    c->answered = 1;
  }
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  if (status >= 400) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
  enum MHD_Result rc = MHD_queue_response(mc, status, r);
  MHD_destroy_response(r);
  return rc;
}

static const char *error_text(unsigned st) {
  switch (st) {
    case MHD_HTTP_TOO_MANY_REQUESTS: return "{\"error\":\"too many from this address\"}";
    case MHD_HTTP_CONFLICT: return "{\"error\":\"this id is held by another address\"}";
    case MHD_HTTP_SERVICE_UNAVAILABLE: return "{\"error\":\"table full\"}";
    case MHD_HTTP_CONTENT_TOO_LARGE: return "{\"error\":\"body too large\"}";
    default: return "{\"error\":\"expected {\\\"id\\\",\\\"ip\\\",\\\"port\\\"}\"}";
  }
}

static void count(bootsrv *b, unsigned st) {
  if (st == MHD_HTTP_OK) return;
  b->st.rejected++;
  if (st == MHD_HTTP_TOO_MANY_REQUESTS) b->st.limited++;
  else if (st == MHD_HTTP_CONFLICT) b->st.conflicts++;
  else if (st == MHD_HTTP_SERVICE_UNAVAILABLE) b->st.full++;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_len, void **con_cls) {
  bootsrv *b = cls;
  (void)version;
  int post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
  if (strcmp(url, "/announce") == 0 && post) {
    req *r = *con_cls;
    if (!r) { /* first call: headers only; refuse before reading a body we won't keep */
      char src[INET6_ADDRSTRLEN];
      addrkey sk;
      client_addr(mc, &sk, src, sizeof src);
      if (!take_token(b, &sk, now_ms())) {
        count(b, MHD_HTTP_TOO_MANY_REQUESTS);
        return reply(mc, MHD_HTTP_TOO_MANY_REQUESTS, error_text(MHD_HTTP_TOO_MANY_REQUESTS));
      }
      const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
      if (cl && strtoull(cl, NULL, 10) > BOOTSRV_BODY_MAX) {
        count(b, MHD_HTTP_CONTENT_TOO_LARGE);
        return reply(mc, MHD_HTTP_CONTENT_TOO_LARGE, error_text(MHD_HTTP_CONTENT_TOO_LARGE));
      }
      r = calloc(1, sizeof *r);
      if (!r) return MHD_NO;
      *con_cls = r;
      return MHD_YES;
    }
    if (*upload_len) {
      if (r->len + *upload_len > BOOTSRV_BODY_MAX) r->too_big = 1;
      else memcpy(r->body + r->len, upload, *upload_len), r->len += *upload_len;
      *upload_len = 0;
      return MHD_YES;
    }
    unsigned st = MHD_HTTP_CONTENT_TOO_LARGE;
    if (!r->too_big) {
      char src[INET6_ADDRSTRLEN];
      addrkey sk;
      client_addr(mc, &sk, src, sizeof src);
      st = store(b, r->body, r->len, &sk, src);
    }
    count(b, st);
    return reply(mc, st, st == MHD_HTTP_OK ? "{\"ok\":true}" : error_text(st));
  }
  if (strcmp(url, "/peers") == 0 && get) {
    b->st.gets++;
    char *s = peers_json(b);
    if (!s) return MHD_NO;
    enum MHD_Result rc = reply(mc, MHD_HTTP_OK, s);
    free(s);
    return rc;
  }
  if (strcmp(url, "/announce") == 0 || strcmp(url, "/peers") == 0)
    return reply(mc, MHD_HTTP_METHOD_NOT_ALLOWED, "{\"error\":\"method not allowed\"}");
  return reply(mc, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
}

/* A request is over: the next one on a kept-alive connection gets its own deadline. */
static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  free(*con_cls);
  *con_cls = NULL;
  conn *c = conn_of(mc);
  if (c && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
    c->start = now_ms();
    c->answered = 0;
  }
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
  if (!b->cfg.per_prefix) b->cfg.per_prefix = BOOTSRV_PER_PREFIX;
  if (!(b->cfg.post_rate > 0)) b->cfg.post_rate = BOOTSRV_POST_RATE;
  if (!(b->cfg.post_burst >= 1)) b->cfg.post_burst = BOOTSRV_POST_BURST;
  if (!b->cfg.conns_per_ip) b->cfg.conns_per_ip = BOOTSRV_CONNS_PER_IP;
  if (!b->cfg.conns_max) b->cfg.conns_max = BOOTSRV_CONNS_MAX;
  if (!b->cfg.deadline_ms) b->cfg.deadline_ms = BOOTSRV_DEADLINE_MS;
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
                          /* ours answer 429 at conns_per_ip; MHD's own cap is the
                           * backstop for connections we are still closing */
                          MHD_OPTION_CONNECTION_LIMIT, b->cfg.conns_max,
                          MHD_OPTION_PER_IP_CONNECTION_LIMIT, 2 * b->cfg.conns_per_ip,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)BOOTSRV_IDLE_S,
                          /* request line and headers beyond this: MHD answers 431 */
                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, b,
                          MHD_OPTION_NOTIFY_CONNECTION, on_connection, b,
                          sa ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, sa, MHD_OPTION_END);
  if (!b->d) {
    free(b->tab);
    free(b);
    return -1;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(b->d, MHD_DAEMON_INFO_EPOLL_FD);
  const union MHD_DaemonInfo *pi = MHD_get_daemon_info(b->d, MHD_DAEMON_INFO_BIND_PORT);
  b->bound_port = pi ? pi->port : cfg->port;
  if (!di || uv_poll_init(loop, &b->poll, di->epoll_fd) || uv_timer_init(loop, &b->timer) ||
      uv_timer_init(loop, &b->scan)) {
    MHD_stop_daemon(b->d);
    free(b->tab);
    free(b);
    return -1;
  }
  b->poll.data = b->timer.data = b->scan.data = b;
  uv_poll_start(&b->poll, UV_READABLE, on_poll);
  uv_timer_start(&b->scan, on_scan, SCAN_MS, SCAN_MS);
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
  b->closing_handles = 3;
  uv_close((uv_handle_t *)&b->poll, handle_closed);
  uv_close((uv_handle_t *)&b->timer, handle_closed);
  uv_close((uv_handle_t *)&b->scan, handle_closed);
}
