#!/usr/bin/env python3
"""Self-test of the reference drivers: the Python and JavaScript references talk on
loopback, once with Python dialling JavaScript and once the other way round.  Each
direction carries a small message (one DATA frame) and a 3000-byte one (three
plaintext FRAG frames), and both drivers must quit cleanly.

Exit 0 pass, 1 failure (the reason and both drivers' recent output on stderr),
77 skip ("SKIP: <reason>" on stderr) when a reference, python3 `cryptography` or
node is missing.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refpeer  # noqa: E402

SEED = {'py': '11' * 32, 'js': '22' * 32}
BIG = 3000
TIMEOUT = 10.0          # per awaited event; loopback needs well under a second


def check(cond, msg, *peers):
    if not cond:
        raise refpeer.PeerError(msg + '\n' + '\n'.join(p.describe() for p in peers))


def exchange(a, b):
    """a and b are connected: a small and a big message each way must arrive intact."""
    for src, dst in ((a, b), (b, a)):
        small = f'hello from {src.kind} to {dst.kind}'.encode()
        src.send(small)
        dst.expect('data', TIMEOUT, peer=src.wire_id, hex=small.hex())
        src.sendbig(BIG)
        dst.expect('data', TIMEOUT, peer=src.wire_id, hex=refpeer.pattern(BIG).hex())


def scenario(listener_kind, dialer_kind):
    print(f'-- {dialer_kind} dials {listener_kind}', file=sys.stderr, flush=True)
    with refpeer.RefPeer(listener_kind, SEED[listener_kind], name=f'{listener_kind}(listener)') as lst:
        lst.listening()
        with refpeer.RefPeer(dialer_kind, SEED[dialer_kind], connect=[f'127.0.0.1:{lst.port}'],
                             name=f'{dialer_kind}(dialer)') as dia:
            dia.listening()
            check(len(lst.id) == 40 and len(dia.id) == 40 and lst.id != dia.id,
                  'listening ids must be two distinct 40-hex full ids', lst, dia)
            # Each side reports the other's wire id (first 16 hex of its full id).
            lst.expect('connection', TIMEOUT, peer=dia.wire_id)
            dia.expect('connection', TIMEOUT, peer=lst.wire_id)
            exchange(dia, lst)
            rc_dia = dia.stop()
            dia.expect('close', 1.0)
        rc_lst = lst.stop()
        lst.expect('close', 1.0)
    check(rc_dia == 0 and rc_lst == 0,
          f'drivers must exit 0 on quit (dialer {rc_dia}, listener {rc_lst})', lst, dia)
    print(f'   ok: connection, small and {BIG}-byte messages both ways, clean quit',
          file=sys.stderr, flush=True)


def main():
    why = refpeer.missing('py') or refpeer.missing('js')
    if why:
        refpeer.skip(why)
    try:
        scenario('js', 'py')
        scenario('py', 'js')
    except refpeer.PeerError as e:
        print(f'FAIL: {e}', file=sys.stderr, flush=True)
        return 1
    print('PASS: test_ref_pair', file=sys.stderr, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
