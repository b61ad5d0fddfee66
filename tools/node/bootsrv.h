/* setowire-node's HTTP bootstrap endpoint (PROTOCOL.md 14.5, server side): clients
 * POST /announce {"id","ip","port"} and GET /peers for a JSON array of the freshest
 * records. libmicrohttpd in its epoll mode, driven from the node's libuv loop, so the
 * whole node runs on one thread. Every table is bounded (see bootsrv_config), records
 * are bound to the address that posted them, and every client address and prefix
 * (IPv4 /24, IPv6 /48) is limited in records, POST rate and connections; a request
 * has a whole-request deadline (docs/THREATS.md "HTTP bootstrap"). */
#ifndef SW_NODE_BOOTSRV_H
#define SW_NODE_BOOTSRV_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct bootsrv bootsrv;

typedef struct bootsrv_config {
  const char *bind;     /* numeric address; NULL: all addresses, IPv4 and IPv6 */
  uint16_t port;        /* TCP port, > 0 */
  size_t max_entries;   /* table bound; the oldest entry is replaced when full */
  size_t per_source;    /* entries one client address may hold */
  size_t peers_max;     /* records in one GET /peers answer */
  uint32_t ttl_ms;      /* an entry not announced again for this long is dropped */
  size_t per_prefix;    /* entries one /24 (IPv4) or /48 (IPv6) may hold; 0: default */
  double post_rate;     /* POSTs per second one client address may make; 0: default */
  double post_burst;    /* and in a burst; 0: default */
  unsigned conns_per_ip;  /* connections one client address may hold; 0: default */
  unsigned conns_max;     /* connections in all; 0: default */
  uint32_t deadline_ms;   /* a whole request (headers and body) within this; 0: default */
} bootsrv_config;

#define BOOTSRV_PER_PREFIX 128
#define BOOTSRV_POST_RATE 5.0
#define BOOTSRV_POST_BURST 30.0
#define BOOTSRV_CONNS_PER_IP 8
#define BOOTSRV_CONNS_PER_PREFIX 32
#define BOOTSRV_CONNS_MAX 256
#define BOOTSRV_DEADLINE_MS 5000
#define BOOTSRV_IDLE_S 3      /* no byte at all for this long: the connection is dropped */
#define BOOTSRV_BODY_MAX 2048

typedef struct bootsrv_stats {
  size_t entries;
  uint64_t announces, gets, rejected, expired;
  uint64_t limited;   /* 429: rate, records or connections over a per-address bound */
  uint64_t conflicts; /* 409: an id held by another address */
  uint64_t timeouts;  /* 408: a request not complete by its deadline */
  uint64_t full;      /* 503: table full of other prefixes' records */
} bootsrv_stats;

/* Called for each accepted announcement (for the node's events and logs). */
typedef void (*bootsrv_announce_fn)(void *ctx, const char *id, const char *ip, unsigned port,
                                    const char *from);

/* 0, or -1 when the port cannot be bound (errno-style detail is not kept). */
int bootsrv_start(bootsrv **out, uv_loop_t *loop, const bootsrv_config *cfg,
                  bootsrv_announce_fn on_announce, void *ctx);
uint16_t bootsrv_port(const bootsrv *b);
void bootsrv_get_stats(bootsrv *b, bootsrv_stats *out);
/* Stop serving; `closed` runs once the loop has released the handles, then b is gone. */
void bootsrv_stop(bootsrv *b, void (*closed)(void *arg), void *arg);

#endif
