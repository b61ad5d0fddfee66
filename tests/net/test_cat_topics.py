#!/usr/bin/env python3
"""setowire-cat on several topics at once (issue 12 item 2), found by LAN multicast alone
(DHT, HTTP and STUN off), each cat in a network namespace joined to the other by a veth
pair (tests/lib/netns.py); skipped (77) when that cannot be set up.

  - a joins X (positional) and Y (--topic); b (other namespace) joins Y, c (b's
    namespace) joins X: a connects to both while b and c, sharing no topic, stay apart;
  - a connection dialled because a beacon of a topic was heard names that topic
    ("topic": hex of its SHA-256) and never another one; messages flow both ways.
"""
import hashlib
import os
import sys

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
    x = f'topics-x-{os.getpid()}'
    y = f'topics-y-{os.getpid()}'
    hx, hy = (hashlib.sha256(t.encode()).hexdigest() for t in (x, y))
    off = ['--no-dht', '--no-http', '--no-stun', '--no-wait']
    failures = []
    with netns.Pair() as pair:
        a = NsCat(pair.a, bindir, off + [x, '--topic', y], 'a')
        b = NsCat(pair.b, bindir, off + ['--lan-addr', pair.b.ip, y], 'b')
        c = NsCat(pair.b, bindir, off + ['--lan-addr', pair.b.ip, '--topic', x], 'c')
        with a, b, c:
            for p in (a, b, c):
                p.listening()
            a.expect('connection', timeout=25, peer=b.wire_id)
            a.expect('connection', timeout=25, peer=c.wire_id)
            b.expect('connection', timeout=10, peer=a.wire_id)
            c.expect('connection', timeout=10, peer=a.wire_id)
            shared = {(a.name, b.wire_id): hy, (b.name, a.wire_id): hy,
                      (a.name, c.wire_id): hx, (c.name, a.wire_id): hx}
            named = {hx: 0, hy: 0}
            for p in (a, b, c):
                for e in p.events('connection'):
                    want = shared.get((p.name, e['peer']))
                    if want is None:
                        failures.append(f'{p.name} connected to {e["peer"]} (no shared topic)')
                    elif 'topic' in e:
                        if e['topic'] != want:
                            failures.append(f'{p.name}: connection to {e["peer"]} names '
                                            f'{e["topic"]}, want {want}')
                        else:
                            named[want] += 1
            for h, n in named.items():
                if n == 0:
                    failures.append(f'no connection named topic {h}')
            a.feed('from a')
            b.expect_line('from a', timeout=10)
            c.expect_line('from a', timeout=10)
            for p in (a, b, c):
                p.close_stdin()
            for p in (a, b, c):
                rc = p.wait_exit(15)
                if rc != 0:
                    failures.append(f'{p.name} exited {rc}\n{p.describe()}')
    if failures:
        print('FAIL:\n  ' + '\n  '.join(failures), file=sys.stderr)
        return 1
    print('ok: a on two topics met b (Y) and c (X) by LAN; connections named their topic')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except eventproc.ProcError as e:
        print(f'FAIL: {e}', file=sys.stderr)
        sys.exit(1)
