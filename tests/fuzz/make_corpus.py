#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets from the reference vectors.

    python3 tests/fuzz/make_corpus.py [--vectors tests/vectors] [--out tests/fuzz/corpus]

Writes tests/fuzz/corpus/<target>/<sha1 of content>, like libFuzzer names its files, so
running it again adds nothing new; --clean also deletes sha1-named files it no longer
generates. The output is committed; reproducers of fixed bugs are committed next to it
as regress-<what>, which --clean keeps. The input formats are the ones
documented at the top of fuzz_dispatch.c and fuzz_wire.c:

fuzz_dispatch: byte 0 = mode; 0: one datagram from peer P (the Python side of
capture.json, node A of frames.json, whose frames our core, the JS/B identity, can
decrypt), 1: from an unknown address, 2: control byte + plaintext the harness seals,
3: a script of kind(1) arg(1) len(2) body records.
fuzz_wire: raw frames, and text (addresses, seeds).
fuzz_http: answers (status, body) to the HTTP requests of a core that joined a topic.
fuzz_stun: one datagram, for the STUN decoder and the STUN server function.
fuzz_xport: packets of the extended session's delivery engine, each step(1) len(2) body
(the format at the top of fuzz_xport.c); built here by hand, no vectors needed.
fuzz_peercache: a peer cache file. fuzz_gossip: byte 0 even, a gossip object; odd, a me
record. fuzz_relay: byte 0 = type (bits 0-1) and flags, then the frame after its type.
fuzz_bootsrv: POST bodies and GETs of setowire-node's HTTP bootstrap, op(1) len(2) body.
"""
import argparse
import hashlib
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# fuzz_dispatch script records (run_op in fuzz_dispatch.c): kind, arg = peer k (bits 0-1)
# | unknown address u (bits 2-3) | flags f (bits 4-7), u16 length, body.
RAW, RAW_UNKNOWN, DATA, SEALED, HELLO, TIME, DEADLINE, SETCTR, WRITE, BROADCAST, DIAL, \
    CLOSE, FLUSH, DRAIN_MAX, BULK, ANSWER, STORE, FETCH = range(18)
P, Q, R, S = range(4)


def op(kind, body=b"", peer=0, unk=0, f=0):
    return bytes([kind, peer | unk << 2 | f << 4]) + struct.pack(">H", len(body)) + body


def plain(seq, msg):
    return struct.pack(">I", seq) + msg


def load(vdir, name):
    with open(os.path.join(vdir, name)) as f:
        return json.load(f)


def frames_datagrams(frames):
    """Every datagram of frames.json, in order: (sender node, hex)."""
    for fr in frames["frames"]:
        for key in ("datagrams", "python_datagrams", "js_datagrams", "side_effect_datagrams"):
            for d in fr.get(key) or []:
                yield fr["from"], d["hex"]


class Corpus:
    def __init__(self, out):
        self.out = out
        self.files = {}

    def add(self, target, data):
        d = os.path.join(self.out, target)
        os.makedirs(d, exist_ok=True)
        name = hashlib.sha1(data).hexdigest()
        self.files.setdefault(target, set()).add(name)
        path = os.path.join(d, name)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)


def dispatch_corpus(c, capture, frames, data_frames):
    t = "fuzz_dispatch"
    py_to_js = [g for g in capture["datagrams"] if g["dir"] == "py->js"]
    seen = set()
    # Mode 0: every datagram P could send, from P's address.
    for g in py_to_js:
        seen.add(g["hex"])
    for who, h in frames_datagrams(frames):
        if who == "A":
            seen.add(h)
    for f in data_frames["frames"]:
        if f["sender"] == "a":
            seen.add(f["frame_hex"])
    for h in sorted(seen):
        c.add(t, b"\x00" + bytes.fromhex(h))
    # Mode 1: unsolicited frames from unknown addresses (HELLOs of other nodes, PING).
    for who, h in frames_datagrams(frames):
        b = bytes.fromhex(h)
        if b[0] in (0xA1, 0xA2, 0x03, 0x04, 0x30, 0x12) and who != "A":
            c.add(t, bytes([0x01 | (len(b) % 4) << 2]) + b)
    # Mode 2: plaintexts sealed by the harness.
    for f in data_frames["frames"]:
        c.add(t, b"\x02\x00" + bytes.fromhex(f["plaintext_hex"]))
    c.add(t, b"\x02\x01" + plain(0, b"hello from Q"))
    c.add(t, b"\x02\x05\x01")                        # SEALED proof from Q
    c.add(t, b"\x02\x05\x02")                        # SEALED goaway from Q
    c.add(t, b"\x02\x48" + plain(0, b"rebound"))     # P from an unknown address
    c.add(t, b"\x02\x10" + struct.pack(">Q", 2**63) + plain(5, b"far counter"))
    c.add(t, b"\x02\x20" + b"\xde\xad\xbe\xef" + plain(0, b"wrong session id"))
    c.add(t, b"\x02\x00" + b"ab")                    # short plaintext path
    # Reference gossip objects (D14): kept from the application, met (gossip_meet).
    for fr in frames["frames"]:
        if fr["name"] == "GOSSIP_DATA":
            for key in ("python_datagrams", "js_datagrams"):
                for d in fr[key]:
                    c.add(t, b"\x02\x00" + bytes.fromhex(d["fields"]["plaintext_hex"]))
    # Mode 3: the capture replayed in time, as seen by the JS side.
    s, last = b"", 0.0
    for g in py_to_js:
        dt = int(g["t_ms"] - last)
        last = g["t_ms"]
        if dt > 0:
            s += op(TIME, struct.pack(">H", min(dt, 65535)))
        s += op(RAW, bytes.fromhex(g["hex"]), P)
    s += op(TIME, struct.pack(">H", 61), f=1)      # 61 s of silence: P times out
    c.add(t, b"\x03" + s)
    # Out of order and gaps through the jitter buffer, then flooding to Q.
    c.add(t, b"\x03" + op(DATA, plain(1, b"one"), P) + op(DATA, plain(0, b"zero"), P) +
          op(DATA, plain(3, b"three"), P) + op(DEADLINE) + op(DATA, plain(2, b"late"), P) +
          op(DATA, plain(70, b"far ahead"), P) + op(TIME, struct.pack(">H", 60)))
    # New peers R and S, data from them, a write and a broadcast back.
    c.add(t, b"\x03" + op(HELLO, peer=R) + op(DATA, plain(0, b"from R"), R) +
          op(HELLO, peer=S, f=1) + op(SEALED, b"\x01", S) + op(DATA, plain(0, b"S"), S) +
          op(WRITE, b"to P", P) + op(BROADCAST, b"to all") + op(FLUSH))
    # A restart: HELLO again, counter rewound to 0, data with seq 0 again.
    c.add(t, b"\x03" + op(DATA, plain(0, b"a"), P) + op(DATA, plain(1, b"b"), P) +
          op(HELLO, peer=P) + op(SETCTR, struct.pack(">Q", 0), P) +
          op(DATA, plain(0, b"again"), P))
    # A replay without a HELLO, then NAT rebinding, then GOAWAY from a verified address.
    c.add(t, b"\x03" + op(DATA, plain(0, b"x"), P) + op(SETCTR, struct.pack(">Q", 0), P) +
          op(TIME, struct.pack(">H", 11), f=1) + op(DATA, plain(1, b"replay"), P) +
          op(DATA, plain(2, b"moved"), P, unk=1, f=1) + op(RAW, b"\x0a\x00", P) +
          op(RAW_UNKNOWN, b"\x0a\x00", unk=1))
    # Large messages: FRAG to and from a reference peer (byte 0 bit 7: legacy_frag).
    frag = [h for who, h in frames_datagrams(frames) if who == "A" and h.startswith("0b")]
    s = b"".join(op(RAW, bytes.fromhex(h), P) for h in frag[:3])
    c.add(t, b"\x83" + s + op(WRITE, bytes(range(256)) * 12, P) + op(FLUSH))
    c.add(t, b"\x03" + op(WRITE, b"q" * 3000, Q) + op(DIAL, unk=0) + op(DEADLINE) +
          op(DIAL, peer=R, f=3) + op(CLOSE) + op(DATA, plain(0, b"after close"), P))
    # A slow socket: the output queue fills, wraps and refuses writes, then drains.
    s = op(DRAIN_MAX, b"\x00") + op(BULK, struct.pack(">HB", 1500, 40), Q)
    s += op(DRAIN_MAX, b"\x03") + op(BULK, struct.pack(">HB", 9000, 3), f=1)
    s += op(DATA, plain(0, b"f" * 900), P) + op(BULK, struct.pack(">HB", 20000, 8), P)
    s += op(BULK, struct.pack(">HB", 100, 200), Q) + op(DRAIN_MAX)
    c.add(t, b"\x03" + s)
    # The ring wraps: fill it, take some from the head, fill again.
    c.add(t, b"\x03" + op(DRAIN_MAX, b"\x00") + op(BULK, struct.pack(">HB", 1500, 100), Q) +
          op(DRAIN_MAX, b"\x1e") + op(DRAIN_MAX, b"\x00") +
          op(BULK, struct.pack(">HB", 1500, 100), Q) + op(DRAIN_MAX))
    # Big messages received out of order: the jitter buffer's byte bound.
    s = op(BULK, struct.pack(">HBB", 60000, 6, 1), P, f=6) + op(DEADLINE)
    s += op(BULK, struct.pack(">HBB", 1000, 70, 10), Q, f=2) + op(DEADLINE)
    c.add(t, b"\x03" + s)
    # P moves through every unknown address: its address set overflows and is trimmed.
    c.add(t, b"\x03" + op(DATA, plain(0, b"0"), P) + op(RAW, b"\x03" + bytes(28), P) +
          b"".join(op(DATA, plain(i + 1, bytes([i])), P, unk=i, f=1) for i in range(4)) +
          op(TIME, struct.pack(">H", 2000)) + op(DATA, plain(5, b"home"), P))
    # Fragment sets up to the global reassembly budget (4 sets per reference peer).
    def frag(fid, index, count, size=1188):
        return b"\x0b" + struct.pack(">QHH", fid, index, count) + bytes(size)
    c.add(t, b"\x03" + op(HELLO, peer=R) +
          b"".join(op(RAW, frag(i, 0, 882), P if i < 4 else R) for i in range(8)) +
          op(RAW, frag(0, 881, 882, 5), P) + op(TIME, struct.pack(">H", 11), f=1))
    # The application answers from its callback (byte 0 bit 5): echo, broadcast, close.
    c.add(t, b"\x23" + op(DATA, plain(0, b"echo me"), P) + op(DATA, plain(2, b"\xbbflood"), P) +
          op(DATA, plain(1, b"gap"), P) + op(HELLO, peer=R) + op(SEALED, b"\x02", Q) +
          op(TIME, struct.pack(">H", 61), f=1))
    c.add(t, b"\x23" + op(DRAIN_MAX, b"\x00") + op(BULK, struct.pack(">HBB", 30000, 12, 0), P, f=2) +
          op(DRAIN_MAX) + op(DATA, plain(40, b"\xccbye"), P) + op(DATA, plain(41, b"x"), P))
    # A libsetowire peer restarts: its rewound counter from a new address is held and
    # challenged; the answer from the new session proves it and the held frames go on.
    far = op(SETCTR, struct.pack(">Q", 100000), Q)  # the rewinds below leave the window
    c.add(t, b"\x03" + far + op(DATA, plain(0, b"q0"), Q) + op(DATA, plain(1, b"q1"), Q) +
          op(SETCTR, struct.pack(">Q", 5), Q) + op(DATA, plain(0, b"new0"), Q, unk=1, f=1) +
          op(DATA, plain(1, b"new1"), Q, unk=1, f=1) + op(SEALED, b"\x03" + bytes(16), Q, unk=1, f=1) +
          op(ANSWER, peer=Q, unk=1, f=1) + op(DATA, plain(2, b"new2"), Q, unk=1, f=1))
    # A replay challenged: the live session answers (nothing held is taken), a wrong
    # answer, a HELLO answered with HELLO_ACK + CHALLENGE, and a challenge that expires.
    c.add(t, b"\x03" + far + op(DATA, plain(0, b"q0"), Q) + op(SETCTR, struct.pack(">Q", 0), Q) +
          op(DATA, plain(0, b"old"), Q, unk=2, f=1) + op(ANSWER, peer=Q, unk=2, f=3) +
          op(SETCTR, struct.pack(">Q", 100001), Q) + op(ANSWER, peer=Q, unk=2, f=1) +
          op(HELLO, peer=Q) + op(HELLO, peer=Q, unk=3, f=2) + op(ANSWER, peer=Q) +
          op(SETCTR, struct.pack(">Q", 1), Q) + op(DATA, plain(1, b"x"), Q, unk=3, f=1) +
          op(SEALED, b"\x02", Q, unk=3, f=1) + op(TIME, struct.pack(">H", 6), f=1))
    # store/fetch with the frames of frames.json (P is node A, our core node B).
    sync = {fr["name"]: [bytes.fromhex(d["hex"]) for d in (fr.get("datagrams") or fr["python_datagrams"])]
            for fr in frames["frames"]}

    def store(key, value=b"", big=0):
        if big:
            return op(STORE, bytes([len(key)]) + key + struct.pack(">H", big), f=1)
        return op(STORE, bytes([len(key)]) + key + value)

    def fetch(key, tenths=50):
        return op(FETCH, bytes([tenths]) + key)
    # P asks for values we hold: a small one and a windowed transfer it acknowledges.
    c.add(t, b"\x03" + store(b"beta", b"value-beta") + store(b"big", big=125) +
          op(RAW, sync["WANT"][0], P) + op(RAW, sync["WANT_BIG"][0], P) +
          b"".join(op(RAW, x, P) for x in sync["CHUNK_ACK_FIRST"] + sync["CHUNK_ACK_REST"]) +
          op(TIME, struct.pack(">H", 2), f=1) + op(RAW, sync["WANT_BIG"][0], P) +
          op(SEALED, b"\x02", Q) + op(TIME, struct.pack(">H", 61), f=1))
    # We fetch from P: HAVE, small and large CHUNKs (from the reference), a timeout.
    c.add(t, b"\x03" + fetch(b"beta") + fetch(b"big") + fetch(b"gone", 3) +
          op(RAW, sync["HAVE_3_KEYS"][0], P) + op(RAW, sync["CHUNK_SMALL"][0], P) +
          b"".join(op(RAW, x, P) for x in sync["CHUNK_LARGE"]) +
          op(RAW, sync["HAVE_ANNOUNCE_BATCH"][0], P) + op(TIME, struct.pack(">H", 6), f=1))
    # A libsetowire peer serves a transfer and leaves in the middle; the application
    # fetches again from its callback (byte 0 bit 5); PEX from a verified peer.
    c.add(t, b"\x23" + op(DATA, plain(0, b"verify"), Q) + op(DATA, plain(0, b"verify"), P) +
          store(b"big", big=4000) + op(RAW, sync["WANT_BIG"][0], Q) + op(RAW, sync["PEX_2_ENTRIES"][0], P) +
          fetch(b"alpha", 2) + op(TIME, struct.pack(">H", 400)) + op(SEALED, b"\x02", Q) +
          op(TIME, struct.pack(">H", 1), f=1) + op(CLOSE) + op(TIME, struct.pack(">H", 61), f=1))
    # The value cache (8 entries, 2 MiB in the harness) evicts by count, then by bytes.
    c.add(t, b"\x03" + b"".join(store(b"k%d" % i, b"v%d" % i) for i in range(10)) +
          b"".join(store(b"big%d" % i, big=65535) for i in range(3)) + fetch(b"k0") +
          op(RAW, sync["WANT"][0], P) + op(TIME, struct.pack(">H", 1), f=1))
    # The peer table bound: every identity, then an unknown HELLO.
    c.add(t, b"\x43" + op(HELLO, peer=R) + op(HELLO, peer=S, f=1) +
          op(HELLO, peer=R, f=2) + op(TIME, struct.pack(">H", 1000)) +
          op(DEADLINE) + op(DEADLINE))


def wire_corpus(c, capture, frames, hello, data_frames):
    t = "fuzz_wire"
    seen = set(g["hex"] for g in capture["datagrams"])
    seen.update(h for _, h in frames_datagrams(frames))
    for v in hello["vectors"]:
        seen.update((v["hello_hex"], v["hello_ack_hex"]))
    for f in data_frames["frames"]:
        seen.add(f["frame_hex"])
    for h in sorted(seen):
        if len(h) // 2 <= 1500:  # the big FRAGs add nothing the 637-byte one lacks
            c.add(t, bytes.fromhex(h))
    # Our own HELLO trailer, a nested BATCH, edge cases of the decoders.
    h0 = bytes.fromhex(hello["vectors"][0]["hello_hex"])
    c.add(t, h0 + b"SW\x01\x01")
    inner = b"\x13\x02" + struct.pack(">H", 2) + b"\x03\x00" + struct.pack(">H", 3) + b"\x0a\x00\x00"
    c.add(t, b"\x13\x02" + struct.pack(">H", len(inner)) + inner + struct.pack(">H", 41) + h0)
    c.add(t, b"\x0b" + b"\x00" * 8 + b"\x00\x01\x00\x01" + b"x")      # index 1 of count 1
    for text in ("198.51.100.1:40001", "[2001:db8::1]:443", "[::ffff:1.2.3.4]:80",
                 "1.2.3.4:0", "1.2.3.4:65536", "[::1]", "::1:5", "a.b.c.d:1",
                 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "AA"):
        c.add(t, text.encode())


def http_corpus(c, dht):
    """fuzz_http: answers to the requests of a joined core, in the order it makes them:
    bootstrap POST /announce, GET /peers, piping POST announce, GET announce, GET inbox."""
    t = "fuzz_http"
    st = {200: 0, 204: 1, 299: 2, 400: 3, 404: 4, 500: 5, 100: 6, -1: 7}

    def oldest(body, status=200):
        return bytes([st[status] << 5 | 0]) + struct.pack(">H", len(body)) + body

    def pick(i, body, status=200):
        return bytes([st[status] << 5 | 1]) + struct.pack(">H", len(body) + 1) + bytes([i]) + body

    def wait(sec):
        return bytes([2]) + struct.pack(">H", 2) + struct.pack(">H", sec)

    fail_all = bytes([3, 0, 0])
    me = dht["me"]
    rec_py, rec_js = me["python_with_ext"].encode(), me["js_with_ext"].encode()
    peers = json.dumps([
        {"id": me["peer_id_hex"], "ip": "203.0.113.1", "port": 51001},
        {"id": me["peer_id_hex"].upper(), "ip": "10.0.0.2", "port": 5000, "last_seen": 1},
        {"id": None, "ip": "10.0.0.4", "port": 6001},
        {"id": "zz", "ip": "10.0.0.5", "port": 7000},
        {"ip": "2001:db8::7", "port": 7}, {"ip": "10.0.0.6", "port": 0}, 5, None,
        {"id": "579ed6b4c72108eb99a4236832f58fd3dcdc3325", "ip": "10.0.0.8", "port": 8}],
        separators=(",", ":")).encode()
    c.add(t, oldest(b"") + oldest(peers) + oldest(b"") + oldest(rec_py) + oldest(rec_js) +
          wait(1) + oldest(b"  " + rec_js + b"\n") + wait(20) + oldest(b"") + oldest(b"[]"))
    c.add(t, pick(3, b"", 400) + pick(1, b"[1,2", 200) + pick(0, b"", 500) + oldest(b"", -1) +
          wait(200) + fail_all + wait(200) + oldest(b"null") + oldest(b"{}") +
          oldest(me["python_without_ext"].encode()))
    many = json.dumps([{"id": None, "ip": "10.1.%d.%d" % (i // 250, i % 250 + 1), "port": 1000 + i}
                       for i in range(300)], separators=(",", ":")).encode()
    c.add(t, oldest(b"", 204) + oldest(many) + wait(2) + oldest(b"", 299) + oldest(b"", 404) +
          oldest(b"", 100) + wait(60) + fail_all)


# RFC 5769 sample messages: a request with FINGERPRINT and MESSAGE-INTEGRITY, IPv4 and IPv6
# success responses.
RFC5769 = [
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74"
    "002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf",
    "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
    "002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96",
    "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d900080014a382954e4be67bf1"
    "1784c97c8292c275bfe3ed4180280004c8fb0b4c",
]


def stun_corpus(c, stun):
    t = "fuzz_stun"
    req = bytes.fromhex(stun["request"]["hex"])
    c.add(t, req)
    for r in stun["responses"]:
        c.add(t, bytes.fromhex(r["response_hex"]))
    for h in RFC5769:
        c.add(t, bytes.fromhex(h))

    def msg(mtype, attrs):
        body = b"".join(struct.pack(">HH", a, len(v)) + v + b"\0" * (-len(v) % 4)
                        for a, v in attrs)
        return struct.pack(">HHI", mtype, len(body), 0x2112A442) + req[8:20] + body

    # CHANGE-REQUEST (change IP and port, port only), an unknown required attribute, an
    # error response, RESPONSE-ORIGIN and OTHER-ADDRESS in IPv4 and IPv6.
    c.add(t, msg(0x0001, [(0x0003, bytes([0, 0, 0, 6]))]))
    c.add(t, msg(0x0001, [(0x0003, bytes([0, 0, 0, 2]))]))
    c.add(t, msg(0x0001, [(0x0024, bytes.fromhex("6e0001ff")), (0x8022, b"x")]))
    c.add(t, msg(0x0111, [(0x0009, bytes([0, 0, 4, 20]) + b"Unknown Attribute"),
                          (0x000A, bytes.fromhex("0003"))]))
    v4 = bytes([0, 1]) + struct.pack(">H", 3479) + bytes([192, 0, 2, 2])
    v6 = bytes([0, 2]) + struct.pack(">H", 3479) + bytes.fromhex("20010db8" + "00" * 11 + "02")
    c.add(t, msg(0x0101, [(0x0020, v4), (0x802B, v4), (0x802C, v4)]))
    c.add(t, msg(0x0101, [(0x0020, v6), (0x0001, v6), (0x802B, v6), (0x802C, v6)]))


# The extended session's pinned vectors (test_handshake.c, test_xpacket.c,
# tests/unit/check_xsession_vectors.py): a valid INIT and RESP, and two sealed packets.
XS_INIT = bytes.fromhex(
    "4211111111ad32dd2ab49a3fe9950b9f2f81258a21177e1eb0ca076bd4a88731bcffa88d2bab15bbc31f38"
    "e053b811ae70d85d6b4720feadd49c2a8b36e6309dbc99b28531514379a04b89fcc55625357c34be08e123"
    "4e7fa7cd42bb827b4dd9cb3ccb8941f01322761eff3af9a338fba07c92d93bdcea88aecec63615c5b375a9"
    "00000000000000000000000000000000")
XS_RESP = bytes.fromhex(
    "432222222211111111034af831f5f7930850d7baafcaf50a30de90c5526dab06891dc4c1f13106733a26b1"
    "1676f9ff9cf247d0348e6a14629395cae30b24276eb7b17cc638007edf4b3463c4ae")
XS_PKTS = [bytes.fromhex(h) for h in (
    "410001020304000000010203040595c73aba07fcf714f24de8245a20ae7eade7a10025e1d35e",
    "4100010203040000000102030405045672ba9c27ec4b3e2dabbde7fc3f4f1d553f63fc08299b")]


def xsession_corpus(c):
    for m in (XS_INIT, XS_RESP):
        c.add("fuzz_handshake", m)
        c.add("fuzz_handshake", m[:-1])
    c.add("fuzz_handshake", bytes([0x44, 0x11, 0x11, 0x11, 0x11]) + bytes(32))
    for p in XS_PKTS:
        c.add("fuzz_xpacket", p)
        c.add("fuzz_xpacket", bytes([p[0], 1]) + p[2:])
    c.add("fuzz_xpacket", b"setowire")
    c.add("fuzz_xpacket", bytes([0x81]) + bytes(99))


def varint(v):
    """RFC 9000 section 16 variable-length integer, shortest form."""
    if v < 64:
        return bytes([v])
    if v < 16384:
        return struct.pack(">H", v | 0x4000)
    if v < 1 << 30:
        return struct.pack(">I", v | 0x80000000)
    return struct.pack(">Q", v | 0xC0 << 56)


def xport_corpus(c):
    t = "fuzz_xport"

    def pkt(step, body):
        return bytes([step]) + struct.pack(">H", len(body)) + body

    def msg(off, data):
        return b"\x04" + varint(off) + varint(len(data)) + data

    def ack(largest, delay, first, rest=()):
        out = b"\x02" + varint(largest) + varint(delay) + varint(len(rest)) + varint(first)
        for gap, rl in rest:
            out += varint(gap) + varint(rl)
        return out

    ping, window = b"\x01", b"\x03" + varint(1 << 20)
    dgram = b"\x05" + varint(5) + b"hello"
    # the stream: a 5-byte message "hello", then one cut across two packets
    m1 = varint(5) + b"hello"
    m2 = varint(300) + bytes(range(256)) + bytes(44)
    c.add(t, pkt(0, msg(0, m1)))
    c.add(t, pkt(0, msg(0, m1)) + pkt(1, msg(len(m1), m2[:100])) +
          pkt(1, msg(len(m1) + 100, m2[100:])))
    c.add(t, pkt(0, msg(len(m1), m2)) + pkt(3, msg(0, m1)) + pkt(0, msg(0, m1)))  # reordered, duplicate
    c.add(t, pkt(0, ack(0, 1000, 0)) + pkt(1, ack(1, 250, 1)) + pkt(1, ping + window))
    c.add(t, pkt(0, ack(3, 0, 0, [(0, 0)]) + dgram + ping))
    c.add(t, pkt(0, window + msg(0, m1) + dgram) + pkt(5, ack(2, 40, 2)))
    c.add(t, pkt(0, msg(1 << 40, b"x")))  # past the window: refused
    c.add(t, pkt(0, b"\x10"))  # unknown frame type


def records_corpus(c, frames):
    """fuzz_peercache (a cache file), fuzz_gossip (gossip objects, me records), fuzz_relay
    (the relay and introduction frames of frames.json, their bodies after the type)."""
    entry = {"id": "579ed6b4c72108eb99a4236832f58fd3dcdc3325", "ip": "192.168.1.12",
             "port": 40002, "last_seen": 1700000000123}
    c.add("fuzz_peercache", json.dumps([entry]).encode())
    c.add("fuzz_peercache", json.dumps([dict(entry, id="579ed6b4c72108eb"),
                                        {"ip": "::1", "port": 9}, {"ip": "x", "port": 0},
                                        {"id": 5, "ip": "10.0.0.1", "port": 70000}]).encode())
    c.add("fuzz_peercache", b"[]")
    c.add("fuzz_peercache", b"{}")
    gossip = [{"_gossip": True, "id": "579ed6b4c72108eb", "ip": "203.0.113.2", "port": 50995},
              {"_gossip": True, "id": "579ED6B4C72108EB", "ip": "::1", "port": 1}]
    for g in gossip:
        c.add("fuzz_gossip", b"\x00" + json.dumps(g).encode())
        c.add("fuzz_gossip", b"\x00" + json.dumps(g, separators=(",", ":")).encode())
    me = {"id": entry["id"], "ip": "203.0.113.2", "port": 50995, "lip": "192.168.1.12",
          "lport": 40002, "nat": "unknown"}
    c.add("fuzz_gossip", b"\x01" + json.dumps(me, separators=(",", ":")).encode())
    c.add("fuzz_gossip", b"\x01" + entry["id"].encode())
    types = {0x20: 0, 0x21: 1, 0x22: 2, 0x24: 3}
    for _, hx in frames_datagrams(frames):
        b = bytes.fromhex(hx)
        if b and b[0] in types:
            for flags in (0, 4, 8):
                c.add("fuzz_relay", bytes([types[b[0]] | flags]) + b[1:])
    c.add("fuzz_relay", bytes([3]) + bytes(12))
    # fuzz_bootsrv: op(1) len(2) body records; op bit 7 = GET /peers, else POST from
    # client address op & 7
    def rec(o, body=b""):
        return bytes([o]) + struct.pack(">H", len(body)) + body
    ann = json.dumps({"id": entry["id"], "ip": "203.0.113.2", "port": 50995}).encode()
    noid = json.dumps({"ip": "198.51.100.7", "port": 4000}).encode()
    bad = json.dumps({"id": "xyz", "ip": "1.2.3.4", "port": 0}).encode()
    c.add("fuzz_bootsrv", rec(0, ann) + rec(0x80))
    c.add("fuzz_bootsrv", rec(0, ann) + rec(1, ann) + rec(2, noid) + rec(3, bad) + rec(0x80))
    c.add("fuzz_bootsrv", b"".join(rec(i % 8, json.dumps(
        {"id": "%040x" % (i + 1), "ip": "10.0.%d.1" % i, "port": 1000 + i}).encode())
        for i in range(40)) + rec(0x80))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", default=os.path.join(REPO, "tests", "vectors"))
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    ap.add_argument("--clean", action="store_true",
                    help="delete generated seeds that are no longer generated")
    a = ap.parse_args()
    capture = load(a.vectors, "capture.json")
    frames = load(a.vectors, "frames.json")
    hello = load(a.vectors, "hello.json")
    data_frames = load(a.vectors, "data_frames.json")
    c = Corpus(a.out)
    dispatch_corpus(c, capture, frames, data_frames)
    wire_corpus(c, capture, frames, hello, data_frames)
    http_corpus(c, load(a.vectors, "dht.json"))
    stun_corpus(c, load(a.vectors, "stun.json"))
    xsession_corpus(c)
    xport_corpus(c)
    records_corpus(c, frames)
    for target, names in sorted(c.files.items()):
        if a.clean:
            d = os.path.join(a.out, target)
            for f in os.listdir(d):
                if len(f) == 40 and all(ch in "0123456789abcdef" for ch in f) and f not in names:
                    os.remove(os.path.join(d, f))
        print(f"{target}: {len(names)} seed inputs in {os.path.join(a.out, target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
