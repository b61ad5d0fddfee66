#!/usr/bin/env python3
"""libsetowire next to the reference implementations, same measurements on loopback.

    python3 bench/ref_bench.py --bin BUILD/bin [--quick]

For each reference pair (sender->receiver: py->py, js->js, py->js), through the
drivers in tests/interop (ref_peer.py / ref_peer.js):
  throughput  one-way: `flood COUNT SIZE` on the sender (COUNT distinct messages
              queued at once), then count the receiver's data events until all have
              arrived, 2 s pass without one, or the time bound (20 s, 10 s --quick)
              ends.  Rate = received / (last arrival - first arrival), as
              bench_loopback computes it.
  latency     application round trip: the receiver runs with --echo; one 100-byte
              message at a time, timed from writing `send` to the sender's stdin to
              reading the echo's data event from its stdout (so it includes two pipe
              hops and the JSON lines, some tens of us).  Sends are paced at least
              10 ms apart so the reference token bucket (128/s) never drops one.
  handshake   the dialler's "connection" event minus its "listening" event (the
              driver dials right after printing listening), fresh processes each.
Then bench_loopback with the same COUNT/SIZE, and one table:
  case | libsetowire | reference | ratio, where ratio > 1 means libsetowire is
  that many times faster (rate ratio, or inverse time ratio).
PROTOCOL.md 8.3: once its window of 16 fills, a reference sender gets acks only from
PONGs, so one-way flow stalls to a few messages/s; the figures show that as it is.

Exit 0 whatever the figures; 1 only if bench_loopback could not run.  Every wait is
bounded; every process started here is killed by its PID before exit (the forked
bench_loopback receiver by the process group of the child we started).
"""
import argparse
import atexit
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque

HERE = os.path.dirname(os.path.abspath(__file__))
INTEROP = os.path.join(os.path.dirname(HERE), 'tests', 'interop')
sys.path.insert(0, INTEROP)
import refpeer  # noqa: E402  (only for missing() and node_binary())

PAIRS = [('py', 'py'), ('js', 'js'), ('py', 'js')]
_children = []


def kill_children():
    for p in _children:
        if p.poll() is None:
            try:
                p.kill()                          # SIGKILL to this PID only
            except OSError:
                pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


atexit.register(kill_children)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class Failed(Exception):
    pass


class Driver:
    """One ref_peer driver; stdout events are time-stamped on arrival by a thread."""
    _n = 0

    def __init__(self, kind, connect=None, echo=False):
        Driver._n += 1
        self.name = f'{kind}#{Driver._n}'
        seed = os.urandom(32).hex()
        interp = sys.executable if kind == 'py' else refpeer.node_binary()[0]
        argv = [interp, os.path.join(INTEROP, f'ref_peer.{kind}'), '--seed', seed]
        if connect:
            argv += ['--connect', f'127.0.0.1:{connect}']
        if echo:
            argv.append('--echo')
        self.events = queue.Queue()
        self.err = deque(maxlen=10)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        _children.append(self.proc)
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self):
        for line in self.proc.stdout:
            t = time.perf_counter()
            try:
                self.events.put((t, json.loads(line)))
            except ValueError:
                pass
        self.events.put((time.perf_counter(), {'event': '_eof'}))

    def _read_err(self):
        for line in self.proc.stderr:
            self.err.append(line.decode(errors='replace').rstrip())

    def expect(self, name, timeout, **match):
        """(arrival time, event) of the next `name` event matching `match`."""
        deadline = time.perf_counter() + timeout
        while True:
            t, ev = self.next(deadline)
            if ev is None or ev['event'] == '_eof':
                why = 'timed out' if ev is None else 'driver exited'
                raise Failed(f'{self.name}: {why} waiting for {name}; stderr: ' +
                             ' | '.join(self.err))
            if ev['event'] == name and all(ev.get(k) == v for k, v in match.items()):
                return t, ev

    def next(self, deadline):
        try:
            return self.events.get(timeout=max(0.0, deadline - time.perf_counter()))
        except queue.Empty:
            return None, None

    def cmd(self, text):
        self.proc.stdin.write(text.encode() + b'\n')
        self.proc.stdin.flush()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)


