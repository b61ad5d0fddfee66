#!/usr/bin/env python3
"""Run the Python reference's own chat program (chat.py) on loopback only.

    ref_chat.py --port N [--dir DIR] NICK [ROOM]

The chat program is the reference's, unchanged and not copied: this wrapper imports it
from $SETOWIRE_REF_PY (else <repo>/.refs/py) after applying ref_peer.py's guards
(load_reference: no STUN, piping, HTTP bootstrap, seeds, LAN beacons or HTTP at all;
guard_loop: every UDP socket bound to 127.0.0.1, the main one on --port, and sends to
anything but loopback dropped). The chat writes identity.<nick>.json in the current
folder: --dir names a scratch folder to run in. Run python3 -u so its prints are not buffered.
Exit 77 with "SKIP:" when the reference cannot be loaded.
"""
import argparse
import asyncio
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ref_peer  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description='the Python reference chat, loopback only')
    ap.add_argument('--port', type=int, required=True, help='main UDP port on 127.0.0.1')
    ap.add_argument('--dir', help='folder to run in (chat.py writes its identity file there)')
    ap.add_argument('nick')
    ap.add_argument('room', nargs='?', default='general')
    a = ap.parse_args()
    ref_peer.load_reference()           # patches the `swarm` module chat.py reaches
    path = os.path.join(ref_peer.REF, 'chat.py')
    if not os.path.isfile(path):
        print(f'SKIP: no chat.py in {ref_peer.REF}', file=sys.stderr, flush=True)
        sys.exit(77)
    spec = importlib.util.spec_from_file_location('ref_chat_program', path)
    chat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chat)       # its `from setowire import Swarm` finds REF
    sys.argv = [path, a.nick, a.room]
    if a.dir:
        os.chdir(a.dir)

    async def run():
        ref_peer.guard_loop(asyncio.get_running_loop(), a.port)
        await chat.main()
    asyncio.run(run())


if __name__ == '__main__':
    main()
