#!/usr/bin/env python3
"""Signed and content-addressed values between setowire-cat processes on loopback
(docs/VALUES.md):

- --signing-key prints 64 hex digits, the same for the same --seed, another for another;
- a writer's --store-signed prints its seq (stdin is the value); a reader's
  --fetch-signed SIGNER/NAME prints the payload and "seq N from peer ..." on stderr;
- a second writer process with the same identity and --seq 2 serves the new version:
  the reader gets seq 2; --fetch-signed of a name nobody holds exits 3 ("not found");
- --store-content - prints "c:" + SHA-256 hex of its input, and --fetch of that key
  gives the bytes back;
- bad usage (a signer that is not 64 hex digits, --seq without --store-signed) exits 2.

Exit 0 pass, 1 failure.
"""
import hashlib
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import catproc  # noqa: E402

QUIET = catproc.QUIET + ['--bind', '127.0.0.1']
SEED = '5e' * 32


def fail(msg):
    print('FAIL: ' + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def cat_run(bindir, args, timeout=30):
    p = subprocess.run([os.path.join(bindir, 'setowire-cat')] + QUIET + args,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors='replace')


def writer(bindir, args, value, name):
    """A cat that stores `value` from its stdin and serves it; its stdout's first line."""
    w = catproc.Cat(bindir, args=args, name=name)
    w.write(value)
    w.close_stdin()
    w.listening()
    w.wait_until(lambda: w.out, 10, 'no stdout line (seq or key)')
    return w, w.out[0].decode()


def stop(w):
    os.kill(w.pid, signal.SIGTERM)
    rc = w.wait_exit(10)
    if rc != 0:
        fail(f'{w.name}: exit {rc} after SIGTERM')


def main():
    bindir = catproc.bin_dir()

    # 1. the signing key
    rc, out, err = cat_run(bindir, ['--seed', SEED, '--signing-key'])
    key = out.decode().strip()
    if rc != 0 or len(key) != 64 or any(ch not in '0123456789abcdef' for ch in key):
        fail(f'--signing-key: exit {rc}, {out!r}, {err}')
    rc2, out2, _ = cat_run(bindir, ['--seed', SEED, '--signing-key'])
    rc3, out3, _ = cat_run(bindir, ['--seed', '6f' * 32, '--signing-key'])
    if rc2 or rc3 or out2.decode().strip() != key or out3.decode().strip() == key:
        fail('--signing-key is not a function of the seed alone')
    print(f'   ok: --signing-key {key[:16]}...', file=sys.stderr, flush=True)

    # 2. version 1
    w1, seq = writer(bindir, ['--seed', SEED, '--store-signed', 'doc'], b'version one\n', 'w1')
    with w1:
        if seq != '1':
            fail(f'--store-signed printed {seq!r}, not 1')
        rc, out, err = cat_run(bindir, ['--connect', f'127.0.0.1:{w1.port}', '--fetch-signed',
                                        f'{key}/doc', '--timeout', '10000'])
        if rc != 0 or out != b'version one\n' or 'doc: seq 1 from peer ' + w1.wire_id not in err:
            fail(f'--fetch-signed v1: exit {rc}, {out!r}, {err!r}')
        print('   ok: --fetch-signed: seq 1 from the writer', file=sys.stderr, flush=True)
        # a name nobody holds: every peer says so
        rc, out, err = cat_run(bindir, ['--connect', f'127.0.0.1:{w1.port}', '--fetch-signed',
                                        f'{key}/nothing', '--timeout', '15000'])
        if rc != 3 or out or 'not found' not in err:
            fail(f'--fetch-signed of a missing name: exit {rc}, {out!r}, {err!r}')
        print('   ok: a missing name: exit 3', file=sys.stderr, flush=True)
        stop(w1)

    # 3. version 2 from a new process of the same identity
    w2, seq = writer(bindir, ['--seed', SEED, '--seq', '2', '--store-signed', 'doc'],
                     b'version two', 'w2')
    with w2:
        if seq != '2':
            fail(f'--store-signed --seq 2 printed {seq!r}')
        rc, out, err = cat_run(bindir, ['--connect', f'127.0.0.1:{w2.port}', '--fetch-signed',
                                        f'{key}/doc', '--timeout', '10000'])
        if rc != 0 or out != b'version two' or 'doc: seq 2 from peer ' not in err:
            fail(f'--fetch-signed v2: exit {rc}, {out!r}, {err!r}')
        print('   ok: --fetch-signed: seq 2 after the new version', file=sys.stderr, flush=True)
        stop(w2)

    # 4. content-addressed
    blob = os.urandom(3000)
    w3, ckey = writer(bindir, ['--store-content', '-'], blob, 'w3')
    with w3:
        if ckey != 'c:' + hashlib.sha256(blob).hexdigest():
            fail(f'--store-content printed {ckey!r}')
        rc, out, err = cat_run(bindir, ['--connect', f'127.0.0.1:{w3.port}', '--fetch', ckey,
                                        '--timeout', '10000'])
        if rc != 0 or out != blob:
            fail(f'--fetch {ckey[:12]}...: exit {rc}, {len(out)} bytes, {err!r}')
        print('   ok: --store-content and --fetch of its key', file=sys.stderr, flush=True)
        stop(w3)

    # 5. bad usage
    for args in (['--fetch-signed', 'abc/doc'], ['--fetch-signed', f'{key}/'],
                 ['--seq', '3'], ['--store-content', 'file']):
        rc, _, err = cat_run(bindir, args)
        if rc != 2:
            fail(f'{args}: exit {rc}, not 2 ({err!r})')
    print('   ok: bad usage exits 2', file=sys.stderr, flush=True)
    return 0


if __name__ == '__main__':
    t0 = time.monotonic()
    rc = main()
    print(f'{time.monotonic() - t0:.1f} s', file=sys.stderr)
    sys.exit(rc)
