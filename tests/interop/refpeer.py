"""Helpers for tests that drive reference Setowire peers through ref_peer.{py,js}.

    import refpeer
    why = refpeer.missing('py') or refpeer.missing('js')
    if why: refpeer.skip(why)                      # exit 77, "SKIP: ..." on stderr
    with refpeer.RefPeer('js', seed='aa' * 32) as js:
        port = js.listening()['port']
        ...
        js.expect('data', peer=some_id, hex='0102', timeout=10)
        js.send(b'\\x01\\x02')

Every peer started here is killed by PID when its `with` block ends, when stop()
or kill() is called, and in any case at interpreter exit (atexit).
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DRIVERS = {'py': os.path.join(HERE, 'ref_peer.py'), 'js': os.path.join(HERE, 'ref_peer.js')}

SKIP_EXIT = 77


def pattern(n):
    """The bytes `sendbig N` broadcasts: (i*7+3) & 255."""
    return bytes((i * 7 + 3) & 255 for i in range(n))


def skip(reason):
    """Report a skipped test loudly and exit with the automake/CTest skip code."""
    print(f'SKIP: {reason}', file=sys.stderr, flush=True)
    sys.exit(SKIP_EXIT)


# --------------------------------------------------------------------------- locating

def ref_dir(kind):
    """(folder, None) for the reference of `kind` ('py' or 'js'), or (None, reason)."""
    if kind == 'py':
        d = os.environ.get('SETOWIRE_REF_PY') or os.path.join(REPO, '.refs', 'py')
        if os.path.isfile(os.path.join(d, 'swarm.py')):
            return d, None
        return None, f'Python reference not found: no swarm.py in {d} (set SETOWIRE_REF_PY)'
    if kind == 'js':
        d = os.environ.get('SETOWIRE_REF_JS') or os.path.join(REPO, '.refs', 'js')
        if any(os.path.isfile(os.path.join(d, f)) for f in ('swarm.js', 'index.js')):
            return d, None
        return None, f'JavaScript reference not found: no swarm.js/index.js in {d} (set SETOWIRE_REF_JS)'
    raise ValueError(f'unknown reference kind {kind!r}')


def node_binary():
    """(path, None) for a usable node (>= 18, as js-setowire requires), or (None, reason)."""
    node = shutil.which('node')
    if not node:
        return None, 'node not found in PATH'
    try:
        out = subprocess.run([node, '--version'], capture_output=True, text=True, timeout=10).stdout
        major = int(out.strip().lstrip('v').split('.')[0])
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        return None, f'cannot run {node} --version: {e}'
    if major < 18:
        return None, f'node {out.strip()} is too old (js-setowire needs >= 18)'
    return node, None


def missing(kind):
    """None when a `kind` driver can run here, else the reason it cannot."""
    d, why = ref_dir(kind)
    if why:
        return why
    if kind == 'py':
        try:
            import cryptography  # noqa: F401  (the Python reference's only dependency)
        except ImportError:
            return 'python3 module `cryptography` is not installed (needed by py-setowire)'
        return None
    return node_binary()[1]


# --------------------------------------------------------------------------- running

_live = set()          # every RefPeer not yet reaped, for the atexit sweep


def _kill_all():
    for p in list(_live):
        p.kill()


atexit.register(_kill_all)


def _on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)    # run finally blocks and atexit: kill the drivers


# A test runner that times out sends SIGTERM; by default that skips atexit.
if (threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL):
    signal.signal(signal.SIGTERM, _on_sigterm)


class PeerError(AssertionError):
    """A driver did not produce what a test waited for; the message says what and why."""


class RefPeer:
    """One ref_peer.{py,js} subprocess: JSON events in, command lines out."""

    def __init__(self, kind, seed, port=None, connect=(), topic=None, name=None, env=None):
        why = missing(kind)
        if why:
            raise RuntimeError(why)
        self.kind = kind
        self.name = name or f'{kind}-{seed[:8]}'
        interp = sys.executable if kind == 'py' else node_binary()[0]
        argv = [interp, DRIVERS[kind], '--seed', seed]
        if port is not None:
            argv += ['--port', str(port)]
        for hp in connect:
            argv += ['--connect', hp]
        if topic is not None:
            argv += ['--topic', topic]
        self.argv = argv
        self._cond = threading.Condition()
        self._events = []          # received, not yet consumed by expect()
        self._history = []         # everything received, for error messages
        self._stderr = []
        self._eof = False
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
        self.pid = self.proc.pid
        _live.add(self)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    # -- readers
    def _read_stdout(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors='replace').rstrip('\n')
            try:
                ev = json.loads(line)
                if not isinstance(ev, dict) or 'event' not in ev:
                    raise ValueError('no "event" member')
            except ValueError as e:
                ev = {'event': '_bad_line', 'line': line, 'error': str(e)}
            with self._cond:
                self._events.append(ev)
                self._history.append(ev)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _read_stderr(self):
        verbose = os.environ.get('REFPEER_VERBOSE')
        for raw in self.proc.stderr:
            line = raw.decode(errors='replace').rstrip('\n')
            with self._cond:
                self._stderr.append(line)
            if verbose:
                print(f'[{self.name}] {line}', file=sys.stderr, flush=True)

    # -- waiting
    def describe(self):
        """Recent events and stderr of this peer, for failure messages."""
        with self._cond:
            ev = [json.dumps(e)[:200] for e in self._history[-12:]]
            err = self._stderr[-12:]
        rc = self.proc.poll()
        return (f'  {self.name} ({" ".join(self.argv)}), pid {self.pid}, '
                f'{"running" if rc is None else f"exited {rc}"}\n'
                f'  last events:\n    ' + ('\n    '.join(ev) or '(none)') +
                f'\n  last stderr:\n    ' + ('\n    '.join(err) or '(none)'))

    def expect(self, event, timeout=10.0, **fields):
        """Wait for (and consume) the first unconsumed event named `event` whose members
        equal `fields`; return it.  Raises PeerError on timeout or driver exit."""
        def match(e):
            return e.get('event') == event and all(e.get(k) == v for k, v in fields.items())
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, e in enumerate(self._events):
                    if e.get('event') == '_bad_line':
                        raise PeerError(f'{self.name}: not a JSON event line: {e["line"]!r}\n'
                                        + self.describe())
                    if match(e):
                        return self._events.pop(i)
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    break
                self._cond.wait(left)
        why = 'driver exited' if self._eof else f'timed out after {timeout:g} s'
        want = ', '.join([event] + [f'{k}={v if len(str(v)) < 40 else str(v)[:40] + "..."}'
                                    for k, v in fields.items()])
        raise PeerError(f'{self.name}: no {want} event ({why})\n' + self.describe())

    def listening(self, timeout=15.0):
        """The listening event ({'id': full-id hex, 'port': N}); waits for it once."""
        if not hasattr(self, '_listening'):
            self._listening = self.expect('listening', timeout)
            self.id = self._listening['id']
            self.wire_id = self.id[:16]
            self.port = self._listening['port']
        return self._listening

    # -- commands
    def line(self, text):
        try:
            self.proc.stdin.write(text.encode() + b'\n')
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as e:
            raise PeerError(f'{self.name}: cannot write {text[:40]!r}: {e}\n' + self.describe())

    def send(self, data):
        self.line('send ' + bytes(data).hex())

    def sendbig(self, n):
        self.line(f'sendbig {n}')

    # -- stopping (always by this child's PID)
    def stop(self, timeout=10.0):
        """Ask the driver to quit; return its exit code (killing it if it overstays)."""
        try:
            self.line('quit')
            self.proc.stdin.close()
        except (PeerError, OSError):
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise PeerError(f'{self.name}: did not exit within {timeout:g} s of quit\n'
                            + self.describe())
        finally:
            self.kill()

    def kill(self):
        """Kill this driver by PID if it still runs, and reap it.  Idempotent."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        try:
            self.proc.stdin.close()   # stdout/stderr: their reader threads see EOF and stop
        except OSError:
            pass
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False
