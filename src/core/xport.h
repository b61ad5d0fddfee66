/* The delivery engine of the extended session (docs/TRANSPORT-delivery.md): per peer,
 * sans-I/O. It numbers packets, puts frames in their plaintext (MSG: a range of the
 * ordered reliable message stream; DATAGRAM: unreliable; ACK: selective, with ack delay;
 * WINDOW: the receive window; PING), acknowledges what arrives, detects loss by packet
 * threshold and time, probes with a backed-off PTO (RFC 9002), retransmits lost stream
 * bytes (never datagrams), obeys the peer's window and a congestion controller behind the
 * cc.h seam, and hands the application whole messages in order.
 *
 * It seals nothing: xport_build gives the plaintext and its packet number to the packet
 * protection (xpacket), and xport_on_packet takes the opened plaintext with its number.
 * Time is the engine's: milliseconds, given by the caller.
 *
 * Memory per peer is set at xport_init, from xport_limits: the send buffer, the receive
 * buffer, one bit per byte of each for the acknowledged / lost / received maps, the two
 * datagram queues, and the sent-packet records (docs/TRANSPORT-delivery.md "Memory").
 * The two buffers (and their maps) may then grow by doubling, up to lim.buf_max each and
 * within a budget shared by sessions, where the path needs it (TRANSPORT-delivery.md
 * "Buffers that grow"). */
#ifndef SW_CORE_XPORT_H
#define SW_CORE_XPORT_H

#include <stddef.h>
#include <stdint.h>

#include "cc.h"
#include "xseg.h"

/* Frame types inside a packet's plaintext (0x01-0x0f are this engine's). */
enum {
  XPORT_F_PING = 0x01,
  XPORT_F_ACK = 0x02,
  XPORT_F_WINDOW = 0x03,
  XPORT_F_MSG = 0x04,
  XPORT_F_DATAGRAM = 0x05,
  XPORT_F_DIRECT_DATAGRAM = 0x06, /* a DATAGRAM for the receiver alone: never flooded on */
  XPORT_F_PADDING = 0x07, /* the rest of the plaintext is padding (a size probe's) */
};

/* Issue 10: the message limit of the API (one value of sw_swarm_write / broadcast). */
#define XPORT_MAX_MSG 65536
/* Plaintext bytes of one packet: 1372, so that with the packet protection's 30 bytes
 * (docs/TRANSPORT.md 5.1) a full packet is 1402 bytes, the size of the largest datagram
 * the plain protocol already sends (a BATCH of PROTOCOL.md 8.2: 2 + 1400). Every path
 * the plain session works on carries it; QUIC's 1200 (RFC 9000 section 14) cost 14 %
 * more packets, each with its AEAD call and its per-packet work. */
#define XPORT_MTU_DEFAULT 1372
#define XPORT_MTU_MIN 64
#define XPORT_MTU_MAX 65000
/* Larger packets where the caller says the path may carry them (xport_pmtu_path):
 * probes of PING + PADDING at these plaintext sizes, largest first, each size given up
 * after XPORT_PMTU_TRIES probes that are not acknowledged within a probe period (RFC
 * 8899 MAX_PROBES); the first acknowledged one becomes the packet size. A search that
 * found nothing starts again after XPORT_PMTU_RETRY_MS; after a black hole (persistent
 * congestion, or XPORT_PMTU_BLACKHOLE_PTOS probe timeouts in a row, with packets above
 * the base size) the size falls back to the base and the search starts again after
 * XPORT_PMTU_BLACKHOLE_MS. Datagrams stay at the base size (xport_dgram_max). */
/* datagrams of 16, 8 and 4 KiB once the packet protection adds its 30 bytes */
#define XPORT_PMTU_STEPS {16354, 8162, 4066}
#define XPORT_PMTU_TRIES 3
#define XPORT_PMTU_RETRY_MS 60000
#define XPORT_PMTU_BLACKHOLE_MS 10000
#define XPORT_PMTU_BLACKHOLE_PTOS 3
/* The window each side may fill before the first WINDOW frame arrives: one largest
 * message with its length prefix, so a receiver with the smallest buffer still completes
 * every message. A receive buffer is never smaller. */
