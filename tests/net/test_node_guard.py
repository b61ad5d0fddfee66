#!/usr/bin/env python3
"""setowire-node's HTTP bootstrap under attack (issue 11, item 4), with a real node on
loopback and clients bound to several loopback source addresses (127.x.y.z; every
address of 127/8 is local on Linux):

- slowloris: 16 addresses (16 different /24s) each trickling 64 B/s over 16 held
  connections do not stop a real client's POST and GET from being answered promptly;
  the trickling connections are cut at the whole-request deadline (408) or refused
  over the per-address cap (429);
- flood: 64 POSTs of fresh ids from 2 addresses (and then hundreds more) leave every
  real record in GET /peers;
- binding: a POST from another address cannot replace or re-point a record (409); it
  may add its own entry only for its own address; the owner can re-point its record;
- limits answer the right status: 429 (POST rate, connections per address, records
  per address or prefix), 408 (deadline), 413 (body), 503 (a full table does not evict
  another prefix's records).
"""
import http.client
import json
import os
import signal
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import catproc  # noqa: E402
from nodeproc import Node, free_tcp_port, ProcError, skip  # noqa: E402


def req(n, method, path, body=None, src='127.0.0.1', timeout=5.0):
    """(status, body bytes, seconds) of one request from source address src."""
    c = http.client.HTTPConnection('127.0.0.1', n.http_port, timeout=timeout,
                                   source_address=(src, 0))
    t0 = time.monotonic()
    try:
        hdrs = {'Content-Type': 'application/json'} if body is not None else {}
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        return r.status, data, time.monotonic() - t0
    finally:
        c.close()


def rec(id_, ip, port):
    return json.dumps({'id': id_, 'ip': ip, 'port': port}).encode()


def hexid(tag, i):
    return f'{tag:08x}{i:032x}'


def peers(n, src='127.0.0.1'):
    st, body, _ = req(n, 'GET', '/peers', src=src)
    assert st == 200, (st, body)
    return json.loads(body)


def stats(n):
    os.kill(n.pid, signal.SIGUSR1)
    return n.expect('stats', timeout=5)


def loopback_sources_work():
    try:
        with socket.socket() as s:
            s.bind(('127.60.1.1', 0))
        return True
    except OSError:
        return False


class Slowloris:
    """addrs x per_addr connections, each sending one byte of an endless request in
    turn so that every address sends `rate` bytes a second; a connection that is
    closed is opened again. Records the status lines it is sent."""

    def __init__(self, port, addrs, per_addr=16, rate=64):
        self.port, self.addrs, self.per_addr, self.rate = port, addrs, per_addr, rate
        self.stop = threading.Event()
        self.statuses = {}
        self.opened = 0
        self.t = threading.Thread(target=self.run, daemon=True)

    def open(self, src):
        s = socket.socket()
        s.settimeout(1.0)
        s.bind((src, 0))
        s.connect(('127.0.0.1', self.port))
        s.setblocking(False)
        self.opened += 1
        return [s, b'POST /announce HTTP/1.1\r\nHost: x\r\nX-Pad: ' + b'a' * 100000]

    def note(self, data):
        if data.startswith(b'HTTP/1.1 '):
            code = int(data[9:12])
            self.statuses[code] = self.statuses.get(code, 0) + 1

    def run(self):
        conns = {a: [None] * self.per_addr for a in self.addrs}
        period = self.per_addr / self.rate  # each connection sends once per period
        step = period / self.per_addr
        i = 0
        while not self.stop.is_set():
            k = i % self.per_addr
            for a in self.addrs:
                c = conns[a][k]
                try:
                    if c is None:
                        c = conns[a][k] = self.open(a)
                    try:
                        data = c[0].recv(4096)
                        self.note(data)
                        raise OSError('closed')
                    except BlockingIOError:
                        pass
                    c[0].send(c[1][:1])
                    c[1] = c[1][1:]
                except OSError:
                    if c is not None:
                        c[0].close()
                    conns[a][k] = None
            i += 1
            time.sleep(step)
        for a in self.addrs:
            for c in conns[a]:
                if c is not None:
                    c[0].close()

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join(10)


def check_slowloris(bindir):
    with Node(bindir, http_port=free_tcp_port(), args=['--quiet']) as n:
        n.listening()
        addrs = [f'127.60.{i}.1' for i in range(1, 17)]
        with Slowloris(n.http_port, addrs) as sl:
            time.sleep(1.0)  # let it open every connection it can
            worst = 0.0
            t_end = time.monotonic() + 8.0  # past the 5 s deadline: cut and reopened
            i = 0
            while time.monotonic() < t_end:
                st, body, t1 = req(n, 'POST', '/announce',
                                   rec(hexid(0xabc, 0), '127.0.0.1', 5000 + i), timeout=3)
                assert st == 200, (st, body)
                st, body, t2 = req(n, 'GET', '/peers', timeout=3)
                assert st == 200, (st, body)
                worst = max(worst, t1, t2)
                i += 1
                time.sleep(0.4)  # within the 5 POSTs a second an address may make
            assert worst < 1.0, f'a real request took {worst:.2f} s during the slowloris'
        s = stats(n)
        assert s['http_timeouts'] > 0 and s['http_limited'] > 0, s
        assert sl.statuses.get(408, 0) > 0 and sl.statuses.get(429, 0) > 0, sl.statuses
        print(f'slowloris from 16 addresses at 64 B/s ({sl.opened} connections opened, '
              f'answers {sl.statuses}): {2 * i} real requests, slowest {worst * 1000:.0f} ms: ok')


