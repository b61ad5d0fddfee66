#!/usr/bin/env python3
"""setowire-cat and a reference peer (Python, then JavaScript) find each other on the
LAN alone (PROTOCOL.md 11.9) and exchange messages both ways: no --connect, the cat's
DHT/HTTP/STUN off, the reference's other discovery neutralised by its driver.

Each pair runs in two network namespaces joined by a veth pair and nothing else
(tests/lib/netns.py): the cat in A, the reference in B with `ref_peer --lan`, so the
multicast beacons stay on that veth. Skipped (77) when namespaces cannot be made, or
when neither reference can run; one missing reference is reported and the other run.

Checked per reference: both sides report the connection (the cat sees the reference at
its veth address), a line from the cat arrives at the reference and a message from the
reference arrives at the cat, and the cat reports the reference connected once (the
reference re-dials us every few seconds, D10; that must not make new sessions).
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'net'))
import catproc  # noqa: E402
import eventproc  # noqa: E402
import netns  # noqa: E402
import refpeer  # noqa: E402


class NsCat(catproc.Cat):
    def __init__(self, side, bindir, args, name):
        self.out = []
        argv = side.wrap([os.path.join(bindir, 'setowire-cat'), '--events', *args])
        eventproc.EventProc.__init__(self, argv, name)


class NsRef(refpeer.RefPeer):
    def __init__(self, side, kind, seed, topic, name):
        self.kind = kind
        interp = sys.executable if kind == 'py' else refpeer.node_binary()[0]
        argv = side.wrap([interp, refpeer.DRIVERS[kind], '--seed', seed, '--topic', topic,
                          '--lan'])
        eventproc.EventProc.__init__(self, argv, name)


def one(kind, bindir):
    topic = f'lan-interop-{kind}-{os.getpid()}'
    with netns.Pair(kind) as pair:
        cat = NsCat(pair.a, bindir, ['--no-dht', '--no-http', '--no-stun', topic], 'cat')
        ref = NsRef(pair.b, kind, '5a' * 31 + ('01' if kind == 'py' else '02'), topic,
                    f'ref-{kind}')
        with cat, ref:
            cat.listening()
            ref.listening()
            # Beacons: ours every 5 s after join, the reference's every 5 s from start.
            ev = cat.expect('connection', timeout=25, peer=ref.wire_id)
            ref.expect('connection', timeout=25, peer=cat.wire_id)
            if not ev['addr'].startswith(pair.b.ip + ':'):
                raise eventproc.ProcError(f'cat sees the {kind} reference at {ev["addr"]}, '
                                          f'want {pair.b.ip}:port')
            line = f'hello {kind} reference over the LAN'.encode()
            cat.feed(line)
            ref.expect('data', timeout=10, peer=cat.wire_id, hex=line.hex())
            back = f'hello cat from {kind}'.encode()
            ref.send(back)
            cat.expect_line(back, timeout=10)
            # The reference re-dials us on each beacon it hears (every 5 s, D10): give it
            # time for two, then count our sessions with it.
            left = ev['_t'] + 11 - time.monotonic()
            if left > 0:
                time.sleep(left)
            n = len([e for e in cat.events('connection') if e['peer'] == ref.wire_id])
            if n != 1:
                raise eventproc.ProcError(f'cat reported {n} connections of the reference')
            cat.close_stdin()
            rc = cat.wait_exit(15)
            if rc != 0:
                raise eventproc.ProcError(f'cat exited {rc}\n' + cat.describe())
            ref.stop()
    return f'{kind}: LAN discovery both ways, messages both ways'


def main():
    bindir = catproc.bin_dir()
    why = netns.available()
    if why:
        eventproc.skip(why)
    kinds = [k for k in ('py', 'js') if not refpeer.missing(k)]
    for k in ('py', 'js'):
        if k not in kinds:
            print(f'NOTE: {k} reference not run: {refpeer.missing(k)}', file=sys.stderr)
    if not kinds:
        eventproc.skip('no reference can run here')
    for k in kinds:
        print('ok: ' + one(k, bindir), flush=True)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except eventproc.ProcError as e:
        print(f'FAIL: {e}', file=sys.stderr)
        sys.exit(1)