#define XPORT_INITIAL_WINDOW (XPORT_MAX_MSG + 8)
/* Start buffers: 128 KiB each way bounds a flow at 128 KiB per round trip (1.3 GB/s at
 * a 0.1 ms loopback round trip, 13 MB/s at 10 ms) until they grow (below). */
#define XPORT_SEND_BUF_DEFAULT (128u * 1024)
#define XPORT_RECV_BUF_DEFAULT (128u * 1024)
#define XPORT_BUF_MAX (64u * 1024 * 1024)
/* Buffers that grow (docs/TRANSPORT-delivery.md "Buffers that grow"): each of a
 * session's two buffers starts at its size in xport_limits and doubles, live, where the
 * path needs it, up to XPORT_GROW_MAX_DEFAULT; the bytes all sessions of an engine have
 * grown by, together, stay within XPORT_GROW_BUDGET_DEFAULT (an xport_budget). The
 * receive side measures how fast the application reads over at least
 * XPORT_GROW_INTERVAL_MS and two smoothed RTTs (a tick at least). */
#define XPORT_GROW_MAX_DEFAULT (4u * 1024 * 1024)
#define XPORT_GROW_BUDGET_DEFAULT (64u * 1024 * 1024)
#define XPORT_GROW_INTERVAL_MS 4
/* Unreliable datagrams waiting to leave, and received ones waiting to be read, in bytes
 * (each with a 2-byte length): a full queue answers SW_EAGAIN, a full inbox drops. */
#define XPORT_DGRAM_QUEUE 16384
#define XPORT_DGRAM_INBOX 16384
/* Sent packets remembered until acknowledged or lost: bounds the packets in flight. */
#define XPORT_MAX_SENT 512
/* Acknowledged packet-number ranges a receiver keeps and reports (the oldest forgotten
 * first; a packet at or below a forgotten range is taken as a duplicate). */
#define XPORT_ACK_RANGES 32
/* Stream ranges one packet record carries (a retransmission and new data). */
#define XPORT_PKT_RANGES 4
/* RFC 9002 section 6.1.1: kPacketThreshold; section 6.1.2: kTimeThreshold 9/8 and
 * kGranularity 1 ms. */
#define XPORT_PKT_THRESHOLD 3
#define XPORT_TIME_NUM 9
#define XPORT_TIME_DEN 8
/* Reordering (RFC 8985 sections 6.2 and 7.2, RACK's adaptive window): a packet declared
 * lost and then acknowledged was only late. The sender remembers its last
 * XPORT_LOST_RECENT losses; each one found acknowledged raises the packet threshold past
 * the distance it was reordered by (up to XPORT_REORDER_PKTS_MAX) and, when the time
 * threshold had fired, widens it by an eighth of an RTT (up to XPORT_REORDER_TIME_MAX
 * eighths more). Without it a path whose jitter exceeds three packet gaps loses half its
 * packets on paper and the controller shrinks for nothing (TRANSPORT-delivery.md
 * "Sender: loss, retransmission, probes"). */
#define XPORT_LOST_RECENT 64
#define XPORT_REORDER_PKTS_MAX 64
#define XPORT_REORDER_TIME_MAX 8
/* RFC 8985 section 7.2 (reo_wnd_persist): after this many round trips with losses and
 * no spurious one, the thresholds go back to RFC 9002's. */
#define XPORT_REORDER_PERSIST 16
#define XPORT_GRANULARITY_MS 1
/* RFC 9000 section 13.2.1: acknowledge every second ack-eliciting packet at once, else
 * within max_ack_delay (ours: 10 ms, less than QUIC's 25 ms default, since a short-RTT
 * peer's PTO includes it). */
