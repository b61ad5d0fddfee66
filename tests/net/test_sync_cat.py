#!/usr/bin/env python3
"""store / fetch between setowire-cat processes on loopback.

- a cat serving --store (a small value and a 1 MiB one) and cats fetching them with
  --fetch: the bytes on stdout are exactly the stored ones, exit 0; the time to fetch
  1 MiB is printed as a figure;
- --fetch of a key nobody has: exit 1 and a message after --timeout (plain session);
- with the extended session: the value, --progress lines and a final line naming the
  serving peer; a key nobody has: exit 3 and "not found" well before --timeout;
- --storage: a value stored by one process is fetched from the database by the next
  one, with no peer at all (restart);
- --scoped: a key stored in topic alpha is fetched there, not globally nor in beta;
- --ttl: fetched while it lives, "not found" after;
- --unstore: the value is gone from --storage for the next process;
- --no-cache: a fetcher whose --storage holds an old value gets it from there by
  default, the owner's new one with --no-cache, and keeps the new one after that.

Exit 0 pass, 1 failure.
"""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import catproc  # noqa: E402

QUIET = catproc.QUIET + ['--bind', '127.0.0.1']


def fail(msg):
    print('FAIL: ' + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def cat_run(bindir, args, timeout):
    """Run setowire-cat to completion (killed by PID when it overstays)."""
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(bindir, 'setowire-cat')] + QUIET + args,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors='replace'), time.monotonic() - t0


