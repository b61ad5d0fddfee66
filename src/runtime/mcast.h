/* The LAN multicast socket (PROTOCOL.md 11.9): UDP on 0.0.0.0:45678, member of
 * 239.0.0.1, shared with other nodes on the host (SO_REUSEADDR/SO_REUSEPORT), TTL 1,
 * loopback on, so beacons reach the link and other processes on this host only. */
#ifndef SW_RUNTIME_MCAST_H
#define SW_RUNTIME_MCAST_H

#include <stddef.h>

/* Open the socket. ifaddr: the IPv4 address of the interface to send and join on, or
 * NULL for the kernel's choice. SW_OK and *fd, or SW_EIO / SW_EINVAL. */
int mcast_open(const char *ifaddr, int *fd);

/* The LAN IPv4 address beacons announce (PROTOCOL.md 14.2 `lip`): lan_addr when given,
 * else bind when it is a specific IPv4 address, else the first up, non-loopback IPv4
 * interface address (the JavaScript reference's rule; nothing is sent to find it),
 * else 127.0.0.1. Writes at most len bytes. */
void mcast_local_ip(const char *lan_addr, const char *bind, char *out, size_t len);

#endif
