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

/* TRANSPORT.md 4.5: HS_INIT again after 250 ms, doubling, 7 copies in all (the last at
 * 15.75 s; given up at 31.75 s). Five of them fall within XS_HOLD_MS: at 10 % loss each
 * way a handshake then misses the hold about once in 4 000 tries, against once in 150
 * with three (1 s, doubling), which lost the held messages' reliability on a lossy path
 * (TRANSPORT.md 4.5 gives the reckoning). */
#define XS_INIT_RETRY_MS 250
#define XS_INIT_TRIES 7
/* TRANSPORT.md 2: the higher side initiates itself when no HS_INIT came this long after
 * the HELLO exchange. */
#define XS_HIGHER_INIT_MS 1000
/* TRANSPORT.md 4.3: the responder is under load, and answers an HS_INIT from an address
 * no peer has proven only with a RETRY until it comes back with a cookie, when it has
 * answered this many HS_INITs in the last second, or holds this many answered sessions
 * whose initiator has not yet confirmed them (each holds its buffers). */
#define XS_LOAD_PER_S 16
#define XS_LOAD_UNCONFIRMED 8
/* Plain DATA the peer sent before its first packet may arrive after it (reordering):
 * it is still taken this long after that packet, then refused (TRANSPORT.md 2). */
#define XS_PLAIN_GRACE_MS 2000
/* Messages written to a peer while its handshake runs are held, in order, and released
 * into the extended session once it is confirmed, so none goes plain and arrives after
 * the first extended ones (TRANSPORT.md 8). When the session is not confirmed this long
 * after the HELLO exchange (the HS_INIT and four retransmissions, 4.5), they go plain. */
#define XS_HOLD_MS 4000
/* At most this many bytes held per peer (a largest message fits): a write beyond them is
 * told SW_EAGAIN, and SW_EV_WRITABLE follows once they are released. */
#define XS_HOLD_BYTES (XPORT_MAX_MSG + 1024)
/* The sealed CAPS (TRANSPORT.md 2) goes when the session is created, then again after
 * 1 s, doubling, until the peer's own CAPS arrives, at most this many times in all. */
#define XS_CAPS_RETRY_MS 1000
#define XS_CAPS_TRIES 4
/* The largest packet plaintext probed on a loopback path (docs/TRANSPORT-delivery.md
 * "Packet size"): datagrams of up to 16 KiB, where elsewhere they stay at the base. */
#define XS_PMTU_LOOPBACK (16384 - XPKT_OVERHEAD)

/* The traffic state (TRANSPORT.md 8); an initiator's handshake in progress (INIT_SENT) is `pending`,
 * beside it. */
enum {
  XS_PLAIN = 0,     /* no extended session (yet, or the handshake gave up) */
  XS_RESP_SENT = 2, /* responder: keys, waiting for the initiator's first packet */
  XS_CONFIRMED = 3, /* application messages go only in XPACKETs */
};

struct core_xs {
  int state;
  /* the sealed CAPS (TRANSPORT.md 2) */
  int caps_heard;    /* the peer's arrived */
  unsigned caps_sent;
  uint64_t caps_at;  /* when ours goes again; UINT64_MAX: no more */
  int heard; /* a packet of this session opened: the peer's plain DATA is refused */
  uint64_t heard_at;
  /* handshake in progress (initiator) */
  int pending;
  hs_state hs;
  uint8_t init[HS_INIT_LEN]; /* the HS_INIT, resent byte for byte */
  unsigned tries;
  uint64_t retry_at; /* UINT64_MAX: none */
  uint64_t self_init_at; /* higher side: initiate then if nothing came; 0: no */
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
  /* Messages held while the handshake runs: u32 length, then the bytes, in write order,
   * [held_off, held_len) not yet released. */
  uint8_t *held;
  size_t held_off, held_len, held_cap;
  uint64_t hold_until; /* 0: not holding for a handshake (held ones may still drain) */
  int releasing;       /* the drain sends them: send_message must not hold them again */
  int hold_want;       /* a write was refused for lack of room: SW_EV_WRITABLE later */
};

/* Whether this core advertises XSESSION. */
int xsession_enabled(const sw_core *c);
/* The frame handlers (0x41-0x44 in the registry). */
void xsession_on_packet(void *core, const core_path *from, const uint8_t *buf, size_t len,
                        uint64_t now);
void xsession_on_handshake(void *core, const core_path *from, const uint8_t *buf, size_t len,
                           uint64_t now);
/* A session with p was created (session_on_hello): to a libsetowire peer, our sealed
 * CAPS; begin the extended session when both sides advertise it (the lower side
 * initiates). */
void xsession_on_peer(sw_core *c, core_peer *p, uint64_t now);
/* A sealed CAPS from p (TRANSPORT.md 2): its capability bits, authenticated. They replace
 * what its HELLO trailer said: a XSESSION bit stripped on the way starts the extended
 * session after all (a bit added on the way stops it). */
void xsession_on_caps(sw_core *c, core_peer *p, uint8_t caps, uint64_t now);
/* The peer proved a restart (PROTOCOL.md 21.3): its extended session is gone; make a
 * new one. */
void xsession_restarted(sw_core *c, core_peer *p, uint64_t now);
/* The engine closes: what is held for a session not confirmed goes plain at the next
 * flush (there is no time left to wait for it). */
void xsession_on_close(core_peer *p);
/* Forget p's extended session (peers_clear). */
void xsession_clear(core_peer *p);
/* 1 when application messages to p go through the extended session. */
int xsession_active(const core_peer *p);
/* 1 when p's plain DATA must be refused: a packet of its extended session opened, so
 * it sends its messages there (TRANSPORT.md 2, 8). */
int xsession_refuses_plain(const core_peer *p, uint64_t now);
/* 1 when a message to p must be held (xsession_hold): its handshake runs, or messages
 * held earlier still wait their turn. */
int xsession_holding(const core_peer *p);
/* Hold one message to p (order kept): SW_OK or SW_EAGAIN. */
int xsession_hold(sw_core *c, core_peer *p, const uint8_t *msg, size_t len);
/* 1 when messages to p go through its extended session or its hold: they have their own
 * room (xsession_room), not the output ring's. */
int xsession_takes(const core_peer *p);
/* Room for one message of len bytes in p's send buffer (or hold); when there is none, the caller
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