def main():
    bindir = catproc.bin_dir()
    tmp = tempfile.mkdtemp(prefix='sw-sync-')
    small = b'small value \x00\x01\xff'
    big = os.urandom(1 << 20)
    paths = {}
    for name, data in (('small', small), ('big', big)):
        paths[name] = os.path.join(tmp, name)
        with open(paths[name], 'wb') as f:
            f.write(data)

    # 1. fetch from a serving cat
    with catproc.Cat(bindir, args=['--store', f'small={paths["small"]}',
                                   '--store', f'big={paths["big"]}'], name='server') as srv:
        port = srv.listening()['port']
        for key, want in (('small', small), ('big', big)):
            rc, out, err, took = cat_run(bindir, ['--connect', f'127.0.0.1:{port}',
                                                  '--fetch', key, '--timeout', '20000'], 30)
            if rc != 0 or out != want:
                fail(f'--fetch {key}: exit {rc}, {len(out)} bytes (want {len(want)}); {err}')
            print(f'   ok: --fetch {key}: {len(out)} bytes intact in {took * 1000:.0f} ms '
                  '(process start and handshake included)', file=sys.stderr, flush=True)
        print(f'figure: fetch of 1 MiB between two setowire-cat on loopback: {took * 1000:.0f} ms',
              file=sys.stderr)
        # 2. a key nobody has
        # (plain: only a peer with the extended session can say it has nothing)
        rc, out, err, took = cat_run(bindir, ['--connect', f'127.0.0.1:{port}', '--transport',
                                              'plain', '--fetch', 'nobody-has-this',
                                              '--timeout', '1500'], 20)
        if rc != 1 or out or 'timed out' not in err or took < 1.4:
            fail(f'--fetch of a missing key: exit {rc}, {len(out)} bytes, {took:.1f} s, {err!r}')
        print('   ok: missing key: exit 1 with a message after the timeout', file=sys.stderr)
        srv.close_stdin()
        if srv.wait_exit(10) != 0:
            fail('the serving cat did not exit 0 at end of input')

    # 3. the extended session: the value on its stream, --progress lines, "not found"
    with catproc.Cat(bindir, args=['--transport', 'extended', '--store', f'big={paths["big"]}'],
                     name='xserver') as srv:
        port = srv.listening()['port']
        rc, out, err, took = cat_run(bindir, ['--connect', f'127.0.0.1:{port}', '--transport',
                                              'extended', '--progress', '--fetch', 'big',
                                              '--timeout', '20000'], 30)
        lines = [ln for ln in err.splitlines() if ln.startswith('setowire-cat: fetch big: ')]
        if rc != 0 or out != big:
            fail(f'extended --fetch big: exit {rc}, {len(out)} bytes; {err}')
        if not lines or not lines[-1].endswith(f'{len(big)} bytes from peer ' +
                                               lines[-1].split()[-1]) or \
                len(lines[-1].split()[-1]) != 16:
            fail(f'--progress: no final line naming the serving peer: {err!r}')
        steps = [ln for ln in lines if ' / ' in ln]
        if len(steps) > 101 or any(not ln.endswith('%)') for ln in steps):
            fail(f'--progress lines: {steps!r}')
        print(f'   ok: extended --fetch big with --progress: {len(steps)} progress lines, '
              f'{took * 1000:.0f} ms', file=sys.stderr)
        rc, out, err, took = cat_run(bindir, ['--connect', f'127.0.0.1:{port}', '--transport',
                                              'extended', '--fetch', 'nobody-has-this',
                                              '--timeout', '15000'], 30)
        if rc != 3 or out or 'not found' not in err or took > 10:
            fail(f'extended --fetch of a missing key: exit {rc}, {took:.1f} s, {err!r}')
        print(f'   ok: missing key on the extended session: exit 3, "not found" in '
              f'{took * 1000:.0f} ms', file=sys.stderr)
        srv.close_stdin()
        if srv.wait_exit(10) != 0:
            fail('the extended serving cat did not exit 0 at end of input')

    # 4. --storage survives a restart: stored by one process, read by the next, no peers
    db = os.path.join(tmp, 'store.db')
    rc, out, err, _ = cat_run(bindir, ['--no-wait', '--storage', db,
                                       '--store', f'big={paths["big"]}'], 20)
    if rc != 0:
        fail(f'--storage --store: exit {rc}: {err}')
    rc, out, err, _ = cat_run(bindir, ['--storage', db, '--fetch', 'big', '--timeout', '2000'], 20)
    if rc != 0 or out != big:
        fail(f'--storage --fetch after restart: exit {rc}, {len(out)} bytes: {err}')
    print('   ok: --storage: the value survived the restart', file=sys.stderr)

    # 5. --scoped: the key belongs to the first topic; the global key and another
    # topic's are not found (the extended session says so at once)
    with catproc.Cat(bindir, args=['--transport', 'extended', '--scoped',
                                   '--store', f'small={paths["small"]}', 'alpha'],
                     name='scoped') as srv:
        port = srv.listening()['port']
        base = ['--connect', f'127.0.0.1:{port}', '--transport', 'extended', '--timeout', '15000']
        rc, out, err, _ = cat_run(bindir, base + ['--scoped', '--fetch', 'small', 'alpha'], 30)
        if rc != 0 or out != small:
            fail(f'--scoped --fetch in its topic: exit {rc}, {len(out)} bytes; {err}')
        for what, args in (('global', ['--fetch', 'small']),
                           ('another topic', ['--scoped', '--fetch', 'small', 'beta'])):
            rc, out, err, _ = cat_run(bindir, base + args, 30)
            if rc != 3 or out:
                fail(f'--fetch of the scoped key ({what}): exit {rc}, {len(out)} bytes; {err}')
        rc, out, err, _ = cat_run(bindir, base + ['--scoped', '--fetch', 'small'], 30)
        if rc != 1 or 'invalid argument' not in err:
            fail(f'--scoped --fetch with no topic: exit {rc}: {err!r}')
        print('   ok: --scoped: found in its topic only; no topic: refused', file=sys.stderr)
        srv.close_stdin()
        if srv.wait_exit(10) != 0:
            fail('the scoped serving cat did not exit 0 at end of input')

    # 6. --ttl: served while it lives, then "not found"
    with catproc.Cat(bindir, args=['--transport', 'extended', '--ttl', '1500',
                                   '--store', f'small={paths["small"]}'], name='ttl') as srv:
        port = srv.listening()['port']
        t_stored = time.monotonic()
        base = ['--connect', f'127.0.0.1:{port}', '--transport', 'extended', '--timeout', '15000']
        rc, out, err, _ = cat_run(bindir, base + ['--fetch', 'small'], 30)
        if time.monotonic() - t_stored < 1.2 and (rc != 0 or out != small):
            fail(f'--fetch before the end of --ttl: exit {rc}, {len(out)} bytes; {err}')
        time.sleep(max(0.0, t_stored + 1.6 - time.monotonic()))  # real processes: real time
        rc, out, err, _ = cat_run(bindir, base + ['--fetch', 'small'], 30)
        if rc != 3 or out:
            fail(f'--fetch after --ttl: exit {rc}, {len(out)} bytes; {err}')
        print('   ok: --ttl: fetched while alive, not found after', file=sys.stderr)
        srv.close_stdin()
        srv.wait_exit(10)

    # 7. --unstore with --storage: the row is gone for the next process
    rc, out, err, _ = cat_run(bindir, ['--no-wait', '--storage', db, '--unstore', 'big'], 20)
    if rc != 0:
        fail(f'--storage --unstore: exit {rc}: {err}')
    rc, out, err, _ = cat_run(bindir, ['--storage', db, '--fetch', 'big', '--timeout', '800'], 20)
    if rc != 1 or out:
        fail(f'--fetch after --unstore: exit {rc}, {len(out)} bytes: {err}')
    print('   ok: --unstore: the value is gone from --storage', file=sys.stderr)

    # 8. --no-cache: the fetcher's --storage holds version 1, the owner serves version 2
    db2 = os.path.join(tmp, 'cache.db')
    for name, data in (('v1', b'version one'), ('v2', b'version two')):
        paths[name] = os.path.join(tmp, name)
        with open(paths[name], 'wb') as f:
            f.write(data)
    rc, out, err, _ = cat_run(bindir, ['--no-wait', '--storage', db2,
                                       '--store', f'doc={paths["v1"]}'], 20)
    if rc != 0:
        fail(f'--storage --store of version 1: exit {rc}: {err}')
    rc, out, err, _ = cat_run(bindir, ['--no-cache', '--store', f'doc={paths["v1"]}'], 20)
    if rc != 2:
        fail(f'--no-cache without --fetch: exit {rc}, want 2: {err}')
    with catproc.Cat(bindir, args=['--store', f'doc={paths["v2"]}'], name='owner') as srv:
        port = srv.listening()['port']
        base = ['--storage', db2, '--connect', f'127.0.0.1:{port}', '--timeout', '15000']
        rc, out, err, _ = cat_run(bindir, base + ['--fetch', 'doc'], 30)
        if rc != 0 or out != b'version one':
            fail(f'--fetch with version 1 held: exit {rc}, {out!r} (want the held one); {err}')
        rc, out, err, _ = cat_run(bindir, base + ['--no-cache', '--fetch', 'doc'], 30)
        if rc != 0 or out != b'version two':
            fail(f'--no-cache --fetch: exit {rc}, {out!r} (want the owner\'s); {err}')
        srv.close_stdin()
        srv.wait_exit(10)
    rc, out, err, _ = cat_run(bindir, ['--storage', db2, '--fetch', 'doc', '--timeout', '800'], 20)
    if rc != 0 or out != b'version two':
        fail(f'--fetch after --no-cache, no peer: exit {rc}, {out!r} (want version two); {err}')
    print('   ok: --no-cache: the held version by default, the owner\'s with --no-cache, '
          'which then replaces the held one', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
