/* The peer cache (PROTOCOL.md 14.8): bounded with the oldest evicted, filled by new
 * connections, emitted as the `peers` event and through the save callback every 30 s
 * and at close, loaded through the load callback and dialled (30 newest) at join; and
 * the file-backed implementation the tools use, written atomically. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disc_util.h"
#include "peercache.h"
/* The file implementation lives in the runtime library; it is plain C on jansson. */
#include "../../src/runtime/peercache_file.c"

typedef struct saved {
  int calls;
  size_t n;
  sw_peer_entry first;
} saved;

static int save_cb(void *ctx, const sw_peer_entry *list, size_t n) {
  saved *s = ctx;
  s->calls++;
  s->n = n;
  if (n) s->first = list[0];
  return SW_OK;
}

typedef struct loader {
  size_t n;
  sw_peer_entry e[64];
} loader;

static size_t load_cb(void *ctx, sw_peer_entry *out, size_t max) {
  loader *l = ctx;
  size_t n = l->n < max ? l->n : max;
  memcpy(out, l->e, n * sizeof *out);
  return n;
}

static void test_bound_and_order(void **state) {
  (void)state;
  sw_core_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.peer_cache = 1;
  cfg.unix_offset_ms = 1700000000000LL;
  du_node a;
  du_init(&a, &cfg, "a1", "10.0.0.1:1", 0);
  peercache *pc = NULL;
  /* a second cache on the same core, to reach the functions directly */
  assert_int_equal(peercache_attach(a.c, &cfg, 0, &pc), SW_OK);
  uint8_t id[20];
  memset(id, 0xab, sizeof id);
  for (int i = 0; i < PEERCACHE_MAX + 10; i++) {
    sw_addr ad;
    char t[32];
    snprintf(t, sizeof t, "10.%d.%d.1:%d", i / 200, i % 200, 1000 + i);
    addr_parse_hostport(&ad, t);
    peercache_add(pc, id, 8, &ad, (uint64_t)(1000 + i));
  }
  assert_int_equal(peercache_count(pc), PEERCACHE_MAX);
  static sw_peer_entry out[PEERCACHE_MAX];
  size_t n = peercache_list(pc, out, PEERCACHE_MAX);
  assert_int_equal(n, PEERCACHE_MAX);
  /* newest first; the ten oldest were evicted */
  assert_int_equal(out[0].port, 1000 + PEERCACHE_MAX + 9);
  assert_int_equal(out[n - 1].port, 1010);
  assert_int_equal(out[0].last_seen, 1700000000000ULL + 1000 + PEERCACHE_MAX + 9);
  assert_string_equal(out[0].id, "abababababababab");
  /* refreshing an address updates it in place; a full id is not shortened */
  sw_addr ad;
  addr_parse_hostport(&ad, "10.0.20.1:1020");
  peercache_add(pc, id, 20, &ad, 999999);
  peercache_add(pc, id, 8, &ad, 1000000);
  assert_int_equal(peercache_count(pc), PEERCACHE_MAX);
  n = peercache_list(pc, out, 1);
  assert_int_equal(n, 1);
  assert_int_equal(out[0].port, 1020);
  assert_int_equal(strlen(out[0].id), 40);
  /* junk is not stored */
  sw_addr none = {0};
  peercache_add(pc, id, 8, &none, 5);
  peercache_add(pc, NULL, 0, NULL, 5);
  assert_int_equal(peercache_count(pc), PEERCACHE_MAX);
  sw_core_free(a.c);
}

/* Issue 11: what a peer list says (peercache_hint) is bounded, replaces only other
 * hints, and never changes or displaces a peer we met. */
