#!/usr/bin/env python3
"""Two setowire-cat processes with the extended session, on a loopback that loses 10 %
of the datagrams (issue 10, "Real processes"):

    test_xport_loss.py --bin <build>/bin

Both run inside one network namespace of their own (tests/lib/netns.py, Lossy) whose
iptables drops each UDP datagram arriving on its loopback with probability 0.10. The
rule must see every datagram on its own (a segmented send is one packet to iptables
and would be dropped whole): the first runs use SETOWIRE_NO_GSO=1, the last keeps
segmentation offload and has the loopback device split each segmented send first
(Lossy.segment_on_device, needs ethtool; a loud SKIP line without it).

  extended  --transport extended on both sides: 5 000 lines of 100 bytes arrive,
            every one exactly once and in the order they were written; the sender
            then exits 0 by itself (its close waits for the acknowledgements). Once
            with the default controller (BBR), once with --congestion newreno,
            then with the default controller and GSO on.
  plain     the control: the same with the plain transport, which has no
            retransmission, loses some lines. Printed, never a failure (a NOTE when
            it happens to lose none).

The loss starts once both sides report the connection and the extended handshake has
had half a second (two datagrams on loopback): the messages the engine writes before
the handshake completes travel plain (docs/TRANSPORT.md, Status), and this test is
about the transport, not about that switch.

Skipped (77) without root, `ip netns` or iptables. Exit 0 pass, 1 failure.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
import catproc  # noqa: E402
import eventproc  # noqa: E402
import netns  # noqa: E402
from catproc import ProcError, printable  # noqa: E402

LINES = 5000
SIZE = 100
LOSS = 0.10
ENV = {'SETOWIRE_NO_GSO': '1'}


class NsCat(catproc.Cat):
    """setowire-cat inside the namespace (`ip netns exec` execs it: same PID)."""

    def __init__(self, ns, bindir, args, name, env):
        self.out = []
        argv = ns.wrap([os.path.join(bindir, 'setowire-cat'), '--events', *catproc.QUIET,
                        '--bind', '127.0.0.1', *args])
        eventproc.EventProc.__init__(self, argv, name, env=env)


def lines(tag):
    return [(f'{tag} {i:05d} '.encode() + printable(SIZE, tag))[:SIZE] for i in range(LINES)]


def run(ns, bindir, mode, cc=None, env=ENV):
    """One transfer under loss: (lines sent, lines received, datagrams dropped, seconds,
    sender exit code or None)."""
    ns.set_loss(0)
    sent = lines(mode)
    t = ['--transport', mode] + (['--congestion', cc] if cc else [])
    with NsCat(ns, bindir, t + ['--port', '0'], f'recv-{mode}', env) as r:
        port = r.listening()['port']
        with NsCat(ns, bindir, t + ['--port', '0', '--connect', f'127.0.0.1:{port}'],
                   f'send-{mode}', env) as s:
            s.listening()
            r.expect('connection', timeout=10, peer=s.wire_id)
            s.expect('connection', timeout=10, peer=r.wire_id)
            time.sleep(0.5)
            ns.set_loss(LOSS)
            t0 = time.monotonic()
            s.feed(*sent)
            s.close_stdin()
            if mode == 'extended':
                r.wait_until(lambda: len(r.out) >= LINES, 40,
                             f'{LINES} lines through 10 % loss')
                secs = time.monotonic() - t0
                rc = s.wait_exit(15)
            else:
                rc = s.wait_exit(15)
                # nothing is retransmitted: what has not arrived 2 s after the end never will
                n, end = -1, time.monotonic()
                while len(r.out) != n or time.monotonic() < end:
                    n = len(r.out)
                    time.sleep(0.5)
                    if len(r.out) != n:
                        end = time.monotonic() + 2
                secs = time.monotonic() - t0
            got = r.lines()
            dropped = ns.dropped()
    ns.set_loss(0)
    return sent, got, dropped, secs, rc


def main():
    bindir = catproc.bin_dir()
    with netns.Lossy('xloss') as ns:
        for cc, gso in ((None, 0), ('newreno', 0), (None, 1)):
            name = f'extended ({cc or "default controller"}{", GSO on" if gso else ""})'
            if gso:
                why = ns.segment_on_device()
                if why:
                    print(f'SKIP {name}: cannot have the device split segmented sends '
                          f'({why})', file=sys.stderr)
                    continue
            sent, got, dropped, secs, rc = run(ns, bindir, 'extended', cc, {} if gso else ENV)
            if got != sent:
                first = next((i for i, (a, b) in enumerate(zip(sent, got)) if a != b),
                             min(len(sent), len(got)))
                raise ProcError(f'{name}: {len(got)} lines received of {LINES}, first '
                                f'difference at line {first}')
            if rc != 0:
                raise ProcError(f'{name}: the sender exited {rc} (want 0)')
            print(f'ok {name}: {LINES} lines of {SIZE} bytes complete and in order in '
                  f'{secs:.2f} s, {dropped} datagrams dropped on the way', file=sys.stderr)

        sent, got, dropped, secs, rc = run(ns, bindir, 'plain')
        lost = len(set(sent) - set(got))
        if lost:
            print(f'ok plain (control): {lost} of {LINES} lines lost, {dropped} datagrams '
                  f'dropped', file=sys.stderr)
        else:
            print(f'NOTE plain (control): no line lost although {dropped} datagrams were '
                  f'dropped', file=sys.stderr)
    print('PASS', file=sys.stderr)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except ProcError as e:
        print(f'FAIL: {e}', file=sys.stderr)
        sys.exit(1)
