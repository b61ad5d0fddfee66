/* setowire-node's STUN server: the core's stunsrv_answer (src/core/stunsrv.h) on libuv
 * UDP sockets, one per (IP, port) pair the configuration has (primary and alternate IP
 * crossed with primary and alternate port, RFC 5780), with a per-source token bucket so
 * the node cannot be used to reflect a flood at a spoofed address. */
#ifndef SW_NODE_STUNSRV_RT_H
#define SW_NODE_STUNSRV_RT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Answers one source IP gets: STUNRT_RATE a second, in bursts of up to STUNRT_BURST; a
 * table of STUNRT_SOURCES buckets, the least recently used replaced when full. All
 * sources together get at most STUNRT_TOTAL_RATE a second (burst STUNRT_TOTAL_BURST),
 * so a flood spoofing many addresses is bounded too: with answers of at most 124 bytes
 * (stunsrv.h), that is under 0.5 MB/s leaving the node however it is asked. */
#define STUNRT_RATE 20
#define STUNRT_BURST 40
#define STUNRT_SOURCES 1024
#define STUNRT_TOTAL_RATE 2000
#define STUNRT_TOTAL_BURST 4000

typedef struct stunrt stunrt;

typedef struct stunrt_config {
  const char *bind;   /* numeric primary address; NULL or unspecified: all, IPv4 and IPv6 */
  const char *alt_ip; /* numeric alternate address (needs a specific bind); NULL: none */
  uint16_t port;      /* primary port, > 0 */
  uint16_t alt_port;  /* alternate port (needs a specific bind); 0: none */
} stunrt_config;

typedef struct stunrt_stats {
  uint64_t received; /* datagrams */
  uint64_t answered; /* answers sent */
  uint64_t dropped;  /* datagrams not answered: not a well-formed Binding request */
  uint64_t limited;  /* answers withheld by the rate limit */
  uint64_t unsent;   /* answers the socket did not take */
  size_t sources;    /* rate-limit buckets in use */
} stunrt_stats;

/* Check a configuration without binding anything: 0, or -1 with a sentence in err. */
int stunrt_check(const stunrt_config *cfg, char *err, size_t errlen);
/* Bind every socket and start answering: 0, or -1 with a sentence in err (a socket that
 * cannot be bound; nothing is left open then once the loop has run). */
int stunrt_start(stunrt **out, uv_loop_t *loop, const stunrt_config *cfg, char *err,
                 size_t errlen);
void stunrt_get_stats(const stunrt *s, stunrt_stats *out);
/* Stop serving; `closed` runs once the loop has released the sockets, then s is gone. */
void stunrt_stop(stunrt *s, void (*closed)(void *arg), void *arg);

#endif
