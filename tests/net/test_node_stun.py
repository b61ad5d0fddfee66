#!/usr/bin/env python3
"""setowire-node's STUN server (--stun-port, --stun-alt-ip, --stun-alt-port) on loopback.

    test_node_stun.py --bin <build>/bin

A node bound to 127.0.0.1 serves STUN there and on 127.0.0.2 (Linux loopback has all of
127/8) at a primary and an alternate port. Checked, with a stdlib STUN client:
  usage      the alternates without a specific --bind, or without --stun-port, exit 2
  binding    XOR-MAPPED-ADDRESS is our socket, RESPONSE-ORIGIN the primary socket,
             OTHER-ADDRESS 127.0.0.2 at the alternate port, the answer comes from the
             primary socket
  change     CHANGE-REQUEST (IP, port, both) answers come from the socket it asks for and
             say so in RESPONSE-ORIGIN
  coturn     turnutils_stunclient and turnutils_natdiscovery read our answers (skipped,
             with a note, when coturn's client tools are absent)
  garbage    random bytes, responses, bad cookies, truncations get no answer and count as
             stun_dropped in the SIGUSR1 stats
  limit      500 requests from one source get at most the burst plus the rate's worth of
             answers, counted as stun_limited; another source is still answered
  sources    1100 new sources are answered, the table stays at 1024, the least recently
             seen replaced, sources old and new still answered
  ipv6       a node bound to ::1 answers with an IPv6 XOR-MAPPED-ADDRESS (when ::1 exists),
             only that to a bare request (3x), RESPONSE-ORIGIN too to a padded one
  every answer is at most 3x its request (asserted in ask)
The node is stopped by PID (SIGTERM) and must exit 0.

Exit 0 pass, 1 failure, 77 skip (127.0.0.2 cannot be bound).
"""
import argparse
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from nodeproc import Node, free_udp_port, skip  # noqa: E402

COOKIE = 0x2112A442
RATE, BURST = 20, 40  # tools/node/stunsrv_rt.h


