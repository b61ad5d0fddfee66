/* A STUN Binding server as a pure function (RFC 8489, with RFC 5780 CHANGE-REQUEST,
 * OTHER-ADDRESS and RESPONSE-ORIGIN). The caller owns up to four UDP sockets: the primary
 * and alternate IP crossed with the primary and alternate port. It hands over each
 * datagram with the socket it arrived on and sends the answer, if any, from the socket
 * the answer names.
 *
 * Only a well-formed Binding request is answered (a STUN header with the magic cookie,
 * attributes inside the message, a correct FINGERPRINT if any); everything else, a
 * response or an indication included, is dropped without a word. No answer is larger
 * than three times its request, whatever the options (the bound every socket of ours keeps
 * towards a source that has not proven its address; a STUN source never proves it):
 *   a bare 20-byte request     IPv4: XOR-MAPPED-ADDRESS, OTHER-ADDRESS, RESPONSE-ORIGIN:
 *                              56 (2.8x); STUNSRV_FINGERPRINT 52 (2.6x, no RESPONSE-ORIGIN;
 *                              a request with its own FINGERPRINT is 28 bytes, gets all);
 *                              STUNSRV_MAPPED first takes MAPPED-ADDRESS's 12 bytes
 *                              IPv6: XOR-MAPPED-ADDRESS only: 44 (2.2x), 52 with FINGERPRINT
 *   CHANGE-REQUEST (28 bytes)  IPv4 every attribute, 56 (2.0x); IPv6 RESPONSE-ORIGIN before
 *                              OTHER-ADDRESS, 68 (2.4x)
 *   padded (44 bytes and up,   every attribute: at most STUN_MAX_RESPONSE = 124 (2.8x)
 *   stun.h STUN_OPT_PAD)
 *   a 420 error                at most 64 bytes, for a request of at least 24 (2.7x)
 * So an RFC 5780 client on IPv6 (and one that sends FINGERPRINT with STUNSRV_MAPPED on)
 * gets OTHER-ADDRESS only from a padded request; ours pads its IPv6 mapping requests with
 * PADDING (RFC 5780 7.6) for that reason.
 * Rate limiting per source is the caller's. */
#ifndef SW_CORE_STUNSRV_H
#define SW_CORE_STUNSRV_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "stun.h"

/* Socket indices: ip 0 = primary, 1 = alternate; port 0 = primary, 1 = alternate. */
#define STUNSRV_PRIMARY 0
#define STUNSRV_ALTERNATE 1

/* Options. */
#define STUNSRV_MAPPED 0x1u      /* add MAPPED-ADDRESS (for RFC 3489-era clients) */
#define STUNSRV_FINGERPRINT 0x2u /* always end answers with FINGERPRINT (else only when the
                                    request carried one) */

typedef struct stunsrv_config {
  /* ip[0]: the primary IP the sockets are bound to; family 0 when bound to the wildcard
   * (no RESPONSE-ORIGIN then, and no changes). ip[1]: the alternate IP, family 0 for none;
   * it must be of ip[0]'s family. Ports in these are ignored. */
  sw_addr ip[2];
  /* port[0]: the primary port; port[1]: the alternate port, 0 for none. */
  uint16_t port[2];
  unsigned opts; /* STUNSRV_* */
} stunsrv_config;

/* Where the answer leaves from. */
typedef struct stunsrv_route {
  uint8_t ip;   /* STUNSRV_PRIMARY or STUNSRV_ALTERNATE */
  uint8_t port; /* STUNSRV_PRIMARY or STUNSRV_ALTERNATE */
} stunsrv_route;

/* Answer one datagram req[0..len) that came from `from` on socket (ip, port). Returns the
 * answer's length (written to out, cap >= STUN_MAX_RESPONSE is always enough) and fills
 * *route, or 0: send nothing.
 *
 * The answer is a Binding success response with XOR-MAPPED-ADDRESS = from, RESPONSE-ORIGIN
 * = the socket it leaves from (when ip[0] is known), OTHER-ADDRESS = the socket that differs
 * from the receiving one in both IP and port (when both alternates exist), and FINGERPRINT
 * per the options; MAPPED-ADDRESS, RESPONSE-ORIGIN and OTHER-ADDRESS only as far as the
 * request's size pays for them (at most 3 x len in all, see above). A CHANGE-REQUEST moves the answer to the alternate IP and/or port
 * relative to the receiving socket; one we cannot honour (no such alternate) gets a 420
 * error response from the receiving socket, as does a request with comprehension-required
 * attributes we do not know (RFC 8489 6.3.1, UNKNOWN-ATTRIBUTES lists up to four). */
size_t stunsrv_answer(const stunsrv_config *cfg, const uint8_t *req, size_t len,
                      const sw_addr *from, unsigned ip, unsigned port, uint8_t *out, size_t cap,
                      stunsrv_route *route);

/* The address of socket (ip, port), or family 0 when it does not exist. */
sw_addr stunsrv_socket(const stunsrv_config *cfg, unsigned ip, unsigned port);

#endif
