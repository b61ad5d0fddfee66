/* The STUN message codec (RFC 8489, with the RFC 5780 attributes NAT behaviour discovery
 * needs). Sans-I/O and allocation-free: encoders write into a caller's buffer, the decoder
 * fills a caller's struct and never reads outside [buf, buf + len).
 *
 * What the references do (PROTOCOL.md 15.1) and where we are stricter: a response counts
 * only when its transaction id is the one we wait for (stun_response_for), an address
 * attribute with an unknown family or the wrong length makes the whole message malformed
 * (the references read any family as IPv4), IPv6 addresses are decoded, and a message
 * whose length field disagrees with the datagram is not STUN at all. */
#ifndef SW_CORE_STUN_H
#define SW_CORE_STUN_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define STUN_HDR_LEN 20
#define STUN_TID_LEN 12
#define STUN_MAGIC 0x2112A442u

/* Message classes (the C1 C0 bits of the type) and the one method we speak. */
#define STUN_CLASS_REQUEST 0
#define STUN_CLASS_INDICATION 1
#define STUN_CLASS_SUCCESS 2
#define STUN_CLASS_ERROR 3
#define STUN_METHOD_BINDING 0x001
#define STUN_BINDING_REQUEST 0x0001
#define STUN_BINDING_SUCCESS 0x0101
#define STUN_BINDING_ERROR 0x0111

/* Attribute types. Below 0x8000 they are comprehension-required. */
#define STUN_ATTR_MAPPED_ADDRESS 0x0001
#define STUN_ATTR_CHANGE_REQUEST 0x0003 /* RFC 5780 */
#define STUN_ATTR_USERNAME 0x0006
#define STUN_ATTR_MESSAGE_INTEGRITY 0x0008
#define STUN_ATTR_ERROR_CODE 0x0009
#define STUN_ATTR_UNKNOWN_ATTRIBUTES 0x000A
#define STUN_ATTR_MESSAGE_INTEGRITY_SHA256 0x001C
#define STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define STUN_ATTR_PADDING 0x0026 /* RFC 5780 7.6: free bytes, read by no one */
#define STUN_ATTR_SOFTWARE 0x8022
#define STUN_ATTR_FINGERPRINT 0x8028
#define STUN_ATTR_RESPONSE_ORIGIN 0x802B /* RFC 5780 */
#define STUN_ATTR_OTHER_ADDRESS 0x802C   /* RFC 5780 */

/* CHANGE-REQUEST flags, as on the wire (RFC 5780 7.2). */
#define STUN_CHANGE_IP 0x04u
#define STUN_CHANGE_PORT 0x02u

/* Encoder options (stun_encode_request, stun_encode_success, stun_encode_error). The two
 * change bits are the wire's: either one set adds a CHANGE-REQUEST to a request. */
#define STUN_OPT_CHANGE_IP STUN_CHANGE_IP
#define STUN_OPT_CHANGE_PORT STUN_CHANGE_PORT
#define STUN_OPT_FINGERPRINT 0x100u /* end the message with FINGERPRINT (CRC-32) */
#define STUN_OPT_MAPPED 0x200u      /* success: MAPPED-ADDRESS too (RFC 3489 clients) */
#define STUN_OPT_PAD 0x400u         /* request: a PADDING attribute of STUN_PAD_LEN bytes */

/* A request that wants the RFC 5780 attributes (OTHER-ADDRESS, RESPONSE-ORIGIN) from our
 * server pays for them: the server answers with at most three times the request's size
 * (stunsrv.h), and the largest answer, STUN_MAX_RESPONSE (124), needs a request of 44
 * bytes. PADDING of 20 bytes makes a bare request exactly that. */
#define STUN_PAD_LEN 20

/* Decoder results (negative; 0 is success). */
#define STUN_OK 0
#define STUN_ENOTSTUN (-1)     /* header: too short, top bits, length, magic cookie */
#define STUN_ETRUNC (-2)       /* an attribute runs past the end of the message */
#define STUN_EFAMILY (-3)      /* an address attribute with an unknown family */
#define STUN_EATTR (-4)        /* a known attribute with a malformed value, or after FINGERPRINT */
#define STUN_EFINGERPRINT (-5) /* FINGERPRINT present and wrong */
#define STUN_ESPACE (-6)       /* encoder: the output buffer is too small */

/* Which attributes a decoded message carried (stun_msg.present). */
#define STUN_HAS_XOR_MAPPED 0x01u
#define STUN_HAS_MAPPED 0x02u
#define STUN_HAS_OTHER 0x04u
#define STUN_HAS_ORIGIN 0x08u
#define STUN_HAS_CHANGE 0x10u
#define STUN_HAS_ERROR 0x20u
#define STUN_HAS_FINGERPRINT 0x40u /* present and correct */
#define STUN_HAS_INTEGRITY 0x80u   /* MESSAGE-INTEGRITY(-SHA256) present (never checked) */

#define STUN_MAX_UNKNOWN 8 /* comprehension-required types we keep a note of */

