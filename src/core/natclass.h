/* NAT behaviour from the results of STUN probes, in RFC 4787 terms (mapping and filtering,
 * tested as RFC 5780 4.3 and 4.4 describe), and the summary label the engine reports.
 * A pure function: the caller sends the probes and collects the answers.
 *
 * The probes, all from the main socket:
 *   a      Binding request to server A's primary address (RFC 5780 test I).
 *   b      to another IP: server B, or A's OTHER-ADDRESS IP at A's primary port (test II).
 *   b2     to b's IP at another port, such as A's OTHER-ADDRESS (test III): tells an
 *          address-dependent mapping from an address-and-port-dependent one.
 *   change_ip_port  to A with CHANGE-REQUEST(change IP, change port): did an answer
 *          arrive from the other IP and port (natclass_change_honoured)?
 *   change_port     to A with CHANGE-REQUEST(change port) only: did an answer arrive
 *          from A's IP at the other port?
 * The filtering probes need a server that can change (OTHER-ADDRESS present); an error
 * response, or an answer from the address we sent to, means "untested", never "no". */
#ifndef SW_CORE_NATCLASS_H
#define SW_CORE_NATCLASS_H

#include <stddef.h>

#include "addr.h"

typedef enum nat_mapping {
  NAT_MAP_UNKNOWN = 0,
  NAT_MAP_EI,       /* endpoint-independent: one mapping for every destination */
  NAT_MAP_AD,       /* address-dependent: a new mapping per destination IP */
  NAT_MAP_APD,      /* address-and-port-dependent: per destination IP and port */
  NAT_MAP_DEPENDENT /* endpoint-dependent, without the probe that says which of the two */
} nat_mapping;

typedef enum nat_filtering {
  NAT_FILT_UNKNOWN = 0,
  NAT_FILT_EI,       /* endpoint-independent: anyone may send to the mapping */
  NAT_FILT_AD,       /* address-dependent: only IPs we sent to */
  NAT_FILT_APD,      /* address-and-port-dependent: only IP and port pairs we sent to */
  NAT_FILT_DEPENDENT /* not endpoint-independent; the change-port probe is missing */
} nat_filtering;

/* The summary: open (the mapped address is one of ours: no NAT), full cone (EI mapping
 * and EI filtering), restricted cone (EI mapping, AD or APD filtering), symmetric (an
 * endpoint-dependent mapping), unknown (not enough answers to say). */
typedef enum nat_type {
  NAT_TYPE_UNKNOWN = 0,
  NAT_TYPE_OPEN,
  NAT_TYPE_FULL_CONE,
  NAT_TYPE_RESTRICTED_CONE,
  NAT_TYPE_SYMMETRIC
} nat_type;

/* The outcome of a probe that may not have been sent. */
typedef enum nat_tri { NAT_UNTESTED = 0, NAT_YES, NAT_NO } nat_tri;

typedef struct nat_probe {
  int answered;   /* a success response with a mapped address arrived */
  sw_addr server; /* where the request went */
  sw_addr mapped; /* the address the response reported */
} nat_probe;

typedef struct natclass_input {
  const sw_addr *locals; /* our own addresses: the main socket's IP(s) and port */
  size_t nlocals;
  nat_probe a, b, b2;
  nat_tri change_ip_port, change_port;
} natclass_input;

typedef struct natclass_result {
  nat_mapping mapping;
  nat_filtering filtering;
  nat_type type;
} natclass_result;

/* Classify. Probes that do not have the shape above are ignored (b at a's IP or in
 * another address family, b2 not at b's IP or at b's port), as are b and b2 when a was
 * not answered. */
natclass_result natclass_classify(const natclass_input *in);

/* Whether an answer to a CHANGE-REQUEST came from where it should: from an IP other than
 * sent_to's when change has STUN_CHANGE_IP (the same IP otherwise), from another port when
 * it has STUN_CHANGE_PORT (the same port otherwise). A server that ignored the request
 * answers from sent_to, and that answer proves nothing about filtering. */
int natclass_change_honoured(const sw_addr *sent_to, const sw_addr *came_from, unsigned change);

/* "open", "full_cone", "restricted_cone", "symmetric", "unknown" (the references' words),
 * and names for the two behaviours ("endpoint-independent", ...). */
const char *natclass_type_name(nat_type t);
const char *natclass_mapping_name(nat_mapping m);
const char *natclass_filtering_name(nat_filtering f);

#endif
