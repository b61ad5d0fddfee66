/* STUN message codec (stun.h). Every read is bounded by the message length, which
 * stun_is_message has tied to the datagram length; every write by the caller's cap. */
#include "stun.h"

#include <string.h>

#define FINGERPRINT_XOR 0x5354554eu

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static uint32_t rd32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

uint32_t stun_crc32(const uint8_t *buf, size_t len) {
  /* Bitwise, reflected polynomial 0xEDB88320: a few hundred bytes per message, so no
   * table and no library. */
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) {
    crc ^= buf[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

int stun_is_message(const uint8_t *buf, size_t len) {
  if (!buf || len < STUN_HDR_LEN) return 0;
  if (buf[0] & 0xC0) return 0;
  size_t mlen = rd16(buf + 2);
  if (mlen % 4 != 0 || mlen != len - STUN_HDR_LEN) return 0;
  return rd32(buf + 4) == STUN_MAGIC;
}

/* (XOR-)MAPPED-ADDRESS, OTHER-ADDRESS, RESPONSE-ORIGIN: reserved byte, family, port,
 * 4 or 16 address bytes. The XOR form masks the port with the cookie's top half and the
 * address with the cookie (IPv4) or the cookie and the transaction id (IPv6). */
static int decode_address(const uint8_t *v, size_t vlen, int xored, const uint8_t *hdr,
                          sw_addr *out) {
  if (vlen < 4) return STUN_EATTR;
  size_t iplen;
  if (v[1] == 0x01)
    iplen = 4;
  else if (v[1] == 0x02)
    iplen = 16;
  else
    return STUN_EFAMILY;
  if (vlen != 4 + iplen) return STUN_EATTR;
  uint16_t port = rd16(v + 2);
  uint8_t ip[16];
  memcpy(ip, v + 4, iplen);
  if (xored) {
    port ^= (uint16_t)(STUN_MAGIC >> 16);
    for (size_t i = 0; i < iplen; i++) ip[i] ^= hdr[4 + i]; /* cookie, then tid */
  }
  memset(out, 0, sizeof *out);
  out->family = iplen == 4 ? 4 : 6;
  out->port = port;
  memcpy(out->ip, ip, iplen);
  return STUN_OK;
}

static int known_type(uint16_t t) {
  switch (t) {
  case STUN_ATTR_MAPPED_ADDRESS:
  case STUN_ATTR_CHANGE_REQUEST:
  case STUN_ATTR_PADDING:
  case STUN_ATTR_USERNAME:
  case STUN_ATTR_MESSAGE_INTEGRITY:
  case STUN_ATTR_ERROR_CODE:
  case STUN_ATTR_UNKNOWN_ATTRIBUTES:
  case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
  case STUN_ATTR_XOR_MAPPED_ADDRESS:
    return 1;
  default:
    return t >= 0x8000; /* comprehension-optional: nothing to report */
  }
}

static int take_address(stun_msg *m, unsigned bit, sw_addr *slot, const uint8_t *v,
                        size_t vlen, int xored, const uint8_t *hdr) {
  sw_addr a;
  int rc = decode_address(v, vlen, xored, hdr, &a);
  if (rc != STUN_OK) return rc; /* malformed even when a duplicate */
  if (!(m->present & bit)) {
    *slot = a;
    m->present |= bit;
  }
  return STUN_OK;
}

int stun_decode(const uint8_t *buf, size_t len, stun_msg *m) {
  if (!m) return STUN_ENOTSTUN;
  memset(m, 0, sizeof *m);
  if (!stun_is_message(buf, len)) return STUN_ENOTSTUN;
  m->type = rd16(buf);
  m->method = (uint16_t)((m->type & 0x000F) | ((m->type & 0x00E0) >> 1) |
                         ((m->type & 0x3E00) >> 2));
  m->cls = (uint8_t)(((m->type >> 4) & 1) | ((m->type >> 7) & 2));
  m->length = rd16(buf + 2);
  memcpy(m->tid, buf + 8, STUN_TID_LEN);

  size_t end = len; /* == 20 + length */
  size_t off = STUN_HDR_LEN;
  int after_integrity = 0;
  while (off < end) {
    if (end - off < 4) return STUN_ETRUNC; /* cannot happen: both multiples of 4 */
    uint16_t t = rd16(buf + off);
    size_t vlen = rd16(buf + off + 2);
    size_t padded = (vlen + 3) & ~(size_t)3;
    const uint8_t *v = buf + off + 4;
    if (padded > end - off - 4) return STUN_ETRUNC;
    size_t next = off + 4 + padded;
    int rc = STUN_OK;
    if (t == STUN_ATTR_FINGERPRINT) {
      if (vlen != 4 || next != end) return STUN_EATTR; /* FINGERPRINT is last */
      if ((stun_crc32(buf, off) ^ FINGERPRINT_XOR) != rd32(v)) return STUN_EFINGERPRINT;
      m->present |= STUN_HAS_FINGERPRINT;
    } else if (after_integrity) {
      /* RFC 8489 14.5: whatever follows the integrity attribute is not covered by it */
    } else {
      switch (t) {
      case STUN_ATTR_XOR_MAPPED_ADDRESS:
        rc = take_address(m, STUN_HAS_XOR_MAPPED, &m->xor_mapped, v, vlen, 1, buf);
        break;
      case STUN_ATTR_MAPPED_ADDRESS:
        rc = take_address(m, STUN_HAS_MAPPED, &m->mapped, v, vlen, 0, buf);
        break;
      case STUN_ATTR_OTHER_ADDRESS:
        rc = take_address(m, STUN_HAS_OTHER, &m->other, v, vlen, 0, buf);
        break;
      case STUN_ATTR_RESPONSE_ORIGIN:
        rc = take_address(m, STUN_HAS_ORIGIN, &m->origin, v, vlen, 0, buf);
        break;
      case STUN_ATTR_CHANGE_REQUEST:
        if (vlen != 4) return STUN_EATTR;
        if (!(m->present & STUN_HAS_CHANGE)) {
          m->change = (uint8_t)(v[3] & (STUN_CHANGE_IP | STUN_CHANGE_PORT));
          m->present |= STUN_HAS_CHANGE;
        }
        break;
      case STUN_ATTR_ERROR_CODE: {
        if (vlen < 4) return STUN_EATTR;
        unsigned cls = v[2] & 0x07u, num = v[3];
        if (cls < 3 || cls > 6 || num > 99) return STUN_EATTR;
        if (!(m->present & STUN_HAS_ERROR)) {
          m->error_code = (uint16_t)(cls * 100 + num);
          m->reason = v + 4;
          m->reason_len = vlen - 4;
          m->present |= STUN_HAS_ERROR;
        }
        break;
      }
      case STUN_ATTR_MESSAGE_INTEGRITY:
      case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
        m->present |= STUN_HAS_INTEGRITY;
        after_integrity = 1;
        break;
      default:
        if (!known_type(t)) {
          if (m->nunknown < STUN_MAX_UNKNOWN) m->unknown[m->nunknown] = t;
          m->nunknown++;
        }
        break;
      }
      if (rc != STUN_OK) return rc;
    }
    off = next;
  }
  return STUN_OK;
}

int stun_response_for(const stun_msg *m, const uint8_t tid[STUN_TID_LEN]) {
  if (!m || !tid) return 0;
  if (m->method != STUN_METHOD_BINDING) return 0;
  if (m->cls != STUN_CLASS_SUCCESS && m->cls != STUN_CLASS_ERROR) return 0;
  return memcmp(m->tid, tid, STUN_TID_LEN) == 0;
}

const sw_addr *stun_mapped(const stun_msg *m) {
  if (!m) return NULL;
  if (m->present & STUN_HAS_XOR_MAPPED) return &m->xor_mapped;
  if (m->present & STUN_HAS_MAPPED) return &m->mapped;
  return NULL;
}

/* ---- encoding ---------------------------------------------------------------- */

typedef struct wbuf {
  uint8_t *p;
  size_t cap, len;
  int err;
} wbuf;

static uint8_t *attr_room(wbuf *w, uint16_t type, size_t vlen) {
  size_t padded = (vlen + 3) & ~(size_t)3;
  if (w->err || w->cap - w->len < 4 + padded) {
    w->err = 1;
    return NULL;
  }
  uint8_t *a = w->p + w->len;
  wr16(a, type);
  wr16(a + 2, (uint16_t)vlen);
  memset(a + 4, 0, padded);
  w->len += 4 + padded;
  return a + 4;
}

static int addr_ok(const sw_addr *a) { return a && (a->family == 4 || a->family == 6); }

static void put_address(wbuf *w, uint16_t type, const sw_addr *a, int xored) {
  size_t iplen = a->family == 4 ? 4 : 16;
  uint8_t *v = attr_room(w, type, 4 + iplen);
  if (!v) return;
  v[1] = a->family == 4 ? 0x01 : 0x02;
  uint16_t port = a->port;
  memcpy(v + 4, a->ip, iplen);
  if (xored) {
    port ^= (uint16_t)(STUN_MAGIC >> 16);
    for (size_t i = 0; i < iplen; i++) v[4 + i] ^= w->p[4 + i]; /* cookie, then tid */
  }
  wr16(v + 2, port);
}

static int header(wbuf *w, uint16_t type, const uint8_t tid[STUN_TID_LEN]) {
  if (w->cap < STUN_HDR_LEN || !tid) return STUN_ESPACE;
  wr16(w->p, type);
  wr16(w->p + 2, 0);
  wr32(w->p + 4, STUN_MAGIC);
  memcpy(w->p + 8, tid, STUN_TID_LEN);
  w->len = STUN_HDR_LEN;
  return STUN_OK;
}

/* The length field, then FINGERPRINT over everything before it (its own 8 bytes are
 * counted in the length it covers). */
static int finish(wbuf *w, unsigned opts) {
  if ((opts & STUN_OPT_FINGERPRINT) && !w->err) {
    size_t at = w->len;
    uint8_t *v = attr_room(w, STUN_ATTR_FINGERPRINT, 4);
    if (v) {
      wr16(w->p + 2, (uint16_t)(w->len - STUN_HDR_LEN));
      wr32(v, stun_crc32(w->p, at) ^ FINGERPRINT_XOR);
    }
  }
  if (w->err) return STUN_ESPACE;
  wr16(w->p + 2, (uint16_t)(w->len - STUN_HDR_LEN));
  return (int)w->len;
}

int stun_encode_request(uint8_t *out, size_t cap, const uint8_t tid[STUN_TID_LEN],
                        unsigned opts) {
  wbuf w = {out, out ? cap : 0, 0, 0};
  int rc = header(&w, STUN_BINDING_REQUEST, tid);
  if (rc != STUN_OK) return rc;
  unsigned change = opts & (STUN_CHANGE_IP | STUN_CHANGE_PORT);
  if (change) {
    uint8_t *v = attr_room(&w, STUN_ATTR_CHANGE_REQUEST, 4);
    if (v) v[3] = (uint8_t)change;
  }
  if (opts & STUN_OPT_PAD) {
    uint8_t *v = attr_room(&w, STUN_ATTR_PADDING, STUN_PAD_LEN);
    if (v) memset(v, 0, STUN_PAD_LEN);
  }
  return finish(&w, opts);
}

int stun_encode_success(uint8_t *out, size_t cap, const uint8_t tid[STUN_TID_LEN],
                        const sw_addr *mapped, const sw_addr *origin, const sw_addr *other,
                        unsigned opts) {
  if (!addr_ok(mapped) || (origin && !addr_ok(origin)) || (other && !addr_ok(other)))
    return STUN_EFAMILY;
  wbuf w = {out, out ? cap : 0, 0, 0};
  int rc = header(&w, STUN_BINDING_SUCCESS, tid);
  if (rc != STUN_OK) return rc;
  put_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, mapped, 1);
  if (opts & STUN_OPT_MAPPED) put_address(&w, STUN_ATTR_MAPPED_ADDRESS, mapped, 0);
  if (origin) put_address(&w, STUN_ATTR_RESPONSE_ORIGIN, origin, 0);
  if (other) put_address(&w, STUN_ATTR_OTHER_ADDRESS, other, 0);
  return finish(&w, opts);
}

static const char *reason_for(uint16_t code) {
  switch (code) {
  case 400: return "Bad Request";
  case 420: return "Unknown Attribute";
  case 500: return "Server Error";
  default: return "";
  }
}

int stun_encode_error(uint8_t *out, size_t cap, const uint8_t tid[STUN_TID_LEN], uint16_t code,
                      const uint16_t *unknown, size_t nunknown, unsigned opts) {
  if (code < 300 || code > 699) return STUN_EATTR;
  wbuf w = {out, out ? cap : 0, 0, 0};
  int rc = header(&w, STUN_BINDING_ERROR, tid);
  if (rc != STUN_OK) return rc;
  const char *reason = reason_for(code);
  size_t rlen = strlen(reason);
  uint8_t *v = attr_room(&w, STUN_ATTR_ERROR_CODE, 4 + rlen);
  if (v) {
    v[2] = (uint8_t)(code / 100);
    v[3] = (uint8_t)(code % 100);
    memcpy(v + 4, reason, rlen);
  }
  if (unknown && nunknown > 0) {
    size_t n = nunknown > 4 ? 4 : nunknown;
    v = attr_room(&w, STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n);
    for (size_t i = 0; v && i < n; i++) wr16(v + 2 * i, unknown[i]);
  }
  return finish(&w, opts);
}
