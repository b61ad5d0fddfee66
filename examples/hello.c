/* hello: the smallest complete libsetowire program.
 *
 *   hello HOST:PORT [TOPIC [BIND]]
 *
 * Joins TOPIC (default "hello"; hashed with SHA-256 like setowire-cat's TOPIC), dials
 * the peer at HOST:PORT, sends it one line once the session is up, prints the first
 * message it receives, then closes the swarm (peers are told GOAWAY) and exits 0.
 * Ctrl-C (SIGINT) or SIGTERM before that closes it the same way, so the peer hears
 * the goodbye at once, and it exits 1.
 * Try it against `setowire-cat --bind 127.0.0.1 --port 4000 hello`:
 *
 *   ./hello 127.0.0.1:4000 hello 127.0.0.1
 *
 * Discovery is off: the peer is dialled directly. Every call happens on the thread
 * running the loop (here: inside sw_swarm_run and its callbacks). */
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <setowire.h>

struct hello {
  int sent;
  int received;
};

static void on_event(sw_swarm *swarm, const sw_event *ev, void *user) {
  struct hello *h = user;
  switch (ev->type) {
    case SW_EV_CONNECTION:
      if (!h->sent) {
        static const char line[] = "hello from libsetowire";
        int rc = sw_swarm_broadcast(swarm, line, strlen(line));
        if (rc < 0) fprintf(stderr, "hello: send: %s\n", sw_strerror(rc));
        else h->sent = 1;
        fprintf(stderr, "hello: connected to %s\n", ev->addr);
      }
      break;
    case SW_EV_DATA:
      if (!h->received) {
        h->received = 1;
        printf("%.*s\n", (int)ev->len, (const char *)ev->data);
        fflush(stdout);
        sw_swarm_close(swarm); /* SW_EV_CLOSE follows, then sw_swarm_run returns */
      }
      break;
    case SW_EV_CLOSE:
      if (!h->received) fprintf(stderr, "hello: closed before any message arrived\n");
      break;
    default:
      break;
  }
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: hello HOST:PORT [TOPIC [BIND]]\n");
    return 2;
  }
  const char *name = argc > 2 ? argv[2] : "hello";
  uint8_t topic[SW_TOPIC_LEN];
  if (!EVP_Digest(name, strlen(name), topic, NULL, EVP_sha256(), NULL)) return 1;

  struct hello h = {0};
  sw_options o;
  sw_options_init(&o);
  o.bind = argc > 3 ? argv[3] : NULL;
  o.lan = o.dht = o.http = 0;
  o.no_stun = 1; /* it only dials: no STUN server either */
  o.on_event = on_event;
  o.user = &h;

  sw_swarm *swarm = NULL;
  int rc = sw_swarm_new(&swarm, &o, NULL); /* NULL: the swarm owns its loop */
  if (rc) {
    fprintf(stderr, "hello: %s\n", sw_strerror(rc));
    return 1;
  }
  /* A signal closes the swarm cleanly (GOAWAY to the peer) and sw_swarm_run returns. */
  if ((rc = sw_swarm_close_on_signal(swarm, SIGINT)) ||
      (rc = sw_swarm_close_on_signal(swarm, SIGTERM)) || (rc = sw_swarm_join(swarm, topic)) ||
      (rc = sw_swarm_connect(swarm, argv[1]))) {
    fprintf(stderr, "hello: %s\n", sw_strerror(rc));
    sw_swarm_free(swarm);
    return 1;
  }
  rc = sw_swarm_run(swarm);
  sw_swarm_free(swarm);
  return rc == SW_OK && h.received ? 0 : 1;
}
