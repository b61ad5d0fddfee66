/* The store/fetch module's private state, shared by its files and by nothing else
 * (only sync*.c, and the cache's own unit test, include it).
 *
 * The module is split by concern, one file each (docs/ARCHITECTURE.md):
 *   sync.c        the module: attach, hooks, store, fetch, reassembly of received
 *                 chunks, backend requests and their completions
 *   sync_wire.c   the frame codecs (declared in sync.h: the fuzz targets use them)
 *   sync_cache.c  the in-memory store, an LRU bounded in entries and bytes
 *   sync_serve.c  the serving side: WANT answered, windowed transfers, CHUNK_ACK, HAVE
 *   sync_scope.c  topic-scoped keys, unstore, lifetimes (the expiry heap, the backend
 *                 header that keeps a lifetime across restarts)
 * A function's prefix names its file (the codecs keep the sync_ names sync.h gives
 * them). All tables below have fixed bounds; byte budgets bound what they hold (D17),
 * and docs/API.md "Memory" gives the figures. */
#ifndef SW_CORE_SYNC_STATE_H
#define SW_CORE_SYNC_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "sync.h"
#include "wire.h"

#define CACHE_BUCKETS 4096             /* hash chains of the in-memory store */
#define DEFAULT_CACHE_BYTES (64u << 20) /* ours: the references have no byte bound (D17) */
#define VALUE_MAX SW_VALUE_MAX         /* ours: 16 MiB, below the wire's 58 981 500 */
#define FETCH_MAX 64                   /* keys being fetched at once */
#define WAITERS_MAX 16                 /* concurrent fetches of one key (D30) */
#define ASKED_MAX 16                   /* peers asked per key */
#define ASM_MAX 16                     /* reassemblies at once, per key and peer (D28) */
#define ASM_PER_KEY 4
#define ASM_BUDGET (48u << 20)         /* reassembly bytes (D17) */
#define ASM_IDLE_MS SYNC_TIMEOUT_MS    /* a reassembly with no chunk this long is dropped */
#define TX_MAX 32                      /* outgoing windowed transfers */
#define TX_BUDGET (64u << 20)          /* bytes of values held by transfers */
#define TX_SENDS_MAX 10                /* sends of one chunk before giving up (D19) */
#define TX_LOST_AFTER 3                /* acks of later sends that declare a chunk lost */
#define TX_BUSY_RETRY_MS 20            /* the send queue was full: try again this soon */
#define WANT_RETRY_MS 2000             /* ours: WANT again while nothing arrives */
#define STORAGE_MAX 64                 /* outstanding backend requests */
#define STORAGE_BUDGET (64u << 20)     /* value bytes held for backend writes */
#define HAVE_FRAME_MAX (WIRE_BATCH_MTU - 2) /* a HAVE shares a datagram with others */
#define PEERS_SCAN 128                 /* peers considered for one WANT round */
#define TX_PER_PEER 4                  /* transfer slots one peer may hold (issue 11) */
#define TX_PER_ADDR 8                  /* ... all the peers of one IP address together */
#define TX_PER_PREFIX 16               /* ... all the peers of one /24 (IPv6: /48) together */
#define STREAM_RETRY_MS 2              /* a stream transfer waiting for send room */
#define CAND_MAX 4                     /* complete values held back per fetch */
#define CONFIRM_MS 1000                /* how long an unconfirmed value waits for others */
#define HAVE_SEEN_MAX 1024             /* (key, peer) HAVE announcements remembered */
#define EXPIRY_MAX SW_STORE_TTL_MAX    /* keys with a pending expiry (sync_scope.c) */
#define EXPIRY_BUCKETS 4096
#define EXPIRY_PER_TICK 64             /* keys dropped per timeout at most */
#define EXPIRY_RETRY_MS 50             /* the backend queue was full: try again then */
#define VALUE_WAIT_MS 500              /* signed key: more answers awaited after the first
                                          valid version (docs/VALUES.md) */
#define REFRESH_MAX 8                  /* signed keys refreshed at once on HAVE */
#define REFRESH_TIMEOUT_MS 5000        /* a refresh's own deadline */

/* ---- the in-memory store (sync_cache.c) ----------------------------------- */

