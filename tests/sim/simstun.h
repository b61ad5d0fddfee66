/* A STUN server in the simulator, as the lab's coturn: RFC 5780, two IPs and two ports
 * (four endpoints), each request answered by stunsrv.c from the socket it names. One
 * copy for every simulated NAT test that needs a server to learn NAT types from. */
#ifndef SW_SIM_SIMSTUN_H
#define SW_SIM_SIMSTUN_H

#include "simnet.h"
#include "stunsrv.h"

typedef struct simstun {
  int ep[2][2];         /* endpoints: [ip][port] */
  stunsrv_config cfg;
  unsigned answered;
  int silent;           /* 1: answer nothing (a server that is down) */
} simstun;

/* Four endpoints on two new public IPs, ports 3478 and 3479. */
void simstun_init(simstun *s, simnet *net);
/* The primary address (first IP, first port): what a client is given. */
sw_addr simstun_primary(const simstun *s);

#endif
