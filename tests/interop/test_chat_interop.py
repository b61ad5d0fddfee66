#!/usr/bin/env python3
"""setowire-chat and the references' own chat programs in one room, on loopback.

    test_chat_interop.py --bin <build>/bin

For each reference (Python chat.py, then JavaScript chat.js) the reference's chat
program itself runs, unchanged, through ref_chat.py / ref_chat.js: wrappers that apply
ref_peer.{py,js}'s guards first (no STUN, piping, HTTP bootstrap, seeds or LAN beacons;
every UDP socket on 127.0.0.1, the main one on a port we pick; non-loopback sends
dropped). setowire-chat joins the same room with every discovery method off and dials
the reference's port with --connect; both read stdin from a pipe (plain lines). Checked:
  join      the reference prints "<our nick> joined" and we print "<its nick> joined"
  messages  a line typed on each side arrives as "<nick>: <text>" on the other, once
  leave     our /quit: the reference prints "<our nick> left", we exit 0
Exit 0 pass, 1 fail (with both outputs on stderr), 77 skip with "SKIP:" when a
reference (or python3 `cryptography`, or node) is missing; the other is still tested
first, and a failure there is a failure.
"""
import argparse
import os
import socket
import sys
import tempfile
import shutil
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import refpeer  # noqa: E402
from refpeer import PeerError  # noqa: E402
from chatproc import ChatProc, NET  # noqa: E402  (tests/lib, on the path through refpeer)

TIMEOUT = 20.0   # the Python chat sends its first JOIN only once the session is up
def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_pair(kind, chat_bin, work):
    room = f'interop-{kind}-{os.getpid()}'
    ours, theirs = f'c{kind}', f'ref{kind}'
    port = free_udp_port()
    d = os.path.join(work, kind)
    os.makedirs(d)
    if kind == 'py':
        argv = [sys.executable, '-u', os.path.join(HERE, 'ref_chat.py')]
    else:
        argv = [refpeer.node_binary()[0], os.path.join(HERE, 'ref_chat.js')]
    argv += ['--port', str(port), '--dir', d, theirs, room]
    t0 = time.monotonic()
    with ChatProc(argv, f'ref-{kind}-chat') as ref:
        ref.expect_text(r'ready \|', 'reference chat ready', 15)
        with ChatProc([chat_bin, '--identity', d, '--connect', f'127.0.0.1:{port}'] + NET
                      + [ours, room], f'setowire-chat-{kind}') as me:
            me.expect_text(rf'\* {theirs} joined$', f'"{theirs} joined" on setowire-chat', TIMEOUT)
            ref.expect_text(rf'\* {ours} joined', f'"{ours} joined" on the {kind} chat', TIMEOUT)
            me.say(f'hello {kind} from C')
            ref.expect_text(rf'{ours}: hello {kind} from C$', 'our message on the reference', TIMEOUT)
            ref.say(f'hello C from {kind} ünï')
            me.expect_text(rf'\] {theirs}: hello C from {kind} ünï$', 'its message on ours', TIMEOUT)
            me.say('/quit')
            ref.expect_text(rf'\* {ours} left', f'"{ours} left" on the {kind} chat', TIMEOUT)
            rc = me.wait_exit(10)
            if rc != 0:
                raise PeerError(f'setowire-chat exited {rc} after /quit\n' + me.describe())
            for who, pattern in ((ref, rf'{ours}: hello {kind} from C$'),
                                 (me, rf'{theirs}: hello C from {kind}')):
                if who.count(pattern) != 1:
                    raise PeerError(f'{who.name}: {pattern!r} printed {who.count(pattern)} times\n'
                                    + who.describe())
        ref.say('/quit')
        ref.close_stdin()
        ref.wait_exit(15)
    print(f'ok {kind} ({time.monotonic() - t0:.1f} s)', file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bin', required=True)
    a = ap.parse_args()
    chat = os.path.abspath(os.path.join(a.bin, 'setowire-chat'))
    if not os.access(chat, os.X_OK):
        print(f'FAIL: {chat} is not an executable (build first)', file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix='sw-chat-interop-')
    skipped, ran = [], 0
    try:
        for kind in ('py', 'js'):
            why = refpeer.missing(kind)
            d, _ = refpeer.ref_dir(kind)
            if not why and not os.path.isfile(os.path.join(d, 'chat.' + kind)):
                why = f'no chat.{kind} in {d}'
            if why:
                print(f'NOTE: {kind} reference chat not run: {why}', file=sys.stderr)
                skipped.append(f'{kind}: {why}')
                continue
            run_pair(kind, chat, work)
            ran += 1
    except PeerError as e:
        print(f'FAIL: {e}', file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if skipped:
        refpeer.skip('; '.join(skipped) + (f' ({ran} reference chat(s) passed)' if ran else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