typedef struct cent {
  struct cent *prev, *next; /* least recently used first */
  struct cent *hnext;
  uint32_t hash;
  uint8_t *val;
  size_t vlen;
  size_t klen;
  char key[]; /* NUL-terminated */
} cent;

typedef struct sync_cache {
  size_t max, bytes_max; /* bounds: entries, bytes */
  cent *buckets[CACHE_BUCKETS];
  cent *lru_head, *lru_tail;
  size_t n, bytes; /* held: entries, bytes (each entry with its overhead) */
} sync_cache;

/* An empty store; max and bytes_max 0: the defaults. */
void sync_cache_init(sync_cache *c, size_t max, size_t bytes_max);
/* The entry of key k[0..n), or NULL. */
cent *sync_cache_find(sync_cache *c, const uint8_t *k, size_t n);
/* Mark e the most recently used. */
void sync_cache_touch(sync_cache *c, cent *e);
/* Keep a copy of v[0..vlen) under k[0..n), replacing the key's entry and evicting the
 * least recently used ones to stay within both bounds. 0, SW_EMSGSIZE (one entry alone
 * is over the byte bound), SW_ENOMEM. */
int sync_cache_put(sync_cache *c, const uint8_t *k, size_t n, const uint8_t *v, size_t vlen);
/* The first keys of the store, least recently used first, at most max; views into it. */
size_t sync_cache_oldest(const sync_cache *c, sync_key *keys, size_t max);
/* Free every entry. */
void sync_cache_clear(sync_cache *c);

/* Remove k[0..n) from the store; 1 when it was there. */
int sync_cache_remove(sync_cache *c, const uint8_t *k, size_t n);

/* ---- lifetimes (sync_scope.c) ------------------------------------------------
 * Every key that expires (a TTL from sw_core_store_ex, from a fetched value, or an
 * unstored key whose backend row is still to go) has one entry, found by key and kept
 * in a binary heap by expiry: a timeout pops the due ones, EXPIRY_PER_TICK at most. */
typedef struct xent {
  struct xent *hnext;
  uint64_t at;   /* ms: the value is dead from then on */
  uint32_t hash;
  uint32_t pos;  /* index in the heap */
  int removing;  /* unstored: the backend removal is queued already */
  size_t klen;
  char key[];    /* NUL-terminated */
} xent;

typedef struct sync_expiry {
  xent **buckets; /* EXPIRY_BUCKETS chains, allocated with the first entry */
  xent **heap;
  size_t n, cap;
  size_t bytes;   /* entries, chains and heap: for sw_core_memory */
  uint64_t retry_at; /* the backend queue was full: the next pop not before then */
} sync_expiry;

/* ---- fetches, reassembly, transfers, backend requests ---------------------- */

typedef struct waiter {
  sw_core_fetch_cb cb;       /* sw_core_fetch's completion, or */
  sw_core_fetch_done_cb cbx; /* sw_core_fetch_ex's */
  void (*progress)(void *user, const char *key, size_t got, size_t total);
  void *user;
  uint64_t deadline;
  uint32_t id;  /* sw_core_fetch_cancel's handle */
  int canceled; /* ends with SW_ECANCELED at the next timeout */
  uint8_t koff; /* callbacks get key + koff: the caller's key of a scoped wire key */
} waiter;

/* Per peer asked for a fetch. */
enum { A_STREAM = 1, /* asked on its extended session's stream (asked once: reliable) */
       A_NONE = 2,   /* it said it holds no value for the key */
       A_GAVE = 4 }; /* it delivered a complete value */

/* A complete value held back until confirmed (issue 11 item 5). */
typedef struct candidate {
  uint8_t digest[32];
  uint8_t *val;
  size_t len;
  uint8_t holders[ASKED_MAX][8];
  int nholders;
  int announced; /* one of its holders announced the key with HAVE */
  uint64_t at;
  uint64_t expires; /* 0, or when the value dies (the earliest its holders said) */
  int local;     /* signed key: the version held here, the floor (sync_value.h) */
} candidate;

enum { F_FREE = 0, F_BACKEND, F_NETWORK, F_READY };

