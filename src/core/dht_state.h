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
#define CYCLE_BUSY_MS 1000          /* a topic's cycle waiting for a free lookup slot */
#define REFRESH_MS 300000           /* lookup of our own id: keeps our neighbourhood fresh */
#define SWEEP_MS 10000
#define RT_MAX_FAILS 2              /* unanswered requests before a node is dropped */
#define RT_PER_IP 2                 /* entries of one bucket from one IP (not loopback) */

/* The guards (PROTOCOL.md 14.6 and 21.4, docs/THREATS.md "DHT"). */
#define AMP_FACTOR 3                /* an unproven source gets at most 3x its bytes back */
#define PROVEN_MAX 512              /* addresses proven to receive (LRU) */
#define PROVEN_TTL_MS 600000        /* a proof lasts 10 minutes after it was last renewed */
#define TOKEN_PERIOD_MS 300000      /* the token secret rotates every 5 min; a token is
                                       accepted for two periods */
#define TOKCACHE_MAX 256            /* tokens other nodes gave us, by their address */
#define REQ_PAD_TO 400              /* filler in a request to a node that gave us no token */
#define RL_MAX 512                  /* rate-limit buckets (addresses and prefixes, LRU) */
#define RL_IP_RATE 50               /* requests per second per source address ... */
#define RL_IP_BURST 200
#define RL_NET_RATE 1000            /* ... and per /24 (IPv4) or /48 (IPv6) */
#define RL_NET_BURST 2000
#define ANN_PER_IP_KEY 4            /* topic records per key from one source address */
#define ANN_PER_NET_KEY 32          /* ... from one /24 or /48 */
#define ANN_PROBATION 32            /* records per key not yet established */
#define ANN_SETTLE_MS 10000         /* a record re-announced this long after its first
                                       announce is established: no newcomer evicts it */
#define STORE_OPEN_MAX 64           /* tokenless STOREs (the references') kept ... */
#define STORE_OPEN_PER_NET 32       /* ... from one /24 or /48 */

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
  int topic; /* LK_TOPIC, LK_STORE: the index in dht.topics it serves; -1: none (left) */
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
  int proven; /* written with a valid token */
} store_entry;

typedef struct ann_entry {
  int used, established;
  uint8_t key[DHT_ID_LEN], id[DHT_ID_LEN];
  sw_addr addr, src;
  uint64_t expires, since;
} ann_entry;

typedef struct proven_entry {
  sw_addr addr;
  uint64_t until;
} proven_entry;

typedef struct rl_entry {
  uint8_t family, bits, ip[16];
  uint32_t milli; /* tokens x 1000 */
  uint64_t last;
} rl_entry;

typedef struct tok_entry {
  sw_addr addr;
  uint8_t token[DHT_TOKEN_LEN];
  uint64_t at;
} tok_entry;

/* One joined topic: its lookup-and-announce cycle and the references' STOREs. */
typedef struct dht_topic {
  int used;
  uint8_t topic[32];
  uint64_t next_cycle, cycle_gap, next_put;
} dht_topic;

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
  int relay;
  uint64_t next_refresh, next_sweep, next_boot;
  dht_topic topics[SW_MAX_TOPICS];
  dht_stats st;
  uint8_t secret[2][32]; /* the token secrets: current, previous */
  uint64_t secret_at;
  proven_entry proven[PROVEN_MAX];
  rl_entry rl[RL_MAX];
  tok_entry toks[TOKCACHE_MAX];
  uint8_t buf[DHT_MAX_DATAGRAM];
  dht_msg scratch;
  uint8_t scratch_key[DHT_ID_LEN]; /* FIND_VALUE's key while its answer is cut */
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
/* Same IP; same /24 (IPv4) or /48 (IPv6). */
int dht_same_ip(const sw_addr *a, const sw_addr *b);
int dht_same_net(const sw_addr *a, const sw_addr *b);
/* addr answered one of our requests: it receives what we send it. */
void dht_proven_add(dht *d, const sw_addr *addr, uint64_t now);
/* The token addr gave us, if any, into m (a request or a STORE to it); else, with pad,
 * REQ_PAD_TO characters of filler so that the answer of a node that does not know us
 * yet can be whole within 3x. */
void dht_token_attach(dht *d, const sw_addr *to, dht_msg *m, int pad);

/* ---- dht_table.c ------------------------------------------------------------- */

/* Nodes in the routing table. */
size_t dht_table_count(const dht *d);
/* 14.6: a node we heard from directly. */
void dht_table_add(dht *d, const uint8_t id[DHT_ID_LEN], const sw_addr *addr, uint64_t now);
/* A request to that node went unanswered; dropped after RT_MAX_FAILS. */
void dht_table_failed(dht *d, const uint8_t id[DHT_ID_LEN]);
/* Up to max known nodes closest to target, closest first. */
size_t dht_table_closest(const dht *d, const uint8_t *target, dht_node *out, size_t max);
/* Keep a STOREd value (14.6) within STORE_MAX, STORE_BYTES, STORE_PER_SRC; a tokenless
 * one (proven 0) only within STORE_OPEN_MAX and STORE_OPEN_PER_NET, never evicting a
 * proven one. SW_OK, or SW_EFULL when refused. */
int dht_table_store_put(dht *d, const uint8_t key[DHT_ID_LEN], const char *v, size_t len,
                        const sw_addr *src, int proven, uint64_t now);
/* The live value stored under key, or NULL. */
const store_entry *dht_table_store_get(const dht *d, const uint8_t key[DHT_ID_LEN],
                                       uint64_t now);
/* Keep a topic-set record within ANN_MAX, ANN_PER_KEY, ANN_PER_SRC, ANN_PER_IP_KEY,
 * ANN_PER_NET_KEY and ANN_PROBATION; established records are never evicted by a new
 * one. SW_OK, or SW_EFULL when refused. */
int dht_table_ann_put(dht *d, const uint8_t key[DHT_ID_LEN], const uint8_t id[DHT_ID_LEN],
                       const sw_addr *addr, const sw_addr *src, uint64_t now);
/* Up to max live records of key (the topic set of a GET_PEERS), established ones
 * first, the longest-held first. */
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

/* Start a lookup of target (LK_STORE: value is STOREd at its end) for topic slot `topic`
 * (-1: none): its index, or SW_EFULL. */
int dht_lookup_start(dht *d, int purpose, const uint8_t *target, const char *value, int topic,
                     uint64_t now);
/* 1 when a lookup for purpose (and, topic >= 0, for that topic slot) is running. */
int dht_lookup_running(const dht *d, int purpose, int topic);
/* The lookup of one cycle of topic slot ti, unless one runs or the table is empty:
 * SW_OK, or SW_EFULL when every lookup slot is taken (try again soon). */
int dht_lookup_cycle(dht *d, int ti, uint64_t now);
/* Topic slot ti was left: its running lookups finish without announcing or meeting. */
void dht_lookup_forget_topic(dht *d, int ti);
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
