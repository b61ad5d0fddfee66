/* Command-line options shared by the tools that run one swarm (setowire-cat,
 * setowire-chat): where to bind, whom to dial, which discovery to use. Each tool keeps
 * its own getopt_long loop and hands the codes below to netopts_parse. */
#ifndef SW_TOOLS_NETOPTS_H
#define SW_TOOLS_NETOPTS_H

#include <getopt.h>

#include "setowire.h"

#define NETOPTS_MAX_CONNECT 64

/* getopt_long codes, far from any tool's own codes and from ASCII letters. */
enum {
  NETOPT_PORT = 1000, NETOPT_BIND, NETOPT_CONNECT, NETOPT_MAX_PEERS, NETOPT_NO_LAN,
  NETOPT_NO_DHT, NETOPT_NO_STUN, NETOPT_NO_HTTP, NETOPT_LAN_ADDR, NETOPT_PEER_CACHE,
  NETOPT_BOOT_HTTP, NETOPT_PIPING, NETOPT_NO_DEFAULTS, NETOPT_BOOTSTRAP, NETOPT_STUN, NETOPT_RELAY,
  NETOPT_TRANSPORT,
  /* peer lifecycle (sw_options: dial_timeout_ms ... keepalive_ms) */
  NETOPT_DIAL_TIMEOUT, NETOPT_DIAL_RETRIES, NETOPT_DIAL_RETRY, NETOPT_PEER_TIMEOUT,
  NETOPT_KEEPALIVE, NETOPT_CONGESTION
};

/* The struct option entries, to place inside a tool's table. */
#define NETOPTS_LONG                                                                       \
  {"port", required_argument, 0, NETOPT_PORT}, {"bind", required_argument, 0, NETOPT_BIND}, \
  {"connect", required_argument, 0, NETOPT_CONNECT},                                       \
  {"max-peers", required_argument, 0, NETOPT_MAX_PEERS},                                   \
  {"no-lan", no_argument, 0, NETOPT_NO_LAN}, {"no-dht", no_argument, 0, NETOPT_NO_DHT},    \
  {"no-stun", no_argument, 0, NETOPT_NO_STUN}, {"no-http", no_argument, 0, NETOPT_NO_HTTP}, \
  {"lan-addr", required_argument, 0, NETOPT_LAN_ADDR},                                     \
  {"peer-cache", required_argument, 0, NETOPT_PEER_CACHE},                                 \
  {"bootstrap-http", required_argument, 0, NETOPT_BOOT_HTTP},                              \
  {"piping", required_argument, 0, NETOPT_PIPING},                                         \
  {"no-default-servers", no_argument, 0, NETOPT_NO_DEFAULTS},                              \
  {"bootstrap", required_argument, 0, NETOPT_BOOTSTRAP},                                   \
  {"stun", required_argument, 0, NETOPT_STUN}, {"relay", no_argument, 0, NETOPT_RELAY},   \
  {"transport", required_argument, 0, NETOPT_TRANSPORT},                                   \
  {"dial-timeout", required_argument, 0, NETOPT_DIAL_TIMEOUT},                             \
  {"dial-retries", required_argument, 0, NETOPT_DIAL_RETRIES},                             \
  {"dial-retry", required_argument, 0, NETOPT_DIAL_RETRY},                                 \
  {"peer-timeout", required_argument, 0, NETOPT_PEER_TIMEOUT},                             \
  {"keepalive", required_argument, 0, NETOPT_KEEPALIVE},                                   \
  {"congestion", required_argument, 0, NETOPT_CONGESTION}

/* Storage for the lists sw_options points into: keep it alive as long as the options. */
typedef struct netopts {
  const char *connects[NETOPTS_MAX_CONNECT];
  int nconnect;
  const char *boot_dht[16], *boot_http[8], *piping[8], *stun[8];
} netopts;

/* The --help lines for the options above (the peer-cache line is the tool's own). */
extern const char netopts_help[];

/* Apply one option to o. Returns 0 when applied, -1 when opt is not a network option,
 * 2 on a bad value (a message naming prog is printed on stderr). */
int netopts_parse(netopts *n, sw_options *o, int opt, const char *arg, const char *prog);

/* Dial every --connect. Returns 0, or 2 after printing why one was refused. */
int netopts_connect(const netopts *n, sw_swarm *swarm, const char *prog);

/* Decimal number 0..max; 0 on success, -1 otherwise. */
int netopts_parse_u(const char *s, unsigned long max, unsigned long *out);

#endif