def bindable(host, port, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_pair():
    """Two consecutive UDP ports free on 127.0.0.1 and 127.0.0.2."""
    for _ in range(200):
        p = random.randrange(20000, 60000)
        if all(bindable(h, q) for h in ('127.0.0.1', '127.0.0.2') for q in (p, p + 1)):
            return p
    raise AssertionError('no free port pair')


def request(change=0, tid=None, pad=0):
    tid = tid or os.urandom(12)
    attrs = b''
    if change:
        attrs = struct.pack('!HHI', 0x0003, 4, change)
    if pad:  # PADDING (RFC 5780 7.6), pad bytes (a multiple of 4)
        attrs += struct.pack('!HH', 0x0026, pad) + bytes(pad)
    return struct.pack('!HHI', 0x0001, len(attrs), COOKIE) + tid + attrs, tid


def parse_addr(v, tid, xor):
    fam, port = v[1], struct.unpack('!H', v[2:4])[0]
    raw = v[4:]
    if xor:
        port ^= COOKIE >> 16
        key = struct.pack('!I', COOKIE) + tid
        raw = bytes(a ^ b for a, b in zip(raw, key))
    if fam == 1:
        return (socket.inet_ntop(socket.AF_INET, raw[:4]), port)
    return (socket.inet_ntop(socket.AF_INET6, raw[:16]), port)


def parse(data, tid):
    """{'type', attribute name: value} of a STUN message for tid, or None."""
    if len(data) < 20:
        return None
    t, ln, cookie = struct.unpack('!HHI', data[:8])
    if cookie != COOKIE or data[8:20] != tid or 20 + ln != len(data):
        return None
    out = {'type': t}
    i = 20
    while i + 4 <= len(data):
        at, al = struct.unpack('!HH', data[i:i + 4])
        v = data[i + 4:i + 4 + al]
        if at == 0x0020:
            out['xor_mapped'] = parse_addr(v, tid, True)
        elif at == 0x802b:
            out['origin'] = parse_addr(v, tid, False)
        elif at == 0x802c:
            out['other'] = parse_addr(v, tid, False)
        elif at == 0x0009:
            out['error'] = v[2] * 100 + v[3]
        i += 4 + ((al + 3) & ~3)
    return out


def ask(server, change=0, src='127.0.0.1', family=socket.AF_INET, timeout=2.0, pad=0,
        sizes=None):
    """(answer dict, answer's source, our address) of one request, retried a few times;
    every answer is at most 3x the request (asserted); sizes, a list, gets (request,
    answer) lengths."""
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.bind((src, 0))
        s.settimeout(timeout / 4)
        msg, tid = request(change, pad=pad)
        for _ in range(4):
            s.sendto(msg, server)
            try:
                data, frm = s.recvfrom(2048)
            except socket.timeout:
                continue
            assert len(data) <= 3 * len(msg), (len(data), len(msg))
            if sizes is not None:
                sizes.append((len(msg), len(data)))
            return parse(data, tid), frm[:2], s.getsockname()[:2]
        raise AssertionError(f'no answer from {server} (change {change})')
    finally:
        s.close()


def stats(n):
    os.kill(n.pid, signal.SIGUSR1)
    return n.expect('stats', 5)


def part(name, fn, *a):
    t = time.monotonic()
    fn(*a)
    print(f'ok {name} ({time.monotonic() - t:.1f}s)', file=sys.stderr)


def check_usage(bindir):
    exe = os.path.join(bindir, 'setowire-node')
    for bad in (['--stun-port', '3478', '--stun-alt-ip', '127.0.0.2'],
                ['--stun-port', '3478', '--stun-alt-port', '3479'],
                ['--bind', '0.0.0.0', '--stun-port', '3478', '--stun-alt-port', '3479'],
                ['--bind', '127.0.0.1', '--stun-alt-port', '3479'],
                ['--bind', '127.0.0.1', '--stun-port', '3478', '--stun-alt-ip', '::1'],
                ['--bind', '127.0.0.1', '--stun-port', '3478', '--stun-alt-ip', '127.0.0.1'],
                ['--bind', '127.0.0.1', '--stun-port', '3478', '--stun-alt-port', '3478'],
                ['--stun-port', 'x']):
        p = subprocess.run([exe, '--http-port', '0'] + bad, capture_output=True, timeout=10)
        assert p.returncode == 2, (bad, p)
        assert b'stun' in p.stderr, (bad, p.stderr)
    # a STUN port that cannot be bound is a runtime error, said in one line
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(('127.0.0.1', 0))
        p = subprocess.run([exe, '--http-port', '0', '--dht-port', '0', '--bind', '127.0.0.1',
                            '--stun-port', str(busy.getsockname()[1])],
                           capture_output=True, timeout=10)
        assert p.returncode == 1 and b'cannot serve STUN' in p.stderr, p
    text = subprocess.run([exe, '--help'], capture_output=True, timeout=10).stdout.decode()
    for flag in ('--stun-port', '--stun-alt-ip', '--stun-alt-port'):
        assert flag in text, f'--help does not mention {flag}'


def check_binding(port):
    alt = port + 1
    sizes = []
    r, frm, me = ask(('127.0.0.1', port), sizes=sizes)
    assert sizes == [(20, 56)], sizes  # every attribute fits in 3x a bare IPv4 request
    assert r and r['type'] == 0x0101, r
    assert r['xor_mapped'] == me, (r, me)
    assert r['origin'] == ('127.0.0.1', port), r
    assert r['other'] == ('127.0.0.2', alt), r
    assert frm == ('127.0.0.1', port), frm
    # asked at the other corner, OTHER-ADDRESS is the primary one
    r, frm, me = ask(('127.0.0.2', alt))
    assert r['xor_mapped'] == me and frm == ('127.0.0.2', alt), (r, frm)
    assert r['other'] == ('127.0.0.1', port), r


def check_change(port):
    alt = port + 1
    for change, want in ((0x4, ('127.0.0.2', port)), (0x2, ('127.0.0.1', alt)),
                         (0x6, ('127.0.0.2', alt))):
        r, frm, me = ask(('127.0.0.1', port), change)
        assert r and r['type'] == 0x0101, (change, r)
        assert frm == want and r['origin'] == want, (change, r, frm)
        assert r['xor_mapped'] == me, (change, r, me)


def check_coturn(port):
    if not (shutil.which('turnutils_stunclient') and shutil.which('turnutils_natdiscovery')):
        print('NOTE: coturn client tools absent: turnutils part skipped', file=sys.stderr)
        return
    alt = port + 1
    unbuf = ['stdbuf', '-o0'] if shutil.which('stdbuf') else []
    try:
        r = subprocess.run(unbuf + ['turnutils_stunclient', '-p', str(port), '127.0.0.1'],
                           capture_output=True, text=True, timeout=3)
        text = r.stdout
    except subprocess.TimeoutExpired as e:
        # it also sends RESPONSE-PORT, which is refused (420) and then waits: only its
        # first exchange is ours to check
        text = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or '')
    assert 'UDP reflexive addr: 127.0.0.1:' in text, text
    assert f'Other addr: : 127.0.0.2:{alt}' in text, text
    assert f'Response origin: : 127.0.0.1:{port}' in text, text
    r = subprocess.run(['turnutils_natdiscovery', '-m', '-f', '-p', str(port), '127.0.0.1'],
                       capture_output=True, text=True, timeout=20)
    assert 'Endpoint Independent Mapping' in r.stdout, r.stdout
    assert 'Endpoint Independent Filtering' in r.stdout, r.stdout


