/* The NAT module (PROTOCOL.md 15.5): learns our public address and our NAT's behaviour
 * with STUN Binding requests sent from the main socket, as a mapping learnt on any other
 * socket would belong to nobody (on a symmetric NAT even its address would be wrong).
 *
 * A round: a Binding request to every configured server; the first that answers is A.
 * When A names an alternate address (RFC 5780 OTHER-ADDRESS), the filtering probes go
 * first, to A with CHANGE-REQUEST (change IP and port, then port only), before anything
 * is sent to the alternate address from this socket (that would open the filter for the
 * very answer being tested); then the mapping probes to the alternate IP at A's port and
 * at the alternate port. Without an alternate, a second server at another IP tells the
 * mapping, and the filtering stays unknown. natclass.c turns the answers into the RFC
 * 4787 behaviours and the label; the mapped address goes to the address service
 * (pubaddr.h), which every publisher reads, and SW_EV_NAT reports address and label
 * whenever either changes. A is asked again every NAT_REFRESH_MS; a new mapping starts
 * a new round. Requests are retransmitted at 0, 500 and 1500 ms and given up at 3 s; a
 * round where no server answered is tried again after 3 s, doubling to 60 s.
 *
 * Answers share their first byte with DATA (0x01): the module claims a datagram only
 * when it decodes as a STUN response with the transaction id of a request in flight,
 * from the address that request went to (or, for a CHANGE-REQUEST, from where the
 * change says). Everything else goes on to the frame registry. */
#ifndef SW_CORE_NAT_H
#define SW_CORE_NAT_H

#include <stdint.h>

#include "core.h"

#define NAT_SERVERS_MAX 8
#define NAT_RTO_MS 500           /* RFC 8489 6.2.1: the first retransmission */
#define NAT_GIVE_UP_MS 3000      /* PROTOCOL.md 15.1: the references' probe timeout */
#define NAT_RETRY_MIN_MS 3000    /* PROTOCOL.md 15.1: a failed round again after 3 s ... */
#define NAT_RETRY_MAX_MS 60000   /* ... ours: doubling, to at most a minute */
#define NAT_REFRESH_MS 60000     /* ours: A again, to follow a re-mapping */

typedef struct nat_stats {
  uint64_t requests, answers, ignored, rounds, failed_rounds, changes;
} nat_stats;

/* 1 and the current figures when the module runs; type is natclass_type_name's word. */
int nat_get(sw_core *c, sw_addr *public_addr, const char **type, nat_stats *st);

/* Our NAT type once reported (a nat_type of natclass.h), else NAT_TYPE_UNKNOWN (0). */
int nat_own_type(sw_core *c);

/* The module as the engine attaches it (core_internal.h, modules.c): sw_core_config.nat. */
extern const struct core_module_def nat_module;

#endif
