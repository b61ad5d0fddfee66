#!/usr/bin/env python3
"""Two setowire-chat processes on terminals (tmux panes), on loopback.

    test_chat_tmux.py --bin <build>/bin

Both run with --bind 127.0.0.1 and every discovery method off (--no-default-servers
--no-lan --no-dht --no-http); bob dials alice with --connect. The panes are real
pseudo-terminals, so the chat uses libedit and colours; the screens are read with
`tmux capture-pane` (escape sequences stripped by tmux). Checked:
  join      each screen shows the other's "<nick> joined"
  messages  a line typed on each side shows as "<nick>: <text>" on the other
  peers     /peers prints "1 peer(s) connected" and the peer line: 8 hex chars,
            nick=<other>, rtt=<N>ms, mesh=true|false
  nat       /nat prints nat=unknown addr=LAN (no STUN)
  typing    a message arriving while bob has half a line typed prints above it and
            bob's prompt line still reads "bob > <half line>"; finishing the line
            sends the whole of it; the same with a line wrapping over two rows
  quit      /quit: alice's screen shows "bob left", bob exits 0
  identity  identity.<nick>.json exist, mode 0600, {"seed": "<64 hex>"}
  rejoin    bob started again without --connect finds alice through its peer cache
            (peers.bob.json): each shows the other joined again
  ctrl-c    Ctrl-C on alice: bob's screen shows "alice left", alice exits 0
Exit 0 pass, 1 fail (with both screens on stderr), 77 skip when tmux is missing.
"""
import argparse
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

TIMEOUT = 10.0
NET = ['--bind', '127.0.0.1', '--no-default-servers', '--no-lan', '--no-dht', '--no-http']


class Fail(Exception):
    pass


class Tmux:
    """A private tmux server (its own socket, no user config); panes stay after exit
    (remain-on-exit) so their last screen can be read. Each program runs under sh, which
    writes its exit status to a file (tmux's own #{pane_dead_status} is not always
    filled in, as tmux 3.3a reaps children late)."""

    def __init__(self, workdir):
        self.work = workdir
        self.sock = os.path.join(workdir, 'tmux.sock')
        conf = os.path.join(workdir, 'tmux.conf')
        with open(conf, 'w') as f:
            f.write('set -g remain-on-exit on\nset -g history-limit 2000\n')
        self.base = ['tmux', '-S', self.sock, '-f', conf]
        self.pids = []
        self.server_pid = None

    def run(self, *args, check=True):
        r = subprocess.run(self.base + list(args), capture_output=True, text=True, timeout=10)
        if check and r.returncode != 0:
            raise Fail(f'tmux {" ".join(args)}: {r.stderr.strip()}')
        return r.stdout

    def start(self, name, argv, cwd):
        rc = os.path.join(self.work, f'{name}.rc')
        cmd = ' '.join(shlex_quote(a) for a in argv)
        cmd = f'{cmd}; echo $? > {shlex_quote(rc)}.tmp; mv {shlex_quote(rc)}.tmp {shlex_quote(rc)}'
        self.run('new-session', '-d', '-s', name, '-x', '160', '-y', '50', '-c', cwd, cmd)
        self.pids.append(int(self.run('display', '-p', '-t', name, '#{pane_pid}').strip()))
        if self.server_pid is None:
            self.server_pid = int(self.run('display', '-p', '-t', name, '#{pid}').strip())

    def screen(self, name):
        return self.run('capture-pane', '-p', '-J', '-t', name, '-S', '-2000')

    def keys(self, name, *keys):
        self.run('send-keys', '-t', name, *keys)

    def type(self, name, text):
        self.run('send-keys', '-t', name, '-l', text)

    def dead_status(self, name):
        try:
            with open(os.path.join(self.work, f'{name}.rc')) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def stop(self):
        kids = []
        for pid in self.pids:   # the programs under each pane's sh
            try:
                for t in os.listdir(f'/proc/{pid}/task'):
                    with open(f'/proc/{pid}/task/{t}/children') as f:
                        kids += [int(x) for x in f.read().split()]
            except OSError:
                pass
        for pid in kids + self.pids + ([self.server_pid] if self.server_pid else []):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.pids, self.server_pid = [], None


def shlex_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def wait_for(what, fn, timeout=TIMEOUT):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise Fail(f'timed out after {timeout:.0f} s waiting for {what}')
        time.sleep(0.05)


