/* Non-blocking UDP sockets with batched system calls (recvmmsg/sendmmsg on Linux,
 * one call per datagram elsewhere). Addresses cross this boundary as canonical sw_addr. */
#ifndef SW_RUNTIME_UDP_H
#define SW_RUNTIME_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "core.h"

#define UDP_BATCH 64 /* datagrams per system call */

/* Open and bind: bind_ip NULL = dual-stack "::" (falling back to 0.0.0.0). */
int udp_open(const char *bind_ip, uint16_t port, int *fd_out, uint16_t *port_out, int *v6_out);
void udp_close(int fd);

typedef struct udp_rx {
  uint8_t *bufs;        /* UDP_BATCH x slot bytes */
  size_t slot;
  sw_addr from[UDP_BATCH];
  size_t len[UDP_BATCH];
} udp_rx;

int udp_rx_init(udp_rx *rx);
void udp_rx_free(udp_rx *rx);
/* Receive up to UDP_BATCH datagrams: the count, 0 when none is ready, or SW_EIO. */
int udp_recv_batch(int fd, udp_rx *rx);
static inline const uint8_t *udp_rx_data(const udp_rx *rx, int i) {
  return rx->bufs + (size_t)i * rx->slot;
}

/* Send n datagrams; returns how many the kernel took (datagrams refused for a reason
 * other than a full buffer count as taken: UDP gives no delivery promise and they
 * must not block the queue), or SW_EIO. Stops early when the socket buffer is full. */
int udp_send_batch(int fd, int v6, const sw_dgram *d, size_t n);

#endif
