#!/usr/bin/env python3
"""The example programs as the build makes them (<build>/bin/example_*), against
setowire-cat on 127.0.0.1 with every discovery method off.

    test_examples.py --bin <build>/bin

Checked (each part prints one "ok" line with its time on stderr):
  poll-loop        examples/poll_loop.c (its own poll() loop, no libuv in its code):
                   lines typed reach cat, cat's lines are printed, and at end of input
                   it closes, cat hears the goodbye (a disconnect, not the 60 s
                   timeout) and it exits 0.
  poll-loop-sigint the same program stopped by SIGINT while idle: a clean close
                   (cat sees the disconnect at once) and exit 0.
  hello-sigint     examples/hello.c (owned loop, sw_swarm_run) stopped by SIGINT after
                   its line reached cat: cat sees the disconnect at once, hello says it
                   closed before a message arrived and exits 1.

Exit 0 pass, 1 failure.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catproc  # noqa: E402
import eventproc  # noqa: E402  (catproc put tests/lib on the path)
from catproc import Cat, ProcError  # noqa: E402

TIMEOUT = 15.0
GOODBYE_S = 3.0    # a GOAWAY is seen within milliseconds; silence takes 60 s
HELLO_LINE = b'hello from libsetowire'


def check(cond, msg, *procs):
    if not cond:
        raise ProcError(msg + ('\n' + '\n'.join(p.describe() for p in procs) if procs else ''))


class Example(eventproc.EventProc):
    """An example program: stdout lines kept in order."""

    def __init__(self, argv, name):
        self.out = []
        super().__init__(argv, name)

    def on_stdout(self, raw):
        with self._cond:
            self.out.append(raw)
            self._cond.notify_all()

    def describe_extra(self):
        with self._cond:
            return f'  stdout: {self.out[-8:]}'


def goodbye_seen(cat, since, *procs):
    """cat's disconnect event, which must come within GOODBYE_S of `since`."""
    ev = cat.expect('disconnect', timeout=TIMEOUT)
    check(ev['_t'] - since < GOODBYE_S,
          f'disconnect {ev["_t"] - since:.2f} s after the close: no goodbye was heard',
          cat, *procs)
    return ev['_t'] - since


def part_poll_loop(bindir, sigint):
    prog = os.path.join(bindir, 'example_poll_loop')
    with Cat(bindir, args=[f'examples-{os.getpid()}'], name='cat') as cat:
        port = cat.listening(TIMEOUT)['port']
        with Example([prog, f'127.0.0.1:{port}', '127.0.0.1'], 'poll_loop') as p:
            cat.expect('connection', timeout=TIMEOUT)
            lines = [f'line {i} from poll_loop'.encode() for i in range(3)]
            for x in lines:
                p.write(x + b'\n')
            cat.expect_lines(lines, timeout=TIMEOUT)
            cat.feed(b'from cat')
            p.wait_until(lambda: b'from cat' in p.out, TIMEOUT, 'poll_loop never printed it')
            t0 = time.monotonic()
            if sigint:
                os.kill(p.pid, signal.SIGINT)
            else:
                p.close_stdin()
            took = goodbye_seen(cat, t0, p)
            rc = p.wait_exit(TIMEOUT)
            check(rc == 0, f'poll_loop exited {rc}', p)
            check(p.out == [b'from cat'], f'poll_loop printed {p.out}', p)
        cat.close_stdin()
        check(cat.wait_exit(TIMEOUT) == 0, 'cat failed', cat)
    return took


def part_hello_sigint(bindir):
    prog = os.path.join(bindir, 'example_hello')
    topic = f'examples-hello-{os.getpid()}'
    with Cat(bindir, args=[topic], name='cat') as cat:
        port = cat.listening(TIMEOUT)['port']
        with Example([prog, f'127.0.0.1:{port}', topic, '127.0.0.1'], 'hello') as h:
            cat.expect('connection', timeout=TIMEOUT)
            cat.expect_line(HELLO_LINE, timeout=TIMEOUT)
            t0 = time.monotonic()
            os.kill(h.pid, signal.SIGINT)
            took = goodbye_seen(cat, t0, h)
            rc = h.wait_exit(TIMEOUT)
            check(rc == 1, f'hello exited {rc}, want 1 (closed before a message)', h)
            check(any('closed before any message' in x for x in h.stderr_lines()),
                  'hello did not say why it closed', h)
        cat.close_stdin()
        check(cat.wait_exit(TIMEOUT) == 0, 'cat failed', cat)
    return took


def main():
    bindir = catproc.bin_dir()
    try:
        for name, fn in (('poll-loop', lambda: part_poll_loop(bindir, False)),
                         ('poll-loop-sigint', lambda: part_poll_loop(bindir, True)),
                         ('hello-sigint', lambda: part_hello_sigint(bindir))):
            t0 = time.monotonic()
            took = fn()
            print(f'ok {name}: goodbye heard {took * 1000:.0f} ms after the close '
                  f'({time.monotonic() - t0:.2f} s)', file=sys.stderr, flush=True)
    except ProcError as e:
        print(f'FAIL: {e}', file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
