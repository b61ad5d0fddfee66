#!/usr/bin/env python3
"""setowire-cat --signed: signed origins between real processes on loopback.

    test_cat_signed.py --bin <build>/bin

Three cats with the extended session: B listens, A and C dial B (A and C never meet).
  signed     A's --signed lines reach B with origin A, origin_direct 1 and
             origin_signed 1 (B holds A's signing key), and C, through B, with origin A
             and origin_signed 0 (C never met A: nothing to check with); an unsigned
             line from A is origin_signed 0 everywhere.
  key        B's --stats line for A names A's signing key (64 hex digits), the same one
             and C's line for B names B's (another one): each side told the other.
  refused    --signed with --to or --unreliable exits 2.

Exit 0 pass, 1 failure (what failed and the processes' recent output on stderr).
"""
import os
import re
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
    with Cat(bindir, args=EXT + ['--stats'], name='B') as b:
        b.listening()
        at = f'127.0.0.1:{b.port}'
        with Cat(bindir, args=EXT + ['--stats'], connect=[at], name='C') as c, \
                Cat(bindir, args=EXT + ['--signed'], connect=[at], name='A') as a:
            c.listening()
            a.listening()
            b.expect('connection', peer=c.wire_id, timeout=TIMEOUT)
            b.expect('connection', peer=a.wire_id, timeout=TIMEOUT)
            # what is written before the extended session is confirmed goes plain, without
            # its origin: give the handshake (milliseconds here) its time
            time.sleep(0.5)
            a.feed('signed one', 'signed two')
            c.expect_lines(['signed one', 'signed two'], timeout=TIMEOUT)
            ev = b.expect('data', origin=a.id, timeout=TIMEOUT)
            check(ev['origin_direct'] == 1 and ev['origin_signed'] == 1,
                  f'B: A\'s signed line from A itself: {ev}', b)
            ev = c.expect('data', origin=a.id, timeout=TIMEOUT)
            check(ev['origin_direct'] == 0 and ev['origin_signed'] == 0 and
                  ev['peer'] == b.wire_id, f'C: A\'s signed line through B: {ev}', c)
            print('ok signed: checked at B, delivered unchecked at C (never met A)',
                  file=sys.stderr, flush=True)

            os.kill(b.pid, signal.SIGUSR1)
            sa = b.expect('stats', peer=a.wire_id, timeout=TIMEOUT)
            check(isinstance(sa.get('signing_key'), str) and
                  re.fullmatch('[0-9a-f]{64}', sa['signing_key']) is not None,
                  f'B stats for A without its signing key: {sa}', b)
            os.kill(c.pid, signal.SIGUSR1)
            sb = c.expect('stats', peer=b.wire_id, timeout=TIMEOUT)
            check(isinstance(sb.get('signing_key'), str) and sb['signing_key'] != sa['signing_key'],
                  f'C stats for B: {sb}', c)
            print('ok key: --stats names each peer\'s signing key', file=sys.stderr, flush=True)

            a.close_stdin()
            check(a.wait_exit(TIMEOUT) == 0, 'A did not exit 0', a)
            c.close_stdin()
            check(c.wait_exit(TIMEOUT) == 0, 'C did not exit 0', c)
        b.close_stdin()
        check(b.wait_exit(TIMEOUT) == 0, 'B did not exit 0', b)

    for extra in (['--to', 'ab'], ['--unreliable']):
        rc, _, err = catproc.run(bindir, ['--signed'] + extra)
        check(rc == 2 and '--signed' in err, f'--signed {extra} exited {rc}: {err!r}')
    print('ok refused: --signed with --to or --unreliable exits 2', file=sys.stderr, flush=True)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except ProcError as e:
        print(f'FAIL: {e}', file=sys.stderr)
        sys.exit(1)