def start_pair(snd, rcv, echo=False, hs=None):
    """Receiver listening, sender dialled it, both saw the connection."""
    r = Driver(rcv, echo=echo)
    try:
        port = r.expect('listening', 20)[1]['port']
        s = Driver(snd, connect=port)
    except BaseException:
        r.kill()
        raise
    try:
        t0, ev = s.expect('listening', 20)
        t1, _ = s.expect('connection', 15)
        r.expect('connection', 15, peer=ev['id'][:16])
        if hs is not None:
            hs.append(t1 - t0)
        return s, r
    except BaseException:
        s.kill()
        r.kill()
        raise


def ref_throughput(snd, rcv, count, size, bound, hs):
    s, r = start_pair(snd, rcv, hs=hs)
    try:
        s.cmd(f'flood {count} {size}')
        t_start = time.perf_counter()
        deadline = t_start + bound
        got, first, last = 0, None, None
        while got < count:
            t, ev = r.next(min(deadline, (last or t_start) + 2.0))
            if ev is None:
                break                            # time bound or 2 s of silence
            if ev['event'] == 'data' and len(ev['hex']) == 2 * size:
                got += 1
                first = first or t
                last = t
        s.expect('flooded', 5, count=count)    # the driver did take the command
        secs = (last - first) if got > 1 else 0.0
        return {'sent': count, 'got': got, 'rate': got / secs if secs > 0 else 0.0,
                'secs': secs, 'span': (last or t_start) - t_start}
    finally:
        s.kill()
        r.kill()


def ref_latency(snd, rcv, count, hs, size=100, pace=0.010, timeout=1.0):
    s, r = start_pair(snd, rcv, echo=True, hs=hs)
    rtts, lost = [], 0
    try:
        for i in range(count):
            msg = bytearray(i.to_bytes(8, 'little') + b'\xab' * (size - 8))
            t0 = time.perf_counter()
            s.cmd('send ' + msg.hex())
            msg[-1] ^= 0xff
            try:
                t1, _ = s.expect('data', timeout, hex=msg.hex())
                rtts.append(t1 - t0)
            except Failed:
                lost += 1
                if lost > 10:
                    break
            time.sleep(max(0.0, t0 + pace - time.perf_counter()))
        return {'rtts': rtts, 'lost': lost}
    finally:
        s.kill()
        r.kill()


def ref_handshake(snd, rcv, rounds, hs):
    while len(hs) < rounds:
        s, r = start_pair(snd, rcv, hs=hs)
        s.kill()
        r.kill()
    return hs


# --------------------------------------------------------------------------- ours

def run_ours(bindir, *args, timeout=120):
    exe = os.path.join(bindir, 'bench_loopback')
    p = subprocess.Popen([exe, *map(str, args)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _children.append(p)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)        # its forked receiver shares the group
        p.communicate()
        raise Failed(f'bench_loopback {" ".join(map(str, args))}: timed out')
    if p.returncode:
        raise Failed(f'bench_loopback {" ".join(map(str, args))}: exit {p.returncode}: {out.strip()}')
    print('  ours: ' + out.strip(), flush=True)
    return out


def num(pattern, text):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


# --------------------------------------------------------------------------- table

def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * q))] if v else None


def fmt_rate(r):
    return '-' if r is None else f'{r:,.0f} msg/s' if r >= 100 else f'{r:.1f} msg/s'


def fmt_time(us):
    return '-' if us is None else f'{us:,.0f} us' if us < 10000 else f'{us / 1000:,.1f} ms'