def garbage():
    tid = os.urandom(12)
    good, _ = request(tid=tid)
    yield b''
    yield b'\x00'
    yield os.urandom(19)
    yield good[:19]
    yield good[:2] + b'\x00\x04' + good[4:]              # length past the end
    yield good[:4] + b'\x21\x12\xa4\x43' + good[8:]      # bad cookie
    yield b'\x01\x01' + good[2:]                         # a success response
    yield b'\x00\x11' + good[2:]                         # an indication
    yield b'\x80' + good[1:]                             # top bits set
    yield good + b'\x00'                                 # trailing byte
    for _ in range(40):
        yield os.urandom(random.randrange(0, 200))


def check_garbage(n, port):
    before = stats(n)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    sent = 0
    try:
        for g in garbage():
            for dst in (port, port + 1):
                s.sendto(g, ('127.0.0.1', dst))
                sent += 1
        s.settimeout(0.7)
        try:
            data, frm = s.recvfrom(2048)
            raise AssertionError(f'garbage answered from {frm}: {data.hex()}')
        except socket.timeout:
            pass
    finally:
        s.close()
    after = stats(n)
    # random bytes could in principle form a valid request: none of 40 will
    assert after['stun_dropped'] - before['stun_dropped'] == sent, (before, after, sent)
    assert after['stun_answered'] == before['stun_answered'], (before, after)
    r, _, me = ask(('127.0.0.1', port))
    assert r['xor_mapped'] == me


def check_limit(n, port):
    before = stats(n)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.3', 0))  # a source of its own: its bucket is full
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    t0 = time.monotonic()
    for i in range(500):
        s.sendto(request()[0], ('127.0.0.1', port))
        if i % 50 == 49:
            time.sleep(0.002)  # let the node drain its receive buffer
    sent_s = time.monotonic() - t0
    got = 0
    s.settimeout(0.5)
    try:
        while True:
            s.recvfrom(2048)
            got += 1
    except socket.timeout:
        pass
    s.close()
    elapsed = sent_s + 0.5
    bound = BURST + RATE * elapsed + 2
    assert BURST <= got <= bound, f'{got} answers to 500 requests in {elapsed:.2f}s (bound {bound:.0f})'
    after = stats(n)
    # the node's receive buffer may overflow first: what arrived is answered or limited
    answered = after['stun_answered'] - before['stun_answered']
    limited = after['stun_limited'] - before['stun_limited']
    assert answered == got and limited > 0 and got + limited <= 500, (before, after, got)
    # another source is still answered at once
    r, _, me = ask(('127.0.0.1', port), src='127.0.0.4')
    assert r['xor_mapped'] == me
    print(f'  {got} of 500 answered in {elapsed:.2f}s', file=sys.stderr)


