/* Shared network options of the tools (netopts.h). */
#include "netopts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char netopts_help[] =
    "  --port N            main UDP port (default 0: any)\n"
    "  --bind ADDR         local address (default: all, IPv4 and IPv6)\n"
    "  --connect HOST:PORT dial this peer directly (repeatable)\n"
    "  --max-peers N       peer table bound (default 100)\n"
    "  --no-lan --no-dht --no-http\n"
    "                      turn a discovery method off (--no-http: neither HTTP\n"
    "                      bootstrap nor piping servers)\n"
    "  --stun HOST:PORT    STUN server to learn our public address and NAT type from\n"
    "                      (repeatable, up to 8; port 0 means 3478; default: the\n"
    "                      references' public list unless --no-default-servers)\n"
    "  --no-stun           send no STUN request at all\n"
    "  --transport MODE    with other libsetowire peers: 'extended' (the default:\n"
    "                      reliable, ordered, forward-secret session, docs/TRANSPORT.md)\n"
    "                      or 'plain' (the references' protocol); reference peers\n"
    "                      always get plain\n"
    "  --congestion CC     the extended session's congestion controller: 'bbr' (the\n"
    "                      default) or 'newreno'\n"
    "  --dial-timeout MS   how long one dial attempt waits for an answer (default 5400)\n"
    "  --dial-retries N    attempts after the first before a dial fails (default 0)\n"
    "  --dial-retry MS     pause before the first retry, doubled each time (1000)\n"
    "  --peer-timeout MS   drop a peer silent this long (default 60000)\n"
    "  --keepalive MS      PING every peer this often (default 1000)\n"
    "  --relay             serve as a relay for peers that cannot punch to each other\n"
    "                      (their traffic stays end-to-end encrypted; bounded)\n"
    "  --lan-addr IP       IPv4 address of the interface for LAN discovery: beacons\n"
    "                      leave from it and announce it (default: the --bind\n"
    "                      address if it is IPv4, else the first non-loopback\n"
    "                      interface address)\n"
    "  --bootstrap-http URL  HTTP bootstrap server (http:// or https://): announce\n"
    "                      to it and dial the peers it lists (repeatable, up to 8;\n"
    "                      asked before the references' two default servers)\n"
    "  --piping URL        piping server for the topic rendezvous (repeatable, up to\n"
    "                      8; a bare host name means https://HOST; merged with the\n"
    "                      references' four default servers)\n"
    "  --no-default-servers  contact none of the references' third-party servers\n"
    "                      (HTTP bootstrap, piping, STUN), only those given above\n"
    "  --bootstrap HOST:PORT  DHT bootstrap node (repeatable, up to 16; a name is\n"
    "                      resolved; port 0 means 49737): the DHT learns the network\n"
    "                      from it and finds the peers of the topic\n";

int netopts_parse_u(const char *s, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (!*s || *end || errno || v > max || s[0] == '-') return -1;
  *out = v;
  return 0;
}

static int too_many(const char *prog, int max, const char *name) {
  fprintf(stderr, "%s: at most %d --%s\n", prog, max, name);
  return 2;
}