typedef struct fetch {
  int state;
  char key[SYNC_KEY_MAX + 1];
  size_t klen;
  waiter w[WAITERS_MAX];
  int nw;
  uint8_t *ready; /* F_READY: the value, delivered at the next timeout */
  size_t ready_len;
  uint64_t next_want;
  uint8_t asked[ASKED_MAX][8];
  uint8_t aflag[ASKED_MAX]; /* A_* */
  int nasked;
  candidate cand[CAND_MAX];
  int ncand;
  uint64_t decide_at; /* ncand > 0: choose among the candidates then */
  int scoped;         /* the key is scoped to topic: SW_EV_SYNC shows key + koff */
  uint8_t koff;
  uint8_t topic[32];
  uint8_t vkind;      /* SV_PLAIN, SV_SIGNED, SV_CONTENT (sync_value.h) */
  uint8_t refresh;    /* a signed key's refresh on HAVE, no application waiter yet */
} fetch;

typedef struct assembly {
  int used;
  int f; /* index in fetches */
  uint8_t wire[8];
  uint16_t count, got;
  size_t last_len;
  uint8_t *data, *have;
  uint64_t last_rx;
  int stream;          /* from a stream VALUE: data holds total bytes, got_bytes so far */
  size_t total, got_bytes;
  uint64_t expires;    /* from a VALUE_TTL: when the value dies; 0 none */
} assembly;

typedef struct inflight {
  uint16_t idx;
  uint32_t seq;
  uint64_t due, sent_at;
} inflight;

typedef struct transfer {
  int used;
  uint8_t key[SYNC_KEY_MAX];
  size_t klen;
  uint8_t wire[8];
  uint8_t *val;
  size_t vlen;
  uint16_t count, next_new, nacked;
  uint8_t *acked, *sends;
  inflight fl[SYNC_WINDOW];
  int nfl;
  uint32_t seq;
  uint64_t srtt; /* smoothed round trip of chunks sent once (Karn), 0 until known */
  uint64_t safety, busy_until;
  int stream;    /* on the peer's extended-session stream: no window, no acks */
  size_t sent;   /* stream: value bytes queued so far */
  sw_addr addr;  /* the peer's address when the transfer began (per-address cap) */
  uint64_t expires; /* stream: the value's end of life, sent as VALUE_TTL; 0 none */
} transfer;

typedef struct sreq {
  int state; /* 0 free, 1 queued, 2 taken */
  uint32_t id;
  int op;
  char key[SYNC_KEY_MAX + 1];
  uint8_t *value;
  size_t len;
  int serve; /* GET for a peer's WANT: serve wire when found */
  int stream; /* that WANT came on the peer's stream: answer there (NONE when missing) */
  int wrapped; /* SET: value carries the lifetime header (sync_req_lifetime) */
  uint8_t wire[8];
} sreq;

typedef struct sync_state {
  sw_core *c;
  int backend, closing;
  sync_cache cache;
  sync_expiry exp;
  int64_t unix_offset; /* add to now for Unix ms: lifetimes kept in the backend */
  fetch fetches[FETCH_MAX];
  assembly asms[ASM_MAX];
  size_t asm_bytes;
  transfer tx[TX_MAX];
  size_t tx_bytes;
  sreq reqs[STORAGE_MAX];
  size_t req_bytes;
  uint32_t next_req_id;
  uint64_t now;
  sync_stats st;
  uint32_t next_waiter_id;
  struct { uint32_t khash; uint8_t wire[8]; } have_seen[HAVE_SEEN_MAX];
  size_t have_next;
  uint8_t frame[8 + SYNC_KEY_MAX + SYNC_CHUNK_SIZE];
  uint8_t smsg[SYNC_STREAM_HDR + SYNC_STREAM_PIECE];
} sync_state;

/* ---- sync.c ----------------------------------------------------------------- */

/* Queue a backend request (a SET keeps a copy of v); NULL without a backend, when the
 * table is full or a SET would pass STORAGE_BUDGET. */
sreq *sync_req_new(sync_state *s, int op, const uint8_t *k, size_t n, const uint8_t *v,
                   size_t vlen);

/* ---- sync_scope.c: scoped keys and lifetimes ---------------------------------- */

/* The wire key of key under scope (NULL: global) into out (SYNC_KEY_MAX + 1 bytes):
 * its length, and in *koff where the caller's key starts in it, and in topic (when
 * not NULL) the topic, *scoped 1. SW_EINVAL: empty or too long, or no topic. */
