#!/usr/bin/env python3
"""The SQLite storage backend keeps every acknowledged value across crashes.

sw_storage_writer (tests/net/storage_writer.c) writes values one after the other and
prints "ack <i>" once the backend called the set's completion. We kill it with SIGKILL
in the middle of its writes, at several moments, each time reopening the same database
(a restart after a crash, WAL recovery included), and check that every acknowledged
value is there, intact.

Exit 0 pass, 1 failure.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import catproc  # noqa: E402


def fail(msg):
    print('FAIL: ' + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def main():
    bindir = catproc.bin_dir()
    writer = os.path.join(bindir, 'sw_storage_writer')
    if not os.path.exists(writer):
        fail(f'{writer} was not built')
    tmp = tempfile.mkdtemp(prefix='sw-crash-')
    try:
        return rounds(writer, os.path.join(tmp, 'crash.db'))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # fail() exits through here too


def rounds(writer, db):
    acked = -1
    for round_, wait in enumerate((0.05, 0.3, 0.01, 0.5, 0.15)):
        p = subprocess.Popen([writer, db, 'write', str(acked + 1)], stdout=subprocess.PIPE)
        try:
            # Let it run, then kill it while it writes (it never stops on its own).
            first = p.stdout.readline()
            if not first.startswith(b'ack '):
                fail(f'round {round_}: writer said {first!r}')
            time.sleep(wait)
            os.kill(p.pid, signal.SIGKILL)
        finally:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            out = first + p.stdout.read()
            p.wait()
        acks = [int(x.split()[1]) for x in out.splitlines() if x.startswith(b'ack ')]
        if not acks or acks[0] != acked + 1:
            fail(f'round {round_}: acks start at {acks[:1]}, expected {acked + 1}')
        acked = acks[-1]
        c = subprocess.run([writer, db, 'check', str(acked)], capture_output=True, timeout=60)
        if c.returncode != 0:
            fail(f'round {round_}: after kill -9 with {acked + 1} acknowledged values: '
                 f'{c.stdout.decode().strip()} {c.stderr.decode().strip()}')
        print(f'   ok: round {round_}: killed after {len(acks)} more writes; all {acked + 1} '
              'acknowledged values intact', file=sys.stderr, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
