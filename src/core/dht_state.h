/* The DHT module's private state, shared by its files and by nothing else (only
 * dht*.c include it).
 *
 * The module is split by concern, one file each (docs/ARCHITECTURE.md):
 *   dht.c         the module: attach, hooks, answering requests, timers, the public
 *                 entry points, sending one message
 *   dht_wire.c    the JSON codec and the keys (declared in dht.h: the fuzz target and
 *                 the tests use them)
 *   dht_table.c   the routing table (k-buckets) and the stored records (STOREd values,
 *                 topic sets) with their caps and expiry
 *   dht_lookup.c  iterative lookups, the RPC slots they and the bootstrap use, replies
 * A function's prefix names its file (the codec and the keys keep the dht_ names dht.h
 * gives them). Every table below has a fixed bound (D17). */
#ifndef SW_CORE_DHT_STATE_H
#define SW_CORE_DHT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "core.h"
#include "dht.h"

/* ---- bounds and timers (ours unless a section is cited) ----------------------- */
#define RPC_MAX 128                 /* outstanding requests */
#define RPC_TIMEOUT_MS 2000         /* 14.6 says 5000; a lookup stuck on a dead node
                                       for 5 s per hop is what we avoid */
#define BOOT_MAX 16                 /* bootstrap addresses kept */
#define BOOT_RETRY_MS 10000         /* re-ask the bootstrap nodes while the table is empty */
#define LOOKUP_MAX 6                /* concurrent lookups */
#define SHORTLIST 48                /* candidates a lookup keeps, closest first */
#define LOOKUP_QUERIES 64           /* queries one lookup may send */
#define STORE_MAX 256               /* STOREd values kept */
#define STORE_BYTES (128u << 10)    /* bytes of STOREd values kept */
#define STORE_PER_SRC 16            /* values kept per source IP */
#define STORE_TTL_MS (30u * 60000u) /* JS re-puts every 18 s; Python's records die */
#define ANN_MAX 1024                /* topic-set records kept */
#define ANN_PER_KEY 64              /* records per topic key */
#define ANN_PER_SRC 32              /* records per source IP */
#define ANN_TTL_MS 180000           /* we re-announce at most every 60 s */
#define ANNOUNCE_TO 8               /* closest answering nodes a topic record goes to
                                       (BitTorrent's announce count) */
#define REPUT_MS 120000             /* the references' STOREs: JS re-puts every 18 s; their
                                       nodes never read them from the network (D24) */
#define CYCLE_FIRST_MS 2000         /* topic lookup + announce: 2, 4, 8 ... 60 s */
#define CYCLE_MAX_MS 60000
#define REFRESH_MS 300000           /* lookup of our own id: keeps our neighbourhood fresh */
#define SWEEP_MS 10000
#define RT_MAX_FAILS 2              /* unanswered requests before a node is dropped */

typedef struct rt_entry {
  uint8_t id[DHT_ID_LEN];
  sw_addr addr;
  uint64_t seen;
  uint8_t fails, used;
} rt_entry;

typedef struct rpc_slot {
  int used, has_id, lookup, type;
  uint32_t id;
  uint8_t nid[DHT_ID_LEN];
  sw_addr to;
  uint64_t expires;
} rpc_slot;

enum { C_NEW = 0, C_ASKED, C_ANSWERED, C_FAILED };
enum { LK_BOOT = 1, LK_TOPIC, LK_STORE };

typedef struct cand {
  uint8_t id[DHT_ID_LEN];
  sw_addr addr;
  int state;
} cand;

typedef struct lookup {
  int used, purpose, qtype, inflight, queries;
  uint8_t target[DHT_ID_LEN];
  cand c[SHORTLIST];
  size_t n;
  char value[DHT_VALUE_MAX + 1]; /* LK_STORE: what to STORE at the end */
} lookup;

typedef struct store_entry {
  uint8_t key[DHT_ID_LEN];
  char *value;
  size_t len;
  sw_addr src;
  uint64_t expires;
} store_entry;

typedef struct ann_entry {
  int used;
  uint8_t key[DHT_ID_LEN], id[DHT_ID_LEN];
  sw_addr addr, src;
  uint64_t expires;
} ann_entry;

typedef struct dht {
  sw_core *core;
  uint8_t self[DHT_ID_LEN];
  rt_entry *buckets[DHT_BUCKETS]; /* K entries each, allocated on first use */
  rpc_slot rpc[RPC_MAX];
  lookup lk[LOOKUP_MAX];
  sw_addr boot[BOOT_MAX];
  size_t nboot;
  store_entry store[STORE_MAX];
  size_t nstore, store_bytes;
  ann_entry *ann; /* ANN_MAX */
  int relay, want_topic;
  uint64_t next_cycle, cycle_gap, next_refresh, next_sweep, next_boot, next_put;
  dht_stats st;
  uint8_t buf[DHT_MAX_DATAGRAM];
  dht_msg scratch;
} dht;

/* <0 when a is closer to t than b (XOR metric, bytewise; 14.6). */
static inline int dht_dist_cmp(const uint8_t *a, const uint8_t *b, const uint8_t *t) {
  for (int i = 0; i < DHT_ID_LEN; i++) {
    uint8_t x = a[i] ^ t[i], y = b[i] ^ t[i];
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

/* ---- dht.c ------------------------------------------------------------------- */

/* Encode m, from our id, and send it to the DHT socket (no reply expected here). */
void dht_send(dht *d, const sw_addr *to, dht_msg *m);

/* ---- dht_table.c ------------------------------------------------------------- */

/* Nodes in the routing table. */
size_t dht_table_count(const dht *d);
/* 14.6: a node we heard from directly. */
void dht_table_add(dht *d, const uint8_t id[DHT_ID_LEN], const sw_addr *addr, uint64_t now);
/* A request to that node went unanswered; dropped after RT_MAX_FAILS. */
void dht_table_failed(dht *d, const uint8_t id[DHT_ID_LEN]);
/* Up to max known nodes closest to target, closest first. */
size_t dht_table_closest(const dht *d, const uint8_t *target, dht_node *out, size_t max);
/* Keep a STOREd value (14.6) within STORE_MAX, STORE_BYTES, STORE_PER_SRC. */
void dht_table_store_put(dht *d, const uint8_t key[DHT_ID_LEN], const char *v, size_t len,
                         const sw_addr *src, uint64_t now);
/* The live value stored under key, or NULL. */
const store_entry *dht_table_store_get(const dht *d, const uint8_t key[DHT_ID_LEN],
                                       uint64_t now);
/* Keep a topic-set record within ANN_MAX, ANN_PER_KEY, ANN_PER_SRC. */
void dht_table_ann_put(dht *d, const uint8_t key[DHT_ID_LEN], const uint8_t id[DHT_ID_LEN],
                       const sw_addr *addr, const sw_addr *src, uint64_t now);
/* Up to max live records of key (the topic set of a GET_PEERS), last slot first. */
size_t dht_table_ann_get(const dht *d, const uint8_t key[DHT_ID_LEN], dht_node *out,
                         size_t max, uint64_t now);
/* Topic-set records held. */
size_t dht_table_ann_count(const dht *d);
/* Drop what expired; the next sweep is due in SWEEP_MS. */
void dht_table_sweep(dht *d, uint64_t now);
/* Bytes the buckets hold. */
size_t dht_table_memory(const dht *d);
/* Free the buckets, the values and the topic sets. */
void dht_table_free(dht *d);

/* ---- dht_lookup.c ------------------------------------------------------------ */

/* Start a lookup of target (LK_STORE: value is STOREd at its end): its index, or
 * SW_EFULL. */
int dht_lookup_start(dht *d, int purpose, const uint8_t *target, const char *value,
                     uint64_t now);
/* 1 when a lookup for purpose is running. */
int dht_lookup_running(const dht *d, int purpose);
/* The topic lookup of one cycle, unless one runs or the table is empty. */
void dht_lookup_cycle(dht *d, uint64_t now);
/* FIND_NODE of our id to every bootstrap address; again in BOOT_RETRY_MS. */
void dht_lookup_bootstrap(dht *d, uint64_t now);
/* in answers one of our requests (14.6 step 2): handled, 1; else 0. */
int dht_lookup_reply(dht *d, const dht_msg *in, const sw_addr *from, uint64_t now);
/* Requests that timed out: their nodes fail, their lookups go on. */
void dht_lookup_timeout(dht *d, uint64_t now);
/* The earlier of t and the next request timeout. */
uint64_t dht_lookup_deadline(const dht *d, uint64_t t);
/* Forget every lookup and request. */
void dht_lookup_close(dht *d);

#endif