def check_flood(bindir):
    with Node(bindir, http_port=free_tcp_port(), args=['--quiet']) as n:
        n.listening()
        real = {}
        for i in range(6):
            src = f'127.0.{i}.1'
            real[hexid(0x5ea1, i)] = (src, 7000 + i)
            st, body, _ = req(n, 'POST', '/announce', rec(hexid(0x5ea1, i), src, 7000 + i),
                              src=src)
            assert st == 200, (st, body)
        want = [{'id': k, 'ip': v[0], 'port': v[1]} for k, v in real.items()]

        def all_real_listed():
            got = peers(n)
            missing = [w for w in want if w not in got]
            assert not missing, f'real records missing from /peers: {missing}; got {got}'
            return got

        flood = ['127.50.0.1', '127.51.0.1']
        codes = {}
        for j in range(64):
            a = flood[j % 2]
            st, _, _ = req(n, 'POST', '/announce', rec(hexid(0xbad, j), a, 1 + j), src=a)
            codes[st] = codes.get(st, 0) + 1
        assert codes.get(200, 0) >= 50, codes
        got = all_real_listed()
        print(f'64 POSTs from 2 addresses ({codes}): all 6 real records listed among '
              f'{len(got)}: ok')
        # and a longer flood: the same two addresses as fast as they can, 800 POSTs
        codes = {}
        for j in range(800):
            a = flood[j % 2]
            st, _, _ = req(n, 'POST', '/announce', rec(hexid(0xbad, 1000 + j), a, 1), src=a)
            codes[st] = codes.get(st, 0) + 1
        assert codes.get(429, 0) > 700, codes
        all_real_listed()
        s = stats(n)
        assert s['http_entries'] <= 6 + 2 * 32, s  # per-address bound
        print(f'800 more POSTs from them ({codes}): real records still listed: ok')


def check_binding(bindir):
    with Node(bindir, http_port=free_tcp_port(), args=['--quiet']) as n:
        n.listening()
        owner, other = '127.0.7.1', '127.50.0.1'
        vid = hexid(0x0123, 7)
        assert req(n, 'POST', '/announce', rec(vid, owner, 4000), src=owner)[0] == 200
        mine = {'id': vid, 'ip': owner, 'port': 4000}
        # another address: neither re-point to a third address nor to the owner's IP
        for ip, port in ((owner, 4001), ('127.0.9.9', 4000), ('10.0.0.1', 1)):
            st, body, _ = req(n, 'POST', '/announce', rec(vid, ip, port), src=other)
            assert st == 409, (ip, port, st, body)
        # id case does not matter
        st, _, _ = req(n, 'POST', '/announce', rec(vid.upper(), owner, 4002), src=other)
        assert st == 409, st
        assert [p for p in peers(n) if p.get('id') == vid] == [mine], peers(n)
        # records without an id, bound the same way by (ip, port)
        assert req(n, 'POST', '/announce', b'{"ip":"127.0.7.1","port":9}', src=owner)[0] == 200
        assert req(n, 'POST', '/announce', b'{"ip":"127.0.7.1","port":9}', src=other)[0] == 409
        # another address may add an entry of its own for the same id: its own address
        assert req(n, 'POST', '/announce', rec(vid, other, 4444), src=other)[0] == 200
        got = [p for p in peers(n) if p.get('id') == vid]
        assert mine in got and {'id': vid, 'ip': other, 'port': 4444} in got, got
        # the owner may re-point its own record, and only its own
        assert req(n, 'POST', '/announce', rec(vid, owner, 4100), src=owner)[0] == 200
        got = [p for p in peers(n) if p.get('id') == vid]
        assert sorted(p['port'] for p in got) == [4100, 4444], got
        # its own address in IPv4-mapped IPv6 text is its own address too
        third = '127.0.8.1'
        assert req(n, 'POST', '/announce', rec(vid, '::ffff:' + third, 1), src=third)[0] == 200
        assert req(n, 'POST', '/announce', rec(vid, '::ffff:127.0.8.2', 1),
                   src='127.0.8.3')[0] == 409
        assert len([p for p in peers(n) if p.get('id') == vid]) == 3
        s = stats(n)
        assert s['http_conflicts'] == 6, s
        print('a record is bound to its address (409 for others, own entry for their '
              'own address, the owner re-points): ok')


