/* libcurl multi on libuv (the pattern of curl's multi-uv example): curl tells us which
 * sockets to watch (socket callback -> one uv_poll per socket) and when to call it back
 * (timer callback -> one uv_timer); we tell curl what happened with
 * curl_multi_socket_action and collect finished transfers with curl_multi_info_read.
 * Everything runs on the loop thread; nothing blocks. Bounds: the core has at most
 * HTTP_MAX requests outstanding; each body is capped at HTTP_BODY_MAX. */
#include "http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct http_xfer {
  struct http_xfer *next;
  http_rt *h;
  CURL *easy;
  uint32_t id;
  struct curl_slist *headers;
  uint8_t *body;
  size_t len, cap;
} http_xfer;

typedef struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
  http_rt *h;
} sock_ctx;

struct http_rt {
  uv_loop_t *loop;
  sw_core *core;
  CURLM *multi;
  uv_timer_t timer;
  http_xfer *xfers;
  size_t active;
  int closing;
  int open_handles; /* timer + socket polls being closed */
  unsigned long watch_changes; /* uv_poll_start calls so far (http_rt_watch_changes) */
  void (*closed)(void *);
  void *closed_arg;
};

static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }

static void maybe_closed(http_rt *h) {
  if (!h->closing || h->open_handles) return;
  void (*cb)(void *) = h->closed;
  void *arg = h->closed_arg;
  free(h);
  if (cb) cb(arg);
}

static void sock_closed(uv_handle_t *hd) {
  sock_ctx *s = hd->data;
  http_rt *h = s->h;
  free(s);
  h->open_handles--;
  maybe_closed(h);
}

static void timer_closed(uv_handle_t *hd) {
  http_rt *h = hd->data;
  h->open_handles--;
  maybe_closed(h);
}

static size_t on_body(char *ptr, size_t size, size_t n, void *ud) {
  http_xfer *x = ud;
  size_t len = size * n;
  if (len > HTTP_BODY_MAX - x->len) return 0; /* over the bound: curl fails the transfer */
  if (x->len + len > x->cap) {
    size_t cap = x->cap ? x->cap : 1024;
    while (cap < x->len + len) cap *= 2;
    if (cap > HTTP_BODY_MAX) cap = HTTP_BODY_MAX;
    uint8_t *b = realloc(x->body, cap);
    if (!b) return 0;
    x->body = b;
    x->cap = cap;
  }
  memcpy(x->body + x->len, ptr, len);
  x->len += len;
  return len;
}

static void xfer_unlink(http_rt *h, http_xfer *x) {
  for (http_xfer **p = &h->xfers; *p; p = &(*p)->next)
    if (*p == x) {
      *p = x->next;
      break;
    }
  curl_multi_remove_handle(h->multi, x->easy);
  curl_easy_cleanup(x->easy);
  curl_slist_free_all(x->headers);
  h->active--;
}

/* Report one finished transfer; the core's callback may queue new requests. */
static void xfer_finish(http_rt *h, http_xfer *x, int status, int report) {
  uint32_t id = x->id;
  uint8_t *body = x->body;
  size_t len = x->len;
  xfer_unlink(h, x);
  free(x);
  if (report) sw_core_http_done(h->core, id, status, body, len, now_ms());
  free(body);
}

static void check_done(http_rt *h) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(h->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    char *priv = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
    http_xfer *x = (http_xfer *)priv;
    if (!x) continue;
    long code = 0;
    int status = -1;
    if (m->data.result == CURLE_OK &&
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code > 0)
      status = (int)code;
    xfer_finish(h, x, status, 1);
  }
}

static void on_poll(uv_poll_t *p, int status, int events) {
  sock_ctx *s = p->data;
  http_rt *h = s->h;
  int flags = 0, running;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(h->multi, s->fd, flags, &running);
  check_done(h);
  http_rt_pump(h); /* completions may have queued follow-up requests */
}

static void on_timer(uv_timer_t *t) {
  http_rt *h = t->data;
  int running;
  curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(h);
  http_rt_pump(h);
}

