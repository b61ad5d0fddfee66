/* The parts of the public API that need no runtime: error names and identity. */
#include <string.h>

#include "crypto.h"
#include "setowire.h"

const char *sw_strerror(int err) {
  switch (err) {
    case SW_OK: return "success";
    case SW_EINVAL: return "invalid argument";
    case SW_ENOMEM: return "out of memory";
    case SW_EAGAIN: return "queue full, retry after SW_EV_WRITABLE";
    case SW_EMSGSIZE: return "message too large for one datagram";
    case SW_ENOTCONN: return "no session with that peer";
    case SW_ECLOSED: return "swarm is closing or closed";
    case SW_EIO: return "socket or system error";
    case SW_ECRYPTO: return "crypto library failure";
    case SW_EFULL: return "table full";
    case SW_ETIMEDOUT: return "timed out";
    case SW_ENOTSUP: return "not supported by that peer";
    case SW_ENOTFOUND: return "not found: every peer asked holds no such value";
    case SW_ECANCELED: return "canceled";
    default: return "unknown error";
  }
}

/* Short lowercase words, as setowire-cat prints them in its JSON event lines. */
const char *sw_reason_str(int reason) {
  switch (reason) {
    case SW_REASON_NONE: return "none";
    case SW_REASON_GOODBYE: return "goodbye";
    case SW_REASON_TIMEOUT: return "timeout";
    case SW_REASON_REPLACED: return "replaced";
    case SW_REASON_REFUSED: return "refused";
    case SW_REASON_ERROR: return "error";
    case SW_REASON_CLOSED: return "closed";
    case SW_REASON_UNREACHABLE: return "unreachable";
    case SW_REASON_TABLE_FULL: return "table_full";
    case SW_REASON_EVICTED: return "evicted";
    default: return "unknown";
  }
}

int sw_identity_from_seed(const char *seed_hex, uint8_t pub[32], uint8_t id[SW_ID_LEN]) {
  crypto_identity me;
  int rc = crypto_identity_from_hex(&me, seed_hex);
  if (rc) return rc;
  if (pub) memcpy(pub, me.pub, 32);
  if (id) memcpy(id, me.id, SW_ID_LEN);
  memset(&me, 0, sizeof me);
  return SW_OK;
}
