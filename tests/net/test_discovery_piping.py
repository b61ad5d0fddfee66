#!/usr/bin/env python3
"""Two setowire-cat processes find each other through a piping server only: a real
`piping-server` (npm) on 127.0.0.1, both cats given its http:// URL and nothing else
(--no-lan --no-dht --no-stun --no-default-servers, no --connect), then exchange a
message each way. Reports the time to discovery.

The server is the npm package piping-server, installed on first use into the
git-ignored <repo>/.tools (scripts/setup.sh does the same); without node/npm or the
registry the test is skipped loudly."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import catproc  # noqa: E402
from nodeproc import free_tcp_port, skip, ProcError  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(REPO, '.tools')
ONLY_PIPING = ['--no-lan', '--no-dht', '--no-stun', '--no-default-servers']


def server_cmd():
    node = shutil.which('node')
    if not node:
        skip('node is not installed (scripts/setup.sh installs it)')
    bin_link = os.path.join(TOOLS, 'node_modules', '.bin', 'piping-server')
    if not os.path.exists(bin_link):
        npm = shutil.which('npm')
        if not npm:
            skip('npm is not installed: cannot install the piping-server package')
        os.makedirs(TOOLS, exist_ok=True)
        p = subprocess.run([npm, 'install', '--no-audit', '--no-fund', '--prefix', TOOLS,
                            'piping-server'], capture_output=True, timeout=180)
        if p.returncode != 0 or not os.path.exists(bin_link):
            skip('cannot install piping-server from the npm registry: '
                 + p.stderr.decode(errors='replace')[-300:])
    return [node, bin_link]


def start_server(cmd):
    port = free_tcp_port()
    proc = subprocess.Popen(cmd + ['--host', '127.0.0.1', '--http-port', str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError('piping-server exited: '
                                 + proc.stdout.read().decode(errors='replace')[-500:])
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                return proc, port
        except OSError:
            time.sleep(0.1)
    stop_server(proc)
    raise AssertionError('piping-server did not listen within 15 s')


def stop_server(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


def main():
    bindir = catproc.bin_dir()
    cmd = server_cmd()
    topic = 'disc-piping-' + uuid.uuid4().hex
    proc = None
    try:
        proc, port = start_server(cmd)
        pipe = ['--piping', f'http://127.0.0.1:{port}']
        with catproc.Cat(bindir, args=ONLY_PIPING + pipe + [topic], quiet=False, name='a') as a:
            a.listening()
            t0 = time.monotonic()
            with catproc.Cat(bindir, args=ONLY_PIPING + pipe + [topic], quiet=False,
                             name='b') as b:
                b.listening()
                eb = b.expect('connection', peer=a.wire_id, timeout=30)
                ea = a.expect('connection', peer=b.wire_id, timeout=30)
                t = max(ea['_t'], eb['_t']) - t0
                b.feed('hello from b')
                a.expect_line('hello from b', timeout=10)
                a.feed('hello from a')
                b.expect_line('hello from a', timeout=10)
                print(f'discovery through a piping server: both connected '
                      f'{t * 1000:.0f} ms after the second cat started')
            # a third cat on another topic is not met by a
            other = 'disc-piping-other-' + uuid.uuid4().hex
            with catproc.Cat(bindir, args=ONLY_PIPING + pipe + [other], quiet=False,
                             name='c') as c:
                c.listening()
                time.sleep(3)
                assert not c.events('connection'), c.events('connection')
                assert all(e['peer'] != c.wire_id for e in a.events('connection'))
                print('a cat on another topic stayed apart: ok')
    except (ProcError, AssertionError) as e:
        print(f'FAIL: {e}', file=sys.stderr)
        return 1
    finally:
        if proc:
            stop_server(proc)
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