static int curl_timer(CURLM *multi, long timeout_ms, void *ud) {
  http_rt *h = ud;
  (void)multi;
  if (h->closing) return 0;
  if (timeout_ms < 0) uv_timer_stop(&h->timer);
  else uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

static int curl_socket(CURL *easy, curl_socket_t fd, int what, void *ud, void *sockp) {
  http_rt *h = ud;
  sock_ctx *s = sockp;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      uv_poll_stop(&s->poll);
      h->open_handles++;
      uv_close((uv_handle_t *)&s->poll, sock_closed);
      if (!h->closing) curl_multi_assign(h->multi, fd, NULL);
    }
    return 0;
  }
  if (h->closing) return 0;
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->fd = fd;
    s->h = h;
    if (uv_poll_init_socket(h->loop, &s->poll, fd)) {
      free(s);
      return -1;
    }
    s->poll.data = s;
    curl_multi_assign(h->multi, fd, s);
  }
  int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
  uv_poll_start(&s->poll, ev, on_poll);
  h->watch_changes++;
  return 0;
}

unsigned long http_rt_watch_changes(const http_rt *h) { return h ? h->watch_changes : 0; }

int http_rt_new(http_rt **out, uv_loop_t *loop, sw_core *core) {
  static int global_done;
  *out = NULL;
  if (!global_done) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return SW_EIO;
    global_done = 1; /* never cleaned up: other users of libcurl may share it */
  }
  http_rt *h = calloc(1, sizeof *h);
  if (!h) return SW_ENOMEM;
  h->loop = loop;
  h->core = core;
  h->multi = curl_multi_init();
  if (!h->multi || uv_timer_init(loop, &h->timer)) {
    if (h->multi) curl_multi_cleanup(h->multi);
    free(h);
    return SW_EIO;
  }
  h->timer.data = h;
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, curl_socket);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, curl_timer);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  *out = h;
  return SW_OK;
}

static int start(http_rt *h, const sw_http_request *r) {
  http_xfer *x = calloc(1, sizeof *x);
  if (!x) return -1;
  x->h = h;
  x->id = r->id;
  x->easy = curl_easy_init();
  if (!x->easy) {
    free(x);
    return -1;
  }
  CURL *e = x->easy;
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  /* only the schemes discovery uses: a server cannot redirect us to file:// or worse */
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(r->timeout_ms ? r->timeout_ms : 8000));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)(r->timeout_ms && r->timeout_ms < HTTP_CONNECT_MS ? r->timeout_ms
                                                                           : HTTP_CONNECT_MS));
  curl_easy_setopt(e, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
  curl_easy_setopt(e, CURLOPT_USERAGENT, "libsetowire/" SW_VERSION_STRING);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
  if (strcmp(r->method, "POST") == 0) {
    /* the core keeps the body until sw_core_http_done, so curl may point into it */
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
    x->headers = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
    if (r->content_type) {
      char ct[128];
      snprintf(ct, sizeof ct, "Content-Type: %s", r->content_type);
      struct curl_slist *l = curl_slist_append(x->headers, ct);
      if (l) x->headers = l;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
  } else if (strcmp(r->method, "GET") != 0) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
  }
  x->next = h->xfers;
  h->xfers = x;
  h->active++;
  if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
    xfer_unlink(h, x);
    free(x);
    return -1;
  }
  return 0;
}

void http_rt_pump(http_rt *h) {
  sw_http_request r;
  if (!h || h->closing) return;
  while (sw_core_http_take(h->core, &r))
    if (start(h, &r)) sw_core_http_done(h->core, r.id, -1, NULL, 0, now_ms());
}

size_t http_rt_active(const http_rt *h) { return h ? h->active : 0; }

void http_rt_cancel_all(http_rt *h) {
  if (!h) return;
  /* each report may queue new requests; they wait in the core for the next pump */
  while (h->xfers) xfer_finish(h, h->xfers, -1, 1);
}

void http_rt_close(http_rt *h, void (*closed)(void *arg), void *arg) {
  if (!h || h->closing) return;
  while (h->xfers) xfer_finish(h, h->xfers, -1, 0); /* releases curl's sockets too */
  h->closing = 1;
  h->closed = closed;
  h->closed_arg = arg;
  /* Cleaning up now closes curl's cached connections while h is alive: their socket
   * callbacks close the poll handles, which the loop releases before h goes. */
  curl_multi_cleanup(h->multi);
  h->multi = NULL;
  uv_timer_stop(&h->timer);
  h->open_handles++;
  uv_close((uv_handle_t *)&h->timer, timer_closed);
}