int netopts_parse(netopts *n, sw_options *o, int opt, const char *arg, const char *prog) {
  unsigned long v;
  switch (opt) {
    case NETOPT_PORT:
      if (netopts_parse_u(arg, 65535, &v)) goto bad;
      o->port = (uint16_t)v;
      return 0;
    case NETOPT_BIND: o->bind = arg; return 0;
    case NETOPT_CONNECT:
      if (n->nconnect == NETOPTS_MAX_CONNECT) return too_many(prog, NETOPTS_MAX_CONNECT, "connect");
      n->connects[n->nconnect++] = arg;
      return 0;
    case NETOPT_MAX_PEERS:
      if (netopts_parse_u(arg, 100000, &v) || v == 0) goto bad;
      o->max_peers = v;
      return 0;
    case NETOPT_NO_LAN: o->lan = 0; return 0;
    case NETOPT_NO_DHT: o->dht = 0; return 0;
    case NETOPT_NO_STUN: o->no_stun = 1; return 0;
    case NETOPT_RELAY: o->relay = 1; return 0;
    case NETOPT_TRANSPORT:
      if (!strcmp(arg, "extended")) o->transport = 1;
      else if (!strcmp(arg, "plain")) o->transport = 0;
      else {
        fprintf(stderr, "%s: --transport is 'extended' or 'plain', not '%s'\n", prog, arg);
        return 2;
      }
      return 0;
    case NETOPT_CONGESTION:
      if (!strcmp(arg, "bbr")) o->congestion = SW_CC_BBR;
      else if (!strcmp(arg, "newreno")) o->congestion = SW_CC_NEWRENO;
      else {
        fprintf(stderr, "%s: --congestion is 'bbr' or 'newreno', not '%s'\n", prog, arg);
        return 2;
      }
      return 0;
    /* The bounds are sw_swarm_new's (SW_EINVAL): only numbers are checked here. */
    case NETOPT_DIAL_TIMEOUT:
      if (netopts_parse_u(arg, 600000, &v) || !v) goto bad;
      o->dial_timeout_ms = (uint32_t)v;
      return 0;
    case NETOPT_DIAL_RETRIES:
      if (netopts_parse_u(arg, 16, &v)) goto bad;
      o->dial_retries = (uint32_t)v;
      return 0;
    case NETOPT_DIAL_RETRY:
      if (netopts_parse_u(arg, 60000, &v) || !v) goto bad;
      o->dial_retry_ms = (uint32_t)v;
      return 0;
    case NETOPT_PEER_TIMEOUT:
      if (netopts_parse_u(arg, 3600000, &v) || !v) goto bad;
      o->peer_timeout_ms = (uint32_t)v;
      return 0;
    case NETOPT_KEEPALIVE:
      if (netopts_parse_u(arg, 60000, &v) || !v) goto bad;
      o->keepalive_ms = (uint32_t)v;
      return 0;
    case NETOPT_STUN:
      if (o->nstun == 8) return too_many(prog, 8, "stun");
      n->stun[o->nstun++] = arg; /* checked by sw_swarm_new (SW_EINVAL) */
      o->stun = n->stun;
      return 0;
    case NETOPT_NO_HTTP: o->http = 0; return 0;
    case NETOPT_NO_DEFAULTS: o->no_default_servers = 1; return 0;
    case NETOPT_LAN_ADDR: {
      struct in_addr ia;
      if (inet_pton(AF_INET, arg, &ia) != 1) {
        fprintf(stderr, "%s: bad value '%s' for --lan-addr (an IPv4 address)\n", prog, arg);
        return 2;
      }
      o->lan_addr = arg;
      return 0;
    }
    case NETOPT_PEER_CACHE:
      o->load_peers = sw_peer_cache_file_load;
      o->save_peers = sw_peer_cache_file_save;
      o->peers_ctx = (void *)arg;
      return 0;
    case NETOPT_BOOT_HTTP:
    case NETOPT_PIPING: {
      int boot = opt == NETOPT_BOOT_HTTP;
      size_t *cnt = boot ? &o->n_bootstrap_http : &o->n_piping;
      if (*cnt == 8) return too_many(prog, 8, boot ? "bootstrap-http" : "piping");
      (boot ? n->boot_http : n->piping)[(*cnt)++] = arg; /* checked by sw_swarm_new */
      o->bootstrap_http = n->boot_http;
      o->piping = n->piping;
      return 0;
    }
    case NETOPT_BOOTSTRAP:
      if (o->nbootstrap == 16) return too_many(prog, 16, "bootstrap");
      n->boot_dht[o->nbootstrap++] = arg; /* checked by sw_swarm_new (SW_EINVAL) */
      o->bootstrap = n->boot_dht;
      return 0;
    default: return -1;
  }
bad:
  fprintf(stderr, "%s: bad value '%s' for --%s\n", prog, arg,
          opt == NETOPT_PORT ? "port" : "max-peers");
  return 2;
}

int netopts_connect(const netopts *n, sw_swarm *swarm, const char *prog) {
  for (int i = 0; i < n->nconnect; i++) {
    int rc = sw_swarm_connect(swarm, n->connects[i]);
    if (rc) {
      fprintf(stderr, "%s: --connect %s: %s\n", prog, n->connects[i], sw_strerror(rc));
      return 2;
    }
  }
  return 0;
}
