#!/usr/bin/env python3
"""setowire-cat against the Python and the JavaScript reference peers, each alone.

    test_cat_interop.py --bin <build>/bin

For each reference (ref_peer.py, ref_peer.js), four runs:
  cat dials      cat --connect the reference;
  ref dials      the reference dials cat (its own 8-HELLO dial);
  wire           cat dials through a recording UDP relay (tests/lib/udprelay.py);
  legacy-frag    the reference dials cat --legacy-frag through the relay.
In each run both report the connection with the other's wire id; cat sends a small
line and a 3000-byte line, the reference a small message and a 3000-byte one; each
side receives the other's messages exactly once and intact (cat's stdout, the
reference's data events); at end of input cat exits 0 and the reference reports
cat's disconnect at once (cat's 2-byte GOAWAY; the references would otherwise notice
only after their 60 s timeout).
Through the relay the wire is checked too: the reference's HELLO/HELLO_ACK are the
41-byte legacy form; the reference's 3000-byte message travels as 3 plaintext FRAG
frames, which cat reassembles; cat's 3000-byte line is one encrypted DATA datagram
(3033 bytes) by default and 3 FRAG frames with --legacy-frag; cat's GOAWAY is 2 bytes.

Exit 0 pass, 1 failure (what failed and the processes' recent output on stderr),
77 skip with "SKIP: <reason>" on stderr when a reference (or python3 `cryptography`,
or node) is missing; the other reference is still tested first, and a failure there
still exits 1.
"""
import collections
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
from catproc import Cat, ProcError, printable  # noqa: E402
from udprelay import UdpRelay  # noqa: E402

SEED = {'cat': '33' * 32, 'py': '11' * 32, 'js': '22' * 32}
BIG = 3000
TIMEOUT = 10.0        # per awaited event; loopback needs well under a second
GOAWAY_BOUND = 5.0    # later than this is not "at once" (the reference timeout is 60 s)

T_DATA, T_GOAWAY, T_FRAG, T_HELLO, T_HELLO_ACK = 0x01, 0x0A, 0x0B, 0xA1, 0xA2
DATA_OVERHEAD = 33    # type, nonce, sequence number, tag
FRAG_HDR, FRAG_PIECE = 13, 1188

# (name, who dials, cat uses --legacy-frag, through the recording relay)
RUNS = [('cat dials', 'cat', False, False),
        ('ref dials', 'ref', False, False),
        ('wire', 'cat', False, True),
        ('legacy-frag', 'ref', True, True)]


def check(cond, msg, *procs):
    if not cond:
        raise ProcError(msg + ('\n' + '\n'.join(p.describe() for p in procs) if procs else ''))


