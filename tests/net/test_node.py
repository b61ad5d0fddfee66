#!/usr/bin/env python3
"""setowire-node: its flags and --help, the listening event, the HTTP bootstrap
endpoints (POST /announce, GET /peers: validation, expiry, bounds, per-source limit),
the stats line on SIGUSR1 and a clean exit on SIGTERM and SIGINT."""
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import catproc  # noqa: E402
import nodeproc  # noqa: E402
from nodeproc import Node, http, free_tcp_port, free_udp_port, ProcError  # noqa: E402

SEED = '5eed' * 8


def rec(i, port=4000, ip='127.0.0.1'):
    return json.dumps({'id': f'{i:040x}', 'ip': ip, 'port': port}).encode()


def peers(n):
    st, body = http('GET', f'{n.url}/peers')
    assert st == 200, (st, body)
    v = json.loads(body)
    assert isinstance(v, list), body
    return v


def check_help(bindir):
    p = subprocess.run([os.path.join(bindir, 'setowire-node'), '--help'],
                       capture_output=True, timeout=10)
    assert p.returncode == 0, p
    text = p.stdout.decode()
    for flag in ('--dht-port', '--http-port', '--port', '--bind', '--seed', '--relay',
                 '--max-peers', '--http-max', '--http-ttl', '--http-per-source',
                 '--http-peers', '--http-per-prefix', '--http-rate', '--http-burst',
                 '--http-conns', '--http-conns-per-ip', '--http-deadline', '--events',
                 '--quiet', '--help', '49737', 'SIGUSR1', 'SIGTERM'):
        assert flag in text, f'--help does not mention {flag}'
    for bad in (['--http-port', 'x'], ['--dht-port', '70000'], ['--nope'], ['extra'],
                ['--http-deadline', '50'], ['--http-rate', '0'], ['--http-conns-per-ip', '-1']):
        p = subprocess.run([os.path.join(bindir, 'setowire-node')] + bad,
                           capture_output=True, timeout=10)
        assert p.returncode == 2, (bad, p)
    print('help and usage errors: ok')


def expected_id(bindir):
    """The full id of SEED, as setowire-cat reports it."""
    with catproc.Cat(bindir, args=['--seed', SEED], name='idcat') as c:
        return c.listening()['id']


def check_endpoints(bindir):
    hp, dp = free_tcp_port(), free_udp_port()
    with Node(bindir, http_port=hp, dht_port=dp, args=['--seed', SEED, '--relay']) as n:
        ev = n.listening()
        assert ev['id'] == expected_id(bindir), ev
        assert ev['http_port'] == hp and ev['dht_port'] == dp and ev['port'] > 0, ev
        assert peers(n) == []
        # a valid announce, listed; ids are kept lowercase; re-announce refreshes
        st, body = http('POST', f'{n.url}/announce',
                        b'{"id":"E0747B0FC2E5F8562239F8A2DF040FF919018325",'
                        b'"ip":"127.0.0.1","port":4001}')
        assert st == 200, (st, body)
        n.expect('announce', id='e0747b0fc2e5f8562239f8a2df040ff919018325', port=4001)
        assert peers(n) == [{'id': 'e0747b0fc2e5f8562239f8a2df040ff919018325',
                             'ip': '127.0.0.1', 'port': 4001}]
        st, _ = http('POST', f'{n.url}/announce', rec(0xe0747b0fc2e5f8562239f8a2df040ff919018325,
                                                      port=4002))
        assert st == 200
        assert peers(n) == [{'id': 'e0747b0fc2e5f8562239f8a2df040ff919018325',
                             'ip': '127.0.0.1', 'port': 4002}]
        # records without an id are kept by address; IPv6 text is accepted
        assert http('POST', f'{n.url}/announce', b'{"ip":"::1","port":9}')[0] == 200
        assert {'ip': '::1', 'port': 9} in peers(n)
        # validation
        bad = [b'', b'not json', b'[]', b'{"id":"zz","ip":"127.0.0.1","port":1}',
               b'{"id":"' + b'a' * 40 + b'","ip":"127.0.0.1","port":0}',
               b'{"id":"' + b'a' * 40 + b'","ip":"127.0.0.1","port":65536}',
               b'{"id":"' + b'a' * 40 + b'","ip":"localhost","port":1}',
               b'{"id":"' + b'a' * 40 + b'","ip":"127.0.0.1","port":"1"}',
               b'{"id":"' + b'a' * 40 + b'","port":1}']
        for b in bad:
            st, _ = http('POST', f'{n.url}/announce', b)
            assert st == 400, (b, st)
        st, _ = http('POST', f'{n.url}/announce', b'{"pad":"' + b'x' * 5000 + b'"}')
        assert st == 413, st
        assert http('GET', f'{n.url}/announce')[0] == 405
        assert http('POST', f'{n.url}/peers', b'{}')[0] == 405
        assert http('GET', f'{n.url}/')[0] == 404
        assert len(peers(n)) == 2
        # SIGUSR1: one stats line
        os.kill(n.pid, signal.SIGUSR1)
        st = n.expect('stats', timeout=5)
        assert st['http_entries'] == 2 and st['announces'] == 3 and st['rejected'] == 10, st
        # SIGTERM: clean exit
        t0 = time.monotonic()
        os.kill(n.pid, signal.SIGTERM)
        n.expect('close', timeout=5)
        assert n.wait_exit(5) == 0
        print(f'endpoints, stats, SIGTERM exit in {time.monotonic() - t0:.2f} s: ok')


