#!/usr/bin/env python3
"""setowire-cat against setowire-cat on loopback, and its command-line contract.

    test_cat_loopback.py --bin <build>/bin

Checked (each part prints one "ok" line with its time on stderr):
  usage      --help exits 0 and names every option; a bad --seed ("zz", odd length),
             a bad --connect (no port, port out of range, bad brackets, ...) and other
             bad values exit 2 with a message; --no-wait with no peer exits 0 at end of
             input.
  ipv4       listener (--port 0, port read from its listening event) and dialer
             (--connect 127.0.0.1:PORT): both report the connection with the other's
             wire id and address; small lines and a 60000-byte line each way, all
             delivered exactly once and intact; at end of input each exits 0, and the
             other side reports the disconnect at once (GOAWAY), well under the 60 s
             timeout.
  wait       input is held until the first peer connects: a listener whose input has
             already ended keeps running with no peer, then sends its line to the first
             peer and exits 0.
  sizes      a 65474-byte line (SW_MAX_MESSAGE) is delivered; a 65475-byte line and
             a 300000-byte one (more than cat buffers) are each reported on stderr and
             not sent, the lines around them still are, and cat still ends.
  file       standard input a regular file (read in the loop, a block per turn): about
             3 MB of lines of many lengths, 60000-byte ones crossing the read blocks, a
             300000-byte line (reported, skipped) and a last line without a newline all
             reach the listener once each and in order; the sender exits 1 (the long
             line) once it has sent the rest.
  ipv6       the ipv4 exchange again with --bind ::1 and --connect [::1]:PORT (a
             loud NOTE, not a failure, when this host has no ::1).

Exit 0 pass, 1 failure (what failed and the processes' recent output on stderr).
"""
import collections
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catproc  # noqa: E402
from catproc import Cat, ProcError, printable  # noqa: E402

TIMEOUT = 10.0       # per awaited event; loopback needs well under a second
GOAWAY_BOUND = 5.0   # a disconnect later than this was a timeout, not a GOAWAY
MAX_MESSAGE = 65474  # SW_MAX_MESSAGE: 65507 - 33

OPTIONS = ['--seed', '--port', '--bind', '--connect', '--max-peers', '--legacy-frag',
           '--no-wait', '--no-lan', '--no-dht', '--no-stun', '--no-http', '--events',
           '--help']


def check(cond, msg, *procs):
    if not cond:
        raise ProcError(msg + ('\n' + '\n'.join(p.describe() for p in procs) if procs else ''))


def hostport(host, port):
    return f'[{host}]:{port}' if ':' in host else f'{host}:{port}'


def exactly_once(cat, sent, what):
    """cat's stdout must hold every line of `sent` once, and nothing else."""
    got = collections.Counter(cat.lines())
    want = collections.Counter(sent)
    missing = [catproc.short(x) for x in want if got[x] < 1]
    dup = [(catproc.short(x), n) for x, n in got.items() if x in want and n > 1]
    extra = [catproc.short(x) for x in got if x not in want]
    check(not missing and not dup and not extra,
          f'{what}: missing {missing}, duplicated {dup}, unexpected {extra}', cat)


# --------------------------------------------------------------------------- parts

def part_usage(bindir):
    rc, out, err = catproc.run(bindir, ['--help'])
    text = out.decode(errors='replace')
    check(rc == 0, f'--help exited {rc} (want 0); stderr: {err!r}')
    absent = [o for o in OPTIONS if o not in text]
    check(not absent, f'--help does not mention {absent}:\n{text}')

    # Bad values exit 2 with a message, before touching the network (each run binds
    # 127.0.0.1 and has discovery off in case the argument were accepted).
    base = ['--bind', '127.0.0.1'] + catproc.QUIET
    bad = [
        (['--seed', 'zz'], 'seed'),
        (['--seed', 'abc'], 'seed'),
        (['--connect', 'nonsense'], 'connect'),
        (['--connect', '127.0.0.1'], 'connect'),
        (['--connect', '127.0.0.1:'], 'connect'),
        (['--connect', '127.0.0.1:99999'], 'connect'),
        (['--connect', '127.0.0.1:-1'], 'connect'),
        (['--connect', '127.0.0.1:12x'], 'connect'),
        (['--connect', ':4000'], 'connect'),
        (['--connect', '[::1:4000'], 'connect'),
        (['--connect', '::1:4000'], 'connect'),
        (['--port', '70000'], 'port'),
        (['--port', 'x'], 'port'),
        (['--max-peers', '0'], 'max-peers'),
        (['--bind', 'not-an-address'], 'bind'),
        (['--no-such-option'], None),
    ]
    for args, word in bad:
        rc, out, err = catproc.run(bindir, base + args, stdin=b'never sent\n')
        check(rc == 2, f'setowire-cat {" ".join(args)}: exit {rc}, want 2 (stderr {err!r})')
        check(err.strip(), f'setowire-cat {" ".join(args)}: exit 2 without a message')
        if word:
            check(word in err, f'setowire-cat {" ".join(args)}: the message does not name '
                               f'{word!r}: {err!r}')
        check(not out, f'setowire-cat {" ".join(args)}: printed {out!r} on stdout')

    # --no-wait: input is read at once; with no peer the line goes nowhere and the end
    # of input still ends the program cleanly.
    rc, out, err = catproc.run(bindir, base + ['--no-wait'], stdin=b'to nobody\n')
    check(rc == 0 and not out, f'--no-wait with no peer: exit {rc}, stdout {out!r}, '
                               f'stderr {err!r} (want 0, nothing)')
    return f'--help names {len(OPTIONS)} options; {len(bad)} bad arguments exit 2'