static void test_hints_never_displace(void **state) {
  (void)state;
  sw_core_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.peer_cache = 1;
  du_node a;
  du_init(&a, &cfg, "a1", "10.0.0.1:1", 0);
  peercache *pc = NULL;
  assert_int_equal(peercache_attach(a.c, &cfg, 0, &pc), SW_OK);
  uint8_t met[8], forged[8];
  memset(met, 0x11, sizeof met);
  memset(forged, 0xf0, sizeof forged);
  /* 150 peers met */
  for (int i = 0; i < 150; i++) {
    sw_addr ad;
    char t[32];
    snprintf(t, sizeof t, "10.1.%d.1:%d", i, 1000 + i);
    addr_parse_hostport(&ad, t);
    peercache_add(pc, met, 8, &ad, (uint64_t)(1000 + i));
  }
  /* 2000 entries of forged lists, newer than all of them */
  for (int i = 0; i < 2000; i++) {
    sw_addr ad;
    char t[32];
    snprintf(t, sizeof t, "10.2.%d.%d:%d", i / 250, i % 250, 2000 + i % 60000);
    addr_parse_hostport(&ad, t);
    peercache_hint(pc, forged, 8, &ad, (uint64_t)(100000 + i));
  }
  assert_int_equal(peercache_count(pc), 150 + PEERCACHE_HINTS);
  /* the same lists naming the addresses of peers we met: nothing changes */
  for (int i = 0; i < 150; i++) {
    sw_addr ad;
    char t[32];
    snprintf(t, sizeof t, "10.1.%d.1:%d", i, 1000 + i);
    addr_parse_hostport(&ad, t);
    peercache_hint(pc, forged, 8, &ad, 900000);
  }
  static sw_peer_entry out[PEERCACHE_MAX];
  size_t n = peercache_list(pc, out, PEERCACHE_MAX), mine = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(out[i].id, "1111111111111111") != 0) continue;
    mine++;
    assert_true(out[i].last_seen < 100000); /* not refreshed by a hint */
  }
  assert_int_equal(mine, 150);
  /* peers met keep coming: hints make room for them, never the other way round */
  for (int i = 0; i < 200; i++) {
    sw_addr ad;
    char t[32];
    snprintf(t, sizeof t, "10.3.%d.1:%d", i, 3000 + i);
    addr_parse_hostport(&ad, t);
    peercache_add(pc, met, 8, &ad, (uint64_t)(2000000 + i));
  }
  assert_int_equal(peercache_count(pc), PEERCACHE_MAX);
  n = peercache_list(pc, out, PEERCACHE_MAX);
  for (size_t i = 0; i < n; i++) assert_string_equal(out[i].id, "1111111111111111");
  /* a full table of peers met takes no hint at all */
  sw_addr ad;
  addr_parse_hostport(&ad, "10.9.9.9:9999");
  peercache_hint(pc, forged, 8, &ad, 9000000);
  n = peercache_list(pc, out, PEERCACHE_MAX);
  for (size_t i = 0; i < n; i++) assert_string_equal(out[i].id, "1111111111111111");
  /* a hint later met is a peer met */
  uint8_t other[8];
  memset(other, 0x22, sizeof other);
  sw_core_free(a.c);
  du_init(&a, &cfg, "a1", "10.0.0.1:1", 0);
  assert_int_equal(peercache_attach(a.c, &cfg, 0, &pc), SW_OK);
  peercache_hint(pc, other, 8, &ad, 10);
  peercache_add(pc, other, 8, &ad, 20);
  for (int i = 0; i < 3 * PEERCACHE_MAX; i++) {
    sw_addr h;
    char t[32];
    snprintf(t, sizeof t, "10.4.%d.%d:%d", i / 250, i % 250, 4000 + i);
    addr_parse_hostport(&h, t);
    peercache_hint(pc, forged, 8, &h, (uint64_t)(100 + i));
  }
  n = peercache_list(pc, out, PEERCACHE_MAX);
  assert_int_equal(n, 1 + PEERCACHE_HINTS);
  assert_string_equal(out[n - 1].id, "2222222222222222");
  sw_core_free(a.c);
}

static void test_events_and_save(void **state) {
  (void)state;
  saved sv = {0};
  sw_core_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.peer_cache = 1;
  cfg.save_peers = save_cb;
  cfg.peers_ctx = &sv;
  du_node a, b;
  du_init(&a, &cfg, "a1", "10.0.0.1:1001", 0);
  du_init(&b, NULL, "b2", "10.0.0.2:1002", 0);
  du_node *all[2] = {&a, &b};
  /* empty: nothing emitted at 30 s */
  du_run(all, 2, 1000, PEERCACHE_EMIT_MS, 1000);
  assert_int_equal(a.peers_events, 0);
  assert_int_equal(sv.calls, 0);
  du_connect(&a, &b, PEERCACHE_EMIT_MS);
  du_run(all, 2, PEERCACHE_EMIT_MS + 1000, 2 * PEERCACHE_EMIT_MS, 1000);
  assert_int_equal(a.peers_events, 1);
  assert_int_equal(a.last_npeers, 1);
  assert_string_equal(a.last_peers[0].id, tu_hex(core_identity(b.c)->id, 8));
  assert_string_equal(a.last_peers[0].ip, "10.0.0.2");
  assert_int_equal(a.last_peers[0].port, 1002);
  assert_int_equal(sv.calls, 1);
  assert_int_equal(sv.n, 1);
  assert_string_equal(sv.first.ip, "10.0.0.2");
  /* and at close */
  sw_core_close(a.c, 2 * PEERCACHE_EMIT_MS + 10);
  assert_int_equal(a.peers_events, 2);
  assert_int_equal(sv.calls, 2);
  sw_core_free(a.c);
  sw_core_free(b.c);
}