#define XPORT_ACK_EVERY 2
#define XPORT_MAX_ACK_DELAY_MS 10
/* RFC 9002 section 6.2: PTO doubles per expiry; ours stops doubling after 2^6. */
#define XPORT_PTO_MAX_BACKOFF 6
/* RFC 9002 section 7.6.1: kPersistentCongestionThreshold, in probe timeout periods. */
#define XPORT_PERSISTENT_PTOS 3
/* RFC 9002 section 6.2.2: the initial RTT before any sample (333 ms there; ours is the
 * references' RTT_INIT of the cc seam). */
#define XPORT_INITIAL_RTT_MS CC_RTT_INIT_MS

#define XPORT_RELIABLE 1u /* xport_send flag: ordered, retransmitted (else a datagram) */
#define XPORT_DIRECT 2u   /* xport_send / xport_recv_ex flag: for the receiver alone (a
                             unicast its engine must not flood on) */
#define XPORT_ORIGIN 4u   /* xport_recv_ex flag: a stream entry of kind 4, whose first
                             XPORT_ORIGIN_HDR bytes name its author and message id */
/* A stream entry's length prefix is kind x 2^17 + length: kind 0 is a mesh message (the
 * prefix is the bare length, as before), kind 1 a direct one, kind 2 an engine one
 * (XPORT_ENGINE below), kind 4 a mesh message with its origin (20-byte author id, 8-byte
 * message id, then the message; the length counts all of it); other kinds break the
 * stream. */
#define XPORT_ENTRY_DIRECT (1u << 17)
/* xport_send / xport_recv_ex flag, reliable only: an engine message (stream kind 2,
 * prefix 2 x 2^17 + length): between the two engines, never the application's; its
 * first byte names the engine module it is for (TRANSPORT.md 7.1). */
#define XPORT_ENGINE 8u
#define XPORT_ENTRY_ENGINE (2u << 17)
#define XPORT_ENTRY_ORIGIN (4u << 17)
#define XPORT_ORIGIN_HDR 28
/* The largest message a kind 4 entry carries (the entry stays within XPORT_MAX_MSG). */
#define XPORT_ORIGIN_MAX_MSG (XPORT_MAX_MSG - XPORT_ORIGIN_HDR)
/* xport_recv_ex flag: a stream entry of kind 5, a mesh message with a signed origin:
 * its first XPORT_SIGNED_HDR bytes are the kind 4 header (author id, message id) then
 * the author's 64-byte signature (TRANSPORT-delivery.md, MSG). */
#define XPORT_SIGNED 16u
#define XPORT_ENTRY_SIGNED (5u << 17)
#define XPORT_SIGNED_HDR (XPORT_ORIGIN_HDR + 64)
#define XPORT_SIGNED_MAX_MSG (XPORT_MAX_MSG - XPORT_SIGNED_HDR)

/* The bytes by which buffers grew, shared by the sessions that point to it: a growth
 * that would take `used` past `limit` does not happen; a session gives its share back
 * when it is freed. The owner (the engine) keeps it alive as long as the sessions. */
typedef struct xport_budget {
  size_t limit;
  size_t used;
} xport_budget;

typedef struct xport_limits {
  size_t mtu;      /* plaintext bytes per packet */
  size_t send_buf; /* bytes of reliable messages written and not yet acknowledged: the
                      start size; it doubles where the path needs it, up to buf_max */
  size_t recv_buf; /* bytes of the stream received and not yet read: likewise */
  size_t buf_max;  /* the largest either buffer grows to; at or below their start size
                      (0 too): they never grow. At most XPORT_BUF_MAX */
  xport_budget *budget; /* the bytes grown, shared with other sessions; NULL: no bound
                           beyond buf_max */
} xport_limits;

/* XPORT_MTU_DEFAULT, buffers of XPORT_SEND_BUF_DEFAULT / XPORT_RECV_BUF_DEFAULT that
 * grow up to XPORT_GROW_MAX_DEFAULT, no budget. */
void xport_limits_default(xport_limits *l);

