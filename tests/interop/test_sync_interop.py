#!/usr/bin/env python3
"""store / fetch between setowire-cat and each reference (Python, JavaScript):

- the reference stores a small value and a large one (1 MiB, 1 166 windowed CHUNKs);
  setowire-cat --fetch gets both, byte for byte (the reference announces them with its
  HAVE on connecting, before any DATA: our peer must accept control frames from a
  reference peer's registered address);
- setowire-cat --store serves a small and a large value; the reference's fetch()
  resolves to the same length and SHA-256, and its sync event fires.

The time of each 1 MiB fetch is printed as a figure. Exit 0 pass, 1 failure, 77 skip
("SKIP: <reason>") when no reference can run here.
"""
import hashlib
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'net'))
import refpeer  # noqa: E402
import catproc  # noqa: E402

SEED = {'py': '31' * 32, 'js': '32' * 32}
BIG = 1 << 20
SMALL = b'a small value \x00\xff from the reference'
TIMEOUT = 60.0


def check(cond, msg, *peers):
    if not cond:
        raise refpeer.PeerError(msg + '\n' + '\n'.join(p.describe() for p in peers))


def cat_fetch(bindir, port, key):
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(bindir, 'setowire-cat')] + catproc.QUIET +
                       ['--bind', '127.0.0.1', '--connect', f'127.0.0.1:{port}',
                        '--fetch', key, '--timeout', '30000'],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr.decode(errors='replace'), time.monotonic() - t0


def ref_stores(bindir, kind):
    with refpeer.RefPeer(kind, SEED[kind], name=f'{kind}(store)') as ref:
        port = ref.listening()['port']
        ref.line('store small ' + SMALL.hex())
        ref.line(f'storebig big {BIG}')
        time.sleep(0.3)     # the driver handles its commands in order, asynchronously
        for key, want in (('small', SMALL), ('big', refpeer.pattern(BIG))):
            rc, out, err, took = cat_fetch(bindir, port, key)
            check(rc == 0 and out == want,
                  f'setowire-cat --fetch {key} from {kind}: exit {rc}, {len(out)} bytes '
                  f'(want {len(want)}): {err}', ref)
            print(f'   ok: {kind} stored {key}, setowire-cat fetched {len(out)} bytes intact '
                  f'in {took * 1000:.0f} ms', file=sys.stderr, flush=True)
        print(f'figure: 1 MiB from the {kind} reference to setowire-cat on loopback: '
              f'{took * 1000:.0f} ms (process start and handshake included)', file=sys.stderr)
        ref.stop()


def ref_fetches(bindir, kind, tmp):
    big = os.urandom(BIG)
    paths = {}
    for name, data in (('small', SMALL), ('big', big)):
        paths[name] = os.path.join(tmp, f'{kind}-{name}')
        with open(paths[name], 'wb') as f:
            f.write(data)
    with catproc.Cat(bindir, args=['--store', f'small={paths["small"]}',
                                   '--store', f'big={paths["big"]}'], name='cat(store)') as cat:
        port = cat.listening()['port']
        with refpeer.RefPeer(kind, SEED[kind], connect=[f'127.0.0.1:{port}'],
                             name=f'{kind}(fetch)') as ref:
            ref.listening()
            ref.expect('connection', TIMEOUT)
            for key, want in (('small', SMALL), ('big', big)):
                t0 = time.monotonic()
                ref.line(f'fetch {key} 30000')
                ev = ref.expect('fetched', TIMEOUT, key=key)
                took = time.monotonic() - t0
                check(ev['len'] == len(want) and ev['sha256'] == hashlib.sha256(want).hexdigest(),
                      f'{kind} fetched {key}: {ev}', ref, cat)
                ref.expect('sync', TIMEOUT, key=key, len=len(want))
                print(f'   ok: setowire-cat stored {key}, {kind} fetched {len(want)} bytes intact '
                      f'in {took * 1000:.0f} ms', file=sys.stderr, flush=True)
            print(f'figure: 1 MiB from setowire-cat to the {kind} reference on loopback: '
                  f'{took * 1000:.0f} ms', file=sys.stderr)
            ref.stop()
        cat.close_stdin()
        check(cat.wait_exit(10) == 0, 'the storing cat did not exit 0', cat)


def main():
    bindir = catproc.bin_dir()
    kinds = [k for k in ('py', 'js') if not refpeer.missing(k)]
    if not kinds:
        refpeer.skip('; '.join(refpeer.missing(k) for k in ('py', 'js')))
    for k in ('py', 'js'):
        if k not in kinds:
            print(f'note: {k} reference skipped: {refpeer.missing(k)}', file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix='sw-sync-interop-')
    try:
        for kind in kinds:
            ref_stores(bindir, kind)
            ref_fetches(bindir, kind, tmp)
    except refpeer.PeerError as e:
        print(f'FAIL: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
