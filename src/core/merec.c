/* The me record and meet (PROTOCOL.md 14.2): see merec.h. */
#include "merec.h"

#include <stdio.h>
#include <string.h>

#include "core_internal.h"
#include "crypto.h"

size_t merec_build(char *out, size_t cap, merec_form form, const uint8_t id[20],
                   const sw_addr *pub, const sw_addr *lan) {
  char idhex[41], lip[64] = "127.0.0.1", ip[64];
  uint16_t lport = lan ? lan->port : 0, port = lport;
  int n;
  crypto_hex_encode(id, 20, idhex);
  /* numeric text from sw_addr only, so the JSON needs no escaping */
  if (lan && lan->family && addr_format_ip(lan, lip, sizeof lip) <= 0) return 0;
  int have_pub = pub && pub->family && addr_format_ip(pub, ip, sizeof ip) > 0;
  if (have_pub) port = pub->port;
  else memcpy(ip, lip, sizeof ip);
  if (form == MEREC_ENDPOINT)
    n = snprintf(out, cap, "{\"id\":\"%s\",\"ip\":\"%s\",\"port\":%u}", idhex, ip, port);
  else if (form == MEREC_FULL_OMIT && !have_pub)
    n = snprintf(out, cap, "{\"id\":\"%s\",\"lip\":\"%s\",\"lport\":%u,\"nat\":\"unknown\"}",
                 idhex, lip, lport);
  else
    n = snprintf(out, cap,
                 "{\"id\":\"%s\",\"ip\":\"%s\",\"port\":%u,\"lip\":\"%s\",\"lport\":%u,"
                 "\"nat\":\"unknown\"}",
                 idhex, ip, port, lip, lport);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t merec_build_own(sw_core *c, merec_form form, int ip_only_ok, char *out, size_t cap) {
  sw_addr pub;
  int have = pubaddr_record_endpoint(c, ip_only_ok, &pub);
  return merec_build(out, cap, form, core_identity(c)->id, have ? &pub : NULL,
                     core_lan_addr(c));
}

int merec_parse_id(const char *hex, uint8_t out[20]) {
  return hex && crypto_hex_decode(hex, out, 20) == 20 ? SW_OK : SW_EINVAL;
}

/* A record's (ip, port) pair as an address, or SW_EINVAL. */
static int rec_addr(const json_t *rec, const char *ipk, const char *portk, sw_addr *out) {
  const char *ip = json_string_value(json_object_get(rec, ipk));
  const json_t *jp = json_object_get(rec, portk);
  if (!ip || !json_is_integer(jp)) return SW_EINVAL;
  json_int_t port = json_integer_value(jp);
  if (port < 1 || port > 65535) return SW_EINVAL;
  return addr_parse_ip(out, ip, (uint16_t)port);
}

int merec_meet(sw_core *c, const json_t *rec, uint64_t now) {
  return merec_meet_topic(c, rec, NULL, now);
}

int merec_meet_topic(sw_core *c, const json_t *rec, const uint8_t *topic, uint64_t now) {
  uint8_t id[20];
  sw_addr pub, lan;
  if (!json_is_object(rec)) return SW_EINVAL;
  if (merec_parse_id(json_string_value(json_object_get(rec, "id")), id) != SW_OK)
    return SW_EINVAL;
  if (memcmp(id, core_identity(c)->id, 20) == 0) return SW_EINVAL; /* D9 */
  if (rec_addr(rec, "ip", "port", &pub) != SW_OK) return SW_EINVAL;
  int dials = 0;
  if (core_meet_topic(c, &pub, id, topic, now) == SW_OK) dials++;
  if (rec_addr(rec, "lip", "lport", &lan) == SW_OK && !addr_equal(&lan, &pub) &&
      core_meet_topic(c, &lan, id, topic, now) == SW_OK)
    dials++;
  return dials;
}