def ratio(ours, ref, higher_better):
    if not ours or not ref:
        return '-'
    return f'{(ours / ref if higher_better else ref / ours):,.1f}x'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--bin', required=True, help='build dir holding bench_loopback')
    ap.add_argument('--quick', action='store_true', help='shorter bounds, fewer samples')
    a = ap.parse_args()
    count = 2000
    bound = 10.0 if a.quick else 20.0
    lat_n = 200 if a.quick else 1000
    hs_n = 5 if a.quick else 20

    pairs, absent = [], []
    for snd, rcv in PAIRS:
        why = refpeer.missing(snd) or refpeer.missing(rcv)
        (absent.append(f'{snd}->{rcv}: {why}') if why else pairs.append((snd, rcv)))
    for line in absent:
        print(f'reference absent, skipping {line}', flush=True)

    print(f'libsetowire (bench_loopback, {a.bin}):', flush=True)
    ours = {}
    try:
        for size in (100, 1000):
            out = run_ours(a.bin, 'throughput', count, size)
            ours[f'tp{size}'] = num(r'([\d.]+) msg/s', out)
        out = run_ours(a.bin, 'latency', lat_n)
        ours['p50'], ours['p99'] = num(r'p50 ([\d.]+) us', out), num(r'p99 ([\d.]+) us', out)
        out = run_ours(a.bin, 'handshake', hs_n)
        ours['hs'] = num(r'p50 ([\d.]+) us', out)
    except (Failed, OSError) as e:
        print(f'ref_bench: {e}', file=sys.stderr)
        return 1

    rows = []   # (case, ours, ref, ratio)
    for snd, rcv in pairs:
        tag = f'{snd}->{rcv}'
        print(f'reference {tag}:', flush=True)
        hs = []
        try:
            for size in (100, 1000):
                t = ref_throughput(snd, rcv, count, size, bound, hs)
                print(f'  ref: throughput {size}-byte: sent {t["sent"]}, received {t["got"]} '
                      f'in {t["span"]:.1f} s, {t["rate"]:.1f} msg/s over {t["secs"]:.3f} s',
                      flush=True)
                rows.append((f'throughput {size} B, {tag}', fmt_rate(ours[f'tp{size}']),
                             f'{fmt_rate(t["rate"])} ({t["got"]}/{t["sent"]} in {t["span"]:.0f} s)',
                             ratio(ours[f'tp{size}'], t['rate'], True)))
            lat = ref_latency(snd, rcv, lat_n, hs)
            p50 = pct(lat['rtts'], 0.5)
            p99 = pct(lat['rtts'], 0.99)
            p50, p99 = (None if p50 is None else p50 * 1e6), (None if p99 is None else p99 * 1e6)
            print(f'  ref: latency: n={len(lat["rtts"])} lost={lat["lost"]} '
                  f'p50 {fmt_time(p50)} p99 {fmt_time(p99)}', flush=True)
            rows.append((f'latency p50, {tag}', fmt_time(ours['p50']), fmt_time(p50),
                         ratio(ours['p50'], p50, False)))
            rows.append((f'latency p99, {tag}', fmt_time(ours['p99']), fmt_time(p99),
                         ratio(ours['p99'], p99, False)))
            ref_handshake(snd, rcv, hs_n, hs)
            h50 = pct(hs, 0.5) * 1e6
            print(f'  ref: handshake: n={len(hs)} p50 {fmt_time(h50)}', flush=True)
            rows.append((f'handshake p50, {tag}', fmt_time(ours['hs']), fmt_time(h50),
                         ratio(ours['hs'], h50, False)))
        except (Failed, OSError) as e:
            print(f'  ref {tag} could not finish: {e}', flush=True)
            rows.append((f'{tag}', '', 'failed (see above)', '-'))
        finally:
            kill_children()

    if not pairs:
        rows = [('throughput 100 B', fmt_rate(ours['tp100']), 'absent', '-'),
                ('throughput 1000 B', fmt_rate(ours['tp1000']), 'absent', '-'),
                ('latency p50', fmt_time(ours['p50']), 'absent', '-'),
                ('latency p99', fmt_time(ours['p99']), 'absent', '-'),
                ('handshake p50', fmt_time(ours['hs']), 'absent', '-')]
    head = ('case', 'libsetowire', 'reference', 'ratio')
    w = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    print(f'\nlibsetowire vs reference ({count} messages per throughput case, '
          f'latency n={lat_n}, handshake n={hs_n}; ratio > 1: libsetowire faster)')
    for r in [head, tuple('-' * n for n in w)] + rows:
        print('  '.join(c.ljust(n) for c, n in zip(r, w)).rstrip())
    return 0


if __name__ == '__main__':
    sys.exit(main())
