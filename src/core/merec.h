/* The "me" record (PROTOCOL.md 14.2): the JSON object a node publishes about itself on
 * piping servers, in the DHT's topic: STOREs, and (the address half of it) on HTTP
 * bootstrap servers and in relay: records; and "meet", what a receiver does with one.
 * The one builder every publisher uses; addresses come from pubaddr.h. */
#ifndef SW_CORE_MEREC_H
#define SW_CORE_MEREC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define MEREC_MAX 256 /* longest record we write: 6 fields with an IPv6 address fit */

/* Which record merec_build writes, all compact JSON (the JavaScript spacing; both
 * references parse either) in the references' member order. */
typedef enum merec_form {
  /* {"id","ip","port","lip","lport","nat":"unknown"} (14.2, piping 14.4). Without a
   * public endpoint ip/port carry the LAN one, as the references' HTTP bootstrap
   * announce does, so that receivers, which ignore records without ip/port, can
   * still dial us. */
  MEREC_FULL,
  /* The same, but without a public endpoint ip/port are left out: what JavaScript
   * STOREs in the DHT (14.6, vectors/dht.json "me"). */
  MEREC_FULL_OMIT,
  /* {"id","ip","port"}: the HTTP bootstrap announce (14.5) and relay: records (15.3);
   * the public endpoint, else the LAN one. */
  MEREC_ENDPOINT
} merec_form;

/* Build a record. pub: the public endpoint or NULL; lan: the LAN IP (family 0:
 * "127.0.0.1", both references' fallback) and the main port. Returns the length
 * (out NUL-terminated), 0 if it does not fit. */
size_t merec_build(char *out, size_t cap, merec_form form, const uint8_t id[20],
                   const sw_addr *pub, const sw_addr *lan);
/* Our own record from the engine's address service (pubaddr.h); ip_only_ok as in
 * pubaddr_record_endpoint. */
size_t merec_build_own(sw_core *c, merec_form form, int ip_only_ok, char *out, size_t cap);

/* Meet a record (14.2): it needs a 40-hex `id` other than ours, a numeric `ip` and a
 * `port` in 1..65535; then (ip, port) is dialled with the full id, and (lip, lport)
 * too when both are valid and differ. Everything goes through core_meet (D10, D19).
 * Returns the number of dials asked for, or a negative SW_E* when the record is
 * refused (SW_EINVAL: malformed or our own). */
int merec_meet(sw_core *c, const json_t *rec, uint64_t now);
/* merec_meet for a topic's discovery: the topic (32 bytes, or NULL) goes with the dials
 * (core_meet_topic). */
int merec_meet_topic(sw_core *c, const json_t *rec, const uint8_t *topic, uint64_t now);

/* Parse 40 hex chars into 20 bytes; SW_OK or SW_EINVAL. */
int merec_parse_id(const char *hex, uint8_t out[20]);

#endif