def check_sources(n, port):
    """More sources than the table holds: each new one starts with a full bucket, the
    least recently seen are replaced, the table stays at its bound, and sources both
    replaced and kept are still found and answered."""
    msg = request()[0]
    answered = 0
    for i in range(1100):
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c.bind((f'127.1.{i >> 8}.{i & 255}', 0))
        c.settimeout(1.0)
        c.sendto(msg, ('127.0.0.1', port))
        try:
            c.recvfrom(2048)
            answered += 1
        except socket.timeout:
            pass
        c.close()
    assert answered >= 1095, f'{answered} of 1100 new sources answered'
    st = stats(n)
    assert st['stun_sources'] == 1024, st
    for src in ('127.1.0.0', '127.1.4.75', '127.0.0.3'):  # replaced, recent, replaced
        r, _, me = ask(('127.0.0.1', port), src=src)
        assert r['xor_mapped'] == me, (src, r, me)


def stop(n):
    os.kill(n.pid, signal.SIGTERM)
    n.expect('close', 10)
    assert n.wait_exit(10) == 0


def check_ipv6(bindir):
    if not (socket.has_ipv6 and bindable('::1', 0, socket.AF_INET6)):
        print('NOTE: no ::1 on this host, IPv6 skipped', file=sys.stderr)
        return
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(('::1', 0))
    port = s.getsockname()[1]
    s.close()
    with Node(bindir, http_port=0, bind='::1', args=['--stun-port', str(port)],
              dht_port=0, name='node6') as n:
        assert n.listening()['stun_port'] == port
        # a bare request pays for XOR-MAPPED-ADDRESS only (44 bytes for 20: 2.2x) ...
        sizes = []
        r, frm, me = ask(('::1', port), src='::1', family=socket.AF_INET6, sizes=sizes)
        assert r['xor_mapped'] == me and 'origin' not in r, (r, me)
        assert sizes == [(20, 44)], sizes
        # ... a padded one (RFC 5780 PADDING, 44 bytes) for RESPONSE-ORIGIN too
        r, frm, me = ask(('::1', port), src='::1', family=socket.AF_INET6, pad=20)
        assert r['xor_mapped'] == me and r['origin'] == ('::1', port), (r, me)
        assert 'other' not in r, r
        # no alternate: a change is refused with 420 from the receiving socket
        r, frm, _ = ask(('::1', port), 0x6, src='::1', family=socket.AF_INET6)
        assert r['type'] == 0x0111 and r['error'] == 420 and frm == ('::1', port), (r, frm)
        stop(n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bin', required=True)
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.bin, 'setowire-node')):
        skip('setowire-node is not built')
    if not bindable('127.0.0.2', 0) or not bindable('127.0.0.3', 0):
        skip('127.0.0.2 cannot be bound (loopback without 127/8)')
    part('usage', check_usage, a.bin)
    port = free_pair()
    args = ['--stun-port', str(port), '--stun-alt-ip', '127.0.0.2', '--stun-alt-port',
            str(port + 1)]
    with Node(a.bin, http_port=0, dht_port=free_udp_port(), args=args) as n:
        assert n.listening()['stun_port'] == port, n.listening()
        part('binding', check_binding, port)
        part('change', check_change, port)
        part('coturn', check_coturn, port)
        part('garbage', check_garbage, n, port)
        part('limit', check_limit, n, port)
        part('sources', check_sources, n, port)
        st = stats(n)
        for k in ('stun_answered', 'stun_dropped', 'stun_limited', 'stun_unsent',
                  'stun_sources'):
            assert k in st, st
        assert st['stun_unsent'] == 0, st
        stop(n)
    part('ipv6', check_ipv6, a.bin)
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
