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
or kill() is called, and in any case at interpreter exit (atexit): the process
machinery is shared with tests/net/catproc.py in tests/lib/eventproc.py.
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
import eventproc  # noqa: E402
from eventproc import SKIP_EXIT, skip  # noqa: E402,F401  (part of this module's API)

PeerError = eventproc.ProcError

REPO = os.path.dirname(os.path.dirname(HERE))
DRIVERS = {'py': os.path.join(HERE, 'ref_peer.py'), 'js': os.path.join(HERE, 'ref_peer.js')}


def pattern(n):
    """The bytes `sendbig N` broadcasts: (i*7+3) & 255."""
    return bytes((i * 7 + 3) & 255 for i in range(n))


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

class RefPeer(eventproc.EventProc):
    """One ref_peer.{py,js} subprocess: JSON events on its stdout, command lines on its
    stdin.  Waiting, describing and killing by PID come from eventproc.EventProc."""

    def __init__(self, kind, seed, port=None, connect=(), topic=None, name=None, env=None,
                 lab=None, wrap=None):
        """lab: the driver's --lab URL (NAT lab mode); wrap: a function that turns the
        argv into one run elsewhere (a natlab Host's wrap: inside its namespace)."""
        why = missing(kind)
        if why:
            raise RuntimeError(why)
        self.kind = kind
        interp = sys.executable if kind == 'py' else node_binary()[0]
        argv = [interp, DRIVERS[kind], '--seed', seed]
        if port is not None:
            argv += ['--port', str(port)]
        for hp in connect:
            argv += ['--connect', hp]
        if topic is not None:
            argv += ['--topic', topic]
        if lab is not None:
            argv += ['--lab', lab]
        if wrap is not None:
            argv = wrap(argv)
        super().__init__(argv, name or f'{kind}-{seed[:8]}', env=env)

    def on_stdout(self, raw):
        line = raw.decode(errors='replace')
        try:
            ev = json.loads(line)
            if not isinstance(ev, dict) or 'event' not in ev:
                raise ValueError('no "event" member')
        except ValueError as e:
            ev = {'event': '_bad_line', 'line': line, 'error': str(e)}
        self.add_event(ev)

    def listening(self, timeout=15.0):
        """The listening event ({'id': full-id hex, 'port': N}); waits for it once."""
        if not hasattr(self, '_listening'):
            self._listening = self.expect('listening', timeout)
            self.id = self._listening['id']
            self.wire_id = self.id[:16]
            self.port = self._listening['port']
        return self._listening

    # -- commands (queued to a writer thread: never block)
    def line(self, text):
        if self._stdin_error or self.proc.poll() is not None:
            raise PeerError(f'{self.name}: cannot write {text[:40]!r}: '
                            f'{self._stdin_error or "driver exited"}\n' + self.describe())
        self.write(text.encode() + b'\n')

    def send(self, data):
        self.line('send ' + bytes(data).hex())

    def sendbig(self, n):
        self.line(f'sendbig {n}')

    # -- stopping (always by this child's PID)
    def stop(self, timeout=10.0):
        """Ask the driver to quit; return its exit code (killing it if it overstays)."""
        try:
            self.line('quit')
        except PeerError:
            pass
        self.close_stdin()
        try:
            return self.wait_exit(timeout)
        finally:
            self.kill()