def connected_pair(bindir, host, tag, a_args=(), b_args=()):
    """Start listener a and dialer b on `host`; return them once both report the
    connection (with the other's wire id and address)."""
    a = Cat(bindir, bind=host, port=0, args=a_args, name=f'a({tag} listener)')
    try:
        a.listening()
        b = Cat(bindir, bind=host, connect=[hostport(host, a.port)], args=b_args,
                name=f'b({tag} dialer)')
    except BaseException:
        a.kill()
        raise
    try:
        b.listening()
        check(a.id != b.id and len(a.id) == 40, 'two distinct 40-hex ids expected', a, b)
        ea = a.expect('connection', TIMEOUT, peer=b.wire_id)
        eb = b.expect('connection', TIMEOUT, peer=a.wire_id)
        check(ea.get('addr') == hostport(host, b.port),
              f'a reports b at {ea.get("addr")!r}, want {hostport(host, b.port)!r}', a)
        check(eb.get('addr') == hostport(host, a.port),
              f'b reports a at {eb.get("addr")!r}, want {hostport(host, a.port)!r}', b)
    except BaseException:
        a.kill()
        b.kill()
        raise
    return a, b


def part_exchange(bindir, host, tag):
    a, b = connected_pair(bindir, host, tag)
    with a, b:
        a_msgs = [f'{tag} a->b small {i}'.encode() for i in range(5)]
        a_msgs += [printable(60000, f'{tag} a->b big'), f'{tag} a->b last'.encode()]
        b_msgs = [f'{tag} b->a small {i}'.encode() for i in range(5)]
        b_msgs += [printable(60000, f'{tag} b->a big'), f'{tag} b->a last'.encode()]
        a.feed(*a_msgs)
        b.feed(*b_msgs)
        b.expect_lines(a_msgs, TIMEOUT)
        a.expect_lines(b_msgs, TIMEOUT)

        # End of input: b sends what is queued, says GOAWAY and exits 0; a hears the
        # GOAWAY at once (the 60 s timeout would be the only other way to notice).
        t0 = time.monotonic()
        b.close_stdin()
        rc_b = b.wait_exit(TIMEOUT)
        t_exit = time.monotonic() - t0
        check(rc_b == 0, f'b exited {rc_b} at end of input (want 0)', b)
        check(b.events('close'), 'b exited without its close event', b)
        ev = a.expect('disconnect', GOAWAY_BOUND, peer=b.wire_id)
        t_disc = ev['_t'] - t0
        a.close_stdin()
        rc_a = a.wait_exit(TIMEOUT)
        check(rc_a == 0, f'a exited {rc_a} at end of input (want 0)', a)
        exactly_once(a, b_msgs, 'a received')
        exactly_once(b, a_msgs, 'b received')
    return (f'{len(a_msgs)} lines each way (one of 60000 bytes) exactly once; b exits 0 '
            f'{t_exit:.2f} s after end of input, a sees the disconnect after {t_disc:.2f} s')


def part_wait(bindir):
    with Cat(bindir, name='early(listener)') as a:
        a.listening()
        a.feed('early bird')
        a.close_stdin()
        # With no peer the input must still be waiting, so cat must not have exited.
        # (A bounded negative check: nothing to wait on but the absence of an exit.)
        try:
            rc = a.proc.wait(1.0)
            raise ProcError(f'the listener exited ({rc}) at end of input with no peer; '
                            'input must wait for the first peer\n' + a.describe())
        except subprocess.TimeoutExpired:
            pass
        with Cat(bindir, connect=[f'127.0.0.1:{a.port}'], name='late(dialer)') as b:
            b.listening()
            b.expect_line('early bird', TIMEOUT)
            rc = a.wait_exit(TIMEOUT)
            check(rc == 0, f'listener exited {rc} after sending its held line (want 0)', a)
            b.expect('disconnect', GOAWAY_BOUND, peer=a.wire_id)
            b.close_stdin()
            check(b.wait_exit(TIMEOUT) == 0, 'dialer did not exit 0', b)
            exactly_once(b, [b'early bird'], 'dialer received')
    return 'input held until the first peer connects, then sent; exit 0'


def says_too_big(text):
    t = text.lower()
    return not t.startswith('{') and any(w in t for w in ('too large', 'too long', 'longer',
                                                          'size', str(MAX_MESSAGE)))


