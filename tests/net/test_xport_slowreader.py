#!/usr/bin/env python3
"""A receiver whose application reads slowly gets everything, with bounded memory on
both sides (issue 10, "Real processes"):

    test_xport_slowreader.py --bin <build>/bin

Two setowire-cat with --transport extended on 127.0.0.1. The sender is given 100 000
lines of 100 bytes (10 MB) at once; the receiver's stdout is a pipe this test reads at
1 MB/s, so setowire-cat blocks in its writes to stdout most of the time and reads its
socket only between them. Checked:

  - all 100 000 lines arrive, each once, in order;
  - the resident memory of each process (VmRSS, sampled every 0.1 s, and VmHWM, the
    kernel's peak, read at the end) grows by less than RSS_GROWTH over what it was
    once connected and idle.

The bound: neither side may hold the transfer. What a process may legitimately touch
once traffic flows is its fixed buffers: the receive slots (64 x 64 KiB = 4 MiB,
src/runtime/udp.h), the dedup set (2 x 1 MiB, filled as ids arrive), the output ring
(send_buffer_bytes, 1 MiB by default), the extended session's buffers (about 0.4 MiB
per peer, docs/TRANSPORT-delivery.md) and cat's own line buffer and stdio buffer
(under 0.2 MiB): about 7.6 MiB. RSS_GROWTH is 9 MiB, less than the 10 MB sent, so a
process that buffered what its peer could not take yet would fail. The kernel's
socket buffers are not part of RSS; with the window, they do not overflow either
(packets lost there would only cost time).

Exit 0 pass, 1 failure.
"""
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import catproc  # noqa: E402
from catproc import Cat, ProcError  # noqa: E402

LINES = 100_000
SIZE = 100                 # bytes per line, the newline included
RATE = 1_000_000           # bytes per second the reader takes
RSS_GROWTH = 9 << 20
TIMEOUT = 40.0             # 10 s of reading at 1 MB/s, with room for a loaded machine


def sanitized(binary):
    """Whether the binary carries AddressSanitizer: its allocator keeps freed memory in
    a quarantine (256 MiB by default) and pads every block, so its RSS says nothing
    about our buffers. The normal build asserts the bound."""
    try:
        with open(binary, 'rb') as f:
            return b'__asan_init' in f.read()
    except OSError:
        return False


def status_kb(pid, field):
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class Rss:
    """Samples VmRSS of some PIDs on a thread; keeps each one's largest."""

    def __init__(self, pids):
        self.peak = {p: 0 for p in pids}
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.wait(0.1):
            for p in self.peak:
                v = status_kb(p, 'VmRSS')
                if v and v > self.peak[p]:
                    self.peak[p] = v

    def end(self):
        for p in self.peak:   # the kernel's own peak, while the process still exists
            v = status_kb(p, 'VmHWM')
            if v and v > self.peak[p]:
                self.peak[p] = v
        self.stop.set()
        self.t.join()


def main():
    bindir = catproc.bin_dir()
    sent = [(f'{i:06d} '.encode() + catproc.printable(SIZE, 'slow'))[:SIZE - 1]
            for i in range(LINES)]
    ext = ['--transport', 'extended']
    argv = [os.path.join(bindir, 'setowire-cat'), '--events', *catproc.QUIET,
            '--bind', '127.0.0.1', '--port', '0', *ext]
    # The receiver: stdout is ours to read slowly; its stdin stays open (a cat closes
    # at the end of its input) until we close it.
    recv = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    events = []
    cond = threading.Condition()

    def read_events():
        for raw in recv.stderr:
            with cond:
                events.append(raw.decode(errors='replace'))
                cond.notify_all()
    threading.Thread(target=read_events, daemon=True).start()

    def wait_event(word, timeout=10):
        end = time.monotonic() + timeout
        with cond:
            while True:
                for e in events:
                    if f'"event":"{word}"' in e:
                        return e
                left = end - time.monotonic()
                if left <= 0:
                    raise ProcError(f'receiver: no {word} event; stderr: {events[-5:]}')
                cond.wait(left)

    try:
        import json
        port = json.loads(wait_event('listening'))['port']
        with Cat(bindir, args=ext, connect=[f'127.0.0.1:{port}'], name='send') as s:
            s.listening()
            s.expect('connection', timeout=10)
            wait_event('connection')
            time.sleep(0.5)  # the extended handshake (before it, messages go plain)
            base = {recv.pid: status_kb(recv.pid, 'VmRSS'), s.pid: status_kb(s.pid, 'VmRSS')}
            rss = Rss([recv.pid, s.pid])
            s.feed(*sent)
            s.close_stdin()
            fd = recv.stdout.fileno()
            t0 = time.monotonic()
            got, buf, nbytes = [], b'', 0
            while len(got) < LINES:
                if time.monotonic() - t0 > TIMEOUT:
                    raise ProcError(f'{len(got)} of {LINES} lines after {TIMEOUT:g} s\n'
                                    + s.describe())
                # at most RATE bytes per second since the start
                wait = t0 + nbytes / RATE - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                chunk = os.read(fd, 16384)
                if not chunk:
                    raise ProcError(f'the receiver closed its stdout after {len(got)} lines')
                nbytes += len(chunk)
                buf += chunk
                *done, buf = buf.split(b'\n')
                got += done
            secs = time.monotonic() - t0
            rc = s.wait_exit(15)
            rss.end()
    finally:
        if recv.poll() is None:
            recv.kill()
        recv.wait(5)
    if got != sent:
        first = next((i for i, (a, b) in enumerate(zip(sent, got)) if a != b),
                     min(len(sent), len(got)))
        raise ProcError(f'{len(got)} lines received of {LINES}, first difference at {first}')
    if rc != 0:
        raise ProcError(f'the sender exited {rc} (want 0)')
    print(f'ok {LINES} lines of {SIZE} bytes complete and in order in {secs:.1f} s '
          f'({nbytes / secs / 1e6:.2f} MB/s read)', file=sys.stderr)
    bad = []
    for who, pid in (('receiver', recv.pid), ('sender', s.pid)):
        grow = rss.peak[pid] - base[pid]
        print(f'ok {who}: RSS {base[pid] >> 10} KiB idle, peak {rss.peak[pid] >> 10} KiB '
              f'(+{grow >> 10} KiB, bound +{RSS_GROWTH >> 10} KiB)', file=sys.stderr)
        if grow >= RSS_GROWTH:
            bad.append(f'{who} grew by {grow >> 10} KiB')
    if bad and sanitized(os.path.join(catproc.bin_dir(), 'setowire-cat')):
        print('NOTE: an ASan build: its allocator\'s quarantine and red zones are in the RSS, '
              'so the bound is asserted by the normal build only (' + ', '.join(bad) + ')',
              file=sys.stderr)
    elif bad:
        raise ProcError('memory not bounded: ' + ', '.join(bad))
    print('PASS', file=sys.stderr)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except ProcError as e:
        print(f'FAIL: {e}', file=sys.stderr)
        sys.exit(1)
