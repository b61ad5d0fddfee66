#!/usr/bin/env python3
"""setowire-chat's messages and its identity file, checked against raw JSON.

    test_chat_pipe.py --bin <build>/bin

setowire-chat runs with stdin and stdout on pipes (plain lines, no colours). Two
setowire-cat processes join the same topic, `chat:<room>` (cat hashes its TOPIC with
SHA-256 exactly as the chat hashes "chat:" + room), on loopback with discovery off:
cat A speaks the chat's JSON by hand, cat B only listens. Checked:
  join      the chat sends {"type":"JOIN","nick":...,"ts":ms} to a new peer; a JOIN
            written Python style (spaces, no ts) prints "dave joined"
  msg       a typed line goes out as MSG with type, nick, text, _selfId (40 hex), ts;
            a MSG from A prints "dave: text"; control characters in it are printed as
            '?' (no escape byte reaches the terminal)
  ignore    a MSG carrying the chat's own _selfId, non-JSON, a JSON array and a MSG
            without text print nothing (a later message does print)
  leave     a LEAVE prints "dave left"; cat A's GOAWAY then prints "<8 hex of A's id>
            disconnected" (the nick is forgotten at LEAVE, as in the references)
  commands  /nat prints nat=unknown addr=LAN; /help lists the commands; /peers counts
  eof       end of input sends LEAVE (cat B receives it) and the chat exits 0
  identity  "Dr. Who!" keeps its seed in identity.drwho.json (mode 0600, 64 hex), "!!!"
            in identity.default.json; a second run keeps the same seed; a file without
            a seed makes the chat exit 1 and is left as it was
Exit 0 pass, 1 fail.
"""
import argparse
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
import catproc  # noqa: E402
from catproc import Cat, ProcError  # noqa: E402
from chatproc import ChatProc, NET  # noqa: E402


def cat_json(cat, pred, what, timeout=10.0):
    """The first stdout line of cat that is a JSON object satisfying pred."""
    def find():
        for raw in cat.out:
            try:
                o = json.loads(raw)
            except ValueError:
                continue
            if isinstance(o, dict) and pred(o):
                return o
        return None
    return cat.wait_until(find, timeout, what)


def run_chat(chat, args, stdin=b'', timeout=10.0):
    with ChatProc([chat] + args, 'chat-once') as c:
        if stdin:
            c.write(stdin)
        c.close_stdin()
        rc = c.wait_exit(timeout)
        return rc, '\n'.join(c.stderr_lines())