typedef struct xport_stats {
  uint64_t msgs_sent, msgs_received;     /* reliable messages written / read */
  uint64_t bytes_sent, bytes_received;   /* their payload bytes */
  uint64_t dgrams_sent, dgrams_received; /* datagrams written / read */
  uint64_t dgrams_dropped;               /* received with the inbox full */
  uint64_t packets_sent, packets_received, packets_duplicate;
  uint64_t packets_lost;        /* declared lost */
  uint64_t packets_spurious;    /* declared lost, then acknowledged: reordered */
  uint64_t retransmitted_bytes; /* stream bytes sent again */
  uint64_t pto_count;           /* PTO expiries */
  uint64_t persistent;          /* persistent congestion events */
  size_t queued;                /* send buffer bytes in use (written, unacknowledged) */
  size_t buffered;              /* receive buffer bytes in use (received, unread) */
  uint64_t cwnd;                /* the controller's window (UINT64_MAX: none) */
  uint64_t in_flight;
  double srtt_ms, rttvar_ms, min_rtt_ms;
  size_t mtu;                   /* plaintext bytes per packet now */
  uint64_t pmtu_probes, pmtu_probes_lost, pmtu_blackholes;
  size_t send_buf, recv_buf;      /* the buffers' sizes now (lim.send_buf / recv_buf) */
  uint64_t send_grows, recv_grows; /* doublings of each */
  uint64_t grows_refused;         /* doublings the budget or an allocation refused */
} xport_stats;

typedef struct xport_sent {
  uint64_t pn;
  uint64_t sent_at;
  uint32_t bytes;
  uint8_t flags;   /* XS_* in xport.c */
  uint8_t nranges;
  uint32_t len[XPORT_PKT_RANGES];
  uint64_t off[XPORT_PKT_RANGES];
  cc_pkt rate; /* the controller's delivery-rate sampling state when it left (cc.h) */
} xport_sent;

typedef struct xport_range {
  uint64_t lo, hi; /* inclusive */
} xport_range;