/* The largest message stun_encode_success / stun_encode_error write: IPv6 XOR-MAPPED,
 * MAPPED, OTHER and RESPONSE-ORIGIN (4 x 24) and FINGERPRINT (8) after the header. */
#define STUN_MAX_RESPONSE (STUN_HDR_LEN + 4 * 24 + 8)

typedef struct stun_msg {
  uint16_t type;   /* the raw 14-bit message type */
  uint16_t method; /* 12 bits */
  uint8_t cls;     /* STUN_CLASS_* */
  uint16_t length; /* the header's length field: bytes after the header */
  uint8_t tid[STUN_TID_LEN];
  unsigned present; /* STUN_HAS_* */
  /* Address attributes, valid when their STUN_HAS_* bit is set; the first of each type
   * counts (RFC 8489 14: later duplicates are ignored). */
  sw_addr xor_mapped, mapped, other, origin;
  uint8_t change; /* CHANGE-REQUEST flags (STUN_CHANGE_*) */
  /* ERROR-CODE: the number (300..699) and the reason phrase, a view into the input. */
  uint16_t error_code;
  const uint8_t *reason;
  size_t reason_len;
  /* Comprehension-required attribute types we do not understand, the first
   * STUN_MAX_UNKNOWN of them (nunknown counts them all). */
  uint16_t unknown[STUN_MAX_UNKNOWN];
  size_t nunknown;
} stun_msg;

/* Whether a datagram is a STUN message (RFC 8489 6): at least 20 bytes, the two top
 * bits zero, the length field a multiple of 4 and equal to len - 20, the magic cookie.
 * This is what tells STUN apart from Setowire frames on the main socket; it is not
 * proof the message is for us (a DATA frame, type 0x01, could pass by chance: a
 * response also needs the transaction id we wait for, stun_response_for). */
int stun_is_message(const uint8_t *buf, size_t len);

/* Decode a whole message: the header (stun_is_message must hold), then every attribute
 * in turn, each value padded to a multiple of 4 and inside the message. Attributes after
 * MESSAGE-INTEGRITY are ignored except FINGERPRINT, which must be last and correct when
 * present. Unknown attributes are skipped (comprehension-required ones are listed).
 * Returns STUN_OK, or a negative STUN_E* code with *out unspecified. */
int stun_decode(const uint8_t *buf, size_t len, stun_msg *out);

/* Whether a decoded message is a Binding response (success or error) to the request with
 * transaction id tid: the only responses the engine should accept. */
int stun_response_for(const stun_msg *m, const uint8_t tid[STUN_TID_LEN]);

/* The reflexive address a success response reports: XOR-MAPPED-ADDRESS when present
 * (RFC 8489 prefers it; the references take whichever comes first), else MAPPED-ADDRESS,
 * else NULL. */
const sw_addr *stun_mapped(const stun_msg *m);

/* A Binding request with transaction id tid into out (cap bytes). opts: STUN_OPT_CHANGE_IP
 * and/or STUN_OPT_CHANGE_PORT add a CHANGE-REQUEST, STUN_OPT_PAD a PADDING of STUN_PAD_LEN
 * bytes (zeros), STUN_OPT_FINGERPRINT a FINGERPRINT.
 * With opts 0 it is the references' 20-byte request. Returns the length, or STUN_ESPACE. */
int stun_encode_request(uint8_t *out, size_t cap, const uint8_t tid[STUN_TID_LEN],
                        unsigned opts);

/* A Binding success response: XOR-MAPPED-ADDRESS of mapped (IPv4 or IPv6), then with
 * STUN_OPT_MAPPED a MAPPED-ADDRESS, then RESPONSE-ORIGIN and OTHER-ADDRESS when non-NULL,
 * then FINGERPRINT with STUN_OPT_FINGERPRINT. At most STUN_MAX_RESPONSE bytes. Returns the
 * length, STUN_ESPACE, or STUN_EFAMILY for an address without family 4 or 6. */
int stun_encode_success(uint8_t *out, size_t cap, const uint8_t tid[STUN_TID_LEN],
                        const sw_addr *mapped, const sw_addr *origin, const sw_addr *other,
                        unsigned opts);

/* A Binding error response: ERROR-CODE code (300..699) with a fixed short reason phrase,
 * UNKNOWN-ATTRIBUTES with the first 4 of unknown[] when nunknown > 0 (420), FINGERPRINT
 * with STUN_OPT_FINGERPRINT. At most STUN_MAX_RESPONSE bytes. Returns the length,
 * STUN_ESPACE, or STUN_EATTR for a code out of range. */
int stun_encode_error(uint8_t *out, size_t cap, const uint8_t tid[STUN_TID_LEN], uint16_t code,
                      const uint16_t *unknown, size_t nunknown, unsigned opts);

/* CRC-32 (ISO-HDLC, as zlib's crc32) of len bytes; the FINGERPRINT value is this over the
 * message before it, XOR 0x5354554e. */
uint32_t stun_crc32(const uint8_t *buf, size_t len);

#endif
