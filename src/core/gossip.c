/* Recognising the references' gossip objects: see gossip.h (PROTOCOL.md 13.4, D14). */
#include "gossip.h"

#include <jansson.h>
#include <string.h>

#include "setowire.h"

static int hexval(char ch) {
  return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

int gossip_check(const uint8_t *msg, size_t len, gossip_info *out) {
  static const char tag[] = "\"_gossip\"";
  if (!msg || len < 2 || len > GOSSIP_MAX_LEN || msg[0] != '{') return 0;
  if (!memmem(msg, len, tag, sizeof tag - 1)) return 0;
  json_error_t err;
  json_t *o = json_loadb((const char *)msg, len, JSON_REJECT_DUPLICATES, &err);
  int ok = 0;
  if (!json_is_object(o) || json_object_size(o) != 4) goto done;
  json_t *g = json_object_get(o, "_gossip"), *id = json_object_get(o, "id"),
         *ip = json_object_get(o, "ip"), *port = json_object_get(o, "port");
  if (!json_is_true(g) || !json_is_string(id) || !json_is_string(ip) || !json_is_integer(port))
    goto done;
  const char *ids = json_string_value(id);
  if (strlen(ids) != 16) goto done;
  if (out) memset(out, 0, sizeof *out);
  for (int i = 0; i < 16; i++) {
    int v = hexval(ids[i]);
    if (v < 0) goto done;
    if (out) out->wire[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
  }
  ok = 1;
  json_int_t pv = json_integer_value(port);
  if (out && pv > 0 && pv <= 65535 &&
      addr_parse_ip(&out->addr, json_string_value(ip), (uint16_t)pv) != SW_OK)
    out->addr.family = 0;
  if (out && !(pv > 0 && pv <= 65535)) out->addr.family = 0;
done:
  json_decref(o);
  return ok;
}
