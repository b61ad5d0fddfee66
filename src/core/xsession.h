/* The extended session wired into the engine (docs/TRANSPORT.md 2, 8): between two
 * libsetowire peers that both advertise XSESSION (and sw_core_config.xsession is on), a
 * Noise IK handshake (handshake.c) after HELLO/HELLO_ACK, then application messages as
 * MSG frames of the delivery engine (xport.c) inside one-AEAD packets (xpacket.c).
 * Everything else (HELLO, PING/PONG, sealed control, reference peers) stays the plain
 * protocol of PROTOCOL.md.
 *
 * Per peer the state hangs off core_peer.xs, allocated when both sides advertise the
 * bit; the xport inside it is allocated when the handshake yields keys. */
#ifndef SW_CORE_XSESSION_H
#define SW_CORE_XSESSION_H

#include "engine.h"
#include "handshake.h"
#include "xpacket.h"
#include "xport.h"

/* TRANSPORT.md 4.5: HS_INIT again after 1 s, doubling, at most 5 times. */
#define XS_INIT_RETRY_MS 1000
#define XS_INIT_TRIES 5
/* Plain DATA the peer sent before its first packet may arrive after it (reordering):
 * it is still taken this long after that packet, then refused (TRANSPORT.md 2). */
#define XS_PLAIN_GRACE_MS 2000

/* The traffic state (TRANSPORT.md 8); an initiator's handshake in progress (INIT_SENT) is `pending`,
 * beside it. */
enum {
  XS_PLAIN = 0,     /* no extended session (yet, or the handshake gave up) */
  XS_RESP_SENT = 2, /* responder: keys, waiting for the initiator's first packet */
  XS_CONFIRMED = 3, /* application messages go only in XPACKETs */
};

struct core_xs {
  int state;
  int heard; /* a packet of this session opened: the peer's plain DATA is refused */
  uint64_t heard_at;
  /* handshake in progress (initiator) */
  int pending;
  hs_state hs;
  uint8_t init[HS_INIT_LEN]; /* the HS_INIT, resent byte for byte */
  unsigned tries;
  uint64_t retry_at; /* UINT64_MAX: none */
  /* responder: the last HS_INIT answered and its HS_RESP (TRANSPORT.md 4.5) */
  uint64_t last_ts;
  uint8_t last_init[HS_INIT_LEN], last_resp[HS_RESP_LEN];
  int has_resp;
  /* traffic, once keys exist */
  int keyed;
  uint64_t keyed_at;
  uint32_t local_index; /* receivers put it in their packets to us */
  xpkt_tx tx;
  xpkt_rx rx;
  xport *x;
};

/* Whether this core advertises XSESSION. */
int xsession_enabled(const sw_core *c);
/* The frame handlers (0x41-0x44 in the registry). */
void xsession_on_packet(void *core, const core_path *from, const uint8_t *buf, size_t len,
                        uint64_t now);
void xsession_on_handshake(void *core, const core_path *from, const uint8_t *buf, size_t len,
                           uint64_t now);
/* A session with p was created (session_on_hello): begin the extended session when both
 * sides advertise it (the lower side initiates). */
void xsession_on_peer(sw_core *c, core_peer *p, uint64_t now);
/* The peer proved a restart (PROTOCOL.md 21.3): its extended session is gone; make a
 * new one. */
void xsession_restarted(sw_core *c, core_peer *p, uint64_t now);
/* Forget p's extended session (peers_clear). */
void xsession_clear(core_peer *p);
/* 1 when application messages to p go through the extended session. */
int xsession_active(const core_peer *p);
/* 1 when p's plain DATA must be refused: a packet of its extended session opened, so
 * it sends its messages there (TRANSPORT.md 2, 8). */
int xsession_refuses_plain(const core_peer *p, uint64_t now);
/* Room for one message of len bytes in p's send buffer; when there is none, the caller
 * is told SW_EAGAIN and SW_EV_WRITABLE follows once it fits. */
int xsession_room(core_peer *p, size_t len);
/* Queue one reliable application message to p: SW_OK, SW_EAGAIN, SW_EMSGSIZE. */
int xsession_send(sw_core *c, core_peer *p, const uint8_t *msg, size_t len);
/* Queue one engine message (stream kind 2, TRANSPORT.md 7.1) for the module of channel:
 * SW_OK, SW_EAGAIN, SW_EMSGSIZE (len + 1 over XPORT_MAX_MSG), SW_ENOMEM. */
int xsession_send_channel(sw_core *c, core_peer *p, uint8_t channel, const uint8_t *msg,
                          size_t len);
/* Build, seal and queue what p's xport may send now. */
void xsession_flush(sw_core *c, core_peer *p, uint64_t now);
/* Timers: the HS_INIT retransmission and the xport's. */
uint64_t xsession_deadline(const core_peer *p, uint64_t now);
void xsession_timeout(sw_core *c, core_peer *p, uint64_t now);
/* Bytes p's extended session holds (sw_core_memory). */
size_t xsession_memory(const core_peer *p);

#endif