def raw(n, data, src='127.0.0.1', wait=3.0):
    """Send data on a new connection and return what comes back before it closes."""
    with socket.socket() as s:
        s.bind((src, 0))
        s.settimeout(wait)
        s.connect(('127.0.0.1', n.http_port))
        s.sendall(data)
        out = b''
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                out += d
        except (socket.timeout, ConnectionResetError):
            pass
        return out


def check_limits(bindir):
    args = ['--quiet', '--http-rate', '1', '--http-burst', '3', '--http-conns-per-ip', '2',
            '--http-deadline', '1000', '--http-max', '4', '--http-per-source', '3',
            '--http-per-prefix', '4']
    with Node(bindir, http_port=free_tcp_port(), args=args) as n:
        n.listening()
        # POST rate: a burst of 3, then 429 (and 1 a second after that)
        got = [req(n, 'POST', '/announce', rec(hexid(1, i), '127.0.0.1', 100 + i))[0]
               for i in range(4)]
        assert got == [200, 200, 200, 429], got
        time.sleep(1.1)
        # records per address: the 4th record of 127.0.0.1 is refused
        assert req(n, 'POST', '/announce', rec(hexid(1, 9), '127.0.0.1', 9))[0] == 429
        # records per prefix: 127.0.0.2 is in 127.0.0.1's /24, which holds 3 of 4 allowed
        assert req(n, 'POST', '/announce', rec(hexid(2, 0), '127.0.0.2', 1),
                   src='127.0.0.2')[0] == 200
        assert req(n, 'POST', '/announce', rec(hexid(2, 1), '127.0.0.2', 2),
                   src='127.0.0.2')[0] == 429
        # a full table (4) refuses another prefix rather than evict: 503
        st, body, _ = req(n, 'POST', '/announce', rec(hexid(3, 0), '127.0.3.1', 1),
                          src='127.0.3.1')
        assert st == 503, (st, body)
        assert len(peers(n)) == 4
        # body bound: 413, by Content-Length and by the body itself
        st, _, _ = req(n, 'POST', '/announce', b'{"pad":"' + b'x' * 5000 + b'"}',
                       src='127.0.4.1')
        assert st == 413, st
        chunked = (b'POST /announce HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
                   + b'1000\r\n' + b'y' * 4096 + b'\r\n0\r\n\r\n')
        assert raw(n, chunked, src='127.0.4.2').startswith(b'HTTP/1.1 413'), 'chunked 413'
        # connections per address: 2 held, the 3rd is answered 429 and closed
        held = []
        for _ in range(2):
            s = socket.socket()
            s.bind(('127.0.5.1', 0))
            s.connect(('127.0.0.1', n.http_port))
            s.sendall(b'GET /peers HTTP/1.1\r\n')
            held.append(s)
        time.sleep(0.2)
        out = raw(n, b'GET /peers HTTP/1.1\r\nHost: x\r\n\r\n', src='127.0.5.1')
        assert out.startswith(b'HTTP/1.1 429'), out
        # the held ones are cut at the 1 s whole-request deadline, trickle or not: 408
        t0 = time.monotonic()
        for s in held:
            s.settimeout(3)
            s.sendall(b'Host: x\r\n')
            out = s.recv(4096)
            assert out.startswith(b'HTTP/1.1 408'), out
            s.close()
        took = time.monotonic() - t0
        assert took < 1.5, took
        # a whole request from 127.0.5.1 works again
        assert req(n, 'GET', '/peers', src='127.0.5.1')[0] == 200
        # keep-alive: each request on a connection gets its own deadline
        c = http.client.HTTPConnection('127.0.0.1', n.http_port, timeout=3,
                                       source_address=('127.0.6.1', 0))
        for _ in range(3):
            c.request('GET', '/peers')
            r = c.getresponse()
            assert r.status == 200
            r.read()
            time.sleep(0.6)  # 1.8 s on one connection, more than one deadline
        c.close()
        s = stats(n)
        assert s['http_timeouts'] >= 2 and s['http_full'] == 1 and s['http_limited'] >= 4, s
        print('limits: 429 (rate, records per address and prefix, connections), 503 '
              '(full table), 413, 408 (deadline): ok')


def main():
    bindir = catproc.bin_dir()
    if not os.access(os.path.join(bindir, 'setowire-node'), os.X_OK):
        print('FAIL: setowire-node is not built', file=sys.stderr)
        return 1
    if not loopback_sources_work():
        skip('cannot bind 127.60.1.1 (loopback source addresses)')
    try:
        check_binding(bindir)
        check_limits(bindir)
        check_flood(bindir)
        check_slowloris(bindir)
    except (ProcError, AssertionError) as e:
        import traceback
        traceback.print_exc()
        print(f'FAIL: {e}', file=sys.stderr)
        return 1
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
