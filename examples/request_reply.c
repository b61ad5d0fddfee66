/* request_reply: a request and its reply between two peers, each sent to one peer
 * alone (sw_swarm_send with SW_SEND_UNICAST: never flooded on to anyone else).
 *
 *   request_reply [COUNT]
 *
 * One process plays both sides: a "server" swarm and a "client" swarm on one libuv loop,
 * bound to 127.0.0.1, with the extended session on (a unicast needs it). The client dials
 * the server and sends COUNT requests (default 3) "add A B"; the server answers each
 * with "sum S" to the peer that asked, and prints who the author was (SW_EV_DATA
 * `origin`). Once every reply is in, both swarms close and the program exits 0; after
 * 10 s without that it exits 1.
 *
 * Right after SW_EV_CONNECTION the extended session may still be in its handshake: a
 * unicast then returns SW_EAGAIN, and SW_EV_WRITABLE says when to try again. Every call
 * happens on the thread running the loop (here: inside uv_run and its callbacks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <setowire.h>

struct app {
  sw_swarm *server, *client;
  uint8_t server_id[SW_WIRE_ID_LEN]; /* the client's one peer */
  int connected;                     /* the client has its session with the server */
  int count, sent, replies, closed, failed, finishing;
  uv_timer_t deadline;
};

static void hex(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void finish(struct app *a, int failed) {
  if (failed) a->failed = 1;
  if (a->finishing++) return;
  uv_timer_stop(&a->deadline);
  sw_swarm_close(a->client); /* SW_EV_CLOSE follows for each */
  sw_swarm_close(a->server);
}

/* Send the requests not sent yet; stop at SW_EAGAIN (SW_EV_WRITABLE resumes). */
static void send_requests(struct app *a) {
  while (a->connected && a->sent < a->count) {
    char req[32];
    int n = snprintf(req, sizeof req, "add %d %d", a->sent + 1, 10 * (a->sent + 1));
    int rc = sw_swarm_send(a->client, a->server_id, req, (size_t)n, SW_SEND_UNICAST);
    if (rc == SW_EAGAIN) return;
    if (rc < 0) {
      fprintf(stderr, "request_reply: request: %s\n", sw_strerror(rc));
      finish(a, 1);
      return;
    }
    printf("client: sent \"%s\"\n", req);
    a->sent++;
  }
}

static void on_server(sw_swarm *s, const sw_event *ev, void *user) {
  struct app *a = user;
  if (ev->type == SW_EV_CLOSE) {
    a->closed++;
  } else if (ev->type == SW_EV_DATA) {
    char req[64], who[2 * SW_ID_LEN + 1] = "unknown", rep[32];
    int x, y;
    snprintf(req, sizeof req, "%.*s", (int)(ev->len < 63 ? ev->len : 63), (const char *)ev->data);
    if (ev->origin) hex(ev->origin, SW_ID_LEN, who);
    printf("server: got \"%s\" from %s (%s)\n", req, who,
           ev->origin_direct ? "sealed by its author" : "relayed");
    if (sscanf(req, "add %d %d", &x, &y) != 2) return;
    int n = snprintf(rep, sizeof rep, "sum %d", x + y);
    /* the reply goes back to the peer that asked, to it alone */
    int rc = sw_swarm_send(s, ev->peer, rep, (size_t)n, SW_SEND_UNICAST);
    if (rc < 0) {
      fprintf(stderr, "request_reply: reply: %s\n", sw_strerror(rc));
      finish(a, 1);
    }
  }
}

static void on_client(sw_swarm *s, const sw_event *ev, void *user) {
  struct app *a = user;
  (void)s;
  switch (ev->type) {
    case SW_EV_CONNECTION:
      memcpy(a->server_id, ev->peer, SW_WIRE_ID_LEN);
      a->connected = 1;
      send_requests(a);
      break;
    case SW_EV_WRITABLE:
      send_requests(a);
      break;
    case SW_EV_DATA:
      printf("client: reply \"%.*s\"\n", (int)ev->len, (const char *)ev->data);
      fflush(stdout);
      if (++a->replies == a->count) finish(a, 0);
      break;
    case SW_EV_CLOSE:
      a->closed++;
      break;
    default:
      break;
  }
}

static void on_deadline(uv_timer_t *t) {
  struct app *a = t->data;
  fprintf(stderr, "request_reply: %d of %d replies after 10 s\n", a->replies, a->count);
  finish(a, 1);
}

static int make(uv_loop_t *loop, sw_swarm **out, sw_event_cb cb, struct app *a) {
  sw_options o;
  sw_options_init(&o);
  o.bind = "127.0.0.1";
  o.lan = o.dht = o.http = 0; /* it only dials: no discovery */
  o.no_stun = 1;
  o.transport = 1; /* the extended session: what a unicast needs */
  o.on_event = cb;
  o.user = a;
  int rc = sw_swarm_new(out, &o, loop);
  if (rc) fprintf(stderr, "request_reply: %s\n", sw_strerror(rc));
  return rc;
}

int main(int argc, char **argv) {
  struct app a = {.count = argc > 1 ? atoi(argv[1]) : 3};
  if (argc > 2 || a.count < 1 || a.count > 1000) {
    fprintf(stderr, "usage: request_reply [COUNT]   (1..1000, default 3)\n");
    return 2;
  }
  uv_loop_t loop;
  if (uv_loop_init(&loop)) return 1;
  if (make(&loop, &a.server, on_server, &a) || make(&loop, &a.client, on_client, &a)) return 1;
  char to[32];
  snprintf(to, sizeof to, "127.0.0.1:%u", (unsigned)sw_swarm_port(a.server));
  int rc = sw_swarm_connect(a.client, to);
  if (rc) {
    fprintf(stderr, "request_reply: connect: %s\n", sw_strerror(rc));
    return 1;
  }
  uv_timer_init(&loop, &a.deadline);
  a.deadline.data = &a;
  uv_timer_start(&a.deadline, on_deadline, 10000, 0);
  /* Run until both swarms have closed (each says SW_EV_CLOSE). */
  while (a.closed < 2) uv_run(&loop, UV_RUN_ONCE);
  sw_swarm_free(a.client);
  sw_swarm_free(a.server);
  uv_close((uv_handle_t *)&a.deadline, NULL);
  uv_run(&loop, UV_RUN_NOWAIT); /* let the close complete */
  uv_loop_close(&loop);
  int ok = !a.failed && a.replies == a.count;
  printf("%s: %d requests, %d replies\n", ok ? "ok" : "FAILED", a.count, a.replies);
  return ok ? 0 : 1;
}
