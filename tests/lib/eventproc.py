"""Child processes that report JSON events, for the Python test scripts.

The common part of tests/interop/refpeer.py (reference peers: events on stdout) and
tests/net/catproc.py (setowire-cat: events on stderr, messages on stdout):

  - EventProc starts one child with stdin, stdout and stderr piped, reads both
    output streams in threads (subclasses say what a line means), and lets a test
    wait for an event with a timeout: no sleeps, every wait has a deadline.
  - stdin is written by a thread, so feeding a child that is not reading yet (cat
    holds its input until a peer connects) never blocks the test.
  - Every child is killed by its own PID: when its `with` block ends, on kill(),
    and in any case at interpreter exit (atexit), also when the test runner's
    timeout sends SIGTERM.
  - skip() exits 77 with a loud "SKIP: reason" line on stderr.
"""
import atexit
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

SKIP_EXIT = 77


def skip(reason):
    """Report a skipped test loudly and exit with the automake/CTest skip code."""
    print(f'SKIP: {reason}', file=sys.stderr, flush=True)
    sys.exit(SKIP_EXIT)


class ProcError(AssertionError):
    """A child did not do what a test waited for; the message says what and why."""


_live = set()          # every EventProc not yet reaped, for the atexit sweep


def _kill_all():
    for p in list(_live):
        p.kill()


atexit.register(_kill_all)


def _on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)    # run finally blocks and atexit: kill the children


# A test runner that times out sends SIGTERM; by default that skips atexit.
if (threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL):
    signal.signal(signal.SIGTERM, _on_sigterm)


def short(v, n=40):
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + f'...({len(s)} chars)'


class EventProc:
    """One child process.  Subclasses override on_stdout(raw) / on_stderr(raw), called
    with each output line (bytes, newline removed), and call add_event(dict) for the
    lines that are events.  Each event gets '_t', the time.monotonic() it was read."""

    def __init__(self, argv, name, env=None):
        self.argv = [str(a) for a in argv]
        self.name = name
        self._cond = threading.Condition()
        self._events = []          # received, not yet consumed by expect()
        self._history = []         # every event, for waits that do not consume
        self._stderr = []          # stderr lines that are not events
        self._open_streams = 2
        self._eof = False          # both output streams closed: the child is gone
        self._stdin_error = None
        self._wq = queue.Queue()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
        self.pid = self.proc.pid
        _live.add(self)
        for target, stream in ((self.on_stdout, self.proc.stdout),
                               (self.on_stderr, self.proc.stderr)):
            threading.Thread(target=self._reader, args=(stream, target), daemon=True).start()
        threading.Thread(target=self._writer, daemon=True).start()

    # -- subclass hooks
    def on_stdout(self, raw):
        pass

    def on_stderr(self, raw):
        self.add_stderr(raw.decode(errors='replace'))

    # -- recording (any thread)
    def add_event(self, ev):
        ev['_t'] = time.monotonic()
        with self._cond:
            self._events.append(ev)
            self._history.append(ev)
            self._cond.notify_all()

    def add_stderr(self, text):
        with self._cond:
            self._stderr.append(text)
            self._cond.notify_all()
        if os.environ.get('REFPEER_VERBOSE') or os.environ.get('TEST_VERBOSE'):
            print(f'[{self.name}] {text[:300]}', file=sys.stderr, flush=True)

    def notify(self):
        """Wake waiters after a subclass changed state under self._cond."""
        with self._cond:
            self._cond.notify_all()

    def _reader(self, stream, target):
        for raw in stream:
            target(raw[:-1] if raw.endswith(b'\n') else raw)
        with self._cond:
            self._open_streams -= 1
            self._eof = self._open_streams == 0
            self._cond.notify_all()

    def _writer(self):
        while True:
            item = self._wq.get()
            try:
                if item is None:
                    self.proc.stdin.close()
                    return
                self.proc.stdin.write(item)
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError) as e:
                self._stdin_error = e
                try:
                    self.proc.stdin.close()
                except (BrokenPipeError, OSError, ValueError):
                    pass
                return

    # -- stdin (never blocks)
    def write(self, data):
        self._wq.put(bytes(data))

    def close_stdin(self):
        self._wq.put(None)

    # -- waiting
    def describe(self):
        """Recent events and stderr of this child, for failure messages."""
        with self._cond:
            ev = [json.dumps({k: short(v, 60) if isinstance(v, str) else v
                              for k, v in e.items() if k != '_t'})[:200]
                  for e in self._history[-12:]]
            err = [short(x, 200) for x in self._stderr[-12:]]
        rc = self.proc.poll()
        extra = self.describe_extra()
        return (f'  {self.name} ({short(" ".join(self.argv), 300)}), pid {self.pid}, '
                f'{"running" if rc is None else f"exited {rc}"}\n'
                f'  last events:\n    ' + ('\n    '.join(ev) or '(none)') +
                f'\n  last stderr:\n    ' + ('\n    '.join(err) or '(none)') +
                (f'\n{extra}' if extra else ''))

    def describe_extra(self):
        return ''

    def wait_until(self, pred, timeout, what):
        """Wait until pred() (called under the lock) returns something truthy; return it.
        Raises ProcError naming `what` on timeout or when the child's output ends."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                r = pred()
                if r:
                    return r
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    break
                self._cond.wait(left)
        why = 'child exited' if self._eof else f'timed out after {timeout:g} s'
        raise ProcError(f'{self.name}: {what} ({why})\n' + self.describe())

    def expect(self, event, timeout=10.0, **fields):
        """Wait for (and consume) the first unconsumed event named `event` whose members
        equal `fields`; return it."""
        def find():
            for i, e in enumerate(self._events):
                if e.get('event') == '_bad_line':
                    raise ProcError(f'{self.name}: not a JSON event line: {e["line"]!r}\n'
                                    + self.describe())
                if e.get('event') == event and all(e.get(k) == v for k, v in fields.items()):
                    return self._events.pop(i)
            return None
        want = ', '.join([event] + [f'{k}={short(str(v))}' for k, v in fields.items()])
        return self.wait_until(find, timeout, f'no {want} event')

    def events(self, event=None):
        """Every event seen so far (consumed or not), optionally only those named `event`."""
        with self._cond:
            return [e for e in self._history if event is None or e.get('event') == event]

    def stderr_lines(self):
        with self._cond:
            return list(self._stderr)

    # -- stopping (always by this child's PID)
    def wait_exit(self, timeout=10.0):
        """Wait for the child to exit by itself; return its exit code.  If it overstays,
        kill it and raise ProcError."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ProcError(f'{self.name}: did not exit within {timeout:g} s\n' + self.describe())
        # Let the readers drain what the child wrote before it exited.
        with self._cond:
            end = time.monotonic() + 5
            while not self._eof and time.monotonic() < end:
                self._cond.wait(0.1)
        return rc

    def kill(self):
        """Kill this child by PID if it still runs, and reap it.  Idempotent."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._wq.put(None)   # the writer closes stdin; the readers see EOF and stop
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False
