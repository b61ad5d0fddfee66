/* Canonical UDP endpoints: one form per address, so tables never hold an IPv4 peer
 * twice (plain and ::ffff:-mapped). No I/O here: numeric text only. */
#ifndef SW_CORE_ADDR_H
#define SW_CORE_ADDR_H

#include <stddef.h>
#include <stdint.h>

typedef struct sw_addr {
  uint8_t family; /* 4 or 6; 0 = unset */
  uint8_t pad;
  uint16_t port;  /* host order */
  uint8_t ip[16]; /* IPv4 in ip[0..3], the rest zero */
} sw_addr;

/* Parse a numeric host ("1.2.3.4", "::1", "::ffff:1.2.3.4") and port. */
int addr_parse_ip(sw_addr *out, const char *host, uint16_t port);
/* Parse "1.2.3.4:5" or "[::1]:5" (numeric only). */
int addr_parse_hostport(sw_addr *out, const char *text);
/* Split "host:port" / "[v6]:port" into host text and port. Port 0 stays 0. */
int addr_split_hostport(const char *text, char *host, size_t hostlen, uint16_t *port);
/* Build from raw bytes; 16-byte v4-mapped input becomes family 4. */
void addr_from_raw(sw_addr *out, const uint8_t *ip, size_t iplen, uint16_t port);
/* "1.2.3.4:5" or "[::1]:5"; returns length or a negative error. */
int addr_format(const sw_addr *a, char *buf, size_t len);
/* IP only, without port. */
int addr_format_ip(const sw_addr *a, char *buf, size_t len);
int addr_equal(const sw_addr *a, const sw_addr *b);
uint64_t addr_hash(const sw_addr *a);

#endif
