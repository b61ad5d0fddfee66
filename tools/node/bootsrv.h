/* setowire-node's HTTP bootstrap endpoint (PROTOCOL.md 14.5, server side): clients
 * POST /announce {"id","ip","port"} and GET /peers for a JSON array of the freshest
 * records. libmicrohttpd in its epoll mode, driven from the node's libuv loop, so the
 * whole node runs on one thread. Every table is bounded (see bootsrv_config). */
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
} bootsrv_config;

typedef struct bootsrv_stats {
  size_t entries;
  uint64_t announces, gets, rejected, expired;
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