typedef struct xport {
  xport_limits lim;
  cc_state cc;
  /* packet numbers */
  uint64_t next_pn;
  /* sender: the stream. [snd_base, snd_end) is in the send ring; bytes below snd_next
   * were sent at least once; the peer allows up to snd_max. */
  uint8_t *snd_ring;
  uint64_t *snd_acked; /* one bit per ring byte */
  uint64_t *snd_lost;  /* one bit per ring byte: to send again */
  uint64_t snd_base, snd_next, snd_end, snd_max;
  uint64_t lost_bytes, lost_hint;
  size_t want_room; /* bytes a refused xport_send needed; 0: nobody waits */
  /* bytes an engine stream write waits for (xport_want_room: sync's transfers); 0: none.
   * It grows the ring as want_room does, with no xport_writable report */
  size_t eng_room;
  int writable;
  /* sender: datagrams waiting */
  uint8_t dq[XPORT_DGRAM_QUEUE];
  size_t dq_head, dq_len;
  /* sender: packets in flight, oldest first */
  xport_sent sent[XPORT_MAX_SENT];
  size_t sent_tail, sent_count;
  uint64_t largest_acked; /* valid when have_acked */
  int have_acked;
  uint64_t last_eliciting_at; /* send time of the newest ack-eliciting packet */
  uint64_t eliciting_out;     /* ack-eliciting packets outstanding */
  uint64_t loss_time;         /* UINT64_MAX: none */
  /* reordering (XPORT_LOST_RECENT): the latest losses, oldest first, each with how far
   * below the largest acknowledged it was and whether time declared it; the thresholds
   * they have raised so far */
  struct {
    uint64_t pn;
    uint32_t dist;
    uint8_t by_time, live;
  } lost_recent[XPORT_LOST_RECENT];
  size_t lost_head, lost_n;
  unsigned pkt_thresh, time_extra;
  unsigned reo_persist;  /* round trips with losses left before they go back */
  uint64_t reo_round_at; /* the next loss counts towards that from this time on */
  unsigned pto_count;
  int probes; /* probe packets the PTO allows past the controller */
  /* RFC 9002 section 5 estimator for loss detection */
  double srtt, rttvar, min_rtt, latest_rtt;
  int have_rtt;
  /* receiver: the stream ring over [rcv_read, rcv_read + recv_buf) */
  uint8_t *rcv_ring;
  uint64_t *rcv_have; /* one bit per ring byte */
  uint64_t rcv_read, rcv_contig, rcv_adv;
  int window_dirty;
  /* receiver: datagrams waiting to be read */
  uint8_t di[XPORT_DGRAM_INBOX];
  size_t di_head, di_len;
  /* receiver: acknowledgement state */
  xport_range ack[XPORT_ACK_RANGES]; /* highest first */
  size_t nack;
  uint64_t ack_floor; /* packet numbers below it are taken as seen */
  uint64_t largest_rx_at;
  unsigned ack_eliciting_rx; /* ack-eliciting packets since the last ACK sent */
  uint64_t ack_deadline;     /* UINT64_MAX: none */
  int ack_now, ack_changed;
  int ping_pending;
  int broken; /* the peer broke the stream framing: nothing more is delivered */
  /* xport_recv_peek: the message handed out in place, consumed by xport_recv_done */
  int peeked;
  size_t peek_pl;
  uint64_t peek_len;
  int doomed; /* its owner let go of it while peeked: whoever peeked frees it after */
  /* during xport_build_v: where the stream bytes of the packet being built are */
  xseg *segs;
  const uint8_t *segs_base; /* the plaintext buffer they are offsets into */
  size_t nsegs;
  xport_stats st;
  /* packet size search (xport_pmtu_path): lim.mtu is base_mtu until a probe of a larger
   * size is acknowledged on the path the caller names */
  size_t base_mtu, pmtu_max;
  uint64_t pmtu_path;
  size_t probe_size; /* the outstanding probe's size (valid with probe_out) */
  int probe_out;
  uint64_t probe_pn, probe_sent_at, probe_next_at;
  unsigned probe_fails, probe_step;
  /* the highest stream offset + 1 acknowledged through the bit map (sender) and
   * received through it (receiver, out of order): at or above them no bit is set, and
   * in-order runs skip the maps */
  uint64_t snd_acked_hi, rcv_hi;
  /* growth: the bytes both buffers grew by (charged to lim.budget), and the receive
   * side's measure of reading: rcv_read and rcv_adv at rcv_mark_at, and whether the
   * peer's data reached that window since then */
  size_t grown;
  uint64_t rcv_mark_at, rcv_mark_off, rcv_mark_adv;
  int rcv_filled;
  /* when an ACK last acknowledged a packet not acknowledged before (0: never) */
  uint64_t acked_at;
  /* the ACK just sent stood for several the receiver would have sent one by one: send
   * it once more (xport_build) */
  int ack_repeat;
} xport;

/* SW_OK, SW_EINVAL on limits out of range, SW_ENOMEM. cc: NULL for cc_unlimited. */
int xport_init(xport *x, const xport_limits *lim, const cc_ops *cc, uint64_t now);
void xport_free(xport *x);

/* Queue one message: XPORT_RELIABLE for ordered, retransmitted delivery (up to
 * XPORT_MAX_MSG bytes), else a datagram (up to xport_dgram_max). SW_OK, SW_EMSGSIZE, or
 * SW_EAGAIN when the send buffer or datagram queue is full; xport_writable then reports
 * when room returns. */
int xport_send(xport *x, const void *data, size_t len, unsigned flags, uint64_t now);
/* Queue one reliable kind 4 entry: hdr (XPORT_ORIGIN_HDR bytes: author id, message id)
 * then the message, up to XPORT_ORIGIN_MAX_MSG bytes. Results as xport_send. */
int xport_send_origin(xport *x, const uint8_t *hdr, const void *data, size_t len,
                      uint64_t now);
/* The same for a kind 5 entry: hdr is XPORT_SIGNED_HDR bytes, the message at most
 * XPORT_SIGNED_MAX_MSG. */
int xport_send_signed(xport *x, const uint8_t *hdr, const void *data, size_t len,
                      uint64_t now);
size_t xport_dgram_max(const xport *x);
/* The engine's own stream (not the application) waits for len bytes of room it does
 * not have: the send ring may grow for it (docs/TRANSPORT-delivery.md "Buffers that
 * grow"), and no xport_writable report follows. */
