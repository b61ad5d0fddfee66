/* The "me" record (PROTOCOL.md 14.2): the JSON object a node publishes about itself on
 * piping servers (and the address half of it on HTTP bootstrap servers), and "meet",
 * what a receiver does with one. Shared by the HTTP discovery modules. */
#ifndef SW_CORE_MEREC_H
#define SW_CORE_MEREC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define MEREC_MAX 256 /* longest record we write: 6 fields with an IPv6 address fit */

/* Our record, compact JSON (the JavaScript spacing; both references parse either):
 * {"id","ip","port","lip","lport","nat":"unknown"}. Without a public address (no STUN
 * yet) ip/port carry the LAN address, as the references' HTTP bootstrap announce does,
 * so that receivers, which ignore records without ip/port, can still dial us.
 * lan_ip NULL: "127.0.0.1" (both references' fallback). Returns the length, 0 if it
 * does not fit. */
size_t merec_build(char *out, size_t cap, const uint8_t id[20], const char *lan_ip,
                   uint16_t port);

/* Meet a record (14.2): it needs a 40-hex `id` other than ours, a numeric `ip` and a
 * `port` in 1..65535; then (ip, port) is dialled with the full id, and (lip, lport)
 * too when both are valid and differ. Everything goes through core_meet (D10, D19).
 * Returns the number of dials asked for, or a negative SW_E* when the record is
 * refused (SW_EINVAL: malformed or our own). */
int merec_meet(sw_core *c, const json_t *rec, uint64_t now);

/* Parse 40 hex chars into 20 bytes; SW_OK or SW_EINVAL. */
int merec_parse_id(const char *hex, uint8_t out[20]);

#endif