def part_sizes(bindir):
    a, b = connected_pair(bindir, '127.0.0.1', 'sizes')
    with a, b:
        biggest = printable(MAX_MESSAGE, 'max')
        sent = [b'sizes before', biggest, b'sizes middle', b'sizes after']
        # Just over the limit, and far over it (more than cat's input buffer holds).
        a.feed(sent[0], biggest, printable(MAX_MESSAGE + 1, 'over'), sent[2],
               printable(300000, 'huge'), sent[3])
        b.expect_lines(sent, TIMEOUT)
        a.close_stdin()
        rc_a = a.wait_exit(TIMEOUT)
        reports = [x for x in a.stderr_lines() if says_too_big(x)]
        check(len(reports) == 2, f'a reported {len(reports)} oversized lines on stderr, '
                                 f'want 2: {a.stderr_lines()}', a)
        check(rc_a in (0, 1), f'a exited {rc_a} after oversized lines (want 0 or 1)', a)
        b.expect('disconnect', GOAWAY_BOUND, peer=a.wire_id)
        b.close_stdin()
        check(b.wait_exit(TIMEOUT) == 0, 'b did not exit 0', b)
        exactly_once(b, sent, 'b received')
    return (f'{MAX_MESSAGE} bytes delivered; {MAX_MESSAGE + 1} and 300000 bytes reported '
            f'({reports[0].strip()!r}), the lines around them sent, exit {rc_a}')


def part_file(bindir):
    import tempfile
    sent = []
    for i in range(6000):
        n = 60000 if i % 500 == 250 else 12 + (i * 7919) % 700
        sent.append(printable(n, f'file {i}'))
    over = printable(300000, 'file over')
    with tempfile.TemporaryDirectory(prefix='catfile-') as tmp:
        path = os.path.join(tmp, 'lines')
        with open(path, 'wb') as f:
            f.write(b''.join(x + b'\n' for x in sent[:3000]))
            f.write(over + b'\n')
            f.write(b''.join(x + b'\n' for x in sent[3000:-1]))
            f.write(sent[-1])  # the last line without its newline
        size = os.path.getsize(path)
        with Cat(bindir, name='a(file listener)') as a:
            a.listening()
            errpath = os.path.join(tmp, 'stderr')
            with open(path, 'rb') as fin, open(errpath, 'wb') as ferr:
                b = subprocess.Popen([os.path.join(bindir, 'setowire-cat'), *catproc.QUIET,
                                      '--bind', '127.0.0.1', '--port', '0',
                                      '--connect', f'127.0.0.1:{a.port}'],
                                     stdin=fin, stdout=subprocess.DEVNULL, stderr=ferr)
            try:
                rc = b.wait(4 * TIMEOUT)
            except subprocess.TimeoutExpired:
                b.kill()
                b.wait()
                raise ProcError('the sender reading a file did not end\n' + a.describe())
            with open(errpath, 'rb') as ferr:
                err = ferr.read().decode(errors='replace')
            check(rc == 1, f'the sender exited {rc} (want 1: one line too long); '
                           f'stderr {err!r}', a)
            check(sum(says_too_big(x) for x in err.splitlines()) == 1,
                  f'the sender did not report the long line once: {err!r}', a)
            a.expect_lines(sent, TIMEOUT)
            got = [x for x in a.lines() if x.startswith(b'file ')]
            check(got == sent, f'{len(got)} lines received, not the {len(sent)} sent in '
                               f'their order', a)
            a.close_stdin()
            check(a.wait_exit(TIMEOUT) == 0, 'the listener did not exit 0', a)
    return (f'{len(sent)} lines from a {size}-byte file, in order, the 300000-byte one '
            f'reported; exit {rc}')


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(('::1', 0))
        return None
    except OSError as e:
        return str(e)


def main():
    bindir = catproc.bin_dir()
    parts = [('usage', lambda: part_usage(bindir)),
             ('ipv4', lambda: part_exchange(bindir, '127.0.0.1', 'v4')),
             ('wait', lambda: part_wait(bindir)),
             ('sizes', lambda: part_sizes(bindir)),
             ('file', lambda: part_file(bindir))]
    no6 = have_ipv6_loopback()
    if no6:
        print(f'NOTE: IPv6 part not run: cannot bind ::1 ({no6})', file=sys.stderr, flush=True)
    else:
        parts.append(('ipv6', lambda: part_exchange(bindir, '::1', 'v6')))
    t_all = time.monotonic()
    for name, fn in parts:
        t0 = time.monotonic()
        try:
            what = fn()
        except ProcError as e:
            print(f'FAIL: {name}: {e}', file=sys.stderr, flush=True)
            return 1
        print(f'   ok {name} ({time.monotonic() - t0:.1f} s): {what}', file=sys.stderr, flush=True)
    print(f'PASS: test_cat_loopback ({time.monotonic() - t_all:.1f} s)', file=sys.stderr,
          flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
