/* versioned_values: signed, versioned values between two peers (docs/VALUES.md).
 *
 *   versioned_values [VERSIONS]
 *
 * One process plays both sides: a "writer" swarm and a "reader" swarm on one libuv loop,
 * bound to 127.0.0.1. The reader dials the writer and learns the writer's signing key
 * (here straight from sw_swarm_signing_key; a real program gets it out of band, as it
 * would a public key). Then, VERSIONS times (default 2): the writer stores a new version
 * of "greeting" with sw_swarm_store_signed (seq 0: one more than the last), and the
 * reader fetches it with sw_swarm_fetch_signed and prints the seq, the text and who served
 * it. Every fetch must deliver the version just stored, never an older one: the reader
 * keeps the last version it fetched, and a fetch of a signed key asks the peers anyway.
 * Last, a content-addressed value: stored with sw_swarm_store_content, fetched by its key
 * with sw_swarm_fetch_ex, which checks the hash. Exit 0 when all of it worked, 1 if not
 * (or after 10 s). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <setowire.h>

struct app {
  sw_swarm *writer, *reader;
  uint8_t signer[SW_SIGNING_KEY_LEN]; /* the writer's signing key, as the reader knows it */
  int versions, done_versions, content_ok, closed, failed, finishing, started;
  char content_key[SW_CONTENT_KEY_LEN + 1];
  uv_timer_t deadline;
};

static const char CONTENT[] = "a blob named by its own SHA-256";

static void finish(struct app *a, int failed) {
  if (failed) a->failed = 1;
  if (a->finishing++) return;
  uv_timer_stop(&a->deadline);
  sw_swarm_close(a->reader); /* SW_EV_CLOSE follows for each */
  sw_swarm_close(a->writer);
}

static void on_content(sw_swarm *s, int err, const char *key, const uint8_t *value, size_t len,
                       const uint8_t *peer, void *user) {
  struct app *a = user;
  (void)s, (void)peer;
  if (err) {
    fprintf(stderr, "versioned_values: fetch %s: %s\n", key, sw_strerror(err));
    finish(a, 1);
    return;
  }
  printf("reader: %s -> \"%.*s\"\n", key, (int)len, (const char *)value);
  a->content_ok = len == sizeof CONTENT - 1 && memcmp(value, CONTENT, len) == 0;
  finish(a, !a->content_ok);
}

static void next_version(struct app *a);

static void on_version(sw_swarm *s, int err, const char *key, const uint8_t *value, size_t len,
                       uint64_t seq, const uint8_t *peer, void *user) {
  struct app *a = user;
  (void)s, (void)key;
  if (err) {
    fprintf(stderr, "versioned_values: fetch: %s\n", sw_strerror(err));
    finish(a, 1);
    return;
  }
  char who[32] = "its own copy";
  for (int i = 0; peer && i < SW_WIRE_ID_LEN; i++) snprintf(who + 2 * i, 3, "%02x", peer[i]);
  printf("reader: seq %llu \"%.*s\" (served by %s)\n", (unsigned long long)seq, (int)len,
         (const char *)value, who);
  fflush(stdout);
  if (seq != (uint64_t)a->done_versions + 1) { /* the version just stored, no older one */
    fprintf(stderr, "versioned_values: wanted seq %d\n", a->done_versions + 1);
    finish(a, 1);
    return;
  }
  a->done_versions++;
  next_version(a);
}

/* The writer stores the next version and the reader fetches it; after the last, the
 * content-addressed value. */
static void next_version(struct app *a) {
  int rc;
  if (a->done_versions < a->versions) {
    char text[64];
    int n = snprintf(text, sizeof text, "hello, version %d", a->done_versions + 1);
    rc = sw_swarm_store_signed(a->writer, "greeting", text, (size_t)n, 0);
    if (rc == SW_OK) printf("writer: stored \"%s\"\n", text);
    if (rc == SW_OK)
      rc = sw_swarm_fetch_signed(a->reader, a->signer, "greeting", NULL, on_version, a, NULL);
  } else {
    rc = sw_swarm_store_content(a->writer, CONTENT, sizeof CONTENT - 1, a->content_key);
    if (rc == SW_OK) printf("writer: stored content under %s\n", a->content_key);
    if (rc == SW_OK) rc = sw_swarm_fetch_ex(a->reader, a->content_key, NULL, on_content, a, NULL);
  }
  if (rc) {
    fprintf(stderr, "versioned_values: %s\n", sw_strerror(rc));
    finish(a, 1);
  }
}

static void on_writer(sw_swarm *s, const sw_event *ev, void *user) {
  struct app *a = user;
  (void)s;
  if (ev->type == SW_EV_CLOSE) a->closed++;
}

static void on_reader(sw_swarm *s, const sw_event *ev, void *user) {
  struct app *a = user;
  (void)s;
  if (ev->type == SW_EV_CONNECTION && !a->started++) next_version(a);
  else if (ev->type == SW_EV_CLOSE) a->closed++;
}

static void on_deadline(uv_timer_t *t) {
  struct app *a = t->data;
  fprintf(stderr, "versioned_values: %d of %d versions after 10 s\n", a->done_versions,
          a->versions);
  finish(a, 1);
}

static int make(uv_loop_t *loop, sw_swarm **out, sw_event_cb cb, struct app *a) {
  sw_options o;
  sw_options_init(&o);
  o.bind = "127.0.0.1";
  o.lan = o.dht = o.http = 0; /* it only dials: no discovery */
  o.no_stun = 1;
  o.on_event = cb;
  o.user = a;
  int rc = sw_swarm_new(out, &o, loop);
  if (rc) fprintf(stderr, "versioned_values: %s\n", sw_strerror(rc));
  return rc;
}

int main(int argc, char **argv) {
  struct app a = {.versions = argc > 1 ? atoi(argv[1]) : 2};
  if (argc > 2 || a.versions < 1 || a.versions > 100) {
    fprintf(stderr, "usage: versioned_values [VERSIONS]   (1..100, default 2)\n");
    return 2;
  }
  uv_loop_t loop;
  if (uv_loop_init(&loop)) return 1;
  if (make(&loop, &a.writer, on_writer, &a) || make(&loop, &a.reader, on_reader, &a)) return 1;
  if (sw_swarm_signing_key(a.writer, a.signer)) return 1;
  char to[32];
  snprintf(to, sizeof to, "127.0.0.1:%u", (unsigned)sw_swarm_port(a.writer));
  int rc = sw_swarm_connect(a.reader, to);
  if (rc) {
    fprintf(stderr, "versioned_values: connect: %s\n", sw_strerror(rc));
    return 1;
  }
  uv_timer_init(&loop, &a.deadline);
  a.deadline.data = &a;
  uv_timer_start(&a.deadline, on_deadline, 10000, 0);
  while (a.closed < 2) uv_run(&loop, UV_RUN_ONCE);
  sw_swarm_free(a.reader);
  sw_swarm_free(a.writer);
  uv_close((uv_handle_t *)&a.deadline, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_loop_close(&loop);
  int ok = !a.failed && a.done_versions == a.versions && a.content_ok;
  printf("%s: %d versions, content %s\n", ok ? "ok" : "FAILED", a.done_versions,
         a.content_ok ? "verified" : "missing");
  return ok ? 0 : 1;
}
