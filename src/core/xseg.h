/* Plaintext bytes that stay where they are until sealed (docs/TRANSPORT-delivery.md
 * "Sending without a copy"): the delivery engine leaves a packet's stream bytes in its
 * send ring and says where they go; the packet protection encrypts them from there
 * straight into the datagram. Shared by xport (which fills it) and xpacket (which reads
 * it), which otherwise know nothing of each other. */
#ifndef SW_CORE_XSEG_H
#define SW_CORE_XSEG_H

#include <stddef.h>
#include <stdint.h>

/* `len` bytes at `src` belong `at` bytes into the plaintext; the plaintext buffer holds
 * no meaningful bytes there. */
typedef struct xseg {
  size_t at;
  const uint8_t *src;
  size_t len;
} xseg;

/* At most: two pieces (a range that wraps around the ring) per stream range, and a
 * packet carries XPORT_PKT_RANGES = 4 of them. */
#define XSEG_MAX 8

#endif
