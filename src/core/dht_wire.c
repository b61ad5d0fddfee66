/* The DHT's messages (PROTOCOL.md 14.6): the strict JSON parser and the encoder of the
 * references' member order, and the keys records are put under. Declared in dht.h,
 * where the fuzz target and the tests find them; the parser is bounded (D18). */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "dht.h"

/* Exactly n bytes of hex from a JSON string (jansson refuses strings with NULs, so
 * the text ends where its length says): 0, or -1. */
static int unhex(const char *s, uint8_t *out, size_t n) {
  return s && crypto_hex_decode(s, out, n) == (int)n ? 0 : -1;
}

void dht_key(const char *text, uint8_t out[DHT_ID_LEN]) { crypto_sha1(text, strlen(text), out); }

void dht_topic_key(const uint8_t topic[32], uint8_t out[DHT_ID_LEN]) {
  char th[13], text[40];
  crypto_topic_hash(topic, th);
  snprintf(text, sizeof text, "setowire:peers:%s", th);
  dht_key(text, out);
}

/* ---- codec -------------------------------------------------------------------- */

static int get_id(json_t *root, const char *name, uint8_t out[DHT_ID_LEN], int *has) {
  json_t *v = json_object_get(root, name);
  if (!v) return 0;
  if (!json_is_string(v)) return -1;
  if (unhex(json_string_value(v), out, DHT_ID_LEN)) return -1;
  *has = 1;
  return 0;
}

/* Entries {id, ip, port}; invalid ones are skipped, at most max are read. */
static size_t get_nodes(json_t *arr, dht_node *out, size_t max) {
  size_t n = 0, i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    if (n == max) break;
    json_t *id = json_object_get(e, "id"), *ip = json_object_get(e, "ip"),
           *port = json_object_get(e, "port");
    if (!json_is_string(id) || !json_is_string(ip) || !json_is_integer(port)) continue;
    json_int_t p = json_integer_value(port);
    if (p < 1 || p > 65535 || json_string_length(ip) > 45) continue;
    if (unhex(json_string_value(id), out[n].id, DHT_ID_LEN)) continue;
    if (addr_parse_ip(&out[n].addr, json_string_value(ip), (uint16_t)p) != SW_OK) continue;
    n++;
  }
  return n;
}

int dht_parse(const uint8_t *buf, size_t len, dht_msg *m) {
  if (!buf || !m || !len || len > DHT_MAX_DATAGRAM) return SW_EINVAL;
  memset(m, 0, offsetof(dht_msg, value));
  m->value[0] = 0;
  m->value_len = m->nnodes = m->npeers = 0;
  m->has_nodes = m->has_peers = 0;
  m->port = 0;
  memset(&m->ip, 0, sizeof m->ip);
  json_error_t err;
  /* Strings with NUL bytes and duplicate members are refused; trailing bytes too. */
  json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &err);
  if (!root) return SW_EINVAL;
  int rc = SW_EINVAL;
  if (!json_is_object(root)) goto out;
  json_t *t = json_object_get(root, "type");
  if (!json_is_integer(t)) goto out;
  json_int_t type = json_integer_value(t);
  if (type < DHT_PING || type > DHT_PEERS) goto out;
  m->type = (int)type;
  if (get_id(root, "from", m->from, &m->has_from) || get_id(root, "key", m->key, &m->has_key) ||
      get_id(root, "target", m->target, &m->has_target) ||
      get_id(root, "id", m->id, &m->has_id))
    goto out;
  json_t *r = json_object_get(root, "rpcId");
  if (r && !json_is_null(r)) { /* Python writes null in replies to rpc-less requests */
    uint8_t b[4];
    if (!json_is_string(r) || unhex(json_string_value(r), b, 4)) goto out;
    m->rpc = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    m->has_rpc = 1;
  }
  json_t *tok = json_object_get(root, "token");
  if (tok) { /* ours (21.4): exactly DHT_TOKEN_LEN bytes of hex */
    if (!json_is_string(tok) || unhex(json_string_value(tok), m->token, DHT_TOKEN_LEN)) goto out;
    m->has_token = 1;
  }
  json_t *pad = json_object_get(root, "pad");
  if (pad) { /* ours: filler, any string; only its presence matters */
    if (!json_is_string(pad)) goto out;
    m->has_pad = 1;
  }
  json_t *v = json_object_get(root, "value");
  if (v && !json_is_null(v)) {
    /* The references store strings (me records); anything else is not ours to keep. */
    if (!json_is_string(v) || json_string_length(v) > DHT_VALUE_MAX) goto out;
    m->value_len = json_string_length(v);
    memcpy(m->value, json_string_value(v), m->value_len);
    m->value[m->value_len] = 0;
    m->has_value = 1;
  }
  json_t *nodes = json_object_get(root, "nodes");
  if (nodes) {
    if (!json_is_array(nodes)) goto out;
    m->nnodes = get_nodes(nodes, m->nodes, DHT_MSG_NODES);
    m->has_nodes = 1;
  }
  json_t *peers = json_object_get(root, "peers");
  if (peers) {
    if (!json_is_array(peers)) goto out;
    m->npeers = get_nodes(peers, m->peers, DHT_MSG_PEERS);
    m->has_peers = 1;
  }
  json_t *port = json_object_get(root, "port");
  if (port) {
    if (!json_is_integer(port) || json_integer_value(port) < 1 ||
        json_integer_value(port) > 65535)
      goto out;
    m->port = (uint16_t)json_integer_value(port);
    m->has_port = 1;
  }
  json_t *ip = json_object_get(root, "ip");
  if (ip) {
    if (!json_is_string(ip) || json_string_length(ip) > 45 ||
        addr_parse_ip(&m->ip, json_string_value(ip), 0) != SW_OK)
      goto out;
    m->has_ip = 1;
  }
  /* What each type needs (a JavaScript node crashes without them, D18). */
  switch (m->type) {
    case DHT_STORE: if (!m->has_key || !m->has_value) goto out; break;
    case DHT_FIND_NODE: if (!m->has_target) goto out; break;
    case DHT_FIND_VALUE:
    case DHT_GET_PEERS: if (!m->has_key) goto out; break;
    case DHT_FOUND_VAL: if (!m->has_value) goto out; break;
    case DHT_ANNOUNCE_PEER: if (!m->has_key || !m->has_id || !m->has_port) goto out; break;
    default: break;
  }
  rc = SW_OK;
