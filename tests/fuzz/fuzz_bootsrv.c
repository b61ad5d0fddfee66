/* libFuzzer target: setowire-node's HTTP bootstrap table (tools/node/bootsrv.c,
 * PROTOCOL.md 14.5): the POST /announce body as the node parses and stores it, from
 * several client addresses, and the GET /peers answer built from what was stored.
 *
 * The file is compiled in whole; no HTTP daemon is started: the table is driven through
 * its own functions (store, peers_json). The input is a script of records
 * op(1) len(2, big-endian) body(len):
 *   op & 0x80   GET /peers: the answer must be a JSON array of at most peers_max
 *               objects, each with an ip string, a port in 1..65535 and no id or a
 *               40-character lowercase hex one
 *   otherwise   POST /announce of body (at most BOOTSRV_BODY_MAX bytes, as the daemon
 *               reads) from client address kSources[op & 7]: the status must be one the
 *               node answers with, and after it no client address may hold more than
 *               per_source entries nor any prefix more than per_prefix
 * Bodies are copied to buffers of their exact size, so reads past them show. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/node/bootsrv.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 24
#define PER_SOURCE 4
#define PER_PREFIX 8
#define PEERS_MAX 10

static const char *const kSources[8] = {"10.0.0.1",    "10.0.0.2",    "10.0.1.1", "::1",
                                        "2001:db8::1", "2001:db8::2", "::ffff:10.0.0.1",
                                        "192.168.5.5"};

static void die(const char *what) {
  fprintf(stderr, "fuzz_bootsrv: %s\n", what);
  abort();
}

/* Per client address and per prefix, the entries held. Both relations depend on the
 * address alone, so the entries are grouped by address first (at most 8 distinct here):
 * O(entries x addresses), not O(entries^2) for every record. */
static void check_bounds(const bootsrv *b) {
  addrkey keys[MAX_ENTRIES];
  size_t count[MAX_ENTRIES], nkeys = 0, used = 0;
  for (size_t i = 0; i < b->cfg.max_entries; i++) {
    const entry *e = &b->tab[i];
    if (!e->used) continue;
    used++;
    if (!e->port) die("an entry without a port");
    size_t k = 0;
    while (k < nkeys && !key_eq(&keys[k], &e->srck)) k++;
    if (k == nkeys) {
      keys[nkeys] = e->srck;
      count[nkeys++] = 0;
    }
    count[k]++;
  }
  for (size_t k = 0; k < nkeys; k++) {
    size_t prefix = 0;
    for (size_t j = 0; j < nkeys; j++)
      if (prefix_eq(&keys[j], &keys[k])) prefix += count[j];
    if (count[k] > b->cfg.per_source) die("a client address holds more than per_source");
    if (prefix > b->cfg.per_prefix) die("a prefix holds more than per_prefix");
  }
  if (used != b->st.entries) die("entry count out of step");
}

static void check_peers(bootsrv *b) {
  char *s = peers_json(b);
  if (!s) die("no /peers answer");
  json_error_t err;
  json_t *a = json_loads(s, 0, &err);
  free(s);
  if (!json_is_array(a)) die("/peers is not an array");
  if (json_array_size(a) > b->cfg.peers_max) die("/peers longer than peers_max");
  size_t i;
  json_t *o;
  json_array_foreach(a, i, o) {
    const char *ip = json_string_value(json_object_get(o, "ip"));
    json_t *port = json_object_get(o, "port"), *id = json_object_get(o, "id");
    if (!ip || !json_is_integer(port) || json_integer_value(port) < 1 ||
        json_integer_value(port) > 65535)
      die("/peers record without ip or port");
    if (id) {
      const char *t = json_string_value(id);
      if (!t || strlen(t) != 40 || strspn(t, "0123456789abcdef") != 40)
        die("/peers id not 40 lowercase hex");
    }
  }
  json_decref(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static addrkey keys[8];
  static int ready;
  if (!ready) {
    for (int i = 0; i < 8; i++)
      if (key_from_text(kSources[i], &keys[i])) die("source address");
    ready = 1;
  }
  bootsrv *b = calloc(1, sizeof *b);
  if (!b) return 0;
  b->cfg.max_entries = MAX_ENTRIES;
  b->cfg.per_source = PER_SOURCE;
  b->cfg.per_prefix = PER_PREFIX;
  b->cfg.peers_max = PEERS_MAX;
  b->cfg.ttl_ms = 600000;
  b->tab = calloc(MAX_ENTRIES, sizeof *b->tab);
  if (!b->tab) {
    free(b);
    return 0;
  }
  size_t off = 0;
  while (off + 3 <= size) {
    uint8_t op = data[off];
    size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
    off += 3;
    if (len > size - off) len = size - off;
    if (op & 0x80) {
      check_peers(b);
    } else if (len <= BOOTSRV_BODY_MAX) {
      char *body = malloc(len ? len : 1);
      if (!body) break;
      memcpy(body, data + off, len);
      unsigned st = store(b, body, len, &keys[op & 7], kSources[op & 7]);
      free(body);
      if (st != MHD_HTTP_OK && st != MHD_HTTP_BAD_REQUEST && st != MHD_HTTP_CONFLICT &&
          st != MHD_HTTP_TOO_MANY_REQUESTS && st != MHD_HTTP_SERVICE_UNAVAILABLE)
        die("unexpected status");
      check_bounds(b);
    }
    off += len;
  }
  check_peers(b);
  free(b->tab);
  free(b);
  return 0;
}