int sync_scope_key(sw_core *c, const char *key, const sw_core_scope *scope, char *out,
                   size_t *outlen, uint8_t *koff, uint8_t topic[32], int *scoped);
/* When k dies (ms), or 0 when it does not expire. */
uint64_t sync_expiry_get(const sync_state *s, const uint8_t *k, size_t n);
/* Whether k is dead at now: expired, or unstored and its backend row not yet gone. */
int sync_expiry_dead(const sync_state *s, const uint8_t *k, size_t n, uint64_t now);
/* k dies at `at` (0: it does not expire any more). SW_OK, SW_EFULL, SW_ENOMEM. */
int sync_expiry_set(sync_state *s, const uint8_t *k, size_t n, uint64_t at);
/* Drop what is due (bounded work), from memory and the backend. */
void sync_expiry_timeout(sync_state *s, uint64_t now);
/* The earlier of d and the next due expiry. */
uint64_t sync_expiry_deadline(const sync_state *s, uint64_t d);
void sync_expiry_clear(sync_state *s);
/* A backend request that removes k (a SET of length 0), replacing a queued SET of k
 * not yet taken. 0, or SW_EAGAIN when the table is full. */
int sync_req_remove(sync_state *s, const uint8_t *k, size_t n);
/* Put the lifetime header before the value of a fresh SET: at (ms, our clock) when the
 * value dies, 0 none (a value that begins as a header does is stored behind one, so
 * that it is never taken for a header). 0 or SW_ENOMEM. */
int sync_req_lifetime(sync_state *s, sreq *r, uint64_t at);
/* Whether v[0..len) needs that header even without a lifetime. */
int sync_value_looks_wrapped(const uint8_t *v, size_t len);
/* A value the backend gave for k: its header (if any) taken off (v, len) and its
 * lifetime restored. 1 when it is alive; 0 when it had expired (its removal queued). */
int sync_backend_value(sync_state *s, const uint8_t *k, size_t n, const uint8_t **v, size_t *len,
                       uint64_t now);

/* ---- sync_serve.c ------------------------------------------------------------ */

/* Send the value of k to wire: one small CHUNK, or a windowed transfer (11.4); with
 * stream, VALUE and PIECEs on the peer's extended-session stream (PROTOCOL.md 21.10). */
void sync_serve_value(sync_state *s, const uint8_t wire[8], const uint8_t *k, size_t n,
                      const uint8_t *v, size_t vlen, int stream);
/* A peer's WANT (11.2, or a stream WANT): served from memory, else asked of the backend.
 * A stream WANT for a value held nowhere is answered NONE. */
void sync_serve_want(sync_state *s, const uint8_t wire[8], const uint8_t *k, size_t n,
                     int stream);
/* A stream CANCEL: the transfer of k to wire ends. */
void sync_serve_cancel(sync_state *s, const uint8_t wire[8], const uint8_t *k, size_t n);
/* Whether wire may be served at all: the one place that says which peers are validated
 * (issue 11 item 5), so that a stronger notion can replace it. */
int sync_serve_allowed(sync_state *s, const uint8_t wire[8], int stream);
/* FNV-1a of a key (the HAVE memory). */
uint32_t sync_key_hash(const uint8_t *k, size_t n);
/* A peer's CHUNK_ACK (11.4) for one of our transfers. */
void sync_serve_ack(sync_state *s, const uint8_t wire[8], const sync_frame *fr);
/* HAVE keys[0..n) to wire (11.1), when at least one key fits. */
void sync_serve_have(sync_state *s, const uint8_t wire[8], const sync_key *keys, size_t n);
/* The summary a new peer gets (11.1): the first keys of the store. */
void sync_serve_summary(sync_state *s, const uint8_t wire[8]);
/* The peer is gone: its transfers end. */
void sync_serve_disconnect(sync_state *s, const uint8_t wire[8]);
/* Transfers' timers: safety, retransmissions, a window to refill. */
void sync_serve_timeout(sync_state *s, uint64_t now);
/* The earlier of d and the transfers' next deadline. */
uint64_t sync_serve_deadline(const sync_state *s, uint64_t d);
/* Drop every transfer. */
void sync_serve_close(sync_state *s);

#endif