def frag_lengths(n):
    """Frame lengths of the FRAG frames that carry an n-byte message (PROTOCOL.md 7.2)."""
    count = -(-n // FRAG_PIECE)
    return [FRAG_HDR + min(FRAG_PIECE, n - i * FRAG_PIECE) for i in range(count)]


def check_wire(relay, cat_dials, legacy, cat_big, ref_big, procs):
    """What the relay saw: `in` is from the dialer, `out` from the listener."""
    from_cat = relay.frames('in' if cat_dials else 'out')
    from_ref = relay.frames('out' if cat_dials else 'in')

    hellos = [f for f in from_ref if f[0] in (T_HELLO, T_HELLO_ACK)]
    check(hellos and all(len(f) == 41 for f in hellos),
          f'reference HELLO/HELLO_ACK lengths {sorted({len(f) for f in hellos})}, want 41', *procs)

    frags = [f for f in from_ref if f[0] == T_FRAG]
    check(sorted(len(f) for f in frags) == sorted(frag_lengths(len(ref_big))),
          f'the reference sent FRAG frames of {[len(f) for f in frags]} bytes for its '
          f'{len(ref_big)}-byte message, want {frag_lengths(len(ref_big))}', *procs)
    check(b''.join(f[FRAG_HDR:] for f in sorted(frags, key=lambda f: f[9:11])) == ref_big,
          "the reference's FRAG frames do not carry its message in plaintext", *procs)

    big_data = [f for f in from_cat if f[0] == T_DATA and len(f) == len(cat_big) + DATA_OVERHEAD]
    cat_frags = [f for f in from_cat if f[0] == T_FRAG]
    if legacy:
        check(not big_data and sorted(len(f) for f in cat_frags) ==
              sorted(frag_lengths(len(cat_big))),
              f'--legacy-frag: cat sent FRAG frames of {[len(f) for f in cat_frags]} bytes and '
              f'{len(big_data)} DATA of {len(cat_big) + DATA_OVERHEAD} bytes; want FRAG '
              f'{frag_lengths(len(cat_big))} and no such DATA', *procs)
        check(b''.join(f[FRAG_HDR:] for f in sorted(cat_frags, key=lambda f: f[9:11]))
              == cat_big, "--legacy-frag: cat's FRAG frames do not carry its line", *procs)
        how = f'cat {len(cat_frags)} FRAG'
    else:
        check(len(big_data) == 1 and not cat_frags,
              f'cat sent its {len(cat_big)}-byte line as {len(big_data)} DATA frame(s) of '
              f'{len(cat_big) + DATA_OVERHEAD} bytes and {len(cat_frags)} FRAG frame(s); want '
              'one encrypted DATA datagram and no FRAG', *procs)
        check(cat_big not in big_data[0], "cat's DATA frame carries its line in clear", *procs)
        dgrams = relay.datagrams('in' if cat_dials else 'out')
        check(big_data[0] in dgrams, "cat's big DATA frame was not alone in its datagram", *procs)
        how = f'cat 1 DATA of {len(big_data[0])} bytes'
    goaways = [f for f in from_cat if f[0] == T_GOAWAY]
    check(goaways and all(len(f) == 2 for f in goaways),
          f'cat GOAWAY frames of {[len(f) for f in goaways]} bytes, want 2', *procs)
    return f'wire: ref HELLO 41 B, ref {len(frags)} FRAG, {how}, GOAWAY 2 B'


def run(bindir, kind, name, dialer, legacy, relayed):
    tag = f'{kind} {name}'
    cat_small = f'{tag}: small line from cat'.encode()
    cat_big = printable(BIG, f'{tag}: big line from cat')
    ref_small = f'{tag}: small message from the reference'.encode()
    ref_big = printable(BIG, f'{tag}: big message from the reference')
    cat_args = ['--seed', SEED['cat']] + (['--legacy-frag'] if legacy else [])
    relay = ref = cat = None
    try:
        if dialer == 'cat':
            ref = refpeer.RefPeer(kind, SEED[kind], name=f'{kind}(listener)')
            ref.listening()
            port = ref.port
            if relayed:
                relay = UdpRelay(ref.port)
                port = relay.port
            cat = Cat(bindir, args=cat_args, connect=[f'127.0.0.1:{port}'], name='cat(dialer)')
            cat.listening()
        else:
            cat = Cat(bindir, args=cat_args, name='cat(listener)')
            cat.listening()
            port = cat.port
            if relayed:
                relay = UdpRelay(cat.port)
                port = relay.port
            ref = refpeer.RefPeer(kind, SEED[kind], connect=[f'127.0.0.1:{port}'],
                                  name=f'{kind}(dialer)')
            ref.listening()
        procs = (cat, ref)
        cat.expect('connection', TIMEOUT, peer=ref.wire_id)
        ref.expect('connection', TIMEOUT, peer=cat.wire_id)

        cat.feed(cat_small, cat_big)
        ref.send(ref_small)
        ref.send(ref_big)
        ref.expect('data', TIMEOUT, peer=cat.wire_id, hex=cat_small.hex())
        ref.expect('data', TIMEOUT, peer=cat.wire_id, hex=cat_big.hex())
        cat.expect_lines([ref_small, ref_big], TIMEOUT)

        t0 = time.monotonic()
        cat.close_stdin()
        rc = cat.wait_exit(TIMEOUT)
        t_exit = time.monotonic() - t0
        check(rc == 0, f'cat exited {rc} at end of input (want 0)', *procs)
        ev = ref.expect('disconnect', GOAWAY_BOUND, peer=cat.wire_id)
        t_disc = ev['_t'] - t0

        got = collections.Counter(cat.lines())
        check(got == collections.Counter([ref_small, ref_big]),
              f'cat printed {[(catproc.short(x), n) for x, n in got.items()]}, want each of '
              'the two reference messages once', *procs)
        ref_data = [e['hex'] for e in ref.events('data')]
        check(sorted(ref_data) == sorted([cat_small.hex(), cat_big.hex()]),
              f'the reference got {len(ref_data)} data events, want each of cat\'s two lines '
              'once', *procs)
        what = (f'connection, small and {BIG}-byte messages both ways exactly once, cat exits '
                f'0 in {t_exit:.2f} s, {kind} sees the disconnect after {t_disc:.2f} s')
        if relay:
            what += '\n        ' + check_wire(relay, dialer == 'cat', legacy, cat_big, ref_big,
                                              procs)
        return what
    finally:
        for p in (cat, ref):
            if p:
                p.kill()
        if relay:
            relay.close()


def main():
    bindir = catproc.bin_dir()
    skipped, ran = [], 0
    t_all = time.monotonic()
    for kind in ('py', 'js'):
        why = refpeer.missing(kind)
        if why:
            print(f'SKIP part: {kind}: {why}', file=sys.stderr, flush=True)
            skipped.append(f'{kind}: {why}')
            continue
        for name, dialer, legacy, relayed in RUNS:
            t0 = time.monotonic()
            try:
                what = run(bindir, kind, name, dialer, legacy, relayed)
            except ProcError as e:
                print(f'FAIL: {kind} {name}: {e}', file=sys.stderr, flush=True)
                return 1
            ran += 1
            print(f'   ok {kind} {name} ({time.monotonic() - t0:.1f} s): {what}',
                  file=sys.stderr, flush=True)
    if skipped:
        refpeer.skip('; '.join(skipped) + (f' ({ran} runs with the other reference passed)'
                                           if ran else ''))
    print(f'PASS: test_cat_interop ({time.monotonic() - t_all:.1f} s)', file=sys.stderr,
          flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
