"""Run setowire-cat processes under test control.

    import catproc
    bindir = catproc.bin_dir()                 # from --bin (ctest passes <build>/bin)
    with catproc.Cat(bindir, name='a') as a:   # --events, loopback, discovery off
        port = a.listening()['port']
        with catproc.Cat(bindir, connect=[f'127.0.0.1:{port}'], name='b') as b:
            a.expect('connection', peer=b.wire_id, timeout=10)
            b.feed('hello')                    # one stdin line (bytes or text)
            a.expect_line(b'hello', timeout=10)
            b.close_stdin()
            assert b.wait_exit(10) == 0

setowire-cat writes its --events as JSON lines on stderr (listening, connection,
disconnect, close) and every message received as one stdout line.  Cat keeps the
stdout lines (bytes, newline removed) in order; stderr lines that are not events are
kept as diagnostics (Cat.stderr_lines()).  stdin is written by a thread, so feeding a
cat that holds its input until a peer connects never blocks the test.

The process machinery (event waits with timeouts, kill by PID in every case, the
77 skip code) is tests/lib/eventproc.py, shared with tests/interop/refpeer.py.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
import eventproc  # noqa: E402
from eventproc import ProcError, skip, short  # noqa: E402,F401  (part of this module's API)

# Every cat started here stays on loopback and off every discovery method, so that
# concurrent test runs on one host never find each other.
QUIET = ['--no-lan', '--no-dht', '--no-stun', '--no-http']


def bin_dir(argv=None):
    """The --bin folder from the command line (where setowire-cat is); exits 1 with a
    message when setowire-cat is not there (a test of a binary that was not built
    fails, it is not skipped)."""
    ap = argparse.ArgumentParser()
    ap.add_argument('--bin', required=True, help='build bin folder holding setowire-cat')
    a = ap.parse_args(argv)
    path = os.path.join(a.bin, 'setowire-cat')
    if not os.access(path, os.X_OK):
        print(f'FAIL: {path} is not an executable (build first)', file=sys.stderr, flush=True)
        sys.exit(1)
    return os.path.abspath(a.bin)


def printable(n, tag):
    """n bytes of printable ASCII (no newline), starting with `tag` so that two calls
    with different tags give different messages (cat deduplicates by content)."""
    head = (tag + ':').encode()
    body = bytes(0x21 + (i * 31 + 7) % 94 for i in range(max(0, n - len(head))))
    return (head + body)[:n]


class Cat(eventproc.EventProc):
    """One setowire-cat process started with --events.

    args     extra arguments (a list), after the defaults
    bind     --bind address (default 127.0.0.1; None: no --bind)
    port     --port N (default 0)
    connect  HOST:PORT strings, one --connect each
    quiet    add --no-lan --no-dht --no-stun --no-http (default True)
    events   add --events (default True)
    """

    def __init__(self, bindir, args=(), bind='127.0.0.1', port=0, connect=(), quiet=True,
                 events=True, name='cat', env=None):
        argv = [os.path.join(bindir, 'setowire-cat')]
        if events:
            argv.append('--events')
        if quiet:
            argv += QUIET
        if bind is not None:
            argv += ['--bind', bind]
        if port is not None:
            argv += ['--port', str(port)]
        for hp in connect:
            argv += ['--connect', hp]
        argv += list(args)
        self.out = []       # stdout lines (bytes), in order
        super().__init__(argv, name, env=env)

    # -- output
    def on_stdout(self, raw):
        with self._cond:
            self.out.append(raw)
            self._cond.notify_all()

    def on_stderr(self, raw):
        if raw.startswith(b'{'):
            try:
                ev = json.loads(raw.decode())
                if isinstance(ev, dict) and 'event' in ev:
                    self.add_event(ev)
                    return
            except ValueError:
                pass
        self.add_stderr(raw.decode(errors='replace'))

    def describe_extra(self):
        with self._cond:
            lines = [short(x.decode(errors='replace'), 70) for x in self.out[-8:]]
            n = len(self.out)
        return f'  stdout ({n} lines), last:\n    ' + ('\n    '.join(lines) or '(none)')

    def lines(self):
        with self._cond:
            return list(self.out)

    def expect_line(self, line, timeout=10.0):
        """Wait until `line` (bytes or text) has been printed on stdout (at least once)."""
        line = line.encode() if isinstance(line, str) else bytes(line)
        return self.wait_until(lambda: line in self.out, timeout,
                               f'no stdout line {short(line)}')

    def expect_lines(self, lines, timeout=10.0):
        """Wait until every line of `lines` has been printed (in any order)."""
        want = [x.encode() if isinstance(x, str) else bytes(x) for x in lines]

        def done():
            have = set(self.out)
            return all(w in have for w in want)
        missing = lambda: [short(w) for w in want if w not in set(self.out)]  # noqa: E731
        try:
            return self.wait_until(done, timeout, f'not all of {len(want)} stdout lines')
        except ProcError as e:
            raise ProcError(f'{e}\n  missing: {missing()}') from None

    def expect_stderr(self, pred, timeout=10.0, what='diagnostic'):
        """Wait for a non-event stderr line for which pred(text) is true; return it."""
        def find():
            for x in self._stderr:
                if pred(x):
                    return x
            return None
        return self.wait_until(find, timeout, f'no stderr {what}')

    # -- input
    def feed(self, *lines):
        """Queue each line (bytes or text, without newline) to stdin."""
        for x in lines:
            x = x.encode() if isinstance(x, str) else bytes(x)
            if b'\n' in x:
                raise ValueError('a cat input line cannot hold a newline')
            self.write(x + b'\n')

    # -- events
    def listening(self, timeout=10.0):
        """The listening event ({'id': full-id hex, 'port': N}); waits for it once and
        sets .id, .wire_id, .port."""
        if not hasattr(self, '_listening'):
            self._listening = self.expect('listening', timeout)
            self.id = self._listening['id']
            self.wire_id = self.id[:16]
            self.port = self._listening['port']
        return self._listening


def run(bindir, args, stdin=b'', timeout=10.0, name='cat'):
    """Run setowire-cat with exactly `args` (no defaults) and `stdin`; return
    (exit code, stdout bytes, stderr text).  Killed by PID if it overstays."""
    with Cat(bindir, args=args, bind=None, port=None, quiet=False, events=False,
             name=name) as c:
        if stdin:
            c.write(stdin)
        c.close_stdin()
        rc = c.wait_exit(timeout)
        out = b''.join(x + b'\n' for x in c.lines())
        return rc, out, '\n'.join(c.stderr_lines())
