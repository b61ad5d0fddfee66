/* libFuzzer target: the peer cache file (PROTOCOL.md 14.8) as the tools read it at
 * start, and the core's check of what it loads.
 *
 * The whole input is the file's content. It is written to a scratch file (in /dev/shm
 * when there is one: the saver fsyncs) and read with sw_peer_cache_file_load
 * (src/runtime/peercache_file.c, compiled in here: it is plain C on jansson). Besides
 * the sanitizers it checks that at most `max` entries come back, each with
 * NUL-terminated id and ip fields and a port; that what was loaded saves and loads back
 * to the same entries; and that a core handed the entries through load_peers
 * (peercache.c: hex ids, IP text) dials only set addresses, at most PEERCACHE_DIAL at
 * join, and emits at most PEERCACHE_EMIT well-formed entries that save and load again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/runtime/peercache_file.c"
#include "core.h"
#include "peercache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXE 300 /* more than the core keeps, so its bound shows */

static void die(const char *what) {
  fprintf(stderr, "fuzz_peercache: %s\n", what);
  abort();
}

static char g_in[64], g_out[64];
static sw_peer_entry g_e[MAXE], g_e2[MAXE];
static size_t g_n;

static uint64_t g_rng = 0x9e3779b9;
static void frand(void *ctx, uint8_t *b, size_t n) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    b[i] = (uint8_t)(g_rng >> 56);
  }
}

static size_t load_cb(void *ctx, sw_peer_entry *out, size_t max) {
  (void)ctx;
  size_t n = g_n < max ? g_n : max;
  memcpy(out, g_e, n * sizeof *out);
  return n;
}

static int g_saved;
static int save_cb(void *ctx, const sw_peer_entry *list, size_t n) {
  (void)ctx;
  if (n > PEERCACHE_EMIT) die("emitted more than PEERCACHE_EMIT");
  for (size_t i = 0; i < n; i++)
    if (!memchr(list[i].id, 0, sizeof list[i].id) || !memchr(list[i].ip, 0, sizeof list[i].ip) ||
        !list[i].port)
      die("emitted entry malformed");
  if (sw_peer_cache_file_save(g_out, list, n) != SW_OK) die("save of the emitted list");
  if (sw_peer_cache_file_load(g_out, g_e2, MAXE) != n) die("emitted list does not load back");
  g_saved++;
  return SW_OK;
}

static void check_entries(const sw_peer_entry *e, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (!memchr(e[i].id, 0, sizeof e[i].id)) die("id not terminated");
    if (!memchr(e[i].ip, 0, sizeof e[i].ip)) die("ip not terminated");
    if (!e[i].port) die("port 0 loaded");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g_in[0]) {
    /* the saver fsyncs: in memory (tmpfs) that costs nothing and spares the disk */
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_in, sizeof g_in, "%s/sw-fuzz-pc-in.%ld", dir, (long)getpid());
    snprintf(g_out, sizeof g_out, "%s/sw-fuzz-pc-out.%ld", dir, (long)getpid());
  }
  FILE *f = fopen(g_in, "wb");
  if (!f) return 0;
  if (size && fwrite(data, 1, size, f) != size) {
    fclose(f);
    return 0;
  }
  fclose(f);
  memset(g_e, 0xa5, sizeof g_e); /* what the loader does not write must not matter */
  g_n = sw_peer_cache_file_load(g_in, g_e, MAXE);
  if (g_n > MAXE) die("more entries than asked for");
  check_entries(g_e, g_n);
  /* what loads saves, and loads back the same */
  if (sw_peer_cache_file_save(g_out, g_e, g_n) != SW_OK) die("save");
  size_t n2 = sw_peer_cache_file_load(g_out, g_e2, MAXE);
  if (n2 != g_n) die("round trip count");
  for (size_t i = 0; i < g_n; i++)
    if (strcmp(g_e[i].id, g_e2[i].id) || strcmp(g_e[i].ip, g_e2[i].ip) ||
        g_e[i].port != g_e2[i].port || g_e[i].last_seen != g_e2[i].last_seen)
      die("round trip differs");
  /* the core's own checks of a loaded list, then a join that dials the newest */
  sw_core *c;
  sw_core_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed_hex = "c0ffee";
  cfg.random = frand;
  cfg.peer_cache = 1;
  cfg.load_peers = load_cb;
  cfg.save_peers = save_cb;
  cfg.unix_offset_ms = 1700000000000LL;
  cfg.dedup_slots_log2 = 6; /* a core per input: keep it small */
  cfg.max_peers = 4; /* the join only dials (dials are not peers): no 100-slot table */
  cfg.out_buffer_bytes = 256u * 1024u;
  if (sw_core_new(&c, &cfg, 0)) die("sw_core_new");
  uint8_t topic[32];
  memset(topic, 3, sizeof topic);
  sw_core_join(c, topic);
  sw_dgram d[64];
  size_t k, dials = 0;
  sw_core_flush(c, 1);
  while ((k = sw_core_out_peek(c, d, 64)) > 0) {
    for (size_t i = 0; i < k; i++) {
      if (!d[i].to || (d[i].to->family != 4 && d[i].to->family != 6) || !d[i].to->port)
        die("datagram to an unset address");
      dials++;
    }
    sw_core_out_consume(c, k, 1);
  }
  if (dials > PEERCACHE_DIAL * 2) die("more dials at join than PEERCACHE_DIAL");
  g_saved = 0;
  sw_core_close(c, 2);
  sw_core_free(c);
  unlink(g_in);
  unlink(g_out);
  return 0;
}