def identity_checks(chat, work):
    d = os.path.join(work, 'ids')
    os.makedirs(d)
    common = ['--identity', d, '--no-peer-cache'] + NET
    seeds = {}
    for nick, fname in (('Dr. Who!', 'identity.drwho.json'), ('!!!', 'identity.default.json')):
        rc, err = run_chat(chat, common + [nick])
        p = os.path.join(d, fname)
        if rc != 0 or not os.path.isfile(p):
            raise ProcError(f'nick {nick!r}: exit {rc}, {fname} missing; stderr: {err}')
        mode = stat.S_IMODE(os.stat(p).st_mode)
        with open(p) as f:
            seeds[nick] = json.load(f).get('seed', '')
        if mode != 0o600 or not re.fullmatch(r'[0-9a-f]{64}', seeds[nick]):
            raise ProcError(f'{p}: mode {oct(mode)}, seed {seeds[nick]!r}')
    rc, err = run_chat(chat, common + ['dr-WHO'])   # same file name, same seed
    with open(os.path.join(d, 'identity.drwho.json')) as f:
        if rc != 0 or json.load(f)['seed'] != seeds['Dr. Who!']:
            raise ProcError(f'a second run changed the seed (exit {rc}, {err})')
    if len(set(seeds.values())) != 2:
        raise ProcError('two nicks got the same seed')
    bad = os.path.join(d, 'identity.bad.json')
    with open(bad, 'w') as f:
        f.write('{"seed": 5}')
    rc, err = run_chat(chat, common + ['bad'])
    with open(bad) as f:
        kept = f.read()
    if rc != 1 or kept != '{"seed": 5}' or 'seed' not in err:
        raise ProcError(f'a file without a seed: exit {rc}, file now {kept!r}, stderr {err!r}')
    if [n for n in os.listdir(d) if n.endswith('.tmp')]:
        raise ProcError(f'temporary files left behind: {os.listdir(d)}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bin', required=True)
    a = ap.parse_args()
    bindir = catproc.bin_dir(['--bin', a.bin])
    chat = os.path.join(bindir, 'setowire-chat')
    if not os.access(chat, os.X_OK):
        print(f'FAIL: {chat} is not an executable (build first)', file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix='sw-chat-pipe-')
    room = f'pipe{os.getpid()}'
    t0 = time.monotonic()

    def ok(what):
        print(f'ok {what} ({time.monotonic() - t0:.1f} s)', file=sys.stderr, flush=True)

    try:
        with Cat(bindir, args=[f'chat:{room}'], name='catA') as ca, \
                Cat(bindir, args=[f'chat:{room}'], name='catB') as cb:
            ca.listening()
            cb.listening()
            with ChatProc([chat, '--identity', work, '--no-peer-cache',
                           '--connect', f'127.0.0.1:{ca.port}',
                           '--connect', f'127.0.0.1:{cb.port}'] + NET + ['carol', room],
                          'chat') as c:
                for cat in (ca, cb):
                    cat_json(cat, lambda o: o.get('type') == 'JOIN' and o.get('nick') == 'carol',
                             'the JOIN of carol')
                ca.feed('{"type": "JOIN", "nick": "dave"}')
                c.expect_text(r'\* dave joined$', 'dave joined')
                ok('join')

                c.say('hi from carol')
                m = cat_json(ca, lambda o: o.get('type') == 'MSG', 'the MSG of carol')
                self_id = m.get('_selfId', '')
                if (m.get('nick'), m.get('text')) != ('carol', 'hi from carol') or \
                        not re.fullmatch(r'[0-9a-f]{40}', self_id) or \
                        not isinstance(m.get('ts'), int):
                    raise ProcError(f'the MSG sent: {m}')
                c.expect_text(r'\] carol: hi from carol$', 'the local echo')
                ca.feed('{"type":"MSG","nick":"dave","text":"red \\u001b[31m text\\r"}')
                c.expect_text(r'\] dave: red \?\[31m text\?$', 'the cleaned message')
                if any(b'\x1b' in r for r in c.raw):
                    raise ProcError('an escape byte reached the output\n' + c.describe())
                ok('msg')

                ca.feed(json.dumps({'type': 'MSG', 'nick': 'mallory', 'text': 'spoof',
                                    '_selfId': self_id}),
                        'not json at all', '[1, 2]', '{"type":"MSG","nick":"dave"}',
                        '{"type":"MSG","nick":"dave","text":"after the junk"}')
                c.expect_text(r'\] dave: after the junk$', 'the message after the junk')
                if c.count('spoof') or c.count('not json') or c.count(r'dave: $'):
                    raise ProcError('an ignored message was printed\n' + c.describe())
                ok('ignore')

                c.say('/nat')
                c.expect_text(r'\* nat=unknown addr=LAN$', '/nat')
                c.say('/help')
                c.expect_text(r'/peers.*/nat.*/quit.*/help', '/help')
                c.say('/peers')
                c.expect_text(r'\* 2 peer\(s\) connected$', '/peers count')
                peer_line = r'\*   [0-9a-f]{8} nick=\S+ rtt=\d+ms mesh=(true|false)'
                c.wait_until(lambda: c.count(peer_line) == 2, 10, 'two /peers lines')
                ok('commands')

                ca.feed('{"type": "LEAVE", "nick": "dave"}')
                c.expect_text(r'\* dave left$', 'dave left')
                ca.close_stdin()
                if ca.wait_exit(10) != 0:
                    raise ProcError('cat A did not end cleanly\n' + ca.describe())
                c.expect_text(rf'\* {ca.id[:8]} disconnected$', 'cat A disconnected')
                ok('leave')

                c.close_stdin()
                cat_json(cb, lambda o: o.get('type') == 'LEAVE' and o.get('nick') == 'carol', 'the LEAVE')
                rc = c.wait_exit(10)
                if rc != 0:
                    raise ProcError(f'the chat exited {rc} at end of input\n' + c.describe())
                ok('eof')
            cb.close_stdin()
            cb.wait_exit(10)

        identity_checks(chat, work)
        ok('identity')
        return 0
    except ProcError as e:
        print(f'FAIL: {e}', file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
