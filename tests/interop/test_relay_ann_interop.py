#!/usr/bin/env python3
"""A setowire-cat started with --relay announces itself to reference peers with
RELAY_ANN (PROTOCOL.md 11.7, 15.3), and they take it without harm.

    test_relay_ann_interop.py --bin <build>/bin

For each reference (ref_peer.py, ref_peer.js): the reference listens, cat --relay dials
it through a recording UDP relay (tests/lib/udprelay.py). Checked on the wire: cat sends
a RELAY_ANN as the session forms, in the references' layout (cat's wire id, an IP text,
cat's port), and another about 30 s later (RELAY_ANN_MS). Checked in the reference: its
relay table (the driver's `relays` command) holds cat with that address, and the session
stands: messages still go both ways afterwards and no disconnect is reported. A cat
without --relay sends none.

Exit 0 pass, 1 failure, 77 skip ("SKIP: <reason>") when neither reference can run.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TESTS, 'net'))
sys.path.insert(0, os.path.join(TESTS, 'lib'))
import catproc  # noqa: E402
import refpeer  # noqa: E402
from catproc import Cat  # noqa: E402
from udprelay import UdpRelay  # noqa: E402

SEED = {'py': '11' * 32, 'js': '22' * 32, 'cat': '33' * 32}
TIMEOUT = 10.0
RELAY_ANN = 0x20
PERIOD = 30.0


def check(cond, msg, *procs):
    if not cond:
        raise refpeer.PeerError(msg + '\n' + '\n'.join(p.describe() for p in procs if p))


def anns(relay):
    """RELAY_ANN frames cat sent, decoded: (wire id hex, ip text, port)."""
    out = []
    for f in relay.frames('in'):
        if len(f) >= 12 and f[0] == RELAY_ANN:
            n = f[9]
            out.append((f[1:9].hex(), f[10:10 + n].decode('ascii', 'replace'),
                        int.from_bytes(f[10 + n:12 + n], 'big')))
    return out


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return pred()


def run(bindir, kind, serve):
    ref = cat = relay = None
    try:
        ref = refpeer.RefPeer(kind, SEED[kind], name=f'{kind}(listener)')
        ref.listening()
        relay = UdpRelay(ref.port)
        args = ['--seed', SEED['cat']] + (['--relay'] if serve else [])
        cat = Cat(bindir, args=args, connect=[f'127.0.0.1:{relay.port}'], name='cat')
        cat.listening()
        procs = (cat, ref)
        cat.expect('connection', TIMEOUT, peer=ref.wire_id)
        ref.expect('connection', TIMEOUT, peer=cat.wire_id)
        if not serve:
            time.sleep(2.0)
            check(not anns(relay), f'cat without --relay sent RELAY_ANN: {anns(relay)}', *procs)
            return 'no --relay: no RELAY_ANN'
        first = wait_for(lambda: anns(relay), 5.0)
        check(first, 'cat --relay sent no RELAY_ANN as the session formed', *procs)
        wid, ip, port = first[0]
        check(wid == cat.wire_id and port == cat.port,
              f'RELAY_ANN names {wid} port {port}, want {cat.wire_id} port {cat.port}', *procs)
        ref.line('relays')
        ev = ref.expect('relays', TIMEOUT)
        mine = [r for r in ev['list'] if r['id'] == cat.wire_id]
        check(mine and mine[0]['ip'] == ip and mine[0]['port'] == port,
              f'the reference\'s relay table {ev["list"]} does not hold cat at {ip}:{port}', *procs)
        t0 = time.monotonic()
        again = wait_for(lambda: len(anns(relay)) >= 2, PERIOD + 5.0)
        gap = time.monotonic() - t0
        check(again, f'no second RELAY_ANN within {PERIOD + 5:.0f} s', *procs)
        # the session stands: messages both ways, no disconnect
        ref.send(b'after the announcement')
        cat.feed(b'cat still here')
        cat.expect_line(b'after the announcement', TIMEOUT)
        ref.expect('data', TIMEOUT, peer=cat.wire_id, hex=b'cat still here'.hex())
        check(not ref.events('disconnect'), 'the reference dropped cat', *procs)
        return (f'RELAY_ANN {wid} {ip}:{port} on connecting and again after {gap:.0f} s more; '
                f'in the {kind} relay table; session kept')
    finally:
        for p in (cat, ref):
            if p:
                p.kill()
        if relay:
            relay.close()


def main():
    bindir = catproc.bin_dir()
    ran, failed = 0, 0
    for kind in ('js', 'py'):
        why = refpeer.missing(kind)
        if why:
            print(f'-- {kind}: skipped: {why}', file=sys.stderr, flush=True)
            continue
        for serve in (True, False):
            try:
                what = run(bindir, kind, serve)
                print(f'ok {kind}: {what}', file=sys.stderr, flush=True)
            except refpeer.PeerError as e:
                print(f'FAIL {kind}: {e}', file=sys.stderr, flush=True)
                failed += 1
            ran += 1
    if not ran:
        refpeer.skip('no reference available')
    print(f'{ran - failed} passed, {failed} failed', file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