def last_line(screen):
    lines = [ln.rstrip() for ln in screen.split('\n') if ln.strip()]
    return lines[-1] if lines else ''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bin', required=True)
    a = ap.parse_args()
    chat = os.path.abspath(os.path.join(a.bin, 'setowire-chat'))
    if not os.access(chat, os.X_OK):
        print(f'FAIL: {chat} is not an executable (build first)', file=sys.stderr)
        return 1
    if not shutil.which('tmux'):
        print('SKIP: tmux is not installed (apt-get install tmux; scripts/setup.sh)',
              file=sys.stderr, flush=True)
        return 77
    work = tempfile.mkdtemp(prefix='sw-chat-')
    tm = Tmux(work)
    t0 = time.monotonic()

    def ok(what):
        print(f'ok {what} ({time.monotonic() - t0:.1f} s)', file=sys.stderr, flush=True)

    def screen_has(name, pattern):
        return lambda: re.search(pattern, tm.screen(name), re.M)

    try:
        tm.start('alice', [chat, '--identity', work, '--port', '0'] + NET + ['alice', 'tmuxroom'],
                 work)
        m = wait_for('alice ready', screen_has('alice', r'ready \| port=(\d+)'))
        port = int(m.group(1))
        bob_argv = [chat, '--identity', work] + NET + ['bob', 'tmuxroom']
        tm.start('bob', bob_argv[:-2] + ['--connect', f'127.0.0.1:{port}'] + bob_argv[-2:], work)
        wait_for('"bob joined" on alice', screen_has('alice', r'\* bob joined$'))
        wait_for('"alice joined" on bob', screen_has('bob', r'\* alice joined$'))
        ok('join')

        tm.type('alice', 'hello from alice')
        tm.keys('alice', 'Enter')
        wait_for('alice\'s message on bob', screen_has('bob', r'\] alice: hello from alice$'))
        tm.type('bob', 'hello from bob')
        tm.keys('bob', 'Enter')
        wait_for('bob\'s message on alice', screen_has('alice', r'\] bob: hello from bob$'))
        ok('messages')

        tm.type('alice', '/peers')
        tm.keys('alice', 'Enter')
        wait_for('/peers count', screen_has('alice', r'\* 1 peer\(s\) connected$'))
        wait_for('/peers line', screen_has(
            'alice', r'\*   [0-9a-f]{8} nick=bob rtt=\d+ms mesh=(true|false)'))
        tm.type('alice', '/nat')
        tm.keys('alice', 'Enter')
        wait_for('/nat', screen_has('alice', r'\* nat=unknown addr=LAN$'))
        ok('peers, nat')

        # Half a line on bob, then a message from alice while it is there.
        tm.type('bob', 'half typed li')
        wait_for('bob\'s half line', lambda: last_line(tm.screen('bob')) == 'bob > half typed li')
        tm.type('alice', 'while you type')
        tm.keys('alice', 'Enter')
        wait_for('the message on bob', screen_has('bob', r'\] alice: while you type$'))
        time.sleep(0.3)  # let any late redraw land before judging the screen
        scr = tm.screen('bob')
        if last_line(scr) != 'bob > half typed li':
            raise Fail(f'bob\'s input line was not restored: last line {last_line(scr)!r}')
        if scr.count('half typed li') != 1:
            raise Fail('the half line shows more than once (garbled):\n' + scr)
        tm.type('bob', 'ne')
        tm.keys('bob', 'Enter')
        wait_for('the finished line on alice', screen_has('alice', r'\] bob: half typed line$'))
        # Again with a line that wraps over two rows of the 160-column pane.
        long = 'wrapping ' * 25
        tm.type('bob', long)
        wait_for('bob\'s long line', lambda: last_line(tm.screen('bob')) == 'bob > ' + long.rstrip())
        tm.type('alice', 'while the line wraps')
        tm.keys('alice', 'Enter')
        wait_for('the message on bob', screen_has('bob', r'\] alice: while the line wraps$'))
        time.sleep(0.3)
        scr = tm.screen('bob')
        if last_line(scr) != 'bob > ' + long.rstrip() or scr.count('bob > wrapping') != 1:
            raise Fail('the wrapped input line was not restored intact:\n' + scr)
        tm.type('bob', 'end')
        tm.keys('bob', 'Enter')
        wait_for('the long line on alice', screen_has('alice', r'\] bob: (wrapping ){25}end$'))
        ok('typing')

        for nick in ('alice', 'bob'):
            p = os.path.join(work, f'identity.{nick}.json')
            mode = stat.S_IMODE(os.stat(p).st_mode)
            with open(p) as f:
                seed = json.load(f).get('seed', '')
            if mode != 0o600 or not re.fullmatch(r'[0-9a-f]{64}', seed):
                raise Fail(f'{p}: mode {oct(mode)}, seed {seed!r}')
        ok('identity files')

        tm.type('bob', '/quit')
        tm.keys('bob', 'Enter')
        wait_for('"bob left" on alice', screen_has('alice', r'\* bob left$'))
        st = wait_for('bob to exit', lambda: tm.dead_status('bob') is not None and [tm.dead_status('bob')])
        if st[0] != 0:
            raise Fail(f'bob exited {st[0]} after /quit')
        ok('quit')

        with open(os.path.join(work, 'peers.bob.json')) as f:
            cached = json.load(f)
        if not any(e.get('port') == port for e in cached):
            raise Fail(f'peers.bob.json does not hold alice (port {port}): {cached}')
        tm.run('kill-session', '-t', 'bob')
        tm.start('bob2', bob_argv, work)   # no --connect: only the peer cache knows alice
        wait_for('"alice joined" on bob again', screen_has('bob2', r'\* alice joined$'), 20)
        # The JOIN carries "ts", so alice does not drop it as a duplicate of bob's first.
        wait_for('"bob joined" twice on alice',
                 lambda: len(re.findall(r'\* bob joined$', tm.screen('alice'), re.M)) == 2)
        tm.type('bob2', 'back again')
        tm.keys('bob2', 'Enter')
        wait_for('bob\'s message after rejoin', screen_has('alice', r'\] bob: back again$'))
        ok('rejoin from the peer cache')

        tm.keys('alice', 'C-c')
        wait_for('"alice left" on bob', screen_has('bob2', r'\* alice left$'))
        st = wait_for('alice to exit', lambda: tm.dead_status('alice') is not None
                      and [tm.dead_status('alice')])
        if st[0] != 0:
            raise Fail(f'alice exited {st[0]} after Ctrl-C')
        ok('ctrl-c')
        return 0
    except (Fail, subprocess.SubprocessError, OSError, ValueError) as e:
        print(f'FAIL: {e}', file=sys.stderr)
        for name in ('alice', 'bob', 'bob2'):
            try:
                print(f'--- {name} screen:\n{tm.screen(name)}', file=sys.stderr)
            except Exception:
                pass
        return 1
    finally:
        tm.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