def check_bounds(bindir):
    hp = free_tcp_port()
    args = ['--http-max', '5', '--http-per-source', '100', '--http-peers', '3',
            '--http-ttl', '2']
    with Node(bindir, http_port=hp, args=args) as n:
        n.listening()
        for i in range(1, 9):
            assert http('POST', f'{n.url}/announce', rec(i, port=1000 + i))[0] == 200
            time.sleep(0.01)  # distinct announce times: "newest" is well defined
        got = peers(n)
        assert [p['port'] for p in got] == [1008, 1007, 1006], got  # newest first, 3 max
        os.kill(n.pid, signal.SIGUSR1)
        assert n.expect('stats', timeout=5)['http_entries'] == 5  # table bound
        # expiry: 2 s without a new announce
        t0 = time.monotonic()
        while peers(n):
            assert time.monotonic() - t0 < 5, 'entries did not expire'
            time.sleep(0.2)
        waited = time.monotonic() - t0
        assert waited > 1.0, waited
        os.kill(n.pid, signal.SIGINT)
        assert n.wait_exit(5) == 0
        print(f'table bound, answer bound, expiry (gone {waited:.1f} s after the checks): ok')
    with Node(bindir, http_port=free_tcp_port(), args=['--http-per-source', '3']) as n:
        n.listening()
        for i in range(1, 4):
            assert http('POST', f'{n.url}/announce', rec(i))[0] == 200
        assert http('POST', f'{n.url}/announce', rec(4))[0] == 429  # a 4th from one source
        assert http('POST', f'{n.url}/announce', rec(2, port=5))[0] == 200  # a refresh is fine
        assert len(peers(n)) == 3
        print('per-source limit: ok')


def check_http_off(bindir):
    hp = free_tcp_port()
    with Node(bindir, http_port=0, args=['--quiet']) as n:
        ev = n.listening()
        assert ev['http_port'] == 0, ev
        try:
            st, _ = http('GET', f'http://127.0.0.1:{hp}/peers', timeout=2)
            raise AssertionError(f'something answered on {hp}: {st}')
        except OSError:
            pass
        assert not n.stderr_lines(), n.stderr_lines()  # --quiet: no log lines
        os.kill(n.pid, signal.SIGTERM)
        assert n.wait_exit(5) == 0
    # a port in use: exit 1 with a message
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        s.listen()
        port = s.getsockname()[1]
        p = subprocess.run([os.path.join(bindir, 'setowire-node'), '--bind', '127.0.0.1',
                            '--http-port', str(port), '--dht-port', str(free_udp_port())],
                           capture_output=True, timeout=10)
        assert p.returncode == 1 and b'HTTP' in p.stderr, p
    print('--http-port 0 and a busy port: ok')


def main():
    bindir = catproc.bin_dir()
    if not os.access(os.path.join(bindir, 'setowire-node'), os.X_OK):
        print('FAIL: setowire-node is not built', file=sys.stderr)
        return 1
    try:
        check_help(bindir)
        check_endpoints(bindir)
        check_bounds(bindir)
        check_http_off(bindir)
    except (ProcError, AssertionError) as e:
        print(f'FAIL: {e}', file=sys.stderr)
        return 1
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