out:
  json_decref(root);
  return rc;
}

static json_t *nodes_json(const dht_node *n, size_t count) {
  json_t *a = json_array();
  char idh[41], ip[64];
  for (size_t i = 0; a && i < count; i++) {
    crypto_hex_encode(n[i].id, DHT_ID_LEN, idh);
    if (addr_format_ip(&n[i].addr, ip, sizeof ip) <= 0) continue;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(idh));
    json_object_set_new(o, "ip", json_string(ip));
    json_object_set_new(o, "port", json_integer(n[i].addr.port));
    json_array_append_new(a, o);
  }
  return a;
}

int dht_encode(const dht_msg *m, uint8_t *out, size_t cap) {
  char h[41], ip[64];
  json_t *o = json_object();
  if (!o) return SW_ENOMEM;
  /* Member order of the references (vectors/dht.json): type, from, body, rpcId. */
  json_object_set_new(o, "type", json_integer(m->type));
  if (m->has_from) {
    crypto_hex_encode(m->from, DHT_ID_LEN, h);
    json_object_set_new(o, "from", json_string(h));
  }
  if (m->has_target) {
    crypto_hex_encode(m->target, DHT_ID_LEN, h);
    json_object_set_new(o, "target", json_string(h));
  }
  if (m->has_key) {
    crypto_hex_encode(m->key, DHT_ID_LEN, h);
    json_object_set_new(o, "key", json_string(h));
  }
  if (m->has_id) {
    crypto_hex_encode(m->id, DHT_ID_LEN, h);
    json_object_set_new(o, "id", json_string(h));
  }
  if (m->has_port) json_object_set_new(o, "port", json_integer(m->port));
  if (m->has_value) json_object_set_new(o, "value", json_stringn(m->value, m->value_len));
  if (m->has_peers) json_object_set_new(o, "peers", nodes_json(m->peers, m->npeers));
  if (m->has_nodes) json_object_set_new(o, "nodes", nodes_json(m->nodes, m->nnodes));
  if (m->has_ip && addr_format_ip(&m->ip, ip, sizeof ip) > 0)
    json_object_set_new(o, "ip", json_string(ip));
  if (m->has_token) {
    crypto_hex_encode(m->token, DHT_TOKEN_LEN, h);
    json_object_set_new(o, "token", json_string(h));
  }
  if (m->pad) {
    char p[DHT_PAD_MAX + 1];
    size_t k = m->pad < DHT_PAD_MAX ? m->pad : DHT_PAD_MAX;
    memset(p, '0', k);
    p[k] = 0;
    json_object_set_new(o, "pad", json_string(p));
  }
  if (m->has_rpc) {
    uint8_t rb[4] = {(uint8_t)(m->rpc >> 24), (uint8_t)(m->rpc >> 16), (uint8_t)(m->rpc >> 8),
                     (uint8_t)m->rpc};
    crypto_hex_encode(rb, 4, h); /* 14.6: 4 bytes as 8 hex characters */
    json_object_set_new(o, "rpcId", json_string(h));
  }
  size_t n = json_dumpb(o, (char *)out, cap, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (!n || n > cap) return SW_EMSGSIZE;
  return (int)n;
}
