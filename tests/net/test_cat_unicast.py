#!/usr/bin/env python3
"""setowire-cat --to (unicast), --unreliable (datagrams) and --stats, on loopback.

    test_cat_unicast.py --bin <build>/bin

Four cats with the extended session (--transport extended): B listens, C dials B, A
dials B with --to <start of B's wire id>, D dials B and broadcasts.
  unicast    A's lines (one sent twice) reach B, each every time it was sent, and
             never C, although B floods D's broadcast on to C; A's datagrams
             (--to --unreliable) too; at end of input A prints its --stats line for
             B: extended, and the counts of what it sent.
  stats      SIGUSR1 makes B print one stats line per peer.
  refused    a cat with --transport plain and --to B exits 1 saying the peer cannot
             take a unicast; --to with a non-hex value exits 2.

Exit 0 pass, 1 failure (what failed and the processes' recent output on stderr).
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catproc  # noqa: E402
from catproc import Cat, ProcError  # noqa: E402

TIMEOUT = 10.0
EXT = ['--transport', 'extended']


def check(cond, msg, *procs):
    if not cond:
        raise ProcError(msg + ('\n' + '\n'.join(p.describe() for p in procs) if procs else ''))


def main():
    bindir = catproc.bin_dir()
    t0 = time.monotonic()
    with Cat(bindir, args=EXT + ['--stats'], name='B') as b:
        b.listening()
        at = f'127.0.0.1:{b.port}'
        with Cat(bindir, args=EXT, connect=[at], name='C') as c:
            c.listening()
            b.expect('connection', peer=c.wire_id, timeout=TIMEOUT)
            uni = [f'uni {i}' for i in range(50)]
            with Cat(bindir, args=EXT + ['--to', b.wire_id[:6].upper(), '--stats'],
                     connect=[at], name='A') as a, \
                    Cat(bindir, args=EXT + ['--to', b.wire_id, '--unreliable'],
                        connect=[at], name='A2') as a2:
                a.feed(*uni, 'twice', 'twice')
                a2.feed(*[f'dg {i}' for i in range(10)])
                b.expect_lines(uni + ['twice'], timeout=TIMEOUT)
                b.wait_until(lambda: b.lines().count(b'twice') == 2, TIMEOUT,
                             'the same unicast twice, delivered twice')
                b.wait_until(lambda: sum(x.startswith(b'dg ') for x in b.lines()) >= 8,
                             TIMEOUT, 'most datagrams (loopback loses none normally)')
                a.close_stdin()
                a2.close_stdin()
                check(a.wait_exit(TIMEOUT) == 0, 'A did not exit 0', a)
                check(a2.wait_exit(TIMEOUT) == 0, 'A2 did not exit 0', a2)
                st = a.expect('stats', peer=b.wire_id, timeout=TIMEOUT)
                check(st['extended'] == 1 and st['reference'] == 0,
                      f'A to B not extended: {st}', a)
                check(st['msgs_sent'] == len(uni) + 2, f'A counted {st["msgs_sent"]} sent', a)
                check(st['datagrams_sent'] == 0 and st['packets_sent'] > 0,
                      f'A stats: {st}', a)
            # B floods an ordinary broadcast on to C: C's silence above is the unicast's
            with Cat(bindir, args=EXT, connect=[at], name='D') as d:
                d.listening()
                d.feed('from d, for all')
                c.expect_line('from d, for all', timeout=TIMEOUT)
                d.close_stdin()
                check(d.wait_exit(TIMEOUT) == 0, 'D did not exit 0', d)
            time.sleep(0.3)
            leaked = [x for x in c.lines() if x.startswith((b'uni ', b'twice', b'dg '))]
            check(not leaked, f'C got unicasts meant for B: {leaked[:3]}', c)
            print(f'ok unicast: 52 unicasts and the datagrams at B only, A stats {st["msgs_sent"]} '
                  f'sent ({time.monotonic() - t0:.1f} s)', file=sys.stderr, flush=True)

            os.kill(b.pid, signal.SIGUSR1)
            sc = b.expect('stats', peer=c.wire_id, timeout=TIMEOUT)
            check(sc['extended'] == 1 and sc['msgs_sent'] >= 1, f'B stats for C: {sc}', b)
            print('ok stats: SIGUSR1 prints a line per peer', file=sys.stderr, flush=True)

            with Cat(bindir, args=['--transport', 'plain', '--to', b.wire_id],
                     connect=[at], name='P') as p:
                p.feed('never')
                check(p.wait_exit(TIMEOUT) == 1, 'a plain cat with --to did not exit 1', p)
                p.expect_stderr(lambda t: 'cannot take a unicast' in t, TIMEOUT)
            rc, _, err = catproc.run(bindir, ['--to', 'zz'])
            check(rc == 2 and '--to' in err, f'--to zz exited {rc}: {err!r}')
            check(b'never' not in b.lines(), 'the refused line arrived', b)
            print('ok refused: plain peer exits 1, bad --to exits 2', file=sys.stderr, flush=True)
            c.close_stdin()
            b.close_stdin()
            check(c.wait_exit(TIMEOUT) == 0, 'C did not exit 0', c)
            check(b.wait_exit(TIMEOUT) == 0, 'B did not exit 0', b)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except ProcError as e:
        print(f'FAIL: {e}', file=sys.stderr)
        sys.exit(1)