static void test_load_and_dial(void **state) {
  (void)state;
  static loader l;
  memset(&l, 0, sizeof l);
  /* 40 good entries (older to newer), then junk: bad IP, port 0, odd id */
  for (int i = 0; i < 40; i++) {
    snprintf(l.e[i].ip, sizeof l.e[i].ip, "10.0.3.%d", i + 1);
    l.e[i].port = (uint16_t)(5000 + i);
    l.e[i].last_seen = 1000 + (uint64_t)i;
    snprintf(l.e[i].id, sizeof l.e[i].id, "%016x", i + 1);
  }
  snprintf(l.e[40].ip, sizeof l.e[40].ip, "not-an-ip");
  l.e[40].port = 1;
  l.e[40].last_seen = 99999;
  snprintf(l.e[41].ip, sizeof l.e[41].ip, "10.0.4.1");
  l.e[41].port = 0;
  l.e[41].last_seen = 99999;
  memset(l.e[42].ip, 'x', sizeof l.e[42].ip); /* no NUL: must not be read past */
  l.e[42].port = 7;
  l.n = 43;
  sw_core_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.peer_cache = 1;
  cfg.load_peers = load_cb;
  cfg.peers_ctx = &l;
  du_node a;
  du_init(&a, &cfg, "a1", "10.0.0.1:1001", 0);
  /* nothing dialled before join */
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0xA1, NULL, 0), 0);
  uint8_t topic[32] = {9};
  sw_core_join(a.c, topic);
  sw_core_flush(a.c, 0);
  sw_dgram d[128];
  size_t k = sw_core_out_peek(a.c, d, 128), hellos = 0, oldest = 0;
  for (size_t j = 0; j < k; j++) {
    if (d[j].data[0] != 0xA1) continue;
    hellos++;
    char ip[64];
    addr_format_ip(d[j].to, ip, sizeof ip);
    assert_int_equal(strncmp(ip, "10.0.3.", 7), 0); /* never the junk */
    if (d[j].to->port < 5010) oldest++;
  }
  sw_core_out_consume(a.c, k, 0);
  assert_int_equal(hellos, PEERCACHE_DIAL); /* the 30 newest */
  assert_int_equal(oldest, 0);
  /* a second join does not dial again */
  sw_core_join(a.c, topic);
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0xA1, NULL, 0), 0);
  sw_core_free(a.c);
}

static int count_files(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static void test_file(void **state) {
  (void)state;
  char dir[] = "/tmp/sw-peercache-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256], tmp[300];
  snprintf(path, sizeof path, "%s/peers.json", dir);
  sw_peer_entry in[3], out[8];
  memset(in, 0, sizeof in);
  snprintf(in[0].id, sizeof in[0].id, "e0747b0fc2e5f8562239f8a2df040ff919018325");
  snprintf(in[0].ip, sizeof in[0].ip, "192.168.1.11");
  in[0].port = 40001;
  in[0].last_seen = 1764000000123ULL;
  snprintf(in[1].id, sizeof in[1].id, "579ed6b4c72108eb");
  snprintf(in[1].ip, sizeof in[1].ip, "::1");
  in[1].port = 2;
  in[1].last_seen = 5;
  in[2].port = 3; /* no id */
  snprintf(in[2].ip, sizeof in[2].ip, "10.0.0.3");
  /* missing file: nothing */
  assert_int_equal(sw_peer_cache_file_load(path, out, 8), 0);
  assert_int_equal(sw_peer_cache_file_save(path, in, 3), SW_OK);
  assert_int_equal(count_files(dir), 1); /* the temporary file was renamed */
  memset(out, 0x5a, sizeof out);
  assert_int_equal(sw_peer_cache_file_load(path, out, 8), 3);
  for (int i = 0; i < 3; i++) {
    assert_string_equal(out[i].id, in[i].id);
    assert_string_equal(out[i].ip, in[i].ip);
    assert_int_equal(out[i].port, in[i].port);
    assert_int_equal(out[i].last_seen, in[i].last_seen);
  }
  assert_int_equal(sw_peer_cache_file_load(path, out, 2), 2); /* max is honoured */
  /* a save that cannot complete leaves the old file whole: block the temporary name */
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  assert_int_equal(mkdir(tmp, 0700), 0);
  assert_int_equal(sw_peer_cache_file_save(path, in, 1), SW_EIO);
  assert_int_equal(sw_peer_cache_file_load(path, out, 8), 3);
  rmdir(tmp);
  /* replaced whole by the next save */
  assert_int_equal(sw_peer_cache_file_save(path, in + 1, 1), SW_OK);
  assert_int_equal(sw_peer_cache_file_load(path, out, 8), 1);
  assert_string_equal(out[0].id, "579ed6b4c72108eb");
  /* malformed files load as empty */
  const char *bad[] = {"", "{", "{}", "[1,2]", "[{\"ip\":1,\"port\":2}]",
                       "[{\"ip\":\"1.2.3.4\",\"port\":70000}]"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    FILE *f = fopen(path, "w");
    fputs(bad[i], f);
    fclose(f);
    assert_int_equal(sw_peer_cache_file_load(path, out, 8), 0);
  }
  unlink(path);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bound_and_order), cmocka_unit_test(test_hints_never_displace),
      cmocka_unit_test(test_events_and_save),
      cmocka_unit_test(test_load_and_dial),   cmocka_unit_test(test_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