void xport_want_room(xport *x, size_t len);
/* 1 once after an SW_EAGAIN when the refused message would now fit. */
int xport_writable(xport *x);

/* The plaintext of the next packet into buf (cap >= lim.mtu is best) and its number into
 * *pn; 0 when nothing may leave now (nothing to say, the controller, the pacer, the
 * peer's window, or the sent records full). Call until it returns 0. */
size_t xport_build(xport *x, uint64_t now, uint8_t *buf, size_t cap, uint64_t *pn);
/* The same, but the stream bytes stay in the send ring: buf holds every other byte of
 * the plaintext, and segs (XSEG_MAX of them) / *nsegs say which ranges of it are where
 * in the ring, in order. Valid until the next call that changes the xport. */
size_t xport_build_v(xport *x, uint64_t now, uint8_t *buf, size_t cap, uint64_t *pn, xseg *segs,
                     size_t *nsegs);

/* An opened packet. SW_OK (also for a duplicate, ignored), or SW_EINVAL for a malformed
 * plaintext or a peer that broke the protocol (then nothing of it was applied). */
int xport_on_packet(xport *x, uint64_t pn, const uint8_t *buf, size_t len, uint64_t now);

/* The next message in order into buf: its length, with *reliable set; SW_EAGAIN when
 * none is complete; SW_EMSGSIZE when cap is too small (nothing consumed); SW_EINVAL when
 * the peer broke the stream framing. Reading opens the receive window. */
int xport_recv(xport *x, void *buf, size_t cap, int *reliable);
/* The same, with XPORT_RELIABLE, XPORT_DIRECT, XPORT_ORIGIN and XPORT_SIGNED in *flags
 * (with XPORT_ORIGIN, buf starts with the XPORT_ORIGIN_HDR bytes of the entry; with
 * XPORT_SIGNED, with its XPORT_SIGNED_HDR bytes). */
int xport_recv_ex(xport *x, void *buf, size_t cap, unsigned *flags);
/* The next stream message where it lies in the receive buffer, not copied: its length,
 * *data, and *flags as xport_recv_ex gives them; SW_ENOTSUP when it cannot be read in
 * place (a datagram comes first, or the message wraps around the buffer's end: use
 * xport_recv_ex), SW_EAGAIN and SW_EINVAL as xport_recv_ex. Nothing is consumed until
 * xport_recv_done, and until then *data stays valid: only xport_on_packet and
 * xport_free change the receive buffer, and the owner calls neither in between (while
 * `peeked` it drops packets, and defers the free through `doomed`). Until
 * xport_recv_done, xport_recv_ex returns SW_EAGAIN. */
int xport_recv_peek(xport *x, const uint8_t **data, unsigned *flags);
/* The message of the last xport_recv_peek is read (no-op without one). */
void xport_recv_done(xport *x);

/* The path packets go on now, by a name of the caller's choice, and the largest
 * plaintext it may try there (0: none above the base). A new name or limit starts
 * over from the base size: a path never gets larger packets than the base until a
 * probe on it was acknowledged. */
void xport_pmtu_path(xport *x, uint64_t path, size_t max, uint64_t now);

/* When xport_timeout is next due (UINT64_MAX: never), and the timer itself. After a
 * timeout, call xport_build again. */
uint64_t xport_deadline(const xport *x, uint64_t now);
void xport_timeout(xport *x, uint64_t now);

void xport_stats_get(const xport *x, xport_stats *out);

/* Frame codec, exposed for tests and the fuzz target: the QUIC variable-length integer
 * (RFC 9000 section 16), and a walk over a plaintext's frames that checks every length. */
size_t xport_varint_len(uint64_t v);
size_t xport_varint_put(uint8_t *p, size_t cap, uint64_t v);
size_t xport_varint_get(const uint8_t *p, size_t len, uint64_t *v);
/* SW_OK when every frame of buf parses inside it (and ACK ranges stay above zero). */
int xport_check(const uint8_t *buf, size_t len);

#endif
