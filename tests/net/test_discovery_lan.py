#!/usr/bin/env python3
"""Two setowire-cat processes find each other by LAN multicast alone and exchange
messages: no --connect, DHT, HTTP and STUN off (PROTOCOL.md 11.9).

Multicast must not leave this machine, so each cat runs in its own network namespace,
the two joined by a veth pair and nothing else (tests/lib/netns.py); skipped (77) when
that cannot be set up (not root, no `ip netns`).

Checked:
  - a (address found by itself: the first non-loopback interface) and b (--lan-addr)
    connect, each seeing the other at its veth address, and messages go both ways;
  - c, in b's namespace on another topic, hears the same beacons and connects to
    nobody (topic filter, D33);
  - a's --peer-cache file holds b at exit (written atomically at close).
"""
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
import catproc  # noqa: E402
import eventproc  # noqa: E402
import netns  # noqa: E402


class NsCat(catproc.Cat):
    """setowire-cat inside a namespace (`ip netns exec` execs it: same PID)."""

    def __init__(self, side, bindir, args, name):
        self.out = []
        argv = side.wrap([os.path.join(bindir, 'setowire-cat'), '--events', *args])
        eventproc.EventProc.__init__(self, argv, name)


def main():
    bindir = catproc.bin_dir()
    topic = f'lan-test-{os.getpid()}'
    off = ['--no-dht', '--no-http', '--no-stun']
    failures = []
    with netns.Pair() as pair, tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, 'peers.json')
        a = NsCat(pair.a, bindir, off + ['--peer-cache', cache, topic], 'a')
        b = NsCat(pair.b, bindir, off + ['--lan-addr', pair.b.ip, topic], 'b')
        c = NsCat(pair.b, bindir, off + ['--no-wait', '--lan-addr', pair.b.ip,
                                         topic + '-other'], 'c')
        with a, b, c:
            for x in (a, b, c):
                x.listening()
            # Beacons start 5 s after start and repeat every 5 s.
            ea = a.expect('connection', timeout=20, peer=b.wire_id)
            eb = b.expect('connection', timeout=20, peer=a.wire_id)
            if not ea['addr'].startswith(pair.b.ip + ':'):
                failures.append(f'a sees b at {ea["addr"]}, want {pair.b.ip}:port')
            if not eb['addr'].startswith(pair.a.ip + ':'):
                failures.append(f'b sees a at {eb["addr"]}, want {pair.a.ip}:port')
            a.feed('hello from a')
            b.feed('hello from b')
            b.expect_line('hello from a', timeout=10)
            a.expect_line('hello from b', timeout=10)
            # c heard at least two rounds of beacons by now; it must have met nobody.
            if c.events('connection'):
                failures.append(f'c (other topic) connected: {c.events("connection")}')
            for x in (a, b):
                others = [e for e in x.events('connection') if e['peer'] == c.wire_id]
                if others:
                    failures.append(f'{x.name} connected to c (other topic)')
            for x in (a, b, c):
                x.close_stdin()
            for x in (a, b, c):
                rc = x.wait_exit(15)
                if rc != 0:
                    failures.append(f'{x.name} exited {rc}\n{x.describe()}')
        try:
            with open(cache) as f:
                saved = json.load(f)
            if not any(e.get('id') == b.wire_id and e.get('ip') == pair.b.ip for e in saved):
                failures.append(f'peer cache {saved} does not hold b ({b.wire_id} at {pair.b.ip})')
        except (OSError, ValueError) as e:
            failures.append(f'peer cache file: {e}')
    if failures:
        print('FAIL:\n  ' + '\n  '.join(failures), file=sys.stderr)
        return 1
    print('ok: two cats met by LAN beacons alone and exchanged messages; other topic ignored')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except eventproc.ProcError as e:
        print(f'FAIL: {e}', file=sys.stderr)
        sys.exit(1)
