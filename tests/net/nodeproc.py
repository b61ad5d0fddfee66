"""Run setowire-node under test control, and small loopback HTTP helpers.

    import nodeproc
    with nodeproc.Node(bindir, http_port=nodeproc.free_tcp_port()) as n:
        ev = n.listening()                 # {'id', 'dht_port', 'http_port', 'port'}
        status, body = nodeproc.http('POST', f'{n.url}/announce', b'{...}')

setowire-node --events writes JSON event lines on stderr (listening, connection,
disconnect, announce, stats, close); other stderr lines are its log lines, kept as
diagnostics.  The process machinery (waits with deadlines, kill by PID, skip code 77)
is tests/lib/eventproc.py.
"""
import json
import os
import socket
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
import eventproc  # noqa: E402
from eventproc import ProcError, skip, short  # noqa: E402,F401  (part of this module's API)


def free_tcp_port():
    """A TCP port on 127.0.0.1 free at the time of the call (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# Loopback only: never through a proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method, url, body=None, timeout=5.0, ctype='application/json'):
    """(status, body bytes) of one request; HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header('Content-Type', ctype)
    try:
        with _opener.open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Node(eventproc.EventProc):
    """One setowire-node process started with --events --bind 127.0.0.1.

    http_port  --http-port (required: 0 turns the endpoint off)
    dht_port   --dht-port (default: a free UDP port, never the well-known 49737)
    args       extra arguments
    """

    def __init__(self, bindir, http_port, dht_port=None, args=(), bind='127.0.0.1',
                 name='node'):
        argv = [os.path.join(bindir, 'setowire-node'), '--events',
                '--http-port', str(http_port),
                '--dht-port', str(dht_port if dht_port is not None else free_udp_port())]
        if bind is not None:
            argv += ['--bind', bind]
        argv += list(args)
        super().__init__(argv, name)

    def on_stdout(self, raw):
        self.add_stderr(raw.decode(errors='replace'))

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

    def listening(self, timeout=10.0):
        if not hasattr(self, '_listening'):
            self._listening = self.expect('listening', timeout)
            self.id = self._listening['id']
            self.http_port = self._listening['http_port']
            self.dht_port = self._listening['dht_port']
            self.port = self._listening['port']
            self.url = f'http://127.0.0.1:{self.http_port}'
        return self._listening
