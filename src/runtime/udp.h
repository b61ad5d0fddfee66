/* Non-blocking UDP sockets with batched system calls (recvmmsg/sendmmsg on Linux,
 * one call per datagram elsewhere). Addresses cross this boundary as canonical sw_addr.
 *
 * Segmentation offload (Linux): a run of datagrams for one destination with equal sizes
 * (the last may be shorter) leaves as one UDP_SEGMENT ("GSO") message, which the kernel
 * cuts into ordinary datagrams; a receiving socket with UDP_GRO may get such a run back
 * as one buffer with its segment size, which udp_recv_batch reports (udp_rx.seg). The
 * environment variables SETOWIRE_NO_GSO=1 and SETOWIRE_NO_GRO=1 turn either off. */
#ifndef SW_RUNTIME_UDP_H
#define SW_RUNTIME_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "core.h"

#define UDP_BATCH 64 /* datagrams per system call */
#define UDP_GSO_SEGS 64 /* most datagrams in one segmented send (the kernel's limit) */

/* Per-socket offload state; all zero for a new socket. */
typedef struct udp_state {
  int gso_off;          /* 1: the kernel refused UDP_SEGMENT once, or it is disabled */
  uint32_t ovfl_seen;   /* last SO_RXQ_OVFL value read (the kernel's counter, wraps) */
  uint64_t rx_dropped;  /* datagrams the kernel dropped for this socket so far, as far
                           as the last received datagram told (SO_RXQ_OVFL) */
} udp_state;

/* Process-wide counters of what the offload achieved (figures for bench/ and tests). */
typedef struct udp_counters {
  uint64_t tx_calls;       /* send system calls */
  uint64_t tx_dgrams;      /* datagrams handed to the kernel */
  uint64_t tx_gso_runs;    /* UDP_SEGMENT messages (runs of two datagrams or more) */
  uint64_t tx_gso_dgrams;  /* datagrams that left inside those */
  uint64_t rx_calls;       /* receive system calls that returned data */
  uint64_t rx_bufs;        /* buffers received */
  uint64_t rx_dgrams;      /* datagrams in them */
  uint64_t rx_gro_bufs;    /* buffers carrying more than one datagram (UDP_GRO) */
} udp_counters;
void udp_counters_get(udp_counters *out);

/* Tests only: when non-zero, a segmented send fails as if the kernel returned this errno. */
extern int udp_test_gso_errno;

/* Open and bind: bind_ip NULL = dual-stack "::" (falling back to 0.0.0.0). */
int udp_open(const char *bind_ip, uint16_t port, int *fd_out, uint16_t *port_out, int *v6_out);
void udp_close(int fd);

/* UDP_BATCH slots of 64 KiB (4 MiB per swarm): a slot holds the largest datagram or
 * the largest coalesced (GRO) buffer the kernel hands over. */
typedef struct udp_rx {
  uint8_t *bufs;        /* UDP_BATCH x slot bytes */
  size_t slot;
  sw_addr from[UDP_BATCH];
  size_t len[UDP_BATCH]; /* bytes in slot i; 0: truncated, nothing to deliver */
  size_t seg[UDP_BATCH]; /* slot i holds datagrams of seg bytes each, the last possibly
                            shorter (seg == len: one datagram); never 0 when len is not */
} udp_rx;

int udp_rx_init(udp_rx *rx);
void udp_rx_free(udp_rx *rx);
/* Receive up to UDP_BATCH buffers (each one datagram, or several coalesced): the
 * count, 0 when none is ready, or SW_EIO. Updates st->rx_dropped. */
int udp_recv_batch(int fd, udp_state *st, udp_rx *rx);
/* One ICMP error the kernel queued for the socket (Linux IP_RECVERR): 1 with the
 * destination it was about and refused 1 for "port unreachable" (0: host or network
 * unreachable), or 0 when none is left. Other queued errors are read and dropped. */
int udp_recv_error(int fd, sw_addr *to, int *refused);
static inline const uint8_t *udp_rx_data(const udp_rx *rx, int i) {
  return rx->bufs + (size_t)i * rx->slot;
}

/* Send n datagrams; returns how many the kernel took (datagrams refused for a reason
 * other than a full buffer count as taken: UDP gives no delivery promise and they
 * must not block the queue), or SW_EIO. Stops early when the socket buffer is full;
 * a segmented run is taken whole or not at all, so the count is always exact. */
int udp_send_batch(int fd, int v6, udp_state *st, const sw_dgram *d, size_t n);

#endif
